//! Where cutoffs come from: the [`CutoffSource`] trait that stores implement.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::cutoff::{Cutoff, MAX_SESSION_ID_BYTES, MAX_SUBJECT_BYTES, SubjectCutoffs};

/// A boxed future, as [`CutoffSource`] methods return them so the trait works as `dyn CutoffSource`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What [`CutoffSource::raise`] returns: the cutoff now stored, or why the store could not write it.
pub type CutoffFuture<'a> = BoxFuture<'a, Result<Cutoff, SourceError>>;

/// What [`CutoffSource::lookup`] returns: the cutoffs in force for a subject, or why the store could
/// not give them.
pub type LookupFuture<'a> = BoxFuture<'a, Result<SubjectCutoffs, SourceError>>;

/// How long stores keep a session's cutoff after it was last raised unless told otherwise: 31 days,
/// a day more than the default refresh-token lifetime of jwt-cutoff's issuer. A session's cutoff
/// must be kept as long as any token of the session can be unexpired; set the stores' retention
/// to at least your refresh-token lifetime if it is longer.
pub const DEFAULT_SESSION_RETENTION: Duration = Duration::from_secs(31 * 24 * 60 * 60);

/// Which cutoff a write raises. Wherever several apply to a token, the latest wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope<'a> {
    /// One subject's cutoff ("log out from all devices").
    Subject(&'a str),
    /// The cutoff that applies to every subject.
    Everyone,
    /// One session of one subject: the tokens that carry this `sid` (one login and the pairs
    /// refreshed from it). Stores keep a session's cutoff for their session retention, which must
    /// be at least the refresh-token lifetime, and drop it after that.
    Session {
        /// Whose session it is.
        subject: &'a str,
        /// The session id, as tokens carry it in `sid`.
        session: &'a str,
    },
}

impl Scope<'_> {
    /// The subject this scope belongs to; `None` for [`Everyone`](Self::Everyone).
    #[must_use]
    pub const fn subject(&self) -> Option<&str> {
        match self {
            Self::Subject(subject) | Self::Session { subject, .. } => Some(subject),
            Self::Everyone => None,
        }
    }
}

/// Looks cutoffs up, and optionally raises them, in some store.
///
/// Only [`lookup`](CutoffSource::lookup) is required: a service whose users table already has a
/// `valid_token_from` column implements just that and writes through its own code, then tells this
/// instance with [`CutoffCache::apply`](crate::CutoffCache::apply). Stores that own their data implement
/// [`raise`](CutoffSource::raise) too, which [`CutoffCache::logout_all`](crate::CutoffCache::logout_all)
/// and friends call.
///
/// Implementations are called through [`CutoffCache`](crate::CutoffCache), which caches answers, coalesces
/// concurrent lookups of one subject into one call and bounds each call with a timeout, so they
/// need none of that themselves.
///
/// ```
/// use jwt_cutoff_store::{Cutoff, CutoffSource, LookupFuture, Timestamp};
///
/// /// Everyone logged out at one fixed instant (a toy, but a complete source).
/// struct FixedCutoff(Timestamp);
///
/// impl CutoffSource for FixedCutoff {
///     fn lookup<'a>(&'a self, _subject: &'a str) -> LookupFuture<'a> {
///         Box::pin(async move { Ok(Cutoff::ValidFrom(self.0).into()) })
///     }
/// }
/// ```
pub trait CutoffSource: Send + Sync + 'static {
    /// The cutoffs in force for `subject`, in one answer: the latest of its own and of every wider
    /// one that applies to it (such as the [`Scope::Everyone`] cutoff), and the cutoffs of its
    /// sessions that have one ([`Scope::Session`]). A source without sessions answers a
    /// [`Cutoff`] with `.into()`. An error makes the request fail closed.
    fn lookup<'a>(&'a self, subject: &'a str) -> LookupFuture<'a>;

    /// Raises the cutoff of `scope` to at least `to`, never lowering it, and returns the cutoff now
    /// stored for that scope (which may be later than `to` if a racing writer got there first).
    ///
    /// The default refuses: the source is read-only.
    fn raise<'a>(&'a self, scope: Scope<'a>, to: Cutoff) -> CutoffFuture<'a> {
        let _ = (scope, to);
        Box::pin(async { Err(SourceError::new("this cutoff source is read-only")) })
    }

    /// The cutoff stored for `scope` alone, without the wider ones a lookup combines it with (a
    /// session past its retention has none): what an operator's tool shows. Tokens are judged by
    /// [`lookup`](Self::lookup), never by this.
    ///
    /// The default answers with an error: the source cannot show one scope apart.
    fn stored<'a>(&'a self, scope: Scope<'a>) -> CutoffFuture<'a> {
        let _ = scope;
        Box::pin(async {
            Err(SourceError::new(
                "this cutoff source cannot show one scope apart",
            ))
        })
    }
}

/// Opaque, as `dyn Any` is: a source may hold credentials, and most have no `Debug` of their own.
/// It lets the types that hold a boxed source derive theirs.
impl fmt::Debug for dyn CutoffSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CutoffSource").finish_non_exhaustive()
    }
}

/// A source behind a pointer answers as the source itself.
macro_rules! forward_through {
    ($($pointer:ident),+) => {$(
        impl<T: CutoffSource + ?Sized> CutoffSource for $pointer<T> {
            fn lookup<'a>(&'a self, subject: &'a str) -> LookupFuture<'a> {
                (**self).lookup(subject)
            }

            fn stored<'a>(&'a self, scope: Scope<'a>) -> CutoffFuture<'a> {
                (**self).stored(scope)
            }

            fn raise<'a>(&'a self, scope: Scope<'a>, to: Cutoff) -> CutoffFuture<'a> {
                (**self).raise(scope, to)
            }
        }
    )+};
}

forward_through!(Arc, Box);

/// Refuses a subject longer than [`MAX_SUBJECT_BYTES`]. [`CutoffCache`](crate::CutoffCache) checks every
/// subject before it asks a source; a store that can also be called directly checks here too, so
/// that tokens, caches and stores share one bound and a store never holds a subject it could not
/// push (PostgreSQL's `NOTIFY` payload, say, is limited).
///
/// # Errors
/// The subject is too long; nothing should be read or written for it.
pub fn check_subject(subject: &str) -> Result<(), SourceError> {
    if subject.len() > MAX_SUBJECT_BYTES {
        return Err(SourceError::new(format!(
            "a subject may have at most {MAX_SUBJECT_BYTES} bytes; this one has {}",
            subject.len()
        )));
    }
    Ok(())
}

/// Refuses a scope that names a subject longer than [`MAX_SUBJECT_BYTES`] (see [`check_subject`]),
/// or a session id that is empty or longer than [`MAX_SESSION_ID_BYTES`], the bounds tokens are
/// held to.
///
/// # Errors
/// The scope is out of bounds; nothing should be read or written for it.
pub fn check_scope(scope: Scope<'_>) -> Result<(), SourceError> {
    match scope {
        Scope::Everyone => Ok(()),
        Scope::Subject(subject) => check_subject(subject),
        Scope::Session { subject, session } => {
            check_subject(subject)?;
            if session.is_empty() || session.len() > MAX_SESSION_ID_BYTES {
                return Err(SourceError::new(format!(
                    "a session id must have 1 to {MAX_SESSION_ID_BYTES} bytes; this one has {}",
                    session.len()
                )));
            }
            Ok(())
        }
    }
}

/// A cutoff source could not answer. Requests that needed the answer fail closed (HTTP 503).
///
/// The message is logged; it must not contain tokens or secrets.
#[derive(Clone)]
pub struct SourceError {
    inner: Arc<dyn StdError + Send + Sync>,
}

impl SourceError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self::from_error(Message(message.into()))
    }

    /// An error caused by `error` (a driver's connection error, say).
    pub fn from_error(error: impl StdError + Send + Sync + 'static) -> Self {
        Self {
            inner: Arc::new(error),
        }
    }
}

impl fmt::Debug for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SourceError").field(&self.inner).finish()
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cutoff source failed: {}", self.inner)
    }
}

impl StdError for SourceError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.inner)
    }
}

#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Message {}

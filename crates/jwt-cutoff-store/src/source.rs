//! Where cutoffs come from: the [`CutoffSource`] trait that stores implement.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::cutoff::{Cutoff, MAX_SUBJECT_BYTES};

/// A boxed future, as [`CutoffSource`] methods return them so the trait works as `dyn CutoffSource`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What [`CutoffSource::lookup`] and [`CutoffSource::raise`] return: the cutoff, or why the store
/// could not give it.
pub type CutoffFuture<'a> = BoxFuture<'a, Result<Cutoff, SourceError>>;

/// Which cutoff a write raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope<'a> {
    /// One subject's cutoff.
    Subject(&'a str),
    /// The cutoff that applies to every subject.
    Everyone,
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
/// use jwt_cutoff_store::{Cutoff, CutoffFuture, CutoffSource, Timestamp};
///
/// /// Everyone logged out at one fixed instant (a toy, but a complete source).
/// struct FixedCutoff(Timestamp);
///
/// impl CutoffSource for FixedCutoff {
///     fn lookup<'a>(&'a self, _subject: &'a str) -> CutoffFuture<'a> {
///         Box::pin(async move { Ok(Cutoff::ValidFrom(self.0)) })
///     }
/// }
/// ```
pub trait CutoffSource: Send + Sync + 'static {
    /// The cutoff in force for `subject`: the latest of its own and of every wider one that applies
    /// to it (such as the [`Scope::Everyone`] cutoff). An error makes the request fail closed.
    fn lookup<'a>(&'a self, subject: &'a str) -> CutoffFuture<'a>;

    /// Raises the cutoff of `scope` to at least `to`, never lowering it, and returns the cutoff now
    /// stored for that scope (which may be later than `to` if a racing writer got there first).
    ///
    /// The default refuses: the source is read-only.
    fn raise<'a>(&'a self, scope: Scope<'a>, to: Cutoff) -> CutoffFuture<'a> {
        let _ = (scope, to);
        Box::pin(async { Err(SourceError::new("this cutoff source is read-only")) })
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
            fn lookup<'a>(&'a self, subject: &'a str) -> CutoffFuture<'a> {
                (**self).lookup(subject)
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

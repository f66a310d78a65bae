//! Push: shared stores tell every instance about each cutoff change, so a logout is in force
//! everywhere at once rather than after a cache TTL.
//!
//! A store implements [`PushChannel`] (connect) and [`PushSubscription`] (receive);
//! [`CutoffCache::follow`](crate::CutoffCache::follow) runs the rest, the same for every store:
//! apply each change, reconnect with backoff, fall back to the shorter TTL while disconnected, and
//! forget the cache on every (re)connect so that nothing missed while the channel was down
//! survives it.

use crate::cutoff::Cutoff;
use crate::source::{BoxFuture, Scope, SourceError};
use crate::time::Timestamp;

/// A cutoff change as it travels between instances: a scope and the cutoff now stored for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutoffChange {
    scope: OwnedScope,
    cutoff: Cutoff,
}

/// A [`Scope`] that owns its names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OwnedScope {
    Subject(String),
    Everyone,
    Session { subject: String, session: String },
}

impl CutoffChange {
    /// The change of `scope`'s cutoff to `cutoff`.
    #[must_use]
    pub fn new(scope: Scope<'_>, cutoff: Cutoff) -> Self {
        let scope = match scope {
            Scope::Subject(subject) => OwnedScope::Subject(subject.to_owned()),
            Scope::Everyone => OwnedScope::Everyone,
            Scope::Session { subject, session } => OwnedScope::Session {
                subject: subject.to_owned(),
                session: session.to_owned(),
            },
        };
        Self { scope, cutoff }
    }

    /// The scope this change applies to.
    #[must_use]
    pub fn scope(&self) -> Scope<'_> {
        match &self.scope {
            OwnedScope::Subject(subject) => Scope::Subject(subject),
            OwnedScope::Everyone => Scope::Everyone,
            OwnedScope::Session { subject, session } => Scope::Session { subject, session },
        }
    }

    /// The cutoff now stored for the scope.
    #[must_use]
    pub const fn cutoff(&self) -> Cutoff {
        self.cutoff
    }

    /// A compact text form for a notification payload: `1 <cutoff> <scope>`, where the cutoff is
    /// `-` (none), `refused`, or microseconds since the epoch, and the scope is `*` (everyone), `=`
    /// followed by the subject (which may contain anything, spaces included), or, for a session,
    /// `@<length of the subject in bytes>:` followed by the subject and then the session id.
    #[must_use]
    pub fn encode(&self) -> String {
        let cutoff = match self.cutoff {
            Cutoff::NoCutoff => "-".to_owned(),
            Cutoff::Refused => "refused".to_owned(),
            Cutoff::ValidFrom(at) => at.as_unix_micros().to_string(),
        };
        match &self.scope {
            OwnedScope::Subject(subject) => format!("1 {cutoff} ={subject}"),
            OwnedScope::Everyone => format!("1 {cutoff} *"),
            OwnedScope::Session { subject, session } => {
                format!("1 {cutoff} @{}:{subject}{session}", subject.len())
            }
        }
    }

    /// Reads what [`encode`](Self::encode) wrote; `None` for anything else.
    #[must_use]
    pub fn decode(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("1 ")?;
        let (cutoff, scope) = rest.split_once(' ')?;
        let cutoff = match cutoff {
            "-" => Cutoff::NoCutoff,
            "refused" => Cutoff::Refused,
            micros => Cutoff::ValidFrom(Timestamp::from_unix_micros(micros.parse().ok()?)),
        };
        let scope = if scope == "*" {
            OwnedScope::Everyone
        } else if let Some(subject) = scope.strip_prefix('=') {
            OwnedScope::Subject(subject.to_owned())
        } else {
            let (length, names) = scope.strip_prefix('@')?.split_once(':')?;
            if !length.bytes().all(|digit| digit.is_ascii_digit()) {
                return None;
            }
            let length = length.parse().ok()?;
            let (subject, session) = (names.get(..length)?, names.get(length..)?);
            if session.is_empty() {
                return None;
            }
            OwnedScope::Session {
                subject: subject.to_owned(),
                session: session.to_owned(),
            }
        };
        Some(Self { scope, cutoff })
    }
}

/// A store's push channel: how to (re)connect to it.
pub trait PushChannel: Send + Sync + 'static {
    /// One live connection that delivers changes.
    type Subscription: PushSubscription;

    /// Connects and subscribes. Changes stored after this returns must be delivered.
    fn subscribe(&self) -> BoxFuture<'_, Result<Self::Subscription, SourceError>>;
}

/// One live push connection.
pub trait PushSubscription: Send + 'static {
    /// The next change, or an error once the connection is lost (it is then dropped and a new one
    /// made through [`PushChannel::subscribe`]).
    ///
    /// A dead connection must turn into an error within a bounded time: a half-open TCP
    /// connection never ends a stream by itself, and until the error comes this instance keeps
    /// trusting its cache for the longer TTL with push. Send a heartbeat if the client has none.
    fn next_change(&mut self) -> BoxFuture<'_, Result<CutoffChange, SourceError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_through_text() {
        let at = Cutoff::ValidFrom(Timestamp::from_unix_micros(1_764_384_000_123_456));
        for (scope, cutoff) in [
            (Scope::Subject("alice"), at),
            (Scope::Subject("with space and = sign"), Cutoff::Refused),
            (Scope::Subject(""), Cutoff::NoCutoff),
            (Scope::Everyone, at),
            (
                Scope::Session {
                    subject: "alice",
                    session: "Zm9v",
                },
                Cutoff::Refused,
            ),
            (
                Scope::Session {
                    subject: "@3:a b=",
                    session: ":é ",
                },
                at,
            ),
            (
                Scope::Session {
                    subject: "",
                    session: "x",
                },
                at,
            ),
        ] {
            let change = CutoffChange::new(scope, cutoff);
            assert_eq!(CutoffChange::decode(&change.encode()), Some(change));
        }
    }

    #[test]
    fn garbage_does_not_decode() {
        for text in [
            "",
            "1",
            "1 5",
            "2 5 =a",
            "1 x =a",
            "1 5 a",
            "1 5 ",
            "1 1e3 *",
            "1 5 @1:a",
            "1 5 @2:a",
            "1 5 @:ab",
            "1 5 @+1:ab",
            "1 5 @1ab",
            "1 5 @2:é",
        ] {
            assert_eq!(CutoffChange::decode(text), None, "{text:?}");
        }
    }
}

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

/// A cutoff change as it travels between instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutoffChange {
    /// Whose cutoff changed: `Some(subject)`, or `None` for the cutoff that applies to everyone.
    pub subject: Option<String>,
    /// The cutoff now stored for it.
    pub cutoff: Cutoff,
}

impl CutoffChange {
    /// The change of `scope`'s cutoff to `cutoff`.
    #[must_use]
    pub fn new(scope: Scope<'_>, cutoff: Cutoff) -> Self {
        Self {
            subject: match scope {
                Scope::Subject(subject) => Some(subject.to_owned()),
                Scope::Everyone => None,
            },
            cutoff,
        }
    }

    /// The scope this change applies to.
    #[must_use]
    pub fn scope(&self) -> Scope<'_> {
        match &self.subject {
            Some(subject) => Scope::Subject(subject),
            None => Scope::Everyone,
        }
    }

    /// A compact text form for a notification payload: `1 <cutoff> <scope>`, where the cutoff is
    /// `-` (none), `refused`, or microseconds since the epoch, and the scope is `*` (everyone) or
    /// `=` followed by the subject (which may contain anything, spaces included).
    #[must_use]
    pub fn encode(&self) -> String {
        let cutoff = match self.cutoff {
            Cutoff::NoCutoff => "-".to_owned(),
            Cutoff::Refused => "refused".to_owned(),
            Cutoff::ValidFrom(at) => at.as_unix_micros().to_string(),
        };
        match &self.subject {
            Some(subject) => format!("1 {cutoff} ={subject}"),
            None => format!("1 {cutoff} *"),
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
        let subject = match scope {
            "*" => None,
            scope => Some(scope.strip_prefix('=')?.to_owned()),
        };
        Some(Self { subject, cutoff })
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
        let at = Timestamp::from_unix_micros(1_764_384_000_123_456);
        for change in [
            CutoffChange {
                subject: Some("alice".to_owned()),
                cutoff: Cutoff::ValidFrom(at),
            },
            CutoffChange {
                subject: Some("with space and = sign".to_owned()),
                cutoff: Cutoff::Refused,
            },
            CutoffChange {
                subject: Some(String::new()),
                cutoff: Cutoff::NoCutoff,
            },
            CutoffChange {
                subject: None,
                cutoff: Cutoff::ValidFrom(at),
            },
        ] {
            assert_eq!(CutoffChange::decode(&change.encode()), Some(change));
        }
    }

    #[test]
    fn garbage_does_not_decode() {
        for text in [
            "", "1", "1 5", "2 5 =a", "1 x =a", "1 5 a", "1 5 ", "1 1e3 *",
        ] {
            assert_eq!(CutoffChange::decode(text), None, "{text:?}");
        }
    }
}

//! Push: shared stores tell every instance about each cutoff change, so a logout is in force
//! everywhere at once rather than after a cache TTL.
//!
//! A store implements [`PushChannel`] (connect) and [`PushSubscription`] (receive); [`Cutoffs::follow`]
//! runs the rest, the same for every store: apply each change, reconnect with backoff, fall back to
//! the shorter TTL while disconnected, and forget the cache on every (re)connect so that nothing
//! missed while the channel was down survives it.

use std::fmt;
use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::cache::{Cutoffs, PushState, Shared};
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

/// The background task made by [`Cutoffs::follow`]. It stops when [`stop`](PushTask::stop) is called
/// or when every clone of its [`Cutoffs`] is gone; dropping the handle leaves it running. However it
/// ends (a panic in the store's subscription included), [`Cutoffs::push_connected`] turns false and
/// the cache is cleared, since nothing keeps it current any more.
pub struct PushTask {
    handle: tokio::task::JoinHandle<()>,
    shared: Weak<Shared>,
}

impl fmt::Debug for PushTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushTask")
            .field("finished", &self.handle.is_finished())
            .finish()
    }
}

impl PushTask {
    /// Whether the task has ended (stopped, or its `Cutoffs` are all gone).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Stops following the channel. When this returns, the cache is cleared and falls back to the
    /// TTL without push.
    pub fn stop(self) {
        self.handle.abort();
        // The task does the same when it notices the abort; this makes it true on return.
        if let Some(shared) = self.shared.upgrade() {
            stop_counting_on_push(&shared);
        }
    }
}

const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
const HEALTHY_FOR: Duration = Duration::from_secs(10);

impl Cutoffs {
    /// Follows a store's push channel in a background Tokio task: each change stored by any
    /// instance is applied here as it arrives.
    ///
    /// While connected, cache entries live for
    /// [`time_to_live_with_push`](crate::CutoffsBuilder::time_to_live_with_push). When the channel
    /// drops, the cache is cleared and entries live for the plain
    /// [`time_to_live`](crate::CutoffsBuilder::time_to_live) again, so changes are picked up by
    /// lookups while the task reconnects with backoff (100 ms doubling to 5 s, started over once a
    /// connection has held for 10 s). On every (re)connect the cache is cleared once more, so
    /// nothing missed while disconnected is kept.
    pub fn follow(&self, channel: impl PushChannel) -> PushTask {
        let shared = std::sync::Arc::downgrade(&self.shared);
        PushTask {
            handle: tokio::spawn(follow(shared.clone(), channel)),
            shared,
        }
    }
}

async fn follow(shared: Weak<Shared>, channel: impl PushChannel) {
    let _following = Following(shared.clone());
    let mut retry = FIRST_RETRY;
    loop {
        let subscribed = channel.subscribe().await;
        let Some(cutoffs) = shared.upgrade() else {
            return;
        };
        let error = match subscribed {
            Ok(mut subscription) => {
                // Forget first, so that nothing read before is kept once push counts as connected.
                cutoffs.invalidate_all();
                cutoffs.set_push_state(PushState::Connected);
                tracing::info!("jwt-cutoff: push channel connected");
                drop(cutoffs);
                let connected_at = Instant::now();
                let error = loop {
                    let next = subscription.next_change().await;
                    let Some(cutoffs) = shared.upgrade() else {
                        return;
                    };
                    match next {
                        Ok(change) => cutoffs.apply(change.scope(), change.cutoff),
                        Err(error) => break error,
                    }
                };
                // A channel that held for a while was healthy: start the backoff over. One that
                // drops right after connecting keeps backing off instead of spinning.
                if connected_at.elapsed() >= HEALTHY_FOR {
                    retry = FIRST_RETRY;
                }
                let Some(cutoffs) = shared.upgrade() else {
                    return;
                };
                cutoffs.set_push_state(PushState::Disconnected);
                cutoffs.invalidate_all();
                error
            }
            Err(error) => {
                cutoffs.set_push_state(PushState::Disconnected);
                // Not held through the backoff below: the cache may be dropped meanwhile.
                drop(cutoffs);
                error
            }
        };
        tracing::warn!(%error, retry_in = ?retry, "jwt-cutoff: push channel down; reconnecting");
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// Lives as long as the push task: when the task ends, stopped, panicking or done, the cache no
/// longer counts on push.
struct Following(Weak<Shared>);

impl Drop for Following {
    fn drop(&mut self) {
        let Some(shared) = self.0.upgrade() else {
            return;
        };
        if std::thread::panicking() {
            tracing::error!("jwt-cutoff: the push task panicked; falling back to the plain TTL");
        }
        stop_counting_on_push(&shared);
    }
}

/// Nothing pushes any more: entries cached for the long TTL with push must go.
fn stop_counting_on_push(shared: &Shared) {
    shared.set_push_state(PushState::None);
    shared.invalidate_all();
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

//! [`MemoryStore`]: cutoffs in this process's memory.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::cutoff::{Cutoff, SubjectCutoffs};
use crate::push::{CutoffChange, PushChannel, PushSubscription};
use crate::rotation::{Record, RefreshTokens, Spend, Spent, check_spend};
use crate::source::{
    BoxFuture, CutoffFuture, CutoffSource, DEFAULT_SESSION_RETENTION, LookupFuture, Scope,
    SourceError, check_scope, check_subject,
};
use crate::time::Timestamp;

/// Cutoffs kept in memory: the embedded default for a single process, and handy in tests.
///
/// Nothing survives a restart, and other processes do not see it; use a shared store (SQL, Redis)
/// when several instances serve one user base. Subjects it has never heard of have no cutoff.
/// Clones share one map, and it pushes every change to the [`CutoffCache`](crate::CutoffCache) that
/// [`follow`](crate::CutoffCache::follow) it, like the shared stores do.
///
/// ```
/// use jwt_cutoff_store::{Cutoff, CutoffSource, MemoryStore, Scope, Timestamp};
///
/// # tokio_test_block_on(async {
/// let store = MemoryStore::new();
/// let at = Timestamp::from_unix_secs(1_764_384_000);
/// store.raise(Scope::Subject("alice"), Cutoff::ValidFrom(at)).await.unwrap();
/// assert_eq!(store.lookup("alice").await.unwrap().cutoff(), Cutoff::ValidFrom(at));
/// assert_eq!(store.lookup("bob").await.unwrap().cutoff(), Cutoff::NoCutoff);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MemoryStore {
    state: Arc<RwLock<State>>,
    changes: broadcast::Sender<CutoffChange>,
    session_retention: Duration,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            state: Arc::default(),
            changes: broadcast::Sender::new(CHANGES_IN_FLIGHT),
            session_retention: DEFAULT_SESSION_RETENTION,
        }
    }
}

/// Changes a slow follower may fall behind by before it must resynchronise (by reconnecting, which
/// clears its cache).
const CHANGES_IN_FLIGHT: usize = 1024;

#[derive(Debug, Default)]
struct State {
    subjects: HashMap<String, Cutoff>,
    everyone: Cutoff,
    /// By subject, then by session id.
    sessions: HashMap<String, HashMap<String, Session>>,
    /// Session writes since every subject's sessions were last swept for ones past retention.
    session_writes: usize,
}

/// What is kept of a session: its cutoff, its rotation record, and when it may be forgotten.
#[derive(Debug)]
struct Session {
    cutoff: Cutoff,
    record: Record,
    keep_until: Timestamp,
}

impl State {
    /// The session's entry, made if missing, kept at least until `keep_until`. The subject's
    /// sessions past their retention go first, and every subject's once per as many session
    /// writes as there are subjects (so a write costs O(1) amortized): the map stays the size of
    /// the sessions that can still have a valid token.
    fn session(
        &mut self,
        subject: &str,
        session: &str,
        now: Timestamp,
        keep_until: Timestamp,
    ) -> &mut Session {
        self.session_writes += 1;
        if self.session_writes >= self.sessions.len() {
            self.session_writes = 0;
            self.sessions.retain(|_, sessions| {
                sessions.retain(|_, kept| kept.keep_until > now);
                !sessions.is_empty()
            });
        }
        let sessions = self.sessions.entry(subject.to_owned()).or_default();
        sessions.retain(|_, kept| kept.keep_until > now);
        let entry = sessions
            .entry(session.to_owned())
            .or_insert_with(|| Session {
                cutoff: Cutoff::NoCutoff,
                record: Record::default(),
                keep_until,
            });
        entry.keep_until = entry.keep_until.max(keep_until);
        entry
    }
}

impl MemoryStore {
    /// An empty store: no subject has a cutoff.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a session's cutoff is kept after it was last raised (default
    /// [`DEFAULT_SESSION_RETENTION`]); at least the refresh-token lifetime, since a session
    /// forgotten while one of its tokens is unexpired would let that token through again.
    #[must_use]
    pub fn session_retention(mut self, retention: Duration) -> Self {
        self.session_retention = retention;
        self
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        // A panic while holding the lock cannot leave a cutoff half-written (writes are map
        // inserts, retains and updates of plain values), so a poisoned lock still holds
        // consistent data.
        let state = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&state)
    }

    fn write<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state)
    }
}

impl CutoffSource for MemoryStore {
    fn lookup<'a>(&'a self, subject: &'a str) -> LookupFuture<'a> {
        if let Err(error) = check_subject(subject) {
            return Box::pin(async { Err(error) });
        }
        let now = Timestamp::now();
        let cutoffs = self.read(|state| {
            let own = state
                .subjects
                .get(subject)
                .copied()
                .unwrap_or(Cutoff::NoCutoff);
            let sessions = state.sessions.get(subject).into_iter().flatten();
            sessions.filter(|(_, kept)| kept.keep_until > now).fold(
                SubjectCutoffs::from(own.max(state.everyone)),
                |cutoffs, (session, kept)| cutoffs.with_session(session, kept.cutoff),
            )
        });
        Box::pin(async move { Ok(cutoffs) })
    }

    fn stored<'a>(&'a self, scope: Scope<'a>) -> CutoffFuture<'a> {
        if let Err(error) = check_scope(scope) {
            return Box::pin(async { Err(error) });
        }
        let now = Timestamp::now();
        let stored = self.read(|state| match scope {
            Scope::Subject(subject) => state.subjects.get(subject).copied(),
            Scope::Everyone => Some(state.everyone),
            Scope::Session { subject, session } => state
                .sessions
                .get(subject)
                .and_then(|sessions| sessions.get(session))
                .filter(|kept| kept.keep_until > now)
                .map(|kept| kept.cutoff),
        });
        Box::pin(async move { Ok(stored.unwrap_or(Cutoff::NoCutoff)) })
    }

    fn raise<'a>(&'a self, scope: Scope<'a>, to: Cutoff) -> CutoffFuture<'a> {
        if let Err(error) = check_scope(scope) {
            return Box::pin(async { Err(error) });
        }
        let now = Timestamp::now();
        let keep_until = now.saturating_add(self.session_retention);
        let stored = self.write(|state| {
            let slot = match scope {
                Scope::Subject(subject) => state
                    .subjects
                    .entry(subject.to_owned())
                    .or_insert(Cutoff::NoCutoff),
                Scope::Everyone => &mut state.everyone,
                Scope::Session { subject, session } => {
                    &mut state.session(subject, session, now, keep_until).cutoff
                }
            };
            *slot = (*slot).max(to);
            *slot
        });
        // Nobody following is not an error.
        let _ = self.changes.send(CutoffChange::new(scope, stored));
        Box::pin(async move { Ok(stored) })
    }
}

impl RefreshTokens for MemoryStore {
    fn spend<'a>(&'a self, spend: Spend<'a>) -> BoxFuture<'a, Result<Spent, SourceError>> {
        if let Err(error) = check_spend(&spend) {
            return Box::pin(async { Err(error) });
        }
        let now = Timestamp::now();
        let keep_until = now.saturating_add(self.session_retention);
        let spent = self.write(|state| {
            let session = state.session(spend.subject, spend.session, now, keep_until);
            let (spent, rotated) =
                session
                    .record
                    .spend(session.cutoff, &spend, now.as_unix_micros());
            if let Some(rotated) = rotated {
                session.record = rotated;
            }
            if spent == Spent::Reused {
                session.cutoff = Cutoff::Refused;
            }
            spent
        });
        if spent == Spent::Reused {
            let scope = Scope::Session {
                subject: spend.subject,
                session: spend.session,
            };
            let _ = self.changes.send(CutoffChange::new(scope, Cutoff::Refused));
        }
        Box::pin(async move { Ok(spent) })
    }
}

impl PushChannel for MemoryStore {
    type Subscription = MemorySubscription;

    fn subscribe(&self) -> BoxFuture<'_, Result<MemorySubscription, SourceError>> {
        let receiver = self.changes.subscribe();
        Box::pin(async move { Ok(MemorySubscription { receiver }) })
    }
}

/// A [`MemoryStore`]'s stream of changes, for [`CutoffCache::follow`](crate::CutoffCache::follow).
#[derive(Debug)]
pub struct MemorySubscription {
    receiver: broadcast::Receiver<CutoffChange>,
}

impl PushSubscription for MemorySubscription {
    fn next_change(&mut self) -> BoxFuture<'_, Result<CutoffChange, SourceError>> {
        Box::pin(async move {
            self.receiver.recv().await.map_err(|error| match error {
                broadcast::error::RecvError::Lagged(missed) => {
                    SourceError::new(format!("fell behind by {missed} changes"))
                }
                broadcast::error::RecvError::Closed => SourceError::new("the store is gone"),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn sessions_past_their_retention_are_forgotten_and_deleted() {
        let retention = Duration::from_millis(200);
        let store = MemoryStore::new().session_retention(retention);
        let stored =
            || store.read(|state| state.sessions.values().map(HashMap::len).sum::<usize>());
        let old = Scope::Session {
            subject: "alice",
            session: "old",
        };
        store.raise(old, Cutoff::Refused).await.unwrap();
        let found = store.lookup("alice").await.unwrap();
        assert_eq!(found.for_token(Some("old")), Cutoff::Refused);

        tokio::time::sleep(retention + Duration::from_millis(50)).await;
        let found = store.lookup("alice").await.unwrap();
        assert_eq!(found.for_token(Some("old")), Cutoff::NoCutoff);
        assert_eq!(stored(), 1, "kept until the next session write");
        let new = Scope::Session {
            subject: "bob",
            session: "new",
        };
        store.raise(new, Cutoff::Refused).await.unwrap();
        assert_eq!(stored(), 1, "a later session write deletes it");
    }
}

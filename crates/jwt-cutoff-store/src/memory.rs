//! [`MemoryStore`]: cutoffs in this process's memory.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use crate::cutoff::Cutoff;
use crate::push::{CutoffChange, PushChannel, PushSubscription};
use crate::source::{BoxFuture, CutoffFuture, CutoffSource, Scope, SourceError, check_subject};

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
/// assert_eq!(store.lookup("alice").await.unwrap(), Cutoff::ValidFrom(at));
/// assert_eq!(store.lookup("bob").await.unwrap(), Cutoff::NoCutoff);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MemoryStore {
    state: Arc<RwLock<State>>,
    changes: broadcast::Sender<CutoffChange>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            state: Arc::default(),
            changes: broadcast::Sender::new(CHANGES_IN_FLIGHT),
        }
    }
}

/// Changes a slow follower may fall behind by before it must resynchronise (by reconnecting, which
/// clears its cache).
const CHANGES_IN_FLIGHT: usize = 1024;

#[derive(Debug)]
struct State {
    subjects: HashMap<String, Cutoff>,
    everyone: Cutoff,
}

impl Default for State {
    fn default() -> Self {
        Self {
            subjects: HashMap::new(),
            everyone: Cutoff::NoCutoff,
        }
    }
}

impl MemoryStore {
    /// An empty store: no subject has a cutoff.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        // A panic while holding the lock cannot leave a cutoff half-written (each write is a
        // single insert of a `Copy` value), so a poisoned lock still holds consistent data.
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
    fn lookup<'a>(&'a self, subject: &'a str) -> CutoffFuture<'a> {
        if let Err(error) = check_subject(subject) {
            return Box::pin(async { Err(error) });
        }
        let cutoff = self.read(|state| {
            let own = state
                .subjects
                .get(subject)
                .copied()
                .unwrap_or(Cutoff::NoCutoff);
            own.max(state.everyone)
        });
        Box::pin(async move { Ok(cutoff) })
    }

    fn raise<'a>(&'a self, scope: Scope<'a>, to: Cutoff) -> CutoffFuture<'a> {
        if let Scope::Subject(subject) = scope
            && let Err(error) = check_subject(subject)
        {
            return Box::pin(async { Err(error) });
        }
        let stored = self.write(|state| {
            let slot = match scope {
                Scope::Subject(subject) => state
                    .subjects
                    .entry(subject.to_owned())
                    .or_insert(Cutoff::NoCutoff),
                Scope::Everyone => &mut state.everyone,
            };
            *slot = (*slot).max(to);
            *slot
        });
        // Nobody following is not an error.
        let _ = self.changes.send(CutoffChange::new(scope, stored));
        Box::pin(async move { Ok(stored) })
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

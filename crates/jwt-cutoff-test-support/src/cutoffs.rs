//! Driving the cutoff cache: caches over a [`TestSource`], stores holding a cutoff, logouts made
//! here and elsewhere, and lookups known to be blocked inside the cache.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use jwt_cutoff_store::{
    Cutoff, CutoffCache, CutoffSource, MemoryStore, Scope, SourceError, Timestamp,
};
use tokio::task::JoinHandle;

use crate::source::TestSource;
use crate::wait::wait_until;

/// A store timeout no gated test comes near: the gates, not the timeout, decide when calls end.
pub const NO_TIMEOUT: Duration = Duration::from_secs(120);

/// A cache over `source` whose store calls time out after `store_timeout`.
pub fn cache_with_timeout(source: &Arc<TestSource>, store_timeout: Duration) -> CutoffCache {
    CutoffCache::builder(Arc::clone(source))
        .store_timeout(store_timeout)
        .build()
}

/// A cache over `source` whose store timeout no test comes near ([`NO_TIMEOUT`]).
pub fn patient_cache(source: &Arc<TestSource>) -> CutoffCache {
    cache_with_timeout(source, NO_TIMEOUT)
}

/// A memory store that holds `cutoff` for `subject`.
pub async fn store_with(subject: &str, cutoff: Cutoff) -> MemoryStore {
    let store = MemoryStore::new();
    store
        .raise(Scope::Subject(subject), cutoff)
        .await
        .expect("a memory store write");
    store
}

/// Logs `subject` out from all devices through `cutoffs` and returns the cutoff's instant.
pub async fn logged_out_at(cutoffs: &CutoffCache, subject: &str) -> Timestamp {
    cutoffs
        .logout_all(subject)
        .await
        .expect("logout_all")
        .valid_from()
        .expect("a logout sets an instant")
}

/// A logout of `subject` made by another instance: written to `store` now, then told to `cutoffs`
/// through [`apply`](CutoffCache::apply), as a push would. Returns the cutoff.
pub async fn pushed_logout(store: &MemoryStore, cutoffs: &CutoffCache, subject: &str) -> Cutoff {
    let at = Cutoff::ValidFrom(Timestamp::now());
    store
        .raise(Scope::Subject(subject), at)
        .await
        .expect("a memory store write");
    cutoffs.apply(Scope::Subject(subject), at);
    at
}

/// Wraps a future and counts it in `pending` the first time it returns `Pending`: from then on it
/// is known to be blocked inside the cache (running the source call, or waiting for the one that
/// does).
pub struct Probe<F> {
    inner: Pin<Box<F>>,
    pending: Option<Arc<AtomicUsize>>,
}

impl<F: Future> Probe<F> {
    /// Wraps `inner`, to be counted in `pending`.
    pub fn new(inner: F, pending: &Arc<AtomicUsize>) -> Self {
        Self {
            inner: Box::pin(inner),
            pending: Some(Arc::clone(pending)),
        }
    }
}

impl<F> fmt::Debug for Probe<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe")
            .field("counted", &self.pending.is_none())
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Probe<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let polled = self.inner.as_mut().poll(cx);
        if polled.is_pending()
            && let Some(pending) = self.pending.take()
        {
            pending.fetch_add(1, Ordering::SeqCst);
        }
        polled
    }
}

/// Spawns `count` tasks running the futures `make` returns, and waits until every one is blocked
/// (see [`Probe`]); `what` names them if that never happens.
pub async fn spawn_blocked<F>(
    count: usize,
    what: &str,
    mut make: impl FnMut() -> F,
) -> Vec<JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let pending = Arc::new(AtomicUsize::new(0));
    let tasks = (0..count)
        .map(|_| tokio::spawn(Probe::new(make(), &pending)))
        .collect();
    wait_until(what, || pending.load(Ordering::SeqCst) == count).await;
    tasks
}

/// Spawns one lookup of `subject` through `cutoffs`.
pub fn spawn_lookup(
    cutoffs: &CutoffCache,
    subject: &'static str,
) -> JoinHandle<Result<Cutoff, SourceError>> {
    let cutoffs = cutoffs.clone();
    tokio::spawn(async move { cutoffs.lookup(subject).await.map(|found| found.cutoff()) })
}

/// Spawns `count` lookups of `subject` through `cutoffs`, and waits until every one is blocked
/// inside the cache: running the source call, or waiting for the one that does.
pub async fn blocked_lookups(
    cutoffs: &CutoffCache,
    subject: &'static str,
    count: usize,
    what: &str,
) -> Vec<JoinHandle<Result<Cutoff, SourceError>>> {
    spawn_blocked(count, what, || {
        let cutoffs = cutoffs.clone();
        async move { cutoffs.lookup(subject).await.map(|found| found.cutoff()) }
    })
    .await
}

/// What a store must do with sessions past their retention, for a store made with a session
/// retention of `retention`: a revoked session is answered until then and not after, and the next
/// session write deletes it, so that what the store holds (`stored_sessions` counts it: rows,
/// hash fields) follows the sessions that can still have a valid token.
pub async fn check_session_retention<S: CutoffSource>(
    store: &S,
    retention: Duration,
    mut stored_sessions: impl AsyncFnMut() -> usize,
) {
    let old = Scope::Session {
        subject: "alice",
        session: "old",
    };
    store.raise(old, Cutoff::Refused).await.expect("raise");
    let found = store.lookup("alice").await.expect("lookup");
    assert_eq!(
        found.for_token(Some("old")),
        Cutoff::Refused,
        "within retention"
    );
    assert_eq!(stored_sessions().await, 1);

    tokio::time::sleep(retention + Duration::from_millis(200)).await;
    let found = store.lookup("alice").await.expect("lookup");
    assert_eq!(
        found.for_token(Some("old")),
        Cutoff::NoCutoff,
        "past retention, the session is no longer answered"
    );
    let new = Scope::Session {
        subject: "bob",
        session: "new",
    };
    store.raise(new, Cutoff::Refused).await.expect("raise");
    assert_eq!(
        stored_sessions().await,
        1,
        "a session write deletes the sessions past their retention, whoever they belong to"
    );
    let found = store.lookup("bob").await.expect("lookup");
    assert_eq!(found.for_token(Some("new")), Cutoff::Refused);
}

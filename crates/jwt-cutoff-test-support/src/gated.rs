//! A store the test drives step by step: it counts calls, fails or hangs on command, and holds
//! lookups and writes at gates, so that races with the cache can be played in a chosen order.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use jwt_cutoff_store::{BoxFuture, Cutoff, CutoffSource, MemoryStore, Scope, SourceError};
use tokio::sync::watch;

/// A store timeout no gated test comes near: the gate, not the timeout, decides when calls end.
pub const NO_TIMEOUT: Duration = Duration::from_secs(120);

/// A gate the test opens and closes; whatever waits at it passes once it is open.
#[derive(Debug)]
pub struct Gate(watch::Sender<bool>);

impl Gate {
    /// A gate, open or closed.
    pub fn new(open: bool) -> Self {
        Self(watch::channel(open).0)
    }

    /// Opens the gate: everything waiting passes, and so does everything that comes later.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    /// Closes the gate for what comes next.
    pub fn close(&self) {
        self.0.send_replace(false);
    }

    /// Waits until the gate is open.
    pub async fn pass(&self) {
        let mut open = self.0.subscribe();
        // The sender lives in `self`, so this cannot fail while we wait.
        let _ = open.wait_for(|open| *open).await;
    }
}

/// A store in front of a [`MemoryStore`] that counts calls and can be made to fail, hang, or hold
/// each lookup (after it has read the store) until its [`gate`](Self::gate) opens. Writes go to the
/// memory store, held before they write at `before_write` and after they wrote at `after_write`
/// (both open unless the test closes them).
#[derive(Debug)]
pub struct TestSource {
    /// The store behind it.
    pub store: MemoryStore,
    /// Lookups started.
    calls: AtomicUsize,
    /// Lookups that have read the store (and now wait at the gate, unless it is open).
    reads: AtomicUsize,
    /// Writes that have reached the store.
    writes: AtomicUsize,
    /// Where lookups wait after reading the store.
    pub gate: Gate,
    /// Where writes wait before they reach the store.
    pub before_write: Gate,
    /// Where writes wait after they reached the store, before they return.
    pub after_write: Gate,
    failing: AtomicBool,
    hanging: AtomicBool,
}

impl TestSource {
    /// A source whose lookup gate is open.
    pub fn new(store: MemoryStore) -> Arc<Self> {
        Arc::new(Self::with_gate(store, Gate::new(true)))
    }

    /// A source whose lookups wait at the closed gate until the test opens it.
    pub fn gated(store: MemoryStore) -> Arc<Self> {
        Arc::new(Self::with_gate(store, Gate::new(false)))
    }

    fn with_gate(store: MemoryStore, gate: Gate) -> Self {
        Self {
            store,
            calls: AtomicUsize::new(0),
            reads: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            gate,
            before_write: Gate::new(true),
            after_write: Gate::new(true),
            failing: AtomicBool::new(false),
            hanging: AtomicBool::new(false),
        }
    }

    /// Lookups started.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Lookups that have read the store.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// Writes that have reached the store.
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// Makes lookups (after their read) and writes fail, or work again.
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Makes lookups (after their read) never answer, or answer again.
    pub fn hang(&self, hanging: bool) {
        self.hanging.store(hanging, Ordering::SeqCst);
    }
}

impl CutoffSource for TestSource {
    fn lookup<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let read = self.store.lookup(subject).await;
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.hanging.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            self.gate.pass().await;
            if self.failing.load(Ordering::SeqCst) {
                return Err(SourceError::new("the test store is down"));
            }
            read
        })
    }

    fn raise<'a>(
        &'a self,
        scope: Scope<'a>,
        to: Cutoff,
    ) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        Box::pin(async move {
            self.before_write.pass().await;
            if self.failing.load(Ordering::SeqCst) {
                return Err(SourceError::new("the test store is down"));
            }
            let stored = self.store.raise(scope, to).await;
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.after_write.pass().await;
            stored
        })
    }
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

    /// Spawns `count` probed copies of the future `make` returns, counted in `pending`.
    pub fn spawn_many<T>(
        count: usize,
        pending: &Arc<AtomicUsize>,
        mut make: impl FnMut() -> F,
    ) -> Vec<tokio::task::JoinHandle<T>>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        (0..count)
            .map(|_| tokio::spawn(Self::new(make(), pending)))
            .collect()
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

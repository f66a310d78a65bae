//! A store the test controls step by step: it counts calls, fails or hangs on command, and holds
//! lookups and writes at gates, so that races with the cache can be played in a chosen order; and
//! a push channel the test can cut.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use jwt_cutoff::{
    BoxFuture, Cutoff, CutoffChange, CutoffSource, MemoryStore, MemorySubscription, PushChannel,
    PushSubscription, Scope, SourceError, Timestamp,
};
use tokio::sync::watch;

/// How long a test waits for something that must happen, before it calls it a hang. Generous: the
/// machine is small and shared.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);
/// A lookup timeout no gated test comes near: the gate, not the timeout, decides when calls end.
pub(crate) const NO_TIMEOUT: Duration = Duration::from_secs(120);

/// A gate the test opens; gated source calls wait at it.
pub(crate) struct Gate(watch::Sender<bool>);

impl Gate {
    pub(crate) fn new(open: bool) -> Self {
        Self(watch::channel(open).0)
    }

    pub(crate) fn open(&self) {
        self.0.send_replace(true);
    }

    pub(crate) fn close(&self) {
        self.0.send_replace(false);
    }

    pub(crate) async fn pass(&self) {
        let mut open = self.0.subscribe();
        // The sender lives in `self`, so this cannot fail while we wait.
        let _ = open.wait_for(|open| *open).await;
    }
}

/// A store in front of a [`MemoryStore`] that counts calls and can be made to fail, hang, or hold
/// each lookup (after it has read the store) until its gate opens. Writes go to the memory store,
/// held before they write at `before_write` and after they wrote at `after_write` (both open
/// unless the test closes them).
pub(crate) struct TestSource {
    pub(crate) store: MemoryStore,
    /// Lookups started.
    calls: AtomicUsize,
    /// Lookups that have read the store (and now wait at the gate, unless it is open).
    reads: AtomicUsize,
    /// Writes that have reached the store.
    writes: AtomicUsize,
    pub(crate) gate: Gate,
    pub(crate) before_write: Gate,
    pub(crate) after_write: Gate,
    failing: AtomicBool,
    hanging: AtomicBool,
}

impl TestSource {
    pub(crate) fn new(store: MemoryStore) -> Arc<Self> {
        Arc::new(Self::with_gate(store, Gate::new(true)))
    }

    pub(crate) fn gated(store: MemoryStore) -> Arc<Self> {
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

    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub(crate) fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    pub(crate) fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    pub(crate) fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub(crate) fn hang(&self, hanging: bool) {
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

/// Wraps a future and counts it in `pending` the first time it returns `Pending`: from then on it is
/// known to be blocked inside the cache (running the source call, or waiting for the one that does).
pub(crate) struct Probe<F> {
    inner: Pin<Box<F>>,
    pending: Option<Arc<AtomicUsize>>,
}

impl<F: Future> Probe<F> {
    pub(crate) fn new(inner: F, pending: &Arc<AtomicUsize>) -> Self {
        Self {
            inner: Box::pin(inner),
            pending: Some(Arc::clone(pending)),
        }
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

/// Waits until `condition` holds, failing the test after [`PATIENCE`].
pub(crate) async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Awaits `future`, failing the test if it takes longer than [`PATIENCE`].
pub(crate) async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} did not complete within {PATIENCE:?}: it hangs"),
    }
}

/// A cutoff at a whole second.
pub(crate) fn at_secs(secs: i64) -> Cutoff {
    Cutoff::ValidFrom(Timestamp::from_unix_secs(secs))
}

/// A push channel the test can cut and restore like a network link, and make panic.
#[derive(Clone)]
pub(crate) struct Link {
    store: MemoryStore,
    cut: watch::Sender<bool>,
    pub(crate) panic_on_next: Arc<AtomicBool>,
}

pub(crate) struct LinkSubscription {
    inner: MemorySubscription,
    cut: watch::Receiver<bool>,
    panic_on_next: Arc<AtomicBool>,
}

impl Link {
    pub(crate) fn new(store: &MemoryStore) -> Self {
        Self {
            store: store.clone(),
            cut: watch::Sender::new(false),
            panic_on_next: Arc::default(),
        }
    }

    pub(crate) fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

impl PushChannel for Link {
    type Subscription = LinkSubscription;

    fn subscribe(&self) -> BoxFuture<'_, Result<LinkSubscription, SourceError>> {
        Box::pin(async move {
            if *self.cut.borrow() {
                return Err(SourceError::new("link is cut"));
            }
            Ok(LinkSubscription {
                inner: self.store.subscribe().await?,
                cut: self.cut.subscribe(),
                panic_on_next: Arc::clone(&self.panic_on_next),
            })
        })
    }
}

impl PushSubscription for LinkSubscription {
    fn next_change(&mut self) -> BoxFuture<'_, Result<CutoffChange, SourceError>> {
        Box::pin(async move {
            let change = tokio::select! {
                change = self.inner.next_change() => change,
                _ = self.cut.wait_for(|cut| *cut) => Err(SourceError::new("link is cut")),
            };
            assert!(
                !self.panic_on_next.load(Ordering::SeqCst),
                "a store's subscription panicked"
            );
            change
        })
    }
}

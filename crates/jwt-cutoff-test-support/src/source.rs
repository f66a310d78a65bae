//! One cutoff source for every test: a [`MemoryStore`] behind a double that records its lookups,
//! fails or hangs on command, and holds lookups and writes at gates, so that outages and races with
//! the cache can be played in a chosen order.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jwt_cutoff_store::{
    Cutoff, CutoffFuture, CutoffSource, LookupFuture, MemoryStore, Scope, SourceError,
    SubjectCutoffs,
};
use tokio::sync::watch;

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

/// A store in front of a [`MemoryStore`] that records its lookups and can be made to fail (a store
/// that is down), to hang (a store that never answers), or to hold each lookup, after it has read
/// the store, until its [`gate`](Self::gate) opens. Writes go to the memory store, held before they
/// write at `before_write` and after they wrote at `after_write` (both open unless the test closes
/// them). Share it with a cache as `Arc::clone(&source)`.
#[derive(Debug)]
pub struct TestSource {
    /// The store behind it, to read or write directly, whatever the double is told.
    pub store: MemoryStore,
    /// The subjects of the lookups started, in order.
    lookups: Mutex<Vec<String>>,
    /// Lookups that have read the store (and now wait at the gate, unless it is open).
    reads: AtomicUsize,
    /// Writes started (waiting at `before_write`, or past it).
    write_calls: AtomicUsize,
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
    /// A source over `store` that answers at once.
    pub fn new(store: MemoryStore) -> Arc<Self> {
        Arc::new(Self::with_gate(store, Gate::new(true)))
    }

    /// A source over `store` whose lookups wait at the closed gate until the test opens it.
    pub fn gated(store: MemoryStore) -> Arc<Self> {
        Arc::new(Self::with_gate(store, Gate::new(false)))
    }

    /// A store that is down: every lookup and write fails, until [`fail(false)`](Self::fail).
    pub fn failing() -> Arc<Self> {
        let source = Self::new(MemoryStore::new());
        source.fail(true);
        source
    }

    /// A store that never answers a lookup (only the cache's store timeout ends one), until
    /// [`hang(false)`](Self::hang).
    pub fn hanging() -> Arc<Self> {
        let source = Self::new(MemoryStore::new());
        source.hang(true);
        source
    }

    fn with_gate(store: MemoryStore, gate: Gate) -> Self {
        Self {
            store,
            lookups: Mutex::default(),
            reads: AtomicUsize::new(0),
            write_calls: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            gate,
            before_write: Gate::new(true),
            after_write: Gate::new(true),
            failing: AtomicBool::new(false),
            hanging: AtomicBool::new(false),
        }
    }

    /// The subjects of the lookups started so far, in order.
    pub fn lookups(&self) -> Vec<String> {
        self.lookups.lock().expect("lock").clone()
    }

    /// How many lookups were started.
    pub fn calls(&self) -> usize {
        self.lookups.lock().expect("lock").len()
    }

    /// No lookup was started: whatever was refused, was refused before the store.
    #[track_caller]
    pub fn assert_no_lookups(&self) {
        assert_eq!(self.calls(), 0, "looked up: {:?}", self.lookups());
    }

    /// How many lookups have read the store.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// How many writes were started (some may still wait at `before_write`).
    pub fn write_calls(&self) -> usize {
        self.write_calls.load(Ordering::SeqCst)
    }

    /// How many writes have reached the store.
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

    fn down(&self) -> Result<(), SourceError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(SourceError::new("the test store is down"));
        }
        Ok(())
    }

    async fn read(&self, subject: &str) -> Result<SubjectCutoffs, SourceError> {
        self.lookups.lock().expect("lock").push(subject.to_owned());
        let read = self.store.lookup(subject).await;
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.hanging.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.gate.pass().await;
        self.down()?;
        read
    }

    async fn write(&self, scope: Scope<'_>, to: Cutoff) -> Result<Cutoff, SourceError> {
        self.write_calls.fetch_add(1, Ordering::SeqCst);
        self.before_write.pass().await;
        self.down()?;
        let stored = self.store.raise(scope, to).await;
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.after_write.pass().await;
        stored
    }
}

impl CutoffSource for TestSource {
    fn lookup<'a>(&'a self, subject: &'a str) -> LookupFuture<'a> {
        Box::pin(self.read(subject))
    }

    fn raise<'a>(&'a self, scope: Scope<'a>, to: Cutoff) -> CutoffFuture<'a> {
        Box::pin(self.write(scope, to))
    }

    /// Straight from the store: neither counted nor held at a gate.
    fn stored<'a>(&'a self, scope: Scope<'a>) -> CutoffFuture<'a> {
        self.store.stored(scope)
    }
}

//! Cutoff sources for tests: a memory store that counts its lookups, stores that are down, that go
//! down and come back, or that never answer.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jwt_cutoff_store::{
    BoxFuture, Cutoff, CutoffCache, CutoffSource, MemoryStore, Scope, SourceError, Timestamp,
};

/// A memory store that records every lookup it answers.
#[derive(Clone, Debug, Default)]
pub struct CountingSource {
    /// The store behind it, to write or read directly.
    pub store: MemoryStore,
    lookups: Arc<Mutex<Vec<String>>>,
}

impl CountingSource {
    /// The subjects looked up so far, in order.
    pub fn lookups(&self) -> Vec<String> {
        self.lookups.lock().expect("lock").clone()
    }

    /// How many lookups reached the store.
    pub fn lookup_count(&self) -> usize {
        self.lookups.lock().expect("lock").len()
    }
}

impl CutoffSource for CountingSource {
    fn lookup<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        self.lookups.lock().expect("lock").push(subject.to_owned());
        self.store.lookup(subject)
    }

    fn raise<'a>(
        &'a self,
        scope: Scope<'a>,
        to: Cutoff,
    ) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        self.store.raise(scope, to)
    }
}

/// A store that is down: every lookup fails (and is counted); writes get the trait's refusal.
#[derive(Clone, Debug, Default)]
pub struct FailingSource {
    lookups: Arc<AtomicUsize>,
}

impl FailingSource {
    /// How many lookups were tried.
    pub fn lookup_count(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
}

impl CutoffSource for FailingSource {
    fn lookup<'a>(&'a self, _subject: &'a str) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Err(SourceError::new("connection refused")) })
    }
}

/// A memory store that can be taken down and brought back: while down, lookups and writes fail.
#[derive(Clone, Debug, Default)]
pub struct FlakySource {
    /// The store behind it, to write or read directly (even while "down").
    pub store: MemoryStore,
    down: Arc<AtomicBool>,
}

impl FlakySource {
    /// Takes the store down (`true`) or brings it back (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }
}

impl CutoffSource for FlakySource {
    fn lookup<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        if self.is_down() {
            return Box::pin(async { Err(SourceError::new("connection reset")) });
        }
        self.store.lookup(subject)
    }

    fn raise<'a>(
        &'a self,
        scope: Scope<'a>,
        to: Cutoff,
    ) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        if self.is_down() {
            return Box::pin(async { Err(SourceError::new("connection reset")) });
        }
        self.store.raise(scope, to)
    }
}

/// A store that never answers a lookup: only the cache's store timeout ends one.
#[derive(Clone, Copy, Debug, Default)]
pub struct HangingSource;

impl CutoffSource for HangingSource {
    fn lookup<'a>(&'a self, _subject: &'a str) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        Box::pin(std::future::pending())
    }
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

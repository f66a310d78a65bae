//! A push channel the test can cut and restore like a network link, and make panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jwt_cutoff_store::{
    BoxFuture, CutoffChange, MemoryStore, MemorySubscription, PushChannel, PushSubscription,
    SourceError,
};
use tokio::sync::watch;

/// A push channel over a [`MemoryStore`]'s own, that the test can cut: while cut, subscribing
/// fails and open subscriptions end with an error.
#[derive(Clone, Debug)]
pub struct Link {
    store: MemoryStore,
    cut: watch::Sender<bool>,
    /// When set, the next change read from a subscription panics (a store's buggy subscription).
    pub panic_on_next: Arc<AtomicBool>,
}

/// A subscription through a [`Link`].
#[derive(Debug)]
pub struct LinkSubscription {
    inner: MemorySubscription,
    cut: watch::Receiver<bool>,
    panic_on_next: Arc<AtomicBool>,
}

impl Link {
    /// A link, not cut, to `store`'s push channel.
    pub fn new(store: &MemoryStore) -> Self {
        Self {
            store: store.clone(),
            cut: watch::Sender::new(false),
            panic_on_next: Arc::default(),
        }
    }

    /// Cuts the link (`true`) or restores it (`false`).
    pub fn set_cut(&self, cut: bool) {
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

//! Coalescing: a cold stampede of lookups, direct or through the layer, makes one source call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::StatusCode;
use jwt_cutoff::{CutoffCache, CutoffSource as _, MemoryStore, Scope};
use jwt_cutoff_test_support::{
    NO_TIMEOUT, Probe, TestSource, at_secs, hs_issuer as issuer, hs_validator as validator,
    wait_until, within,
};
use tower::ServiceExt;

use crate::{STAMPEDE, bearer, guarded};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cold_stampede_of_lookups_makes_one_source_call() {
    let store = MemoryStore::new();
    store
        .raise(Scope::Subject("alice"), at_secs(1_700_000_000))
        .await
        .unwrap();
    let source = TestSource::gated(store);
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .store_timeout(NO_TIMEOUT)
        .build();

    let pending = Arc::new(AtomicUsize::new(0));
    let lookups: Vec<_> = (0..STAMPEDE)
        .map(|_| {
            let cutoffs = cutoffs.clone();
            tokio::spawn(Probe::new(
                async move { cutoffs.lookup("alice").await },
                &pending,
            ))
        })
        .collect();
    wait_until("all lookups wait on the held source call", || {
        pending.load(Ordering::SeqCst) == STAMPEDE
    })
    .await;
    assert_eq!(source.calls(), 1, "one source call while all of them wait");

    source.gate.open();
    for lookup in lookups {
        let answer = within("a coalesced lookup", lookup).await.unwrap();
        assert_eq!(answer.unwrap(), at_secs(1_700_000_000));
    }
    assert_eq!(source.calls(), 1, "exactly one source call in all");
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap(),
        at_secs(1_700_000_000)
    );
    assert_eq!(source.calls(), 1, "the answer is cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cold_stampede_through_the_layer_makes_one_source_call() {
    let source = TestSource::gated(MemoryStore::new());
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .store_timeout(NO_TIMEOUT)
        .build();
    let inner_calls = Arc::new(AtomicUsize::new(0));
    let service = guarded(validator(cutoffs), &inner_calls);
    let token = issuer().issue_access("alice", &()).unwrap().token;

    let pending = Arc::new(AtomicUsize::new(0));
    let requests: Vec<_> = (0..STAMPEDE)
        .map(|_| {
            let request = service.clone().oneshot(bearer(&token));
            tokio::spawn(Probe::new(request, &pending))
        })
        .collect();
    wait_until("all requests wait on the held source call", || {
        pending.load(Ordering::SeqCst) == STAMPEDE
    })
    .await;
    assert_eq!(source.calls(), 1);
    assert_eq!(inner_calls.load(Ordering::SeqCst), 0, "nothing passed yet");

    source.gate.open();
    for request in requests {
        let response = within("a coalesced request", request).await.unwrap();
        assert_eq!(response.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(source.calls(), 1, "exactly one source call in all");
    assert_eq!(inner_calls.load(Ordering::SeqCst), STAMPEDE);
}

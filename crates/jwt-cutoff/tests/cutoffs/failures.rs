//! Failures: shared with every waiter, never cached, bounded in time by the store timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{StatusCode, header};
use jwt_cutoff::{Cutoff, CutoffCache, MemoryStore};
use jwt_cutoff_test_support::{
    NO_TIMEOUT, Probe, TestSource, hs_issuer as issuer, hs_validator as validator, wait_until,
    within,
};
use tower::ServiceExt;

use crate::{STAMPEDE, bearer, guarded};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_lookup_reaches_every_waiter_and_is_not_cached() {
    let source = TestSource::gated(MemoryStore::new());
    source.fail(true);
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
    wait_until("all lookups wait on the failing source call", || {
        pending.load(Ordering::SeqCst) == STAMPEDE
    })
    .await;
    source.gate.open();
    for lookup in lookups {
        let answer = within("a coalesced failing lookup", lookup).await.unwrap();
        assert!(answer.is_err(), "every waiter sees the error: {answer:?}");
    }
    assert_eq!(source.calls(), 1, "one source call for all the waiters");

    // Not cached: the next lookup asks again, and fails again while the store is down.
    assert!(cutoffs.lookup("alice").await.is_err());
    assert_eq!(source.calls(), 2);

    // The store recovers: the next lookup succeeds, and that answer is cached.
    source.fail(false);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::NoCutoff);
    assert_eq!(source.calls(), 3);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::NoCutoff);
    assert_eq!(source.calls(), 3);
}

#[tokio::test]
async fn store_outage_through_the_layer_is_503_and_recovers() {
    let source = TestSource::new(MemoryStore::new());
    source.fail(true);
    let cutoffs = CutoffCache::new(Arc::clone(&source));
    let inner_calls = Arc::new(AtomicUsize::new(0));
    let service = guarded(validator(cutoffs), &inner_calls);
    let token = issuer().issue_access("alice", &()).unwrap().token;

    for _ in 0..3 {
        let response = service.clone().oneshot(bearer(&token)).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        assert!(!response.headers().contains_key(header::WWW_AUTHENTICATE));
    }
    assert_eq!(inner_calls.load(Ordering::SeqCst), 0, "fail closed");
    assert_eq!(source.calls(), 3, "errors are not cached");

    source.fail(false);
    let response = service.clone().oneshot(bearer(&token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(inner_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_source_is_bounded_by_the_store_timeout() {
    let source = TestSource::new(MemoryStore::new());
    source.hang(true);
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .store_timeout(Duration::from_millis(100))
        .build();
    let bound = Duration::from_secs(5);

    // One lookup, and a crowd of concurrent ones: all answer, with an error, within the bound.
    let answer = tokio::time::timeout(bound, cutoffs.lookup("alice"))
        .await
        .expect("a hanging source must not hold the lookup past the timeout");
    assert!(answer.is_err());
    let crowd: Vec<_> = (0..100)
        .map(|_| {
            let cutoffs = cutoffs.clone();
            tokio::spawn(async move { tokio::time::timeout(bound, cutoffs.lookup("bob")).await })
        })
        .collect();
    for lookup in crowd {
        let answer = lookup
            .await
            .unwrap()
            .expect("every waiter is released by the timeout");
        assert!(answer.is_err());
    }

    // Through the layer: 503 with Retry-After, the inner service untouched.
    let inner_calls = Arc::new(AtomicUsize::new(0));
    let service = guarded(validator(cutoffs.clone()), &inner_calls);
    let token = issuer().issue_access("carol", &()).unwrap().token;
    let response = tokio::time::timeout(bound, service.clone().oneshot(bearer(&token)))
        .await
        .expect("a hanging source must not hold the request")
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(inner_calls.load(Ordering::SeqCst), 0);

    // A timeout is a failure like any other: not cached.
    source.hang(false);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::NoCutoff);
    let response = service.oneshot(bearer(&token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

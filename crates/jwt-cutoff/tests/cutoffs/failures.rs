//! Failures: shared with every waiter, never cached, bounded in time by the store timeout.

use std::time::Duration;

use jwt_cutoff::{Cutoff, MemoryStore};
use jwt_cutoff_test_support::{
    Guarded, TestSource, blocked_lookups, cache_with_timeout, guarded_over, hs_access,
    hs_validator, patient_cache, within,
};

use crate::STAMPEDE;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_lookup_reaches_every_waiter_and_is_not_cached() {
    let source = TestSource::gated(MemoryStore::new());
    source.fail(true);
    let cutoffs = patient_cache(&source);

    let lookups = blocked_lookups(
        &cutoffs,
        "alice",
        STAMPEDE,
        "all lookups wait on the failing source call",
    )
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
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );
    assert_eq!(source.calls(), 3);
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );
    assert_eq!(source.calls(), 3);
}

#[tokio::test]
async fn store_outage_through_the_layer_is_503_and_recovers() {
    let source = TestSource::failing();
    let (guarded, _cutoffs) = guarded_over(&source);
    let token = hs_access("alice");

    for round in 0..3 {
        let reply = guarded.once(&token).await;
        reply.assert_unavailable(&format!("round {round}"));
        assert_eq!(reply.challenge, None, "a 503 challenges nobody");
    }
    assert_eq!(guarded.inner_calls(), 0, "fail closed");
    assert_eq!(source.calls(), 3, "errors are not cached");

    source.fail(false);
    guarded.once(&token).await.assert_ok("alice", "store back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_source_is_bounded_by_the_store_timeout() {
    let source = TestSource::hanging();
    let cutoffs = cache_with_timeout(&source, Duration::from_millis(100));
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
    let guarded = Guarded::new(hs_validator(cutoffs.clone()));
    let token = hs_access("carol");
    tokio::time::timeout(bound, guarded.once(&token))
        .await
        .expect("a hanging source must not hold the request")
        .assert_unavailable("hanging store");
    assert_eq!(guarded.inner_calls(), 0);

    // A timeout is a failure like any other: not cached.
    source.hang(false);
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );
    guarded.once(&token).await.assert_ok("carol", "store back");
}

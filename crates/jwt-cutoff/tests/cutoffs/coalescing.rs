//! Coalescing: a cold stampede of lookups, direct or through the layer, makes one source call.

use http::StatusCode;
use jwt_cutoff::MemoryStore;
use jwt_cutoff_test_support::{
    Guarded, TestSource, at_secs, blocked_lookups, hs_access, hs_validator, patient_cache,
    spawn_blocked, store_with, within,
};

use crate::STAMPEDE;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cold_stampede_of_lookups_makes_one_source_call() {
    let source = TestSource::gated(store_with("alice", at_secs(1_700_000_000)).await);
    let cutoffs = patient_cache(&source);

    let lookups = blocked_lookups(
        &cutoffs,
        "alice",
        STAMPEDE,
        "all lookups wait on the held source call",
    )
    .await;
    assert_eq!(source.calls(), 1, "one source call while all of them wait");

    source.gate.open();
    for lookup in lookups {
        let answer = within("a coalesced lookup", lookup).await.unwrap();
        assert_eq!(answer.unwrap(), at_secs(1_700_000_000));
    }
    assert_eq!(source.calls(), 1, "exactly one source call in all");
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        at_secs(1_700_000_000)
    );
    assert_eq!(source.calls(), 1, "the answer is cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cold_stampede_through_the_layer_makes_one_source_call() {
    let source = TestSource::gated(MemoryStore::new());
    let guarded = Guarded::new(hs_validator(patient_cache(&source)));
    let token = hs_access("alice");

    let requests = spawn_blocked(
        STAMPEDE,
        "all requests wait on the held source call",
        || {
            let (guarded, token) = (guarded.clone(), token.clone());
            async move { guarded.once(&token).await }
        },
    )
    .await;
    assert_eq!(source.calls(), 1);
    assert_eq!(guarded.inner_calls(), 0, "nothing passed yet");

    source.gate.open();
    for request in requests {
        let reply = within("a coalesced request", request).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert_eq!(source.calls(), 1, "exactly one source call in all");
    assert_eq!(guarded.inner_calls(), STAMPEDE);
}

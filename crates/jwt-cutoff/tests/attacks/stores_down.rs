//! The store is down (SPEC 16): fail closed with 503 and `Retry-After`, recover when it is back,
//! and a store that never answers is bounded by the store timeout.

use std::sync::Arc;
use std::time::Duration;

use jwt_cutoff::{Cutoff, CutoffCache, CutoffSource as _, MemoryStore, Reason, Scope};
use jwt_cutoff_test_support::*;

#[tokio::test]
async fn a_failing_store_fails_closed_with_503() {
    let source = TestSource::failing();
    let (guarded, _cutoffs) = guarded_over(&source);
    let token = hs_access("alice");
    for round in 0..3 {
        let reply = guarded.bearer(&token).await;
        reply.assert_unavailable(&format!("round {round}"));
        assert_eq!(reply.challenge, None, "a 503 challenges nobody");
    }
    assert_eq!(
        source.calls(),
        6,
        "errors are never cached (each round presents the token twice)"
    );
    // Refusals that need no lookup are unaffected.
    guarded.anonymous().await.assert_missing("no token");
    guarded
        .refuses(&forged_token(), Reason::BadSignature, "forged")
        .await;
    assert_eq!(source.calls(), 6);
}

#[tokio::test]
async fn a_store_outage_fails_closed_and_recovers() {
    let source = TestSource::new(MemoryStore::new());
    let cutoffs = CutoffCache::new(Arc::clone(&source));
    let guarded = Guarded::new(hs_validator(cutoffs.clone()));
    let issuer = hs_issuer();
    let alice = issuer.issue_access("alice", &()).unwrap().token;
    let bob = issuer.issue_access("bob", &()).unwrap().token;
    // Bob is revoked in the store while it is up, before anything is cached.
    source
        .store
        .raise(Scope::Subject("bob"), Cutoff::Refused)
        .await
        .unwrap();

    source.fail(true);
    guarded
        .bearer(&alice)
        .await
        .assert_unavailable("alice, store down");
    guarded
        .bearer(&bob)
        .await
        .assert_unavailable("bob, store down");
    assert!(
        cutoffs.logout_all("alice").await.is_err(),
        "a failed write is reported"
    );

    source.fail(false);
    guarded.accepts(&alice, "alice", "store back").await;
    guarded
        .refuses(&bob, Reason::SubjectRefused, "bob, store back")
        .await;
}

#[tokio::test]
async fn a_hanging_store_times_out_to_503() {
    let cutoffs = cache_with_timeout(&TestSource::hanging(), millis(50));
    let guarded = Guarded::new(hs_validator(cutoffs));
    let token = hs_access("alice");
    let reply = tokio::time::timeout(Duration::from_secs(10), guarded.bearer(&token))
        .await
        .expect("the lookup timeout bounds the request");
    reply.assert_unavailable("hanging store");
}

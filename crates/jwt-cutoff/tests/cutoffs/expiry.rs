//! Time in the cache: serve-stale within its limit, and changes made elsewhere seen after the TTL
//! or an invalidation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jwt_cutoff::{Cutoff, CutoffCache, CutoffSource as _, MemoryStore, Reason, Scope};
use jwt_cutoff_test_support::{
    TestSource, at_secs, hs_access, hs_validator as validator, reason_of as reason,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stale_serves_a_young_answer_then_fails_closed() {
    const TTL: Duration = Duration::from_millis(200);
    const STALE: Duration = Duration::from_millis(1500);
    let cutoff = at_secs(1_700_000_000);
    for _attempt in 0..5 {
        let store = MemoryStore::new();
        store.raise(Scope::Subject("alice"), cutoff).await.unwrap();
        let source = TestSource::new(store);
        let cutoffs = CutoffCache::builder(Arc::clone(&source))
            .time_to_live(TTL)
            .serve_stale_for(STALE)
            .build();
        let validator = validator(cutoffs.clone());
        let old_token = hs_access("alice");
        let bob_token = hs_access("bob");

        let looked_up = Instant::now(); // at or before the answer was cached
        assert_eq!(cutoffs.lookup("alice").await.unwrap().cutoff(), cutoff);
        source.fail(true);
        tokio::time::sleep(TTL * 2).await;
        let calls = source.calls();
        let stale = cutoffs.lookup("alice").await;
        let from_stale = validator
            .validate(&old_token)
            .await
            .err()
            .map(|r| r.reason());
        let bob = reason(&validator, &bob_token).await;
        if looked_up.elapsed() >= STALE {
            continue; // too slow to prove the answer was younger than STALE; try again
        }
        assert!(
            source.calls() > calls,
            "the TTL expired, so the source was asked"
        );
        assert_eq!(
            stale.unwrap().cutoff(),
            cutoff,
            "a cached answer younger than the limit is served"
        );
        assert_eq!(from_stale, None, "and the token it admits passes");
        assert!(
            cutoffs.lookup("bob").await.is_err(),
            "a subject never looked up fails closed"
        );
        assert_eq!(bob, Some(Reason::Unavailable));

        // Past the limit (counted from when the answer was cached): fail closed.
        tokio::time::sleep(STALE + Duration::from_millis(300)).await;
        assert!(
            cutoffs.lookup("alice").await.is_err(),
            "a cached answer older than the limit is not served"
        );
        assert_eq!(
            reason(&validator, &old_token).await,
            Some(Reason::Unavailable)
        );

        // Recovery.
        source.fail(false);
        assert_eq!(cutoffs.lookup("alice").await.unwrap().cutoff(), cutoff);
        return;
    }
    panic!("the machine was too slow to observe an answer younger than {STALE:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stale_still_applies_changes_made_here() {
    const TTL: Duration = Duration::from_millis(200);
    let source = TestSource::new(MemoryStore::new());
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .time_to_live(TTL)
        .serve_stale_for(Duration::from_secs(600))
        .build();
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );
    source.fail(true);

    // A push arrives while the store is down; a write through the failing store is refused.
    cutoffs.apply(Scope::Subject("alice"), at_secs(1_700_000_000));
    assert!(cutoffs.logout_all("alice").await.is_err());
    tokio::time::sleep(TTL * 2).await;
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        at_secs(1_700_000_000),
        "the stale answer includes the pushed change"
    );
    cutoffs.apply(Scope::Everyone, at_secs(1_700_000_100));
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        at_secs(1_700_000_100)
    );
    cutoffs.apply(Scope::Subject("alice"), at_secs(1));
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        at_secs(1_700_000_100),
        "an older push does not lower the stale answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_changes_made_elsewhere_are_seen_after_the_ttl_or_an_invalidate() {
    const TTL: Duration = Duration::from_millis(600);
    for _attempt in 0..5 {
        let store = MemoryStore::new();
        let cutoffs = CutoffCache::builder(store.clone())
            .time_to_live(TTL)
            .build();

        let alice = async || cutoffs.lookup("alice").await.unwrap().cutoff();
        let cached_at = Instant::now(); // at or before the answer was cached
        assert_eq!(alice().await, Cutoff::NoCutoff);
        // Another instance writes the store; nothing pushes.
        let t1 = at_secs(1_700_000_001);
        store.raise(Scope::Subject("alice"), t1).await.unwrap();
        let seen = alice().await;
        if cached_at.elapsed() >= TTL {
            continue; // too slow to prove the entry was still fresh; try again
        }
        let within_ttl = "within the TTL the cached answer stands";
        assert_eq!(seen, Cutoff::NoCutoff, "{within_ttl}");

        tokio::time::sleep(TTL + Duration::from_millis(200)).await;
        assert_eq!(alice().await, t1, "after the TTL the change is seen");

        let t2 = at_secs(1_700_000_002);
        store.raise(Scope::Subject("alice"), t2).await.unwrap();
        cutoffs.invalidate("alice");
        assert_eq!(alice().await, t2, "seen at once after invalidate");

        let t3 = at_secs(1_700_000_003);
        store.raise(Scope::Subject("alice"), t3).await.unwrap();
        store.raise(Scope::Everyone, t3).await.unwrap();
        cutoffs.invalidate_all();
        assert_eq!(alice().await, t3);
        assert_eq!(cutoffs.lookup("bob").await.unwrap().cutoff(), t3);
        return;
    }
    panic!("the machine was too slow to observe a lookup within {TTL:?}");
}

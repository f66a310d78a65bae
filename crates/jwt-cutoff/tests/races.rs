#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

//! Races between the cutoff cache's lookups, writes, pushes and reconnects, each played in the
//! order that once let an older cutoff win. The store is a [`MemoryStore`] behind a gated double
//! ([`TestSource`]); `CutoffCache` is the real one.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use jwt_cutoff::{Cutoff, CutoffCache, CutoffSource, MemoryStore, Reason, Scope, Timestamp};

use jwt_cutoff_test_support::{
    Link, NO_TIMEOUT, PATIENCE, TestSource, at_secs, blocked_lookups, eventually, following,
    hs_issuer, hs_refresh_validator, hs_validator, reason_of, spawn_lookup, wait_until, within,
};

const MINUTES: Duration = Duration::from_secs(600);

fn instance(source: &Arc<TestSource>) -> CutoffCache {
    CutoffCache::builder(Arc::clone(source))
        .store_timeout(NO_TIMEOUT)
        .time_to_live(MINUTES)
        .time_to_live_with_push(MINUTES)
        .build()
}

/// A memory store, the counting [`TestSource`] in front of it, and an [`instance`] over that.
fn over_memory() -> (MemoryStore, Arc<TestSource>, CutoffCache) {
    let store = MemoryStore::new();
    let source = TestSource::new(store.clone());
    let cutoffs = instance(&source);
    (store, source, cutoffs)
}

async fn raise_in_store(store: &MemoryStore, subject: &str) -> Cutoff {
    store
        .raise(Scope::Subject(subject), Cutoff::ValidFrom(Timestamp::now()))
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// A fill that outlives the lookup that started it
// ---------------------------------------------------------------------------------------------

/// A lookup starts a fill and goes away; a pushed change for the subject arrives while the fill is
/// held; then this instance logs the subject out. The fill, whoever finishes it, read the store
/// before the logout and must not put that older cutoff in the cache after the logout returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fill_left_by_a_cancelled_lookup_cannot_undo_a_later_logout() {
    let store = MemoryStore::new();
    let source = TestSource::gated(store.clone());
    let cutoffs = instance(&source);
    let validator = hs_validator(cutoffs.clone());

    let first = spawn_lookup(&cutoffs, "alice");
    wait_until("the first fill read the store", || source.reads() == 1).await;

    // A change pushed while the fill is held. (The cache this replaced made the push join the
    // fill, take it over when its lookup went away, and read the store again, uncounted.)
    let pushed = raise_in_store(&store, "alice").await;
    let apply = tokio::spawn({
        let cutoffs = cutoffs.clone();
        async move { cutoffs.apply(Scope::Subject("alice"), pushed) }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    first.abort();
    let _ = first.await;
    // Time for whatever runs the fill now to read the store, before the logout.
    tokio::time::sleep(Duration::from_millis(50)).await;

    let between = hs_issuer().issue_access("alice", &()).unwrap().token;
    let logout = within("logout_all", cutoffs.logout_all("alice"))
        .await
        .unwrap();
    source.gate.open();
    within("the pushed change", apply).await.unwrap();

    let in_force = cutoffs.lookup("alice").await.unwrap().cutoff();
    assert!(
        in_force >= logout,
        "the cache went back to {in_force:?} after a logout at {logout:?}"
    );
    assert_eq!(
        validator.validate(&between).await.unwrap_err().reason(),
        Reason::Revoked,
        "a token minted before the logout returned is refused"
    );
}

/// Which step of a logout the caller abandons in [`abandoned_logout`].
#[derive(Clone, Copy, Debug)]
enum Abandoned {
    /// While the store write is on its way back (it has landed in the store).
    Write,
    /// While the logout brings the cache up to date, a fill of the subject being in flight (the
    /// cache this replaced made the update wait for that fill).
    CacheUpdate,
}

async fn abandoned_logout(abandoned: Abandoned) {
    let (store, source, cutoffs) = over_memory();
    let validator = hs_validator(cutoffs.clone());
    let before = hs_issuer().issue_access("alice", &()).unwrap().token;
    assert!(
        validator.validate(&before).await.is_ok(),
        "cached: no cutoff"
    );

    let held_fill = match abandoned {
        Abandoned::Write => {
            source.after_write.close();
            None
        }
        Abandoned::CacheUpdate => {
            // Make the cached entry go, then hold a fresh fill of it.
            cutoffs.invalidate("alice");
            source.gate.close();
            let reads = source.reads();
            let fill = spawn_lookup(&cutoffs, "alice");
            wait_until("a fill read the store", || source.reads() == reads + 1).await;
            Some(fill)
        }
    };

    let logout = tokio::spawn({
        let cutoffs = cutoffs.clone();
        async move { cutoffs.logout_all("alice").await }
    });
    wait_until("the logout wrote the store", || source.writes() == 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    logout.abort();
    let abandoned_early = logout.await.is_err_and(|error| error.is_cancelled());
    if let Abandoned::Write = abandoned {
        assert!(
            abandoned_early,
            "the caller went away before the write returned"
        );
    }
    // The cache update does not wait for the held fill, so the logout may be done already.
    source.after_write.open();
    source.gate.open();
    if let Some(fill) = held_fill {
        let _ = within("the held fill", fill).await;
    }

    let stored = store.lookup("alice").await.unwrap().cutoff();
    assert!(stored > Cutoff::NoCutoff, "the write landed in the store");
    let refused = format!(
        "{abandoned:?}: the store holds {stored:?}, and this instance refuses a token from before \
         it (not only after its cache TTL of ten minutes)"
    );
    eventually(&refused, PATIENCE, async || {
        validator.validate(&before).await.is_err()
    })
    .await;
    assert_eq!(cutoffs.lookup("alice").await.unwrap().cutoff(), stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_logout_whose_caller_goes_away_during_the_write_is_still_in_force_here() {
    abandoned_logout(Abandoned::Write).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_logout_whose_caller_goes_away_during_the_cache_update_is_still_in_force_here() {
    abandoned_logout(Abandoned::CacheUpdate).await;
}

// ---------------------------------------------------------------------------------------------
// Pushed changes are not held back by slow fills
// ---------------------------------------------------------------------------------------------

/// During a store brownout fills hang until the lookup timeout; a change pushed for a subject being
/// filled must not hold back the changes pushed after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_fill_does_not_hold_back_the_pushed_changes_behind_it() {
    let (store, source, cutoffs) = over_memory();
    let _push = following(&cutoffs, store.clone()).await;
    assert_eq!(
        cutoffs.lookup("bob").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );

    // Alice's fill hangs at the gate (the brownout); its timeout is far away.
    source.gate.close();
    let fill = spawn_lookup(&cutoffs, "alice");
    wait_until("alice's fill read the store", || source.reads() == 2).await;

    let alice = raise_in_store(&store, "alice").await;
    let bob = raise_in_store(&store, "bob").await;
    // Until then bob's pushed change waits behind alice's hanging fill.
    eventually("bob's pushed change is applied", PATIENCE, async || {
        cutoffs.lookup("bob").await.unwrap().cutoff() == bob
    })
    .await;

    source.gate.open();
    let _ = within("alice's fill", fill).await;
    assert_eq!(cutoffs.lookup("alice").await.unwrap().cutoff(), alice);
}

// ---------------------------------------------------------------------------------------------
// Reconnects fence the lookups in flight
// ---------------------------------------------------------------------------------------------

/// A lookup reads the store; a change is made while the push channel is down (so this instance
/// misses it); the channel reconnects, which must forget everything read before; only then does
/// the lookup finish. Its answer predates the missed change and must not be kept for the long TTL
/// with push.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lookup_in_flight_across_a_reconnect_is_not_kept() {
    let (store, source, cutoffs) = over_memory();
    let link = Link::new(&store);
    let _push = following(&cutoffs, link.clone()).await;

    link.set_cut(true);
    wait_until("push lost", || !cutoffs.push_connected()).await;
    source.gate.close();
    let fill = spawn_lookup(&cutoffs, "alice");
    wait_until("the fill read the store", || source.reads() == 1).await;

    let missed = raise_in_store(&store, "alice").await;
    link.set_cut(false);
    wait_until("push reconnected", || cutoffs.push_connected()).await;
    source.gate.open();
    let _ = within("the fill", fill).await;

    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        missed,
        "an answer read before the reconnect survived it"
    );
}

/// How the load is forgotten in [`a_forgotten_load_still_answers_with_the_changes_it_saw`].
#[derive(Clone, Copy, Debug)]
enum Forgotten {
    /// A push channel reconnected.
    All,
    /// The application invalidated the subject.
    Subject,
}

/// A load reads the store before a logout; the logout raises its floor and returns; a request
/// joins the load; then the load is forgotten. Its answer is not kept, but the request that
/// joined it after the logout returned must still get the logout.
async fn forgotten_load(forgotten: Forgotten) {
    let source = TestSource::gated(MemoryStore::new());
    let cutoffs = instance(&source);
    let first = spawn_lookup(&cutoffs, "alice");
    wait_until("the load read the store", || source.reads() == 1).await;
    let logout = within("logout_all", cutoffs.logout_all("alice"))
        .await
        .unwrap();

    let [joined] = blocked_lookups(&cutoffs, "alice", 1, "the second lookup joined the load")
        .await
        .try_into()
        .unwrap();
    assert_eq!(source.calls(), 1, "it joined the load under way");
    match forgotten {
        Forgotten::All => cutoffs.invalidate_all(),
        Forgotten::Subject => cutoffs.invalidate("alice"),
    }
    source.gate.open();

    for (which, lookup) in [("first", first), ("joined", joined)] {
        let answer = within("a lookup", lookup).await.unwrap().unwrap();
        assert!(
            answer >= logout,
            "{forgotten:?}: the {which} lookup answered {answer:?} after a logout at {logout:?} returned"
        );
    }
    assert_eq!(cutoffs.lookup("alice").await.unwrap().cutoff(), logout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_load_forgotten_by_a_reconnect_still_answers_with_the_changes_it_saw() {
    forgotten_load(Forgotten::All).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_load_forgotten_by_an_invalidation_still_answers_with_the_changes_it_saw() {
    forgotten_load(Forgotten::Subject).await;
}

/// The store lags behind what this instance knows (a read replica, or a read-only source whose
/// changes the application applies itself): a read from the store never lowers a cutoff known
/// here, so a refresh is refused as the access token is.
#[tokio::test]
async fn a_read_from_a_lagging_store_never_lowers_what_is_known_here() {
    let source = TestSource::new(MemoryStore::new());
    let cutoffs = instance(&source);
    let refresh = hs_refresh_validator(cutoffs.clone());
    let token = hs_issuer().issue_refresh("alice", &()).unwrap().token;
    assert!(refresh.validate(&token).await.is_ok());
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );

    let pushed = Cutoff::ValidFrom(Timestamp::now());
    cutoffs.apply(Scope::Subject("alice"), pushed);
    assert_eq!(
        source.store.lookup("alice").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );
    assert_eq!(
        cutoffs.lookup_in_store("alice").await.unwrap().cutoff(),
        pushed
    );
    assert_eq!(
        refresh.validate(&token).await.unwrap_err().reason(),
        Reason::Revoked
    );
}

// ---------------------------------------------------------------------------------------------
// The push task ends: the cache stops trusting push
// ---------------------------------------------------------------------------------------------

/// How the push task ends in [`push_task_end`].
#[derive(Clone, Copy, Debug)]
enum Ended {
    Stopped,
    Panicked,
}

async fn push_task_end(ended: Ended) {
    let (store, _source, cutoffs) = over_memory();
    let link = Link::new(&store);
    let task = following(&cutoffs, link.clone()).await;
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );

    match ended {
        Ended::Stopped => task.stop(),
        Ended::Panicked => {
            link.panic_on_next.store(true, Ordering::SeqCst);
            raise_in_store(&store, "carol").await;
            wait_until("the task ended", || task.is_finished()).await;
        }
    }
    // Nothing pushes any more: the cached answer may be missing this change.
    let unpushed = raise_in_store(&store, "alice").await;

    let unconnected = format!("{ended:?}: push_connected() is false");
    wait_until(&unconnected, || !cutoffs.push_connected()).await;
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        unpushed,
        "{ended:?}: an answer cached for the long TTL with push outlived the push task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_push_task_leaves_the_cache_unconnected_and_cleared() {
    push_task_end(Ended::Stopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicked_push_task_leaves_the_cache_unconnected_and_cleared() {
    push_task_end(Ended::Panicked).await;
}

// ---------------------------------------------------------------------------------------------
// Serve-stale keeps the age of the last lookup
// ---------------------------------------------------------------------------------------------

/// A change applied to a stale answer makes it no younger: past `max_age` since the store last
/// answered, it is no longer served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raised_stale_answer_keeps_the_age_of_its_lookup() {
    const TTL: Duration = Duration::from_millis(100);
    const MAX_AGE: Duration = Duration::from_millis(1000);
    let source = TestSource::new(MemoryStore::new());
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .time_to_live(TTL)
        .serve_stale_for(MAX_AGE)
        .build();
    let looked_up = Instant::now();
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );
    source.fail(true);

    tokio::time::sleep(MAX_AGE * 6 / 10).await;
    cutoffs.apply(Scope::Subject("alice"), at_secs(1_700_000_000));
    tokio::time::sleep(MAX_AGE * 6 / 10).await;
    assert!(looked_up.elapsed() > MAX_AGE);
    assert!(
        cutoffs.lookup("alice").await.is_err(),
        "an answer looked up more than {MAX_AGE:?} ago was served because a change was applied to it"
    );
}

// ---------------------------------------------------------------------------------------------
// Sessions ride on their subject's entry
// ---------------------------------------------------------------------------------------------

/// A session revoked (and pushed here) while a lookup of its subject is reading the store: the
/// lookup's answer was read before the revocation, and neither what it answers nor what it caches
/// may lose the revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_revoked_during_a_lookup_is_kept_when_the_lookup_lands() {
    let store = MemoryStore::new();
    let source = TestSource::gated(store.clone());
    let cutoffs = instance(&source);
    let validator = hs_validator(cutoffs.clone());
    let pair = hs_issuer().issue_pair("alice", &()).unwrap();
    let laptop = Scope::Session {
        subject: "alice",
        session: &pair.session_id,
    };

    let lookup = tokio::spawn({
        let cutoffs = cutoffs.clone();
        async move { cutoffs.lookup("alice").await }
    });
    wait_until("the fill read the store", || source.reads() == 1).await;
    let stored = store.raise(laptop, Cutoff::Refused).await.unwrap();
    cutoffs.apply(laptop, stored);
    source.gate.open();

    let answered = within("the held lookup", lookup).await.unwrap().unwrap();
    assert_eq!(
        answered.for_token(Some(&pair.session_id)),
        Cutoff::Refused,
        "the held lookup answers the revocation applied while it ran"
    );
    assert_eq!(
        reason_of(&validator, &pair.access.token).await,
        Some(Reason::Revoked),
        "the cached answer keeps it"
    );
    assert_eq!(source.reads(), 1, "from the cache");
}

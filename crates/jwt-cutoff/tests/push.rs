//! Push: two instances (two `CutoffCache`, two caches) on one store that pushes its changes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use jwt_cutoff::{Cutoff, CutoffCache, CutoffSource, MemoryStore, Reason, Scope, Timestamp};

use jwt_cutoff_test_support::{
    Link, eventually, following, hs_issuer, hs_validator, reason_of, revocation_reaches,
};

const MINUTES: Duration = Duration::from_secs(600);

fn instance(store: &MemoryStore, ttl: Duration) -> CutoffCache {
    CutoffCache::builder(store.clone())
        .time_to_live(ttl)
        .time_to_live_with_push(MINUTES)
        .build()
}

async fn raise_in_store(store: &MemoryStore, subject: &str) -> Cutoff {
    let cutoff = Cutoff::ValidFrom(Timestamp::now());
    store.raise(Scope::Subject(subject), cutoff).await.unwrap();
    cutoff
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_instance_reaches_the_other_by_push() {
    let store = MemoryStore::new();
    let (a, b) = (instance(&store, MINUTES), instance(&store, MINUTES));
    let _push_a = a.follow(store.clone());
    let _push_b = b.follow(store.clone());
    eventually("both follow", Duration::from_secs(5), async || {
        a.push_connected() && b.push_connected()
    })
    .await;

    for round in 0..20 {
        let subject = format!("user-{round}");
        assert_eq!(b.lookup(&subject).await.unwrap().cutoff(), Cutoff::NoCutoff);
        let at = a.logout_all(&subject).await.unwrap();
        // B cached "no cutoff" for ten minutes: only the push can change its answer.
        eventually("B sees the logout", Duration::from_secs(5), async || {
            b.lookup(&subject).await.unwrap().cutoff() == at
        })
        .await;
    }

    let at = b.logout_everyone().await.unwrap();
    eventually(
        "A sees the global logout",
        Duration::from_secs(5),
        async || a.lookup("user-0").await.unwrap().cutoff() >= at,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_channel_clears_the_cache_and_falls_back_to_the_plain_ttl() {
    let store = MemoryStore::new();
    let channel = Link::new(&store);
    let b = instance(&store, Duration::from_millis(200));
    let _push = b.follow(channel.clone());
    eventually("B follows", Duration::from_secs(5), async || {
        b.push_connected()
    })
    .await;

    assert_eq!(b.lookup("alice").await.unwrap().cutoff(), Cutoff::NoCutoff);
    channel.set_cut(true);
    eventually("B notices the cut", Duration::from_secs(5), async || {
        !b.push_connected()
    })
    .await;

    // The entry cached while connected (ten minutes) was dropped with the channel.
    let first = raise_in_store(&store, "alice").await;
    assert_eq!(b.lookup("alice").await.unwrap().cutoff(), first);

    // Entries cached while disconnected live for the plain TTL: a later change shows up by lookup.
    let second = raise_in_store(&store, "alice").await;
    assert_eq!(
        b.lookup("alice").await.unwrap().cutoff(),
        first,
        "cached until the TTL"
    );
    eventually(
        "the 200 ms TTL expires",
        Duration::from_secs(5),
        async || b.lookup("alice").await.unwrap().cutoff() == second,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_missed_while_disconnected_are_caught_up_on_reconnect() {
    let store = MemoryStore::new();
    let channel = Link::new(&store);
    // Even the plain TTL is long: only the reconnect can explain B catching up.
    let b = instance(&store, MINUTES);
    let _push = b.follow(channel.clone());
    eventually("B follows", Duration::from_secs(5), async || {
        b.push_connected()
    })
    .await;

    channel.set_cut(true);
    eventually("B notices the cut", Duration::from_secs(5), async || {
        !b.push_connected()
    })
    .await;
    assert_eq!(b.lookup("alice").await.unwrap().cutoff(), Cutoff::NoCutoff);
    let missed = raise_in_store(&store, "alice").await;
    assert_eq!(b.lookup("alice").await.unwrap().cutoff(), Cutoff::NoCutoff);

    channel.set_cut(false);
    eventually(
        "B reconnects and catches up",
        Duration::from_secs(15),
        async || b.push_connected() && b.lookup("alice").await.unwrap().cutoff() == missed,
    )
    .await;

    // And pushes flow again.
    assert_eq!(b.lookup("carol").await.unwrap().cutoff(), Cutoff::NoCutoff);
    let later = raise_in_store(&store, "carol").await;
    eventually(
        "B sees the pushed change",
        Duration::from_secs(5),
        async || b.lookup("carol").await.unwrap().cutoff() == later,
    )
    .await;
}

#[tokio::test]
async fn the_push_task_stops_with_the_last_cutoffs() {
    let store = MemoryStore::new();
    let cutoffs = instance(&store, MINUTES);
    let task = cutoffs.follow(store.clone());
    eventually("connected", Duration::from_secs(5), async || {
        cutoffs.push_connected()
    })
    .await;
    drop(cutoffs);
    // The task holds only a weak reference: the next change finds nobody and it ends.
    raise_in_store(&store, "alice").await;
    eventually("the task ends", Duration::from_secs(5), async || {
        task.is_finished()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_revoked_on_one_instance_is_refused_on_the_other_by_push() {
    let store = MemoryStore::new();
    let (a, b) = (instance(&store, MINUTES), instance(&store, MINUTES));
    let _push_a = following(&a, store.clone()).await;
    let _push_b = following(&b, store.clone()).await;
    let validator = hs_validator(b.clone());
    let pair = hs_issuer().issue_pair("alice", &()).unwrap();
    assert!(validator.validate(&pair.access.token).await.is_ok());

    revocation_reaches(&a, &b, "alice", &pair.session_id).await;
    assert_eq!(
        reason_of(&validator, &pair.access.token).await,
        Some(Reason::Revoked),
        "B refuses the cached token of the session revoked on A"
    );
    let other = hs_issuer().issue_pair("alice", &()).unwrap();
    assert!(validator.validate(&other.access.token).await.is_ok());
}

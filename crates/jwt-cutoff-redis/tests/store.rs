//! The store against a real Redis: the conformance suite with push, racing writers on several
//! connections, the stored format, subjects that look like keys, nothing written over the subject
//! bound, no push for a write that changed nothing, values that are not cutoffs, an unreachable
//! server, and a validator round trip.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::time::Duration;

use jwt_cutoff::{
    Cutoff, CutoffCache, CutoffChange, CutoffSource, PushChannel, PushSubscription, Scope,
    Timestamp,
};
use jwt_cutoff_redis::RedisStore;
use jwt_cutoff_store::conformance::{self, Suite};
use jwt_cutoff_test_support::{check_logout_round_trip, check_session_retention};
use support::{TestKeys, raw, store};

fn at(micros: i64) -> Cutoff {
    Cutoff::ValidFrom(Timestamp::from_unix_micros(micros))
}

async fn get(url: &str, key: Vec<u8>) -> Option<String> {
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut raw(url).await)
        .await
        .unwrap()
}

/// A fresh key prefix under `parent` each time (so one `clean_up(parent)` removes them all).
fn fresh_prefixes(url: &str, parent: &str) -> impl AsyncFnMut() -> RedisStore {
    let (url, parent) = (url.to_owned(), parent.to_owned());
    let mut prefixes = 0;
    async move || {
        prefixes += 1;
        store(&url, &format!("{parent}{prefixes}:")).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_keeps_the_promises() {
    let Some(keys) = TestKeys::new("conformance").await else {
        return;
    };
    Suite::new(fresh_prefixes(&keys.url, &keys.prefix))
        .push(RedisStore::clone)
        .run()
        .await;
    keys.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_on_several_connections_never_move_a_cutoff_back() {
    let Some(keys) = TestKeys::new("racing").await else {
        return;
    };
    // Several stores, so the writes come over several connections and interleave in Redis.
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(keys.store().await);
    }
    Suite::new(fresh_prefixes(&keys.url, &keys.prefix))
        .racing_writers_on(stores)
        .await;
    keys.clean_up().await;
}

#[tokio::test]
async fn cutoffs_are_stored_as_readable_values() {
    let Some((keys, store)) = TestKeys::with_store("format").await else {
        return;
    };
    let alice = Scope::Subject("alice");
    store.raise(alice, Cutoff::Refused).await.unwrap();
    store
        .raise(Scope::Subject("bob"), at(1_764_384_000_123_456))
        .await
        .unwrap();
    // Refused is stored as a readable marker, a time as decimal microseconds.
    assert_eq!(
        get(&keys.url, store.key(alice)).await.as_deref(),
        Some("refused")
    );
    assert_eq!(
        get(&keys.url, store.key(Scope::Subject("bob")))
            .await
            .as_deref(),
        Some("1764384000123456")
    );
    keys.clean_up().await;
}

/// Subjects that spell out the store's own keys, or hold NUL (Redis keys are binary), are subjects
/// like any other: each has a key of its own and travels intact. The suite checks the odd
/// subjects every store must keep apart.
#[tokio::test]
async fn subjects_that_look_like_keys_get_keys_of_their_own() {
    let Some((keys, store)) = TestKeys::with_store("keys").await else {
        return;
    };
    let mut subscription = store.subscribe().await.unwrap();
    let subjects = [
        keys.prefix.clone(),
        format!("{}s:alice", keys.prefix),
        format!("{}g", keys.prefix),
        "alice".to_owned(),
        "\u{0}nul".to_owned(),
        "nul\u{0}".to_owned(),
    ];
    for (index, subject) in (1..).zip(&subjects) {
        let cutoff = at(index);
        assert_eq!(
            store.raise(Scope::Subject(subject), cutoff).await.unwrap(),
            cutoff
        );
        let change = tokio::time::timeout(Duration::from_secs(5), subscription.next_change())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(change, CutoffChange::new(Scope::Subject(subject), cutoff));
    }
    for (index, subject) in (1..).zip(&subjects) {
        assert_eq!(
            store.lookup(subject).await.unwrap().cutoff(),
            at(index),
            "{subject:?}"
        );
    }
    assert_eq!(
        store.lookup("nobody").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );
    keys.clean_up().await;
}

/// The suite sees that a subject over the bound is refused and not pushed; here, that no key was
/// written for it.
#[tokio::test]
async fn nothing_is_written_for_a_subject_over_the_bound() {
    let Some((keys, store)) = TestKeys::with_store("bound").await else {
        return;
    };
    for subject in conformance::raise_too_long_subjects(&store).await {
        assert_eq!(
            get(&keys.url, store.key(Scope::Subject(&subject))).await,
            None
        );
    }
    keys.clean_up().await;
}

#[tokio::test]
async fn only_real_changes_are_published() {
    let Some((keys, store)) = TestKeys::with_store("publish").await else {
        return;
    };
    let mut subscription = store.subscribe().await.unwrap();
    store.raise(Scope::Subject("alice"), at(20)).await.unwrap();
    // Neither an earlier time nor "no cutoff" changes anything, so neither is published...
    assert_eq!(
        store.raise(Scope::Subject("alice"), at(10)).await.unwrap(),
        at(20)
    );
    assert_eq!(
        store
            .raise(Scope::Subject("alice"), Cutoff::NoCutoff)
            .await
            .unwrap(),
        at(20)
    );
    store.raise(Scope::Subject("alice"), at(30)).await.unwrap();
    // ...so the subscriber sees 20, then 30.
    for expected in [at(20), at(30)] {
        let change = subscription.next_change().await.unwrap();
        assert_eq!(change.cutoff(), expected);
    }
    keys.clean_up().await;
}

#[tokio::test]
async fn a_value_that_is_not_a_cutoff_fails_closed_and_is_not_overwritten() {
    let Some((keys, store)) = TestKeys::with_store("garbage").await else {
        return;
    };
    let key = store.key(Scope::Subject("mallory"));
    let () = redis::cmd("SET")
        .arg(&key)
        .arg("tomorrow")
        .query_async(&mut raw(&keys.url).await)
        .await
        .unwrap();
    assert!(store.lookup("mallory").await.is_err());
    assert!(store.raise(Scope::Subject("mallory"), at(5)).await.is_err());
    assert_eq!(get(&keys.url, key).await.as_deref(), Some("tomorrow"));
    // A message on the channel that is not a change ends the subscription (the core then clears
    // its cache and subscribes again).
    let mut subscription = store.subscribe().await.unwrap();
    let receivers: i64 = redis::cmd("PUBLISH")
        .arg(store.channel())
        .arg("hello")
        .query_async(&mut raw(&keys.url).await)
        .await
        .unwrap();
    assert_eq!(receivers, 1);
    assert!(subscription.next_change().await.is_err());
    keys.clean_up().await;
}

#[tokio::test]
async fn an_unreachable_server_fails_closed() {
    // Nothing listens on this port (bound, then released): every command fails, quickly.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    assert!(jwt_cutoff_redis::RedisStore::connect(&url).await.is_err());
    let store = jwt_cutoff_redis::RedisStore::builder(redis::Client::open(url).unwrap())
        .timeout(Duration::from_millis(500))
        .connect_lazily()
        .unwrap();
    let cutoffs = CutoffCache::new(store.clone());
    assert!(cutoffs.lookup("alice").await.is_err());
    assert!(cutoffs.logout_all("alice").await.is_err());
    assert!(store.subscribe().await.is_err());
}

#[tokio::test]
async fn a_token_is_accepted_until_its_subject_logs_out_everywhere() {
    let Some((keys, store)) = TestKeys::with_store("validator").await else {
        return;
    };
    // A second instance, with a cache of its own, reads the same answer from Redis.
    check_logout_round_trip(
        &CutoffCache::new(store),
        CutoffCache::new(keys.store().await),
    )
    .await;
    keys.clean_up().await;
}

/// Sessions live in one hash per subject, which expires with its last session; a session write
/// also deletes the subject's sessions past their retention.
#[tokio::test]
async fn sessions_past_their_retention_are_forgotten_and_deleted() {
    let Some(keys) = TestKeys::new("retention").await else {
        return;
    };
    let retention = Duration::from_secs(1);
    let store = RedisStore::builder(redis::Client::open(keys.url.as_str()).unwrap())
        .key_prefix(&keys.prefix)
        .session_retention(retention)
        .connect()
        .await
        .unwrap();
    let url = keys.url.clone();
    let pattern = format!("{}r:*", keys.prefix);
    check_session_retention(&store, retention, async || {
        let mut connection = raw(&url).await;
        let hashes: Vec<Vec<u8>> = redis::cmd("KEYS")
            .arg(&pattern)
            .query_async(&mut connection)
            .await
            .unwrap();
        let mut sessions = 0;
        for hash in hashes {
            let fields: usize = redis::cmd("HLEN")
                .arg(hash)
                .query_async(&mut connection)
                .await
                .unwrap();
            sessions += fields;
        }
        sessions
    })
    .await;

    // The stored form: `<cutoff> <kept until>`, in the subject's hash.
    let hash = store.key(Scope::Session {
        subject: "bob",
        session: "new",
    });
    let value: String = redis::cmd("HGET")
        .arg(hash)
        .arg("new")
        .query_async(&mut raw(&keys.url).await)
        .await
        .unwrap();
    let (cutoff, kept_until) = value.split_once(' ').unwrap();
    assert_eq!(cutoff, "refused");
    let kept_until: i64 = kept_until.parse().unwrap();
    assert!(kept_until > Timestamp::now().as_unix_micros());
    keys.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_once_even_from_two_instances() {
    let Some((keys, one)) = TestKeys::with_store("rotation").await else {
        return;
    };
    let two = keys.store().await;
    conformance::check_rotation(vec![one, two]).await;
    keys.clean_up().await;
}

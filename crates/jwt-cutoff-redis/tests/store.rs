//! The store against a real Redis: monotonic writes, refused subjects, the global cutoff, odd
//! subjects, the stored format, and a validator round trip.
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
    Algorithm, Cutoff, CutoffCache, CutoffChange, CutoffSource, MAX_SUBJECT_BYTES, PushChannel,
    PushSubscription, Reason, Scope, SigningKey, Timestamp, TokenIssuer, Validator, VerifyingKey,
};
use support::{clean_up, longest_subjects, raw, redis, store, too_long_subjects, unique};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_never_move_a_cutoff_back() {
    let Some(url) = redis().await else { return };
    let prefix = unique("racing");
    // Several stores, so the writes come over several connections and interleave in Redis.
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(store(&url, &prefix).await);
    }
    const WRITERS: i64 = 64;
    const BASE: i64 = 1_764_384_000_000_000;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = stores[usize::try_from(writer).unwrap() % stores.len()].clone();
        // A permutation of 0..WRITERS, so later cutoffs are often written before earlier ones.
        let to = at(BASE + (writer * 37) % WRITERS);
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for round in 0..10 {
                let to = match to {
                    Cutoff::ValidFrom(t) => at(t.as_unix_micros() + round * WRITERS),
                    other => other,
                };
                let stored = store.raise(Scope::Subject("alice"), to).await.unwrap();
                assert!(stored >= to, "raise returned {stored:?}, below {to:?}");
                seen.push(stored);
                seen.push(store.lookup("alice").await.unwrap());
            }
            seen
        }));
    }
    let mut highest = Cutoff::NoCutoff;
    for task in tasks {
        let seen = task.await.unwrap();
        // What one writer sees only moves forward.
        assert!(seen.windows(2).all(|pair| pair[0] <= pair[1]), "{seen:?}");
        highest = highest.max(*seen.last().unwrap());
    }
    let expected = at(BASE + 9 * WRITERS + WRITERS - 1);
    assert_eq!(highest, expected);
    assert_eq!(stores[0].lookup("alice").await.unwrap(), expected);
    // The earliest cutoff, written last, changes nothing.
    assert_eq!(
        stores[1]
            .raise(Scope::Subject("alice"), at(BASE))
            .await
            .unwrap(),
        expected
    );
    assert_eq!(stores[2].lookup("alice").await.unwrap(), expected);
    clean_up(&url, &prefix).await;
}

#[tokio::test]
async fn refused_wins_over_every_time() {
    let Some(url) = redis().await else { return };
    let prefix = unique("refused");
    let store = store(&url, &prefix).await;
    let alice = Scope::Subject("alice");
    assert_eq!(store.raise(alice, at(5)).await.unwrap(), at(5));
    assert_eq!(
        store.raise(alice, Cutoff::Refused).await.unwrap(),
        Cutoff::Refused
    );
    assert_eq!(
        store.raise(alice, at(i64::MAX)).await.unwrap(),
        Cutoff::Refused
    );
    assert_eq!(
        store.raise(alice, Cutoff::NoCutoff).await.unwrap(),
        Cutoff::Refused
    );
    assert_eq!(store.lookup("alice").await.unwrap(), Cutoff::Refused);
    assert_eq!(store.lookup("bob").await.unwrap(), Cutoff::NoCutoff);
    // Refused is stored as a readable marker, a time as decimal microseconds.
    store
        .raise(Scope::Subject("bob"), at(1_764_384_000_123_456))
        .await
        .unwrap();
    assert_eq!(
        get(&url, store.key(alice)).await.as_deref(),
        Some("refused")
    );
    assert_eq!(
        get(&url, store.key(Scope::Subject("bob"))).await.as_deref(),
        Some("1764384000123456")
    );
    clean_up(&url, &prefix).await;
}

#[tokio::test]
async fn times_compare_exactly_even_where_doubles_would_round() {
    let Some(url) = redis().await else { return };
    let prefix = unique("exact");
    let store = store(&url, &prefix).await;
    let alice = Scope::Subject("alice");
    // Negative, zero and huge values: the script compares decimal strings, not Lua doubles.
    for (to, expected) in [
        (at(-10), at(-10)),
        (at(-11), at(-10)),
        (at(-9), at(-9)),
        (at(0), at(0)),
        (at(-1), at(0)),
        (at(9), at(9)),
        (at(10), at(10)),
        (at(9_007_199_254_740_993), at(9_007_199_254_740_993)),
        (at(9_007_199_254_740_992), at(9_007_199_254_740_993)),
        (at(i64::MAX - 1), at(i64::MAX - 1)),
        (at(i64::MAX), at(i64::MAX)),
        (at(i64::MAX - 1), at(i64::MAX)),
    ] {
        assert_eq!(
            store.raise(alice, to).await.unwrap(),
            expected,
            "raise to {to:?}"
        );
    }
    assert_eq!(store.lookup("alice").await.unwrap(), at(i64::MAX));
    clean_up(&url, &prefix).await;
}

#[tokio::test]
async fn the_global_cutoff_is_part_of_every_lookup() {
    let Some(url) = redis().await else { return };
    let prefix = unique("global");
    let store = store(&url, &prefix).await;
    store.raise(Scope::Subject("alice"), at(100)).await.unwrap();
    assert_eq!(
        store.raise(Scope::Everyone, at(200)).await.unwrap(),
        at(200)
    );
    assert_eq!(store.lookup("alice").await.unwrap(), at(200));
    assert_eq!(store.lookup("bob").await.unwrap(), at(200));
    store.raise(Scope::Subject("alice"), at(300)).await.unwrap();
    assert_eq!(store.lookup("alice").await.unwrap(), at(300));
    assert_eq!(store.lookup("bob").await.unwrap(), at(200));
    assert_eq!(
        store.raise(Scope::Everyone, at(150)).await.unwrap(),
        at(200)
    );
    store.raise(Scope::Everyone, Cutoff::Refused).await.unwrap();
    assert_eq!(store.lookup("alice").await.unwrap(), Cutoff::Refused);
    assert_eq!(store.lookup("carol").await.unwrap(), Cutoff::Refused);
    clean_up(&url, &prefix).await;
}

#[tokio::test]
async fn odd_subjects_get_keys_of_their_own_and_travel_intact() {
    let Some(url) = redis().await else { return };
    let prefix = unique("odd");
    let store = store(&url, &prefix).await;
    let mut subscription = store.subscribe().await.unwrap();
    let subjects = [
        String::new(),
        " ".to_owned(),
        "alice".to_owned(),
        "alice ".to_owned(),
        "a b\tc\r\nd".to_owned(),
        "ünïcødé 🚀 用户".to_owned(),
        "g".to_owned(),
        "s:g".to_owned(),
        "*".to_owned(),
        "=".to_owned(),
        "1 5 *".to_owned(),
        "refused".to_owned(),
        "jwt-cutoff:".to_owned(),
        prefix.clone(),
        format!("{prefix}s:alice"),
        format!("{prefix}g"),
        "\u{0}nul".to_owned(),
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
        assert_eq!(
            change,
            CutoffChange {
                subject: Some(subject.clone()),
                cutoff
            }
        );
    }
    for (index, subject) in (1..).zip(&subjects) {
        assert_eq!(
            store.lookup(subject).await.unwrap(),
            at(index),
            "{subject:?}"
        );
    }
    // No subject wrote the global cutoff, and the pushed global change says "everyone".
    assert_eq!(store.lookup("nobody").await.unwrap(), Cutoff::NoCutoff);
    store.raise(Scope::Everyone, at(1_000)).await.unwrap();
    let change = subscription.next_change().await.unwrap();
    assert_eq!(change.scope(), Scope::Everyone);
    assert_eq!(store.lookup("").await.unwrap(), at(1_000));
    clean_up(&url, &prefix).await;
}

/// The store refuses what tokens and `CutoffCache` refuse, also when used directly as a source:
/// within `MAX_SUBJECT_BYTES` every subject is stored, published and looked up intact; beyond it
/// nothing is written or published, and the error says why.
#[tokio::test]
async fn subjects_longer_than_max_subject_bytes_are_refused_before_redis() {
    let Some(url) = redis().await else { return };
    let prefix = unique("bound");
    let store = store(&url, &prefix).await;
    let mut subscription = store.subscribe().await.unwrap();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(5), subscription.next_change())
            .await
            .expect("a message within 5 s")
            .unwrap()
    };
    for (index, subject) in (1..).zip(longest_subjects()) {
        assert_eq!(
            store
                .raise(Scope::Subject(&subject), at(index))
                .await
                .unwrap(),
            at(index)
        );
        assert_eq!(
            next().await,
            CutoffChange {
                subject: Some(subject.clone()),
                cutoff: at(index)
            }
        );
        assert_eq!(store.lookup(&subject).await.unwrap(), at(index));
    }
    let too_long_error = format!("at most {MAX_SUBJECT_BYTES} bytes");
    for subject in too_long_subjects() {
        let error = store
            .raise(Scope::Subject(&subject), Cutoff::Refused)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains(&too_long_error),
            "{} bytes: {error}",
            subject.len()
        );
        let error = store.lookup(&subject).await.unwrap_err();
        assert!(error.to_string().contains(&too_long_error), "{error}");
        assert_eq!(get(&url, store.key(Scope::Subject(&subject))).await, None);
    }
    // Nothing was published for them: the next message is the next good write.
    store.raise(Scope::Subject("after"), at(99)).await.unwrap();
    assert_eq!(next().await.subject.as_deref(), Some("after"));
    clean_up(&url, &prefix).await;
}

#[tokio::test]
async fn only_real_changes_are_published() {
    let Some(url) = redis().await else { return };
    let prefix = unique("publish");
    let store = store(&url, &prefix).await;
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
        assert_eq!(change.cutoff, expected);
    }
    clean_up(&url, &prefix).await;
}

#[tokio::test]
async fn a_value_that_is_not_a_cutoff_fails_closed_and_is_not_overwritten() {
    let Some(url) = redis().await else { return };
    let prefix = unique("garbage");
    let store = store(&url, &prefix).await;
    let key = store.key(Scope::Subject("mallory"));
    let () = redis::cmd("SET")
        .arg(&key)
        .arg("tomorrow")
        .query_async(&mut raw(&url).await)
        .await
        .unwrap();
    assert!(store.lookup("mallory").await.is_err());
    assert!(store.raise(Scope::Subject("mallory"), at(5)).await.is_err());
    assert_eq!(get(&url, key).await.as_deref(), Some("tomorrow"));
    // A message on the channel that is not a change ends the subscription (the core then clears
    // its cache and subscribes again).
    let mut subscription = store.subscribe().await.unwrap();
    let receivers: i64 = redis::cmd("PUBLISH")
        .arg(store.channel())
        .arg("hello")
        .query_async(&mut raw(&url).await)
        .await
        .unwrap();
    assert_eq!(receivers, 1);
    assert!(subscription.next_change().await.is_err());
    clean_up(&url, &prefix).await;
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
    let Some(url) = redis().await else { return };
    let prefix = unique("validator");
    let secret = b"an access secret of at least 32 bytes";
    let cutoffs = CutoffCache::new(store(&url, &prefix).await);
    let validator = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(secret).unwrap())
        .build(cutoffs.clone())
        .unwrap();
    let issuer = TokenIssuer::builder(SigningKey::hmac(secret, Algorithm::HS256).unwrap())
        .build()
        .unwrap();

    let before = issuer.issue_access("alice", &()).unwrap().token;
    assert_eq!(
        validator.validate(&before).await.unwrap().subject(),
        "alice"
    );
    cutoffs.logout_all("alice").await.unwrap();
    assert_eq!(
        validator.validate(&before).await.unwrap_err().reason(),
        Reason::Revoked
    );
    let after = issuer.issue_access("alice", &()).unwrap().token;
    assert!(validator.validate(&after).await.is_ok());

    // A second instance, with a cache of its own, reads the same answer from Redis.
    let other = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(secret).unwrap())
        .build(CutoffCache::new(store(&url, &prefix).await))
        .unwrap();
    assert_eq!(
        other.validate(&before).await.unwrap_err().reason(),
        Reason::Revoked
    );
    assert!(other.validate(&after).await.is_ok());

    cutoffs.refuse("alice").await.unwrap();
    assert_eq!(
        validator.validate(&after).await.unwrap_err().reason(),
        Reason::SubjectRefused
    );
    clean_up(&url, &prefix).await;
}

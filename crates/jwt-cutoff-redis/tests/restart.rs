//! Redis servers started by the test itself, killed with SIGKILL and restarted on the same port:
//! the store fails closed while the server is down and recovers on its own; a cutoff survives the
//! kill only when Redis was told to persist every write.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::time::Duration;

use jwt_cutoff::{Cutoff, CutoffSource, Scope, Timestamp};
use jwt_cutoff_redis::RedisStore;
use jwt_cutoff_test_support::{eventually, following, logout_reaches};
use support::{Server, TempDir, instance, redis_server_installed, unique};

const NO_PERSISTENCE: &[&str] = &["--save", "", "--appendonly", "no"];
const EVERY_WRITE_PERSISTED: &[&str] = &[
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
];

async fn store_on(server: &Server, prefix: &str) -> RedisStore {
    RedisStore::builder(redis::Client::open(server.url()).unwrap())
        .key_prefix(prefix)
        .timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_fails_closed_and_is_followed_again_after_its_restart() {
    if !redis_server_installed() {
        return;
    }
    let dir = TempDir::new("restart");
    let mut server = Server::start(&dir.0, NO_PERSISTENCE).await;
    let prefix = unique("restart");
    let (store_a, store_b) = (
        store_on(&server, &prefix).await,
        store_on(&server, &prefix).await,
    );
    let (a, b) = (instance(&store_a), instance(&store_b));
    let _push_a = following(&a, store_a.clone()).await;
    let _push_b = following(&b, store_b.clone()).await;
    logout_reaches(&a, &b, "alice").await;

    server.kill().await;
    eventually(
        "B notices the server is gone",
        Duration::from_secs(10),
        async || !b.push_connected(),
    )
    .await;
    // Down: nothing is answered from a cache that may be stale, no write pretends to succeed.
    assert!(b.lookup("alice").await.is_err());
    assert!(b.lookup("bob").await.is_err());
    assert!(a.logout_all("bob").await.is_err());
    assert!(store_b.lookup("bob").await.is_err());

    server.restart().await;
    // Without persistence the restarted server is empty (see the durability test below); what
    // matters here is that both instances come back by themselves, commands and push.
    eventually(
        "both instances reconnect",
        Duration::from_secs(20),
        async || a.push_connected() && b.push_connected() && b.lookup("bob").await.is_ok(),
    )
    .await;
    // And B, which cached carol for minutes, follows pushes again.
    logout_reaches(&a, &b, "carol").await;
}

/// Writes a cutoff for alice and refuses mallory on a fresh server started with `args`, kills it
/// with SIGKILL, restarts it, and returns what the same store then reads for both.
async fn after_kill_minus_nine(test: &str, args: &[&str], cutoff: Cutoff) -> (Cutoff, Cutoff) {
    let dir = TempDir::new(test);
    let mut server = Server::start(&dir.0, args).await;
    let store = store_on(&server, &unique(test)).await;
    store.raise(Scope::Subject("alice"), cutoff).await.unwrap();
    store
        .raise(Scope::Subject("mallory"), Cutoff::Refused)
        .await
        .unwrap();
    server.kill().await;
    server.restart().await;
    eventually(
        "the store answers again",
        Duration::from_secs(20),
        async || store.lookup("alice").await.is_ok(),
    )
    .await;
    (
        store.lookup("alice").await.unwrap().cutoff(),
        store.lookup("mallory").await.unwrap().cutoff(),
    )
}

#[tokio::test]
async fn a_cutoff_survives_kill_minus_nine_only_with_every_write_persisted() {
    if !redis_server_installed() {
        return;
    }
    let cutoff = Cutoff::ValidFrom(Timestamp::now());

    // appendonly yes + appendfsync always: the write is on disk before the script returns.
    assert_eq!(
        after_kill_minus_nine("durable", EVERY_WRITE_PERSISTED, cutoff).await,
        (cutoff, Cutoff::Refused)
    );

    // Without persistence the same kill forgets both: alice's revoked tokens, and every token of
    // the deleted mallory, would pass again. This is why the crate docs insist on the settings.
    assert_eq!(
        after_kill_minus_nine("volatile", NO_PERSISTENCE, cutoff).await,
        (Cutoff::NoCutoff, Cutoff::NoCutoff)
    );
}

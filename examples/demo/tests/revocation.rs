//! A refresh never launders a logout on the real binary: across two instances sharing one SQLite
//! file (no push, so one of them answers from a stale cache), and inside one instance while the
//! logout's store write is held up.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::str::FromStr as _;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions as _, Connection as _};
use support::{Demo, Pair, assert_refused, sqlite_url, who_am_i};
use tonic::Code;

/// The instances' cutoff cache TTL: how long one answers from a cache that missed the other's
/// logout. Long enough for the steps that rely on a stale cache, on a slow machine.
const CACHE_TTL: Duration = Duration::from_secs(4);
/// How long the test holds SQLite's write lock: well under the demo's 2 s write timeout.
const HELD: Duration = Duration::from_millis(300);

/// Takes SQLite's write lock on `database` (readers go on, in WAL mode), until [`release`].
async fn hold_write_lock(database: &str) -> SqliteConnection {
    let mut lock = SqliteConnectOptions::from_str(database)
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .unwrap();
    lock
}

async fn release(mut lock: SqliteConnection) {
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    lock.close().await.unwrap();
}

/// Logs out from all devices through `demo` while the test holds the write lock, and refreshes
/// `pair` through `refresher` meanwhile: the refresh reads no cutoff (nothing is stored yet), and
/// its spend of the refresh token waits for the lock like the logout does; once the lock is
/// released both go through, and the refresh's pair is returned.
async fn refresh_during_a_held_up_logout(
    database: &str,
    demo: &Demo,
    refresher: &Demo,
    pair: &Pair,
) -> Pair {
    let lock = hold_write_lock(database).await;
    let logout = tokio::spawn({
        let http = demo.http.clone();
        let access = pair.access.clone();
        async move { http.logout_all(&access).await }
    });
    tokio::time::sleep(HELD).await;
    let refresh = tokio::spawn({
        let http = refresher.http.clone();
        let token = pair.refresh.clone();
        async move { http.refresh(&token).await }
    });
    // Time for the refresh to read the store (readers go on) before the lock goes.
    tokio::time::sleep(HELD).await;
    release(lock).await;
    let refreshed = refresh.await.unwrap();
    assert_eq!(
        refreshed.status,
        StatusCode::OK,
        "nothing was stored when it read, so the refresh passes: {}",
        refreshed.text
    );
    assert_eq!(logout.await.unwrap().status, StatusCode::NO_CONTENT);
    Pair::from_json(&refreshed.json)
}

/// The pair is refused for good: its access token over HTTP and gRPC, its refresh token.
async fn assert_pair_refused(demo: &Demo, pair: &Pair, what: &str) {
    let me = demo.http.me(&pair.access).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{what}: {}", me.text);
    assert_eq!(
        who_am_i(demo, &pair.access).await.unwrap_err().code(),
        Code::Unauthenticated,
        "{what}"
    );
    assert_refused(
        &demo.http.refresh(&pair.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
}

/// Logged in through B; logged out from all devices through A; a refresh through B right after,
/// while B's cache still holds "no cutoff": refused, because a refresh reads the store. Then a
/// refresh through B that slips in while A's logout is held up at the store: its pair is refused
/// on A at once and on B once B's cache catches up, refresh token and all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_on_a_stale_instance_cannot_launder_a_logout() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_url(dir.path(), "demo.db");
    let ttl = format!("{}s", CACHE_TTL.as_secs());
    let args = ["--database", database.as_str(), "--cache-ttl", ttl.as_str()];
    let a = Demo::start(dir.path(), &args, &[]).await;
    let b = Demo::start(dir.path(), &args, &[]).await;

    assert_eq!(
        a.http.signup("alice", "wonderland").await.status,
        StatusCode::CREATED
    );
    let pair = b.http.pair("alice", "wonderland").await;
    let cached_at = Instant::now();
    assert_eq!(b.http.me(&pair.access).await.status, StatusCode::OK);
    assert_eq!(
        a.http.logout_all(&pair.access).await.status,
        StatusCode::NO_CONTENT
    );
    let stale = b.http.me(&pair.access).await.status == StatusCode::OK;
    assert!(
        stale || cached_at.elapsed() >= CACHE_TTL,
        "B's cache has not seen the logout yet (the test relies on it)"
    );
    let refreshed = b.http.refresh(&pair.refresh).await;
    assert_refused(&refreshed, StatusCode::UNAUTHORIZED, "invalid_token");
    for (name, demo) in [("A", &a), ("B", &b)] {
        assert_pair_refused(demo, &pair, &format!("on {name}")).await;
    }

    // A new login is a new session; B caches it. Then A's next logout is held up at the store
    // while B refreshes the session.
    let again = b.http.pair("alice", "wonderland").await;
    assert_eq!(b.http.me(&again.access).await.status, StatusCode::OK);
    let raced = refresh_during_a_held_up_logout(&database, &a, &b, &again).await;
    assert_pair_refused(&a, &raced, "on A, whose logout it raced").await;
    let deadline = Instant::now() + CACHE_TTL * 3;
    while b.http.me(&raced.access).await.status == StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "B still accepts the raced pair well past its cache TTL"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_pair_refused(&b, &raced, "on B, once its cache caught up").await;
}

/// Inside one instance: logout-all's store write waits for the write lock this test holds; a
/// refresh arrives meanwhile and gets a new pair. When the logout returns, that pair is refused
/// like the login it descends from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_racing_a_held_up_logout_cannot_launder_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_url(dir.path(), "demo.db");
    let demo = Demo::start(dir.path(), &["--database", database.as_str()], &[]).await;
    assert_eq!(
        demo.http.signup("alice", "wonderland").await.status,
        StatusCode::CREATED
    );
    let pair = demo.http.pair("alice", "wonderland").await;
    let raced = refresh_during_a_held_up_logout(&database, &demo, &demo, &pair).await;
    assert_pair_refused(&demo, &raced, "the pair refreshed during the logout").await;
    assert_pair_refused(&demo, &pair, "the pair logged out").await;
}

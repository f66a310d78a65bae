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
use std::time::Duration;

use hyper::StatusCode;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};
use support::{Demo, Pair, assert_refused, who_am_i};
use tonic::Code;

/// The instances' cutoff cache TTL: how long one answers from a cache that missed the other's
/// logout.
const CACHE_TTL: Duration = Duration::from_secs(2);

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("demo.db").display())
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
/// while B's cache still holds "no cutoff": refused, because a refresh reads the store. And past
/// B's cache TTL, the old pair is refused everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_on_a_stale_instance_cannot_launder_a_logout() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_url(&dir);
    let ttl = format!("{}s", CACHE_TTL.as_secs());
    let args = ["--database", database.as_str(), "--cache-ttl", ttl.as_str()];
    let a = Demo::start(dir.path(), &args, &[]).await;
    let b = Demo::start(dir.path(), &args, &[]).await;

    assert_eq!(
        a.http.signup("alice", "wonderland").await.status,
        StatusCode::CREATED
    );
    let pair = b.http.pair("alice", "wonderland").await;
    assert_eq!(b.http.me(&pair.access).await.status, StatusCode::OK);
    assert_eq!(
        a.http.logout_all(&pair.access).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        b.http.me(&pair.access).await.status,
        StatusCode::OK,
        "B's cache has not seen the logout yet (the test relies on it)"
    );

    let refreshed = b.http.refresh(&pair.refresh).await;
    assert_refused(&refreshed, StatusCode::UNAUTHORIZED, "invalid_token");

    tokio::time::sleep(CACHE_TTL + Duration::from_millis(600)).await;
    for (name, demo) in [("A", &a), ("B", &b)] {
        assert_pair_refused(demo, &pair, &format!("on {name}, past the cache TTL")).await;
    }
    // A new login is a new session, on either instance.
    let again = b.http.pair("alice", "wonderland").await;
    assert_eq!(a.http.me(&again.access).await.status, StatusCode::OK);
}

/// Logout-all's store write waits for a write lock this test holds on the SQLite file; a refresh
/// arrives meanwhile and gets a new pair (nothing is stored yet). When the lock goes and the
/// logout returns, that pair is refused like the login it descends from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_racing_a_held_up_logout_cannot_launder_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_url(&dir);
    let demo = Demo::start(dir.path(), &["--database", database.as_str()], &[]).await;
    assert_eq!(
        demo.http.signup("alice", "wonderland").await.status,
        StatusCode::CREATED
    );
    let pair = demo.http.pair("alice", "wonderland").await;

    // Take SQLite's write lock (readers go on, in WAL mode) and hold it less than the demo's 2 s
    // write timeout.
    let mut lock = SqliteConnectOptions::from_str(&database)
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .unwrap();
    let logout = tokio::spawn({
        let http = demo.http.clone();
        let access = pair.access.clone();
        async move { http.logout_all(&access).await }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let refreshed = demo.http.refresh(&pair.refresh).await;
    assert_eq!(
        refreshed.status,
        StatusCode::OK,
        "nothing is stored yet, so the refresh passes: {}",
        refreshed.text
    );
    let raced = Pair::from_json(&refreshed.json);
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    lock.close().await.unwrap();
    assert_eq!(logout.await.unwrap().status, StatusCode::NO_CONTENT);

    assert_pair_refused(&demo, &raced, "the pair refreshed during the logout").await;
    assert_pair_refused(&demo, &pair, "the pair logged out").await;
}

//! Two instances on one PostgreSQL database, and two on one Redis cutoff store: a logout on one is
//! refused on the other within milliseconds (pushed, not waited out: the cache TTL is a minute), a
//! session revoked on one likewise, and of concurrent refreshes with one token split across both,
//! exactly one succeeds.
//!
//! Servers: `JWT_CUTOFF_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`) and
//! `JWT_CUTOFF_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`). A missing server skips its test,
//! unless `JWT_CUTOFF_REQUIRE_SERVERS=1`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::time::{Duration, Instant};

use hyper::StatusCode;
use jwt_cutoff_redis::redis;
use support::{Demo, ScratchDatabase, ScratchRedis, skip, sqlite_url, who_am_i};
use tonic::Code;

/// Logouts measured per store.
const SAMPLES: usize = 50;
/// The bound asserted on every sample: generous, so a busy machine does not fail the test; the
/// figures printed are what matters. Without push the wait would be the one-minute cache TTL.
const BOUND: Duration = Duration::from_secs(1);
/// Long enough that only a push can explain a refusal within `BOUND`.
const CACHE_TTL: &str = "60s";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_database() {
    let Some(database) = ScratchDatabase::create("demo").await else {
        return;
    };
    let url = database.url.clone();
    database
        .run(async move {
            let dir = tempfile::tempdir().unwrap();
            let args = ["--database", url.as_str(), "--cache-ttl", CACHE_TTL];
            let a = Demo::start(dir.path(), &args, &[]).await;
            let b = Demo::start(dir.path(), &args, &[]).await;
            measure("PostgreSQL LISTEN/NOTIFY", &a, &b).await;
            sessions_across(&a, &b).await;
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_cutoff_store() {
    // A key prefix of its own, so parallel runs never share keys.
    let Some(redis) = ScratchRedis::create().await else {
        return;
    };
    let cutoff_store = redis.cutoff_store_args();
    redis
        .run(async move {
            // Users and secrets in one SQLite file both instances open; cutoffs in Redis.
            let dir = tempfile::tempdir().unwrap();
            let database = sqlite_url(dir.path(), "users.db");
            let mut args = vec!["--database", database.as_str(), "--cache-ttl", CACHE_TTL];
            args.extend(cutoff_store.iter().map(String::as_str));
            let a = Demo::start(dir.path(), &args, &[]).await;
            let b = Demo::start(dir.path(), &args, &[]).await;
            measure("Redis pub/sub", &a, &b).await;
            sessions_across(&a, &b).await;
        })
        .await;
}

/// A session signed out on `a` is refused on `b` within [`BOUND`] (by push), the user's other
/// session still passing there; twelve concurrent refreshes of one token, half on each instance:
/// exactly one succeeds.
async fn sessions_across(a: &Demo, b: &Demo) {
    let (username, password) = ("heidi", "password1");
    assert_eq!(
        a.http.signup(username, password).await.status,
        StatusCode::CREATED
    );
    let kept = a.http.pair(username, password).await;
    let gone = a.http.pair(username, password).await;
    for pair in [&kept, &gone] {
        assert_eq!(
            b.http.me(&pair.access).await.status,
            StatusCode::OK,
            "cached on b"
        );
    }
    let deleted = a.http.delete_session(&kept.access, &gone.session_id).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let signed_out = Instant::now();
    while b.http.me(&gone.access).await.status == StatusCode::OK {
        assert!(
            signed_out.elapsed() < BOUND,
            "b still accepts the signed-out session"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        who_am_i(b, &gone.access).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(b.http.me(&kept.access).await.status, StatusCode::OK);

    let tasks: Vec<_> = (0..12)
        .map(|n| {
            let http = if n % 2 == 0 {
                a.http.clone()
            } else {
                b.http.clone()
            };
            let token = kept.refresh.clone();
            tokio::spawn(async move { http.refresh(&token).await.status })
        })
        .collect();
    let mut succeeded = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::OK => succeeded += 1,
            status => assert_eq!(status, StatusCode::UNAUTHORIZED),
        }
    }
    assert_eq!(
        succeeded, 1,
        "exactly one of the refreshes split across a and b"
    );
}

/// Logs out on `a` and polls `b` until the token is refused there, `SAMPLES` times; prints the
/// latencies from "logout-all returned on a" to "refused on b".
async fn measure(store: &str, a: &Demo, b: &Demo) {
    let (username, password) = ("grace", "password1");
    assert_eq!(
        a.http.signup(username, password).await.status,
        StatusCode::CREATED
    );
    let mut latencies = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        // A token minted by b, valid on both, with the user's cutoff now cached on both.
        let pair = b.http.pair(username, password).await;
        assert_eq!(b.http.me(&pair.access).await.status, StatusCode::OK);
        assert_eq!(a.http.me(&pair.access).await.status, StatusCode::OK);

        let logout = a.http.logout_all(&pair.access).await;
        assert_eq!(logout.status, StatusCode::NO_CONTENT, "{}", logout.text);
        let returned = Instant::now();
        loop {
            let status = b.http.me(&pair.access).await.status;
            if status == StatusCode::UNAUTHORIZED {
                break;
            }
            assert_eq!(status, StatusCode::OK);
            assert!(
                returned.elapsed() < BOUND,
                "{store}: still accepted on the other instance after {BOUND:?}"
            );
        }
        latencies.push(returned.elapsed());
        // The same cache guards gRPC on b, and the refresh token is refused too.
        let status = who_am_i(b, &pair.access).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(
            b.http.refresh(&pair.refresh).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    latencies.sort();
    let at = |quantile: f64| latencies[((latencies.len() - 1) as f64 * quantile).round() as usize];
    println!(
        "{store}: logout on one instance refused on the other after p50 {:?}, p99 {:?}, max {:?} \
         ({SAMPLES} logouts)",
        at(0.5),
        at(0.99),
        at(1.0),
    );
    assert!(at(1.0) < BOUND);
}

#[test]
fn database_names_are_replaced() {
    assert_eq!(
        support::with_database("postgres://postgres@127.0.0.1:5432/test", "demo_1"),
        "postgres://postgres@127.0.0.1:5432/demo_1"
    );
    assert_eq!(
        support::with_database("postgres://u:p@host/test?sslmode=disable", "x"),
        "postgres://u:p@host/x?sslmode=disable"
    );
    assert_eq!(
        support::with_database("postgres://host", "x"),
        "postgres://host/x"
    );
}

/// A cutoff store that goes down fails closed: 503 with `Retry-After` over HTTP, UNAVAILABLE over
/// gRPC; and the service recovers when the store is back. Uses a Redis server of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_fails_closed_and_recovers() {
    let Some(redis_server) = which("redis-server") else {
        return skip("redis-server is not installed");
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start_redis = || {
        tokio::process::Command::new(&redis_server)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    let mut redis = start_redis();
    let url = format!("redis://127.0.0.1:{port}");
    wait_for_redis(&url).await;

    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--database",
        "sqlite::memory:",
        "--cutoff-store",
        url.as_str(),
    ];
    let demo = Demo::start(dir.path(), &args, &[]).await;
    assert_eq!(
        demo.http.signup("ivan", "password1").await.status,
        StatusCode::CREATED
    );
    let pair = demo.http.pair("ivan", "password1").await;
    assert_eq!(demo.http.me(&pair.access).await.status, StatusCode::OK);

    redis.kill().await.unwrap();
    // The push channel drops, the cache is cleared, and lookups fail: refused, never passed.
    let deadline = Instant::now() + Duration::from_secs(10);
    let down = loop {
        let answer = demo.http.me(&pair.access).await;
        if answer.status == StatusCode::SERVICE_UNAVAILABLE {
            break answer;
        }
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert!(
            Instant::now() < deadline,
            "still answering 200 without a store"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        down.headers.contains_key("retry-after"),
        "{:?}",
        down.headers
    );
    assert!(down.json["error"].is_string(), "{}", down.text);
    let status = who_am_i(&demo, &pair.access).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        demo.http.logout_all(&pair.access).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Back (empty, as a fresh server): the token passes again.
    let _redis = start_redis();
    let deadline = Instant::now() + Duration::from_secs(20);
    while demo.http.me(&pair.access).await.status != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "no recovery after the store came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(who_am_i(&demo, &pair.access).await.is_ok());
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

async fn wait_for_redis(url: &str) {
    let client = redis::Client::open(url).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut connection) = client.get_multiplexed_async_connection().await {
            let pong: Result<String, _> = redis::cmd("PING").query_async(&mut connection).await;
            if pong.is_ok() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

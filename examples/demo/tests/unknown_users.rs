//! A token signed with the demo's own key whose `sub` is no user of the demo (one that never
//! existed) is refused: 401 with a JSON error and `WWW-Authenticate` on `/api/me`,
//! UNAUTHENTICATED over gRPC, and its refresh token 401 at `/auth/refresh`; while a real user's
//! tokens keep working. The users table decides who exists, in the same query as the cutoff: on
//! SQLite, on PostgreSQL, and with the cutoffs in Redis (users in SQLite).
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

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::StatusCode;
use jwt_cutoff::{Algorithm, SigningKey, TokenIssuer, TokenPair};
use serde_json::{Value, json};
use support::{Demo, Pair, ScratchDatabase, ScratchRedis, assert_refused, sqlite_url, who_am_i};
use tonic::Code;

/// The demo's keys, given to it through the environment so the test can sign with them too.
const ACCESS_SECRET: &str = "the access secret of this test, 32 bytes or more";
const REFRESH_SECRET: &str = "the refresh secret of this test, 32 bytes or more";

fn secrets() -> [(&'static str, &'static str); 2] {
    [
        ("JWT_CUTOFF_DEMO_ACCESS_SECRET", ACCESS_SECRET),
        ("JWT_CUTOFF_DEMO_REFRESH_SECRET", REFRESH_SECRET),
    ]
}

/// Signs as the demo does: HS256 with its access and refresh keys.
fn demo_issuer() -> TokenIssuer {
    let key = |secret: &str| SigningKey::hmac(secret.as_bytes(), Algorithm::HS256).unwrap();
    TokenIssuer::builder(key(ACCESS_SECRET))
        .refresh_key(key(REFRESH_SECRET))
        .build()
        .unwrap()
}

/// A token's claims, unverified.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn claim_names(token: &str) -> BTreeSet<String> {
    claims(token).as_object().unwrap().keys().cloned().collect()
}

/// A valid pair for a subject that is no user of the demo, with the claims the demo's own tokens
/// carry (checked against `real`, a pair the demo issued).
fn unknown_user_pair(real: &Pair) -> (String, TokenPair) {
    let subject = support::random_hex(16);
    let username = claims(&real.access)["username"].clone();
    let forged = demo_issuer()
        .issue_pair(&subject, &json!({ "username": username }))
        .unwrap();
    for (ours, theirs) in [
        (&forged.access.token, &real.access),
        (&forged.refresh.token, &real.refresh),
    ] {
        assert_eq!(claim_names(ours), claim_names(theirs));
        let (ours, theirs) = (claims(ours), claims(theirs));
        for claim in ["sub", "username", "token_use", "sid"] {
            assert!(
                ours[claim].is_string() && theirs[claim].is_string(),
                "{claim}"
            );
        }
        assert_eq!(ours["token_use"], theirs["token_use"]);
        for claim in ["iat", "auth_time"] {
            // NumericDates with microseconds, as the demo writes them.
            assert!(ours[claim].is_f64() && theirs[claim].is_f64(), "{claim}");
        }
        assert!(ours["exp"].is_i64() && theirs["exp"].is_i64());
    }
    assert_eq!(
        claim_names(&forged.access.token),
        [
            "auth_time",
            "exp",
            "iat",
            "sid",
            "sub",
            "token_use",
            "username"
        ]
        .map(str::to_owned)
        .into(),
    );
    (subject, forged)
}

/// Signs up a user, then shows a pair for a subject no user has refused everywhere while the
/// user's own pair works. Returns the user's id and pair.
async fn unknown_users_are_refused(demo: &Demo) -> (String, Pair) {
    let signup = demo.http.signup("ursula", "password1").await;
    assert_eq!(signup.status, StatusCode::CREATED, "{}", signup.text);
    let id = signup.json["id"].as_str().unwrap().to_owned();
    let real = demo.http.pair("ursula", "password1").await;
    assert_eq!(demo.http.me(&real.access).await.status, StatusCode::OK);

    let (subject, forged) = unknown_user_pair(&real);
    let me = demo.http.me(&forged.access.token).await;
    assert_refused(&me, StatusCode::UNAUTHORIZED, "invalid_token");
    let challenge = me.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(!me.text.contains(&subject), "{}", me.text);
    let status = who_am_i(demo, &forged.access.token).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_refused(
        &demo.http.refresh(&forged.refresh.token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    let logout = demo.http.logout_all(&forged.access.token).await;
    assert_refused(&logout, StatusCode::UNAUTHORIZED, "invalid_token");

    // The real user is untouched: their tokens pass on both protocols and refresh.
    let me = demo.http.me(&real.access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json["sub"], id.as_str());
    assert_eq!(who_am_i(demo, &real.access).await.unwrap().sub, id);
    let refreshed = demo.http.refresh(&real.refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let refreshed = Pair::from_json(&refreshed.json);
    assert_eq!(demo.http.me(&refreshed.access).await.status, StatusCode::OK);
    (id, refreshed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_url(dir.path(), "demo.db");
    let cache_ttl = Duration::from_secs(1);
    let args = ["--database", database.as_str(), "--cache-ttl", "1s"];
    let demo = Demo::start(dir.path(), &args, &secrets()).await;
    let (id, pair) = unknown_users_are_refused(&demo).await;

    // A user removed from the table by hand, without the API's refusal: refused once the cached
    // answer expires (SQLite has no push, so the cache TTL bounds it).
    let pool = sqlx::SqlitePool::connect(&database).await.unwrap();
    let deleted = sqlx::query("DELETE FROM demo_users WHERE id = $1")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    pool.close().await;
    let deadline = Instant::now() + cache_ttl * 10;
    loop {
        let me = demo.http.me(&pair.access).await;
        if me.status == StatusCode::UNAUTHORIZED {
            assert_refused(&me, StatusCode::UNAUTHORIZED, "invalid_token");
            break;
        }
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        assert!(
            Instant::now() < deadline,
            "still accepted after {cache_ttl:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = who_am_i(&demo, &pair.access).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    let Some(database) = ScratchDatabase::create("demo_unknown").await else {
        return;
    };
    let url = database.url.clone();
    database
        .run(async move {
            let dir = tempfile::tempdir().unwrap();
            let demo = Demo::start(dir.path(), &["--database", url.as_str()], &secrets()).await;
            unknown_users_are_refused(&demo).await;
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_cutoffs_in_redis() {
    // A key prefix of its own, so parallel runs never share keys.
    let Some(redis) = ScratchRedis::create().await else {
        return;
    };
    let cutoff_store = redis.cutoff_store_args();
    let stored = redis
        .run(async move {
            let dir = tempfile::tempdir().unwrap();
            let database = sqlite_url(dir.path(), "users.db");
            let mut args = vec!["--database", database.as_str()];
            args.extend(cutoff_store.iter().map(String::as_str));
            let demo = Demo::start(dir.path(), &args, &secrets()).await;
            let (_, pair) = unknown_users_are_refused(&demo).await;
            // CutoffCache still go to Redis: logging out is stored there and refuses the pair.
            let logout = demo.http.logout_all(&pair.access).await;
            assert_eq!(logout.status, StatusCode::NO_CONTENT, "{}", logout.text);
            assert_eq!(
                demo.http.me(&pair.access).await.status,
                StatusCode::UNAUTHORIZED
            );
        })
        .await;
    assert_eq!(
        stored, 2,
        "the user's cutoff and the rotation record of the session it refreshed, and nothing for \
         the unknown one"
    );
}

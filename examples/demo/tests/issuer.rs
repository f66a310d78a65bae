//! The demo as an issuer others trust: with `--issuer` and an asymmetric `--signing-alg` it
//! serves its discovery document and its JWK set (the key generated at first start and kept),
//! and a second demo started with `--oidc-issuer` on the first one's issuer and the same Redis
//! cutoff store accepts the first one's access tokens and refuses them at once after a
//! logout-all there, or a session signed out there.
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
use support::{Demo, ScratchRedis, free_address, sqlite_url, who_am_i};
use tonic::Code;

/// Generous, so a busy machine does not fail the test; without push it would take ten minutes.
const PUSHED_WITHIN: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_publishes_its_keys_for_every_asymmetric_algorithm() {
    for algorithm in ["ES256", "EdDSA", "RS256"] {
        let dir = tempfile::tempdir().unwrap();
        let database = sqlite_url(dir.path(), "demo.db");
        let http = free_address();
        let issuer = format!("http://{http}");
        let args = [
            "--database",
            database.as_str(),
            "--issuer",
            issuer.as_str(),
            "--signing-alg",
            algorithm,
        ];
        let demo = Demo::start_on(dir.path(), &http, &args, &[]).await;
        let discovery = demo
            .http
            .get("/.well-known/openid-configuration", None)
            .await;
        assert_eq!(discovery.status, StatusCode::OK, "{}", discovery.text);
        assert_eq!(discovery.json["issuer"], issuer.as_str());
        let jwks_uri = format!("{issuer}/.well-known/jwks.json");
        assert_eq!(discovery.json["jwks_uri"], jwks_uri.as_str());
        let jwks = demo.http.get("/.well-known/jwks.json", None).await;
        let keys = jwks.json["keys"].as_array().unwrap().clone();
        assert_eq!(keys.len(), 1, "{}", jwks.text);
        assert_eq!(keys[0]["alg"], algorithm);
        assert!(keys[0].get("d").is_none(), "a private part: {}", jwks.text);

        assert_eq!(
            demo.http.signup("alice", "password1").await.status,
            StatusCode::CREATED
        );
        let pair = demo.http.pair("alice", "password1").await;
        let header = pair.access.split('.').next().unwrap();
        let header = String::from_utf8(base64_url_decode(header)).unwrap();
        assert!(header.contains(algorithm), "{header}");
        assert!(
            header.contains(keys[0]["kid"].as_str().unwrap()),
            "{header}"
        );
        assert_eq!(demo.http.me(&pair.access).await.status, StatusCode::OK);
        let refreshed = demo.http.refresh(&pair.refresh).await;
        assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);

        // Restarted, it signs with the same key: the token still verifies.
        drop(demo);
        let demo = Demo::start_on(dir.path(), &http, &args, &[]).await;
        let again = demo.http.get("/.well-known/jwks.json", None).await;
        assert_eq!(again.json["keys"], jwks.json["keys"], "{algorithm}");
        assert_eq!(demo.http.me(&pair.access).await.status, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_demo_trusting_the_first_enforces_its_logouts_at_once() {
    let Some(redis) = ScratchRedis::create().await else {
        return;
    };
    let cutoff_store = redis.cutoff_store_args();
    redis
        .run(async move {
            let dir = tempfile::tempdir().unwrap();
            let http = free_address();
            let issuer = format!("http://{http}");
            let (users_a, users_b) = (
                sqlite_url(dir.path(), "a.db"),
                sqlite_url(dir.path(), "b.db"),
            );
            let mut a_args = vec!["--database", users_a.as_str(), "--issuer", issuer.as_str()];
            a_args.extend(["--signing-alg", "ES256", "--cache-ttl", "10m"]);
            a_args.extend(cutoff_store.iter().map(String::as_str));
            let a = Demo::start_on(dir.path(), &http, &a_args, &[]).await;
            let mut b_args = vec![
                "--database",
                users_b.as_str(),
                "--oidc-issuer",
                issuer.as_str(),
            ];
            b_args.extend(["--cache-ttl", "10m"]);
            b_args.extend(cutoff_store.iter().map(String::as_str));
            let b = Demo::start(dir.path(), &b_args, &[]).await;

            assert_eq!(
                a.http.signup("alice", "password1").await.status,
                StatusCode::CREATED
            );
            let laptop = a.http.pair("alice", "password1").await;
            let phone = a.http.pair("alice", "password1").await;
            for pair in [&laptop, &phone] {
                let me = b.http.me(&pair.access).await;
                assert_eq!(me.status, StatusCode::OK, "{}", me.text);
                assert_eq!(me.json["iss"], issuer.as_str());
                assert_eq!(me.json["username"], "alice");
                who_am_i(&b, &pair.access).await.unwrap();
            }

            // One device signed out on the first: refused on the second at once.
            let gone = a
                .http
                .delete_session(&phone.access, &laptop.session_id)
                .await;
            assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
            refused_within(&b, &laptop.access).await;
            assert_eq!(b.http.me(&phone.access).await.status, StatusCode::OK);

            // Logged out from all devices on the first: refused on the second at once.
            let out = a.http.logout_all(&phone.access).await;
            assert_eq!(out.status, StatusCode::NO_CONTENT);
            refused_within(&b, &phone.access).await;
            assert_eq!(
                who_am_i(&b, &phone.access).await.unwrap_err().code(),
                Code::Unauthenticated
            );
            // A new login on the first works on the second.
            let again = a.http.pair("alice", "password1").await;
            assert_eq!(b.http.me(&again.access).await.status, StatusCode::OK);
        })
        .await;
}

async fn refused_within(demo: &Demo, token: &str) {
    let started = Instant::now();
    while demo.http.me(token).await.status == StatusCode::OK {
        assert!(started.elapsed() < PUSHED_WITHIN, "still accepted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("refused {:?} after the change", started.elapsed());
    assert_eq!(demo.http.me(token).await.status, StatusCode::UNAUTHORIZED);
}

fn base64_url_decode(segment: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap()
}

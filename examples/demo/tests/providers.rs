//! The demo trusting an OpenID provider (`--oidc-issuer`), a fake one on a real socket serving
//! discovery and its keys: its access tokens (RFC 9068 `at+jwt`, whole-second `iat`, no `sid`,
//! `preferred_username`) work over HTTP and gRPC; logout-all and back-channel logout refuse them,
//! per provider subject, leaving the demo's own users alone; an unknown key while the provider is
//! down is 503 (gRPC UNAVAILABLE).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::StatusCode;
use jsonwebtoken::{Algorithm as Jwa, EncodingKey};
use jwt_cutoff::{Algorithm, SigningKey};
use jwt_cutoff_test_support::provider::{Behaviour, FakeProvider};
use jwt_cutoff_test_support::{EC_PRIVATE, sign};
use serde_json::{Value, json};
use support::{Demo, assert_refused, sqlite_url, who_am_i};
use tonic::Code;

const AUDIENCE: &str = "demo-api";
const CLIENT_ID: &str = "demo-web";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signed with the provider's test EC key under `kid`.
fn signed(typ: &str, kid: &str, claims: &Value) -> String {
    let header = format!(r#"{{"alg":"ES256","typ":"{typ}","kid":"{kid}"}}"#);
    let key = EncodingKey::from_ec_pem(EC_PRIVATE).unwrap();
    sign(&header, &claims.to_string(), &key, Jwa::ES256)
}

/// An access token as providers issue them: `at+jwt`, whole seconds, no `sid`, no `token_use`.
fn access_token(provider: &FakeProvider, sub: &str, kid: &str) -> String {
    let iat = now() - 2;
    let claims = json!({
        "iss": provider.issuer(), "sub": sub, "aud": AUDIENCE, "iat": iat, "exp": iat + 300,
        "client_id": CLIENT_ID, "preferred_username": format!("{sub} at the provider"),
    });
    signed("at+jwt", kid, &claims)
}

fn logout_token(provider: &FakeProvider, sub: &str) -> String {
    let claims = json!({
        "iss": provider.issuer(), "aud": CLIENT_ID, "iat": now(), "jti": format!("logout-{sub}"),
        "sub": sub, "sid": "provider-session-1",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    });
    signed("logout+jwt", "k1", &claims)
}

async fn start(provider: &FakeProvider, dir: &std::path::Path) -> Demo {
    let database = sqlite_url(dir, "demo.db");
    let issuer = provider.issuer();
    let args = [
        "--database",
        database.as_str(),
        "--oidc-issuer",
        issuer.as_str(),
        "--audience",
        AUDIENCE,
        "--client-id",
        CLIENT_ID,
        "--jwks-cooldown",
        "200ms",
    ];
    Demo::start(dir, &args, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_tokens_work_and_are_logged_out_per_provider_subject() {
    let provider = FakeProvider::start().await;
    let key = SigningKey::ec_pem(EC_PRIVATE, Algorithm::ES256)
        .unwrap()
        .kid("k1");
    provider.publish(&[&key]);
    let dir = tempfile::tempdir().unwrap();
    let demo = start(&provider, dir.path()).await;

    let alice = access_token(&provider, "alice", "k1");
    let me = demo.http.me(&alice).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json["sub"], "alice");
    assert_eq!(me.json["iss"], provider.issuer());
    assert_eq!(me.json["username"], "alice at the provider");
    let grpc = who_am_i(&demo, &alice).await.unwrap();
    assert_eq!(
        (grpc.sub.as_str(), grpc.iss.as_str()),
        ("alice", provider.issuer().as_str())
    );
    // The demo's own accounts are not the provider's.
    let sessions = demo.http.sessions(&alice).await;
    assert_eq!(sessions.status, StatusCode::FORBIDDEN, "{}", sessions.text);

    // A demo user whose id is "alice"'s twin cannot exist, but one named alice can: apart.
    assert_eq!(
        demo.http.signup("alice", "password1").await.status,
        StatusCode::CREATED
    );
    let own = demo.http.pair("alice", "password1").await;
    assert_eq!(demo.http.me(&own.access).await.json["iss"], Value::Null);

    assert_eq!(
        demo.http.logout_all(&alice).await.status,
        StatusCode::NO_CONTENT
    );
    assert_refused(
        &demo.http.me(&alice).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_eq!(
        who_am_i(&demo, &alice).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(demo.http.me(&own.access).await.status, StatusCode::OK);
    let bob = access_token(&provider, "bob", "k1");
    assert_eq!(demo.http.me(&bob).await.status, StatusCode::OK);

    // The provider signs bob out: its back-channel logout token refuses his tokens here.
    let invalid = demo.http.backchannel_logout("not-a-token").await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST, "{}", invalid.text);
    assert_eq!(invalid.json["error"], "invalid_request");
    let done = demo
        .http
        .backchannel_logout(&logout_token(&provider, "bob"))
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.headers.get("cache-control").unwrap(), "no-store");
    assert_refused(
        &demo.http.me(&bob).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_eq!(demo.http.me(&own.access).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_while_the_provider_is_down_is_503() {
    let provider = FakeProvider::start().await;
    let key = SigningKey::ec_pem(EC_PRIVATE, Algorithm::ES256)
        .unwrap()
        .kid("k1");
    provider.publish(&[&key]);
    let dir = tempfile::tempdir().unwrap();
    let demo = start(&provider, dir.path()).await;
    let known = access_token(&provider, "carol", "k1");
    assert_eq!(demo.http.me(&known).await.status, StatusCode::OK);

    provider.behave(Behaviour::Status(502));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rotated = access_token(&provider, "carol", "k2");
    let answer = demo.http.me(&rotated).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );
    assert!(answer.headers.get("retry-after").is_some());
    assert_eq!(
        who_am_i(&demo, &rotated).await.unwrap_err().code(),
        Code::Unavailable
    );
    // The key known before keeps working.
    assert_eq!(demo.http.me(&known).await.status, StatusCode::OK);

    // Back, with the new key published: accepted.
    provider.behave(Behaviour::Serve);
    provider.publish(&[&key, &key.clone().kid("k2")]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(demo.http.me(&rotated).await.status, StatusCode::OK);
}

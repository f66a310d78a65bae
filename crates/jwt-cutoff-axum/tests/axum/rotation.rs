//! An issuing service rotating its keys ([`SigningKeys`]) behind [`PublishedKeys::following`],
//! and a resource service that trusts it through discovery, both on real sockets: the next key
//! is in the published set before it signs, the resource service takes its tokens from its
//! turn on, keeps taking the previous key's until that key is dropped, then refuses them (cached
//! ones too) once it has fetched the set again.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use jwt_cutoff::{
    Algorithm, CutoffCache, JwtCutoffLayer, MemoryStore, SigningKey, SigningKeys, TokenIssuer,
    TrustedIssuer, Validator,
};
use jwt_cutoff_axum::{Claims, DISCOVERY_PATH, JWKS_PATH, JsonResponder, PublishedKeys};
use jwt_cutoff_test_support::{EC_PRIVATE, eventually, wait_until};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::serve::{get_bearer, get_with, send, serve};

const EC_PRIVATE_2: &[u8] = include_bytes!("../../../jwt-cutoff/tests/keys/ec_private_2.pem");
const API: &str = "orders-api";

fn ec(pem: &[u8], kid: &str) -> SigningKey {
    SigningKey::ec_pem(pem, Algorithm::ES256).unwrap().kid(kid)
}

/// The `kid`s of the JWK set the issuing service serves now.
async fn published_kids(issuing: SocketAddr) -> Vec<String> {
    let reply = send(get_with(issuing, JWKS_PATH, &[])).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_resource_service_follows_the_issuers_rotation() {
    // The issuing service: its URL is its issuer, so it is bound before it is built.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuing = listener.local_addr().unwrap();
    let issuer_url = format!("http://{issuing}");
    // Long enough that a stalled test machine still checks the retired key before it goes.
    let keep_retired = Duration::from_secs(3);
    let keys = SigningKeys::new(ec(EC_PRIVATE, "first"), keep_retired).unwrap();
    let issuer = TokenIssuer::builder_rotating(keys.clone())
        .issuer(&issuer_url)
        .audience(API)
        .access_lifetime(Duration::from_secs(1))
        .refresh_key(
            SigningKey::hmac(b"a refresh secret of at least 32 bytes", Algorithm::HS256).unwrap(),
        )
        .build()
        .unwrap();
    let published = PublishedKeys::following(&issuer_url, &keys).unwrap();
    let issuing_app: Router = Router::new().merge(published.routes());
    tokio::spawn(async move { axum::serve(listener, issuing_app).await.unwrap() });
    let discovery = send(get_with(issuing, DISCOVERY_PATH, &[])).await.json();
    assert_eq!(discovery["issuer"], Value::from(issuer_url.as_str()));

    // The resource service, refreshing the issuer's keys every 200 ms.
    let validator = Validator::builder()
        .algorithms([Algorithm::ES256])
        .trust(
            TrustedIssuer::discover(&issuer_url)
                .audience(API)
                .refresh_every(Duration::from_millis(200))
                .refetch_cooldown(Duration::from_millis(50)),
        )
        .build(CutoffCache::new(MemoryStore::new()))
        .unwrap();
    let resource = serve(
        Router::new()
            .route(
                "/me",
                get(|claims: Claims| async move { claims.subject().to_owned() }),
            )
            .layer(JwtCutoffLayer::new(validator).responder(JsonResponder::new())),
    )
    .await;
    // A token of the first key that outlives the rotation (minted by hand with that key).
    let outliving_first = TokenIssuer::builder(ec(EC_PRIVATE, "first"))
        .issuer(&issuer_url)
        .audience(API)
        .access_lifetime(Duration::from_secs(3600))
        .build()
        .unwrap()
        .issue_access("alice", &())
        .unwrap()
        .token;
    let status = |token: String| async move { get_bearer(resource, "/me", &token).await.status };
    assert_eq!(status(outliving_first.clone()).await, StatusCode::OK);

    // Published before it signs.
    let turn = SystemTime::now() + Duration::from_millis(600);
    keys.schedule(ec(EC_PRIVATE_2, "second"), turn).unwrap();
    assert_eq!(published_kids(issuing).await, ["first", "second"]);
    if SystemTime::now() < turn {
        let token = issuer.issue_access("alice", &()).unwrap().token;
        assert_eq!(status(token).await, StatusCode::OK);
    }

    // From its turn on, the resource service takes the second key's tokens, and the first's still.
    wait_until("the second key signs", || {
        keys.signing_key_id().as_deref() == Some("second")
    })
    .await;
    let second = issuer.issue_access("alice", &()).unwrap().token;
    assert_eq!(status(second.clone()).await, StatusCode::OK);
    assert_eq!(status(outliving_first.clone()).await, StatusCode::OK);

    // The first key is dropped from the set; once the resource service has fetched it again,
    // the first key's token is refused, though it was in its token cache.
    eventually(
        "the first key leaves the published set",
        Duration::from_secs(30),
        async || published_kids(issuing).await == ["second"],
    )
    .await;
    eventually(
        "the resource service refuses the first key",
        Duration::from_secs(30),
        async || status(outliving_first.clone()).await == StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(status(second).await, StatusCode::OK);
}

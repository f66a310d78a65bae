//! One validator (one cutoff cache, one store) guards an axum router and a tonic service in one
//! process: a logout through the store is refused on both protocols at once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use jwt_cutoff::{CutoffCache, JwtCutoffLayer, MemoryStore, TokenIssuer};
use jwt_cutoff_axum::{Claims, JsonResponder};
use jwt_cutoff_test_support::client::{fetch, http1_client};
use jwt_cutoff_test_support::grpc::{bearer, health_check, serve_grpc};
use jwt_cutoff_test_support::{hs_issuer, hs_validator};
use jwt_cutoff_tonic::GrpcJwtCutoffLayer;
use tokio::net::TcpListener;
use tonic::Code;
use tonic::transport::{Channel, Server};

struct Servers {
    cutoffs: CutoffCache,
    issuer: TokenIssuer,
    http: SocketAddr,
    grpc: Channel,
}

/// One validator guarding an axum router (`/me`, JSON refusals) and tonic's health service.
async fn serve_both() -> Servers {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = hs_validator(cutoffs.clone());

    let router = Router::new()
        .route(
            "/me",
            get(|claims: Claims| async move { claims.subject().to_owned() }),
        )
        .layer(JwtCutoffLayer::new(validator.clone()).responder(JsonResponder::new()));
    let http_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = http_listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(http_listener, router).await });

    let (_reporter, health) = tonic_health::server::health_reporter();
    let grpc_layer = GrpcJwtCutoffLayer::new(validator).guard_all();
    let grpc = serve_grpc(|incoming| {
        Server::builder()
            .layer(grpc_layer)
            .add_service(health)
            .serve_with_incoming(incoming)
    })
    .await;

    Servers {
        cutoffs,
        issuer: hs_issuer(),
        http,
        grpc,
    }
}

async fn http_status(addr: SocketAddr, token: &str) -> (StatusCode, String) {
    let url = format!("http://{addr}/me");
    let answer = fetch(&http1_client(), &url, &[&format!("Bearer {token}")]).await;
    (answer.status, answer.body)
}

async fn grpc_code(channel: &Channel, token: &str) -> Code {
    match health_check(channel, &[&bearer(token)]).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_is_refused_over_http_and_grpc_at_once() {
    let servers = serve_both().await;
    let alice = servers.issuer.issue_access("alice", &()).unwrap().token;
    let bob = servers.issuer.issue_access("bob", &()).unwrap().token;

    assert_eq!(
        http_status(servers.http, &alice).await,
        (StatusCode::OK, "alice".to_owned())
    );
    assert_eq!(grpc_code(&servers.grpc, &alice).await, Code::Ok);

    servers.cutoffs.logout_all("alice").await.unwrap();

    // No waiting: the change is in the one cache both protocols read.
    let (status, body) = http_status(servers.http, &alice).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("revoked"), "{body}");
    assert!(!body.contains(&alice));
    assert_eq!(
        grpc_code(&servers.grpc, &alice).await,
        Code::Unauthenticated
    );

    // Others are untouched, and alice's next login works on both.
    assert_eq!(http_status(servers.http, &bob).await.0, StatusCode::OK);
    assert_eq!(grpc_code(&servers.grpc, &bob).await, Code::Ok);
    let fresh = servers.issuer.issue_access("alice", &()).unwrap().token;
    assert_eq!(http_status(servers.http, &fresh).await.0, StatusCode::OK);
    assert_eq!(grpc_code(&servers.grpc, &fresh).await, Code::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_user_is_refused_on_both_protocols() {
    let servers = serve_both().await;
    let carol = servers.issuer.issue_access("carol", &()).unwrap().token;
    servers.cutoffs.refuse("carol").await.unwrap();
    assert_eq!(
        http_status(servers.http, &carol).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        grpc_code(&servers.grpc, &carol).await,
        Code::Unauthenticated
    );
    let later = servers.issuer.issue_access("carol", &()).unwrap().token;
    assert_eq!(
        grpc_code(&servers.grpc, &later).await,
        Code::Unauthenticated
    );
}

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
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jwt_cutoff::{
    Algorithm, CutoffCache, JwtCutoffLayer, MemoryStore, SigningKey, TokenIssuer, Validator,
    VerifyingKey,
};
use jwt_cutoff_axum::{Claims, JsonResponder};
use jwt_cutoff_tonic::GrpcJwtCutoffLayer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const SECRET: &[u8] = b"one secret for HTTP and gRPC alike, 32+ bytes";

struct Servers {
    cutoffs: CutoffCache,
    issuer: TokenIssuer,
    http: SocketAddr,
    grpc: Channel,
}

async fn serve_both() -> Servers {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .build(cutoffs.clone())
        .unwrap();

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
    let grpc_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_addr = grpc_listener.local_addr().unwrap();
    let grpc_layer = GrpcJwtCutoffLayer::new(validator).guard_all();
    tokio::spawn(
        Server::builder()
            .layer(grpc_layer)
            .add_service(health)
            .serve_with_incoming(TcpListenerStream::new(grpc_listener)),
    );
    let grpc = Channel::from_shared(format!("http://{grpc_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    let issuer = TokenIssuer::builder(SigningKey::hmac(SECRET, Algorithm::HS256).unwrap())
        .build()
        .unwrap();
    Servers {
        cutoffs,
        issuer,
        http,
        grpc,
    }
}

async fn http_status(addr: SocketAddr, token: &str) -> (StatusCode, String) {
    let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let request = Request::get(format!("http://{addr}/me"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn grpc_code(channel: &Channel, token: &str) -> Code {
    let mut request = tonic::Request::new(HealthCheckRequest::default());
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    match HealthClient::new(channel.clone()).check(request).await {
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

//! The tonic adapter over a real 127.0.0.1:0 socket, with real generated gRPC clients: the health
//! and reflection clients of `tonic-health` and `tonic-reflection`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::BodyExt as _;
use jwt_cutoff::{
    Algorithm, BoxFuture, Cutoff, CutoffCache, CutoffSource, MemoryStore, Reason, SigningKey,
    SourceError, TokenIssuer, Validator, VerifyingKey,
};
use jwt_cutoff_tonic::{GrpcJwtCutoffLayer, RequestExt as _};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::codegen::tokio_stream::Stream;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1alpha::ServerReflectionRequest as AlphaReflectionRequest;
use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as AlphaClient;
use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as AlphaResponse;
use tower::{Layer as _, ServiceBuilder};

const SECRET: &[u8] = b"jwt-cutoff-tonic test secret, at least 32 bytes long";
const OTHER_SECRET: &[u8] = b"another secret that the server does not trust at all";

// ---------------------------------------------------------------------------------------------
// Fixture: keys, cutoffs, and a guarded service that records what reached it.

/// The application's claims, read by the handler through `RequestExt::verified`.
#[derive(Clone, Debug, serde::Deserialize)]
struct Claims {
    #[serde(default)]
    role: Option<String>,
}

/// What the handler saw of one call: the subject and role of its `Verified`, if any.
type Seen = Arc<Mutex<Vec<Option<(String, Option<String>)>>>>;

/// A hand-written implementation of the generated `Health` service, so the server side is real
/// generated code. It records the `Verified<Claims>` it finds on each call.
#[derive(Clone, Default)]
struct Recorder {
    seen: Seen,
}

impl Recorder {
    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn last(&self) -> Option<(String, Option<String>)> {
        self.seen.lock().unwrap().last().cloned().flatten()
    }
}

type WatchStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for Recorder {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let seen = request.verified::<Claims>().ok().map(|verified| {
            (
                verified.subject().to_owned(),
                verified.claims().role.clone(),
            )
        });
        self.seen.lock().unwrap().push(seen);
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving.into(),
        }))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

struct Fixture {
    cutoffs: CutoffCache,
    validator: Validator<Claims>,
    issuer: TokenIssuer,
    recorder: Recorder,
}

impl Fixture {
    fn new() -> Self {
        Self::with_cutoffs(CutoffCache::new(MemoryStore::new()))
    }

    fn with_cutoffs(cutoffs: CutoffCache) -> Self {
        let validator = Validator::builder()
            .algorithms([Algorithm::HS256])
            .key(VerifyingKey::hmac(SECRET).unwrap())
            .build(cutoffs.clone())
            .unwrap()
            .with_claims::<Claims>();
        let issuer = TokenIssuer::builder(SigningKey::hmac(SECRET, Algorithm::HS256).unwrap())
            .build()
            .unwrap();
        Self {
            cutoffs,
            validator,
            issuer,
            recorder: Recorder::default(),
        }
    }

    /// Health, reflection and the rest guarded.
    fn strict_layer(&self) -> GrpcJwtCutoffLayer<Claims> {
        GrpcJwtCutoffLayer::new(self.validator.clone()).guard_all()
    }

    fn token(&self, subject: &str) -> String {
        self.issuer
            .issue_access(subject, &serde_json::json!({ "role": "admin" }))
            .unwrap()
            .token
    }

    fn service(&self) -> HealthServer<Recorder> {
        HealthServer::new(self.recorder.clone())
    }
}

/// A cutoff store that is down.
struct FailingSource;

impl CutoffSource for FailingSource {
    fn lookup<'a>(&'a self, _subject: &'a str) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        Box::pin(async { Err(SourceError::new("connection refused")) })
    }
}

/// A token signed with `secret` carrying exactly `claims`.
fn hand_made(secret: &[u8], claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

fn now_secs() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Server and client plumbing

/// Serves on a fresh 127.0.0.1:0 listener; the server stops with the test's runtime.
async fn spawn<F>(serve: impl FnOnce(TcpListenerStream) -> F) -> Channel
where
    F: Future<Output = Result<(), tonic::transport::Error>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(serve(TcpListenerStream::new(listener)));
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A health check carrying these `authorization` values, each appended as its own entry.
fn check_request(authorization: &[&[u8]]) -> Request<HealthCheckRequest> {
    let mut request = Request::new(HealthCheckRequest::default());
    for value in authorization {
        let value = MetadataValue::try_from(*value).expect("a valid ASCII metadata value");
        request.metadata_mut().append("authorization", value);
    }
    request
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

async fn check(channel: &Channel, authorization: &[&[u8]]) -> Result<ServingStatus, Status> {
    let response = HealthClient::new(channel.clone())
        .check(check_request(authorization))
        .await?;
    Ok(response.into_inner().status())
}

#[track_caller]
fn assert_refused(result: Result<ServingStatus, Status>, code: Code, message: &str) {
    let status = result.expect_err("the call should have been refused");
    assert_ne!(status.code(), Code::PermissionDenied);
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(status.message(), message);
}

/// Asks for the list of services over reflection v1, with `Bearer <token>` metadata if given:
/// the names listed, or the status the call failed with.
async fn reflection_v1(channel: &Channel, token: Option<&str>) -> Result<Vec<String>, Status> {
    let request = with_bearer(
        tokio_stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]),
        token,
    );
    let mut responses = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(request)
        .await?
        .into_inner();
    let answer = responses.message().await?.expect("one answer");
    match answer.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => Ok(list
            .service
            .into_iter()
            .map(|service| service.name)
            .collect()),
        other => panic!("unexpected reflection answer: {other:?}"),
    }
}

/// [`reflection_v1`] over reflection v1alpha.
async fn reflection_v1alpha(channel: &Channel, token: Option<&str>) -> Result<Vec<String>, Status> {
    let request = with_bearer(
        tokio_stream::iter([AlphaReflectionRequest {
            host: String::new(),
            message_request: Some(AlphaRequest::ListServices(String::new())),
        }]),
        token,
    );
    let mut responses = AlphaClient::new(channel.clone())
        .server_reflection_info(request)
        .await?
        .into_inner();
    let answer = responses.message().await?.expect("one answer");
    match answer.message_response {
        Some(AlphaResponse::ListServicesResponse(list)) => Ok(list
            .service
            .into_iter()
            .map(|service| service.name)
            .collect()),
        other => panic!("unexpected reflection answer: {other:?}"),
    }
}

/// `message` as a request, with `authorization: Bearer <token>` metadata if given.
fn with_bearer<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            MetadataValue::try_from(bearer(token).as_slice()).unwrap(),
        );
    }
    request
}

/// Health, and reflection v1 and v1alpha listing it, behind `layer` server-wide.
async fn health_and_reflection_behind(layer: GrpcJwtCutoffLayer<Claims>) -> Channel {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let v1 = reflection_builder().build_v1().unwrap();
    let v1alpha = reflection_builder().build_v1alpha().unwrap();
    spawn(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(health)
            .add_service(v1)
            .add_service(v1alpha)
            .serve_with_incoming(incoming)
    })
    .await
}

const HEALTH: &str = tonic_health::pb::health_server::SERVICE_NAME;

fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

// ---------------------------------------------------------------------------------------------
// Accepted and refused calls, server-wide

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_verified_claims() {
    let fixture = Fixture::new();
    let layer = fixture.strict_layer();
    let service = fixture.service();
    let channel = spawn(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
    })
    .await;

    let token = fixture.token("alice");
    assert_eq!(
        check(&channel, &[&bearer(&token)]).await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        fixture.recorder.last(),
        Some(("alice".to_owned(), Some("admin".to_owned())))
    );
}

#[tokio::test]
async fn refused_calls_are_unauthenticated_and_never_reach_the_handler() {
    let fixture = Fixture::new();
    let layer = fixture.strict_layer();
    let service = fixture.service();
    let channel = spawn(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
    })
    .await;

    let now = now_secs();
    let expired = hand_made(
        SECRET,
        &serde_json::json!({ "sub": "alice", "iat": now - 3600, "exp": now - 1800, "token_use": "access" }),
    );
    let forged = hand_made(
        OTHER_SECRET,
        &serde_json::json!({ "sub": "alice", "iat": now, "exp": now + 300, "token_use": "access" }),
    );
    let refresh = fixture.issuer.issue_refresh("alice", &()).unwrap().token;

    assert_refused(
        check(&channel, &[]).await,
        Code::Unauthenticated,
        Reason::MissingToken.description(),
    );
    assert_refused(
        check(&channel, &[&bearer(&expired)]).await,
        Code::Unauthenticated,
        Reason::Expired.description(),
    );
    assert_refused(
        check(&channel, &[&bearer(&forged)]).await,
        Code::Unauthenticated,
        Reason::BadSignature.description(),
    );
    assert_refused(
        check(&channel, &[&bearer(&refresh)]).await,
        Code::Unauthenticated,
        Reason::WrongTokenType.description(),
    );
    assert_refused(
        check(&channel, &[b"Bearer not.a.jwt"]).await,
        Code::Unauthenticated,
        Reason::MalformedToken.description(),
    );
    assert_eq!(fixture.recorder.calls(), 0);
}

#[tokio::test]
async fn logout_all_revokes_earlier_tokens_at_once() {
    let fixture = Fixture::new();
    let layer = fixture.strict_layer();
    let service = fixture.service();
    let channel = spawn(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
    })
    .await;

    let before = fixture.token("alice");
    let bob = fixture.token("bob");
    assert!(check(&channel, &[&bearer(&before)]).await.is_ok());

    fixture.cutoffs.logout_all("alice").await.unwrap();
    assert_refused(
        check(&channel, &[&bearer(&before)]).await,
        Code::Unauthenticated,
        Reason::Revoked.description(),
    );
    // Others are untouched, and a token minted after the logout works.
    assert!(check(&channel, &[&bearer(&bob)]).await.is_ok());
    let after = fixture.token("alice");
    assert!(check(&channel, &[&bearer(&after)]).await.is_ok());
    assert_eq!(fixture.recorder.calls(), 3);
}

#[tokio::test]
async fn a_failing_store_gives_unavailable() {
    let fixture = Fixture::with_cutoffs(CutoffCache::new(FailingSource));
    let layer = fixture.strict_layer();
    let service = fixture.service();
    let channel = spawn(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
    })
    .await;

    let token = fixture.token("alice");
    for _ in 0..2 {
        // The error is not cached: the second call asks the store again, and fails again.
        assert_refused(
            check(&channel, &[&bearer(&token)]).await,
            Code::Unavailable,
            Reason::Unavailable.description(),
        );
    }
    // A token that fails before the lookup is still UNAUTHENTICATED.
    assert_refused(
        check(&channel, &[]).await,
        Code::Unauthenticated,
        Reason::MissingToken.description(),
    );
    assert_eq!(fixture.recorder.calls(), 0);
}

#[tokio::test]
async fn an_optional_layer_lets_anonymous_calls_through_but_not_bad_tokens() {
    let fixture = Fixture::new();
    let layer = fixture.strict_layer().optional();
    let service = fixture.service();
    let channel = spawn(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
    })
    .await;

    assert!(check(&channel, &[]).await.is_ok());
    assert_eq!(fixture.recorder.last(), None);
    assert_eq!(fixture.recorder.calls(), 1);
    assert_refused(
        check(&channel, &[b"Bearer not.a.jwt"]).await,
        Code::Unauthenticated,
        Reason::MalformedToken.description(),
    );
    let token = fixture.token("alice");
    assert!(check(&channel, &[&bearer(&token)]).await.is_ok());
    assert_eq!(
        fixture.recorder.last().map(|seen| seen.0).as_deref(),
        Some("alice")
    );
}

// ---------------------------------------------------------------------------------------------
// The wire: trailers-only answers

/// Sends one health check as raw HTTP/2 through the channel, and reads the raw response.
async fn raw_check(
    channel: &Channel,
    authorization: Option<&str>,
) -> http::Response<tonic::body::Body> {
    use tower::ServiceExt as _;

    // One gRPC message frame: uncompressed, zero bytes long (an empty HealthCheckRequest).
    let frame = tonic::codegen::Bytes::from_static(&[0; 5]);
    let mut request = http::Request::post("/grpc.health.v1.Health/Check")
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(token) = authorization {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = tonic::body::Body::new(http_body_util::Full::new(frame));
    channel
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn refusals_are_trailers_only_responses() {
    let fixture = Fixture::with_cutoffs(CutoffCache::new(FailingSource));
    let healthy = Fixture::new();
    let down = fixture.strict_layer();
    let up = healthy.strict_layer();
    let (service, healthy_service) = (fixture.service(), healthy.service());
    let down_channel = spawn(|incoming| {
        Server::builder()
            .layer(down)
            .add_service(service)
            .serve_with_incoming(incoming)
    })
    .await;
    let up_channel = spawn(|incoming| {
        Server::builder()
            .layer(up)
            .add_service(healthy_service)
            .serve_with_incoming(incoming)
    })
    .await;

    let token = fixture.token("alice");
    for (channel, authorization, code) in [
        (&up_channel, None, "16"),
        (&up_channel, Some("not.a.jwt"), "16"),
        (&down_channel, Some(token.as_str()), "14"),
    ] {
        let response = raw_check(channel, authorization).await;
        assert_eq!(response.status(), http::StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers["content-type"], "application/grpc");
        assert_eq!(headers["grpc-status"], code);
        assert!(headers.contains_key("grpc-message"));
        // Trailers-only: the status is in the one HEADERS frame, and nothing follows it.
        let collected = response.into_body().collect().await.unwrap();
        assert!(collected.trailers().is_none());
        assert!(collected.to_bytes().is_empty());
    }

    // A call that passes has its status in real trailers, after a message.
    let token = healthy.token("alice");
    let response = raw_check(&up_channel, Some(&token)).await;
    assert!(!response.headers().contains_key("grpc-status"));
    let collected = response.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
    assert!(!collected.to_bytes().is_empty());
}

#[tokio::test]
async fn the_grpc_message_never_holds_the_token() {
    let fixture = Fixture::new();
    let layer = fixture.strict_layer();
    let service = fixture.service();
    let channel = spawn(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
    })
    .await;

    let token = fixture.token("alice");
    fixture.cutoffs.logout_all("alice").await.unwrap();
    let status = check(&channel, &[&bearer(&token)]).await.unwrap_err();
    let payload = token.split('.').nth(1).unwrap();
    assert!(!status.message().contains(payload));
    for (_, value) in status.metadata().clone().into_headers() {
        assert!(!value.to_str().unwrap_or_default().contains(payload));
    }
}

// ---------------------------------------------------------------------------------------------
// Health and reflection

#[tokio::test]
async fn by_default_health_is_open_and_reflection_needs_a_token() {
    let fixture = Fixture::new();
    let channel =
        health_and_reflection_behind(GrpcJwtCutoffLayer::new(fixture.validator.clone())).await;

    assert_eq!(check(&channel, &[]).await.unwrap(), ServingStatus::Serving);
    // Open means untouched: even a bad token is not looked at.
    assert!(check(&channel, &[b"Bearer not.a.jwt"]).await.is_ok());

    // Reflection serves the whole schema: not to anonymous clients.
    for status in [
        reflection_v1(&channel, None).await.unwrap_err(),
        reflection_v1alpha(&channel, None).await.unwrap_err(),
        reflection_v1(&channel, Some("not.a.jwt"))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    let status = reflection_v1(&channel, None).await.unwrap_err();
    assert_eq!(status.message(), Reason::MissingToken.description());

    let token = fixture.token("alice");
    assert!(
        reflection_v1(&channel, Some(&token))
            .await
            .unwrap()
            .contains(&HEALTH.to_owned())
    );
    assert!(
        reflection_v1alpha(&channel, Some(&token))
            .await
            .unwrap()
            .contains(&HEALTH.to_owned())
    );
}

#[tokio::test]
async fn unguarded_reflection_answers_both_versions_without_a_token() {
    let fixture = Fixture::new();
    let layer = GrpcJwtCutoffLayer::new(fixture.validator.clone()).unguarded_reflection();
    let channel = health_and_reflection_behind(layer).await;

    assert_eq!(check(&channel, &[]).await.unwrap(), ServingStatus::Serving);
    for token in [None, Some("not.a.jwt")] {
        // Open means untouched: a bad token is not looked at either.
        let listed = reflection_v1(&channel, token).await.unwrap();
        assert!(listed.contains(&HEALTH.to_owned()), "{listed:?}");
        let listed = reflection_v1alpha(&channel, token).await.unwrap();
        assert!(listed.contains(&HEALTH.to_owned()), "{listed:?}");
    }
}

#[tokio::test]
async fn unguarded_reflection_opens_nothing_else() {
    let fixture = Fixture::new();
    let layer = fixture.strict_layer().unguarded_reflection();
    let service = fixture.service();
    let channel = spawn(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(service)
            .add_service(reflection_builder().build_v1().unwrap())
            .add_service(reflection_builder().build_v1alpha().unwrap())
            .serve_with_incoming(incoming)
    })
    .await;

    reflection_v1(&channel, None).await.unwrap();
    reflection_v1alpha(&channel, None).await.unwrap();
    assert_refused(
        check(&channel, &[]).await,
        Code::Unauthenticated,
        Reason::MissingToken.description(),
    );
    assert_eq!(fixture.recorder.calls(), 0);
}

#[tokio::test]
async fn health_and_reflection_are_guarded_when_the_bypass_is_off() {
    let fixture = Fixture::new();
    let channel = health_and_reflection_behind(fixture.strict_layer()).await;

    assert_refused(
        check(&channel, &[]).await,
        Code::Unauthenticated,
        Reason::MissingToken.description(),
    );
    let status = reflection_v1(&channel, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = reflection_v1alpha(&channel, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let token = fixture.token("alice");
    assert_eq!(
        check(&channel, &[&bearer(&token)]).await.unwrap(),
        ServingStatus::Serving
    );
    reflection_v1(&channel, Some(&token)).await.unwrap();
    reflection_v1alpha(&channel, Some(&token)).await.unwrap();
}

#[tokio::test]
async fn a_service_can_be_opened_by_name() {
    let fixture = Fixture::new();
    let layer = fixture
        .strict_layer()
        .unguarded_service(tonic_health::pb::health_server::SERVICE_NAME);
    let service = fixture.service();
    let channel = spawn(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
    })
    .await;

    assert!(check(&channel, &[]).await.is_ok());
    assert_eq!(fixture.recorder.last(), None);
}

// ---------------------------------------------------------------------------------------------
// Per service

#[tokio::test]
async fn the_layer_guards_one_service_and_leaves_the_others_alone() {
    let fixture = Fixture::new();
    // `Layer::layer` and `ServiceBuilder` both keep the service's name for `add_service`.
    let guarded = fixture.strict_layer().layer(fixture.service());
    let reflection = ServiceBuilder::new()
        .layer(fixture.strict_layer())
        .service(reflection_builder().build_v1().unwrap());
    let open = reflection_builder().build_v1alpha().unwrap();
    let channel = spawn(|incoming| {
        Server::builder()
            .add_service(guarded)
            .add_service(reflection)
            .add_service(open)
            .serve_with_incoming(incoming)
    })
    .await;

    assert_refused(
        check(&channel, &[]).await,
        Code::Unauthenticated,
        Reason::MissingToken.description(),
    );
    assert_eq!(
        reflection_v1(&channel, None).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    reflection_v1alpha(&channel, None).await.unwrap();

    let token = fixture.token("alice");
    assert!(check(&channel, &[&bearer(&token)]).await.is_ok());
    assert_eq!(
        fixture.recorder.last().map(|seen| seen.0).as_deref(),
        Some("alice")
    );
    reflection_v1(&channel, Some(&token)).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The SPEC's header cases, as tonic metadata

#[tokio::test]
async fn the_scheme_is_case_insensitive() {
    let fixture = Fixture::new();
    let layer = fixture.strict_layer();
    let service = fixture.service();
    let channel = spawn(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
    })
    .await;

    let token = fixture.token("alice");
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let value = format!("{scheme} {token}");
        assert!(
            check(&channel, &[value.as_bytes()]).await.is_ok(),
            "{scheme}"
        );
    }
    assert_eq!(fixture.recorder.calls(), 4);
}

#[tokio::test]
async fn malformed_authorization_metadata_is_unauthenticated() {
    let fixture = Fixture::new();
    let layer = fixture.strict_layer();
    let service = fixture.service();
    let channel = spawn(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
    })
    .await;

    let token = fixture.token("alice");
    let malformed = Reason::MalformedRequest.description();
    let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
        // Two values: gRPC has no 400, so UNAUTHENTICATED.
        (vec![bearer(&token), bearer(&token)], malformed),
        (
            vec![b"Basic YWxpY2U6c2VjcmV0".to_vec(), bearer(&token)],
            malformed,
        ),
        (vec![b"Bearer".to_vec()], malformed),
        (vec![b"Bearer ".to_vec()], malformed),
        (vec![format!("Bearer  {token}").into_bytes()], malformed),
        (vec![format!("Bearer\t{token}").into_bytes()], malformed),
        (vec![format!("Bearer \"{token}\"").into_bytes()], malformed),
        (
            vec![format!("Bearer {token} {token}").into_bytes()],
            malformed,
        ),
        // Bytes above 0x7f are legal in a header value, but not in a token.
        (vec![b"Bearer \xff\xfe\x80".to_vec()], malformed),
        (
            vec![[b"Bearer ".as_slice(), token.as_bytes(), b"\xe9"].concat()],
            malformed,
        ),
        (vec![b"\xffBearer abc".to_vec()], malformed),
        // Another scheme alone means no bearer token was offered.
        (
            vec![b"Basic YWxpY2U6c2VjcmV0".to_vec()],
            Reason::MissingToken.description(),
        ),
    ];
    for (values, message) in &cases {
        let values: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        assert_refused(
            check(&channel, &values).await,
            Code::Unauthenticated,
            message,
        );
    }
    assert_eq!(fixture.recorder.calls(), 0);
}

#[tokio::test]
async fn huge_tokens_are_refused_by_the_layer_before_decoding() {
    let fixture = Fixture::new();
    let layer = fixture.strict_layer();
    let service = fixture.service();
    let channel = spawn(|incoming| {
        Server::builder()
            // Let 64 KiB of metadata reach the layer, so the layer's own cap is what refuses.
            .http2_max_header_list_size(256 * 1024)
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
    })
    .await;

    for size in [8 * 1024 + 1, 64 * 1024] {
        let token = "a".repeat(size);
        assert_refused(
            check(&channel, &[&bearer(&token)]).await,
            Code::Unauthenticated,
            Reason::TokenTooLarge.description(),
        );
    }
    assert_eq!(fixture.recorder.calls(), 0);
    // Just under the cap, the token gets as far as decoding.
    let token = "a".repeat(8 * 1024);
    assert_refused(
        check(&channel, &[&bearer(&token)]).await,
        Code::Unauthenticated,
        Reason::MalformedToken.description(),
    );
}

#[tokio::test]
async fn huge_metadata_over_the_server_limit_never_reaches_the_handler() {
    let fixture = Fixture::new();
    let layer = fixture.strict_layer();
    let service = fixture.service();
    let channel = spawn(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
    })
    .await;

    // With tonic's default header limits, a huge value may be refused by HTTP/2 itself, before
    // the layer (tonic's client answers RESOURCE_EXHAUSTED for 1 MiB): whatever the code, the call
    // fails and nothing reaches the handler.
    for size in [64 * 1024, 1024 * 1024] {
        let token = "a".repeat(size);
        let status = check(&channel, &[&bearer(&token)]).await.unwrap_err();
        assert_ne!(status.code(), Code::Ok);
        assert_ne!(status.code(), Code::PermissionDenied);
    }
    assert_eq!(fixture.recorder.calls(), 0);
    // The connection is still usable afterwards.
    let token = fixture.token("alice");
    assert!(check(&channel, &[&bearer(&token)]).await.is_ok());
}

#[tokio::test]
async fn a_hanging_store_gives_unavailable() {
    // The lookup timeout turns a store that never answers into UNAVAILABLE.
    struct Hanging;
    impl CutoffSource for Hanging {
        fn lookup<'a>(&'a self, _subject: &'a str) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
            Box::pin(std::future::pending())
        }
    }
    let fixture = Fixture::with_cutoffs(
        CutoffCache::builder(Hanging)
            .store_timeout(Duration::from_millis(50))
            .build(),
    );
    let layer = fixture.strict_layer();
    let service = fixture.service();
    let channel = spawn(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
    })
    .await;

    let token = fixture.token("alice");
    assert_refused(
        check(&channel, &[&bearer(&token)]).await,
        Code::Unavailable,
        Reason::Unavailable.description(),
    );
}

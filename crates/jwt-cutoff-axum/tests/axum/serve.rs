//! jwt-cutoff-axum over a real 127.0.0.1 socket, with a real HTTP client (and raw TCP where the
//! client would refuse to send the bytes).

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jwt_cutoff::{
    Algorithm, CutoffCache, CutoffSource, JwtCutoffLayer, LookupFuture, MemoryStore,
    RefreshValidator, Refresher, Rejection, Rfc6750Responder, SigningKey, SourceError, TokenIssuer,
    TokenType, Validator, ValidatorBuilder, VerifyingKey,
};
use jwt_cutoff_axum::{AuthRejection, Claims, JsonResponder, RefreshRequest, TokenResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tower_http::cors::CorsLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::ReadOnly;

const SECRET: &[u8] = b"an access secret of at least 32 bytes";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Profile {
    name: String,
}

fn builder() -> ValidatorBuilder {
    Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
}

fn validator(cutoffs: &CutoffCache) -> Validator<Profile> {
    builder()
        .build(cutoffs.clone())
        .unwrap()
        .with_claims::<Profile>()
}

fn refresh_validator(cutoffs: &CutoffCache) -> RefreshValidator<Profile> {
    builder()
        .build_refresh(cutoffs.clone())
        .unwrap()
        .with_claims::<Profile>()
}

/// One key for both kinds, so that only `token_use` keeps them apart.
fn issuer() -> TokenIssuer {
    TokenIssuer::builder(SigningKey::hmac(SECRET, Algorithm::HS256).unwrap())
        .build()
        .unwrap()
}

fn profile() -> Profile {
    Profile {
        name: "Alice".to_owned(),
    }
}

fn access_token(issuer: &TokenIssuer) -> String {
    issuer.issue_access("alice", &profile()).unwrap().token
}

pub(crate) async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {:?}", self.body))
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    /// A refusal in this crate's JSON shape.
    fn assert_json_refusal(&self, status: StatusCode, error: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.header(header::CONTENT_TYPE), Some("application/json"));
        assert_eq!(self.header(header::CACHE_CONTROL), Some("no-store"));
        let body = self.json();
        assert_eq!(body["error"], error, "{body}");
        assert!(body["error_description"].is_string(), "{body}");
        assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    }
}

pub(crate) async fn send(request: Request<Full<Bytes>>) -> Reply {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

pub(crate) fn get_with(
    addr: SocketAddr,
    path: &str,
    authorization: &[&str],
) -> Request<Full<Bytes>> {
    let mut request = Request::get(format!("http://{addr}{path}"));
    for value in authorization {
        request = request.header(header::AUTHORIZATION, *value);
    }
    request.body(Full::default()).unwrap()
}

pub(crate) async fn get_bearer(addr: SocketAddr, path: &str, token: &str) -> Reply {
    send(get_with(addr, path, &[&format!("Bearer {token}")])).await
}

/// `POST /logout-all` of the [`token_app`] with `token`.
async fn logout_all_with(addr: SocketAddr, token: &str) -> Reply {
    let bearer = format!("Bearer {token}");
    send(post_json(addr, "/logout-all", Some(&bearer), &json!({}))).await
}

fn post_json(
    addr: SocketAddr,
    path: &str,
    authorization: Option<&str>,
    body: &Value,
) -> Request<Full<Bytes>> {
    let mut request = Request::post(format!("http://{addr}{path}"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    request
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn me(claims: Claims<Profile>) -> Json<Value> {
    Json(json!({
        "subject": claims.subject(),
        "iat_micros": claims.issued_at().as_unix_micros(),
        "exp": claims.expires_at().as_unix_secs(),
        "name": claims.name, // through Deref
        "token_use": claims.token_type().map(TokenType::claim_value),
    }))
}

/// `/me` behind the layer with the JSON responder, on a memory store.
async fn guarded_me() -> (SocketAddr, CutoffCache, TokenIssuer) {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guard = JwtCutoffLayer::new(validator(&cutoffs)).responder(JsonResponder::new());
    let router = Router::new().route("/me", get(me)).route_layer(guard);
    (serve(router).await, cutoffs, issuer())
}

#[tokio::test]
async fn a_valid_token_is_accepted_and_its_claims_extracted() {
    let (addr, _cutoffs, issuer) = guarded_me().await;
    let issued = issuer.issue_access("alice", &profile()).unwrap();
    let reply = get_bearer(addr, "/me", &issued.token).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({
            "subject": "alice",
            "iat_micros": issued.issued_at.as_unix_micros(),
            "exp": issued.expires_at.as_unix_secs(),
            "name": "Alice",
            "token_use": "access",
        })
    );
}

#[tokio::test]
async fn a_token_is_refused_after_logout_all_and_a_new_one_accepted() {
    let (addr, cutoffs, issuer) = guarded_me().await;
    let token = access_token(&issuer);
    assert_eq!(get_bearer(addr, "/me", &token).await.status, StatusCode::OK);

    cutoffs.logout_all("alice").await.unwrap();
    let reply = get_bearer(addr, "/me", &token).await;
    reply.assert_json_refusal(StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(
        reply.json()["error_description"],
        "the token has been revoked"
    );
    let challenge = reply.header(header::WWW_AUTHENTICATE).unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
    assert!(!reply.text().contains(&token));

    let fresh = access_token(&issuer);
    assert_eq!(get_bearer(addr, "/me", &fresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_scheme_is_case_insensitive() {
    let (addr, _cutoffs, issuer) = guarded_me().await;
    let token = access_token(&issuer);
    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        let reply = send(get_with(addr, "/me", &[&format!("{scheme} {token}")])).await;
        assert_eq!(reply.status, StatusCode::OK, "{scheme}: {reply:?}");
    }
}

#[tokio::test]
async fn no_authorization_header_gets_401_with_a_bare_challenge() {
    let (addr, _cutoffs, _issuer) = guarded_me().await;
    let reply = send(get_with(addr, "/me", &[])).await;
    reply.assert_json_refusal(StatusCode::UNAUTHORIZED, "missing_token");
    assert_eq!(reply.header(header::WWW_AUTHENTICATE), Some("Bearer"));
    // Another scheme is no bearer token either.
    let reply = send(get_with(addr, "/me", &["Basic dXNlcjpwYXNz"])).await;
    reply.assert_json_refusal(StatusCode::UNAUTHORIZED, "missing_token");
}

#[tokio::test]
async fn two_authorization_headers_are_a_bad_request() {
    let (addr, _cutoffs, issuer) = guarded_me().await;
    let bearer = format!("Bearer {}", access_token(&issuer));
    for pair in [[&*bearer, &*bearer], ["Basic dXNlcg==", &*bearer]] {
        let reply = send(get_with(addr, "/me", &pair)).await;
        reply.assert_json_refusal(StatusCode::BAD_REQUEST, "invalid_request");
        let challenge = reply.header(header::WWW_AUTHENTICATE).unwrap();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_request\""),
            "{challenge}"
        );
    }
    let reply = send(get_with(addr, "/me", &["Bearer  two-spaces"])).await;
    reply.assert_json_refusal(StatusCode::BAD_REQUEST, "invalid_request");
}

/// Sends `head` (request line and headers, without the final blank line) over raw TCP and returns
/// the status code and the whole response text.
async fn raw_request(addr: SocketAddr, head: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head).await.unwrap();
    stream
        .write_all(b"Connection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {response:?}"));
    (status, response)
}

#[tokio::test]
async fn non_utf8_and_control_bytes_are_refused_without_panicking() {
    let (addr, _cutoffs, issuer) = guarded_me().await;
    let (status, response) = raw_request(
        addr,
        b"GET /me HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer abc\xff\xfe.def\r\n",
    )
    .await;
    assert_eq!(status, 400, "{response}");
    assert!(response.contains("invalid_request"), "{response}");

    let (status, response) = raw_request(
        addr,
        b"GET /me HTTP/1.1\r\nHost: localhost\r\nAuthorization: \xc3\xa9 abc\r\n",
    )
    .await;
    assert_eq!(status, 400, "{response}");

    // A control byte: hyper or the layer refuses it; either way the server lives on.
    let (status, response) = raw_request(
        addr,
        b"GET /me HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer abc\x01def\r\n",
    )
    .await;
    assert_eq!(status, 400, "{response}");

    let reply = get_bearer(addr, "/me", &access_token(&issuer)).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn huge_tokens_are_refused_early() {
    let (addr, _cutoffs, _issuer) = guarded_me().await;
    for len in [8 * 1024 + 1, 64 * 1024] {
        let token = "a".repeat(len);
        let reply = get_bearer(addr, "/me", &token).await;
        reply.assert_json_refusal(StatusCode::UNAUTHORIZED, "invalid_token");
        assert_eq!(reply.json()["error_description"], "the token is too large");
        assert!(reply.body.len() < 200, "{len}: {} bytes", reply.body.len());
    }
}

#[tokio::test]
async fn optional_claims_pair_with_the_optional_layer() {
    async fn greeting(claims: Option<Claims<Profile>>) -> String {
        claims.map_or_else(|| "anonymous".to_owned(), |claims| claims.name.clone())
    }
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guard = JwtCutoffLayer::new(validator(&cutoffs))
        .optional()
        .responder(JsonResponder::new());
    let addr = serve(Router::new().route("/", get(greeting)).layer(guard)).await;
    let issuer = issuer();
    let token = access_token(&issuer);

    let reply = send(get_with(addr, "/", &[])).await;
    assert_eq!((reply.status, reply.text()), (StatusCode::OK, "anonymous"));
    let reply = get_bearer(addr, "/", &token).await;
    assert_eq!((reply.status, reply.text()), (StatusCode::OK, "Alice"));

    // Present but bad, malformed, or revoked: still refused.
    get_bearer(addr, "/", "not.a.token")
        .await
        .assert_json_refusal(StatusCode::UNAUTHORIZED, "invalid_token");
    send(get_with(addr, "/", &["Bearer a", "Bearer b"]))
        .await
        .assert_json_refusal(StatusCode::BAD_REQUEST, "invalid_request");
    cutoffs.logout_all("alice").await.unwrap();
    get_bearer(addr, "/", &token)
        .await
        .assert_json_refusal(StatusCode::UNAUTHORIZED, "invalid_token");
}

/// A route the layer does not guard: no token is a 401, a token nobody verified is the server's
/// mistake (500), and neither is a pass.
#[tokio::test]
async fn claims_without_the_layer_are_never_a_pass() {
    async fn optional(claims: Option<Claims<Profile>>) -> &'static str {
        if claims.is_some() { "claims" } else { "none" }
    }
    let router = Router::new()
        .route("/me", get(me))
        .route("/optional", get(optional));
    let addr = serve(router).await;
    let token = access_token(&issuer());

    let reply = send(get_with(addr, "/me", &[])).await;
    reply.assert_json_refusal(StatusCode::UNAUTHORIZED, "missing_token");
    assert_eq!(reply.header(header::WWW_AUTHENTICATE), Some("Bearer"));
    for path in ["/me", "/optional"] {
        let reply = get_bearer(addr, path, &token).await;
        reply.assert_json_refusal(StatusCode::INTERNAL_SERVER_ERROR, "server_error");
        assert_eq!(reply.header(header::WWW_AUTHENTICATE), None, "{path}");
    }
    let reply = send(get_with(addr, "/optional", &[])).await;
    assert_eq!((reply.status, reply.text()), (StatusCode::OK, "none"));
}

#[derive(Clone)]
struct AppState {
    greeting: &'static str,
}

async fn greet(State(state): State<AppState>, claims: Claims<Profile>) -> String {
    format!("{} {}", state.greeting, claims.name)
}

#[tokio::test]
async fn router_layer_and_route_layer_both_work_with_state() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guard = JwtCutoffLayer::new(validator(&cutoffs));
    let state = AppState { greeting: "hi" };
    let token = access_token(&issuer());

    // `layer`: everything is guarded, the fallback (unknown paths) included.
    let layered = Router::new()
        .route("/greet", get(greet))
        .layer(guard.clone())
        .with_state(state.clone());
    // `route_layer`: the routes before it are guarded; unknown paths stay 404, later routes public.
    let route_layered = Router::new()
        .route("/greet", get(greet))
        .route_layer(guard)
        .route("/public", get(|| async { "public" }))
        .with_state(state);

    for (addr, unknown_path) in [
        (serve(layered).await, StatusCode::UNAUTHORIZED),
        (serve(route_layered).await, StatusCode::NOT_FOUND),
    ] {
        let reply = get_bearer(addr, "/greet", &token).await;
        assert_eq!((reply.status, reply.text()), (StatusCode::OK, "hi Alice"));
        let reply = send(get_with(addr, "/greet", &[])).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.header(header::WWW_AUTHENTICATE), Some("Bearer"));
        assert_eq!(reply.header(header::CACHE_CONTROL), Some("no-store"));
        assert_eq!(
            send(get_with(addr, "/nowhere", &[])).await.status,
            unknown_path
        );
    }
    let addr = serve(
        Router::new()
            .route("/public", get(|| async { "public" }))
            .route("/greet", get(greet))
            .route_layer(JwtCutoffLayer::new(validator(&cutoffs)))
            .with_state(AppState { greeting: "hey" }),
    )
    .await;
    // Routes added before `route_layer` are guarded too.
    assert_eq!(
        send(get_with(addr, "/public", &[])).await.status,
        StatusCode::UNAUTHORIZED
    );
}

fn preflight(addr: SocketAddr) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri(format!("http://{addr}/me"))
        .header(header::ORIGIN, "https://app.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn cors_preflight_works_on_guarded_routes_when_cors_is_outside_the_guard() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guard = JwtCutoffLayer::new(validator(&cutoffs)).responder(JsonResponder::new());
    let cors =
        || CorsLayer::permissive().expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER]);
    let timeout =
        || TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(30));
    let right = Router::new()
        .route("/me", get(me))
        .route_layer(guard.clone())
        .layer(timeout())
        .layer(cors())
        .layer(TraceLayer::new_for_http());
    let addr = serve(right).await;

    let reply = send(preflight(addr)).await;
    assert!(reply.status.is_success(), "{reply:?}");
    assert_eq!(reply.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    assert!(reply.header(header::ACCESS_CONTROL_ALLOW_METHODS).is_some());

    // The guard's refusals carry the CORS headers, so the page can read them.
    let mut request = get_with(addr, "/me", &[]);
    request
        .headers_mut()
        .insert(header::ORIGIN, "https://app.example".parse().unwrap());
    let reply = send(request).await;
    reply.assert_json_refusal(StatusCode::UNAUTHORIZED, "missing_token");
    assert_eq!(reply.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    let exposed = reply.header(header::ACCESS_CONTROL_EXPOSE_HEADERS).unwrap();
    assert!(exposed.contains("www-authenticate"), "{exposed}");

    let reply = get_bearer(addr, "/me", &access_token(&issuer())).await;
    assert_eq!(reply.status, StatusCode::OK);

    // The wrong order, for contrast: the guard answers the preflight itself.
    let wrong = Router::new()
        .route("/me", get(me))
        .layer(cors())
        .route_layer(guard)
        .layer(TraceLayer::new_for_http());
    let reply = send(preflight(serve(wrong).await)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

/// A store that is down.
struct Down;

impl CutoffSource for Down {
    fn lookup<'a>(&'a self, _subject: &'a str) -> LookupFuture<'a> {
        Box::pin(async { Err(SourceError::new("connection refused to db-secret-host")) })
    }
}

#[tokio::test]
async fn a_failing_store_gives_503_with_retry_after_and_a_json_body() {
    let cutoffs = CutoffCache::new(Down);
    let guard = JwtCutoffLayer::new(validator(&cutoffs)).responder(JsonResponder::new());
    let addr = serve(Router::new().route("/me", get(me)).route_layer(guard)).await;

    let reply = get_bearer(addr, "/me", &access_token(&issuer())).await;
    reply.assert_json_refusal(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(reply.header(header::RETRY_AFTER), Some("1"));
    assert_eq!(reply.header(header::WWW_AUTHENTICATE), None);
    assert!(!reply.text().contains("db-secret-host"), "{}", reply.text());
}

#[derive(Clone)]
struct Tokens {
    cutoffs: CutoffCache,
    refresher: Refresher<Profile>,
}

async fn logout_all(
    State(tokens): State<Tokens>,
    claims: Claims<Profile>,
) -> Result<StatusCode, AuthRejection> {
    jwt_cutoff_axum::logout_all(&tokens.cutoffs, &claims).await
}

async fn refresh(
    State(tokens): State<Tokens>,
    Json(request): Json<RefreshRequest>,
) -> Result<TokenResponse, AuthRejection> {
    jwt_cutoff_axum::refresh(&tokens.refresher, &request, |verified| {
        verified.claims().clone()
    })
    .await
}

/// The app of the example: `/me` and `/logout-all` guarded, `/refresh` public.
async fn token_app(cutoffs: CutoffCache) -> (SocketAddr, TokenIssuer) {
    let tokens = Tokens {
        cutoffs: cutoffs.clone(),
        refresher: Refresher::new(refresh_validator(&cutoffs), issuer()),
    };
    let guard = JwtCutoffLayer::new(validator(&cutoffs)).responder(JsonResponder::new());
    let router = Router::new()
        .route("/me", get(me))
        .route("/logout-all", post(logout_all))
        .route_layer(guard)
        .route("/refresh", post(refresh))
        .with_state(tokens.clone());
    (serve(router).await, tokens.refresher.issuer().clone())
}

#[tokio::test]
async fn logout_all_helper_revokes_every_token_of_the_caller() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let (addr, issuer) = token_app(cutoffs).await;
    let first = access_token(&issuer);
    let second = access_token(&issuer); // another device
    let bob = issuer.issue_access("bob", &profile()).unwrap().token;

    let reply = logout_all_with(addr, &first).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    for token in [&first, &second] {
        get_bearer(addr, "/me", token)
            .await
            .assert_json_refusal(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    assert_eq!(get_bearer(addr, "/me", &bob).await.status, StatusCode::OK);
    // Logging out needs a token like any guarded route.
    let reply = send(post_json(addr, "/logout-all", None, &json!({}))).await;
    reply.assert_json_refusal(StatusCode::UNAUTHORIZED, "missing_token");
}

#[tokio::test]
async fn logout_all_helper_answers_503_when_the_store_cannot_be_written() {
    let (addr, issuer) = token_app(CutoffCache::new(ReadOnly)).await;
    let token = access_token(&issuer);
    let reply = logout_all_with(addr, &token).await;
    reply.assert_json_refusal(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(reply.header(header::RETRY_AFTER), Some("1"));
    assert!(!reply.text().contains("read-only"), "{}", reply.text());
}

#[tokio::test]
async fn refresh_helper_exchanges_refresh_tokens_only_and_honours_the_cutoff() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let (addr, issuer) = token_app(cutoffs.clone()).await;
    let pair = issuer.issue_pair("alice", &profile()).unwrap();
    let exchange = |token: &str| {
        send(post_json(
            addr,
            "/refresh",
            None,
            &json!({ "refresh_token": token }),
        ))
    };

    let reply = exchange(&pair.refresh.token).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.header(header::CACHE_CONTROL), Some("no-store"));
    assert_eq!(reply.header(header::CONTENT_TYPE), Some("application/json"));
    let body = reply.json();
    assert_eq!(body["token_type"], "Bearer");
    let expires_in = body["expires_in"].as_u64().unwrap();
    assert!((299..=300).contains(&expires_in), "{expires_in}");
    assert_eq!(
        body["session_id"], pair.session_id,
        "a refresh keeps the session"
    );
    let new_access = body["access_token"].as_str().unwrap();
    let new_refresh = body["refresh_token"].as_str().unwrap().to_owned();
    // The new access token works and carries the claims over.
    let reply = get_bearer(addr, "/me", new_access).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["name"], "Alice");
    // A new access token is no refresh token, and the reverse.
    let reply = exchange(new_access).await;
    reply.assert_json_refusal(StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(
        reply.json()["error_description"],
        "the token is of the wrong type"
    );
    get_bearer(addr, "/me", &new_refresh)
        .await
        .assert_json_refusal(StatusCode::UNAUTHORIZED, "invalid_token");

    // Refresh tokens issued before a logout-all are refused; one issued after is fine.
    cutoffs.logout_all("alice").await.unwrap();
    for token in [&pair.refresh.token, &new_refresh] {
        let reply = exchange(token).await;
        reply.assert_json_refusal(StatusCode::UNAUTHORIZED, "invalid_token");
        assert_eq!(
            reply.json()["error_description"],
            "the token has been revoked"
        );
    }
    let after = issuer.issue_refresh("alice", &profile()).unwrap().token;
    assert_eq!(exchange(&after).await.status, StatusCode::OK);
    exchange("")
        .await
        .assert_json_refusal(StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn realms_and_closure_responders_shape_the_refusals() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let json =
        JwtCutoffLayer::new(validator(&cutoffs)).responder(JsonResponder::new().realm("api"));
    let rfc6750 = Rfc6750Responder::new().realm("shop");
    let text = JwtCutoffLayer::new(validator(&cutoffs)).responder(
        move |rejection: &Rejection| -> Response<Body> {
            rfc6750.respond_with(
                rejection,
                Body::from(format!("nope: {}", rejection.reason())),
            )
        },
    );
    let router = Router::new()
        .route("/json", get(me).route_layer(json))
        .route("/text", get(me).route_layer(text));
    let addr = serve(router).await;

    let reply = send(get_with(addr, "/json", &[])).await;
    reply.assert_json_refusal(StatusCode::UNAUTHORIZED, "missing_token");
    assert_eq!(
        reply.header(header::WWW_AUTHENTICATE),
        Some("Bearer realm=\"api\"")
    );

    let reply = get_bearer(addr, "/text", "x.y.z").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.text(), "nope: malformed_token");
    let challenge = reply.header(header::WWW_AUTHENTICATE).unwrap();
    assert!(
        challenge.starts_with("Bearer realm=\"shop\", error=\"invalid_token\""),
        "{challenge}"
    );
}

/// `/me`, `/logout` ([`logout_session`](jwt_cutoff_axum::logout_session)) and `/logout-others`
/// ([`revoke_sessions`](jwt_cutoff_axum::revoke_sessions) over the sessions named in the body)
/// behind the layer, on a memory store.
async fn session_app() -> (SocketAddr, CutoffCache, TokenIssuer) {
    async fn logout(
        State(cutoffs): State<CutoffCache>,
        claims: Claims<Profile>,
    ) -> Result<StatusCode, AuthRejection> {
        jwt_cutoff_axum::logout_session(&cutoffs, &claims).await
    }
    async fn logout_others(
        State(cutoffs): State<CutoffCache>,
        claims: Claims<Profile>,
        Json(sessions): Json<Vec<String>>,
    ) -> Result<StatusCode, AuthRejection> {
        jwt_cutoff_axum::revoke_sessions(&cutoffs, &claims, sessions).await
    }
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guard = JwtCutoffLayer::new(validator(&cutoffs)).responder(JsonResponder::new());
    let router = Router::new()
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/logout-others", post(logout_others))
        .route_layer(guard)
        .with_state(cutoffs.clone());
    (serve(router).await, cutoffs, issuer())
}

#[tokio::test]
async fn logging_out_here_and_the_others_revokes_sessions_not_the_user() {
    let (addr, _cutoffs, issuer) = session_app().await;
    let [here, other, third] = [(); 3].map(|()| issuer.issue_pair("alice", &profile()).unwrap());
    let status = async |token: &str| get_bearer(addr, "/me", token).await.status;
    let bearer = |token: &str| format!("Bearer {token}");

    // The others, named with this session among them: this one stays.
    let sessions = json!([here.session_id, other.session_id]);
    let reply = send(post_json(
        addr,
        "/logout-others",
        Some(&bearer(&here.access.token)),
        &sessions,
    ))
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert_eq!(status(&here.access.token).await, StatusCode::OK);
    assert_eq!(status(&other.access.token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status(&third.access.token).await,
        StatusCode::OK,
        "not named"
    );

    // Log out here: this session goes, the third stays.
    let reply = send(post_json(
        addr,
        "/logout",
        Some(&bearer(&here.access.token)),
        &json!({}),
    ))
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert_eq!(status(&here.access.token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&third.access.token).await, StatusCode::OK);
}

/// A token without a session can only be covered by its subject's cutoff: "log out here" with
/// one logs the subject out from all devices, the safe side.
#[tokio::test]
async fn logging_out_here_without_a_session_logs_the_subject_out() {
    let (addr, _cutoffs, issuer) = session_app().await;
    let lone = access_token(&issuer);
    let pair = issuer.issue_pair("alice", &profile()).unwrap();
    let reply = send(post_json(
        addr,
        "/logout",
        Some(&format!("Bearer {lone}")),
        &json!({}),
    ))
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    for token in [&lone, &pair.access.token] {
        assert_eq!(
            get_bearer(addr, "/me", token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
}

/// The back-channel logout endpoint over a real socket: a provider's logout token is 200 and
/// refuses that subject's tokens on the guarded routes; a bad request or token is a 400 JSON
/// answer; every answer is `no-store`.
#[tokio::test]
async fn backchannel_logout_endpoint() {
    use jwt_cutoff::{BackChannelLogout, TrustedIssuer};

    const IDP: &str = "https://id.example.com";
    let provider = SigningKey::ec_pem(
        include_bytes!("../../../jwt-cutoff/tests/keys/ec_private.pem"),
        Algorithm::ES256,
    )
    .unwrap()
    .kid("idp");
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = Validator::builder()
        .algorithms([Algorithm::ES256])
        .trust(TrustedIssuer::with_keys(IDP, [provider.verifying_key().unwrap()]).audience("api"))
        .build(cutoffs.clone())
        .unwrap();
    let receiver = BackChannelLogout::new(&validator, "web");
    let router = Router::new()
        .route(
            "/me",
            get(|claims: Claims| async move { claims.cutoff_subject().to_owned() }),
        )
        .layer(JwtCutoffLayer::new(validator).responder(JsonResponder::new()))
        .merge(
            Router::new()
                .route(
                    "/backchannel-logout",
                    post(jwt_cutoff_axum::backchannel_logout),
                )
                .with_state(receiver),
        );
    let addr = serve(router).await;

    let provider_issuer = TokenIssuer::builder(provider)
        .issuer(IDP)
        .audience("api")
        .build()
        .unwrap();
    let access = provider_issuer.issue_access("alice", &()).unwrap().token;
    let reply = get_bearer(addr, "/me", &access).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.text(), "https://id.example.com#alice");

    // A logout token as a provider signs it (TokenIssuer writes no `events`: claims by hand).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let claims = json!({
        "iss": IDP, "aud": "web", "iat": now, "jti": "j-1", "sub": "alice",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    });
    let logout_token = sign_es256(r#"{"alg":"ES256","typ":"logout+jwt","kid":"idp"}"#, &claims);
    let post_form = |body: String, content_type: &'static str| {
        Request::post(format!("http://{addr}/backchannel-logout"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    let form = "application/x-www-form-urlencoded";
    for (body, content_type) in [
        ("logout_token=not.a.token".to_owned(), form),
        (String::new(), form),
        (format!("logout_token={logout_token}&logout_token=x"), form),
        (format!("logout_token={logout_token}"), "application/json"),
    ] {
        let reply = send(post_form(body, content_type)).await;
        reply.assert_json_refusal(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(!reply.text().contains(&logout_token));
    }
    assert_eq!(
        get_bearer(addr, "/me", &access).await.status,
        StatusCode::OK
    );

    let reply = send(post_form(format!("logout_token={logout_token}"), form)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.header(header::CACHE_CONTROL), Some("no-store"));
    assert!(reply.body.is_empty());
    let reply = get_bearer(addr, "/me", &access).await;
    reply.assert_json_refusal(StatusCode::UNAUTHORIZED, "invalid_token");
}

/// An ES256 token over `header` and the JSON `claims`, signed with the test EC key.
fn sign_es256(header: &str, claims: &Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_ec_pem(include_bytes!(
        "../../../jwt-cutoff/tests/keys/ec_private.pem"
    ))
    .unwrap();
    jwt_cutoff_test_support::sign(
        header,
        &claims.to_string(),
        &key,
        jsonwebtoken::Algorithm::ES256,
    )
}

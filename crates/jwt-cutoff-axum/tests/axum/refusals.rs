//! One responder for every refusal; a handler asking for claims no layer provides is the server's
//! mistake (500, logged with both types); an `AuthRejection` logs when made, so converting it into
//! another error type keeps its logs. The log assertions read one process-wide subscriber's output.

use std::any::type_name;
use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::routing::{get, post};
use http_body_util::BodyExt as _;
use jwt_cutoff::{
    Algorithm, CutoffCache, JwtCutoffLayer, MemoryStore, Refresher, Rfc6750Responder, SourceError,
    TokenIssuer, TokenKeys, Validator, responder_fn,
};
use jwt_cutoff_axum::{AuthRejection, Claims, RefreshRequest, RefusalLayer, TokenResponse};
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tracing_subscriber::filter::LevelFilter;

use crate::ReadOnly;

const ACCESS_SECRET: &[u8] = b"an access secret of at least 32 bytes";
const REFRESH_SECRET: &[u8] = b"a refresh secret of at least 32 bytes";

/// The claims the layer is built for.
#[derive(Clone, Debug, Deserialize)]
struct Mine {}

/// Claims no layer provides.
#[derive(Clone, Debug, Deserialize)]
struct Other {}

fn keys() -> TokenKeys {
    TokenKeys::hmac(ACCESS_SECRET, REFRESH_SECRET, Algorithm::HS256).unwrap()
}

fn access_validator(cutoffs: &CutoffCache) -> Validator<Mine> {
    keys()
        .access_validator()
        .build(cutoffs.clone())
        .unwrap()
        .with_claims()
}

fn issuer() -> TokenIssuer {
    keys().issuer().build().unwrap()
}

/// Every log event of this test binary, from one subscriber installed for the whole process.
/// A subscriber set per test (`tracing::subscriber::set_default`) misses events now and then:
/// tracing caches whether a call site is wanted process-wide, and a test on another thread that
/// reaches the same call site without a subscriber at that moment caches "not wanted".
fn all_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::default();
        let writer = LogWriter(Arc::clone(&logs));
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(LevelFilter::DEBUG)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        logs
    })
}

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The log events since [`capture`](Self::capture), of every test running meanwhile: assertions
/// look for what only their own test logs (its token, its types, its messages).
struct Logs {
    from: usize,
}

impl Logs {
    fn capture() -> Self {
        Self {
            from: all_logs().lock().unwrap().len(),
        }
    }

    fn text(&self) -> String {
        let logs = all_logs().lock().unwrap();
        String::from_utf8_lossy(logs.get(self.from..).unwrap_or_default()).into_owned()
    }

    /// Asserts that one event at `level` mentions `message`.
    fn assert_logged(&self, level: &str, message: &str) {
        let logged = self.text();
        assert!(
            logged
                .lines()
                .any(|line| line.contains(level) && line.contains(message)),
            "no {level} event about {message:?}: {logged}"
        );
    }
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }
}

async fn call(router: &Router, method: &str, path: &str, token: Option<&str>, body: &str) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(Body::from(body.to_owned())).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap(),
    }
}

async fn get_with(router: &Router, path: &str, token: Option<&str>) -> Reply {
    call(router, "GET", path, token, "").await
}

#[tokio::test]
async fn a_handler_asking_for_other_claims_than_the_layer_verified_is_a_500_naming_both() {
    let logs = Logs::capture();
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guard = JwtCutoffLayer::new(access_validator(&cutoffs));
    let router = Router::new()
        .route("/mine", get(|_: Claims<Mine>| async { "mine" }))
        .route("/other", get(|_: Claims<Other>| async { "unreachable" }))
        // `Claims` alone is `Claims<NoClaims>`: a layer with claims does not provide it either.
        .route("/plain", get(|_: Claims| async { "unreachable" }))
        .route_layer(guard.clone())
        .route(
            "/optional",
            get(|claims: Option<Claims<Other>>| async move {
                if claims.is_some() {
                    "claims"
                } else {
                    "stranger"
                }
            })
            .route_layer(guard.optional()),
        );
    let token = issuer().issue_access("alice", &()).unwrap().token;

    assert_eq!(
        get_with(&router, "/mine", Some(&token)).await.status,
        StatusCode::OK
    );
    for (path, asked) in [
        ("/other", type_name::<Other>()),
        ("/plain", type_name::<jwt_cutoff::NoClaims>()),
        ("/optional", type_name::<Other>()),
    ] {
        let reply = get_with(&router, path, Some(&token)).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(reply.json()["error"], "server_error", "{path}");
        assert_eq!(reply.header(header::WWW_AUTHENTICATE), None, "{path}");
        assert!(!reply.body.contains(&token), "{path}");
        let logged = logs.text();
        let line = logged
            .lines()
            .rev()
            .find(|line| line.contains(&format!("Claims<{asked}>")))
            .unwrap_or_else(|| panic!("{path}: nothing logged about {asked}: {logged}"));
        assert!(line.contains("ERROR"), "{line}");
        assert!(line.contains(type_name::<Mine>()), "{line}");
        assert!(!logged.contains(&token), "{logged}");
    }
    // Without a token the optional route greets a stranger; the guarded ones refuse with 401.
    let reply = get_with(&router, "/optional", None).await;
    assert_eq!((reply.status, &*reply.body), (StatusCode::OK, "stranger"));
    let reply = get_with(&router, "/other", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[derive(Clone)]
struct Tokens {
    cutoffs: CutoffCache,
    refresher: Refresher,
}

/// `{"code", "status"}` with the RFC 6750 headers: one shape for every refusal.
fn our_shape() -> RefusalLayer<impl jwt_cutoff::Responder<Body>> {
    let rfc6750 = Rfc6750Responder::new().realm("shop");
    // No types written on the closure: `responder_fn` infers them.
    RefusalLayer::new(responder_fn(move |rejection| {
        let body = json!({
            "code": rejection.reason().as_str(),
            "status": rejection.status().as_u16(),
        });
        let mut response = rfc6750.respond_with(rejection, Body::from(body.to_string()));
        let json = HeaderValue::from_static("application/json");
        response.headers_mut().insert(header::CONTENT_TYPE, json);
        response
    }))
}

#[tokio::test]
async fn one_responder_answers_the_layer_the_extractor_and_the_helpers() {
    let cutoffs = CutoffCache::new(ReadOnly);
    let keys = keys();
    let tokens = Tokens {
        cutoffs: cutoffs.clone(),
        refresher: Refresher::new(
            keys.refresh_validator()
                .build_refresh(cutoffs.clone())
                .unwrap(),
            keys.issuer().build().unwrap(),
        ),
    };
    async fn logout_all(
        State(tokens): State<Tokens>,
        claims: Claims<Mine>,
    ) -> Result<StatusCode, AuthRejection> {
        jwt_cutoff_axum::logout_all(&tokens.cutoffs, &claims).await
    }
    async fn refresh(
        State(tokens): State<Tokens>,
        axum::Json(request): axum::Json<RefreshRequest>,
    ) -> Result<TokenResponse, AuthRejection> {
        jwt_cutoff_axum::refresh(&tokens.refresher, &request, |_| ()).await
    }
    let router = Router::new()
        .route("/me", get(|_: Claims<Mine>| async { "me" }))
        .route("/other", get(|_: Claims<Other>| async { "unreachable" }))
        .route("/logout-all", post(logout_all))
        // The default responder: empty bodies, which the refusal layer answers in its shape.
        .route_layer(JwtCutoffLayer::new(access_validator(&cutoffs)))
        .route("/refresh", post(refresh))
        // No layer here: the extractor refuses on its own.
        .route("/unguarded", get(|_: Claims<Mine>| async { "unreachable" }))
        .route("/public", get(|| async { "public" }))
        .route(
            "/own-401",
            get(|| async { (StatusCode::UNAUTHORIZED, "the handler's own") }),
        )
        .with_state(tokens.clone())
        .layer(our_shape());
    let pair = tokens.refresher.issuer().issue_pair("alice", &()).unwrap();
    let access = Some(&*pair.access.token);

    let shaped = |reply: &Reply, code: &str, status: StatusCode| {
        assert_eq!(reply.status, status, "{code}: {}", reply.body);
        assert_eq!(
            reply.json(),
            json!({ "code": code, "status": status.as_u16() })
        );
        assert_eq!(reply.header(header::CONTENT_TYPE), Some("application/json"));
        assert_eq!(reply.header(header::CACHE_CONTROL), Some("no-store"));
    };
    // The layer's refusals.
    let reply = get_with(&router, "/me", None).await;
    shaped(&reply, "missing_token", StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.header(header::WWW_AUTHENTICATE),
        Some("Bearer realm=\"shop\"")
    );
    let reply = get_with(&router, "/me", Some("x.y.z")).await;
    shaped(&reply, "malformed_token", StatusCode::UNAUTHORIZED);
    // The extractor's.
    let reply = get_with(&router, "/unguarded", None).await;
    shaped(&reply, "missing_token", StatusCode::UNAUTHORIZED);
    let reply = get_with(&router, "/other", access).await;
    shaped(&reply, "server_error", StatusCode::INTERNAL_SERVER_ERROR);
    // The helpers'.
    let reply = call(&router, "POST", "/logout-all", access, "").await;
    shaped(&reply, "unavailable", StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.header(header::RETRY_AFTER), Some("1"));
    let body = json!({ "refresh_token": pair.access.token }).to_string();
    let reply = call(&router, "POST", "/refresh", None, &body).await;
    shaped(&reply, "bad_signature", StatusCode::UNAUTHORIZED);
    let challenge = reply.header(header::WWW_AUTHENTICATE).unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

    // Everything else passes untouched, a handler's own 401 included.
    let reply = get_with(&router, "/me", access).await;
    assert_eq!((reply.status, &*reply.body), (StatusCode::OK, "me"));
    let reply = get_with(&router, "/public", None).await;
    assert_eq!((reply.status, &*reply.body), (StatusCode::OK, "public"));
    let reply = get_with(&router, "/own-401", None).await;
    assert_eq!(
        (reply.status, &*reply.body),
        (StatusCode::UNAUTHORIZED, "the handler's own")
    );
    let body = json!({ "refresh_token": pair.refresh.token }).to_string();
    let reply = call(&router, "POST", "/refresh", None, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// An application's own error type, made from an `AuthRejection` without answering it.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
}

impl From<AuthRejection> for ApiError {
    fn from(rejection: AuthRejection) -> Self {
        Self {
            status: rejection.status(),
        }
    }
}

#[test]
fn converting_an_auth_rejection_into_ones_own_error_keeps_its_logs() {
    let logs = Logs::capture();

    let issue_error = issuer().issue_access("", &()).unwrap_err();
    let converted = ApiError::from(AuthRejection::from(issue_error));
    assert_eq!(converted.status, StatusCode::INTERNAL_SERVER_ERROR);
    logs.assert_logged("ERROR", "tokens could not be issued");

    let store_error = SourceError::new("the disk is on fire");
    let converted = ApiError::from(AuthRejection::from(store_error));
    assert_eq!(converted.status, StatusCode::SERVICE_UNAVAILABLE);
    logs.assert_logged("WARN", "the disk is on fire");
}

//! A tiny service behind the layer that records whether each request reached it, and what the
//! client saw.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{HeaderValue, Request, Response, StatusCode, header};
use jwt_cutoff::{CutoffCache, JwtCutoffLayer, Reason, Responder, Validator, Verified};
use serde::de::DeserializeOwned;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};

use crate::source::TestSource;
use crate::tokens::hs_validator;

/// A tiny inner service behind a [`JwtCutoffLayer`], counting the requests that reach it.
#[derive(Clone)]
pub struct Guarded {
    service: BoxCloneSyncService<Request<String>, Response<String>, Infallible>,
    calls: Arc<AtomicUsize>,
}

impl fmt::Debug for Guarded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guarded")
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

/// A guarded service checking HS256 tokens (see [`hs_validator`]) against a cache over `source`;
/// and that cache.
pub fn guarded_over(source: &Arc<TestSource>) -> (Guarded, CutoffCache) {
    let cutoffs = CutoffCache::new(Arc::clone(source));
    (Guarded::new(hs_validator(cutoffs.clone())), cutoffs)
}

/// An `Authorization` header value made of exactly these bytes.
pub fn header(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(bytes).expect("a value http accepts")
}

impl Guarded {
    /// Guards the inner service with `JwtCutoffLayer::new(validator)`.
    pub fn new(validator: Validator) -> Self {
        Self::with_layer(JwtCutoffLayer::new(validator))
    }

    /// Guards the inner service with `layer`. The inner service answers `ok <subject>` when it finds
    /// a `Verified` (without custom claims) in the extensions, `ok anonymous` otherwise.
    pub fn with_layer<C, R>(layer: JwtCutoffLayer<C, R>) -> Self
    where
        C: DeserializeOwned + Clone + Send + Sync + 'static,
        R: Responder<String>,
    {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let service =
            ServiceBuilder::new()
                .layer(layer)
                .service_fn(move |request: Request<String>| {
                    let counter = Arc::clone(&counter);
                    async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let body = match request.extensions().get::<Verified>() {
                            Some(verified) => format!("ok {}", verified.subject()),
                            None => "ok anonymous".to_owned(),
                        };
                        Ok::<_, Infallible>(Response::new(body))
                    }
                });
        Self {
            service: BoxCloneSyncService::new(service),
            calls,
        }
    }

    /// Sends `request` and records what came back and whether the inner service ran.
    pub async fn send(&self, request: Request<String>) -> Reply {
        let before = self.calls.load(Ordering::SeqCst);
        let response = self
            .service
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let inner_calls = self.calls.load(Ordering::SeqCst) - before;
        let text = |name: header::HeaderName| {
            response
                .headers()
                .get(name)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        };
        Reply {
            status: response.status(),
            challenge: text(header::WWW_AUTHENTICATE),
            challenges: response
                .headers()
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .count(),
            retry_after: text(header::RETRY_AFTER),
            cache_control: text(header::CACHE_CONTROL),
            body: response.into_body(),
            inner_calls,
        }
    }

    /// Sends a request carrying each of `values` as an `Authorization` header.
    pub async fn authorization(&self, values: &[HeaderValue]) -> Reply {
        let mut request = Request::get("/resource")
            .body(String::new())
            .expect("request");
        for value in values {
            request
                .headers_mut()
                .append(header::AUTHORIZATION, value.clone());
        }
        self.send(request).await
    }

    /// Sends a request with one `Authorization` header of exactly these bytes.
    pub async fn authorization_bytes(&self, value: &[u8]) -> Reply {
        self.authorization(&[header(value)]).await
    }

    /// Sends `Authorization: Bearer <token>` once.
    pub async fn once(&self, token: &str) -> Reply {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("header value");
        self.authorization(&[value]).await
    }

    /// How many requests reached the inner service in all.
    pub fn inner_calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Sends `Authorization: Bearer <token>` twice, and checks the answer does not echo the token.
    ///
    /// The second time, a token that passed verification comes from the verified-token cache: both
    /// answers must be the same, so every test through here holds for cached tokens too.
    pub async fn bearer(&self, token: &str) -> Reply {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("header value");
        let reply = self.authorization(std::slice::from_ref(&value)).await;
        reply.assert_no_echo(token);
        let again = self.authorization(&[value]).await;
        assert_eq!(
            (
                again.status,
                &again.challenge,
                &again.body,
                again.inner_calls
            ),
            (
                reply.status,
                &reply.challenge,
                &reply.body,
                reply.inner_calls
            ),
            "the same token presented again was decided differently"
        );
        reply
    }

    /// Sends `token` (see [`bearer`](Self::bearer)) and asserts that it reached the inner service
    /// once, as `subject`.
    pub async fn accepts(&self, token: &str, subject: &str, what: &str) {
        self.bearer(token).await.assert_ok(subject, what);
    }

    /// Sends `token` (see [`bearer`](Self::bearer)) and asserts that it was refused with 401
    /// `invalid_token` for `reason`.
    pub async fn refuses(&self, token: &str, reason: Reason, what: &str) {
        self.bearer(token).await.assert_invalid_token(reason, what);
    }

    /// [`accepts`](Self::accepts) `token` as `subject` when `refused_for` is `None`, else
    /// [`refuses`](Self::refuses) it for that reason.
    pub async fn decides(
        &self,
        token: &str,
        refused_for: Option<Reason>,
        subject: &str,
        what: &str,
    ) {
        match refused_for {
            None => self.accepts(token, subject, what).await,
            Some(reason) => self.refuses(token, reason, what).await,
        }
    }

    /// Sends a request without any `Authorization` header.
    pub async fn anonymous(&self) -> Reply {
        self.authorization(&[]).await
    }
}

/// What the client saw.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// The first `WWW-Authenticate` value.
    pub challenge: Option<String>,
    /// How many `WWW-Authenticate` values there were.
    pub challenges: usize,
    /// The `Retry-After` value.
    pub retry_after: Option<String>,
    /// The `Cache-Control` value.
    pub cache_control: Option<String>,
    /// The body.
    pub body: String,
    /// How many times the inner service ran for this request.
    pub inner_calls: usize,
}

impl Reply {
    /// The request reached the inner service once, as `subject`.
    #[track_caller]
    pub fn assert_ok(&self, subject: &str, what: &str) {
        assert_eq!(self.status, StatusCode::OK, "{what}: {self:?}");
        assert_eq!(self.inner_calls, 1, "{what}: inner service not called once");
        assert_eq!(self.body, format!("ok {subject}"), "{what}");
        assert_eq!(self.challenge, None, "{what}");
    }

    /// The request reached the inner service once, without a verified token.
    #[track_caller]
    pub fn assert_anonymous(&self, what: &str) {
        assert_eq!(self.status, StatusCode::OK, "{what}: {self:?}");
        assert_eq!(self.inner_calls, 1, "{what}: inner service not called once");
        assert_eq!(self.body, "ok anonymous", "{what}");
    }

    /// Refused with `status` before the inner service, with an empty body, not to be cached.
    #[track_caller]
    pub fn assert_refused(&self, status: StatusCode, what: &str) {
        assert_eq!(self.status, status, "{what}: {self:?}");
        assert_eq!(self.inner_calls, 0, "{what}: the inner service was called");
        assert_eq!(self.body, "", "{what}: refusals have an empty body");
        assert_eq!(
            self.cache_control.as_deref(),
            Some("no-store"),
            "{what}: refusals must not be cached"
        );
    }

    /// Refused with `status` (see [`assert_refused`](Self::assert_refused)), without
    /// `Retry-After`: the token or the request is at fault, and trying again will not help.
    /// Returns the challenge, empty if there is none.
    #[track_caller]
    fn challenged(&self, status: StatusCode, what: &str) -> &str {
        self.assert_refused(status, what);
        assert_eq!(self.retry_after, None, "{what}");
        self.challenge.as_deref().unwrap_or_default()
    }

    /// 401 with a bare `Bearer` challenge (RFC 6750 §3.1: no error code when no token was sent).
    #[track_caller]
    pub fn assert_missing(&self, what: &str) {
        let challenge = self.challenged(StatusCode::UNAUTHORIZED, what);
        assert_eq!(challenge, "Bearer", "{what}");
        assert_eq!(self.challenges, 1, "{what}");
    }

    /// 400 `error="invalid_request"`.
    #[track_caller]
    pub fn assert_invalid_request(&self, what: &str) {
        let challenge = self.challenged(StatusCode::BAD_REQUEST, what);
        assert!(
            challenge.starts_with("Bearer error=\"invalid_request\", error_description=\""),
            "{what}: {challenge:?}"
        );
    }

    /// 401 `error="invalid_token"`, with the description of `reason` (which names it uniquely).
    #[track_caller]
    pub fn assert_invalid_token(&self, reason: Reason, what: &str) {
        let challenge = self.challenged(StatusCode::UNAUTHORIZED, what);
        let expected = format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            reason.description()
        );
        assert_eq!(challenge, expected, "{what}: expected reason {reason}");
    }

    /// 503 with `Retry-After`: the store could not answer.
    #[track_caller]
    pub fn assert_unavailable(&self, what: &str) {
        self.assert_refused(StatusCode::SERVICE_UNAVAILABLE, what);
        let retry_after = self.retry_after.as_deref().unwrap_or_default();
        assert!(
            retry_after.parse::<u64>().is_ok_and(|secs| secs >= 1),
            "{what}: Retry-After {retry_after:?}"
        );
    }

    /// Neither the body nor the challenge repeats the token.
    #[track_caller]
    pub fn assert_no_echo(&self, token: &str) {
        if token.len() >= 8 {
            assert!(!self.body.contains(token), "the body echoes the token");
            assert!(
                !self
                    .challenge
                    .as_deref()
                    .unwrap_or_default()
                    .contains(token),
                "the challenge echoes the token"
            );
        }
    }
}

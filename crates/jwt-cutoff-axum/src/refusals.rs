//! [`RefusalLayer`]: one responder for every refusal on the routes inside it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use http::{Request, Response};
use jwt_cutoff::{Rejection, Responder};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// Answers every refusal on the routes inside it with one [`Responder`]: the
/// [`JwtCutoffLayer`](jwt_cutoff::JwtCutoffLayer)'s, the [`Claims`](crate::Claims) extractor's,
/// and the [`AuthRejection`](crate::AuthRejection)s of [`logout_all`](crate::logout_all),
/// [`refresh`](crate::refresh) and your handlers. So one error shape is one line.
///
/// It recognises a refusal by the [`Rejection`] in the response extensions, which every answer of
/// this crate and every response made with
/// [`Rfc6750Responder::respond_with`](jwt_cutoff::Rfc6750Responder::respond_with) carries, and
/// replaces the response whole (status, headers and body) with the responder's. Other responses
/// pass untouched. Start the responder from `respond_with` to keep the status and the
/// `WWW-Authenticate` and `Retry-After` headers, and wrap a closure in
/// [`responder_fn`](jwt_cutoff::responder_fn) so that its types are inferred:
///
/// ```
/// use axum::{Router, body::Body, http::{HeaderValue, header}, routing::get};
/// use jwt_cutoff::{JwtCutoffLayer, Rfc6750Responder, responder_fn};
/// use jwt_cutoff_axum::{Claims, RefusalLayer};
/// # use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, Validator, VerifyingKey};
/// # let validator = Validator::builder()
/// #     .algorithms([Algorithm::HS256])
/// #     .key(VerifyingKey::hmac(b"an access secret of at least 32 bytes")?)
/// #     .build(CutoffCache::new(MemoryStore::new()))?;
///
/// // {"code": "revoked", "message": "the token has been revoked"}, with the RFC 6750 headers.
/// let rfc6750 = Rfc6750Responder::new();
/// let our_errors = responder_fn(move |rejection| {
///     let reason = rejection.reason();
///     let body = serde_json::json!({ "code": reason.as_str(), "message": reason.description() });
///     let mut response = rfc6750.respond_with(rejection, Body::from(body.to_string()));
///     let json = HeaderValue::from_static("application/json");
///     response.headers_mut().insert(header::CONTENT_TYPE, json);
///     response
/// });
///
/// let app: Router = Router::new()
///     .route("/me", get(|claims: Claims| async move { claims.subject().to_owned() }))
///     .route_layer(JwtCutoffLayer::new(validator))
///     .layer(RefusalLayer::new(our_errors));
/// # Ok::<_, jwt_cutoff::ConfigError>(())
/// ```
///
/// Put it outside the guards (add it after them), and inside the layers that should see the
/// final answer (CORS, tracing).
#[derive(Clone, Debug)]
#[must_use]
pub struct RefusalLayer<R> {
    responder: R,
}

impl<R> RefusalLayer<R> {
    /// A layer that answers every refusal with `responder`.
    pub fn new(responder: R) -> Self
    where
        R: Responder<Body>,
    {
        Self { responder }
    }
}

impl<S, R: Clone> Layer<S> for RefusalLayer<R> {
    type Service = Refusals<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Refusals {
            inner,
            responder: self.responder.clone(),
        }
    }
}

/// The service made by [`RefusalLayer`].
#[derive(Clone, Debug)]
pub struct Refusals<S, R> {
    inner: S,
    responder: R,
}

impl<S, R, ReqBody> Service<Request<ReqBody>> for Refusals<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<Body>>,
    R: Responder<Body>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = RefusalsFuture<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        RefusalsFuture {
            future: self.inner.call(request),
            responder: self.responder.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`Refusals`].
    pub struct RefusalsFuture<F, R> {
        #[pin]
        future: F,
        responder: R,
    }
}

impl<F, R> fmt::Debug for RefusalsFuture<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefusalsFuture").finish_non_exhaustive()
    }
}

impl<F, R, E> Future for RefusalsFuture<F, R>
where
    F: Future<Output = Result<Response<Body>, E>>,
    R: Responder<Body>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.future.poll(cx))?;
        Poll::Ready(Ok(match response.extensions().get::<Rejection>() {
            Some(rejection) => this.responder.respond(rejection),
            None => response,
        }))
    }
}

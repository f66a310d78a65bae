//! [`JsonResponder`]: the layer's refusals with a small JSON body.

use std::sync::Arc;

use axum::body::Body;
use http::{HeaderValue, Response, header};
use jwt_cutoff::{Rejection, Responder, Rfc6750Responder};
use serde::Serialize;

/// Answers the layer's refusals like [`Rfc6750Responder`] (status, `WWW-Authenticate`,
/// `Retry-After` on 503, `Cache-Control: no-store`) with a JSON body:
///
/// ```json
/// {"error": "invalid_token", "error_description": "the token has expired"}
/// ```
///
/// `error` is the RFC 6750 error code, or for refusals that have none the
/// [`Reason`](jwt_cutoff::Reason)'s name (`missing_token`, `unavailable`, `server_error`). The
/// body never holds the token. [`AuthRejection`](crate::AuthRejection), returned from handlers,
/// answers the same way.
///
/// ```
/// use jwt_cutoff::JwtCutoffLayer;
/// use jwt_cutoff_axum::JsonResponder;
/// # use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, Validator, VerifyingKey};
/// # let validator = Validator::builder()
/// #     .algorithms([Algorithm::HS256])
/// #     .key(VerifyingKey::hmac(b"an access secret of at least 32 bytes")?)
/// #     .build(CutoffCache::new(MemoryStore::new()))?;
///
/// let layer = JwtCutoffLayer::new(validator).responder(JsonResponder::new().realm("api"));
/// # Ok::<_, jwt_cutoff::ConfigError>(())
/// ```
///
/// # Your own responses
///
/// Any `Fn(&Rejection) -> Response<Body>` closure is a responder too: write its types out, or
/// wrap it in [`responder_fn`](jwt_cutoff::responder_fn). Keep the status and headers and change
/// the body with [`Rfc6750Responder::respond_with`]. To answer the extractor's and the handlers'
/// refusals the same way, hand it to a [`RefusalLayer`](crate::RefusalLayer) instead.
///
/// ```
/// use axum::body::Body;
/// use http::{HeaderValue, Response, header};
/// use jwt_cutoff::{JwtCutoffLayer, Rejection, Rfc6750Responder};
/// # use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, Validator, VerifyingKey};
/// # let validator = Validator::builder()
/// #     .algorithms([Algorithm::HS256])
/// #     .key(VerifyingKey::hmac(b"an access secret of at least 32 bytes")?)
/// #     .build(CutoffCache::new(MemoryStore::new()))?;
///
/// let rfc6750 = Rfc6750Responder::new();
/// let layer = JwtCutoffLayer::new(validator).responder(move |rejection: &Rejection| -> Response<Body> {
///     let body = format!("<h1>Please sign in</h1><p>{}</p>", rejection.reason().description());
///     let mut response = rfc6750.respond_with(rejection, Body::from(body));
///     let html = HeaderValue::from_static("text/html; charset=utf-8");
///     response.headers_mut().insert(header::CONTENT_TYPE, html);
///     response
/// });
/// # Ok::<_, jwt_cutoff::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct JsonResponder {
    rfc6750: Rfc6750Responder,
}

impl JsonResponder {
    /// A responder with no realm.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `realm="…"` to every `WWW-Authenticate` challenge.
    #[must_use]
    pub fn realm(self, realm: impl Into<Arc<str>>) -> Self {
        Self {
            rfc6750: self.rfc6750.realm(realm),
        }
    }
}

impl Responder<Body> for JsonResponder {
    fn respond(&self, rejection: &Rejection) -> Response<Body> {
        json_rejection(&self.rfc6750, rejection)
    }
}

/// The response for a core [`Rejection`]: RFC 6750 status and headers, JSON body.
pub(crate) fn json_rejection(rfc6750: &Rfc6750Responder, rejection: &Rejection) -> Response<Body> {
    let body = rejection_body(rejection);
    with_json_type(rfc6750.respond_with(rejection, Body::from(body)))
}

/// `{"error": …, "error_description": …}`, where `error` is the RFC 6750 code, else the reason's
/// name.
pub(crate) fn rejection_body(rejection: &Rejection) -> String {
    let error = rejection
        .error_code()
        .unwrap_or_else(|| rejection.reason().as_str());
    let description = rejection.reason().description();
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        error: &'a str,
        error_description: &'a str,
    }
    // Serializing two strings cannot fail; an empty body would still carry the status.
    serde_json::to_string(&ErrorBody {
        error,
        error_description: description,
    })
    .unwrap_or_default()
}

pub(crate) fn with_json_type<B>(mut response: Response<B>) -> Response<B> {
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

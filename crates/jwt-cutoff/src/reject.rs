//! Why a request was refused, and how the refusal is answered (RFC 6750 by default).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Response, StatusCode, header};

use jwt_cutoff_store::{SourceError, Verdict};

/// Why a token or request was refused. Safe to log and to show: it never holds the token.
///
/// # Codes
///
/// Each reason has a short code ([`as_str`](Self::as_str)): the `reason` label of the
/// `jwt_cutoff_requests_total` counter, the `reason` field of the refusal's log event, and the
/// `error` of [jwt-cutoff-axum]'s JSON bodies where RFC 6750 has no code of its own. The codes are
/// stable: a new reason gets a new code, and an existing code keeps its meaning. The status and the
/// RFC 6750 `error` (in `WWW-Authenticate` and in JSON bodies) are those of
/// [`Rejection::status`] and [`Rejection::error_code`]. Checks run roughly in the order of the
/// table (header, size, structure, signature, claims, clock, cutoff), and the first that fails
/// names the reason: a token both expired and badly signed says `bad_signature`.
///
/// | code | status | RFC 6750 `error` | meaning |
/// | --- | --- | --- | --- |
/// | `missing_token` | 401 | none | no `Authorization` header, or one with another scheme (`Basic`, say) |
/// | `malformed_request` | 400 | `invalid_request` | several `Authorization` headers, or not exactly `Bearer <token68>` |
/// | `token_too_large` | 401 | `invalid_token` | longer than [`max_token_bytes`](crate::ValidatorBuilder::max_token_bytes) (8 KiB); not decoded at all |
/// | `malformed_token` | 401 | `invalid_token` | not three base64url segments of UTF-8 JSON, or no `alg` |
/// | `unsupported_header` | 401 | `invalid_token` | the header has `crit` |
/// | `algorithm_not_allowed` | 401 | `invalid_token` | `alg` is `none`, unknown, not in the allow-list, or not one the key may verify |
/// | `unknown_key` | 401 | `invalid_token` | no configured key has the header's `kid` (or, without a `kid`, every key has one) |
/// | `bad_signature` | 401 | `invalid_token` | the signature does not verify with the key (see below) |
/// | `missing_claim` | 401 | `invalid_token` | no `exp`, `iat` or subject; no `iss` or `aud` where one is required |
/// | `invalid_claim` | 401 | `invalid_token` | a claim has the wrong type or an impossible value (an `iat` as a string, an empty subject or `sid`, say), or appears twice |
/// | `expired` | 401 | `invalid_token` | `exp` has passed, beyond the leeway |
/// | `not_yet_valid` | 401 | `invalid_token` | `nbf` is in the future, beyond the leeway |
/// | `issued_in_future` | 401 | `invalid_token` | `iat` is in the future, beyond the leeway |
/// | `wrong_issuer` | 401 | `invalid_token` | `iss` is not the required issuer |
/// | `wrong_audience` | 401 | `invalid_token` | `aud` names none of the required audiences |
/// | `wrong_token_type` | 401 | `invalid_token` | `token_use` is not the validator's kind (`access` or `refresh`), or missing where untyped tokens are not accepted |
/// | `revoked` | 401 | `invalid_token` | issued (or logged in, `auth_time`) before its subject's or everyone's cutoff: "logged out from all devices" |
/// | `subject_refused` | 401 | `invalid_token` | the subject is refused outright (deleted or disabled) |
/// | `unavailable` | 503 + `Retry-After` | none | the cutoff store could not answer in time: the request fails closed |
/// | `keys_unavailable` | 503 + `Retry-After` | none | the token names a key its issuer has not published to this service, and the issuer's keys could not be fetched: the request fails closed |
/// | `server_error` | 500 | none | never from the layer or a validator: an adapter or handler could not finish an auth step (see [`ServerError`](Self::ServerError)) |
///
/// Two of these surprise people:
///
/// - **A refresh token sent as an access token says `bad_signature`, not `wrong_token_type`,**
///   when the two kinds are signed with different keys (as [`TokenKeys`](crate::TokenKeys) and
///   [`TokenIssuerBuilder::refresh_key`](crate::TokenIssuerBuilder::refresh_key) make them). The
///   payload, `token_use` included, is only read once the signature verifies, and the access
///   validator holds only the access key, so the refresh token fails there first (or says
///   `unknown_key` when the keys carry different `kid`s). `wrong_token_type` is what a token of the
///   other kind gets when both kinds share a key. Either way the client is told `invalid_token`.
/// - **`invalid_claim` from another service reading our tokens.** [`TokenIssuer`](crate::TokenIssuer)
///   writes `iat` and `auth_time` with microseconds (`"iat": 1764384000.123456`, a valid RFC 7519
///   NumericDate), which is what makes a cutoff exact within a second. A service that declares them
///   as integers (an `i64` field in its claims struct, say) fails to parse every token. Declare
///   them as `f64`, or read [`Verified::issued_at`](crate::Verified::issued_at) here; `exp` is
///   always whole seconds.
///
/// [jwt-cutoff-axum]: https://docs.rs/jwt-cutoff-axum
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// No bearer token: no `Authorization` header, or one with another scheme.
    MissingToken,
    /// The `Authorization` header is not `Bearer <token68>`, or there are several of them.
    MalformedRequest,
    /// The token is larger than the configured cap; refused before any decoding.
    TokenTooLarge,
    /// The token is not three base64url segments of JSON.
    MalformedToken,
    /// The header asks for something this verifier does not do (`crit`), so it must not be trusted.
    UnsupportedHeader,
    /// The header's `alg` is `none`, unknown, or not allowed for the key.
    AlgorithmNotAllowed,
    /// No configured key matches the header's `kid`.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// A required claim (`exp`, `iat`, the subject; `iss` or `aud` where required) is missing.
    MissingClaim,
    /// A claim has the wrong type or an impossible value, or appears twice.
    InvalidClaim,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is still in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iss` is not the required issuer.
    WrongIssuer,
    /// `aud` does not name a required audience.
    WrongAudience,
    /// An access token where a refresh token is expected, or the reverse, or no `token_use` where
    /// untyped tokens are not accepted.
    WrongTokenType,
    /// The token was issued before its subject's cutoff ("logged out from all devices").
    Revoked,
    /// The subject is refused outright (deleted or disabled).
    SubjectRefused,
    /// The cutoff store could not answer; the request fails closed.
    Unavailable,
    /// The token's `kid` is not among its trusted issuer's known keys, and the issuer's key set
    /// could not be fetched (the provider is down, hangs, or serves garbage); the request fails
    /// closed. Once a fetch succeeds, a `kid` still unknown is [`UnknownKey`](Self::UnknownKey).
    KeysUnavailable,
    /// The server could not finish an auth step: it is misconfigured (a handler asks for claims no
    /// layer provides, say) or could not issue tokens. Never produced by the layer or a validator;
    /// adapters and handlers use it so that their 500s go through the same
    /// [`Responder`] as every refusal. The details belong in the server's log, not in the answer.
    ServerError,
}

impl Reason {
    /// Every reason, in the order of [the table](Self#codes): for code that must give each one an
    /// answer (a metrics exporter registering its labels, an adapter's tests).
    pub const ALL: &'static [Self] = &[
        Self::MissingToken,
        Self::MalformedRequest,
        Self::TokenTooLarge,
        Self::MalformedToken,
        Self::UnsupportedHeader,
        Self::AlgorithmNotAllowed,
        Self::UnknownKey,
        Self::BadSignature,
        Self::MissingClaim,
        Self::InvalidClaim,
        Self::Expired,
        Self::NotYetValid,
        Self::IssuedInFuture,
        Self::WrongIssuer,
        Self::WrongAudience,
        Self::WrongTokenType,
        Self::Revoked,
        Self::SubjectRefused,
        Self::Unavailable,
        Self::KeysUnavailable,
        Self::ServerError,
    ];

    /// A short, stable, lower-case name, for logs and metrics labels; see [the table](Self#codes).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::MalformedRequest => "malformed_request",
            Self::TokenTooLarge => "token_too_large",
            Self::MalformedToken => "malformed_token",
            Self::UnsupportedHeader => "unsupported_header",
            Self::AlgorithmNotAllowed => "algorithm_not_allowed",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::MissingClaim => "missing_claim",
            Self::InvalidClaim => "invalid_claim",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::WrongTokenType => "wrong_token_type",
            Self::Revoked => "revoked",
            Self::SubjectRefused => "subject_refused",
            Self::Unavailable => "unavailable",
            Self::KeysUnavailable => "keys_unavailable",
            Self::ServerError => "server_error",
        }
    }

    /// The text for `error_description`: short, and free of anything secret.
    #[must_use]
    pub const fn description(self) -> &'static str {
        match self {
            Self::MissingToken => "a bearer token is required",
            Self::MalformedRequest => {
                "the Authorization header must be a single \"Bearer <token>\""
            }
            Self::TokenTooLarge => "the token is too large",
            Self::MalformedToken => "the token is malformed",
            Self::UnsupportedHeader => "the token header is not supported",
            Self::AlgorithmNotAllowed => "the token algorithm is not allowed",
            Self::UnknownKey => "the token key is unknown",
            Self::BadSignature => "the token signature is invalid",
            Self::MissingClaim => "the token lacks a required claim",
            Self::InvalidClaim => "the token has an invalid claim",
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet",
            Self::IssuedInFuture => "the token was issued in the future",
            Self::WrongIssuer => "the token issuer is not accepted",
            Self::WrongAudience => "the token audience is not accepted",
            Self::WrongTokenType => "the token is of the wrong type",
            Self::Revoked => "the token has been revoked",
            Self::SubjectRefused => "the token subject is not allowed",
            Self::Unavailable => "the token store is unavailable right now",
            Self::KeysUnavailable => "the token issuer's keys are unavailable right now",
            Self::ServerError => "the server could not handle the token",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request: the [`Reason`], and for [`Reason::Unavailable`] the store's error.
///
/// Adapters turn it into their protocol's answer; [`Rfc6750Responder`] gives the HTTP one.
#[derive(Clone, Debug)]
pub struct Rejection {
    reason: Reason,
    source_error: Option<SourceError>,
}

/// The `Retry-After` sent with 503 when the cutoff store is unavailable.
const RETRY_AFTER: Duration = Duration::from_secs(1);

impl Rejection {
    /// A rejection for `reason`; for adapters and handlers that refuse on their own (an extractor
    /// that finds no verified token, say) and want the same answer as the layer.
    #[must_use]
    pub const fn new(reason: Reason) -> Self {
        Self {
            reason,
            source_error: None,
        }
    }

    /// What the HTTP side makes of a cutoff check: admitted passes, revoked and refused are 401s,
    /// a store that could not answer fails closed.
    pub(crate) fn from_check(checked: Result<Verdict, SourceError>) -> Result<(), Self> {
        match checked {
            Ok(Verdict::Admitted) => Ok(()),
            Ok(Verdict::Revoked) => Err(Self::new(Reason::Revoked)),
            Ok(Verdict::Refused) => Err(Self::new(Reason::SubjectRefused)),
            Err(error) => Err(Self::unavailable(error)),
        }
    }

    /// The fail-closed rejection for a cutoff store that could not answer or write.
    #[must_use]
    pub fn unavailable(error: SourceError) -> Self {
        Self {
            reason: Reason::Unavailable,
            source_error: Some(error),
        }
    }

    /// Why the request was refused.
    #[must_use]
    pub const fn reason(&self) -> Reason {
        self.reason
    }

    /// The store's error, when the reason is [`Reason::Unavailable`]. For logs, not for clients.
    #[must_use]
    pub fn source_error(&self) -> Option<&SourceError> {
        self.source_error.as_ref()
    }

    /// The HTTP status: 401 for a missing or invalid token, 400 for a malformed request, 503 when the
    /// cutoff store is unavailable, 500 for [`Reason::ServerError`].
    #[must_use]
    pub const fn status(&self) -> StatusCode {
        match self.reason {
            Reason::MalformedRequest => StatusCode::BAD_REQUEST,
            Reason::Unavailable | Reason::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Reason::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The RFC 6750 error code: none for a missing token, `invalid_request` for a malformed request,
    /// `invalid_token` for a token that was refused, and none when the store is unavailable or the
    /// server failed.
    #[must_use]
    pub const fn error_code(&self) -> Option<&'static str> {
        match self.reason {
            Reason::MissingToken
            | Reason::Unavailable
            | Reason::KeysUnavailable
            | Reason::ServerError => None,
            Reason::MalformedRequest => Some("invalid_request"),
            _ => Some("invalid_token"),
        }
    }

    /// How long the client should wait before retrying, for [`Reason::Unavailable`] and
    /// [`Reason::KeysUnavailable`].
    #[must_use]
    pub const fn retry_after(&self) -> Option<Duration> {
        match self.reason {
            Reason::Unavailable | Reason::KeysUnavailable => Some(RETRY_AFTER),
            _ => None,
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750 §3) for this rejection, or `None` when the status
    /// is not 401/400 (a 503 or a 500 challenges nobody).
    ///
    /// `realm` is written as a quoted string, escaped as needed.
    #[must_use]
    pub fn www_authenticate(&self, realm: Option<&str>) -> Option<HeaderValue> {
        if matches!(
            self.reason,
            Reason::Unavailable | Reason::KeysUnavailable | Reason::ServerError
        ) {
            return None;
        }
        let mut challenge = String::from("Bearer");
        let mut separator = " ";
        if let Some(realm) = realm {
            challenge.push_str(separator);
            push_param(&mut challenge, "realm", realm);
            separator = ", ";
        }
        if let Some(code) = self.error_code() {
            challenge.push_str(separator);
            push_param(&mut challenge, "error", code);
            challenge.push_str(", ");
            push_param(
                &mut challenge,
                "error_description",
                self.reason.description(),
            );
        }
        HeaderValue::from_str(&challenge).ok()
    }
}

impl From<Reason> for Rejection {
    fn from(reason: Reason) -> Self {
        Self::new(reason)
    }
}

impl From<SourceError> for Rejection {
    fn from(error: SourceError) -> Self {
        Self::unavailable(error)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason.description())
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source_error
            .as_ref()
            .map(|error| error as &(dyn std::error::Error + 'static))
    }
}

/// Writes `name="value"` with `value` as an RFC 9110 quoted-string; characters a header value cannot
/// carry are dropped.
fn push_param(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {}
        }
    }
    out.push('"');
}

/// Turns a [`Rejection`] into the response the client gets.
///
/// The layer calls it for every refused request, so the tonic adapter can answer with gRPC statuses
/// and an application with its own error bodies. Closures `Fn(&Rejection) -> Response<B>` are
/// responders too; pass them through [`responder_fn`], which lets the compiler infer their
/// argument and return types:
///
/// ```
/// use jwt_cutoff::{JwtCutoffLayer, Rfc6750Responder, responder_fn};
///
/// fn with_text_bodies(layer: JwtCutoffLayer) -> JwtCutoffLayer<jwt_cutoff::NoClaims, impl jwt_cutoff::Responder<String>> {
///     let rfc6750 = Rfc6750Responder::new().realm("api");
///     layer.responder(responder_fn(move |rejection| {
///         rfc6750.respond_with(rejection, rejection.reason().description().to_owned())
///     }))
/// }
/// ```
pub trait Responder<B>: Clone + Send + Sync + 'static {
    /// The response for `rejection`.
    fn respond(&self, rejection: &Rejection) -> Response<B>;
}

impl<F, B> Responder<B> for F
where
    F: Fn(&Rejection) -> Response<B> + Clone + Send + Sync + 'static,
{
    fn respond(&self, rejection: &Rejection) -> Response<B> {
        self(rejection)
    }
}

/// Makes a [`Responder`] of a closure, inferring the closure's argument (`&Rejection`) and
/// response body types; it returns the closure itself.
///
/// A closure passed straight to [`JwtCutoffLayer::responder`](crate::JwtCutoffLayer::responder)
/// without a type on its argument is inferred for one particular lifetime of the `&Rejection`
/// rather than for all of them, and so is no `Responder`: the compiler then reports
/// "implementation of `FnOnce` is not general enough", at the place that needs the layer's service
/// (axum's `route_layer`, say), not at the closure. Either write the types out
/// (`|rejection: &Rejection| -> Response<Body> { … }`) or wrap the closure in `responder_fn`:
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use jwt_cutoff::{JwtCutoffLayer, Rfc6750Responder, responder_fn};
/// use tower::{Service, ServiceBuilder};
/// # use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, Validator, VerifyingKey};
/// # let validator = Validator::builder()
/// #     .algorithms([Algorithm::HS256])
/// #     .key(VerifyingKey::hmac(b"an access secret of at least 32 bytes")?)
/// #     .build(CutoffCache::new(MemoryStore::new()))?;
///
/// let rfc6750 = Rfc6750Responder::new();
/// let text = responder_fn(move |rejection| {
///     rfc6750.respond_with(rejection, rejection.reason().description().to_owned())
/// });
/// let service = ServiceBuilder::new()
///     .layer(JwtCutoffLayer::new(validator).responder(text))
///     .service_fn(|_: Request<String>| async { Ok::<_, Infallible>(Response::new("hello".to_owned())) });
/// # fn is_service<S: Service<Request<String>>>(_: &S) {}
/// is_service(&service);
/// # Ok::<_, jwt_cutoff::ConfigError>(())
/// ```
///
/// The same closure without `responder_fn` does not compile:
///
/// ```compile_fail
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use jwt_cutoff::{JwtCutoffLayer, Rfc6750Responder};
/// use tower::{Service, ServiceBuilder};
/// # use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, Validator, VerifyingKey};
/// # let validator = Validator::builder()
/// #     .algorithms([Algorithm::HS256])
/// #     .key(VerifyingKey::hmac(b"an access secret of at least 32 bytes")?)
/// #     .build(CutoffCache::new(MemoryStore::new()))?;
///
/// let rfc6750 = Rfc6750Responder::new();
/// let service = ServiceBuilder::new()
///     .layer(JwtCutoffLayer::new(validator).responder(move |rejection| {
///         rfc6750.respond_with(rejection, rejection.reason().description().to_owned())
///     }))
///     .service_fn(|_: Request<String>| async { Ok::<_, Infallible>(Response::new("hello".to_owned())) });
/// # fn is_service<S: Service<Request<String>>>(_: &S) {}
/// is_service(&service);
/// # Ok::<_, jwt_cutoff::ConfigError>(())
/// ```
pub fn responder_fn<B, F>(responder: F) -> F
where
    F: Fn(&Rejection) -> Response<B> + Clone + Send + Sync + 'static,
{
    responder
}

/// The default responder: the status and `WWW-Authenticate` challenge of RFC 6750, `Retry-After` on
/// 503, and an empty body.
#[derive(Clone, Debug, Default)]
pub struct Rfc6750Responder {
    realm: Option<Arc<str>>,
}

impl Rfc6750Responder {
    /// A responder with no realm.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `realm="…"` to every challenge.
    #[must_use]
    pub fn realm(mut self, realm: impl Into<Arc<str>>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// The response parts for `rejection`, with `body`: for responders that only change the body.
    ///
    /// The response carries a clone of `rejection` in its extensions, so layers outside the one that
    /// refused can tell why (to log it, or to answer in a shape of their own, as
    /// jwt-cutoff-axum's `RefusalLayer` does).
    pub fn respond_with<B>(&self, rejection: &Rejection, body: B) -> Response<B> {
        let mut response = Response::new(body);
        response.extensions_mut().insert(rejection.clone());
        *response.status_mut() = rejection.status();
        let headers = response.headers_mut();
        if let Some(challenge) = rejection.www_authenticate(self.realm.as_deref()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(after) = rejection.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs()));
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl<B: Default> Responder<B> for Rfc6750Responder {
    fn respond(&self, rejection: &Rejection) -> Response<B> {
        self.respond_with(rejection, B::default())
    }
}

/// Counts and logs the outcome of a validation: a `tracing` event for a refusal (the reason, never
/// the token) and a counter either way.
pub(crate) fn recorded<T>(result: Result<T, Rejection>) -> Result<T, Rejection> {
    match &result {
        Ok(_) => crate::metrics::accepted(),
        Err(rejection) => record_refusal(rejection),
    }
    result
}

/// The refusal half of [`recorded`].
pub(crate) fn record_refusal(rejection: &Rejection) {
    let reason = rejection.reason.as_str();
    crate::metrics::rejected(reason);
    match &rejection.source_error {
        Some(error) => tracing::warn!(reason, error = %error, "jwt-cutoff: request refused"),
        None => tracing::debug!(reason, "jwt-cutoff: request refused"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_on_reason_lists_every_code_with_its_status_and_error() {
        // The match stops compiling when a reason is added, so that `Reason::ALL` and the table
        // get it too.
        for &reason in Reason::ALL {
            match reason {
                Reason::MissingToken
                | Reason::MalformedRequest
                | Reason::TokenTooLarge
                | Reason::MalformedToken
                | Reason::UnsupportedHeader
                | Reason::AlgorithmNotAllowed
                | Reason::UnknownKey
                | Reason::BadSignature
                | Reason::MissingClaim
                | Reason::InvalidClaim
                | Reason::Expired
                | Reason::NotYetValid
                | Reason::IssuedInFuture
                | Reason::WrongIssuer
                | Reason::WrongAudience
                | Reason::WrongTokenType
                | Reason::Revoked
                | Reason::SubjectRefused
                | Reason::Unavailable
                | Reason::KeysUnavailable
                | Reason::ServerError => {}
            }
        }
        let source = include_str!("reject.rs");
        for &reason in Reason::ALL {
            let code = reason.as_str();
            let row = source
                .lines()
                .find(|line| line.starts_with(&format!("/// | `{code}` |")))
                .unwrap_or_else(|| panic!("no row for {code} in the table on Reason"));
            let columns: Vec<&str> = row.split(" | ").collect();
            let rejection = Rejection::new(reason);
            let status = rejection.status().as_u16().to_string();
            assert!(
                columns
                    .get(2)
                    .is_some_and(|column| column.starts_with(&status)),
                "{row}"
            );
            let error = rejection
                .error_code()
                .map_or_else(|| "none".to_owned(), |code| format!("`{code}`"));
            assert_eq!(columns.get(3), Some(&&*error), "{row}");
        }
        let rows = source.lines().filter(|line| line.starts_with("/// | `"));
        assert_eq!(
            rows.count(),
            Reason::ALL.len(),
            "a row for a reason that is not"
        );
    }

    fn challenge(reason: Reason, realm: Option<&str>) -> Option<String> {
        Rejection::new(reason)
            .www_authenticate(realm)
            .map(|value| value.to_str().unwrap_or_default().to_owned())
    }

    #[test]
    fn missing_token_challenges_without_an_error_code() {
        assert_eq!(
            challenge(Reason::MissingToken, None).as_deref(),
            Some("Bearer")
        );
        assert_eq!(
            challenge(Reason::MissingToken, Some("api")).as_deref(),
            Some("Bearer realm=\"api\"")
        );
    }

    #[test]
    fn invalid_tokens_and_requests_carry_quoted_parameters() {
        assert_eq!(
            challenge(Reason::Expired, Some("api")).as_deref(),
            Some(
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the token has expired\""
            )
        );
        assert_eq!(
            challenge(Reason::MalformedRequest, None).as_deref(),
            Some(
                "Bearer error=\"invalid_request\", error_description=\"the Authorization header must be a single \\\"Bearer <token>\\\"\""
            )
        );
        assert_eq!(
            Rejection::new(Reason::MalformedRequest).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            Rejection::new(Reason::Revoked).status(),
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn realm_is_escaped_and_control_characters_dropped() {
        assert_eq!(
            challenge(Reason::MissingToken, Some("a\"b\\c\r\nd")).as_deref(),
            Some("Bearer realm=\"a\\\"b\\\\cd\"")
        );
    }

    #[test]
    fn server_errors_are_500_without_a_challenge() {
        let rejection = Rejection::new(Reason::ServerError);
        let response: Response<()> = Rfc6750Responder::new().respond(&rejection);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!response.headers().contains_key(header::WWW_AUTHENTICATE));
        assert!(!response.headers().contains_key(header::RETRY_AFTER));
        assert_eq!(rejection.error_code(), None);
    }

    #[test]
    fn responses_carry_their_rejection() {
        let rejection = Rejection::new(Reason::Revoked);
        let response: Response<()> = Rfc6750Responder::new().respond(&rejection);
        let carried = response
            .extensions()
            .get::<Rejection>()
            .map(Rejection::reason);
        assert_eq!(carried, Some(Reason::Revoked));
    }

    #[test]
    fn unavailable_is_503_with_retry_after_and_no_challenge() {
        let rejection = Rejection::unavailable(SourceError::new("down"));
        let response: Response<()> = Rfc6750Responder::new().respond(&rejection);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert!(!response.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}

//! The two write endpoints every app adds: logout-all for the caller, and the refresh exchange.

use std::fmt;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use jwt_cutoff::{CutoffCache, RefreshValidator, TokenIssuer, TokenPair, Verified};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::extract::Claims;
use crate::rejection::AuthRejection;
use crate::responder::with_json_type;

/// Logs the caller out from all devices: every token of its subject issued before now is refused,
/// the one it called with included. Answers 204 No Content once the cutoff is in force on this
/// instance.
///
/// # Errors
/// The store could not record the cutoff: 503 with `Retry-After`.
///
/// ```
/// use axum::extract::State;
/// use axum::http::StatusCode;
/// use jwt_cutoff::CutoffCache;
/// use jwt_cutoff_axum::{AuthRejection, Claims};
///
/// async fn logout_all(State(cutoffs): State<CutoffCache>, claims: Claims) -> Result<StatusCode, AuthRejection> {
///     jwt_cutoff_axum::logout_all(&cutoffs, &claims).await
/// }
/// ```
pub async fn logout_all<T>(
    cutoffs: &CutoffCache,
    claims: &Claims<T>,
) -> Result<StatusCode, AuthRejection> {
    cutoffs.logout_all(claims.subject()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Exchanges a refresh token for a new pair.
///
/// The refresh token goes through `validator` completely, its subject's cutoff included (read from
/// the store, not the cache), so a refresh token issued before a logout-all is refused. The new
/// pair keeps the refresh token's login instant (`auth_time`, see
/// [`TokenIssuer::refresh_pair`]), so even a refresh that slipped in before a logout reached the
/// store is refused along with its login once the logout is known. `validator` is a
/// [`RefreshValidator`], made by
/// [`ValidatorBuilder::build_refresh`](jwt_cutoff::ValidatorBuilder::build_refresh) with the
/// refresh key ([`TokenKeys::refresh_validator`](jwt_cutoff::TokenKeys::refresh_validator) holds
/// it). `extra_claims` picks the new pair's claims: `|_| ()` for none,
/// `|verified| verified.claims().clone()` to carry the refresh token's over.
///
/// The old refresh token stays valid until it expires; a logout-all ends all of them at once.
///
/// # Errors
/// The refresh token is refused (401 `invalid_token`), the store is down (503), or the pair could
/// not be issued (500).
///
/// ```
/// use axum::{Json, extract::State};
/// use jwt_cutoff::{RefreshValidator, TokenIssuer};
/// use jwt_cutoff_axum::{AuthRejection, RefreshRequest, TokenResponse};
///
/// #[derive(Clone)]
/// struct Tokens {
///     refresh: RefreshValidator, // from `ValidatorBuilder::build_refresh`
///     issuer: TokenIssuer,
/// }
///
/// async fn refresh(
///     State(tokens): State<Tokens>,
///     Json(request): Json<RefreshRequest>,
/// ) -> Result<TokenResponse, AuthRejection> {
///     jwt_cutoff_axum::refresh(&tokens.refresh, &tokens.issuer, &request, |_| ()).await
/// }
/// ```
///
/// Claims that need I/O (roles reloaded from a database, say) take the same three steps by hand:
///
/// ```
/// # use axum::{Json, extract::State};
/// # use jwt_cutoff::{RefreshValidator, TokenIssuer};
/// # use jwt_cutoff_axum::{AuthRejection, RefreshRequest, TokenResponse};
/// # #[derive(Clone)]
/// # struct Tokens { refresh: RefreshValidator, issuer: TokenIssuer }
/// # async fn load_roles(_subject: &str) -> Vec<String> { Vec::new() }
/// async fn refresh(
///     State(tokens): State<Tokens>,
///     Json(request): Json<RefreshRequest>,
/// ) -> Result<TokenResponse, AuthRejection> {
///     let verified = tokens.refresh.validate(&request.refresh_token).await?;
///     let roles = load_roles(verified.subject()).await;
///     // `refresh_pair`, not `issue_pair`: the new pair must keep the login's instant.
///     let pair = tokens.issuer.refresh_pair(&verified, &serde_json::json!({ "roles": roles }))?;
///     Ok(TokenResponse::new(pair))
/// }
/// ```
///
/// A [`Validator`](jwt_cutoff::Validator), the access-token kind a layer takes, is not a refresh
/// validator, so handing it over does not compile:
///
/// ```compile_fail
/// # use jwt_cutoff::{TokenIssuer, Validator};
/// # use jwt_cutoff_axum::{AuthRejection, RefreshRequest, TokenResponse};
/// async fn refresh(
///     access: &Validator,
///     issuer: &TokenIssuer,
///     request: &RefreshRequest,
/// ) -> Result<TokenResponse, AuthRejection> {
///     jwt_cutoff_axum::refresh(access, issuer, request, |_| ()).await
/// }
/// ```
pub async fn refresh<C, E>(
    validator: &RefreshValidator<C>,
    issuer: &TokenIssuer,
    request: &RefreshRequest,
    extra_claims: impl FnOnce(&Verified<C>) -> E,
) -> Result<TokenResponse, AuthRejection>
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    E: Serialize,
{
    let verified = validator.validate(&request.refresh_token).await?;
    let pair = issuer.refresh_pair(&verified, &extra_claims(&verified))?;
    Ok(TokenResponse::new(pair))
}

/// The body of a refresh request: `{"refresh_token": "…"}`. Read it with `Json<RefreshRequest>`.
///
/// Its `Debug` output hides the token.
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct RefreshRequest {
    /// The refresh token to exchange.
    pub refresh_token: String,
}

impl RefreshRequest {
    /// A request to exchange `refresh_token`.
    #[must_use]
    pub fn new(refresh_token: impl Into<String>) -> Self {
        Self {
            refresh_token: refresh_token.into(),
        }
    }
}

impl fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

/// A freshly issued pair as JSON, shaped like an OAuth 2 token response (RFC 6749 §5.1):
/// `{"access_token", "refresh_token", "token_type": "Bearer", "expires_in", "session_id"}`, with
/// `Cache-Control: no-store`.
///
/// Its `Debug` output hides the tokens.
#[derive(Clone, Serialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token, for the `Authorization: Bearer` header.
    pub access_token: String,
    /// The refresh token, for the refresh endpoint.
    pub refresh_token: String,
    /// Always `"Bearer"`.
    pub token_type: &'static str,
    /// Seconds until the access token expires (rounded down).
    pub expires_in: u64,
    /// The session both tokens belong to (their `sid`), the same for every pair refreshed from
    /// them: what a device list names and a "sign out that device" request sends back.
    pub session_id: String,
}

impl TokenResponse {
    /// The response for `pair`.
    #[must_use]
    pub fn new(pair: TokenPair) -> Self {
        let access = pair.access;
        let micros = access
            .expires_at
            .as_unix_micros()
            .saturating_sub(access.issued_at.as_unix_micros());
        Self {
            expires_in: u64::try_from(micros / 1_000_000).unwrap_or(0),
            access_token: access.token,
            refresh_token: pair.refresh.token,
            token_type: "Bearer",
            session_id: pair.session_id,
        }
    }
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self::new(pair)
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("session_id", &self.session_id)
            .finish()
    }
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        let Ok(body) = serde_json::to_vec(&self) else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let mut response = Response::new(Body::from(body));
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        with_json_type(response)
    }
}

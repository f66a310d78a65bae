//! The write endpoints every app adds: logging the caller out (everywhere, here, or the other
//! devices), and the refresh exchange.

use std::fmt;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use jwt_cutoff::{CutoffCache, Refresher, TokenPair, Verified};
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
    cutoffs.logout_all(claims.cutoff_subject()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Logs the caller's device out: its session (the `sid` of the token it called with) is revoked,
/// so that session's access and refresh tokens are refused from the moment this returns, on this
/// instance and on every instance push reaches; the subject's other sessions keep working. A token
/// without a session can only be covered by the subject's cutoff, so for one of those this logs the
/// subject out from all devices, the safe side. Answers 204 No Content.
///
/// # Errors
/// The store could not record the revocation: 503 with `Retry-After`.
///
/// ```
/// use axum::extract::State;
/// use axum::http::StatusCode;
/// use jwt_cutoff::CutoffCache;
/// use jwt_cutoff_axum::{AuthRejection, Claims};
///
/// async fn logout(State(cutoffs): State<CutoffCache>, claims: Claims) -> Result<StatusCode, AuthRejection> {
///     jwt_cutoff_axum::logout_session(&cutoffs, &claims).await
/// }
/// ```
pub async fn logout_session<T>(
    cutoffs: &CutoffCache,
    claims: &Claims<T>,
) -> Result<StatusCode, AuthRejection> {
    match claims.session_id() {
        Some(session) => {
            cutoffs
                .revoke_session(claims.cutoff_subject(), session)
                .await?
        }
        None => drop(cutoffs.logout_all(claims.cutoff_subject()).await?),
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes `sessions` of the caller's subject, except the caller's own session: "sign out the
/// other devices" with the list of the subject's sessions, or "sign out that device" with one.
/// Only the caller's own subject's sessions can be named: an id of another subject's session
/// revokes nothing of theirs. Which sessions exist is the application's record (a device list);
/// answers 204 No Content once every one is revoked.
///
/// # Errors
/// The store could not record a revocation: 503 with `Retry-After` (the ones before it are
/// revoked; calling again is safe).
///
/// ```
/// use axum::extract::State;
/// use axum::http::StatusCode;
/// use jwt_cutoff::CutoffCache;
/// use jwt_cutoff_axum::{AuthRejection, Claims};
///
/// async fn logout_others(State(cutoffs): State<CutoffCache>, claims: Claims) -> Result<StatusCode, AuthRejection> {
///     let sessions = vec!["the ids of the user's sessions, from the device list".to_owned()];
///     jwt_cutoff_axum::revoke_sessions(&cutoffs, &claims, sessions).await
/// }
/// ```
pub async fn revoke_sessions<T>(
    cutoffs: &CutoffCache,
    claims: &Claims<T>,
    sessions: impl IntoIterator<Item = impl AsRef<str>>,
) -> Result<StatusCode, AuthRejection> {
    for session in sessions {
        let session = session.as_ref();
        if Some(session) != claims.session_id() {
            cutoffs
                .revoke_session(claims.cutoff_subject(), session)
                .await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Exchanges a refresh token for a new pair through `refresher` (see [`Refresher`]): the token is
/// verified completely, its subject's and session's cutoffs read from the store; the new pair keeps
/// its session and login instant; and, with rotation, the token is spent, so that a copy presented
/// again after the grace window revokes the session. `extra_claims` picks the new pair's claims:
/// `|_| ()` for none, `|verified| verified.claims().clone()` to carry the refresh token's over.
///
/// # Errors
/// The refresh token is refused, spent or reused (401 `invalid_token`), a store is down (503), or
/// the pair could not be issued (500).
///
/// ```
/// use axum::{Json, extract::State};
/// use jwt_cutoff::Refresher;
/// use jwt_cutoff_axum::{AuthRejection, RefreshRequest, TokenResponse};
///
/// // `Refresher::new(refresh_validator, issuer).rotating(store)`
/// async fn refresh(
///     State(refresher): State<Refresher>,
///     Json(request): Json<RefreshRequest>,
/// ) -> Result<TokenResponse, AuthRejection> {
///     jwt_cutoff_axum::refresh(&refresher, &request, |_| ()).await
/// }
/// ```
///
/// Claims that need I/O (roles reloaded from a database, say) take the two steps by hand:
///
/// ```
/// # use axum::{Json, extract::State};
/// # use jwt_cutoff::Refresher;
/// # use jwt_cutoff_axum::{AuthRejection, RefreshRequest, TokenResponse};
/// # async fn load_roles(_subject: &str) -> Vec<String> { Vec::new() }
/// async fn refresh(
///     State(refresher): State<Refresher>,
///     Json(request): Json<RefreshRequest>,
/// ) -> Result<TokenResponse, AuthRejection> {
///     let verified = refresher.validator().validate(&request.refresh_token).await?;
///     let roles = load_roles(verified.subject()).await;
///     let claims = serde_json::json!({ "roles": roles });
///     Ok(TokenResponse::new(refresher.exchange(&verified, &claims).await?))
/// }
/// ```
pub async fn refresh<C, E>(
    refresher: &Refresher<C>,
    request: &RefreshRequest,
    extra_claims: impl FnOnce(&Verified<C>) -> E,
) -> Result<TokenResponse, AuthRejection>
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    E: Serialize,
{
    let pair = refresher
        .refresh(&request.refresh_token, extra_claims)
        .await?;
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

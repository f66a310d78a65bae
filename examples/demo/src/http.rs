//! The HTTP API (JSON in and out) and the web page, with axum.
//!
//! | route | token | answer |
//! | --- | --- | --- |
//! | `POST /auth/signup` `{"username","password"}` | - | 201 `{"id","username"}`, 409 taken, 400 invalid |
//! | `POST /auth/login` `{"username","password"}` | - | 200 token pair, 401 bad credentials |
//! | `POST /auth/refresh` `{"refresh_token"}` | - | 200 new token pair in the same session (the refresh token is spent), 401 refused |
//! | `POST /auth/logout` | access | 204: this device's session is revoked |
//! | `POST /auth/logout-others` | access | 204: every other session of the user is revoked |
//! | `POST /auth/logout-all` | access | 204: every token of the user issued until now is refused |
//! | `GET /api/sessions` | access | 200 `{"sessions": [{"id","created_at","last_used_at","user_agent","current"}]}`: the user's live sessions |
//! | `DELETE /api/sessions/{id}` | access | 204: that session is revoked; 404 for an id that is not one of the user's live sessions |
//! | `GET /api/me` | access | 200 `{"sub","iss","username","iat","exp"}` (`iss` null for the demo's own tokens; `username` from a provider's `preferred_username`, or null) |
//! | `DELETE /api/me` | access | 204: the user is deleted and all their tokens refused |
//! | `POST /backchannel-logout` `logout_token=…` (form) | - | 200: a trusted provider's back-channel logout done; 400 invalid; 503 keys or store unavailable |
//! | `GET /healthz`, `GET /` | - | 200, the web page |
//!
//! A trusted provider's (`--oidc-issuer`) access token works on `/api/me`, `/auth/logout` and
//! `/auth/logout-all` (that provider's subject); the routes of the demo's own accounts (sessions,
//! `DELETE /api/me`) answer it 403.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use jwt_cutoff::{
    BackChannelLogout, IssueError, JwtCutoffLayer, Reason, RefreshError, Rejection, SourceError,
};
use jwt_cutoff_axum::{
    AuthRejection, Claims, JsonResponder, PublishedKeys, RefreshRequest, TokenResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::auth::{Auth, Profile};
use crate::db::Database;
use crate::page;
use crate::sessions;
use crate::users::{self, SignupError};

/// What every handler can reach.
#[derive(Clone, Debug)]
pub(crate) struct App {
    pub(crate) auth: Auth,
    pub(crate) database: Database,
    /// Verified against for unknown usernames, so they cost as much as a wrong password.
    pub(crate) dummy_hash: std::sync::Arc<str>,
}

impl FromRef<App> for BackChannelLogout {
    fn from_ref(app: &App) -> Self {
        app.auth.logouts.clone()
    }
}

/// The whole HTTP side.
pub(crate) fn router(app: App) -> Router {
    // Refusals answer per RFC 6750 (401 + WWW-Authenticate, 400, 503 + Retry-After), in JSON.
    let guard = JwtCutoffLayer::new(app.auth.access.clone()).responder(JsonResponder::new());
    Router::new()
        .route("/api/me", get(me).delete(delete_me))
        .route("/auth/logout-all", post(logout_all))
        .route("/auth/logout", post(logout))
        .route("/auth/logout-others", post(logout_others))
        .route("/api/sessions", get(list_sessions))
        .route("/api/sessions/{id}", delete(delete_session))
        .route_layer(guard) // the routes above need an access token; those below do not
        .route("/auth/signup", post(signup))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route(
            "/backchannel-logout",
            post(jwt_cutoff_axum::backchannel_logout),
        )
        .route("/healthz", get(healthz))
        .merge(
            app.auth
                .published
                .as_ref()
                .map(PublishedKeys::routes)
                .unwrap_or_default(),
        )
        .route("/", get(page::index))
        .fallback(not_found)
        .with_state(app)
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct UserBody {
    id: String,
    username: String,
}

async fn signup(
    State(app): State<App>,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<(StatusCode, Json<UserBody>), ApiError> {
    match users::create(&app.database, &body.username, body.password).await {
        Ok(user) => Ok((
            StatusCode::CREATED,
            Json(UserBody {
                id: user.id,
                username: user.username,
            }),
        )),
        Err(SignupError::Invalid(why)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            why,
        )),
        Err(SignupError::Taken) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "username_taken",
            "this username is taken",
        )),
        Err(SignupError::Failed(error)) => Err(ApiError::unavailable(error)),
    }
}

async fn login(
    State(app): State<App>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<TokenResponse, ApiError> {
    let user = users::authenticate(
        &app.database,
        &app.dummy_hash,
        &body.username,
        body.password,
    )
    .await?
    // One answer for an unknown user and a wrong password.
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "wrong username or password",
        )
    })?;
    let profile = Profile::of(user.username);
    let pair = app.auth.issuer.issue_pair(&user.id, &profile)?;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    sessions::started(&app.database, &user.id, &pair, user_agent).await?;
    Ok(TokenResponse::new(pair))
}

async fn refresh(
    State(app): State<App>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<TokenResponse, ApiError> {
    // Signature, expiry, token type (refresh only), the user's and the session's cutoffs: 401 when
    // any fails.
    let refresher = &app.auth.refresher;
    let verified = refresher.validator().validate(&body.refresh_token).await?;
    // A deleted user is refused by the cutoff already; the lookup also picks up a new username.
    let user = users::by_id(&app.database, verified.subject())
        .await?
        .ok_or_else(|| ApiError::from(Rejection::new(Reason::SubjectRefused)))?;
    let profile = Profile::of(user.username);
    // The new pair keeps the session and the login instant of the refresh token, so a logout
    // covers it too; the refresh token is spent, and a copy used again later revokes the session.
    let pair = refresher.exchange(&verified, &profile).await?;
    sessions::refreshed(&app.database, &pair).await?;
    Ok(TokenResponse::new(pair))
}

async fn logout(
    State(app): State<App>,
    claims: Claims<Profile>,
) -> Result<StatusCode, AuthRejection> {
    jwt_cutoff_axum::logout_session(&app.auth.cutoffs, &claims).await
}

async fn logout_others(
    State(app): State<App>,
    claims: Claims<Profile>,
) -> Result<StatusCode, ApiError> {
    let others = live_sessions(&app, own_user(&claims)?).await?;
    let ids: Vec<String> = others.into_iter().map(|session| session.id).collect();
    Ok(jwt_cutoff_axum::revoke_sessions(&app.auth.cutoffs, &claims, ids).await?)
}

#[derive(Serialize)]
struct SessionsBody {
    sessions: Vec<SessionBody>,
}

#[derive(Serialize)]
struct SessionBody {
    id: String,
    /// Seconds since the epoch, with microseconds.
    created_at: f64,
    last_used_at: f64,
    user_agent: String,
    current: bool,
}

async fn list_sessions(
    State(app): State<App>,
    claims: Claims<Profile>,
) -> Result<Response, ApiError> {
    let sessions = live_sessions(&app, own_user(&claims)?).await?;
    let sessions = sessions
        .into_iter()
        .map(|session| SessionBody {
            current: claims.session_id() == Some(session.id.as_str()),
            created_at: session.created_at.as_unix_secs_f64(),
            last_used_at: session.last_used_at.as_unix_secs_f64(),
            id: session.id,
            user_agent: session.user_agent,
        })
        .collect();
    Ok(no_store(Json(SessionsBody { sessions }).into_response()))
}

async fn delete_session(
    State(app): State<App>,
    claims: Claims<Profile>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    // Only the caller's own live sessions: another user's id is as unknown as a made-up one.
    let sessions = live_sessions(&app, own_user(&claims)?).await?;
    if !sessions.iter().any(|session| session.id == id) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such session",
        ));
    }
    app.auth
        .cutoffs
        .revoke_session(own_user(&claims)?, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The id of the demo's own user the token speaks for: a provider's token has no account, no
/// device list and nothing to delete here (its `sub` could even equal a demo user's id).
fn own_user(claims: &Claims<Profile>) -> Result<&str, ApiError> {
    if claims.trusted_issuer().is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this account is kept by its identity provider",
        ));
    }
    Ok(claims.subject())
}

async fn live_sessions(app: &App, user_id: &str) -> Result<Vec<sessions::Session>, ApiError> {
    sessions::live(&app.database, &app.auth.cutoffs, user_id)
        .await
        .map_err(|error| match error {
            sessions::LiveError::Database(error) => error.into(),
            sessions::LiveError::Cutoffs(error) => error.into(),
        })
}

async fn logout_all(
    State(app): State<App>,
    claims: Claims<Profile>,
) -> Result<StatusCode, AuthRejection> {
    // Returns once the cutoff is stored and in force here; other instances get it by push.
    jwt_cutoff_axum::logout_all(&app.auth.cutoffs, &claims).await
}

#[derive(Serialize)]
struct MeBody<'a> {
    sub: &'a str,
    /// The trusted provider that issued the token; null for the demo's own.
    iss: Option<&'a str>,
    username: Option<&'a str>,
    /// NumericDate with microseconds.
    iat: f64,
    exp: i64,
}

async fn me(claims: Claims<Profile>) -> Response {
    no_store(
        Json(MeBody {
            sub: claims.subject(),
            iss: claims.trusted_issuer(),
            username: claims.username(),
            iat: claims.issued_at().as_unix_secs_f64(),
            exp: claims.expires_at().as_unix_secs(),
        })
        .into_response(),
    )
}

async fn delete_me(
    State(app): State<App>,
    claims: Claims<Profile>,
) -> Result<StatusCode, ApiError> {
    // Refuse first: if deleting then fails, the account is locked rather than its tokens alive.
    app.auth.cutoffs.refuse(own_user(&claims)?).await?;
    users::delete(&app.database, own_user(&claims)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// A JSON request body. Unlike `axum::Json` it does not insist on a `Content-Type` (so a plain
/// `curl -d` works), and it answers in this API's JSON: 400 for a body that is not JSON, 422 for
/// JSON without the expected fields.
struct JsonBody<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| {
                let (status, description) = match error.classify() {
                    serde_json::error::Category::Data => {
                        (StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
                    }
                    _ => (
                        StatusCode::BAD_REQUEST,
                        format!("the body is not valid JSON: {error}"),
                    ),
                };
                ApiError::new(status, "invalid_request", description).into_response()
            })
    }
}

/// An error answer: `{"error", "error_description"}` with a status; or the library's refusal.
#[derive(Debug)]
pub(crate) enum ApiError {
    Plain {
        status: StatusCode,
        error: &'static str,
        description: Cow<'static, str>,
    },
    Auth(AuthRejection),
}

impl ApiError {
    fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::Plain {
            status,
            error,
            description: description.into(),
        }
    }

    /// The database failed: logged here, 503 there.
    fn unavailable(error: impl std::fmt::Display) -> Self {
        eprintln!("warning: the database failed: {error}");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the database is unavailable right now",
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::unavailable(error)
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        Self::Auth(rejection.into())
    }
}

impl From<SourceError> for ApiError {
    fn from(error: SourceError) -> Self {
        Self::Auth(error.into())
    }
}

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        Self::Auth(error.into())
    }
}

impl From<AuthRejection> for ApiError {
    fn from(rejection: AuthRejection) -> Self {
        Self::Auth(rejection)
    }
}

impl From<IssueError> for ApiError {
    fn from(error: IssueError) -> Self {
        Self::Auth(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Auth(rejection) => rejection.into_response(),
            Self::Plain {
                status,
                error,
                description,
            } => {
                let body = serde_json::json!({ "error": error, "error_description": description });
                let mut response = no_store((status, Json(body)).into_response());
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                }
                response
            }
        }
    }
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

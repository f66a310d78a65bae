//! A small axum server with "log out from all devices".
//!
//! Run with `cargo run -p example-axum`, then in another terminal:
//!
//! ```sh
//! curl -s -X POST localhost:3000/login -H 'content-type: application/json' \
//!      -d '{"username":"alice","password":"wonderland"}'            # -> {"access_token":…}
//! curl -s localhost:3000/me -H "authorization: Bearer $ACCESS"        # -> hello Alice (alice)
//! curl -s localhost:3000/ -H "authorization: Bearer $ACCESS"          # optional auth
//! curl -s -X POST localhost:3000/refresh -H 'content-type: application/json' \
//!      -d "{\"refresh_token\":\"$REFRESH\"}"                         # -> a new pair
//! curl -si -X POST localhost:3000/logout-all -H "authorization: Bearer $ACCESS"  # -> 204
//! curl -si localhost:3000/me -H "authorization: Bearer $ACCESS"       # -> 401, revoked
//! ```
//!
//! Every refusal (no token, a revoked one, a failed refresh) answers in this app's own JSON
//! shape, `{"code": "revoked", "message": "the token has been revoked"}`, through one
//! `RefusalLayer`. Warnings and errors (a cutoff store that fails, a handler asking for claims
//! the layer does not provide) are logged to stdout; each refusal is a DEBUG event.
//!
//! Set `ADDR` to listen elsewhere (default `127.0.0.1:3000`).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use jwt_cutoff::{
    Algorithm, CutoffCache, JwtCutoffLayer, MemoryStore, Refresher, Rejection, Rfc6750Responder,
    TokenKeys,
};
use jwt_cutoff_axum::{AuthRejection, Claims, RefreshRequest, RefusalLayer, TokenResponse};
use serde::{Deserialize, Serialize};
use tracing_subscriber::filter::LevelFilter;

// Demo secrets: load real ones from your secret store.
const ACCESS_SECRET: &[u8] = b"demo access secret, at least 32 bytes long";
const REFRESH_SECRET: &[u8] = b"demo refresh secret, at least 32 bytes long";

/// Our own claims, carried in every token next to the registered ones.
#[derive(Clone, Serialize, Deserialize)]
struct Profile {
    name: String,
}

#[derive(Clone)]
struct AppState {
    cutoffs: CutoffCache,
    refresher: Refresher<Profile>,
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// Public: swaps the demo user's password for a token pair.
async fn login(
    State(app): State<AppState>,
    Json(login): Json<Login>,
) -> Result<TokenResponse, StatusCode> {
    if login.username != "alice" || login.password != "wonderland" {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let profile = Profile {
        name: "Alice".to_owned(),
    };
    let pair = app
        .refresher
        .issuer()
        .issue_pair(&login.username, &profile)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(TokenResponse::new(pair))
}

/// Public: a refresh token (in the body) for a new pair; refused after a logout-all.
async fn refresh(
    State(app): State<AppState>,
    Json(request): Json<RefreshRequest>,
) -> Result<TokenResponse, AuthRejection> {
    jwt_cutoff_axum::refresh(&app.refresher, &request, |verified| {
        verified.claims().clone()
    })
    .await
}

/// Guarded: needs a valid access token.
async fn me(claims: Claims<Profile>) -> String {
    format!("hello {} ({})\n", claims.name, claims.subject())
}

/// Guarded: every token of the caller issued until now stops working.
async fn logout_all(
    State(app): State<AppState>,
    claims: Claims<Profile>,
) -> Result<StatusCode, AuthRejection> {
    jwt_cutoff_axum::logout_all(&app.cutoffs, &claims).await
}

/// This app's shape for every refusal: the RFC 6750 status and headers, and our own JSON body.
/// (A function is a responder as it is; a closure goes through `jwt_cutoff::responder_fn`.)
fn our_error(rejection: &Rejection) -> Response<Body> {
    let reason = rejection.reason();
    let body = serde_json::json!({ "code": reason.as_str(), "message": reason.description() });
    let mut response =
        Rfc6750Responder::new().respond_with(rejection, Body::from(body.to_string()));
    let json = HeaderValue::from_static("application/json");
    response.headers_mut().insert(header::CONTENT_TYPE, json);
    response
}

/// Optional auth: works without a token, but a bad or revoked one is still refused.
async fn home(claims: Option<Claims<Profile>>) -> String {
    match claims {
        Some(claims) => format!("welcome back, {}\n", claims.name),
        None => "hello stranger; POST /login to sign in\n".to_owned(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Without a subscriber the library's warnings and errors (a store down, a handler asking for
    // claims the layer does not provide) go nowhere.
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::INFO)
        .try_init()
        .map_err(|error| error.to_string())?;

    let store = MemoryStore::new();
    let cutoffs = CutoffCache::new(store.clone());
    // The keys of both kinds of token, once: the issuer and both validators come from them.
    let keys = TokenKeys::hmac(ACCESS_SECRET, REFRESH_SECRET, Algorithm::HS256)?;
    let access = keys
        .access_validator()
        .build(cutoffs.clone())?
        .with_claims::<Profile>();
    let refresh_validator = keys
        .refresh_validator()
        .build_refresh(cutoffs.clone())?
        .with_claims::<Profile>();
    let state = AppState {
        cutoffs: cutoffs.clone(),
        // Each refresh token works once; a copy presented again later revokes its session.
        refresher: Refresher::new(refresh_validator, keys.issuer().build()?).rotating(store),
    };

    let guard = JwtCutoffLayer::new(access);
    let guarded = Router::new()
        .route("/me", get(me))
        .route("/logout-all", post(logout_all))
        .route_layer(guard.clone());
    let optional = Router::new()
        .route("/", get(home))
        .route_layer(guard.optional());
    let app = Router::new()
        .route("/login", post(login))
        .route("/refresh", post(refresh))
        .merge(guarded)
        .merge(optional)
        .with_state(state)
        // One line for one error shape: the guard's, the extractor's and the helpers' refusals.
        .layer(RefusalLayer::new(our_error));

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

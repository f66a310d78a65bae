//! [axum] 0.8 integration for [`jwt_cutoff`]: "log out from all devices" for JWT bearer tokens.
//!
//! The core's [`JwtCutoffLayer`] does every check (signature, expiry, token type, the subject's
//! cutoff). This crate only translates for axum:
//! - [`Claims<T>`]: the extractor for the verified token, and `Option<Claims<T>>` for routes where a
//!   token is optional;
//! - [`JsonResponder`]: the layer's refusals with a small JSON body, and [`AuthRejection`], the same
//!   answers for the extractor and for handlers that `?` a core
//!   [`Rejection`](jwt_cutoff::Rejection), a store error or an issuer error;
//! - [`RefusalLayer`]: every refusal of the routes inside it in one shape of your own;
//! - the write endpoints: [`logout_all`] (every device), [`logout_session`] (this device),
//!   [`revoke_sessions`] (other devices, by session id) and [`refresh`] (with rotation, through a
//!   [`Refresher`](jwt_cutoff::Refresher)), with [`RefreshRequest`] and [`TokenResponse`].
//!
//! # Example
//!
//! ```
//! use axum::{Json, Router, extract::State, http::StatusCode, routing::{get, post}};
//! use jwt_cutoff::{Algorithm, CutoffCache, JwtCutoffLayer, MemoryStore, Refresher, TokenIssuer, TokenKeys};
//! use jwt_cutoff_axum::{AuthRejection, Claims, JsonResponder, RefreshRequest, TokenResponse};
//!
//! #[derive(Clone)]
//! struct App {
//!     cutoffs: CutoffCache,
//!     refresher: Refresher,
//!     issuer: TokenIssuer,
//! }
//!
//! async fn me(claims: Claims) -> String {
//!     format!("hello {}", claims.subject())
//! }
//!
//! async fn logout_all(State(app): State<App>, claims: Claims) -> Result<StatusCode, AuthRejection> {
//!     jwt_cutoff_axum::logout_all(&app.cutoffs, &claims).await
//! }
//!
//! async fn logout(State(app): State<App>, claims: Claims) -> Result<StatusCode, AuthRejection> {
//!     jwt_cutoff_axum::logout_session(&app.cutoffs, &claims).await
//! }
//!
//! async fn refresh(State(app): State<App>, Json(request): Json<RefreshRequest>) -> Result<TokenResponse, AuthRejection> {
//!     jwt_cutoff_axum::refresh(&app.refresher, &request, |_| ()).await
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = TokenKeys::hmac(
//!     b"an access secret of at least 32 bytes",
//!     b"a refresh secret of at least 32 bytes",
//!     Algorithm::HS256,
//! )?;
//! let store = MemoryStore::new();
//! let cutoffs = CutoffCache::new(store.clone());
//! let issuer = keys.issuer().build()?;
//! let refresh_validator = keys.refresh_validator().build_refresh(cutoffs.clone())?;
//! let app = App {
//!     cutoffs: cutoffs.clone(),
//!     // Each refresh token works once; one presented again after the grace window revokes its session.
//!     refresher: Refresher::new(refresh_validator, issuer.clone()).rotating(store),
//!     issuer,
//! };
//! let guard = JwtCutoffLayer::new(keys.access_validator().build(cutoffs.clone())?)
//!     .responder(JsonResponder::new());
//!
//! let router = Router::new()
//!     .route("/me", get(me))
//!     .route("/logout-all", post(logout_all))
//!     .route("/logout", post(logout))
//!     .route_layer(guard) // the routes above need an access token
//!     .route("/refresh", post(refresh)) // this one reads a refresh token from its body
//!     .with_state(app.clone());
//!
//! // Try it without a socket:
//! use axum::{body::Body, http::Request};
//! use tower::ServiceExt as _;
//! let token = app.issuer.issue_access("alice", &())?.token;
//! let me = || Request::get("/me").header("authorization", format!("Bearer {token}")).body(Body::empty());
//! assert_eq!(router.clone().oneshot(me()?).await?.status(), StatusCode::OK);
//! cutoffs.logout_all("alice").await?;
//! assert_eq!(router.clone().oneshot(me()?).await?.status(), StatusCode::UNAUTHORIZED);
//! # Ok(())
//! # }
//! ```
//!
//! # Where the layer goes
//!
//! - [`Router::route_layer`](axum::Router::route_layer) guards the routes added before it, and
//!   only requests that match one of them (an unknown path stays a 404, not a 401). Add the
//!   public routes (login, refresh) after it, or merge a guarded router into a public one.
//! - [`Router::layer`](axum::Router::layer) guards everything, fallback included. With
//!   [`JwtCutoffLayer::optional`] it suits a router where every route reads
//!   `Option<Claims<T>>`.
//! - **CORS goes outside the guard.** A browser's preflight (`OPTIONS` with `Origin` and
//!   `Access-Control-Request-Method`) carries no `Authorization` header; a `CorsLayer` outside the
//!   guard answers it before the guard sees it, and adds the CORS headers to the guard's 401s so the
//!   page can read them. Inside the guard, every preflight is a 401. In axum, a layer added later
//!   wraps the ones before it, so add the `CorsLayer` after the guard (and list `WWW-Authenticate`
//!   in its exposed headers if the page reads it). Timeouts and tracing go outside too, so they
//!   cover the guard's cutoff lookup and log its refusals:
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, http::{StatusCode, header}, routing::get};
//! use jwt_cutoff::{Algorithm, CutoffCache, JwtCutoffLayer, MemoryStore, Validator, VerifyingKey};
//! use jwt_cutoff_axum::{Claims, JsonResponder};
//! use tower_http::{cors::CorsLayer, timeout::TimeoutLayer, trace::TraceLayer};
//!
//! # fn main() -> Result<(), jwt_cutoff::ConfigError> {
//! # let validator = Validator::builder()
//! #     .algorithms([Algorithm::HS256])
//! #     .key(VerifyingKey::hmac(b"an access secret of at least 32 bytes")?)
//! #     .build(CutoffCache::new(MemoryStore::new()))?;
//! let app: Router = Router::new()
//!     .route("/me", get(|claims: Claims| async move { claims.subject().to_owned() }))
//!     .route_layer(JwtCutoffLayer::new(validator).responder(JsonResponder::new())) // innermost
//!     .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(10)))
//!     .layer(CorsLayer::permissive().expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER]))
//!     .layer(TraceLayer::new_for_http()); // outermost
//! # Ok(())
//! # }
//! ```
//!
//! # Shaping the refusals
//!
//! Refusals come from three places: the layer (its handlers never run), the [`Claims`]
//! extractor, and the handlers, which return [`AuthRejection`] (from [`logout_all`], [`refresh`],
//! or their own `?`). All three answer as RFC 6750 says (status, `WWW-Authenticate`,
//! `Retry-After` on 503, `Cache-Control: no-store`); the body is the responder's.
//!
//! - The layer answers with [`JwtCutoffLayer::responder`]: the default
//!   [`Rfc6750Responder`](jwt_cutoff::Rfc6750Responder) (empty body) or [`JsonResponder`].
//!   [`AuthRejection`] answers like [`JsonResponder`].
//! - **One shape of your own for all three**: one [`RefusalLayer`] around the routes. Every
//!   refusal carries its [`Rejection`](jwt_cutoff::Rejection) in the response extensions, and the
//!   layer answers it with your [`Responder`](jwt_cutoff::Responder) instead:
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use jwt_cutoff::{JwtCutoffLayer, Rfc6750Responder, responder_fn};
//! use jwt_cutoff_axum::{Claims, RefusalLayer};
//! # use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, Validator, VerifyingKey};
//! # let validator = Validator::builder()
//! #     .algorithms([Algorithm::HS256])
//! #     .key(VerifyingKey::hmac(b"an access secret of at least 32 bytes")?)
//! #     .build(CutoffCache::new(MemoryStore::new()))?;
//!
//! let rfc6750 = Rfc6750Responder::new().realm("shop");
//! let app: Router = Router::new()
//!     .route("/me", get(|claims: Claims| async move { claims.subject().to_owned() }))
//!     .route_layer(JwtCutoffLayer::new(validator))
//!     .layer(RefusalLayer::new(responder_fn(move |rejection| {
//!         rfc6750.respond_with(rejection, Body::from(format!("sorry: {}", rejection.reason())))
//!     })));
//! # Ok::<_, jwt_cutoff::ConfigError>(())
//! ```
//!
//! A closure responder needs [`responder_fn`](jwt_cutoff::responder_fn) (or its argument and
//! return types written out): without it the compiler says "implementation of `FnOnce` is not
//! general enough", pointing at `route_layer` or `layer` rather than at the closure.
//!
//! - **Your own error type** for handlers: convert [`AuthRejection`] into it and answer its
//!   [`rejection`](AuthRejection::rejection) with your responder. The conversion loses no log:
//!   an `AuthRejection` logs what the server must know (a store or issuer error, a
//!   misconfiguration) when it is made, not when it is answered.
//!
//! # Crypto backend features
//!
//! `aws-lc-rs` (default) and `rust-crypto` select the core's backend; see [`jwt_cutoff`].
//!
//! [axum]: https://docs.rs/axum
//! [`JwtCutoffLayer`]: jwt_cutoff::JwtCutoffLayer
//! [`JwtCutoffLayer::optional`]: jwt_cutoff::JwtCutoffLayer::optional
//! [`JwtCutoffLayer::responder`]: jwt_cutoff::JwtCutoffLayer::responder

mod backchannel;
mod endpoints;
mod extract;
mod publish;
mod refusals;
mod rejection;
mod responder;

pub use backchannel::backchannel_logout;
pub use endpoints::{
    RefreshRequest, TokenResponse, logout_all, logout_session, refresh, revoke_sessions,
};
pub use extract::Claims;
pub use publish::{DISCOVERY_PATH, JWKS_PATH, PublishedKeys};
pub use refusals::{RefusalLayer, Refusals, RefusalsFuture};
pub use rejection::AuthRejection;
pub use responder::JsonResponder;

/// The core crate, for its types ([`Validator`](jwt_cutoff::Validator),
/// [`CutoffCache`](jwt_cutoff::CutoffCache), …) without a second dependency line.
pub use jwt_cutoff;

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

//! "Log out from all devices" for JWT bearer tokens, in any [tower] service.
//!
//! A JWT cannot be recalled once issued. So each subject (user) gets one instant, its *cutoff*:
//! every token issued before it is refused. Logging out from all devices moves the cutoff to now; a
//! deleted or disabled user is refused outright. [`JwtCutoffLayer`] verifies the bearer token of each
//! request, looks the subject's cutoff up through a [`CutoffSource`] (cached by [`CutoffCache`]), and
//! either refuses the request or hands the inner service a [`Verified`] in the request extensions.
//!
//! # Quick start
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use jwt_cutoff::{Algorithm, CutoffCache, JwtCutoffLayer, MemoryStore, SigningKey, TokenIssuer, Validator, Verified, VerifyingKey};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = b"an access secret of at least 32 bytes";
//! let cutoffs = CutoffCache::new(MemoryStore::new());
//! let validator = Validator::builder()
//!     .algorithms([Algorithm::HS256])
//!     .key(VerifyingKey::hmac(secret)?)
//!     .build(cutoffs.clone())?;
//! let service = ServiceBuilder::new()
//!     .layer(JwtCutoffLayer::new(validator))
//!     .service_fn(|request: Request<String>| async move {
//!         let subject = request.extensions().get::<Verified>().map(Verified::subject).unwrap_or_default();
//!         Ok::<_, Infallible>(Response::new(format!("hello {subject}")))
//!     });
//!
//! let issuer = TokenIssuer::builder(SigningKey::hmac(secret, Algorithm::HS256)?).build()?;
//! let token = issuer.issue_access("alice", &())?.token;
//! let request = || Request::get("/").header("authorization", format!("Bearer {token}")).body(String::new());
//!
//! assert_eq!(service.clone().oneshot(request()?).await?.status(), StatusCode::OK);
//! cutoffs.logout_all("alice").await?; // log alice out from all devices
//! assert_eq!(service.clone().oneshot(request()?).await?.status(), StatusCode::UNAUTHORIZED);
//! # Ok(())
//! # }
//! ```
//!
//! # What is promised
//!
//! - **Fail closed.** A cutoff store that cannot answer (error, or no answer within the lookup
//!   timeout) gives 503 with `Retry-After`, never a pass and never a 401. Opt in to a bounded
//!   [serve-stale](CutoffCacheBuilder::serve_stale_for) policy if you prefer availability.
//! - **Exact cutoffs.** Cutoffs and `iat` are compared to the microsecond. [`TokenIssuer`] writes
//!   `iat` with microseconds from the same strictly increasing clock that
//!   [`CutoffCache::logout_all`] stamps cutoffs with. So in one process, a token minted before a
//!   logout-all returned is refused and one minted after it is accepted, even within one second.
//!   Across instances the instants come from two clocks, so the promise holds up to their skew:
//!   keep it small with NTP (see the [threat model](guide::threat_model)). A token from another
//!   issuer with a whole-second `iat` in the same second as the cutoff is refused: it may have
//!   been made before the logout, and refusing is the safe side.
//! - **A refresh never launders a logout.** Tokens carry `auth_time`, the instant of the login
//!   they descend from, and a pair minted by [`TokenIssuer::refresh_pair`] keeps it. Cutoffs judge
//!   a token by the earlier of `iat` and `auth_time`, so a pair refreshed from a login made before
//!   a logout (because the refresh raced the logout, or reached an instance whose cache had not
//!   seen it yet) is refused as soon as the logout is known. Refresh validators read the cutoff
//!   from the store, never from the cache. Other issuers' `auth_time` counts too: after a logout,
//!   an identity provider's single-sign-on session from before it yields refused tokens until the
//!   user authenticates again there (see the threat model).
//! - **One device, the others, or all.** [`TokenIssuer::issue_pair`] mints a session id (128
//!   random bits) into both tokens as `sid` and [`TokenIssuer::refresh_pair`] keeps it
//!   ([`Verified::session_id`]). [`CutoffCache::revoke_session`] refuses every token of one session
//!   at once, on every instance push reaches, and nothing else; the everyone, subject and session
//!   cutoffs combine by the latest, whatever order they were written in, at the cost of one cache
//!   entry per subject.
//! - **Rotation without false alarms.** A [`Refresher`] that [rotates](Refresher::rotating) spends
//!   each refresh token (its `jti`) atomically in the store: of concurrent refreshes with one token
//!   exactly one succeeds, across instances too; a retry within the grace window is refused without
//!   revoking anything; a spent token presented after it revokes its session.
//! - **Leeway never helps a token past a cutoff.** The leeway covers `exp`, `nbf`, and an `iat`
//!   slightly in the future; an `iat` further in the future is refused, or a future-dated token
//!   would survive every logout.
//! - **Strict tokens.** `iat`, `exp` and the subject are required; NumericDates are parsed from the
//!   JSON text exactly (no floats, no exponents, no signs, no strings); claims may not repeat. The
//!   allowed algorithms are explicit, each key verifies only its own family (so an HMAC tag made
//!   with an RSA public key is refused), `none` does not exist, `crit` is refused, and
//!   `jku`/`jwk`/`x5u` are never followed. Access and refresh tokens carry `token_use` and cannot
//!   stand in for each other.
//! - **Cached tokens are still revoked.** A token seen before is answered from a cache of verified
//!   tokens ([`ValidatorBuilder::token_cache_max_bytes`]) without checking its signature again, but
//!   its subject's cutoff and its `exp`, `nbf` and `iat` are checked on every request, so a logout
//!   refuses it at once.
//! - **Staleness.** A change made through this instance's [`CutoffCache`] is in force here when the call
//!   returns. A change made elsewhere is seen within the cache TTL, or at once when the store pushes
//!   changes to [`CutoffCache::apply`].
//! - **Other issuers' tokens.** A [`TrustedIssuer`] (an OpenID provider: its keys given, at a JWK
//!   set URL, or through discovery) has its tokens verified with its keys alone, its audience
//!   required, and cutoffs of their own ([`Verified::cutoff_subject`]: `<iss>#<sub>`); its
//!   [back-channel logout](BackChannelLogout) tokens log its users out here. Keys that cannot be
//!   fetched give 503 for a token naming an unknown key, never a pass; the known keys keep
//!   working.
//! - **RFC 6750 answers.** 401 with `WWW-Authenticate: Bearer` for a missing token (no error code),
//!   400 `invalid_request` for a malformed `Authorization` header or several of them, 401
//!   `invalid_token` for a refused token. Bodies never echo the token, and logs never hold it.
//!
//! Read next: [choosing settings](guide::choosing_settings) (cache TTL against token lifetimes and
//! push) and the [threat model](guide::threat_model) (what is and is not protected).
//!
//! # Crypto backends
//!
//! Signatures are made and checked by [`jsonwebtoken`](https://docs.rs/jsonwebtoken) with one of
//! two backends:
//! - `aws-lc-rs` (default): aws-lc, the faster one for RSA and ECDSA; builds a C library.
//! - `rust-crypto`: pure Rust. It pulls the `rsa` crate, which has RUSTSEC-2023-0071 (a timing
//!   side channel in *private-key* operations). Verifying only uses public keys; if this process
//!   also *signs* with RSA keys, prefer `aws-lc-rs`.
//!
//! The features are additive, as Cargo expects: when both are on (two crates of one build asked
//! for different ones, say), `aws-lc-rs` is used. The backend is handed to jsonwebtoken directly,
//! not through its process-wide default, so both on never means a panic on the first request.
//! With neither, [`ValidatorBuilder::build`] and [`TokenIssuerBuilder::build`] return an error
//! naming the features, so a build without a backend fails at start-up, never as a "bad
//! signature" on every request.
//!
//! # Features
//! - `remote-keys`: [`TrustedIssuer::discover`] and [`TrustedIssuer::jwks`], whose keys
//!   [`KeyFetcher`] fetches over HTTP(S) (hyper, rustls on aws-lc-rs, the system's roots).
//! - `metrics`: counters through the [`metrics`](https://docs.rs/metrics) facade
//!   (`jwt_cutoff_requests_total`, `jwt_cutoff_cache_total`, `jwt_cutoff_token_cache_total`).
//!
//! [tower]: https://docs.rs/tower

mod backchannel;
mod bearer;
mod bypass;
mod claims;
mod crypto;
mod error;
#[cfg(feature = "remote-keys")]
mod fetch;
mod issuer;
mod jwks;
mod key_bundle;
mod keys;
mod layer;
mod metrics;
mod numeric_date;
mod refresh;
mod reject;
#[cfg(feature = "remote-keys")]
mod remote;
mod rotation;
mod service;
mod token_cache;
mod trust;
mod validate;

pub use backchannel::{BACKCHANNEL_LOGOUT_EVENT, BackChannelLogout, LoggedOut, LogoutError};
pub use bypass::{Bypass, NoBypass};
pub use claims::{NO_SESSION, NoClaims, TokenType, Verified};
pub use error::ConfigError;
#[cfg(feature = "remote-keys")]
pub use fetch::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_DOCUMENT_BYTES, FetchError,
    KeyFetcher, KeyFetcherBuilder, ProviderMetadata,
};
pub use issuer::{IssueError, IssuedToken, TokenIssuer, TokenIssuerBuilder, TokenPair};
pub use jwks::{JwkSet, JwksError, SkippedKey};
pub use jwt_cutoff_store::{
    BoxFuture, Cutoff, CutoffCache, CutoffCacheBuilder, CutoffChange, CutoffFuture, CutoffSource,
    DEFAULT_SESSION_RETENTION, LookupFuture, MAX_SESSION_ID_BYTES, MAX_SUBJECT_BYTES,
    MAX_TOKEN_ID_BYTES, MemoryStore, MemorySubscription, PushChannel, PushSubscription, PushTask,
    RefreshTokens, Scope, SourceError, Spend, Spent, SubjectCutoffs, Timestamp, TokenCheck,
    TokenInstant, Verdict, check_scope, check_spend, check_subject,
};
pub use key_bundle::TokenKeys;
pub use keys::{Algorithm, SigningKey, VerifyingKey};
pub use layer::JwtCutoffLayer;
pub use refresh::{DEFAULT_REUSE_GRACE, RefreshError, Refresher};
pub use reject::{Reason, Rejection, Responder, Rfc6750Responder, responder_fn};
pub use rotation::SigningKeys;
pub use service::{JwtCutoff, ResponseFuture};
pub use trust::TrustedIssuer;
#[cfg(feature = "remote-keys")]
pub use trust::{DEFAULT_KEYS_REFRESH, DEFAULT_REFETCH_COOLDOWN};
pub use validate::{RefreshValidator, Validator, ValidatorBuilder};

pub mod guide {
    //! Guides beyond the API reference.

    #[doc = include_str!("../docs/choosing-settings.md")]
    pub mod choosing_settings {}

    #[doc = include_str!("../docs/threat-model.md")]
    pub mod threat_model {}
}

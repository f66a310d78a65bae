//! [`Claims`]: the extractor for the token the layer verified.

use std::any::type_name;
use std::fmt;
use std::ops::Deref;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use http::{HeaderMap, header};
use jwt_cutoff::{NoClaims, Timestamp, TokenType, Verified};

use crate::rejection::AuthRejection;

/// The verified token of the request: its subject, its times, and the application's claims `T`.
///
/// Reads the [`Verified<T>`] that [`JwtCutoffLayer`](jwt_cutoff::JwtCutoffLayer) put in the request
/// extensions; it checks nothing itself. `T` must be the claims type of the layer's validator
/// (`Validator::with_claims::<T>()`, or [`NoClaims`] by default): extensions are keyed by type, so
/// `Claims<Other>` finds nothing.
///
/// - `Claims<T>` refuses a request without a bearer token with [`AuthRejection`] 401
///   `missing_token`: the layer guards this route in optional mode and no token came, or no layer
///   guards it.
/// - A request that carries a bearer token but reaches the handler without a `Verified<T>` was
///   verified for another claims type (`Claims<Other>` behind a layer built for `Claims<Mine>`,
///   or plain `Claims` behind a layer with claims), or no layer guards the route. That is the
///   server's mistake, not the client's: 500 `server_error`, and an error in the log that names
///   `T` and the claims types the access-token validators of this process verified (never the
///   token).
/// - `Option<Claims<T>>` gives `None` for a request without a bearer token, for routes where a
///   token is optional (and the same 500 as above for one with a token but no `Verified<T>`).
///   Pair it with [`JwtCutoffLayer::optional`](jwt_cutoff::JwtCutoffLayer::optional): a request
///   without a token reaches the handler with `None`, a bad or revoked token is still refused by
///   the layer.
///
/// `Claims<T>` dereferences to `T`, so the application's claims read as fields
/// (`claims.username`); the registered claims have methods ([`subject`](Claims::subject),
/// [`issued_at`](Claims::issued_at), …).
///
/// ```
/// use axum::{Router, routing::get};
/// use jwt_cutoff_axum::Claims;
///
/// #[derive(Clone, serde::Deserialize)]
/// struct User {
///     username: String,
/// }
///
/// async fn me(claims: Claims<User>) -> String {
///     format!("{} ({})", claims.username, claims.subject())
/// }
///
/// async fn greeting(claims: Option<Claims<User>>) -> String {
///     match claims {
///         Some(claims) => format!("hello {}", claims.username),
///         None => "hello stranger".to_owned(),
///     }
/// }
///
/// let app: Router = Router::new().route("/me", get(me)).route("/", get(greeting));
/// ```
pub struct Claims<T = NoClaims>(Verified<T>);

impl<T> Claims<T> {
    /// The subject the token speaks for (the `sub` claim, or the configured subject claim).
    #[must_use]
    pub fn subject(&self) -> &str {
        self.0.subject()
    }

    /// The subject whose cutoffs apply to the token, for logging it out: see
    /// [`Verified::cutoff_subject`].
    #[must_use]
    pub fn cutoff_subject(&self) -> &str {
        self.0.cutoff_subject()
    }

    /// The trusted issuer whose keys verified the token; `None` for this service's own: see
    /// [`Verified::trusted_issuer`].
    #[must_use]
    pub fn trusted_issuer(&self) -> Option<&str> {
        self.0.trusted_issuer()
    }

    /// When the token was issued (`iat`).
    #[must_use]
    pub fn issued_at(&self) -> Timestamp {
        self.0.issued_at()
    }

    /// When the token expires (`exp`).
    #[must_use]
    pub fn expires_at(&self) -> Timestamp {
        self.0.expires_at()
    }

    /// The session (one login, one device) the token belongs to, its `sid` claim: see
    /// [`Verified::session_id`].
    #[must_use]
    pub fn session_id(&self) -> Option<&str> {
        self.0.session_id()
    }

    /// The token's `token_use` claim, if it has one.
    #[must_use]
    pub fn token_type(&self) -> Option<TokenType> {
        self.0.token_type()
    }

    /// The application's claims (also reachable through `Deref`).
    #[must_use]
    pub fn claims(&self) -> &T {
        self.0.claims()
    }

    /// The application's claims, by value.
    #[must_use]
    pub fn into_inner(self) -> T {
        self.0.into_claims()
    }

    /// Everything the layer verified.
    #[must_use]
    pub fn verified(&self) -> &Verified<T> {
        &self.0
    }

    /// Everything the layer verified, by value.
    #[must_use]
    pub fn into_verified(self) -> Verified<T> {
        self.0
    }
}

impl<T> From<Verified<T>> for Claims<T> {
    fn from(verified: Verified<T>) -> Self {
        Self(verified)
    }
}

impl<T> Deref for Claims<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0.claims()
    }
}

impl<T: Clone> Clone for Claims<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: fmt::Debug> fmt::Debug for Claims<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Claims").field(&self.0).finish()
    }
}

fn from_extensions<T>(parts: &Parts) -> Option<Claims<T>>
where
    T: Clone + Send + Sync + 'static,
{
    parts.extensions.get::<Verified<T>>().cloned().map(Claims)
}

impl<T, S> FromRequestParts<S> for Claims<T>
where
    T: Clone + Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        from_extensions(parts).ok_or_else(|| {
            // A layer refuses every bearer token it cannot verify, and puts a `Verified` in the
            // extensions for every one it can: a bearer token here means a misconfiguration.
            if carries_bearer_token(&parts.headers) {
                AuthRejection::claims_not_provided(type_name::<T>())
            } else {
                tracing::debug!(
                    claims = type_name::<T>(),
                    "jwt-cutoff-axum: no bearer token; refusing with 401"
                );
                AuthRejection::missing_token()
            }
        })
    }
}

/// Whether an `Authorization` header names the bearer scheme (case-insensitive), well formed or not.
fn carries_bearer_token(headers: &HeaderMap) -> bool {
    headers.get_all(header::AUTHORIZATION).iter().any(|value| {
        let value = value.as_bytes();
        let scheme = value.split(|&b| b == b' ').next().unwrap_or_default();
        scheme.eq_ignore_ascii_case(b"bearer")
    })
}

impl<T, S> OptionalFromRequestParts<S> for Claims<T>
where
    T: Clone + Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match from_extensions(parts) {
            Some(claims) => Ok(Some(claims)),
            // A token came but was not verified for `T`: `None` would greet a signed-in user as
            // a stranger.
            None if carries_bearer_token(&parts.headers) => {
                Err(AuthRejection::claims_not_provided(type_name::<T>()))
            }
            None => Ok(None),
        }
    }
}

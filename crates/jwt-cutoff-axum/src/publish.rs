//! [`PublishedKeys`]: what an issuing service serves so that other services verify its tokens
//! without sharing a secret.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderValue, Response, header};
use jwt_cutoff::{ConfigError, JwkSet, SigningKey};

/// Where [`PublishedKeys::routes`] serves the JWK set, below the issuer's URL.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Where [`PublishedKeys::routes`] serves the OpenID discovery document (OpenID Connect Discovery
/// 1.0 §4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// The public halves of an issuer's signing keys as a JWK set, and a discovery document naming
/// the issuer and where the set is: what a [`TrustedIssuer::discover`] of another service
/// fetches. Publish the next key beside the current one before signing with it, and keep the
/// previous one published until the last token it signed has expired.
///
/// [`TrustedIssuer::discover`]: jwt_cutoff::TrustedIssuer
///
/// ```
/// use axum::Router;
/// use jwt_cutoff::{Algorithm, SigningKey};
/// use jwt_cutoff_axum::PublishedKeys;
///
/// let key = SigningKey::ec_pem(include_bytes!("../../jwt-cutoff/tests/keys/ec_private.pem"), Algorithm::ES256)?.kid("2026-12");
/// let published = PublishedKeys::new("https://auth.example.com", [&key])?;
/// let app: Router = Router::new().merge(published.routes());
/// # Ok::<_, jwt_cutoff::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct PublishedKeys {
    jwks: Arc<str>,
    discovery: Arc<str>,
}

impl PublishedKeys {
    /// The documents for `issuer` (the tokens' `iss`, an `https://` URL without a trailing
    /// slash, served at its root) publishing `keys`.
    ///
    /// # Errors
    /// A key is an HMAC secret (it has no public half), or the crate has no crypto backend.
    pub fn new<'a>(
        issuer: &str,
        keys: impl IntoIterator<Item = &'a SigningKey>,
    ) -> Result<Self, ConfigError> {
        let keys: Vec<&SigningKey> = keys.into_iter().collect();
        let jwks = JwkSet::document(keys.iter().copied())?;
        let mut algorithms: Vec<&str> = keys.iter().map(|key| key.algorithm().name()).collect();
        algorithms.dedup();
        let discovery = serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("{}{JWKS_PATH}", issuer.trim_end_matches('/')),
            "id_token_signing_alg_values_supported": algorithms,
        });
        Ok(Self {
            jwks: jwks.into(),
            discovery: discovery.to_string().into(),
        })
    }

    /// The JWK set document.
    #[must_use]
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// The discovery document.
    #[must_use]
    pub fn discovery(&self) -> &str {
        &self.discovery
    }

    /// `GET` [`JWKS_PATH`] and [`DISCOVERY_PATH`], as JSON that caches may keep five minutes (a
    /// verifier fetches again at once for a key it does not know).
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let jwks = Arc::clone(&self.jwks);
        let discovery = Arc::clone(&self.discovery);
        Router::new()
            .route(JWKS_PATH, get(move || document(Arc::clone(&jwks))))
            .route(
                DISCOVERY_PATH,
                get(move || document(Arc::clone(&discovery))),
            )
    }
}

async fn document(text: Arc<str>) -> Response<Body> {
    let mut response = Response::new(Body::from(text.to_string()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

//! [`PublishedKeys`]: what an issuing service serves so that other services verify its tokens
//! without sharing a secret.

use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderValue, Response, header};
use jwt_cutoff::{ConfigError, JwkSet, SigningKey, SigningKeys};

/// Where [`PublishedKeys::routes`] serves the JWK set, below the issuer's URL.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Where [`PublishedKeys::routes`] serves the OpenID discovery document (OpenID Connect Discovery
/// 1.0 §4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// The public halves of an issuer's signing keys as a JWK set, and a discovery document naming
/// the issuer and where the set is: what a [`TrustedIssuer::discover`] of another service
/// fetches.
///
/// Built from fixed keys ([`new`](Self::new)), or [following](Self::following) a
/// [`SigningKeys`], whose rotations it publishes as they happen: the next key before it signs,
/// the previous one until the tokens it signed have expired.
///
/// [`TrustedIssuer::discover`]: jwt_cutoff::TrustedIssuer
///
/// ```
/// use axum::Router;
/// use jwt_cutoff::{Algorithm, SigningKey, SigningKeys};
/// use jwt_cutoff_axum::PublishedKeys;
/// use std::time::Duration;
///
/// let key = SigningKey::ec_pem(include_bytes!("../../jwt-cutoff/tests/keys/ec_private.pem"), Algorithm::ES256)?.kid("2026-12");
/// let keys = SigningKeys::new(key, Duration::from_secs(600))?; // also for the TokenIssuer
/// let published = PublishedKeys::following("https://auth.example.com", &keys)?;
/// let app: Router = Router::new().merge(published.routes());
/// # Ok::<_, jwt_cutoff::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct PublishedKeys {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    issuer: String,
    /// `None` for fixed keys.
    following: Option<SigningKeys>,
    documents: RwLock<Documents>,
}

/// The documents for one generation of the keys.
#[derive(Clone, Debug)]
struct Documents {
    generation: u64,
    jwks: Arc<str>,
    discovery: Arc<str>,
}

impl Documents {
    fn new<'a>(
        issuer: &str,
        keys: impl IntoIterator<Item = &'a SigningKey>,
        generation: u64,
    ) -> Result<Self, ConfigError> {
        let keys: Vec<&SigningKey> = keys.into_iter().collect();
        let jwks = JwkSet::document(keys.iter().copied())?;
        let mut algorithms: Vec<&str> = keys.iter().map(|key| key.algorithm().name()).collect();
        algorithms.sort_unstable();
        algorithms.dedup();
        let discovery = serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("{}{JWKS_PATH}", issuer.trim_end_matches('/')),
            "id_token_signing_alg_values_supported": algorithms,
        });
        Ok(Self {
            generation,
            jwks: jwks.into(),
            discovery: discovery.to_string().into(),
        })
    }
}

impl PublishedKeys {
    /// The documents for `issuer` (the tokens' `iss`, an `https://` URL without a trailing
    /// slash, served at its root) publishing `keys`, which never change.
    ///
    /// # Errors
    /// A key is an HMAC secret (it has no public half), or the crate has no crypto backend.
    pub fn new<'a>(
        issuer: &str,
        keys: impl IntoIterator<Item = &'a SigningKey>,
    ) -> Result<Self, ConfigError> {
        Ok(Self::with(issuer, None, Documents::new(issuer, keys, 0)?))
    }

    /// The documents for `issuer` publishing what `keys` publishes at the time: each request
    /// answers with the keys after the latest rotation.
    ///
    /// # Errors
    /// The keys are HMAC secrets (they have no public half), or the crate has no crypto backend.
    pub fn following(issuer: &str, keys: &SigningKeys) -> Result<Self, ConfigError> {
        let generation = keys.generation();
        let documents = Documents::new(issuer, &keys.published(), generation)?;
        Ok(Self::with(issuer, Some(keys.clone()), documents))
    }

    fn with(issuer: &str, following: Option<SigningKeys>, documents: Documents) -> Self {
        Self {
            inner: Arc::new(Inner {
                issuer: issuer.to_owned(),
                following,
                documents: RwLock::new(documents),
            }),
        }
    }

    /// The documents now, built again when the keys followed have changed.
    fn documents(&self) -> Documents {
        let Inner {
            issuer,
            following,
            documents,
        } = &*self.inner;
        let built = documents
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(keys) = following else {
            return built;
        };
        let generation = keys.generation();
        if built.generation == generation {
            return built;
        }
        match Documents::new(issuer, &keys.published(), generation) {
            Ok(fresh) => {
                let mut documents = documents.write().unwrap_or_else(PoisonError::into_inner);
                if documents.generation < fresh.generation {
                    *documents = fresh.clone();
                }
                fresh
            }
            Err(error) => {
                // `SigningKeys` never mixes HMAC secrets into private keys, so this is not
                // expected; the documents before keep being served.
                tracing::error!(%error, "jwt-cutoff: the published keys could not be written");
                built
            }
        }
    }

    /// The JWK set document.
    #[must_use]
    pub fn jwks(&self) -> Arc<str> {
        self.documents().jwks
    }

    /// The discovery document.
    #[must_use]
    pub fn discovery(&self) -> Arc<str> {
        self.documents().discovery
    }

    /// `GET` [`JWKS_PATH`] and [`DISCOVERY_PATH`], as JSON that caches may keep five minutes (a
    /// verifier fetches again at once for a key it does not know).
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let (jwks, discovery) = (self.clone(), self.clone());
        Router::new()
            .route(JWKS_PATH, get(move || document(jwks.jwks())))
            .route(DISCOVERY_PATH, get(move || document(discovery.discovery())))
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

//! Fetching what identity providers publish, over HTTP(S), bounded in time and size: their JWK
//! sets, and their OpenID discovery documents.

use std::fmt;
use std::hash::BuildHasher as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::{ConfigBuilderExt as _, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::error::ConfigError;
use crate::jwks::JwkSet;

/// The default bound on connecting to a provider.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The default bound on a whole fetch: connecting, the request, and the body read.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The default bound on a document's size. Providers' key sets are a few kilobytes (tens with
/// certificate chains); anything near this is not a key set.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Fetches JWK sets and OpenID discovery documents over `https://` (the system's root
/// certificates, rustls on aws-lc-rs) or `http://` (for providers inside the network, and tests).
///
/// Every fetch is bounded: connecting by [`connect_timeout`](KeyFetcherBuilder::connect_timeout),
/// the whole fetch by [`timeout`](KeyFetcherBuilder::timeout), the document's size by
/// [`max_document_bytes`](KeyFetcherBuilder::max_document_bytes). Only `200 OK` is taken;
/// redirects are not followed. Cheap to clone: clones share one connection pool.
///
/// ```no_run
/// use jwt_cutoff::KeyFetcher;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let fetcher = KeyFetcher::new()?;
/// let provider = fetcher.discover("https://accounts.example.com").await?;
/// let keys = fetcher.jwks(provider.jwks_uri()).await?;
/// println!("{} keys, {} skipped", keys.keys().len(), keys.skipped().len());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct KeyFetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
    max_document_bytes: usize,
}

impl fmt::Debug for KeyFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFetcher")
            .field("timeout", &self.timeout)
            .field("max_document_bytes", &self.max_document_bytes)
            .finish_non_exhaustive()
    }
}

/// Settings for a [`KeyFetcher`].
#[derive(Clone, Debug)]
pub struct KeyFetcherBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    max_document_bytes: usize,
}

impl KeyFetcherBuilder {
    /// How long connecting (TCP) may take. Default [`DEFAULT_CONNECT_TIMEOUT`].
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a whole fetch may take, body included. Default [`DEFAULT_FETCH_TIMEOUT`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest document taken. Default [`DEFAULT_MAX_DOCUMENT_BYTES`].
    #[must_use]
    pub fn max_document_bytes(mut self, max: usize) -> Self {
        self.max_document_bytes = max;
        self
    }

    /// The fetcher.
    ///
    /// # Errors
    /// No root certificate could be loaded from the system (install its CA certificates), or TLS
    /// cannot be set up.
    pub fn build(self) -> Result<KeyFetcher, ConfigError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| ConfigError::new(format!("TLS: {error}")))?
            .with_native_roots()
            .map_err(|error| {
                ConfigError::new(format!("no root certificates on this system: {error}"))
            })?
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(self.connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(KeyFetcher {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout: self.timeout,
            max_document_bytes: self.max_document_bytes,
        })
    }
}

/// What an OpenID provider's discovery document says, of what verifying its tokens needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderMetadata {
    issuer: String,
    jwks_uri: String,
}

impl ProviderMetadata {
    /// The provider's issuer identifier: its tokens' `iss`, exactly.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where its JWK set is published.
    #[must_use]
    pub fn jwks_uri(&self) -> &str {
        &self.jwks_uri
    }
}

/// A fetch that gave nothing usable: the provider could not be reached, did not answer in time,
/// answered something else than `200 OK`, or a document that is not what was asked for.
#[derive(Clone, Debug)]
pub struct FetchError {
    url: String,
    message: String,
}

impl FetchError {
    fn new(url: &str, message: impl Into<String>) -> Self {
        Self {
            url: url.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fetching {}: {}", self.url, self.message)
    }
}

impl std::error::Error for FetchError {}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl KeyFetcher {
    /// A fetcher with the default bounds.
    ///
    /// # Errors
    /// As [`KeyFetcherBuilder::build`].
    pub fn new() -> Result<Self, ConfigError> {
        Self::builder().build()
    }

    /// Settings, starting from the defaults.
    #[must_use]
    pub fn builder() -> KeyFetcherBuilder {
        KeyFetcherBuilder {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_FETCH_TIMEOUT,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
        }
    }

    /// The JWK set at `url`; entries it cannot use are skipped (and logged), never an error.
    ///
    /// # Errors
    /// As [`FetchError`] says; a document that is not a JWK set.
    pub async fn jwks(&self, url: &str) -> Result<JwkSet, FetchError> {
        let document = self.get(url).await?;
        Self::read_jwks(url, &document)
    }

    /// The JWK set at `url`, with a hash of its document, which tells a changed set from the
    /// same one served again.
    pub(crate) async fn jwks_hashed(&self, url: &str) -> Result<(JwkSet, u64), FetchError> {
        let document = self.get(url).await?;
        let hash = foldhash::fast::FixedState::default().hash_one(&document[..]);
        Ok((Self::read_jwks(url, &document)?, hash))
    }

    fn read_jwks(url: &str, document: &[u8]) -> Result<JwkSet, FetchError> {
        let set =
            JwkSet::parse(document).map_err(|error| FetchError::new(url, error.to_string()))?;
        for skipped in set.skipped() {
            tracing::warn!(url, %skipped, "jwt-cutoff: a JWK set entry is skipped");
        }
        Ok(set)
    }

    /// OpenID Connect Discovery 1.0 §4: the provider's metadata at
    /// `<issuer>/.well-known/openid-configuration`, whose `issuer` must be `issuer` exactly (a
    /// document naming another issuer is refused: its keys would verify that issuer's tokens).
    ///
    /// # Errors
    /// As [`FetchError`] says; a document without `issuer` or `jwks_uri`, or another issuer.
    pub async fn discover(&self, issuer: &str) -> Result<ProviderMetadata, FetchError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let document = self.get(&url).await?;
        let discovery: Discovery = serde_json::from_slice(&document)
            .map_err(|error| FetchError::new(&url, format!("not a discovery document: {error}")))?;
        if discovery.issuer != issuer {
            return Err(FetchError::new(
                &url,
                format!(
                    "the document names the issuer {:?}, not {issuer:?}",
                    discovery.issuer
                ),
            ));
        }
        check_url(&discovery.jwks_uri)
            .map_err(|message| FetchError::new(&url, format!("jwks_uri: {message}")))?;
        Ok(ProviderMetadata {
            issuer: discovery.issuer,
            jwks_uri: discovery.jwks_uri,
        })
    }

    /// The body of a `200 OK` answer to `GET url`, within the bounds.
    async fn get(&self, url: &str) -> Result<Bytes, FetchError> {
        let uri = check_url(url).map_err(|message| FetchError::new(url, message))?;
        let request = Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|error| FetchError::new(url, error.to_string()))?;
        let fetch = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| FetchError::new(url, describe(&error)))?;
            if response.status() != StatusCode::OK {
                return Err(FetchError::new(
                    url,
                    format!("the server answered {}", response.status()),
                ));
            }
            Limited::new(response.into_body(), self.max_document_bytes)
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes)
                .map_err(|error| {
                    let message = if error.is::<http_body_util::LengthLimitError>() {
                        format!("the document is over {} bytes", self.max_document_bytes)
                    } else {
                        format!("reading the document: {error}")
                    };
                    FetchError::new(url, message)
                })
        };
        tokio::time::timeout(self.timeout, fetch)
            .await
            .unwrap_or_else(|_| {
                Err(FetchError::new(
                    url,
                    format!("no whole answer within {:?}", self.timeout),
                ))
            })
    }
}

/// `url` as a URI, if it is an absolute `http` or `https` one.
fn check_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|error| format!("not a URL: {error}"))?;
    match uri.scheme_str() {
        Some("https" | "http") if uri.host().is_some() => Ok(uri),
        _ => Err("not an http:// or https:// URL".to_owned()),
    }
}

/// The client's error with its causes, which say what actually went wrong (refused, TLS, …).
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

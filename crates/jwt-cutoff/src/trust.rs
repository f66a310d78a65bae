//! [`TrustedIssuer`]: another issuer whose tokens a validator accepts (an OpenID provider, or
//! another service's auth server), with its keys, its audience, and cutoffs of its own.

use std::fmt;
use std::sync::Arc;
#[cfg(feature = "remote-keys")]
use std::time::Duration;

use crate::error::ConfigError;
#[cfg(feature = "remote-keys")]
use crate::fetch::KeyFetcher;
use crate::keys::{Algorithm, KeySet, VerifyingKey};
#[cfg(feature = "remote-keys")]
use crate::remote::RemoteKeys;

/// How long a fetched key set is used before it is fetched again in the background.
#[cfg(feature = "remote-keys")]
pub const DEFAULT_KEYS_REFRESH: Duration = Duration::from_secs(5 * 60);
/// After a fetch started, how long a token naming an unknown `kid` waits for nothing: it is
/// answered from what that fetch found. Bounds the fetches a flood of made-up `kid`s causes.
#[cfg(feature = "remote-keys")]
pub const DEFAULT_REFETCH_COOLDOWN: Duration = Duration::from_secs(10);

/// An issuer whose tokens a [`Validator`](crate::Validator) accepts beside its own: an OpenID
/// provider (Keycloak, Auth0, Entra, Cognito, …) or another service's auth server.
///
/// Its keys verify only tokens whose `iss` is exactly its issuer identifier, and its tokens only
/// pass with an `aud` naming one of its [audiences](Self::audience) (required: without it, a
/// token the provider issued to any other client of it would pass). Tokens without `token_use`
/// are taken as access tokens, as providers write none; `token_use: refresh`, a logout token
/// (`typ: logout+jwt` or an `events` claim) and other kinds are refused. RFC 9068 access tokens
/// (`typ: at+jwt`) pass like `typ: JWT` ones.
///
/// Cutoffs for its tokens are kept per issuer: the subject of issuer `https://id.example` 's
/// token for "alice" is `https://id.example#alice` in the cutoff store (see
/// [`Verified::cutoff_subject`](crate::Verified::cutoff_subject)), so a logout of one issuer's
/// "alice" never touches another's.
///
/// ```
/// use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, SigningKey, TrustedIssuer, Validator};
///
/// let provider_key = SigningKey::ec_pem(include_bytes!("../tests/keys/ec_private.pem"), Algorithm::ES256)?;
/// let validator = Validator::builder()
///     .algorithms([Algorithm::ES256])
///     .trust(
///         TrustedIssuer::with_keys("https://id.example.com", [provider_key.verifying_key()?])
///             .audience("orders-api"),
///     )
///     .build(CutoffCache::new(MemoryStore::new()))?;
/// # Ok::<_, jwt_cutoff::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct TrustedIssuer {
    issuer: String,
    audiences: Vec<String>,
    keys: KeySource,
    #[cfg(feature = "remote-keys")]
    refresh: Duration,
    #[cfg(feature = "remote-keys")]
    cooldown: Duration,
    #[cfg(feature = "remote-keys")]
    fetcher: Option<KeyFetcher>,
}

#[derive(Clone, Debug)]
enum KeySource {
    Static(Vec<VerifyingKey>),
    #[cfg(feature = "remote-keys")]
    Jwks(String),
    #[cfg(feature = "remote-keys")]
    Discovery,
}

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedIssuer")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl TrustedIssuer {
    fn new(issuer: impl Into<String>, keys: KeySource) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: Vec::new(),
            keys,
            #[cfg(feature = "remote-keys")]
            refresh: DEFAULT_KEYS_REFRESH,
            #[cfg(feature = "remote-keys")]
            cooldown: DEFAULT_REFETCH_COOLDOWN,
            #[cfg(feature = "remote-keys")]
            fetcher: None,
        }
    }

    /// An issuer verified with keys given here (give each a `kid` when there are several).
    #[must_use]
    pub fn with_keys(
        issuer: impl Into<String>,
        keys: impl IntoIterator<Item = VerifyingKey>,
    ) -> Self {
        Self::new(issuer, KeySource::Static(keys.into_iter().collect()))
    }

    /// An issuer whose keys are the JWK set at `jwks_url`, fetched when the validator is built
    /// (in the background, inside a Tokio runtime) or for the first token that needs them, then
    /// refreshed every [`refresh_every`](Self::refresh_every), and at once for a token naming an
    /// unknown `kid` (at most once per [`refetch_cooldown`](Self::refetch_cooldown)).
    ///
    /// While the set cannot be fetched, the keys known keep working; a token naming a `kid` that
    /// is not among them is answered 503 ([`Reason::KeysUnavailable`](crate::Reason)), and once a
    /// fetch succeeded, 401 ([`Reason::UnknownKey`](crate::Reason)).
    #[cfg(feature = "remote-keys")]
    #[must_use]
    pub fn jwks(issuer: impl Into<String>, jwks_url: impl Into<String>) -> Self {
        Self::new(issuer, KeySource::Jwks(jwks_url.into()))
    }

    /// An OpenID provider found through discovery: its keys are the JWK set its
    /// `<issuer>/.well-known/openid-configuration` names (a document naming another issuer is
    /// refused), fetched and refreshed as with [`jwks`](Self::jwks).
    #[cfg(feature = "remote-keys")]
    #[must_use]
    pub fn discover(issuer: impl Into<String>) -> Self {
        Self::new(issuer, KeySource::Discovery)
    }

    /// An audience the issuer's tokens may be for (their `aud`, a string or an array holding it);
    /// call again to accept any of several. At least one is required.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// How long a fetched key set is used before it is fetched again, in the background while
    /// the old one keeps working. Default [`DEFAULT_KEYS_REFRESH`].
    #[cfg(feature = "remote-keys")]
    #[must_use]
    pub fn refresh_every(mut self, interval: Duration) -> Self {
        self.refresh = interval;
        self
    }

    /// The least time between two fetches caused by unknown `kid`s. Default
    /// [`DEFAULT_REFETCH_COOLDOWN`].
    #[cfg(feature = "remote-keys")]
    #[must_use]
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Fetches with `fetcher` (its timeouts, its size limit) instead of
    /// [`KeyFetcher::new`]'s defaults.
    #[cfg(feature = "remote-keys")]
    #[must_use]
    pub fn fetcher(mut self, fetcher: KeyFetcher) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// The issuer identifier: tokens' `iss`, exactly.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Checks the configuration and readies the keys for `allowed` algorithms.
    pub(crate) fn into_trusted(self, allowed: &[Algorithm]) -> Result<Trusted, ConfigError> {
        let issuer = &self.issuer;
        if issuer.is_empty() || issuer.contains('#') {
            return Err(ConfigError::new(format!(
                "trusted issuer {issuer:?}: an issuer identifier is not empty and has no `#` \
                 (OpenID issuers are URLs without a fragment)"
            )));
        }
        if self.audiences.is_empty() {
            return Err(ConfigError::new(format!(
                "trusted issuer {issuer:?} has no audience: give the one its tokens for this \
                 service carry, or a token it issued to any other client would pass"
            )));
        }
        let keys = match self.keys {
            KeySource::Static(keys) => {
                IssuerKeys::Static(KeySet::new(allowed, keys).map_err(|error| {
                    ConfigError::new(format!("trusted issuer {issuer:?}: {error}"))
                })?)
            }
            #[cfg(feature = "remote-keys")]
            source @ (KeySource::Jwks(_) | KeySource::Discovery) => {
                let fetcher = match self.fetcher {
                    Some(fetcher) => fetcher,
                    None => KeyFetcher::new()?,
                };
                let jwks_url = match source {
                    KeySource::Jwks(url) => Some(url),
                    _ => None,
                };
                IssuerKeys::Remote(RemoteKeys::new(
                    self.issuer.clone(),
                    jwks_url,
                    fetcher,
                    allowed.to_vec(),
                    self.refresh,
                    self.cooldown,
                ))
            }
        };
        Ok(Trusted {
            sessions_subject: Arc::from(format!("{}#", self.issuer)),
            issuer: Arc::from(self.issuer),
            audiences: self.audiences.into_iter().map(Into::into).collect(),
            keys,
        })
    }
}

/// A trusted issuer, ready: what a validator consults for a token whose `iss` is its issuer.
#[derive(Debug)]
pub(crate) struct Trusted {
    pub(crate) issuer: Arc<str>,
    /// `<iss>#`: where this issuer's sessions logged out by `sid` alone are kept.
    pub(crate) sessions_subject: Arc<str>,
    pub(crate) audiences: Vec<Box<str>>,
    pub(crate) keys: IssuerKeys,
}

/// A trusted issuer's keys: given once, or fetched and kept fresh.
#[derive(Debug)]
pub(crate) enum IssuerKeys {
    Static(KeySet),
    #[cfg(feature = "remote-keys")]
    Remote(Arc<RemoteKeys>),
}

/// Which keys that change verified a cached token: a trusted issuer's fetched keys (its index)
/// or the validator's own rotating keys (`None`), and the generation of that key set then. A hit
/// verified with an older generation is verified again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeysStamp {
    pub(crate) issuer: Option<usize>,
    pub(crate) generation: u64,
}

impl Trusted {
    /// Whether `stamp` names the keys this issuer verifies with now.
    #[cfg_attr(
        not(feature = "remote-keys"),
        allow(unused_variables, reason = "given keys never change")
    )]
    pub(crate) fn is_current(&self, stamp: KeysStamp) -> bool {
        match &self.keys {
            IssuerKeys::Static(_) => true,
            #[cfg(feature = "remote-keys")]
            IssuerKeys::Remote(remote) => remote.generation() == stamp.generation,
        }
    }
}

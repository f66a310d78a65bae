//! [`Validator`]: every check on a token, in one place, for the layer and for standalone use.

use std::any::type_name;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use serde::Deserialize;
use serde::de::{DeserializeOwned, DeserializeSeed as _};

use crate::bearer::{BearerToken, bearer_token};
use crate::claims::{
    CutoffQuery, JoseHeader, NoClaims, Registered, RegisteredSeed, Text, TokenType, Verified,
    check_subject_claim,
};
use crate::error::ConfigError;
use crate::keys::{Algorithm, KeySet, VerifyingKey};
use crate::numeric_date;
use crate::reject::{Reason, Rejection, recorded};
#[cfg(feature = "remote-keys")]
use crate::remote::Refetched;
use crate::rotation::{RotatingKeySet, SigningKeys};
use crate::token_cache::{CachedToken, TokenCache, TokenEntry};
use crate::trust::{IssuerKeys, KeysStamp, Trusted, TrustedIssuer};
use jwt_cutoff_store::{
    CutoffCache, MAX_SESSION_ID_BYTES, MAX_SUBJECT_BYTES, MAX_TOKEN_ID_BYTES, Timestamp,
    TokenInstant, Verdict,
};

/// The default cap on a token's length: 8 KiB.
const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The default bound on the verified-token cache of an access-token validator: 64 MiB, about
/// 70 000 typical access tokens.
const DEFAULT_TOKEN_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// The smallest bound that is not `0`: below it a cache could not hold even one typical token.
const MIN_TOKEN_CACHE_BYTES: u64 = 4096;

/// Verifies tokens: signature, `exp`/`nbf` with leeway, a strict `iat`, issuer, audience, token
/// type, subject, and finally the subject's cutoff.
///
/// The [`JwtCutoffLayer`](crate::JwtCutoffLayer) runs one on every request. Use one directly where
/// there is no layer: a WebSocket handshake, a message queue consumer. `C` is the application's
/// claims type, read from the same payload. A refresh endpoint takes a [`RefreshValidator`]
/// instead, made by [`ValidatorBuilder::build_refresh`].
///
/// Cheap to clone: clones share the configuration, the [`CutoffCache`] and the cache of verified
/// tokens.
///
/// ```
/// use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, SigningKey, TokenIssuer, Validator, VerifyingKey};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let secret = b"an access secret of at least 32 bytes";
/// let cutoffs = CutoffCache::new(MemoryStore::new());
/// let access = Validator::builder()
///     .algorithms([Algorithm::HS256])
///     .key(VerifyingKey::hmac(secret)?)
///     .build(cutoffs.clone())?;
/// let issuer = TokenIssuer::builder(SigningKey::hmac(secret, Algorithm::HS256)?).build()?;
///
/// let token = issuer.issue_access("alice", &())?;
/// let verified = access.validate(&token.token).await?;
/// assert_eq!(verified.subject(), "alice");
///
/// cutoffs.logout_all("alice").await?;
/// assert!(access.validate(&token.token).await.is_err());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Validator<C = NoClaims> {
    // One reference count to bump: the layer's service, and so this, is cloned per request.
    shared: Arc<Inner<C>>,
}

struct Inner<C> {
    config: Arc<Config>,
    cutoffs: CutoffCache,
    tokens: Option<TokenCache<C>>,
    /// Whether `C` is in [`VERIFIED_CLAIMS_TYPES`] on this validator's behalf already.
    announced: AtomicBool,
}

/// The claims types that access-token validators of this process have verified a token for, for
/// [`Validator::verified_claims_types`]. Written once per validator, read on misconfigurations.
static VERIFIED_CLAIMS_TYPES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

impl<C> Clone for Validator<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C> fmt::Debug for Validator<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("config", &self.shared.config)
            .field("cutoffs", &self.shared.cutoffs)
            .finish()
    }
}

#[derive(Debug)]
struct Config {
    /// This service's own keys; `None` when it only trusts other issuers.
    keys: Option<OwnKeys>,
    trusted: Vec<Trusted>,
    subject_claim: Box<str>,
    issuer: Option<Box<str>>,
    audiences: Vec<Box<str>>,
    leeway: Duration,
    token_type: TokenType,
    accept_untyped: bool,
    max_token_bytes: usize,
    token_cache_max_bytes: u64,
}

/// The keys of the service's own tokens.
#[derive(Debug)]
enum OwnKeys {
    /// Given once.
    Fixed(KeySet),
    /// Those a [`SigningKeys`] publishes at the time.
    Rotating(RotatingKeySet),
}

impl OwnKeys {
    /// Verifies the signature; for rotating keys, which of their generations verified it.
    fn verify(
        &self,
        (alg, kid, message, signature): Signature<'_>,
    ) -> Result<Option<KeysStamp>, Reason> {
        match self {
            Self::Fixed(keys) => keys.verify(alg, kid, message, signature).map(|()| None),
            Self::Rotating(rotating) => {
                let (keys, generation) = rotating.current();
                keys.verify(alg, kid, message, signature)?;
                Ok(Some(KeysStamp {
                    issuer: None,
                    generation,
                }))
            }
        }
    }
}

impl Config {
    /// Whether `stamp` names keys that still verify as they did.
    fn is_current(&self, stamp: KeysStamp) -> bool {
        match (stamp.issuer, &self.keys) {
            (Some(index), _) => self
                .trusted
                .get(index)
                .is_some_and(|trusted| trusted.is_current(stamp)),
            (None, Some(OwnKeys::Rotating(rotating))) => rotating.generation() == stamp.generation,
            (None, _) => false,
        }
    }
}

/// Configures a [`Validator`]; made by [`Validator::builder`]. Checked once, in
/// [`build`](ValidatorBuilder::build).
#[derive(Debug)]
#[must_use]
pub struct ValidatorBuilder {
    algorithms: Vec<Algorithm>,
    keys: Vec<VerifyingKey>,
    signing_keys: Option<SigningKeys>,
    trusted: Vec<TrustedIssuer>,
    subject_claim: String,
    issuer: Option<String>,
    audiences: Vec<String>,
    leeway: Duration,
    /// `None`: access tokens for [`build`](Self::build), refresh tokens for
    /// [`build_refresh`](Self::build_refresh).
    token_type: Option<TokenType>,
    accept_untyped: bool,
    max_token_bytes: usize,
    /// `None`: the default for the token type.
    token_cache_max_bytes: Option<u64>,
}

impl ValidatorBuilder {
    /// The algorithms tokens may be signed with. Required: there is no default, and `none` does
    /// not exist. Each key verifies only those of them its kind of key supports.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Adds a key. With several, give each a `kid`: a token naming a `kid` is verified with that key
    /// alone; a token without one, with the keys that have none.
    pub fn key(mut self, key: VerifyingKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Verifies the service's own tokens with the keys `keys` publishes at the time, which follow
    /// its rotations: the key signing now, the next one, and retired ones still published; a key
    /// [withdrawn](SigningKeys::withdraw) stops verifying at once, also tokens verified before.
    /// Instead of [`key`](Self::key)s. Allow every algorithm the keys will sign with.
    pub fn signing_keys(mut self, keys: &SigningKeys) -> Self {
        self.signing_keys = Some(keys.clone());
        self
    }

    /// Also accepts the tokens of another issuer, verified with its keys alone (see
    /// [`TrustedIssuer`]); call again for several. A validator may trust other issuers and have
    /// no [key](Self::key) of its own. Access tokens only: a refresh endpoint takes its own tokens.
    pub fn trust(mut self, issuer: TrustedIssuer) -> Self {
        self.trusted.push(issuer);
        self
    }

    /// The claim that names the subject (default `sub`), e.g. `user` for a custom claim.
    pub fn subject_claim(mut self, claim: impl Into<String>) -> Self {
        self.subject_claim = claim.into();
        self
    }

    /// Requires `iss` to equal `issuer`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Requires `aud` to name `audience` (call again to accept any of several).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and a future `iat` (default 30 s). It never moves a token
    /// past a cutoff.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The kind of token [`build`](Self::build) accepts (default [`TokenType::Access`]), read from
    /// the `token_use` claim.
    ///
    /// For a refresh endpoint, call [`build_refresh`](Self::build_refresh) instead: its
    /// [`RefreshValidator`] is a type of its own, so it cannot be handed to a layer by mistake, nor
    /// an access validator to a refresh endpoint.
    pub fn token_type(mut self, token_type: TokenType) -> Self {
        self.token_type = Some(token_type);
        self
    }

    /// Accepts tokens without a `token_use` claim as access tokens, for third-party issuers that do
    /// not write one. They are never accepted as refresh tokens.
    pub fn accept_untyped_tokens(mut self) -> Self {
        self.accept_untyped = true;
        self
    }

    /// Refuses longer tokens before any decoding (default 8 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }

    /// Bounds the cache of verified tokens to about `max_bytes`; `0` turns it off. The default is
    /// 64 MiB (about 70 000 typical access tokens) for access tokens and off for refresh tokens,
    /// which are presented once per access-token lifetime, so caching them saves little and keeps
    /// long-lived secrets in memory.
    ///
    /// A token presented again (a client reuses its access token for minutes) is then answered
    /// from the cache, without checking its signature or parsing its JSON again: a fraction of a
    /// microsecond instead of microseconds (HMAC) or tens of microseconds (RSA, ECDSA, EdDSA).
    /// Entries are keyed by the whole token, hold only tokens that passed every check, and leave
    /// when the token expires. On every hit, `exp`, `nbf` and a future `iat` are checked against
    /// the clock again and the token's cutoffs are checked as always, so a cached token is refused
    /// the moment its subject or session logs out; while none of them has changed since the token
    /// was last admitted, that check needs no lookup of the subject. Size it to the tokens in use at
    /// once: about 970 bytes per 230-byte token; the application's claims type, if any, is counted
    /// as twice the size of the payload's JSON.
    pub fn token_cache_max_bytes(mut self, max_bytes: u64) -> Self {
        self.token_cache_max_bytes = Some(max_bytes);
        self
    }

    /// The validator, checking tokens against `cutoffs`: access tokens, unless
    /// [`token_type`](Self::token_type) says otherwise.
    ///
    /// # Errors
    /// No algorithm or no key was given, a key can verify none of the allowed algorithms, two keys
    /// share a `kid`, the subject claim is one of the other registered claims, or the token cache
    /// bound is neither `0` nor large enough to hold a token (4 KiB).
    pub fn build(self, cutoffs: CutoffCache) -> Result<Validator, ConfigError> {
        let token_type = self.token_type.unwrap_or(TokenType::Access);
        self.build_for(token_type, cutoffs)
    }

    /// A validator of refresh tokens, checking them against `cutoffs`, for a refresh endpoint.
    ///
    /// It reads each token's cutoff from the store, never from the cache (see
    /// [`RefreshValidator::validate`]), and caches no verified tokens unless
    /// [`token_cache_max_bytes`](Self::token_cache_max_bytes) asks it to.
    ///
    /// ```
    /// use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, RefreshValidator, SigningKey, TokenIssuer, VerifyingKey, Validator};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let secret = b"a refresh secret of at least 32 bytes!";
    /// let cutoffs = CutoffCache::new(MemoryStore::new());
    /// let refresh: RefreshValidator = Validator::builder()
    ///     .algorithms([Algorithm::HS256])
    ///     .key(VerifyingKey::hmac(secret)?)
    ///     .build_refresh(cutoffs.clone())?;
    /// let issuer = TokenIssuer::builder(SigningKey::hmac(secret, Algorithm::HS256)?).build()?;
    ///
    /// let token = issuer.issue_refresh("alice", &())?;
    /// assert_eq!(refresh.validate(&token.token).await?.subject(), "alice");
    ///
    /// cutoffs.logout_all("alice").await?;
    /// assert!(refresh.validate(&token.token).await.is_err());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// As for [`build`](Self::build); also when [`token_type`](Self::token_type) asked for access
    /// tokens, or [`accept_untyped_tokens`](Self::accept_untyped_tokens) was called (untyped tokens
    /// are never refresh tokens).
    pub fn build_refresh(self, cutoffs: CutoffCache) -> Result<RefreshValidator, ConfigError> {
        if self.token_type == Some(TokenType::Access) {
            return Err(ConfigError::new(
                "`build_refresh` builds a validator of refresh tokens, but `token_type` asked \
                 for access tokens: drop `.token_type(TokenType::Access)`, or call `build`",
            ));
        }
        self.build_for(TokenType::Refresh, cutoffs)
            .map(|inner| RefreshValidator { inner })
    }

    fn build_for(
        mut self,
        token_type: TokenType,
        cutoffs: CutoffCache,
    ) -> Result<Validator, ConfigError> {
        let trusted = self.trusted_issuers(token_type)?;
        let keys = match self.signing_keys {
            Some(_) if !self.keys.is_empty() => {
                return Err(ConfigError::new(
                    "own keys are given twice: as `key`s and as `signing_keys`; give one of them",
                ));
            }
            Some(signing_keys) => Some(OwnKeys::Rotating(RotatingKeySet::new(
                signing_keys,
                self.algorithms.clone(),
            )?)),
            None if self.keys.is_empty() && !trusted.is_empty() => None,
            None => Some(OwnKeys::Fixed(KeySet::new(&self.algorithms, self.keys)?)),
        };
        check_subject_claim(&self.subject_claim).map_err(ConfigError::new)?;
        if self.accept_untyped && token_type == TokenType::Refresh {
            return Err(ConfigError::new(
                "untyped tokens are never accepted as refresh tokens",
            ));
        }
        let token_cache_max_bytes = match self.token_cache_max_bytes {
            Some(max) => max,
            None if token_type == TokenType::Refresh => 0,
            None => DEFAULT_TOKEN_CACHE_BYTES,
        };
        if (1..MIN_TOKEN_CACHE_BYTES).contains(&token_cache_max_bytes) {
            return Err(ConfigError::new(format!(
                "a token cache of {token_cache_max_bytes} bytes could not hold a token: \
                 give at least {MIN_TOKEN_CACHE_BYTES}, or 0 to turn it off"
            )));
        }
        Ok(Validator::new(
            Arc::new(Config {
                keys,
                trusted,
                subject_claim: self.subject_claim.into(),
                issuer: self.issuer.map(Into::into),
                audiences: self.audiences.into_iter().map(Into::into).collect(),
                leeway: self.leeway,
                token_type,
                accept_untyped: self.accept_untyped,
                max_token_bytes: self.max_token_bytes,
                token_cache_max_bytes,
            }),
            cutoffs,
        ))
    }

    /// The trusted issuers, checked and readied.
    fn trusted_issuers(&mut self, token_type: TokenType) -> Result<Vec<Trusted>, ConfigError> {
        if self.trusted.is_empty() {
            return Ok(Vec::new());
        }
        if token_type == TokenType::Refresh {
            return Err(ConfigError::new(
                "a refresh validator takes this service's own refresh tokens: trusted issuers \
                 are for access tokens",
            ));
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::new(
                "no algorithms allowed: name them explicitly with `algorithms([..])`",
            ));
        }
        let mut trusted: Vec<Trusted> = Vec::with_capacity(self.trusted.len());
        for issuer in std::mem::take(&mut self.trusted) {
            let name = issuer.issuer().to_owned();
            if trusted.iter().any(|other| *other.issuer == *name)
                || self.issuer.as_deref() == Some(name.as_str())
            {
                return Err(ConfigError::new(format!(
                    "the issuer {name:?} is configured twice (a trusted issuer is never also \
                     this validator's own)"
                )));
            }
            trusted.push(issuer.into_trusted(&self.algorithms)?);
        }
        Ok(trusted)
    }
}

impl Validator {
    /// The claims types (as [`std::any::type_name`] spells them) that access-token validators of
    /// this process have verified a token for, in the order first seen.
    ///
    /// For diagnostics. A layer puts a [`Verified<C>`] in the request extensions, and extensions
    /// are keyed by type, so a handler that asks for other claims finds nothing; the axum
    /// extractor then names what the asked type should have been by these.
    #[must_use]
    pub fn verified_claims_types() -> Vec<&'static str> {
        VERIFIED_CLAIMS_TYPES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Configures a validator.
    pub fn builder() -> ValidatorBuilder {
        ValidatorBuilder {
            algorithms: Vec::new(),
            keys: Vec::new(),
            signing_keys: None,
            trusted: Vec::new(),
            subject_claim: "sub".to_owned(),
            issuer: None,
            audiences: Vec::new(),
            leeway: Duration::from_secs(30),
            token_type: None,
            accept_untyped: false,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            token_cache_max_bytes: None,
        }
    }
}

impl<C: Clone + Send + Sync + 'static> Validator<C> {
    fn new(config: Arc<Config>, cutoffs: CutoffCache) -> Self {
        Self {
            shared: Arc::new(Inner {
                tokens: token_cache(config.token_cache_max_bytes),
                config,
                cutoffs,
                announced: AtomicBool::new(false),
            }),
        }
    }
}

impl<C> Validator<C> {
    /// The same validator, reading the application's claims as `D` (default: [`NoClaims`]), with a
    /// cache of verified tokens of its own.
    ///
    /// ```
    /// # use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, Validator, VerifyingKey};
    /// #[derive(Clone, serde::Deserialize)]
    /// struct Claims {
    ///     username: String,
    /// }
    ///
    /// let validator = Validator::builder()
    ///     .algorithms([Algorithm::HS256])
    ///     .key(VerifyingKey::hmac(b"an access secret of at least 32 bytes")?)
    ///     .build(CutoffCache::new(MemoryStore::new()))?
    ///     .with_claims::<Claims>();
    /// # Ok::<_, jwt_cutoff::ConfigError>(())
    /// ```
    #[must_use]
    pub fn with_claims<D: Clone + Send + Sync + 'static>(self) -> Validator<D> {
        Validator::new(Arc::clone(&self.shared.config), self.shared.cutoffs.clone())
    }

    /// The cutoffs this validator checks against; write through them to log subjects out.
    #[must_use]
    pub fn cutoffs(&self) -> &CutoffCache {
        &self.shared.cutoffs
    }

    /// The kind of token this validator accepts.
    #[must_use]
    pub fn token_type(&self) -> TokenType {
        self.shared.config.token_type
    }

    pub(crate) fn max_token_bytes(&self) -> usize {
        self.shared.config.max_token_bytes
    }
}

impl<C: DeserializeOwned + Clone + Send + Sync + 'static> Validator<C> {
    /// Validates `token` completely, its subject's cutoff included.
    ///
    /// A validator of [refresh tokens](TokenType::Refresh) reads the cutoff from the store on every
    /// call ([`CutoffCache::lookup_in_store`]), never from the cache: what it admits mints new tokens,
    /// and a cache can be a TTL or a push delay behind a logout made on another instance.
    ///
    /// # Errors
    /// The token is refused, or the cutoff store is unavailable ([`Reason::Unavailable`]), or a
    /// trusted issuer's keys could not be fetched for a key it names ([`Reason::KeysUnavailable`]).
    pub async fn validate(&self, token: &str) -> Result<Verified<C>, Rejection> {
        let checked = match self.verify(token) {
            Err(Unverified::NeedsKeys(issuer)) => self.verify_after_fetch(token, issuer).await,
            checked => checked.map_err(Unverified::into_reason),
        };
        self.admit(checked).await
    }

    /// Validates the bearer token of a request's headers completely.
    ///
    /// # Errors
    /// The header is missing or malformed, the token is refused, or the cutoff store is unavailable.
    pub async fn validate_headers(&self, headers: &HeaderMap) -> Result<Verified<C>, Rejection> {
        let max_token_bytes = self.shared.config.max_token_bytes;
        let checked = match bearer_token(headers, max_token_bytes) {
            Ok(token) => match self.verify_bearer(token) {
                Err(Unverified::NeedsKeys(issuer)) => match token.text() {
                    Ok(text) => self.verify_after_fetch(text, issuer).await,
                    Err(reason) => Err(reason),
                },
                checked => checked.map_err(Unverified::into_reason),
            },
            Err(reason) => Err(reason),
        };
        self.admit(checked).await
    }

    /// Verifies a token whose trusted issuer's keys it needs were not known: waits for them to be
    /// fetched (or for the fetch in flight), then verifies it again. Still unknown after a fetch
    /// that succeeded: [`Reason::UnknownKey`]; a fetch that failed: [`Reason::KeysUnavailable`].
    pub(crate) async fn verify_after_fetch(
        &self,
        token: &str,
        issuer: usize,
    ) -> Result<Checked<C>, Reason> {
        self.fetch_keys(issuer).await?;
        self.verify(token).map_err(Unverified::into_reason)
    }

    /// Waits for the keys of the trusted issuer `issuer` to be fetched (or for the fetch in
    /// flight); [`Reason::KeysUnavailable`] when they could not be.
    #[cfg_attr(
        not(feature = "remote-keys"),
        allow(
            unused_variables,
            clippy::unused_async,
            reason = "only fetched keys can be missing"
        )
    )]
    pub(crate) async fn fetch_keys(&self, issuer: usize) -> Result<(), Reason> {
        #[cfg(feature = "remote-keys")]
        if let Some(Trusted {
            keys: IssuerKeys::Remote(keys),
            ..
        }) = self.shared.config.trusted.get(issuer)
        {
            return match keys.refetch().await {
                Refetched::Unavailable => Err(Reason::KeysUnavailable),
                Refetched::Keys => Ok(()),
            };
        }
        // Only fetched keys can be missing, so no other issuer gets here.
        Err(Reason::UnknownKey)
    }

    /// A back-channel logout token's header checked (a `typ`, if any, says `logout+jwt` or
    /// `JWT`) and its signature verified with the keys of the trusted issuer its `iss` names:
    /// that issuer, and the payload's JSON, to be checked further by the receiver.
    pub(crate) fn verify_logout_token(
        &self,
        token: &str,
    ) -> Result<(&Trusted, String), Unverified> {
        let config = &*self.shared.config;
        if token.len() > config.max_token_bytes {
            return Err(Reason::TokenTooLarge.into());
        }
        let (header_b64, payload_b64, signature_b64) = segments(token)?;
        let (mut header_buffer, mut header_spill) = ([0_u8; 512], Vec::new());
        let (alg, kid) = read_header(
            header_b64,
            &mut header_buffer,
            &mut header_spill,
            is_logout_type,
        )?;
        let (mut payload_buffer, mut payload_spill) = ([0_u8; 2048], Vec::new());
        let payload = decode_segment(payload_b64, &mut payload_buffer, &mut payload_spill)?;
        let payload = utf8(payload)?;
        let (index, trusted) = config
            .trusted_issuer_of(payload)?
            .ok_or(Reason::WrongIssuer)?;
        let signed = token
            .get(..header_b64.len() + 1 + payload_b64.len())
            .ok_or(Reason::MalformedToken)?;
        let kid = kid.as_ref().map(|kid| &*kid.0);
        trusted.verify(index, (alg, kid, signed.as_bytes(), signature_b64))?;
        Ok((trusted, payload.to_owned()))
    }

    /// The leeway, and the clock checks made with it, for a logout token's `iat` and `exp`.
    pub(crate) fn check_logout_clock(
        &self,
        issued_at: Timestamp,
        expires_at: Option<Timestamp>,
    ) -> Result<(), Reason> {
        let config = &*self.shared.config;
        let now = Timestamp::from_system_time(SystemTime::now());
        if issued_at > now.saturating_add(config.leeway) {
            return Err(Reason::IssuedInFuture);
        }
        if expires_at.is_some_and(|expires_at| now.saturating_sub(config.leeway) >= expires_at) {
            return Err(Reason::Expired);
        }
        Ok(())
    }

    /// The cutoff check of a token that passed the rest.
    pub(crate) async fn admit(
        &self,
        checked: Result<Checked<C>, Reason>,
    ) -> Result<Verified<C>, Rejection> {
        let checked = match checked {
            Ok(checked) => checked,
            Err(reason) => return recorded(Err(Rejection::new(reason))),
        };
        if let Some(result) = self.check_cutoff_cached(&checked) {
            return recorded(result.map(|()| checked.into_verified()));
        }
        let verified = checked.into_verified();
        let result = self.check_cutoffs(&verified.cutoff_query()).await;
        recorded(result.map(|()| verified))
    }

    /// The cutoff check of a verified token (everyone's, its subject's and its session's, and its
    /// issuer's sessions logged out by `sid` alone), from the cache for access tokens and from the
    /// store for refresh tokens.
    pub(crate) async fn check_cutoffs(&self, query: &CutoffQuery) -> Result<(), Rejection> {
        let cutoffs = &self.shared.cutoffs;
        let session = query.session.as_deref();
        let checked = match self.shared.config.token_type {
            TokenType::Access => cutoffs.check(&query.subject, session, query.judged).await,
            TokenType::Refresh => {
                cutoffs
                    .check_in_store(&query.subject, session, query.judged)
                    .await
            }
        };
        Rejection::from_check(checked)?;
        // Only access tokens come from trusted issuers, so this is never a refresh token's.
        if let Some((subject, session)) = &query.issuer_session {
            let checked = cutoffs.check(subject, Some(session), query.judged).await;
            Rejection::from_check(checked)?;
        }
        Ok(())
    }

    /// The cutoff check answered from the cache alone, for access tokens whose subject is cached
    /// (a token from the token cache that was admitted before and whose cutoffs have not changed
    /// since, without looking its subject up); `None` when [`check_cutoff`](Self::check_cutoff)
    /// must run instead.
    pub(crate) fn check_cutoff_cached(
        &self,
        checked: &Checked<C>,
    ) -> Option<Result<(), Rejection>> {
        if self.shared.config.token_type != TokenType::Access {
            return None;
        }
        let cutoffs = &self.shared.cutoffs;
        let (verdict, verified) = match checked {
            Checked::Cached(entry) => (cutoffs.check_token(&entry.check)?, &entry.token.verified),
            Checked::Verified(verified) => {
                let verdict = cutoffs.check_cached(
                    &verified.cutoff_subject,
                    verified.cutoff_session(),
                    verified.judged_instant(),
                )?;
                (verdict, verified)
            }
        };
        let verdict = match (&verified.issuer_sessions, &verified.session_id) {
            (Some(subject), Some(session)) if verdict == Verdict::Admitted => {
                cutoffs.check_cached(subject, Some(session), verified.judged_instant())?
            }
            _ => verdict,
        };
        Some(Rejection::from_check(Ok(verdict)))
    }

    /// Everything but the cutoff: the part that needs no I/O. A token in the token cache is only
    /// checked against the clock again.
    pub(crate) fn verify(&self, token: &str) -> Result<Checked<C>, Unverified> {
        match self.cached(token.as_bytes())? {
            Some(entry) => Ok(Checked::Cached(entry)),
            None => self.verify_and_keep(token),
        }
    }

    /// [`verify`](Self::verify) for a request's bearer token, whose characters are scanned only
    /// when it is not in the token cache (all tokens there are well-formed).
    pub(crate) fn verify_bearer(&self, token: BearerToken<'_>) -> Result<Checked<C>, Unverified> {
        match self.cached(token.as_bytes())? {
            Some(entry) => Ok(Checked::Cached(entry)),
            None => self.verify_and_keep(token.text()?),
        }
    }

    /// The token's entry in the token cache, checked against the clock again; `None` when it is not
    /// there.
    fn cached(&self, token: &[u8]) -> Result<Option<Arc<TokenEntry<C>>>, Reason> {
        let Inner { config, tokens, .. } = &*self.shared;
        if token.len() > config.max_token_bytes {
            return Err(Reason::TokenTooLarge);
        }
        let Some(entry) = tokens.as_ref().and_then(|tokens| tokens.get(token)) else {
            return Ok(None);
        };
        let cached = &entry.token;
        if let Some(stamp) = cached.keys
            && !config.is_current(stamp)
        {
            // Verified with keys its issuer has replaced since: verified again.
            return Ok(None);
        }
        config.check_clock(
            Timestamp::from_system_time(SystemTime::now()),
            cached.verified.expires_at,
            cached.not_before,
            cached.verified.issued_at.at(),
        )?;
        Ok(Some(entry))
    }

    /// Verifies a token that is not in the token cache, and keeps it there if worth it.
    fn verify_and_keep(&self, token: &str) -> Result<Checked<C>, Unverified> {
        let Inner {
            tokens, cutoffs, ..
        } = &*self.shared;
        let Some(tokens) = tokens else {
            return self
                .verify_uncached(token)
                .map(|cached| Checked::Verified(cached.verified));
        };
        let cached = self.verify_uncached(token)?;
        if !TokenCache::keeps(&cached) {
            return Ok(Checked::Verified(cached.verified));
        }
        let verified = &cached.verified;
        let query = verified.cutoff_query();
        let check = cutoffs.token_check(query.subject, query.session, query.judged);
        let entry = tokens.insert(
            token,
            TokenEntry {
                token: cached,
                check,
            },
        );
        Ok(Checked::Cached(entry))
    }

    fn verify_uncached(&self, token: &str) -> Result<CachedToken<C>, Unverified> {
        let config = &*self.shared.config;
        let (header_b64, payload_b64, signature_b64) = segments(token)?;
        // Typical segments decode into these stack buffers; larger ones (up to the size cap) spill.
        let (mut header_buffer, mut header_spill) = ([0_u8; 512], Vec::new());
        let (alg, kid) = read_header(header_b64, &mut header_buffer, &mut header_spill, |typ| {
            !is_event_type(typ)
        })?;
        let signed = token
            .get(..header_b64.len() + 1 + payload_b64.len())
            .ok_or(Reason::MalformedToken)?;
        let (mut payload_buffer, mut payload_spill) = ([0_u8; 2048], Vec::new());
        let payload = decode_segment(payload_b64, &mut payload_buffer, &mut payload_spill)?;
        let payload = utf8(payload)?;
        let trusted = config.trusted_issuer_of(payload)?;
        let kid = kid.as_ref().map(|kid| &*kid.0);
        let signature = (alg, kid, signed.as_bytes(), signature_b64);
        let keys_stamp = match trusted {
            Some((index, trusted)) => trusted.verify(index, signature)?,
            None => config
                .keys
                .as_ref()
                .ok_or(Reason::WrongIssuer)?
                .verify(signature)?,
        };
        let registered = RegisteredSeed {
            subject_claim: &config.subject_claim,
        }
        .deserialize(&mut serde_json::Deserializer::from_str(payload))
        .map_err(claim_error)?;

        let expires_at = required_date(registered.expires_at)?.at();
        let not_before = registered
            .not_before
            .map(|not_before| parse_numeric_date(not_before).map(TokenInstant::at))
            .transpose()?;
        let issued_at = required_date(registered.issued_at)?;
        let authenticated_at = registered.auth_time.map(parse_numeric_date).transpose()?;
        let now = Timestamp::from_system_time(SystemTime::now());
        config.check_clock(now, expires_at, not_before, issued_at.at())?;

        if registered.events.is_some() {
            return Err(Reason::WrongTokenType.into());
        }
        match trusted {
            // Its keys verified it, so its `iss` is the trusted issuer's.
            Some((_, trusted)) => check_audience(&registered, &trusted.audiences)?,
            None => {
                if let Some(required) = &config.issuer {
                    match &registered.issuer {
                        Some(Text(issuer)) if **issuer == **required => {}
                        Some(_) => return Err(Reason::WrongIssuer.into()),
                        None => return Err(Reason::MissingClaim.into()),
                    }
                }
                check_audience(&registered, &config.audiences)?;
            }
        }

        let token_type = match registered.token_use.as_ref().map(|text| &*text.0) {
            Some("access") => Some(TokenType::Access),
            Some("refresh") => Some(TokenType::Refresh),
            Some(_) => return Err(Reason::WrongTokenType.into()),
            None => None,
        };
        let type_accepted = match token_type {
            Some(token_type) => token_type == config.token_type,
            // Providers write no `token_use`; only access validators trust them.
            None => config.accept_untyped || trusted.is_some(),
        };
        if !type_accepted {
            return Err(Reason::WrongTokenType.into());
        }

        let Text(subject) = registered.subject.ok_or(Reason::MissingClaim)?;
        if subject.is_empty() || subject.len() > MAX_SUBJECT_BYTES {
            return Err(Reason::InvalidClaim.into());
        }
        let subject: Arc<str> = Arc::from(subject);
        let (cutoff_subject, trusted_issuer) = match trusted {
            None => (Arc::clone(&subject), None),
            Some((_, trusted)) => {
                let scoped = format!("{}{subject}", trusted.sessions_subject);
                if scoped.len() > MAX_SUBJECT_BYTES {
                    return Err(Reason::InvalidClaim.into());
                }
                (Arc::from(scoped), Some(Arc::clone(&trusted.issuer)))
            }
        };

        let session_id = match registered.session_id {
            Some(Text(sid)) if sid.is_empty() || sid.len() > MAX_SESSION_ID_BYTES => {
                return Err(Reason::InvalidClaim.into());
            }
            Some(Text(sid)) => Some(Arc::from(sid)),
            None => None,
        };
        // Bounded and printable, as the stores that spend refresh tokens keep their ids.
        let token_id = match registered.token_id {
            Some(Text(jti))
                if jti.is_empty()
                    || jti.len() > MAX_TOKEN_ID_BYTES
                    || jti.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                return Err(Reason::InvalidClaim.into());
            }
            Some(Text(jti)) => Some(Arc::from(jti)),
            None => None,
        };

        let claims = serde_json::from_str(payload).map_err(claim_error)?;
        self.announce();
        Ok(CachedToken {
            verified: Verified {
                subject,
                cutoff_subject,
                trusted_issuer,
                issuer_sessions: trusted
                    .filter(|_| session_id.is_some())
                    .map(|(_, trusted)| Arc::clone(&trusted.sessions_subject)),
                issued_at,
                authenticated_at,
                session_id,
                token_id,
                expires_at,
                token_type,
                claims,
            },
            not_before,
            keys: keys_stamp,
            claims_bytes: if size_of::<C>() == 0 {
                0
            } else {
                2 * payload.len()
            },
        })
    }
}

/// Why verification stopped short of a token that passed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unverified {
    /// The token is refused.
    Refused(Reason),
    /// The token's trusted issuer (its index) has no known key for it: its keys must be fetched
    /// first ([`Validator::verify_after_fetch`]).
    #[cfg_attr(
        not(feature = "remote-keys"),
        allow(dead_code, reason = "only fetched keys can be missing")
    )]
    NeedsKeys(usize),
}

impl From<Reason> for Unverified {
    fn from(reason: Reason) -> Self {
        Self::Refused(reason)
    }
}

impl Unverified {
    /// The reason, for paths that cannot wait for keys: a key still unknown.
    pub(crate) fn into_reason(self) -> Reason {
        match self {
            Self::Refused(reason) => reason,
            Self::NeedsKeys(_) => Reason::UnknownKey,
        }
    }
}

/// `typ` values of security event tokens (RFC 8417), back-channel logout tokens among them, with
/// or without the `application/` prefix, in any case (media types are case-insensitive).
fn is_event_type(typ: &str) -> bool {
    let typ = without_application_prefix(typ);
    ["logout+jwt", "secevent+jwt"]
        .iter()
        .any(|event| typ.eq_ignore_ascii_case(event))
}

/// A compact JWS's header, payload and signature segments, none of them empty.
fn segments(token: &str) -> Result<(&str, &str, &str), Reason> {
    let mut segments = token.split('.');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(header), Some(payload), Some(signature), None)
            if !header.is_empty() && !payload.is_empty() && !signature.is_empty() =>
        {
            Ok((header, payload, signature))
        }
        _ => Err(Reason::MalformedToken),
    }
}

/// The header's algorithm and `kid`, after the checks every token's header gets: a JSON object
/// with unique members, no `crit`, an `alg` this crate knows, and a `typ` (if any) that
/// `typ_allowed` takes.
fn read_header<'b>(
    header_b64: &str,
    buffer: &'b mut [u8],
    spill: &'b mut Vec<u8>,
    typ_allowed: fn(&str) -> bool,
) -> Result<(Algorithm, Option<Text<'b>>), Reason> {
    let header_json = decode_segment(header_b64, buffer, spill)?;
    let header: JoseHeader<'b> =
        serde_json::from_str(utf8(header_json)?).map_err(|_| Reason::MalformedToken)?;
    if header.has_crit {
        return Err(Reason::UnsupportedHeader);
    }
    if header
        .typ
        .as_ref()
        .is_some_and(|Text(typ)| !typ_allowed(typ))
    {
        return Err(Reason::WrongTokenType);
    }
    let Some(Text(alg)) = &header.alg else {
        return Err(Reason::MalformedToken);
    };
    let alg = Algorithm::from_name(alg).ok_or(Reason::AlgorithmNotAllowed)?;
    Ok((alg, header.kid))
}

/// A `typ` a logout token may have (OIDC Back-Channel Logout 1.0 §2.4): `logout+jwt`, or the
/// generic `JWT` that providers predating explicit typing write (their `events` claim still sets
/// them apart), with or without the `application/` prefix, in any case.
fn is_logout_type(typ: &str) -> bool {
    let typ = without_application_prefix(typ);
    typ.eq_ignore_ascii_case("logout+jwt") || typ.eq_ignore_ascii_case("jwt")
}

fn without_application_prefix(typ: &str) -> &str {
    typ.get(..12)
        .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| typ.get(12..).unwrap_or_default())
}

/// `aud` names one of `audiences`; nothing is required when there are none.
fn check_audience(registered: &Registered<'_>, audiences: &[Box<str>]) -> Result<(), Reason> {
    if audiences.is_empty() {
        return Ok(());
    }
    let audience = registered.audience.as_ref().ok_or(Reason::MissingClaim)?;
    let accepted = audience
        .0
        .iter()
        .any(|Text(aud)| audiences.iter().any(|required| **required == **aud));
    if accepted {
        Ok(())
    } else {
        Err(Reason::WrongAudience)
    }
}

/// What a signature check needs: the algorithm, the `kid`, the signed bytes and the signature.
type Signature<'a> = (Algorithm, Option<&'a str>, &'a [u8], &'a str);

impl Trusted {
    /// Verifies the signature with this issuer's keys; [`Unverified::NeedsKeys`] when they are
    /// fetched and none has the token's `kid` (or none was fetched yet). For fetched keys, which
    /// of them verified it.
    #[cfg_attr(
        not(feature = "remote-keys"),
        allow(unused_variables, reason = "only fetched keys can be missing")
    )]
    fn verify(
        &self,
        index: usize,
        (alg, kid, message, signature): Signature<'_>,
    ) -> Result<Option<KeysStamp>, Unverified> {
        match &self.keys {
            IssuerKeys::Static(keys) => {
                keys.verify(alg, kid, message, signature)?;
                Ok(None)
            }
            #[cfg(feature = "remote-keys")]
            IssuerKeys::Remote(remote) => match remote.current() {
                None => Err(Unverified::NeedsKeys(index)),
                Some((keys, generation)) => match keys.verify(alg, kid, message, signature) {
                    Err(Reason::UnknownKey) => Err(Unverified::NeedsKeys(index)),
                    // A key of a kind the set holds none of yet (rotation to another algorithm).
                    Err(Reason::AlgorithmNotAllowed)
                        if !keys.has_kid(kid) && remote.may_verify(alg) =>
                    {
                        Err(Unverified::NeedsKeys(index))
                    }
                    Err(reason) => Err(reason.into()),
                    Ok(()) => Ok(Some(KeysStamp {
                        issuer: Some(index),
                        generation,
                    })),
                },
            },
        }
    }
}

/// The `iss` of a payload not verified yet, only to pick the keys that must verify it.
#[derive(Deserialize)]
struct IssuerOnly<'a> {
    #[serde(borrow)]
    iss: Option<Text<'a>>,
}

/// A token that passed every check but the cutoff.
pub(crate) enum Checked<C> {
    /// Verified now, and not kept in the token cache.
    Verified(Verified<C>),
    /// In the token cache (found there, or just put in), with its remembered cutoff check.
    Cached(Arc<TokenEntry<C>>),
}

impl<C: Clone> Checked<C> {
    /// What verification found, for the request.
    pub(crate) fn into_verified(self) -> Verified<C> {
        match self {
            Self::Verified(verified) => verified,
            Self::Cached(entry) => entry.token.verified.clone(),
        }
    }
}

/// Verifies refresh tokens, for a refresh endpoint; made by [`ValidatorBuilder::build_refresh`].
///
/// A type of its own, so that neither kind of validator can stand in for the other: a layer takes
/// a [`Validator`] (access tokens), a refresh endpoint such as `jwt_cutoff_axum::refresh` takes a
/// `RefreshValidator`. It makes every check a [`Validator`] makes, and reads the subject's cutoff
/// from the store on every call, never from the cache.
///
/// Cheap to clone: clones share the configuration and the [`CutoffCache`].
pub struct RefreshValidator<C = NoClaims> {
    inner: Validator<C>,
}

impl<C> Clone for RefreshValidator<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<C> fmt::Debug for RefreshValidator<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshValidator")
            .field("config", &self.inner.shared.config)
            .field("cutoffs", &self.inner.shared.cutoffs)
            .finish()
    }
}

impl<C> RefreshValidator<C> {
    /// The same validator, reading the application's claims as `D` (see
    /// [`Validator::with_claims`]).
    #[must_use]
    pub fn with_claims<D: Clone + Send + Sync + 'static>(self) -> RefreshValidator<D> {
        RefreshValidator {
            inner: self.inner.with_claims(),
        }
    }

    /// The cutoffs this validator checks against.
    #[must_use]
    pub fn cutoffs(&self) -> &CutoffCache {
        self.inner.cutoffs()
    }
}

impl<C: DeserializeOwned + Clone + Send + Sync + 'static> RefreshValidator<C> {
    /// Validates the refresh token `token` completely, its subject's cutoff included.
    ///
    /// The cutoff is read from the store on every call ([`CutoffCache::lookup_in_store`]), never
    /// from the cache: what this validator admits mints new tokens, and a cache can be a TTL or a
    /// push delay behind a logout made on another instance.
    ///
    /// # Errors
    /// The token is refused (an access token among others: [`Reason::WrongTokenType`] with a shared
    /// key, [`Reason::BadSignature`] with separate keys), or the cutoff store is unavailable
    /// ([`Reason::Unavailable`]).
    pub async fn validate(&self, token: &str) -> Result<Verified<C>, Rejection> {
        self.inner.validate(token).await
    }
}

impl<C> Validator<C> {
    /// Adds `C` to [`VERIFIED_CLAIMS_TYPES`] the first time this validator verifies an access token.
    fn announce(&self) {
        let shared = &*self.shared;
        if shared.config.token_type != TokenType::Access || shared.announced.load(Ordering::Relaxed)
        {
            return;
        }
        shared.announced.store(true, Ordering::Relaxed);
        let name = type_name::<C>();
        let mut names = VERIFIED_CLAIMS_TYPES
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !names.contains(&name) {
            names.push(name);
        }
    }
}

impl Config {
    /// The trusted issuer whose `iss` the payload names, with its index; `None` for a token of
    /// this service's own (or of nobody trusted: its own keys then refuse it).
    fn trusted_issuer_of(&self, payload: &str) -> Result<Option<(usize, &Trusted)>, Reason> {
        if self.trusted.is_empty() {
            return Ok(None);
        }
        let issuer = serde_json::from_str::<IssuerOnly<'_>>(payload)
            .map_err(|_| Reason::MalformedToken)?
            .iss;
        Ok(issuer.and_then(|Text(issuer)| {
            self.trusted
                .iter()
                .enumerate()
                .find(|(_, trusted)| *trusted.issuer == *issuer)
        }))
    }

    /// The checks that depend on the clock, with the leeway; made on every request, cached or not.
    fn check_clock(
        &self,
        now: Timestamp,
        expires_at: Timestamp,
        not_before: Option<Timestamp>,
        issued_at: Timestamp,
    ) -> Result<(), Reason> {
        let latest_acceptable = now.saturating_add(self.leeway);
        if now.saturating_sub(self.leeway) >= expires_at {
            return Err(Reason::Expired);
        }
        if not_before.is_some_and(|not_before| not_before > latest_acceptable) {
            return Err(Reason::NotYetValid);
        }
        if issued_at > latest_acceptable {
            return Err(Reason::IssuedInFuture);
        }
        Ok(())
    }
}

fn token_cache<C: Clone + Send + Sync + 'static>(max_bytes: u64) -> Option<TokenCache<C>> {
    (max_bytes > 0).then(|| TokenCache::new(max_bytes))
}

/// Decodes a base64url segment (canonical, unpadded) into `buffer` if it fits, else into `spill`.
fn decode_segment<'b>(
    segment: &str,
    buffer: &'b mut [u8],
    spill: &'b mut Vec<u8>,
) -> Result<&'b [u8], Reason> {
    if base64::decoded_len_estimate(segment.len()) <= buffer.len() {
        let len = URL_SAFE_NO_PAD
            .decode_slice(segment, buffer)
            .map_err(|_| Reason::MalformedToken)?;
        buffer.get(..len).ok_or(Reason::MalformedToken)
    } else {
        URL_SAFE_NO_PAD
            .decode_vec(segment, spill)
            .map_err(|_| Reason::MalformedToken)?;
        Ok(spill)
    }
}

/// JSON text must be UTF-8 (RFC 8259 §8.1); serde_json would not check members it skips.
fn utf8(json: &[u8]) -> Result<&str, Reason> {
    std::str::from_utf8(json).map_err(|_| Reason::MalformedToken)
}

fn required_date(raw: Option<&serde_json::value::RawValue>) -> Result<TokenInstant, Reason> {
    parse_numeric_date(raw.ok_or(Reason::MissingClaim)?)
}

fn parse_numeric_date(raw: &serde_json::value::RawValue) -> Result<TokenInstant, Reason> {
    numeric_date::parse(raw.get()).ok_or(Reason::InvalidClaim)
}

fn claim_error(error: serde_json::Error) -> Reason {
    if error.is_data() {
        Reason::InvalidClaim
    } else {
        Reason::MalformedToken
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;
    use crate::{Cutoff, MemoryStore, SigningKey, TokenIssuer};

    const SECRET: &[u8] = b"a token-cache test secret of 32 bytes";

    fn validator(token_cache_max_bytes: u64) -> Validator {
        Validator::builder()
            .algorithms([Algorithm::HS256])
            .key(VerifyingKey::hmac(SECRET).unwrap())
            .leeway(Duration::from_secs(1))
            .token_cache_max_bytes(token_cache_max_bytes)
            .build(CutoffCache::new(MemoryStore::new()))
            .unwrap()
    }

    fn issuer() -> TokenIssuer {
        TokenIssuer::builder(SigningKey::hmac(SECRET, Algorithm::HS256).unwrap())
            .build()
            .unwrap()
    }

    fn token(subject: &str) -> String {
        issuer().issue_access(subject, &()).unwrap().token
    }

    fn cached_entries(validator: &Validator) -> u64 {
        validator.shared.tokens.as_ref().unwrap().len()
    }

    #[test]
    fn only_tokens_that_pass_are_cached() {
        let validator = validator(DEFAULT_TOKEN_CACHE_BYTES);
        let good = token("alice");
        let (signed, _signature) = good.rsplit_once('.').unwrap();
        let signed_but_refresh = issuer().issue_refresh("alice", &()).unwrap().token;
        let padding = serde_json::json!({ "padding": "x".repeat(DEFAULT_MAX_TOKEN_BYTES) });
        let signed_but_too_large = issuer().issue_access("alice", &padding).unwrap().token;
        for refused in [
            format!("{signed}.AAAA"),
            format!("{signed}x.{}", "A".repeat(43)),
            signed_but_refresh,
            signed_but_too_large,
        ] {
            assert!(validator.verify(&refused).is_err());
        }
        assert_eq!(cached_entries(&validator), 0, "a refused token was cached");
        validator.verify(&good).unwrap();
        validator.verify(&good).unwrap();
        assert_eq!(cached_entries(&validator), 1);
    }

    /// Entries are put in by hand, past what verification allows, to show that a hit is decided on
    /// the clock again rather than trusted. (An expired entry cannot be shown this way: the cache
    /// drops it at `exp` by itself, so the check below matters only if the wall clock jumps; it is
    /// the same function, and `tests/token_cache.rs` shows a cached token expiring.)
    #[test]
    fn a_hit_is_checked_against_the_clock_again() {
        let validator = validator(DEFAULT_TOKEN_CACHE_BYTES);
        let tokens = validator.shared.tokens.as_ref().unwrap();
        let good = token("alice");
        let fresh = validator.verify_uncached(&good).unwrap();
        let now = Timestamp::now();
        let hour = Duration::from_secs(3600);

        let mut not_yet_valid = fresh.clone();
        not_yet_valid.not_before = Some(now.saturating_add(hour));
        let mut issued_in_future = fresh;
        issued_in_future.verified.issued_at = TokenInstant::precise(now.saturating_add(hour));

        for (entry, reason) in [
            (not_yet_valid, Reason::NotYetValid),
            (issued_in_future, Reason::IssuedInFuture),
        ] {
            let check = validator.cutoffs().token_check(
                Arc::clone(&entry.verified.subject),
                None,
                entry.verified.judged_instant(),
            );
            tokens.insert(
                &good,
                TokenEntry {
                    token: entry,
                    check,
                },
            );
            assert_eq!(validator.verify(&good).err(), Some(reason.into()));
        }
        let past = now.saturating_sub(hour);
        assert_eq!(
            validator.shared.config.check_clock(now, past, None, past),
            Err(Reason::Expired)
        );
    }

    #[test]
    fn tokens_accepted_only_within_the_leeway_are_not_cached() {
        let validator = validator(DEFAULT_TOKEN_CACHE_BYTES);
        let good = token("alice");
        let fresh = validator.verify_uncached(&good).unwrap();
        assert!(TokenCache::keeps(&fresh));
        let mut expired = fresh;
        // A second ago, not `now()`: `Timestamp::now` may run a few microseconds ahead of the wall
        // clock while other tests call it, and the cache reads the wall clock.
        expired.verified.expires_at = Timestamp::now().saturating_sub(Duration::from_secs(1));
        assert!(!TokenCache::keeps(&expired));
    }

    #[test]
    fn a_token_past_its_exp_is_verified_but_not_cached() {
        let validator = Validator::builder()
            .algorithms([Algorithm::HS256])
            .key(VerifyingKey::hmac(SECRET).unwrap())
            .leeway(Duration::from_secs(30))
            .build(CutoffCache::new(MemoryStore::new()))
            .unwrap();
        let expired = TokenIssuer::builder(SigningKey::hmac(SECRET, Algorithm::HS256).unwrap())
            .access_lifetime(Duration::ZERO)
            .build()
            .unwrap()
            .issue_access("alice", &())
            .unwrap()
            .token;
        assert!(matches!(
            validator.verify(&expired),
            Ok(Checked::Verified(_))
        ));
        assert_eq!(cached_entries(&validator), 0);
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        const MAX_BYTES: u64 = 64 * 1024;
        /// A lower bound of what the weigher counts per entry beside the token.
        const ENTRY_BYTES_FLOOR: usize = 160;
        let validator = validator(MAX_BYTES);
        let issued: Vec<_> = (0..2_000).map(|n| token(&format!("user-{n}"))).collect();
        for token in &issued {
            validator.verify(token).unwrap();
        }
        let entries = cached_entries(&validator);
        let smallest_entry = u64::try_from(issued[0].len() + ENTRY_BYTES_FLOOR).unwrap();
        assert!(entries > 0, "nothing was cached");
        assert!(
            entries * smallest_entry <= MAX_BYTES,
            "{entries} entries exceed {MAX_BYTES} bytes"
        );
    }

    #[test]
    fn a_zero_bound_turns_the_cache_off() {
        let validator = validator(0);
        assert!(validator.shared.tokens.is_none());
        let good = token("alice");
        validator.verify(&good).unwrap();
        validator.verify(&good).unwrap();
    }

    #[test]
    fn refresh_validators_cache_no_tokens_unless_asked() {
        let refresh = || {
            Validator::builder()
                .algorithms([Algorithm::HS256])
                .key(VerifyingKey::hmac(SECRET).unwrap())
                .token_type(TokenType::Refresh)
        };
        let cutoffs = CutoffCache::new(MemoryStore::new());
        assert!(
            refresh()
                .build(cutoffs.clone())
                .unwrap()
                .shared
                .tokens
                .is_none()
        );
        let asked = refresh()
            .token_cache_max_bytes(DEFAULT_TOKEN_CACHE_BYTES)
            .build(cutoffs)
            .unwrap();
        assert!(asked.shared.tokens.is_some());
    }

    fn hs_builder() -> ValidatorBuilder {
        Validator::builder()
            .algorithms([Algorithm::HS256])
            .key(VerifyingKey::hmac(SECRET).unwrap())
    }

    #[tokio::test]
    async fn a_refresh_validator_takes_refresh_tokens_and_reads_the_store() {
        use jwt_cutoff_store::{CutoffSource as _, Scope};

        let store = MemoryStore::new();
        let cutoffs = CutoffCache::new(store.clone());
        let access = hs_builder().build(cutoffs.clone()).unwrap();
        let refresh = hs_builder().build_refresh(cutoffs.clone()).unwrap();
        assert!(refresh.inner.shared.tokens.is_none());
        assert_eq!(refresh.inner.token_type(), TokenType::Refresh);

        let pair = issuer().issue_pair("alice", &()).unwrap();
        assert!(access.validate(&pair.access.token).await.is_ok());
        assert!(refresh.validate(&pair.refresh.token).await.is_ok());
        assert_eq!(
            refresh
                .validate(&pair.access.token)
                .await
                .unwrap_err()
                .reason(),
            Reason::WrongTokenType
        );

        // A logout written to the store behind this instance's cache (by another instance, say):
        // the cache still admits the access token, the refresh validator asks the store.
        let cutoff = Cutoff::ValidFrom(Timestamp::now());
        store.raise(Scope::Subject("alice"), cutoff).await.unwrap();
        assert!(access.validate(&pair.access.token).await.is_ok());
        assert_eq!(
            refresh
                .validate(&pair.refresh.token)
                .await
                .unwrap_err()
                .reason(),
            Reason::Revoked
        );
    }

    #[test]
    fn access_validators_name_the_claims_types_they_verified() {
        #[derive(Clone, serde::Deserialize)]
        struct NamedInThisTestOnly {}
        let name = type_name::<NamedInThisTestOnly>();
        let cutoffs = CutoffCache::new(MemoryStore::new());
        let access = hs_builder()
            .build(cutoffs.clone())
            .unwrap()
            .with_claims::<NamedInThisTestOnly>();
        assert!(!Validator::verified_claims_types().contains(&name));
        assert!(access.verify(&token("alice")).is_ok());
        assert!(Validator::verified_claims_types().contains(&name));

        #[derive(Clone, serde::Deserialize)]
        struct RefreshOnly {}
        let refresh = hs_builder()
            .build_refresh(cutoffs)
            .unwrap()
            .with_claims::<RefreshOnly>();
        let refresh_token = issuer().issue_refresh("alice", &()).unwrap().token;
        assert!(refresh.inner.verify(&refresh_token).is_ok());
        assert!(!Validator::verified_claims_types().contains(&type_name::<RefreshOnly>()));
    }

    #[test]
    fn build_refresh_refuses_what_cannot_be_a_refresh_validator() {
        let cutoffs = CutoffCache::new(MemoryStore::new());
        let access_asked = hs_builder()
            .token_type(TokenType::Access)
            .build_refresh(cutoffs.clone());
        assert!(access_asked.is_err());
        let untyped = hs_builder()
            .accept_untyped_tokens()
            .build_refresh(cutoffs.clone());
        assert!(untyped.is_err());
        assert!(
            hs_builder()
                .token_type(TokenType::Refresh)
                .build_refresh(cutoffs)
                .is_ok()
        );
    }

    #[test]
    fn a_bound_too_small_for_any_token_is_refused() {
        let built = Validator::builder()
            .algorithms([Algorithm::HS256])
            .key(VerifyingKey::hmac(SECRET).unwrap())
            .token_cache_max_bytes(100)
            .build(CutoffCache::new(MemoryStore::new()));
        assert!(built.is_err());
    }
}

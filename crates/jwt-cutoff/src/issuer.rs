//! [`TokenIssuer`]: mints access and refresh tokens that the [`Validator`](crate::Validator) reads
//! exactly as they were meant.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::claims::{CHECKED_CLAIMS, TokenType, Verified, check_subject_claim};
use crate::error::ConfigError;
use crate::keys::SigningKey;
use crate::numeric_date;
use crate::rotation::SigningKeys;
use jwt_cutoff_store::{MAX_SUBJECT_BYTES, Timestamp, TokenInstant};

/// Mints access and refresh tokens.
///
/// - `iat` is written with microseconds from the same strictly increasing clock that
///   [`CutoffCache::logout_all`](crate::CutoffCache::logout_all) stamps cutoffs with, so in one process a
///   token minted after a logout returned is accepted and one minted before it is refused, even
///   within one second.
/// - `auth_time` is the instant of the login the token descends from: `iat` for tokens minted at a
///   login ([`issue_pair`](Self::issue_pair)), the refresh token's own for a pair minted from it
///   ([`refresh_pair`](Self::refresh_pair)). Cutoffs judge a token by the earlier of `iat` and
///   `auth_time`, so a refresh cannot launder a logout: a pair refreshed from a login made before
///   the logout is refused as soon as the logout is known, however late the refresh slipped
///   through.
/// - `sid` names the session: one per login ([`issue_pair`](Self::issue_pair)), kept by every
///   refresh, so one device's tokens can be told from another's.
/// - `token_use` says `access` or `refresh`, so neither can stand in for the other.
/// - `exp` is `iat` plus the lifetime, in whole seconds.
///
/// ```
/// use jwt_cutoff::{Algorithm, SigningKey, TokenIssuer};
/// use std::time::Duration;
///
/// let issuer = TokenIssuer::builder(SigningKey::hmac(b"an access secret of at least 32 bytes", Algorithm::HS256)?)
///     .refresh_key(SigningKey::hmac(b"a refresh secret of at least 32 bytes", Algorithm::HS256)?)
///     .access_lifetime(Duration::from_secs(300))
///     .build()?;
/// let pair = issuer.issue_pair("alice", &serde_json::json!({ "username": "alice" }))?;
/// assert!(pair.access.expires_at < pair.refresh.expires_at);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct TokenIssuer {
    config: Arc<IssuerConfig>,
}

#[derive(Debug)]
struct IssuerConfig {
    access_keys: Signing,
    refresh_keys: Signing,
    subject_claim: String,
    issuer: Option<String>,
    audience: Option<String>,
    access_lifetime: Duration,
    refresh_lifetime: Duration,
}

/// What one kind of token is signed with.
#[derive(Clone, Debug)]
enum Signing {
    One(Arc<SigningKey>),
    Rotating(SigningKeys),
}

impl Signing {
    fn signing_now(&self) -> Result<Arc<SigningKey>, IssueError> {
        match self {
            Self::One(key) => Ok(Arc::clone(key)),
            Self::Rotating(keys) => keys
                .signing_now()
                .ok_or_else(|| IssueError::new("no signing key's turn has come")),
        }
    }

    /// Keys that rotate must keep a retired key published for as long as its tokens live.
    fn check_kept_for(&self, lifetime: Duration, kind: &str) -> Result<(), ConfigError> {
        match self {
            Self::Rotating(keys) if keys.keep_retired() < lifetime => {
                Err(ConfigError::new(format!(
                    "the {kind} keys keep a retired key published for {:?}, less than the {kind} \
                     tokens' lifetime of {lifetime:?}: tokens it signed would be refused before \
                     they expire",
                    keys.keep_retired()
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Configures a [`TokenIssuer`]; made by [`TokenIssuer::builder`] or
/// [`TokenIssuer::builder_rotating`].
#[derive(Debug)]
#[must_use]
pub struct TokenIssuerBuilder {
    config: IssuerConfig,
}

impl TokenIssuerBuilder {
    /// Signs refresh tokens with their own key (default: the access key). With separate keys, a
    /// validator that only holds the access key cannot be fooled into accepting a refresh token even
    /// if it is misconfigured.
    pub fn refresh_key(mut self, key: SigningKey) -> Self {
        self.config.refresh_keys = Signing::One(Arc::new(key));
        self
    }

    /// Signs refresh tokens with keys that rotate (see [`refresh_key`](Self::refresh_key)).
    pub fn refresh_keys(mut self, keys: SigningKeys) -> Self {
        self.config.refresh_keys = Signing::Rotating(keys);
        self
    }

    /// The claim that names the subject (default `sub`); match the validator's.
    pub fn subject_claim(mut self, claim: impl Into<String>) -> Self {
        self.config.subject_claim = claim.into();
        self
    }

    /// Writes `iss`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.config.issuer = Some(issuer.into());
        self
    }

    /// Writes `aud`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.config.audience = Some(audience.into());
        self
    }

    /// How long access tokens live (default 5 minutes).
    pub fn access_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.access_lifetime = lifetime;
        self
    }

    /// How long refresh tokens live (default 30 days).
    pub fn refresh_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.refresh_lifetime = lifetime;
        self
    }

    /// The issuer.
    ///
    /// # Errors
    /// The subject claim is one of the registered claims this crate writes itself (`iat`, `exp`,
    /// `nbf`, `iss`, `aud`, `token_use`, `auth_time`), which no validator would accept; keys that
    /// rotate keep a retired key for less than the lifetime of the tokens it signed; or this
    /// build has no crypto backend (see the crate docs).
    pub fn build(self) -> Result<TokenIssuer, ConfigError> {
        crate::crypto::provider().ok_or_else(|| ConfigError::new(crate::crypto::MISSING))?;
        check_subject_claim(&self.config.subject_claim).map_err(ConfigError::new)?;
        let config = &self.config;
        config
            .access_keys
            .check_kept_for(config.access_lifetime, "access")?;
        config
            .refresh_keys
            .check_kept_for(config.refresh_lifetime, "refresh")?;
        Ok(TokenIssuer {
            config: Arc::new(self.config),
        })
    }
}

/// A freshly minted token.
///
/// Its `Debug` output hides the token.
#[derive(Clone)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The compact JWT, to hand to the client. Secret: do not log it.
    pub token: String,
    /// Its `iat`.
    pub issued_at: Timestamp,
    /// Its `auth_time`: when the login it descends from happened.
    pub authenticated_at: Timestamp,
    /// Its `exp`.
    pub expires_at: Timestamp,
    /// Its `jti`: a refresh token's own id (128 random bits), which rotation spends; `None` for an
    /// access token, which has none.
    pub id: Option<String>,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("issued_at", &self.issued_at)
            .field("authenticated_at", &self.authenticated_at)
            .field("expires_at", &self.expires_at)
            .field("id", &self.id)
            .finish()
    }
}

/// An access token and a refresh token, minted together.
///
/// Its `Debug` output hides the tokens.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenPair {
    /// The short-lived token for requests.
    pub access: IssuedToken,
    /// The long-lived token for the refresh endpoint.
    pub refresh: IssuedToken,
    /// The session both tokens carry as `sid`: minted at the login, kept by every refresh. An
    /// identifier, not a secret: a device list may show it.
    pub session_id: String,
}

/// A token could not be minted.
#[derive(Debug)]
pub struct IssueError {
    message: String,
}

impl IssueError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for IssueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for IssueError {}

impl TokenIssuer {
    /// Configures an issuer that signs with `access_key` (and refresh tokens too, unless
    /// [`refresh_key`](TokenIssuerBuilder::refresh_key) says otherwise).
    pub fn builder(access_key: SigningKey) -> TokenIssuerBuilder {
        Self::with_keys(Signing::One(Arc::new(access_key)))
    }

    /// Configures an issuer that signs with whichever of `access_keys` signs at the time (and
    /// refresh tokens too, unless [`refresh_key`](TokenIssuerBuilder::refresh_key) or
    /// [`refresh_keys`](TokenIssuerBuilder::refresh_keys) says otherwise): see [`SigningKeys`].
    pub fn builder_rotating(access_keys: SigningKeys) -> TokenIssuerBuilder {
        Self::with_keys(Signing::Rotating(access_keys))
    }

    fn with_keys(access_keys: Signing) -> TokenIssuerBuilder {
        TokenIssuerBuilder {
            config: IssuerConfig {
                refresh_keys: access_keys.clone(),
                access_keys,
                subject_claim: "sub".to_owned(),
                issuer: None,
                audience: None,
                access_lifetime: Duration::from_secs(5 * 60),
                refresh_lifetime: Duration::from_secs(30 * 24 * 60 * 60),
            },
        }
    }

    /// Mints an access token for `subject` at a login, with `extra` claims (any value that
    /// serializes to a JSON object, or `()` for none).
    ///
    /// # Errors
    /// The subject is empty or longer than [`MAX_SUBJECT_BYTES`](crate::MAX_SUBJECT_BYTES),
    /// `extra` is not an object or sets a claim the issuer writes, or signing failed.
    pub fn issue_access(
        &self,
        subject: &str,
        extra: &impl Serialize,
    ) -> Result<IssuedToken, IssueError> {
        self.issue_alone(TokenType::Access, subject, extra)
    }

    /// Mints a refresh token for `subject` at a login.
    ///
    /// # Errors
    /// As for [`issue_access`](TokenIssuer::issue_access).
    pub fn issue_refresh(
        &self,
        subject: &str,
        extra: &impl Serialize,
    ) -> Result<IssuedToken, IssueError> {
        self.issue_alone(TokenType::Refresh, subject, extra)
    }

    /// Mints an access and a refresh token for `subject` at a login (a password checked, say),
    /// with the same extra claims. Both carry the login's instant as `auth_time` and a new session
    /// id (128 random bits) as `sid`, also in [`TokenPair::session_id`].
    ///
    /// Not for a refresh endpoint: a new pair minted there must keep the login instant of the
    /// refresh token it replaces, or a logout could be laundered. Use
    /// [`refresh_pair`](Self::refresh_pair) there.
    ///
    /// # Errors
    /// As for [`issue_access`](TokenIssuer::issue_access).
    pub fn issue_pair(
        &self,
        subject: &str,
        extra: &impl Serialize,
    ) -> Result<TokenPair, IssueError> {
        let session_id = new_session_id()?;
        self.pair(subject, Login::now(), session_id, extra)
    }

    /// Mints a new pair from a verified refresh token: same subject, same session (`sid`), and the
    /// `auth_time` of the login that refresh token descends from, so a cutoff that covers that
    /// login covers the new pair as well. A refresh token without a `sid` (minted before sessions,
    /// or by [`issue_refresh`](Self::issue_refresh)) starts a new session.
    ///
    /// # Errors
    /// `refreshed` is not a refresh token, or as for [`issue_access`](TokenIssuer::issue_access).
    pub fn refresh_pair<C>(
        &self,
        refreshed: &Verified<C>,
        extra: &impl Serialize,
    ) -> Result<TokenPair, IssueError> {
        if refreshed.token_type() != Some(TokenType::Refresh) {
            return Err(IssueError::new(
                "a new pair is only minted from a refresh token",
            ));
        }
        // The instant the refresh token itself is judged by: its login, or its `iat` if earlier.
        let login = Login(refreshed.judged_instant());
        let session_id = match refreshed.session_id() {
            Some(session_id) => session_id.to_owned(),
            None => new_session_id()?,
        };
        self.pair(refreshed.subject(), login, session_id, extra)
    }

    /// One token at a login, of no session: the lone tokens of `issue_access` and `issue_refresh`.
    fn issue_alone(
        &self,
        token_type: TokenType,
        subject: &str,
        extra: &impl Serialize,
    ) -> Result<IssuedToken, IssueError> {
        let extra = extra_claims(extra)?;
        self.issue(token_type, subject, Login::now(), None, &extra)
    }

    fn pair(
        &self,
        subject: &str,
        login: Login,
        session_id: String,
        extra: &impl Serialize,
    ) -> Result<TokenPair, IssueError> {
        let extra = extra_claims(extra)?;
        let session = Some(session_id.as_str());
        Ok(TokenPair {
            access: self.issue(TokenType::Access, subject, login, session, &extra)?,
            refresh: self.issue(TokenType::Refresh, subject, login, session, &extra)?,
            session_id,
        })
    }

    /// How long access tokens live.
    #[must_use]
    pub fn access_lifetime(&self) -> Duration {
        self.config.access_lifetime
    }

    fn issue(
        &self,
        token_type: TokenType,
        subject: &str,
        login: Login,
        session_id: Option<&str>,
        extra: &Map<String, Value>,
    ) -> Result<IssuedToken, IssueError> {
        let config = &*self.config;
        if subject.is_empty() || subject.len() > MAX_SUBJECT_BYTES {
            return Err(IssueError::new(format!(
                "the subject must be 1 to {MAX_SUBJECT_BYTES} bytes long"
            )));
        }
        if let Some(name) = extra.keys().find(|name| {
            CHECKED_CLAIMS.contains(&name.as_str())
                || *name == "sub"
                || **name == config.subject_claim
        }) {
            return Err(IssueError::new(format!(
                "extra claims may not set {name:?}; the issuer writes it"
            )));
        }
        let (keys, lifetime) = match token_type {
            TokenType::Access => (&config.access_keys, config.access_lifetime),
            TokenType::Refresh => (&config.refresh_keys, config.refresh_lifetime),
        };
        let key = keys.signing_now()?;
        let issued_at = Timestamp::now();
        let expires_at =
            Timestamp::from_unix_secs(issued_at.saturating_add(lifetime).as_unix_secs());
        let json = |instant: TokenInstant| {
            RawValue::from_string(numeric_date::to_json(instant))
                .map_err(|error| IssueError::new(format!("NumericDate: {error}")))
        };
        let issued_at_json = json(TokenInstant::precise(issued_at))?;
        let id = match token_type {
            TokenType::Refresh => Some(random_id("a token id")?),
            TokenType::Access => None,
        };
        let auth_time_json = json(login.0)?;
        let claims = IssuedClaims {
            subject_claim: &config.subject_claim,
            subject,
            issued_at: &issued_at_json,
            auth_time: &auth_time_json,
            session_id,
            token_id: id.as_deref(),
            expires_at: expires_at.as_unix_secs(),
            issuer: config.issuer.as_deref(),
            audience: config.audience.as_deref(),
            token_use: token_type.claim_value(),
            extra,
        };
        let mut header = serde_json::json!({ "alg": key.algorithm.name(), "typ": "JWT" });
        if let (Some(kid), Value::Object(header)) = (&key.kid, &mut header) {
            header.insert("kid".to_owned(), Value::String(kid.clone()));
        }
        let encode = |part: Vec<u8>| URL_SAFE_NO_PAD.encode(part);
        let (header, claims) = (
            encode(
                serde_json::to_vec(&header).map_err(|error| IssueError::new(error.to_string()))?,
            ),
            encode(
                serde_json::to_vec(&claims).map_err(|error| IssueError::new(error.to_string()))?,
            ),
        );
        let signing_input = format!("{header}.{claims}");
        let signature = key
            .sign(signing_input.as_bytes())
            .map_err(|error| IssueError::new(error.to_string()))?;
        let token = format!("{signing_input}.{signature}");
        Ok(IssuedToken {
            token,
            issued_at,
            authenticated_at: login.0.at(),
            expires_at,
            id,
        })
    }
}

/// The login a token descends from: now for a new login, or a refresh token's own.
#[derive(Clone, Copy)]
struct Login(TokenInstant);

impl Login {
    fn now() -> Self {
        Self(TokenInstant::precise(Timestamp::now()))
    }
}

/// A new session id: see [`random_id`].
fn new_session_id() -> Result<String, IssueError> {
    random_id("a session id")
}

/// 128 random bits from the operating system, base64url without padding (22 characters), so that
/// no one can guess another login's session or another refresh token's id.
fn random_id(what: &str) -> Result<String, IssueError> {
    let mut bits = [0_u8; 16];
    getrandom::fill(&mut bits)
        .map_err(|error| IssueError::new(format!("no randomness for {what}: {error}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bits))
}

/// The application's extra claims as a JSON object.
fn extra_claims(extra: &impl Serialize) -> Result<Map<String, Value>, IssueError> {
    match serde_json::to_value(extra) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(IssueError::new("extra claims must serialize to an object")),
        Err(error) => Err(IssueError::new(format!("extra claims: {error}"))),
    }
}

struct IssuedClaims<'a> {
    subject_claim: &'a str,
    subject: &'a str,
    issued_at: &'a RawValue,
    auth_time: &'a RawValue,
    session_id: Option<&'a str>,
    token_id: Option<&'a str>,
    expires_at: i64,
    issuer: Option<&'a str>,
    audience: Option<&'a str>,
    token_use: &'static str,
    extra: &'a Map<String, Value>,
}

impl Serialize for IssuedClaims<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(self.subject_claim, self.subject)?;
        map.serialize_entry("iat", self.issued_at)?;
        map.serialize_entry("auth_time", self.auth_time)?;
        if let Some(session_id) = self.session_id {
            map.serialize_entry("sid", session_id)?;
        }
        if let Some(token_id) = self.token_id {
            map.serialize_entry("jti", token_id)?;
        }
        map.serialize_entry("exp", &self.expires_at)?;
        if let Some(issuer) = self.issuer {
            map.serialize_entry("iss", issuer)?;
        }
        if let Some(audience) = self.audience {
            map.serialize_entry("aud", audience)?;
        }
        map.serialize_entry("token_use", self.token_use)?;
        for (name, value) in self.extra {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, CutoffCache, MemoryStore, Reason, Validator, VerifyingKey};

    const SECRET: &[u8] = b"a secret of exactly sixty-four bytes for every HMAC algorithm...";

    fn signing_and_verifying(algorithm: Algorithm) -> (SigningKey, VerifyingKey) {
        let pem = |name: &str| -> &'static [u8] {
            match name {
                "rsa_private" => include_bytes!("../tests/keys/rsa_private.pem"),
                "rsa_public" => include_bytes!("../tests/keys/rsa_public.pem"),
                "ec_private" => include_bytes!("../tests/keys/ec_private.pem"),
                "ec_public" => include_bytes!("../tests/keys/ec_public.pem"),
                "ed_private" => include_bytes!("../tests/keys/ed_private.pem"),
                _ => include_bytes!("../tests/keys/ed_public.pem"),
            }
        };
        match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => (
                SigningKey::hmac(SECRET, algorithm).unwrap(),
                VerifyingKey::hmac(SECRET).unwrap(),
            ),
            Algorithm::ES256 => (
                SigningKey::ec_pem(pem("ec_private"), algorithm).unwrap(),
                VerifyingKey::ec_pem(pem("ec_public")).unwrap(),
            ),
            Algorithm::EdDSA => (
                SigningKey::ed_pem(pem("ed_private")).unwrap(),
                VerifyingKey::ed_pem(pem("ed_public")).unwrap(),
            ),
            _ => (
                SigningKey::rsa_pem(pem("rsa_private"), algorithm).unwrap(),
                VerifyingKey::rsa_pem(pem("rsa_public")).unwrap(),
            ),
        }
    }

    /// Run under each crypto backend by `.ci/run`: a backend that compiles but cannot sign or verify
    /// fails here, not on a user's first request.
    #[tokio::test]
    async fn every_algorithm_round_trips_through_the_enabled_backend() {
        for algorithm in [
            Algorithm::HS256,
            Algorithm::HS384,
            Algorithm::HS512,
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ] {
            let (signing, verifying) = signing_and_verifying(algorithm);
            let cutoffs = CutoffCache::new(MemoryStore::new());
            let validator = Validator::builder()
                .algorithms([algorithm])
                .key(verifying)
                .build(cutoffs.clone())
                .unwrap();
            let issuer = TokenIssuer::builder(signing).build().unwrap();
            let token = issuer.issue_access("alice", &()).unwrap();
            let verified = validator.validate(&token.token).await.unwrap();
            assert_eq!(verified.subject(), "alice", "{algorithm}");
            assert_eq!(verified.issued_at(), token.issued_at, "{algorithm}");

            cutoffs.logout_all("alice").await.unwrap();
            let refused = validator.validate(&token.token).await.unwrap_err();
            assert_eq!(refused.reason(), Reason::Revoked, "{algorithm}");
        }
    }

    #[test]
    fn extra_claims_cannot_overwrite_registered_ones() {
        let (signing, _) = signing_and_verifying(Algorithm::HS256);
        let issuer = TokenIssuer::builder(signing).build().unwrap();
        for reserved in CHECKED_CLAIMS.into_iter().chain(["sub"]) {
            let extra = serde_json::json!({ reserved: "x" });
            assert!(issuer.issue_access("alice", &extra).is_err(), "{reserved}");
            assert!(issuer.issue_pair("alice", &extra).is_err(), "{reserved}");
        }
        assert!(issuer.issue_access("alice", &[1, 2]).is_err());
        assert!(issuer.issue_access("", &()).is_err());
        assert!(issuer.issue_access(&"a".repeat(257), &()).is_err());
    }

    /// The issuer and the validator share one list of claims that cannot name the subject: an
    /// issuer whose tokens no validator would accept is refused when it is built.
    #[test]
    fn a_checked_claim_cannot_name_the_subject() {
        for claim in CHECKED_CLAIMS.into_iter().chain([""]) {
            let (signing, verifying) = signing_and_verifying(Algorithm::HS256);
            let issuer = TokenIssuer::builder(signing).subject_claim(claim).build();
            assert!(issuer.is_err(), "issuer with subject claim {claim:?}");
            let validator = Validator::builder()
                .algorithms([Algorithm::HS256])
                .key(verifying)
                .subject_claim(claim)
                .build(CutoffCache::new(MemoryStore::new()));
            assert!(validator.is_err(), "validator with subject claim {claim:?}");
        }
        let (signing, _) = signing_and_verifying(Algorithm::HS256);
        assert!(
            TokenIssuer::builder(signing)
                .subject_claim("user")
                .build()
                .is_ok()
        );
    }

    #[test]
    fn debug_output_never_holds_the_signing_secret() {
        let (signing, _) = signing_and_verifying(Algorithm::HS256);
        let builder = TokenIssuer::builder(signing).issuer("https://auth.example");
        let debug = format!("{builder:?}");
        let issuer = builder.build().unwrap();
        let secret = String::from_utf8_lossy(SECRET);
        for debug in [debug, format!("{issuer:?}"), format!("{issuer:#?}")] {
            assert!(!debug.contains(&*secret), "{debug}");
            assert!(debug.contains("HS256"), "{debug}");
        }
    }

    #[test]
    fn debug_output_never_holds_a_token() {
        let (signing, _) = signing_and_verifying(Algorithm::HS256);
        let issuer = TokenIssuer::builder(signing).build().unwrap();
        let pair = issuer.issue_pair("alice", &()).unwrap();
        for debug in [
            format!("{pair:?}"),
            format!("{:?}", pair.access),
            format!("{pair:#?}"),
        ] {
            for token in [&pair.access.token, &pair.refresh.token] {
                let (header, rest) = token.split_once('.').unwrap();
                let (payload, signature) = rest.split_once('.').unwrap();
                for part in [header, payload, signature] {
                    assert!(!debug.contains(part), "{debug}");
                }
            }
            assert!(debug.contains("redacted"), "{debug}");
        }
    }

    /// An HS256 issuer, and an access and a refresh validator of its tokens over one memory store.
    fn hs256_issuer_and_validators() -> (TokenIssuer, Validator, Validator) {
        let (signing, verifying) = signing_and_verifying(Algorithm::HS256);
        let issuer = TokenIssuer::builder(signing).build().unwrap();
        let cutoffs = CutoffCache::new(MemoryStore::new());
        let validator = |token_type| {
            Validator::builder()
                .algorithms([Algorithm::HS256])
                .key(verifying.clone())
                .token_type(token_type)
                .build(cutoffs.clone())
                .unwrap()
        };
        let (access, refresh) = (validator(TokenType::Access), validator(TokenType::Refresh));
        (issuer, access, refresh)
    }

    #[tokio::test]
    async fn a_refreshed_pair_keeps_the_login_instant() {
        let (issuer, access, refresh) = hs256_issuer_and_validators();

        let login = issuer.issue_pair("alice", &()).unwrap();
        assert_eq!(
            login.access.authenticated_at,
            login.refresh.authenticated_at
        );
        assert!(login.access.authenticated_at <= login.access.issued_at);
        let verified = refresh.validate(&login.refresh.token).await.unwrap();
        assert_eq!(verified.authenticated_at(), login.refresh.authenticated_at);

        let refreshed = issuer.refresh_pair(&verified, &()).unwrap();
        for token in [&refreshed.access, &refreshed.refresh] {
            assert_eq!(token.authenticated_at, login.access.authenticated_at);
            assert!(token.issued_at > login.refresh.issued_at);
        }
        let again = refresh.validate(&refreshed.refresh.token).await.unwrap();
        assert_eq!(again.authenticated_at(), login.access.authenticated_at);
        let from_access = access.validate(&refreshed.access.token).await.unwrap();
        assert!(
            issuer.refresh_pair(&from_access, &()).is_err(),
            "a pair is never minted from an access token"
        );
    }

    #[tokio::test]
    async fn every_login_is_a_session_that_its_refreshes_keep() {
        let (issuer, access, refresh) = hs256_issuer_and_validators();
        let session_of = |verified: &Verified| verified.session_id().map(str::to_owned);

        let (laptop, phone) = (
            issuer.issue_pair("alice", &()).unwrap(),
            issuer.issue_pair("alice", &()).unwrap(),
        );
        assert_ne!(laptop.session_id, phone.session_id);
        for login in [&laptop, &phone] {
            // 128 bits, base64url without padding.
            assert_eq!(login.session_id.len(), 22);
            assert!(URL_SAFE_NO_PAD.decode(&login.session_id).unwrap().len() == 16);
            let verified = access.validate(&login.access.token).await.unwrap();
            assert_eq!(session_of(&verified).as_ref(), Some(&login.session_id));
        }

        let verified = refresh.validate(&laptop.refresh.token).await.unwrap();
        assert_eq!(session_of(&verified).as_ref(), Some(&laptop.session_id));
        let refreshed = issuer.refresh_pair(&verified, &()).unwrap();
        assert_eq!(refreshed.session_id, laptop.session_id);
        for (token, validator) in [(&refreshed.access, &access), (&refreshed.refresh, &refresh)] {
            let verified = validator.validate(&token.token).await.unwrap();
            assert_eq!(session_of(&verified).as_ref(), Some(&laptop.session_id));
        }

        // A lone token belongs to no session; a pair refreshed from one starts a session.
        let lone = issuer.issue_refresh("alice", &()).unwrap();
        let verified = refresh.validate(&lone.token).await.unwrap();
        assert_eq!(verified.session_id(), None);
        let started = issuer.refresh_pair(&verified, &()).unwrap();
        assert_eq!(started.session_id.len(), 22);
        assert_ne!(started.session_id, laptop.session_id);
        assert!(
            issuer
                .issue_pair("alice", &serde_json::json!({ "sid": "chosen" }))
                .is_err(),
            "extra claims cannot choose the session"
        );
    }
}

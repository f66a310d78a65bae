//! Keys and algorithms: which key verifies a token, and which algorithms each key may be used with.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::JwtVerifier;
use jsonwebtoken::jwk::EllipticCurve;
use jsonwebtoken::{DecodingKey, EncodingKey};

use crate::error::ConfigError;
use crate::reject::Reason;

/// A JWS signature algorithm this crate verifies and signs with. `none` is not one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA with P-256 and SHA-256.
    ES256,
    /// ECDSA with P-384 and SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

/// The kind of key an algorithm needs; a key only ever verifies algorithms of its own family, which
/// is what makes algorithm confusion (an HMAC tag made with an RSA public key) impossible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Hmac,
    Rsa,
    Ec,
    Ed,
}

impl Algorithm {
    const ALL: [Self; 12] = [
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// Every public-key algorithm: what a key published in a JWK set may verify (never an HMAC
    /// one, so a tag made with a public key's bytes as the secret is refused).
    pub const ASYMMETRIC: [Self; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The name in a token's `alg` header.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The algorithm an `alg` header names, matched exactly (case-sensitive, as RFC 7515 requires).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// Whether keys of this algorithm are public keys (which a JWK set may publish).
    pub(crate) const fn is_asymmetric(self) -> bool {
        !matches!(self.family(), Family::Hmac)
    }

    const fn family(self) -> Family {
        match self {
            Self::HS256 | Self::HS384 | Self::HS512 => Family::Hmac,
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                Family::Rsa
            }
            Self::ES256 | Self::ES384 => Family::Ec,
            Self::EdDSA => Family::Ed,
        }
    }

    /// RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
    const fn min_hmac_secret_len(self) -> usize {
        match self {
            Self::HS384 => 48,
            Self::HS512 => 64,
            _ => 32,
        }
    }

    pub(crate) const fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as Jwt;
        match self {
            Self::HS256 => Jwt::HS256,
            Self::HS384 => Jwt::HS384,
            Self::HS512 => Jwt::HS512,
            Self::RS256 => Jwt::RS256,
            Self::RS384 => Jwt::RS384,
            Self::RS512 => Jwt::RS512,
            Self::PS256 => Jwt::PS256,
            Self::PS384 => Jwt::PS384,
            Self::PS512 => Jwt::PS512,
            Self::ES256 => Jwt::ES256,
            Self::ES384 => Jwt::ES384,
            Self::EdDSA => Jwt::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn key_error(what: &str) -> impl FnOnce(jsonwebtoken::errors::Error) -> ConfigError + '_ {
    move |error| ConfigError::new(format!("invalid {what}: {error}"))
}

/// A key that verifies token signatures: an HMAC secret or a public key.
///
/// Give it a `kid` when several keys are configured so tokens name the one they were signed with
/// (key rotation: the old and the new key side by side). A key only verifies algorithms of its own
/// family, further narrowed by the validator's allow-list and by [`VerifyingKey::algorithms`].
#[derive(Clone)]
pub struct VerifyingKey {
    key: DecodingKey,
    family: Family,
    hmac_secret_len: usize,
    kid: Option<String>,
    algorithms: Option<Vec<Algorithm>>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("family", &self.family)
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    fn new(key: DecodingKey, family: Family) -> Self {
        Self {
            key,
            family,
            hmac_secret_len: 0,
            kid: None,
            algorithms: None,
        }
    }

    /// An HMAC secret (HS256/384/512), at least 32 bytes long.
    ///
    /// # Errors
    /// The secret is shorter than 32 bytes.
    pub fn hmac(secret: &[u8]) -> Result<Self, ConfigError> {
        check_hmac_secret(secret)?;
        let key = DecodingKey::from_secret(secret).map_err(key_error("HMAC secret"))?;
        Ok(Self {
            hmac_secret_len: secret.len(),
            ..Self::new(key, Family::Hmac)
        })
    }

    /// An RSA public key in PEM (RS256/384/512 and PS256/384/512).
    ///
    /// # Errors
    /// The PEM does not hold an RSA public key.
    pub fn rsa_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_rsa_pem(pem).map_err(key_error("RSA public key"))?;
        Ok(Self::new(key, Family::Rsa))
    }

    /// An RSA public key from its base64url modulus and exponent, as a JWK carries them.
    ///
    /// # Errors
    /// The components are not valid base64url.
    pub fn rsa_components(modulus: &str, exponent: &str) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_rsa_components(modulus, exponent)
            .map_err(key_error("RSA public key"))?;
        Ok(Self::new(key, Family::Rsa))
    }

    /// An ECDSA public key (P-256 or P-384) from its base64url coordinates, as a JWK carries them.
    ///
    /// # Errors
    /// The coordinates are not valid base64url.
    pub fn ec_components(x: &str, y: &str) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ec_components(x, y).map_err(key_error("EC public key"))?;
        Ok(Self::new(key, Family::Ec))
    }

    /// An Ed25519 public key from its base64url bytes, as a JWK carries them (`x`).
    ///
    /// # Errors
    /// The key is not valid base64url.
    pub fn ed_components(x: &str) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ed_components(x).map_err(key_error("Ed25519 public key"))?;
        Ok(Self::new(key, Family::Ed))
    }

    /// An ECDSA public key (P-256 or P-384) in PEM.
    ///
    /// # Errors
    /// The PEM does not hold an EC public key.
    pub fn ec_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ec_pem(pem).map_err(key_error("EC public key"))?;
        Ok(Self::new(key, Family::Ec))
    }

    /// An Ed25519 public key in PEM.
    ///
    /// # Errors
    /// The PEM does not hold an Ed25519 public key.
    pub fn ed_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_ed_pem(pem).map_err(key_error("Ed25519 public key"))?;
        Ok(Self::new(key, Family::Ed))
    }

    /// Names this key: tokens whose header carries this `kid` are verified with it, and only with it.
    #[must_use]
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Narrows the algorithms this key verifies (it never widens past its family or the allow-list).
    #[must_use]
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// The `kid` this key answers to, if it has one.
    #[must_use]
    pub fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn permits(&self, alg: Algorithm) -> bool {
        alg.family() == self.family
            && (self.family != Family::Hmac || self.hmac_secret_len >= alg.min_hmac_secret_len())
            && self
                .algorithms
                .as_ref()
                .is_none_or(|narrowed| narrowed.contains(&alg))
    }
}

fn check_hmac_secret(secret: &[u8]) -> Result<(), ConfigError> {
    if secret.len() < 32 {
        return Err(ConfigError::new(
            "an HMAC secret must be at least 32 bytes (RFC 7518 §3.2)",
        ));
    }
    Ok(())
}

/// The configured keys, each with the algorithms it may verify. Built once, checked once.
#[derive(Clone, Debug)]
pub(crate) struct KeySet {
    keys: Vec<KeyEntry>,
}

#[derive(Clone, Debug)]
struct KeyEntry {
    key: VerifyingKey,
    algorithms: Vec<Algorithm>,
    /// Names this entry in the per-thread verifier cache; never reused.
    id: u64,
}

static NEXT_KEY_ID: AtomicU64 = AtomicU64::new(0);

/// Verifiers kept per thread and per key (at most this many per thread; the oldest goes first).
const CACHED_VERIFIERS: usize = 16;

thread_local! {
    /// jsonwebtoken builds a verifier from a key on every call (for HMAC that is the key schedule,
    /// a third of an HS256 check) and its verifiers are neither `Send` nor `Sync`, so they are
    /// built once per thread and key instead. The signature buffer is reused too.
    static VERIFIERS: RefCell<Verifiers> = RefCell::default();
}

#[derive(Default)]
struct Verifiers {
    built: Vec<(u64, Algorithm, Box<dyn JwtVerifier>)>,
    signature: Vec<u8>,
}

impl KeyEntry {
    /// Whether `signature` (base64url) is this key's signature over `message` with `alg`.
    fn verifies(&self, alg: Algorithm, message: &[u8], signature: &str) -> bool {
        VERIFIERS.with_borrow_mut(|verifiers| {
            verifiers.signature.clear();
            if URL_SAFE_NO_PAD
                .decode_vec(signature, &mut verifiers.signature)
                .is_err()
            {
                return false;
            }
            let cached = verifiers
                .built
                .iter()
                .position(|(id, built_for, _)| *id == self.id && *built_for == alg);
            let index = match cached {
                Some(index) => index,
                None => {
                    let Some(provider) = crate::crypto::provider() else {
                        return false;
                    };
                    let Ok(verifier) =
                        (provider.verifier_factory)(&alg.to_jsonwebtoken(), &self.key.key)
                    else {
                        return false;
                    };
                    if verifiers.built.len() == CACHED_VERIFIERS {
                        verifiers.built.remove(0);
                    }
                    verifiers.built.push((self.id, alg, verifier));
                    verifiers.built.len() - 1
                }
            };
            verifiers.built.get(index).is_some_and(|(_, _, verifier)| {
                verifier.verify(message, &verifiers.signature).is_ok()
            })
        })
    }
}

impl KeySet {
    pub(crate) fn new(allowed: &[Algorithm], keys: Vec<VerifyingKey>) -> Result<Self, ConfigError> {
        crate::crypto::provider().ok_or_else(|| ConfigError::new(crate::crypto::MISSING))?;
        if allowed.is_empty() {
            return Err(ConfigError::new(
                "no algorithms allowed: name them explicitly with `algorithms([..])`",
            ));
        }
        if keys.is_empty() {
            return Err(ConfigError::new("no verifying key configured"));
        }
        let mut entries = Vec::with_capacity(keys.len());
        for key in keys {
            let algorithms: Vec<Algorithm> = allowed
                .iter()
                .copied()
                .filter(|alg| key.permits(*alg))
                .collect();
            if algorithms.is_empty() {
                return Err(ConfigError::new(format!(
                    "key {:?} can verify none of the allowed algorithms {allowed:?}",
                    key.kid.as_deref().unwrap_or("(no kid)")
                )));
            }
            if let Some(kid) = &key.kid
                && entries
                    .iter()
                    .any(|entry: &KeyEntry| entry.key.kid.as_ref() == Some(kid))
            {
                return Err(ConfigError::new(format!("two keys share the kid {kid:?}")));
            }
            entries.push(KeyEntry {
                key,
                algorithms,
                id: NEXT_KEY_ID.fetch_add(1, Ordering::Relaxed),
            });
        }
        Ok(Self { keys: entries })
    }

    /// The keys an issuer published (a JWK set), each verifying the allowed algorithms it fits;
    /// keys that fit none are left out, and the set may be empty (every token is then
    /// [`UnknownKey`](Reason::UnknownKey)). Never fails: one odd key costs nothing else.
    pub(crate) fn published(allowed: &[Algorithm], keys: Vec<VerifyingKey>) -> Self {
        let mut entries: Vec<KeyEntry> = Vec::with_capacity(keys.len());
        for key in keys {
            let algorithms: Vec<Algorithm> = allowed
                .iter()
                .copied()
                .filter(|alg| key.permits(*alg))
                .collect();
            let kid_taken = key.kid.as_ref().is_some_and(|kid| {
                entries
                    .iter()
                    .any(|entry| entry.key.kid.as_ref() == Some(kid))
            });
            if algorithms.is_empty() || kid_taken {
                tracing::debug!(
                    kid = ?key.kid,
                    "jwt-cutoff: a published key is left out: its kid is taken, or it verifies none \
                     of the allowed algorithms"
                );
                continue;
            }
            entries.push(KeyEntry {
                key,
                algorithms,
                id: NEXT_KEY_ID.fetch_add(1, Ordering::Relaxed),
            });
        }
        Self { keys: entries }
    }

    /// Whether a key answers to `kid` (for `None`: whether a key has no `kid`).
    #[cfg(feature = "remote-keys")]
    pub(crate) fn has_kid(&self, kid: Option<&str>) -> bool {
        self.keys
            .iter()
            .any(|entry| entry.key.kid.as_deref() == kid)
    }

    /// Verifies `signature` (base64url) over `message` with the key the header points to.
    ///
    /// A token that names a `kid` is checked against that key alone. A token without one is checked
    /// against the keys that have no `kid` and allow its algorithm.
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
        message: &[u8],
        signature: &str,
    ) -> Result<(), Reason> {
        if !self
            .keys
            .iter()
            .any(|entry| entry.algorithms.contains(&alg))
        {
            return Err(Reason::AlgorithmNotAllowed);
        }
        let mut candidates = self
            .keys
            .iter()
            .filter(|entry| entry.key.kid.as_deref() == kid)
            .peekable();
        if candidates.peek().is_none() {
            return Err(Reason::UnknownKey);
        }
        let mut algorithm_matched = false;
        for entry in candidates.filter(|entry| entry.algorithms.contains(&alg)) {
            algorithm_matched = true;
            if entry.verifies(alg, message, signature) {
                return Ok(());
            }
        }
        if algorithm_matched {
            Err(Reason::BadSignature)
        } else {
            Err(Reason::AlgorithmNotAllowed)
        }
    }
}

/// A key that signs tokens, for the [`TokenIssuer`](crate::TokenIssuer): an HMAC secret or a private
/// key, with the one algorithm it signs with.
#[derive(Clone)]
pub struct SigningKey {
    pub(crate) key: EncodingKey,
    pub(crate) algorithm: Algorithm,
    pub(crate) kid: Option<String>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The base64url signature of `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<String, ConfigError> {
        let provider =
            crate::crypto::provider().ok_or_else(|| ConfigError::new(crate::crypto::MISSING))?;
        let signer = (provider.signer_factory)(&self.algorithm.to_jsonwebtoken(), &self.key)
            .map_err(|error| ConfigError::new(format!("cannot sign with this key: {error}")))?;
        let signature = signer
            .try_sign(message)
            .map_err(|error| ConfigError::new(format!("signing failed: {error}")))?;
        Ok(URL_SAFE_NO_PAD.encode(signature))
    }

    fn new(key: EncodingKey, algorithm: Algorithm, family: Family) -> Result<Self, ConfigError> {
        if algorithm.family() != family {
            return Err(ConfigError::new(format!(
                "{algorithm} cannot be used with this kind of key"
            )));
        }
        Ok(Self {
            key,
            algorithm,
            kid: None,
        })
    }

    /// An HMAC secret signing with `algorithm` (HS256/384/512); at least as long as the hash output.
    ///
    /// # Errors
    /// The algorithm is not an HMAC one, or the secret is too short for it.
    pub fn hmac(secret: &[u8], algorithm: Algorithm) -> Result<Self, ConfigError> {
        check_hmac_secret(secret)?;
        if secret.len() < algorithm.min_hmac_secret_len() {
            return Err(ConfigError::new(format!(
                "{algorithm} needs a secret of at least {} bytes",
                algorithm.min_hmac_secret_len()
            )));
        }
        let key = EncodingKey::from_secret(secret).map_err(key_error("HMAC secret"))?;
        Self::new(key, algorithm, Family::Hmac)
    }

    /// An RSA private key in PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), signing with an RS* or PS*
    /// `algorithm`. Convert a PKCS#8 key with `openssl rsa -in key.pem -traditional`.
    ///
    /// # Errors
    /// The PEM holds no RSA private key, or the algorithm is not an RSA one.
    pub fn rsa_pem(pem: &[u8], algorithm: Algorithm) -> Result<Self, ConfigError> {
        let key = EncodingKey::from_rsa_pem(pem).map_err(key_error("RSA private key"))?;
        Self::new(key, algorithm, Family::Rsa)
    }

    /// An ECDSA private key in PKCS#8 PEM, signing with ES256 or ES384.
    ///
    /// # Errors
    /// The PEM holds no EC private key, or the algorithm is not an ECDSA one.
    pub fn ec_pem(pem: &[u8], algorithm: Algorithm) -> Result<Self, ConfigError> {
        let key = EncodingKey::from_ec_pem(pem).map_err(key_error("EC private key"))?;
        Self::new(key, algorithm, Family::Ec)
    }

    /// An Ed25519 private key in PKCS#8 PEM (signs with EdDSA).
    ///
    /// # Errors
    /// The PEM holds no Ed25519 private key.
    pub fn ed_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let key = EncodingKey::from_ed_pem(pem).map_err(key_error("Ed25519 private key"))?;
        Self::new(key, Algorithm::EdDSA, Family::Ed)
    }

    /// Writes `kid` into the header of every token this key signs.
    #[must_use]
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The algorithm this key signs with.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The `kid` written into the tokens this key signs, if it has one.
    #[must_use]
    pub fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key that verifies what this key signs: the same secret for HMAC, the public half of a
    /// private key. It keeps this key's `kid`, and verifies only this key's algorithm.
    ///
    /// ```
    /// use jwt_cutoff::{Algorithm, SigningKey};
    ///
    /// let private = SigningKey::ec_pem(include_bytes!("../tests/keys/ec_private.pem"), Algorithm::ES256)?;
    /// let public = private.verifying_key()?;
    /// # Ok::<_, jwt_cutoff::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// The crate was built without a crypto backend, or the backend cannot read this private key.
    pub fn verifying_key(&self) -> Result<VerifyingKey, ConfigError> {
        let family = self.algorithm.family();
        let (key, hmac_secret_len) = match family {
            Family::Hmac => {
                let secret = self.key.as_bytes();
                let key = DecodingKey::from_secret(secret).map_err(key_error("HMAC secret"))?;
                (key, secret.len())
            }
            Family::Rsa | Family::Ec | Family::Ed => (self.public_key()?, 0),
        };
        Ok(VerifyingKey {
            key,
            family,
            hmac_secret_len,
            kid: self.kid.clone(),
            algorithms: Some(vec![self.algorithm]),
        })
    }

    /// The public half of this private key, derived with the crate's backend (never through
    /// jsonwebtoken's process-wide default, which panics when both of its backends are on).
    fn public_key(&self) -> Result<DecodingKey, ConfigError> {
        let key = match self.public_components()? {
            PublicComponents::Rsa { n, e } => Ok(DecodingKey::from_rsa_raw_components(&n, &e)),
            PublicComponents::Ec { x, y, .. } => DecodingKey::from_ec_components(
                &URL_SAFE_NO_PAD.encode(x),
                &URL_SAFE_NO_PAD.encode(y),
            ),
            PublicComponents::Ed { x } => {
                DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(x))
            }
        };
        key.map_err(key_error("private key"))
    }

    /// The numbers of the public half of this private key.
    pub(crate) fn public_components(&self) -> Result<PublicComponents, ConfigError> {
        let provider =
            crate::crypto::provider().ok_or_else(|| ConfigError::new(crate::crypto::MISSING))?;
        let utils = &provider.key_utils;
        let private = self.key.as_bytes();
        let components = match self.algorithm.family() {
            Family::Rsa => (utils.rsa_pub_components_from_private_key)(private)
                .map(|(n, e)| PublicComponents::Rsa { n, e }),
            Family::Ec => (utils.ec_pub_components_from_private_key)(
                private,
                self.algorithm.to_jsonwebtoken(),
            )
            .map(|(_curve, x, y)| PublicComponents::Ec {
                algorithm: self.algorithm,
                x,
                y,
            }),
            Family::Ed => {
                (utils.ed_pub_components_from_private_key)(private, &EllipticCurve::Ed25519)
                    .map(|x| PublicComponents::Ed { x })
            }
            Family::Hmac => return Err(ConfigError::new("an HMAC secret has no public key")),
        };
        components.map_err(key_error("private key"))
    }
}

/// The numbers of a public key, big-endian, as a JWK carries them.
pub(crate) enum PublicComponents {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ec {
        algorithm: Algorithm,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Ed {
        x: Vec<u8>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ASYMMETRIC` is written out to be a public constant: it must stay every algorithm but
    /// the HMAC ones.
    #[test]
    fn asymmetric_is_every_algorithm_without_a_shared_secret() {
        let derived: Vec<Algorithm> = Algorithm::ALL
            .into_iter()
            .filter(|alg| alg.is_asymmetric())
            .collect();
        assert_eq!(derived, Algorithm::ASYMMETRIC);
    }
}

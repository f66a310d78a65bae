//! [`TokenKeys`]: the keys of both token kinds, given once, for the issuer and both validators.

use crate::claims::TokenType;
use crate::error::ConfigError;
use crate::issuer::{TokenIssuer, TokenIssuerBuilder};
use crate::keys::{Algorithm, SigningKey, VerifyingKey};
use crate::rotation::SigningKeys;
use crate::validate::{Validator, ValidatorBuilder};

/// The signing keys of access and refresh tokens, and the verifying keys derived from them: one
/// value that configures the [`TokenIssuer`], the access [`Validator`] and the
/// [`RefreshValidator`](crate::RefreshValidator) alike, so no secret or algorithm is written twice.
///
/// Each kind has a key of its own, so a refresh token offered as an access token (or the reverse)
/// fails its signature (see [`Reason`](crate::Reason)) before its `token_use` is even read. The
/// verifying keys are derived: the same secret for HMAC, the public half of a private key for
/// RSA, ECDSA and Ed25519. Each verifies only its own key's algorithm, and keeps its `kid`.
///
/// The three methods return builders, for the settings that are not keys (lifetimes, leeway,
/// issuer, audience); match those between the issuer and the validators.
///
/// ```
/// use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, TokenKeys};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let keys = TokenKeys::hmac(
///     b"an access secret of at least 32 bytes",
///     b"a refresh secret of at least 32 bytes",
///     Algorithm::HS256,
/// )?;
/// let cutoffs = CutoffCache::new(MemoryStore::new());
/// let issuer = keys.issuer().build()?;
/// let access = keys.access_validator().build(cutoffs.clone())?; // for the layer
/// let refresh = keys.refresh_validator().build_refresh(cutoffs.clone())?; // for the refresh endpoint
///
/// let pair = issuer.issue_pair("alice", &())?;
/// assert_eq!(access.validate(&pair.access.token).await?.subject(), "alice");
/// assert_eq!(refresh.validate(&pair.refresh.token).await?.subject(), "alice");
/// assert!(access.validate(&pair.refresh.token).await.is_err());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// With private keys, in PEM (the public keys are derived from them):
///
/// ```
/// use jwt_cutoff::{Algorithm, SigningKey, TokenKeys};
///
/// # let access_pem = include_bytes!("../tests/keys/ec_private.pem");
/// # let refresh_pem = include_bytes!("../tests/keys/ed_private.pem");
/// let keys = TokenKeys::new(
///     SigningKey::ec_pem(access_pem, Algorithm::ES256)?.kid("access-2025"),
///     SigningKey::ed_pem(refresh_pem)?.kid("refresh-2025"),
/// )?;
/// # Ok::<_, jwt_cutoff::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TokenKeys {
    access: KindKeys,
    refresh: KindKeys,
}

/// The keys of one kind of token.
#[derive(Clone, Debug)]
enum KindKeys {
    Fixed {
        signing: SigningKey,
        verifying: VerifyingKey,
    },
    Rotating(SigningKeys),
}

impl KindKeys {
    fn new(signing: SigningKey) -> Result<Self, ConfigError> {
        Ok(Self::Fixed {
            verifying: signing.verifying_key()?,
            signing,
        })
    }

    /// A validator builder that allows the algorithms of these keys and verifies with them.
    fn validator(&self) -> ValidatorBuilder {
        match self {
            Self::Fixed { signing, verifying } => Validator::builder()
                .algorithms([signing.algorithm()])
                .key(verifying.clone()),
            Self::Rotating(keys) => Validator::builder()
                .algorithms(keys.algorithms())
                .signing_keys(keys),
        }
    }
}

impl TokenKeys {
    /// Two HMAC secrets, one per kind of token, both signing with `algorithm` (HS256, HS384 or
    /// HS512); each at least as long as the hash output.
    ///
    /// # Errors
    /// The algorithm is not an HMAC one, a secret is too short for it, or the two secrets are the
    /// same: then only `token_use` would keep the kinds apart. (If that is what you want, pass one
    /// key twice to [`new`](Self::new).)
    pub fn hmac(
        access_secret: &[u8],
        refresh_secret: &[u8],
        algorithm: Algorithm,
    ) -> Result<Self, ConfigError> {
        if access_secret == refresh_secret {
            return Err(ConfigError::new(
                "the access and refresh secrets are the same: give each kind of token its own",
            ));
        }
        Self::new(
            SigningKey::hmac(access_secret, algorithm)?,
            SigningKey::hmac(refresh_secret, algorithm)?,
        )
    }

    /// The signing keys of access and refresh tokens (HMAC secrets or private keys, each with its
    /// algorithm and `kid`); the verifying keys are derived from them.
    ///
    /// # Errors
    /// A public key cannot be derived from its private key (no crypto backend is available, or
    /// the key is not one the backend reads).
    pub fn new(access: SigningKey, refresh: SigningKey) -> Result<Self, ConfigError> {
        Ok(Self {
            access: KindKeys::new(access)?,
            refresh: KindKeys::new(refresh)?,
        })
    }

    /// Keys that rotate, one [`SigningKeys`] per kind of token: the issuer signs with the key
    /// whose turn it is, the validators verify with the keys published at the time. The
    /// validators allow the algorithms published when they are built: a rotation to another
    /// algorithm needs it named with [`algorithms`](ValidatorBuilder::algorithms).
    #[must_use]
    pub fn rotating(access: SigningKeys, refresh: SigningKeys) -> Self {
        Self {
            access: KindKeys::Rotating(access),
            refresh: KindKeys::Rotating(refresh),
        }
    }

    /// A [`TokenIssuer`] builder that signs access tokens with the access key and refresh tokens
    /// with the refresh key.
    pub fn issuer(&self) -> TokenIssuerBuilder {
        let builder = match &self.access {
            KindKeys::Fixed { signing, .. } => TokenIssuer::builder(signing.clone()),
            KindKeys::Rotating(keys) => TokenIssuer::builder_rotating(keys.clone()),
        };
        match &self.refresh {
            KindKeys::Fixed { signing, .. } => builder.refresh_key(signing.clone()),
            KindKeys::Rotating(keys) => builder.refresh_keys(keys.clone()),
        }
    }

    /// A validator builder for access tokens (the layer's): the access key's algorithm and
    /// verifying key. Finish it with [`build`](ValidatorBuilder::build).
    pub fn access_validator(&self) -> ValidatorBuilder {
        self.access.validator()
    }

    /// A validator builder for refresh tokens (a refresh endpoint's): the refresh key's algorithm
    /// and verifying key. Finish it with [`build_refresh`](ValidatorBuilder::build_refresh), which
    /// gives the [`RefreshValidator`](crate::RefreshValidator) a refresh endpoint takes.
    pub fn refresh_validator(&self) -> ValidatorBuilder {
        self.refresh.validator().token_type(TokenType::Refresh)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{CutoffCache, MemoryStore, Reason};

    const ACCESS_SECRET: &[u8] = b"an access secret of at least 32 bytes";
    const REFRESH_SECRET: &[u8] = b"a refresh secret of at least 32 bytes";

    /// Issues a pair with `keys` and checks that each validator takes its own kind and refuses the
    /// other by its signature.
    async fn round_trip(keys: &TokenKeys) {
        let cutoffs = CutoffCache::new(MemoryStore::new());
        let issuer = keys.issuer().build().unwrap();
        let access = keys.access_validator().build(cutoffs.clone()).unwrap();
        let refresh = keys
            .refresh_validator()
            .build_refresh(cutoffs.clone())
            .unwrap();
        let pair = issuer.issue_pair("alice", &()).unwrap();

        assert_eq!(
            access.validate(&pair.access.token).await.unwrap().subject(),
            "alice"
        );
        let refreshed = refresh.validate(&pair.refresh.token).await.unwrap();
        assert!(issuer.refresh_pair(&refreshed, &()).is_ok());
        for refused in [
            access.validate(&pair.refresh.token).await,
            refresh.validate(&pair.access.token).await,
        ] {
            let reason = refused.unwrap_err().reason();
            assert!(
                matches!(
                    reason,
                    Reason::BadSignature | Reason::UnknownKey | Reason::AlgorithmNotAllowed
                ),
                "{reason:?}"
            );
        }
    }

    #[tokio::test]
    async fn hmac_secrets_configure_the_issuer_and_both_validators() {
        for algorithm in [Algorithm::HS256, Algorithm::HS384] {
            let long = |secret: &[u8]| [secret, secret].concat();
            let keys =
                TokenKeys::hmac(&long(ACCESS_SECRET), &long(REFRESH_SECRET), algorithm).unwrap();
            round_trip(&keys).await;
        }
    }

    #[test]
    fn hmac_refuses_one_secret_for_both_kinds_and_secrets_too_short() {
        assert!(TokenKeys::hmac(ACCESS_SECRET, ACCESS_SECRET, Algorithm::HS256).is_err());
        assert!(TokenKeys::hmac(ACCESS_SECRET, REFRESH_SECRET, Algorithm::HS512).is_err());
        assert!(TokenKeys::hmac(ACCESS_SECRET, REFRESH_SECRET, Algorithm::RS256).is_err());
    }

    #[tokio::test]
    async fn private_keys_yield_their_public_keys() {
        let rsa = include_bytes!("../tests/keys/rsa_private.pem");
        let ec = include_bytes!("../tests/keys/ec_private.pem");
        let ed = include_bytes!("../tests/keys/ed_private.pem");
        let keys = [
            TokenKeys::new(
                SigningKey::rsa_pem(rsa, Algorithm::RS256).unwrap(),
                SigningKey::rsa_pem(rsa, Algorithm::PS384).unwrap(),
            ),
            TokenKeys::new(
                SigningKey::ec_pem(ec, Algorithm::ES256).unwrap().kid("a"),
                SigningKey::ed_pem(ed).unwrap().kid("r"),
            ),
            TokenKeys::new(
                SigningKey::ed_pem(ed).unwrap(),
                SigningKey::hmac(REFRESH_SECRET, Algorithm::HS256).unwrap(),
            ),
        ];
        for keys in keys {
            round_trip(&keys.unwrap()).await;
        }
    }

    /// The derived keys are the real public keys: a token signed with the private key verifies
    /// with the public key read from its own PEM.
    #[tokio::test]
    async fn derived_keys_match_the_public_pems() {
        let cutoffs = CutoffCache::new(MemoryStore::new());
        let cases = [
            (
                SigningKey::rsa_pem(
                    include_bytes!("../tests/keys/rsa_private.pem"),
                    Algorithm::RS256,
                ),
                VerifyingKey::rsa_pem(include_bytes!("../tests/keys/rsa_public.pem")),
            ),
            (
                SigningKey::ec_pem(
                    include_bytes!("../tests/keys/ec_private.pem"),
                    Algorithm::ES256,
                ),
                VerifyingKey::ec_pem(include_bytes!("../tests/keys/ec_public.pem")),
            ),
            (
                SigningKey::ed_pem(include_bytes!("../tests/keys/ed_private.pem")),
                VerifyingKey::ed_pem(include_bytes!("../tests/keys/ed_public.pem")),
            ),
        ];
        for (signing, public) in cases {
            let signing = signing.unwrap();
            let algorithm = signing.algorithm();
            let keys = TokenKeys::new(signing.clone(), signing).unwrap();
            let token = keys
                .issuer()
                .build()
                .unwrap()
                .issue_access("alice", &())
                .unwrap()
                .token;
            let from_pem = Validator::builder()
                .algorithms([algorithm])
                .key(public.unwrap())
                .build(cutoffs.clone())
                .unwrap();
            assert!(from_pem.validate(&token).await.is_ok(), "{algorithm}");
            let derived = keys.access_validator().build(cutoffs.clone()).unwrap();
            assert!(derived.validate(&token).await.is_ok(), "{algorithm}");
        }
    }
}

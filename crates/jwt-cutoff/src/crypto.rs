//! The crypto backend, picked by the crate's features, and signing with it.
//!
//! Backends are additive: with `aws-lc-rs` on (the default) aws-lc-rs signs and verifies, whatever
//! else is on; with only `rust-crypto`, the RustCrypto crates do. With neither, validators and
//! issuers refuse to be built. The backend is passed to jsonwebtoken explicitly, never through its
//! process-wide default, which panics when both of its features are on.

use jsonwebtoken::crypto::CryptoProvider;

/// The backend this build signs and verifies with, if any.
pub(crate) fn provider() -> Option<&'static CryptoProvider> {
    #[cfg(feature = "aws-lc-rs")]
    return Some(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    return Some(&jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER);
    #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    None
}

/// Why a validator or an issuer cannot be built without a backend.
pub(crate) const MISSING: &str = "jwt-cutoff was built without a crypto backend: enable its \
     `aws-lc-rs` (default) or `rust-crypto` feature";

#[cfg(test)]
mod tests {
    use super::*;

    /// Run by `.ci/run` with each combination of the backend features.
    #[test]
    fn the_backend_follows_the_features() {
        let picked = provider().map(|provider| provider as *const CryptoProvider);
        #[cfg(feature = "aws-lc-rs")]
        let expected = Some(&raw const jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);
        #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
        let expected = Some(&raw const jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER);
        #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
        let expected = None;
        assert_eq!(picked, expected);
    }

    #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    #[test]
    fn without_a_backend_nothing_is_built() {
        use crate::{Algorithm, CutoffCache, MemoryStore, TokenIssuer, Validator, VerifyingKey};

        let secret = b"a secret of at least thirty-two bytes";
        let validator = Validator::builder()
            .algorithms([Algorithm::HS256])
            .key(VerifyingKey::hmac(secret).unwrap())
            .build(CutoffCache::new(MemoryStore::new()));
        assert!(
            validator
                .unwrap_err()
                .to_string()
                .contains("crypto backend")
        );
        let issuer =
            TokenIssuer::builder(crate::SigningKey::hmac(secret, Algorithm::HS256).unwrap())
                .build();
        assert!(issuer.unwrap_err().to_string().contains("crypto backend"));
    }
}

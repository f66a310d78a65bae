//! Rotating the service's own signing keys ([`SigningKeys`]) while it issues and verifies: the
//! next key is published (and verifies) before it signs, then signs from its turn; the previous
//! one verifies until it is dropped after `keep_retired`, and then its tokens are refused, cached
//! ones included; a leaked key is withdrawn at once; refresh tokens rotate as well; and the
//! configurations that would refuse valid tokens are refused when built.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_cutoff::{
    Algorithm, CutoffCache, MemoryStore, Reason, SigningKey, SigningKeys, TokenIssuer, TokenKeys,
    Validator,
};
use jwt_cutoff_test_support::{EC_PRIVATE, wait_until};

const EC_PRIVATE_2: &[u8] = include_bytes!("keys/ec_private_2.pem");

fn ec(pem: &[u8], kid: &str) -> SigningKey {
    SigningKey::ec_pem(pem, Algorithm::ES256).unwrap().kid(kid)
}

/// A service issuing ES256 access tokens (living a second) with `keys`, and its own validator.
fn issuing_service(keys: &SigningKeys) -> (TokenIssuer, Validator) {
    let issuer = TokenIssuer::builder_rotating(keys.clone())
        .access_lifetime(Duration::from_secs(1))
        .refresh_key(refresh_key())
        .build()
        .unwrap();
    let validator = Validator::builder()
        .algorithms([Algorithm::ES256])
        .signing_keys(keys)
        .build(CutoffCache::new(MemoryStore::new()))
        .unwrap();
    (issuer, validator)
}

/// Refresh tokens live a month: the access keys' rotations would refuse them early.
fn refresh_key() -> SigningKey {
    SigningKey::hmac(b"a refresh secret of at least 32 bytes", Algorithm::HS256).unwrap()
}

/// The `kid` in a token's header.
fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

fn kids(keys: &SigningKeys) -> Vec<String> {
    keys.published()
        .iter()
        .map(|key| key.key_id().unwrap().to_owned())
        .collect()
}

/// An access token signed with `key` alone, living an hour: outlives its key's retirement.
fn long_lived(key: SigningKey) -> String {
    TokenIssuer::builder(key)
        .access_lifetime(Duration::from_secs(3600))
        .build()
        .unwrap()
        .issue_access("alice", &())
        .unwrap()
        .token
}

fn reason(result: Result<jwt_cutoff::Verified, jwt_cutoff::Rejection>) -> Reason {
    result.expect_err("refused").reason()
}

#[tokio::test]
async fn a_rotation_publishes_first_then_signs_then_retires() {
    // Long enough that a stalled test machine still checks the retired key before it goes.
    let keep_retired = Duration::from_secs(3);
    let keys = SigningKeys::new(ec(EC_PRIVATE, "first"), keep_retired).unwrap();
    let (issuer, validator) = issuing_service(&keys);

    let first = issuer.issue_access("alice", &()).unwrap().token;
    assert_eq!(kid_of(&first), "first");
    assert!(validator.validate(&first).await.is_ok());
    let outliving_first = long_lived(ec(EC_PRIVATE, "first"));
    assert!(validator.validate(&outliving_first).await.is_ok()); // now in the token cache

    // Scheduled: published and verifying at once, not signing yet.
    let turn = SystemTime::now() + Duration::from_millis(400);
    keys.schedule(ec(EC_PRIVATE_2, "second"), turn).unwrap();
    assert_eq!(kids(&keys), ["first", "second"]);
    let ahead = long_lived(ec(EC_PRIVATE_2, "second"));
    assert!(validator.validate(&ahead).await.is_ok());
    if SystemTime::now() < turn {
        let token = issuer.issue_access("alice", &()).unwrap().token;
        assert_eq!(kid_of(&token), "first");
    }

    // Its turn: it signs, and the first key still verifies what it signed.
    wait_until("the second key signs", || {
        keys.signing_key_id().as_deref() == Some("second")
    })
    .await;
    let second = issuer.issue_access("alice", &()).unwrap().token;
    assert_eq!(kid_of(&second), "second");
    assert!(validator.validate(&second).await.is_ok());
    assert!(validator.validate(&outliving_first).await.is_ok());

    // `keep_retired` after the second key's turn, the first is gone: its tokens are refused, the
    // one the token cache held included.
    wait_until("the first key is dropped", || kids(&keys) == ["second"]).await;
    assert_eq!(
        reason(validator.validate(&outliving_first).await),
        Reason::UnknownKey
    );
    assert!(validator.validate(&ahead).await.is_ok());
}

#[tokio::test]
async fn a_leaked_key_is_withdrawn_at_once_cached_tokens_included() {
    let keys = SigningKeys::new(ec(EC_PRIVATE, "leaked"), Duration::from_secs(3600)).unwrap();
    let (issuer, validator) = issuing_service(&keys);
    let before = issuer.issue_access("alice", &()).unwrap().token;
    assert!(validator.validate(&before).await.is_ok());

    // A successor signing from now on, then the leaked key goes.
    keys.schedule(ec(EC_PRIVATE_2, "successor"), SystemTime::now())
        .unwrap();
    keys.withdraw("leaked").unwrap();

    assert_eq!(
        reason(validator.validate(&before).await),
        Reason::UnknownKey
    );
    let forged_later = long_lived(ec(EC_PRIVATE, "leaked"));
    assert_eq!(
        reason(validator.validate(&forged_later).await),
        Reason::UnknownKey
    );
    let after = issuer.issue_access("alice", &()).unwrap().token;
    assert_eq!(kid_of(&after), "successor");
    assert!(validator.validate(&after).await.is_ok());
}

#[tokio::test]
async fn refresh_tokens_rotate_through_token_keys() {
    let hmac =
        |secret: &[u8], kid: &str| SigningKey::hmac(secret, Algorithm::HS256).unwrap().kid(kid);
    let access = SigningKeys::new(ec(EC_PRIVATE, "a1"), Duration::from_secs(3600)).unwrap();
    let refresh = SigningKeys::new(
        hmac(b"the first refresh secret, 32 bytes or more", "r1"),
        Duration::from_secs(31 * 24 * 3600),
    )
    .unwrap();
    let keys = TokenKeys::rotating(access.clone(), refresh.clone());
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let issuer = keys.issuer().build().unwrap();
    let access_validator = keys.access_validator().build(cutoffs.clone()).unwrap();
    let refresh_validator = keys
        .refresh_validator()
        .build_refresh(cutoffs.clone())
        .unwrap();
    let before = issuer.issue_pair("alice", &()).unwrap();

    let now = SystemTime::now();
    access.schedule(ec(EC_PRIVATE_2, "a2"), now).unwrap();
    refresh
        .schedule(
            hmac(b"the second refresh secret, 32 bytes or more", "r2"),
            now,
        )
        .unwrap();
    let verified = refresh_validator
        .validate(&before.refresh.token)
        .await
        .unwrap();
    let after = issuer.refresh_pair(&verified, &()).unwrap();
    assert_eq!(kid_of(&after.access.token), "a2");
    assert_eq!(kid_of(&after.refresh.token), "r2");
    for token in [&before.access.token, &after.access.token] {
        assert!(access_validator.validate(token).await.is_ok());
    }
    for token in [&before.refresh.token, &after.refresh.token] {
        assert!(refresh_validator.validate(token).await.is_ok());
    }
    // The kinds stay apart across the rotation.
    assert!(
        access_validator
            .validate(&after.refresh.token)
            .await
            .is_err()
    );
    assert!(
        refresh_validator
            .validate(&after.access.token)
            .await
            .is_err()
    );
}

#[test]
fn configurations_that_would_refuse_valid_tokens_are_refused() {
    let keys = SigningKeys::new(ec(EC_PRIVATE, "k"), Duration::from_secs(60)).unwrap();
    // A retired key would go before the tokens it signed expire.
    let error = TokenIssuer::builder_rotating(keys.clone())
        .access_lifetime(Duration::from_secs(300))
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("lifetime"), "{error}");
    let error = TokenIssuer::builder_rotating(keys.clone())
        .access_lifetime(Duration::from_secs(60))
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("refresh"), "{error}");
    assert!(
        TokenIssuer::builder_rotating(keys.clone())
            .access_lifetime(Duration::from_secs(60))
            .refresh_lifetime(Duration::from_secs(60))
            .build()
            .is_ok()
    );

    let cutoffs = CutoffCache::new(MemoryStore::new());
    // Keys given twice, and keys that verify none of the algorithms allowed.
    assert!(
        Validator::builder()
            .algorithms([Algorithm::ES256])
            .signing_keys(&keys)
            .key(ec(EC_PRIVATE, "k").verifying_key().unwrap())
            .build(cutoffs.clone())
            .is_err()
    );
    assert!(
        Validator::builder()
            .algorithms([Algorithm::RS256])
            .signing_keys(&keys)
            .build(cutoffs)
            .is_err()
    );
}

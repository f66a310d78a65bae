//! Oversized tokens (SPEC 12): refused for their size before any decoding or lookup.

use jwt_cutoff::{Algorithm, CutoffCache, Reason, Validator, VerifyingKey};
use jwt_cutoff_test_support::*;

use crate::counted;

#[tokio::test]
async fn oversized_tokens_are_refused_before_any_lookup() {
    let (guarded, source, cutoffs) = counted();
    let validator = hs_validator(cutoffs);
    for len in [8 * 1024 + 1, 64 * 1024, 1024 * 1024] {
        // Correctly signed and otherwise valid: only the size is wrong.
        let token = hs_token_of_len(len, "alice");
        guarded
            .bearer(&token)
            .await
            .assert_invalid_token(Reason::TokenTooLarge, &format!("{len} bytes"));
        assert_eq!(
            reason_of(&validator, &token).await,
            Some(Reason::TokenTooLarge)
        );
        // Junk that is not even token68 is refused for its size first.
        let junk = format!("{}\"", "a".repeat(len - 1));
        guarded
            .bearer(&junk)
            .await
            .assert_invalid_token(Reason::TokenTooLarge, &format!("{len} bytes of junk"));
    }
    assert_eq!(
        source.lookup_count(),
        0,
        "nothing looked up, nothing cached"
    );

    // Exactly at the cap: accepted, and that is the first lookup.
    let token = hs_token_of_len(8 * 1024, "alice");
    guarded
        .bearer(&token)
        .await
        .assert_ok("alice", "8 KiB exactly");
    assert_eq!(source.lookups(), ["alice"]);
}

#[tokio::test]
async fn a_custom_token_cap_is_enforced() {
    let source = CountingSource::default();
    let validator = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .max_token_bytes(1024)
        .build(CutoffCache::new(source.clone()))
        .unwrap();
    let guarded = Guarded::new(validator);
    guarded
        .bearer(&hs_token_of_len(1025, "alice"))
        .await
        .assert_invalid_token(Reason::TokenTooLarge, "1025 bytes");
    assert_eq!(source.lookup_count(), 0);
    guarded
        .bearer(&hs_token_of_len(1024, "alice"))
        .await
        .assert_ok("alice", "1024 bytes");
}

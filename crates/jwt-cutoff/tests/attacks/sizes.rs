//! Oversized tokens (SPEC 12): refused for their size before any decoding or lookup.

use std::sync::Arc;

use jwt_cutoff::{CutoffCache, MemoryStore, Reason};
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
            .refuses(&token, Reason::TokenTooLarge, &format!("{len} bytes"))
            .await;
        assert_eq!(
            reason_of(&validator, &token).await,
            Some(Reason::TokenTooLarge)
        );
        // Junk that is not even token68 is refused for its size first.
        let junk = format!("{}\"", "a".repeat(len - 1));
        guarded
            .refuses(
                &junk,
                Reason::TokenTooLarge,
                &format!("{len} bytes of junk"),
            )
            .await;
    }
    source.assert_no_lookups(); // nothing looked up, nothing cached

    // Exactly at the cap: accepted, and that is the first lookup.
    let token = hs_token_of_len(8 * 1024, "alice");
    guarded.accepts(&token, "alice", "8 KiB exactly").await;
    assert_eq!(source.lookups(), ["alice"]);
}

#[tokio::test]
async fn a_custom_token_cap_is_enforced() {
    let source = TestSource::new(MemoryStore::new());
    let validator = hs_builder()
        .max_token_bytes(1024)
        .build(CutoffCache::new(Arc::clone(&source)))
        .unwrap();
    let guarded = Guarded::new(validator);
    guarded
        .refuses(
            &hs_token_of_len(1025, "alice"),
            Reason::TokenTooLarge,
            "1025 bytes",
        )
        .await;
    source.assert_no_lookups();
    guarded
        .accepts(&hs_token_of_len(1024, "alice"), "alice", "1024 bytes")
        .await;
}

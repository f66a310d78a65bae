//! Session ids (`sid`): a string of 1 to `MAX_SESSION_ID_BYTES` bytes, once, or no session at all;
//! anything else is refused before any lookup.

use jwt_cutoff::{MAX_SESSION_ID_BYTES, Reason};
use jwt_cutoff_test_support::*;

use crate::{counted, refuses_claim_values};

#[tokio::test]
async fn bad_session_ids_are_refused_without_lookup() {
    let (guarded, source, _cutoffs) = counted();
    let too_long = format!("\"{}\"", "s".repeat(MAX_SESSION_ID_BYTES + 1));
    let cases: &[(Option<&str>, Reason)] = &[
        (Some("\"\""), Reason::InvalidClaim),
        (Some(&too_long), Reason::InvalidClaim),
        (Some("null"), Reason::InvalidClaim),
        (Some("42"), Reason::InvalidClaim),
        (Some("[\"a\"]"), Reason::InvalidClaim),
        (Some("{\"id\":\"a\"}"), Reason::InvalidClaim),
    ];
    refuses_claim_values(&guarded, "sid", cases).await;
    let twice = with_members(&payload(&[("sid", Some("\"a\""))]), "\"sid\":\"b\"");
    guarded
        .refuses(&hs_token(&twice), Reason::InvalidClaim, "sid twice")
        .await;
    source.assert_no_lookups();
}

#[tokio::test]
async fn tokens_with_or_without_a_session_are_accepted() {
    let (guarded, _source, _cutoffs) = counted();
    let longest = format!("\"{}\"", "s".repeat(MAX_SESSION_ID_BYTES));
    for sid in [
        None,
        Some("\"a\""),
        Some("\"\\u0061\""),
        Some(longest.as_str()),
    ] {
        let token = hs_token(&payload(&[("sid", sid)]));
        guarded
            .accepts(&token, "alice", &format!("sid {sid:?}"))
            .await;
    }
}

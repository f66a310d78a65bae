//! Subjects (SPEC 13): bounded, strings only, unescaped before lookup, and read from a custom
//! claim when configured.

use std::sync::Arc;

use jwt_cutoff::{CutoffCache, MemoryStore, Reason};
use jwt_cutoff_test_support::*;

use crate::{counted, refuses_claim_values};

#[tokio::test]
async fn bad_subjects_are_refused_without_lookup() {
    let (guarded, source, _cutoffs) = counted();
    let long = format!("\"{}\"", "a".repeat(257));
    let huge = format!("\"{}\"", "a".repeat(5000));
    let wide = format!("\"{}\"", "é".repeat(129)); // 129 characters, 258 bytes
    let cases: &[(Option<&str>, Reason)] = &[
        (None, Reason::MissingClaim),
        (Some("\"\""), Reason::InvalidClaim),
        (Some(&long), Reason::InvalidClaim),
        (Some(&huge), Reason::InvalidClaim),
        (Some(&wide), Reason::InvalidClaim),
        (Some("null"), Reason::InvalidClaim),
        (Some("42"), Reason::InvalidClaim),
        (Some("true"), Reason::InvalidClaim),
        (Some("[\"alice\"]"), Reason::InvalidClaim),
        (Some("{\"id\":\"alice\"}"), Reason::InvalidClaim),
    ];
    refuses_claim_values(&guarded, "sub", cases).await;
    source.assert_no_lookups();

    // 256 bytes is the limit, and exactly that subject is looked up.
    let max = "b".repeat(256);
    let token = hs_token(&payload(&[("sub", Some(&format!("\"{max}\"")))]));
    guarded.accepts(&token, &max, "256-byte subject").await;
    assert_eq!(source.lookups(), [max]);
}

#[tokio::test]
async fn escaped_subjects_are_the_same_subject() {
    let (guarded, source, cutoffs) = counted();
    cutoffs.logout_all("alice").await.unwrap();
    let before = precise(now_micros() - 1_000_000);
    for sub in [r#""al\u0069ce""#, r#""\u0061\u006c\u0069\u0063\u0065""#] {
        let token = hs_token(&payload(&[("sub", Some(sub)), ("iat", Some(&before))]));
        guarded.refuses(&token, Reason::Revoked, sub).await;
    }
    assert!(
        source.lookups().iter().all(|s| s == "alice"),
        "{:?}",
        source.lookups()
    );
}

#[tokio::test]
async fn custom_subject_claim_looks_up_that_subject_only() {
    let source = TestSource::new(MemoryStore::new());
    let cutoffs = CutoffCache::new(Arc::clone(&source));
    let validator = hs_builder()
        .subject_claim("user")
        .build(cutoffs.clone())
        .unwrap();
    let guarded = Guarded::new(validator);

    let token = hs_token(&payload(&[
        ("sub", Some("\"mallory\"")),
        ("user", Some("\"alice\"")),
    ]));
    guarded.accepts(&token, "alice", "user claim").await;
    assert_eq!(source.lookups(), ["alice"]);

    for (overrides, reason, what) in [
        (vec![("user", None)], Reason::MissingClaim, "sub only"),
        (
            vec![("user", Some("5"))],
            Reason::InvalidClaim,
            "numeric user",
        ),
        (
            vec![("user", Some("\"\""))],
            Reason::InvalidClaim,
            "empty user",
        ),
        (
            vec![("user", Some("\"alice\"")), ("\\u0075ser", Some("\"bob\""))],
            Reason::InvalidClaim,
            "escaped duplicate",
        ),
    ] {
        let mut all = vec![("sub", Some("\"alice\""))];
        all.extend(overrides);
        guarded
            .refuses(&hs_token(&payload(&all)), reason, what)
            .await;
    }
    assert_eq!(source.lookups(), ["alice"], "no lookup for refused tokens");

    // The cutoff that counts is the user's, not the sub's.
    cutoffs.logout_all("mallory").await.unwrap();
    guarded.accepts(&token, "alice", "mallory logged out").await;
    cutoffs.logout_all("alice").await.unwrap();
    guarded
        .refuses(&token, Reason::Revoked, "alice logged out")
        .await;

    let issuer = hs_issuer_builder().subject_claim("user").build().unwrap();
    let fresh = issuer.issue_access("alice", &()).unwrap().token;
    guarded
        .accepts(&fresh, "alice", "issuer with the same claim")
        .await;

    for reserved in ["iat", "exp", "nbf", "iss", "aud", "token_use", ""] {
        let built = hs_builder().subject_claim(reserved).build(cutoffs.clone());
        assert!(built.is_err(), "{reserved:?} cannot name the subject");
    }
}

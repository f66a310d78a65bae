//! Cutoff semantics through the layer (SPEC 1, 14, 18): same-second logouts, whole-second and
//! fractional `iat` against exact cutoffs, leeway, logout of everyone, refused subjects, and the
//! cutoff applied on every cache hit.

use std::time::Duration;

use jwt_cutoff::{CutoffCache, MemoryStore, Reason};
use jwt_cutoff_test_support::*;

use crate::{counted, in_memory};

#[tokio::test]
async fn a_valid_token_reaches_the_inner_service_once() {
    let (guarded, source, _cutoffs) = counted();
    let token = hs_access("alice");
    guarded.accepts(&token, "alice", "issuer token").await;
    guarded
        .accepts(
            &hs_token(&payload(&[])),
            "alice",
            "hand-made token with the defaults",
        )
        .await;
    assert_eq!(source.lookups(), ["alice"], "one lookup, then the cache");
}

#[tokio::test]
async fn same_second_logout_refuses_earlier_tokens_and_accepts_later_ones() {
    let (guarded, cutoffs) = in_memory();
    let issuer = hs_issuer();
    let mut same_second = 0;
    for round in 0..300 {
        let before = issuer.issue_access("alice", &()).unwrap();
        // Accepted (and the subject cached) before the logout...
        guarded
            .accepts(
                &before.token,
                "alice",
                &format!("round {round}: before logout"),
            )
            .await;
        let cutoff = logged_out_at(&cutoffs, "alice").await;
        let after = issuer.issue_access("alice", &()).unwrap();
        assert!(before.issued_at < cutoff && cutoff < after.issued_at);
        if before.issued_at.as_unix_secs() == after.issued_at.as_unix_secs() {
            same_second += 1;
        }
        // ...refused the moment logout_all returned, accepted if minted after it.
        guarded
            .refuses(
                &before.token,
                Reason::Revoked,
                &format!("round {round}: token minted before logout"),
            )
            .await;
        guarded
            .accepts(
                &after.token,
                "alice",
                &format!("round {round}: token minted after logout"),
            )
            .await;
    }
    assert!(
        same_second > 250,
        "the rounds ran within one second: {same_second}"
    );
}

#[tokio::test]
async fn whole_second_iat_in_the_cutoff_second_is_refused() {
    let (guarded, cutoffs) = in_memory();
    let cutoff = logged_out_at(&cutoffs, "alice").await;
    let second = cutoff.as_unix_secs();
    for (iat, accepted) in [(second - 1, false), (second, false), (second + 1, true)] {
        let token = hs_token(&payload(&[("iat", Some(&iat.to_string()))]));
        let refused_for = (!accepted).then_some(Reason::Revoked);
        let what = format!("iat {iat}, cutoff {cutoff}");
        guarded.decides(&token, refused_for, "alice", &what).await;
    }
}

#[tokio::test]
async fn fractional_iat_compares_to_the_microsecond() {
    let (guarded, cutoffs) = in_memory();
    let cutoff = logged_out_at(&cutoffs, "alice").await.as_unix_micros();
    let cases = [
        (precise(cutoff - 1), false),
        (precise(cutoff), true),
        (precise(cutoff + 1), true),
        // Extra digits are dropped, never rounded up past the cutoff.
        (format!("{}999", precise(cutoff - 1)), false),
        (
            format!("{}99999999999999999999", precise(cutoff - 1)),
            false,
        ),
        (format!("{}000", precise(cutoff)), true),
        (format!("{}00000000000000000001", precise(cutoff)), true),
    ];
    for (iat, accepted) in cases {
        let token = hs_token(&payload(&[("iat", Some(&iat))]));
        let refused_for = (!accepted).then_some(Reason::Revoked);
        let what = format!("iat {iat}, cutoff {cutoff}");
        guarded.decides(&token, refused_for, "alice", &what).await;
    }
}

#[tokio::test]
async fn leeway_never_lets_a_pre_cutoff_token_pass() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = hs_builder()
        .leeway(Duration::from_secs(3600))
        .build(cutoffs.clone())
        .unwrap();
    let guarded = Guarded::new(validator);
    let cutoff = logged_out_at(&cutoffs, "alice").await;
    let micros = cutoff.as_unix_micros();
    for iat in [
        precise(micros - 1),
        precise(micros - 1_000_000),
        cutoff.as_unix_secs().to_string(),
    ] {
        let token = hs_token(&payload(&[("iat", Some(&iat))]));
        guarded
            .refuses(
                &token,
                Reason::Revoked,
                &format!("iat {iat} with a 1 h leeway"),
            )
            .await;
    }
    // The leeway is in force (an exp ten minutes past is tolerated) yet changed nothing above.
    let exp = (now_secs() - 600).to_string();
    let token = hs_token(&payload(&[
        ("iat", Some(&precise(micros))),
        ("exp", Some(&exp)),
    ]));
    guarded
        .accepts(&token, "alice", "exp within the leeway")
        .await;
}

#[tokio::test]
async fn logout_everyone_refuses_every_older_token() {
    let (guarded, cutoffs) = in_memory();
    let issuer = hs_issuer();
    let alice = issuer.issue_access("alice", &()).unwrap().token;
    let bob = issuer.issue_access("bob", &()).unwrap().token;
    guarded.accepts(&alice, "alice", "before").await;
    guarded.accepts(&bob, "bob", "before").await;

    let cutoff = cutoffs
        .logout_everyone()
        .await
        .unwrap()
        .valid_from()
        .unwrap();
    guarded
        .refuses(&alice, Reason::Revoked, "alice after")
        .await;
    guarded.refuses(&bob, Reason::Revoked, "bob after").await;
    let whole = cutoff.as_unix_secs().to_string();
    let carol = hs_token(&payload(&[
        ("sub", Some("\"carol\"")),
        ("iat", Some(&whole)),
    ]));
    guarded
        .refuses(
            &carol,
            Reason::Revoked,
            "never-seen subject, iat in the cutoff second",
        )
        .await;

    guarded
        .accepts(&hs_access("alice"), "alice", "minted after")
        .await;
}

#[tokio::test]
async fn refused_subject_is_refused_even_with_fresh_tokens() {
    let (guarded, cutoffs) = in_memory();
    let issuer = hs_issuer();
    let old = issuer.issue_access("mallory", &()).unwrap().token;
    guarded.accepts(&old, "mallory", "before refuse").await;

    cutoffs.refuse("mallory").await.unwrap();
    guarded
        .refuses(&old, Reason::SubjectRefused, "old token")
        .await;
    let fresh = issuer.issue_access("mallory", &()).unwrap().token;
    guarded
        .refuses(&fresh, Reason::SubjectRefused, "token minted after refuse")
        .await;
    // A later logout-all does not lift the refusal (cutoffs only move forward).
    cutoffs.logout_all("mallory").await.unwrap();
    let later = issuer.issue_access("mallory", &()).unwrap().token;
    guarded
        .refuses(
            &later,
            Reason::SubjectRefused,
            "token minted after a later logout",
        )
        .await;
    // Nobody else is affected.
    guarded
        .accepts(&hs_access("alice"), "alice", "another subject")
        .await;
}

#[tokio::test]
async fn cached_subjects_still_get_the_cutoff_on_every_hit() {
    let (guarded, source, cutoffs) = counted();
    let token = hs_access("alice");
    for _ in 0..5 {
        guarded.accepts(&token, "alice", "cached").await;
    }
    assert_eq!(source.calls(), 1);
    cutoffs.logout_all("alice").await.unwrap();
    for round in 0..5 {
        guarded
            .refuses(
                &token,
                Reason::Revoked,
                &format!("hit {round} after logout"),
            )
            .await;
    }
    assert!(source.calls() <= 2, "{:?}", source.lookups());
}

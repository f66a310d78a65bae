//! Cutoff semantics through the layer (SPEC 1, 14, 18): same-second logouts, whole-second and
//! fractional `iat` against exact cutoffs, leeway, logout of everyone, refused subjects, and the
//! cutoff applied on every cache hit.

use std::time::Duration;

use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, Reason, Validator, VerifyingKey};
use jwt_cutoff_test_support::*;

use crate::counted;

#[tokio::test]
async fn a_valid_token_reaches_the_inner_service_once() {
    let (guarded, source, _cutoffs) = counted();
    let token = hs_issuer().issue_access("alice", &()).unwrap().token;
    guarded
        .bearer(&token)
        .await
        .assert_ok("alice", "issuer token");
    guarded
        .bearer(&hs_token(&payload(&[])))
        .await
        .assert_ok("alice", "hand-made token with the defaults");
    assert_eq!(source.lookups(), ["alice"], "one lookup, then the cache");
}

#[tokio::test]
async fn same_second_logout_refuses_earlier_tokens_and_accepts_later_ones() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guarded = Guarded::new(hs_validator(cutoffs.clone()));
    let issuer = hs_issuer();
    let mut same_second = 0;
    for round in 0..300 {
        let before = issuer.issue_access("alice", &()).unwrap();
        // Accepted (and the subject cached) before the logout...
        guarded
            .bearer(&before.token)
            .await
            .assert_ok("alice", &format!("round {round}: before logout"));
        let cutoff = cutoffs
            .logout_all("alice")
            .await
            .unwrap()
            .valid_from()
            .unwrap();
        let after = issuer.issue_access("alice", &()).unwrap();
        assert!(before.issued_at < cutoff && cutoff < after.issued_at);
        if before.issued_at.as_unix_secs() == after.issued_at.as_unix_secs() {
            same_second += 1;
        }
        // ...refused the moment logout_all returned, accepted if minted after it.
        guarded.bearer(&before.token).await.assert_invalid_token(
            Reason::Revoked,
            &format!("round {round}: token minted before logout"),
        );
        guarded.bearer(&after.token).await.assert_ok(
            "alice",
            &format!("round {round}: token minted after logout"),
        );
    }
    assert!(
        same_second > 250,
        "the rounds ran within one second: {same_second}"
    );
}

#[tokio::test]
async fn whole_second_iat_in_the_cutoff_second_is_refused() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guarded = Guarded::new(hs_validator(cutoffs.clone()));
    let cutoff = cutoffs
        .logout_all("alice")
        .await
        .unwrap()
        .valid_from()
        .unwrap();
    let second = cutoff.as_unix_secs();
    for (iat, accepted) in [(second - 1, false), (second, false), (second + 1, true)] {
        let token = hs_token(&payload(&[("iat", Some(&iat.to_string()))]));
        let reply = guarded.bearer(&token).await;
        if accepted {
            reply.assert_ok("alice", &format!("iat {iat}, cutoff {cutoff}"));
        } else {
            reply.assert_invalid_token(Reason::Revoked, &format!("iat {iat}, cutoff {cutoff}"));
        }
    }
}

#[tokio::test]
async fn fractional_iat_compares_to_the_microsecond() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guarded = Guarded::new(hs_validator(cutoffs.clone()));
    let cutoff = cutoffs
        .logout_all("alice")
        .await
        .unwrap()
        .valid_from()
        .unwrap()
        .as_unix_micros();
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
        let reply = guarded.bearer(&token).await;
        if accepted {
            reply.assert_ok("alice", &format!("iat {iat}, cutoff {cutoff}"));
        } else {
            reply.assert_invalid_token(Reason::Revoked, &format!("iat {iat}, cutoff {cutoff}"));
        }
    }
}

#[tokio::test]
async fn leeway_never_lets_a_pre_cutoff_token_pass() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .leeway(Duration::from_secs(3600))
        .build(cutoffs.clone())
        .unwrap();
    let guarded = Guarded::new(validator);
    let cutoff = cutoffs
        .logout_all("alice")
        .await
        .unwrap()
        .valid_from()
        .unwrap();
    let micros = cutoff.as_unix_micros();
    for iat in [
        precise(micros - 1),
        precise(micros - 1_000_000),
        cutoff.as_unix_secs().to_string(),
    ] {
        let token = hs_token(&payload(&[("iat", Some(&iat))]));
        guarded
            .bearer(&token)
            .await
            .assert_invalid_token(Reason::Revoked, &format!("iat {iat} with a 1 h leeway"));
    }
    // The leeway is in force (an exp ten minutes past is tolerated) yet changed nothing above.
    let exp = (now_secs() - 600).to_string();
    let token = hs_token(&payload(&[
        ("iat", Some(&precise(micros))),
        ("exp", Some(&exp)),
    ]));
    guarded
        .bearer(&token)
        .await
        .assert_ok("alice", "exp within the leeway");
}

#[tokio::test]
async fn logout_everyone_refuses_every_older_token() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guarded = Guarded::new(hs_validator(cutoffs.clone()));
    let issuer = hs_issuer();
    let alice = issuer.issue_access("alice", &()).unwrap().token;
    let bob = issuer.issue_access("bob", &()).unwrap().token;
    guarded.bearer(&alice).await.assert_ok("alice", "before");
    guarded.bearer(&bob).await.assert_ok("bob", "before");

    let cutoff = cutoffs
        .logout_everyone()
        .await
        .unwrap()
        .valid_from()
        .unwrap();
    guarded
        .bearer(&alice)
        .await
        .assert_invalid_token(Reason::Revoked, "alice after");
    guarded
        .bearer(&bob)
        .await
        .assert_invalid_token(Reason::Revoked, "bob after");
    let whole = cutoff.as_unix_secs().to_string();
    let carol = hs_token(&payload(&[
        ("sub", Some("\"carol\"")),
        ("iat", Some(&whole)),
    ]));
    guarded.bearer(&carol).await.assert_invalid_token(
        Reason::Revoked,
        "never-seen subject, iat in the cutoff second",
    );

    let fresh = issuer.issue_access("alice", &()).unwrap().token;
    guarded
        .bearer(&fresh)
        .await
        .assert_ok("alice", "minted after");
}

#[tokio::test]
async fn refused_subject_is_refused_even_with_fresh_tokens() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guarded = Guarded::new(hs_validator(cutoffs.clone()));
    let issuer = hs_issuer();
    let old = issuer.issue_access("mallory", &()).unwrap().token;
    guarded
        .bearer(&old)
        .await
        .assert_ok("mallory", "before refuse");

    cutoffs.refuse("mallory").await.unwrap();
    guarded
        .bearer(&old)
        .await
        .assert_invalid_token(Reason::SubjectRefused, "old token");
    let fresh = issuer.issue_access("mallory", &()).unwrap().token;
    guarded
        .bearer(&fresh)
        .await
        .assert_invalid_token(Reason::SubjectRefused, "token minted after refuse");
    // A later logout-all does not lift the refusal (cutoffs only move forward).
    cutoffs.logout_all("mallory").await.unwrap();
    let later = issuer.issue_access("mallory", &()).unwrap().token;
    guarded
        .bearer(&later)
        .await
        .assert_invalid_token(Reason::SubjectRefused, "token minted after a later logout");
    // Nobody else is affected.
    let alice = issuer.issue_access("alice", &()).unwrap().token;
    guarded
        .bearer(&alice)
        .await
        .assert_ok("alice", "another subject");
}

#[tokio::test]
async fn cached_subjects_still_get_the_cutoff_on_every_hit() {
    let (guarded, source, cutoffs) = counted();
    let token = hs_issuer().issue_access("alice", &()).unwrap().token;
    for _ in 0..5 {
        guarded.bearer(&token).await.assert_ok("alice", "cached");
    }
    assert_eq!(source.lookup_count(), 1);
    cutoffs.logout_all("alice").await.unwrap();
    for round in 0..5 {
        guarded
            .bearer(&token)
            .await
            .assert_invalid_token(Reason::Revoked, &format!("hit {round} after logout"));
    }
    assert!(source.lookup_count() <= 2, "{:?}", source.lookups());
}

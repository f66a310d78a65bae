//! Adversarial tests for the core crate: every attack of the SPEC's list that applies to it, driven
//! through the real [`JwtCutoffLayer`] with hand-made tokens whose every byte is chosen here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode};
use jsonwebtoken::{Algorithm as Jwa, EncodingKey};
use jwt_cutoff::{
    Algorithm, CutoffCache, CutoffSource as _, JwtCutoffLayer, MemoryStore, Reason,
    Rfc6750Responder, SigningKey, TokenIssuer, TokenType, Validator, Verified, VerifyingKey,
};
use jwt_cutoff_test_support::*;
use serde::Deserialize;
use tower::{ServiceBuilder, ServiceExt};

/// A guarded HS256 service over a counting store.
fn counted() -> (Guarded, CountingSource, CutoffCache) {
    let source = CountingSource::default();
    let cutoffs = CutoffCache::new(source.clone());
    (Guarded::new(hs_validator(cutoffs.clone())), source, cutoffs)
}

// =============================================================================================
// Baseline

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

// =============================================================================================
// 1. Same-second logout, exact cutoffs

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

// =============================================================================================
// 14. Deleted or disabled subjects

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

// =============================================================================================
// 18. The cutoff applies on every cache hit

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

// =============================================================================================
// 2, 3. Token types

#[tokio::test]
async fn access_and_refresh_tokens_cannot_stand_in_for_each_other() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let access = Guarded::new(hs_validator(cutoffs.clone()));
    let refresh_validator = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .token_type(TokenType::Refresh)
        .build(cutoffs.clone())
        .unwrap();
    let refresh = Guarded::new(refresh_validator.clone());
    let pair = hs_issuer().issue_pair("alice", &()).unwrap();

    access
        .bearer(&pair.access.token)
        .await
        .assert_ok("alice", "access at access");
    access
        .bearer(&pair.refresh.token)
        .await
        .assert_invalid_token(Reason::WrongTokenType, "refresh at access");
    refresh
        .bearer(&pair.refresh.token)
        .await
        .assert_ok("alice", "refresh at refresh");
    refresh
        .bearer(&pair.access.token)
        .await
        .assert_invalid_token(Reason::WrongTokenType, "access at refresh");
    assert_eq!(
        reason_of(&refresh_validator, &pair.access.token).await,
        Some(Reason::WrongTokenType)
    );

    // Hand-made: every other spelling of token_use is refused by both.
    for (token_use, reason) in [
        ("\"Access\"", Reason::WrongTokenType),
        ("\"REFRESH\"", Reason::WrongTokenType),
        ("\"\"", Reason::WrongTokenType),
        ("\"id\"", Reason::WrongTokenType),
        ("\"access \"", Reason::WrongTokenType),
        ("1", Reason::InvalidClaim),
        ("null", Reason::InvalidClaim),
        ("[\"access\"]", Reason::InvalidClaim),
        ("{\"access\":true}", Reason::InvalidClaim),
    ] {
        let token = hs_token(&payload(&[("token_use", Some(token_use))]));
        access
            .bearer(&token)
            .await
            .assert_invalid_token(reason, token_use);
        refresh
            .bearer(&token)
            .await
            .assert_invalid_token(reason, token_use);
    }
    // A repeated token_use cannot be read either way.
    let base = payload(&[("token_use", Some("\"refresh\""))]);
    let doubled = format!("{},\"token_use\":\"access\"}}", &base[..base.len() - 1]);
    access
        .bearer(&hs_token(&doubled))
        .await
        .assert_invalid_token(Reason::InvalidClaim, "refresh then access");
}

#[tokio::test]
async fn refresh_token_issued_before_the_cutoff_is_refused_at_the_refresh_endpoint() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let refresh = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .token_type(TokenType::Refresh)
        .build(cutoffs.clone())
        .unwrap();
    let issuer = hs_issuer();
    let old = issuer.issue_refresh("alice", &()).unwrap().token;
    assert_eq!(reason_of(&refresh, &old).await, None);
    let cutoff = cutoffs
        .logout_all("alice")
        .await
        .unwrap()
        .valid_from()
        .unwrap();
    assert_eq!(reason_of(&refresh, &old).await, Some(Reason::Revoked));
    let new = issuer.issue_refresh("alice", &()).unwrap().token;
    assert_eq!(reason_of(&refresh, &new).await, None);

    // A hand-made refresh token in the cutoff's second, or a microsecond before it.
    for iat in [
        cutoff.as_unix_secs().to_string(),
        precise(cutoff.as_unix_micros() - 1),
    ] {
        let token = hs_token(&payload(&[
            ("iat", Some(&iat)),
            ("token_use", Some("\"refresh\"")),
        ]));
        assert_eq!(
            reason_of(&refresh, &token).await,
            Some(Reason::Revoked),
            "{iat}"
        );
    }
    // Through a layer, too.
    Guarded::new(refresh)
        .bearer(&old)
        .await
        .assert_invalid_token(Reason::Revoked, "old refresh token");
}

/// SPEC case 27 at the token level: a token of a login made before the cutoff (its `auth_time`)
/// is refused however fresh its `iat`, as a pair refreshed from that login would be; and
/// `auth_time` is read as strictly as `iat`.
#[tokio::test]
async fn a_fresh_iat_never_carries_a_login_from_before_the_cutoff() {
    let (guarded, _source, cutoffs) = counted();
    let cutoff = cutoffs
        .logout_all("alice")
        .await
        .unwrap()
        .valid_from()
        .unwrap()
        .as_unix_micros();
    let (before, after) = (precise(cutoff - 1), precise(cutoff + 1));
    let same_second = (cutoff.div_euclid(1_000_000)).to_string();
    let token = |iat: &str, auth_time: &str| {
        hs_token(&payload(&[
            ("iat", Some(iat)),
            ("auth_time", Some(auth_time)),
        ]))
    };
    for (iat, auth_time, why) in [
        (
            &after,
            &before,
            "a fresh iat over a login from before the cutoff",
        ),
        (
            &before,
            &after,
            "a login claimed after an iat from before the cutoff",
        ),
        (
            &after,
            &same_second,
            "a whole-second login in the cutoff's second",
        ),
    ] {
        guarded
            .bearer(&token(iat, auth_time))
            .await
            .assert_invalid_token(Reason::Revoked, why);
    }
    guarded
        .bearer(&token(&after, &after))
        .await
        .assert_ok("alice", "a login after the cutoff");

    for auth_time in ["null", "\"1764384000\"", "-1", "1e9", "true", "1764384000."] {
        let response = guarded.bearer(&token(&after, auth_time)).await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "auth_time {auth_time}: {response:?}"
        );
    }
    let base = payload(&[("iat", Some(&after)), ("auth_time", Some(&after))]);
    let open = &base[..base.len() - 1];
    for body in [
        format!("{open},\"auth_time\":{before}}}"),
        format!("{open},\"\\u0061uth_time\":{before}}}"),
    ] {
        guarded
            .bearer(&hs_token(&body))
            .await
            .assert_invalid_token(Reason::InvalidClaim, &body);
    }
}

#[tokio::test]
async fn untyped_tokens_pass_only_where_explicitly_accepted_and_never_as_refresh() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let untyped = hs_token(&payload(&[("token_use", None)]));
    let refresh_typed = hs_token(&payload(&[("token_use", Some("\"refresh\""))]));

    Guarded::new(hs_validator(cutoffs.clone()))
        .bearer(&untyped)
        .await
        .assert_invalid_token(Reason::WrongTokenType, "default access validator");

    let lenient = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .accept_untyped_tokens()
        .build(cutoffs.clone())
        .unwrap();
    let lenient = Guarded::new(lenient);
    lenient
        .bearer(&untyped)
        .await
        .assert_ok("alice", "accept_untyped_tokens");
    lenient.bearer(&refresh_typed).await.assert_invalid_token(
        Reason::WrongTokenType,
        "refresh token at a lenient access validator",
    );

    let refresh = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .token_type(TokenType::Refresh)
        .build(cutoffs.clone())
        .unwrap();
    assert_eq!(
        reason_of(&refresh, &untyped).await,
        Some(Reason::WrongTokenType)
    );

    let never = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .token_type(TokenType::Refresh)
        .accept_untyped_tokens()
        .build(cutoffs);
    assert!(
        never.is_err(),
        "untyped refresh tokens must be a configuration error"
    );
}

// =============================================================================================
// 4. iat: missing, null, strings, signs, NaN-like, exponents, overflow, duplicates

#[tokio::test]
async fn malformed_iat_values_are_refused_without_lookup() {
    let (guarded, source, _cutoffs) = counted();
    let cases: &[(Option<&str>, Reason)] = &[
        (None, Reason::MissingClaim),
        (Some("null"), Reason::InvalidClaim),
        (Some("\"1764384000\""), Reason::InvalidClaim),
        (Some("\"\""), Reason::InvalidClaim),
        (Some("\"NaN\""), Reason::InvalidClaim),
        (Some("\"Infinity\""), Reason::InvalidClaim),
        (Some("\"-Infinity\""), Reason::InvalidClaim),
        (Some("-1"), Reason::InvalidClaim),
        (Some("-0"), Reason::InvalidClaim),
        (Some("-1764384000"), Reason::InvalidClaim),
        (Some("-0.5"), Reason::InvalidClaim),
        (Some("1e308"), Reason::InvalidClaim),
        (Some("1E9"), Reason::InvalidClaim),
        (Some("1.5e9"), Reason::InvalidClaim),
        (Some("1764384000e0"), Reason::InvalidClaim),
        (Some("1764384000.5E-1"), Reason::InvalidClaim),
        (Some("1e400"), Reason::InvalidClaim),
        (Some("99999999999999999999"), Reason::InvalidClaim),
        (Some("9223372036854775807"), Reason::InvalidClaim),
        (Some("9223372036854775808"), Reason::InvalidClaim),
        (Some("18446744073709551616"), Reason::InvalidClaim),
        (Some("253402300800"), Reason::InvalidClaim),
        (Some("true"), Reason::InvalidClaim),
        (Some("[1764384000]"), Reason::InvalidClaim),
        (
            Some("{\"$numberLong\":\"1764384000\"}"),
            Reason::InvalidClaim,
        ),
        // Not JSON at all.
        (Some("NaN"), Reason::MalformedToken),
        (Some("Infinity"), Reason::MalformedToken),
        (Some("+1764384000"), Reason::MalformedToken),
        (Some("01764384000"), Reason::MalformedToken),
        (Some("1764384000."), Reason::MalformedToken),
        (Some(".5"), Reason::MalformedToken),
        (Some("0x6929a000"), Reason::MalformedToken),
        (Some("1764384000,5"), Reason::MalformedToken),
    ];
    for (iat, reason) in cases {
        let token = hs_token(&payload(&[("iat", *iat)]));
        guarded
            .bearer(&token)
            .await
            .assert_invalid_token(*reason, &format!("iat {iat:?}"));
    }
    assert_eq!(source.lookup_count(), 0, "{:?}", source.lookups());
}

#[tokio::test]
async fn duplicate_claims_are_refused_even_when_escaped() {
    let (guarded, source, cutoffs) = counted();
    let cutoff = cutoffs
        .logout_all("alice")
        .await
        .unwrap()
        .valid_from()
        .unwrap()
        .as_unix_micros();
    let lookups_after_logout = source.lookup_count();
    let early = precise(cutoff - 1_000_000);
    let late = precise(cutoff + 1);
    let base = payload(&[("iat", Some(&late))]);
    let open = &base[..base.len() - 1];
    let cases = [
        format!("{open},\"iat\":{early}}}"),
        format!("{open},\"iat\":{late}}}"),
        format!("{open},\"\\u0069at\":{early}}}"),
        format!("{open},\"i\\u0061t\":{early}}}"),
        format!("{open},\"\\u0069\\u0061\\u0074\":{early}}}"),
        format!("{{\"iat\":{early},{}", &base[1..]),
        format!("{open},\"exp\":1}}"),
        format!("{open},\"\\u0065xp\":1}}"),
        format!("{open},\"nbf\":1,\"nbf\":1}}"),
        format!("{open},\"sub\":\"bob\"}}"),
        format!("{open},\"\\u0073ub\":\"bob\"}}"),
        format!("{open},\"token_use\":\"access\"}}"),
    ];
    for body in &cases {
        guarded
            .bearer(&hs_token(body))
            .await
            .assert_invalid_token(Reason::InvalidClaim, body);
    }
    assert_eq!(
        source.lookup_count(),
        lookups_after_logout,
        "{:?}",
        source.lookups()
    );
    // Control: the base payload itself passes.
    guarded
        .bearer(&hs_token(&base))
        .await
        .assert_ok("alice", "no duplicate");
}

// =============================================================================================
// 5. iat in the future, exp, nbf

#[tokio::test]
async fn iat_beyond_the_leeway_in_the_future_is_refused() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guarded = Guarded::new(hs_validator(cutoffs.clone()));
    let now = now_micros();
    let far = [
        precise(now + 3_600_000_000),
        (now_secs() + 3600).to_string(),
        (now_secs() + 120).to_string(),
        "253402300799".to_owned(),
    ];
    for iat in &far {
        let token = hs_token(&payload(&[("iat", Some(iat))]));
        guarded
            .bearer(&token)
            .await
            .assert_invalid_token(Reason::IssuedInFuture, iat);
    }
    let near = precise(now + 10_000_000);
    guarded
        .bearer(&hs_token(&payload(&[("iat", Some(&near))])))
        .await
        .assert_ok("alice", "iat 10 s ahead, within the 30 s leeway");

    // A far-future token does not survive a logout either.
    cutoffs.logout_all("alice").await.unwrap();
    let token = hs_token(&payload(&[("iat", Some(&far[0]))]));
    guarded
        .bearer(&token)
        .await
        .assert_invalid_token(Reason::IssuedInFuture, "after logout");

    // No leeway: a few seconds ahead is already too far.
    let strict = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .leeway(Duration::ZERO)
        .build(CutoffCache::new(MemoryStore::new()))
        .unwrap();
    let ahead = precise(now_micros() + 5_000_000);
    let token = hs_token(&payload(&[("iat", Some(&ahead))]));
    assert_eq!(
        reason_of(&strict, &token).await,
        Some(Reason::IssuedInFuture)
    );
}

#[tokio::test]
async fn exp_and_nbf_are_enforced() {
    let (guarded, source, _cutoffs) = counted();
    let now = now_secs();
    let past = (now - 3600).to_string();
    let just_past = (now - 10).to_string();
    let beyond_leeway = (now - 60).to_string();
    let future = (now + 3600).to_string();
    let near_future = (now + 10).to_string();
    let fractional = format!("{}.5", now + 300);
    let refused: &[(&str, Option<&str>, Reason)] = &[
        ("exp", None, Reason::MissingClaim),
        ("exp", Some(&past), Reason::Expired),
        ("exp", Some(&beyond_leeway), Reason::Expired),
        ("exp", Some("0"), Reason::Expired),
        ("exp", Some("null"), Reason::InvalidClaim),
        ("exp", Some("\"9999999999\""), Reason::InvalidClaim),
        ("exp", Some("1e10"), Reason::InvalidClaim),
        ("exp", Some("-1"), Reason::InvalidClaim),
        ("exp", Some("99999999999999999999"), Reason::InvalidClaim),
        ("nbf", Some(&future), Reason::NotYetValid),
        ("nbf", Some("\"0\""), Reason::InvalidClaim),
        ("nbf", Some("null"), Reason::InvalidClaim),
        ("nbf", Some("1e3"), Reason::InvalidClaim),
    ];
    for (claim, value, reason) in refused {
        let token = hs_token(&payload(&[(claim, *value)]));
        guarded
            .bearer(&token)
            .await
            .assert_invalid_token(*reason, &format!("{claim} {value:?}"));
    }
    assert_eq!(source.lookup_count(), 0, "{:?}", source.lookups());

    for (claim, value) in [
        ("exp", &just_past),
        ("exp", &fractional),
        ("nbf", &near_future),
        ("nbf", &past),
    ] {
        let token = hs_token(&payload(&[(claim, Some(value))]));
        guarded
            .bearer(&token)
            .await
            .assert_ok("alice", &format!("{claim} {value}"));
    }
}

// =============================================================================================
// 6. Algorithms: none, outside the allow-list, HMAC with the RSA public key

#[tokio::test]
async fn alg_none_in_any_spelling_is_refused() {
    let (guarded, source, _cutoffs) = counted();
    let body = b64(payload(&[]));
    for alg in ["none", "None", "NONE", "nOnE", ""] {
        let head = b64(format!("{{\"alg\":\"{alg}\",\"typ\":\"JWT\"}}"));
        // Unsigned, as `none` tokens are.
        guarded
            .bearer(&format!("{head}.{body}."))
            .await
            .assert_invalid_token(Reason::MalformedToken, &format!("{alg:?}, no signature"));
        // With some signature bytes, and with a valid HS256 tag over the same message.
        guarded
            .bearer(&format!("{head}.{body}.c2lnbmF0dXJl"))
            .await
            .assert_invalid_token(
                Reason::AlgorithmNotAllowed,
                &format!("{alg:?}, junk signature"),
            );
        let tagged = sign_segments(&head, &body, &hmac_key(SECRET), Jwa::HS256);
        guarded
            .bearer(&tagged)
            .await
            .assert_invalid_token(Reason::AlgorithmNotAllowed, &format!("{alg:?}, HS256 tag"));
    }
    for head in [
        r#"{"alg":null}"#,
        r#"{"typ":"JWT"}"#,
        r#"{"alg":["HS256"]}"#,
        r#"{"alg":256}"#,
    ] {
        guarded
            .bearer(&hs(head, &payload(&[])))
            .await
            .assert_invalid_token(Reason::MalformedToken, head);
    }
    assert_eq!(source.lookup_count(), 0);
}

#[tokio::test]
async fn algorithms_outside_the_allow_list_are_refused() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    // SECRET is 64 bytes, so the key could do HS384/HS512: only the allow-list stops them.
    let guarded = Guarded::new(hs_validator(cutoffs.clone()));
    let body = payload(&[]);
    let key = hmac_key(SECRET);
    guarded
        .bearer(&sign(r#"{"alg":"HS256"}"#, &body, &key, Jwa::HS256))
        .await
        .assert_ok("alice", "HS256 control");
    for (head, alg) in [
        (r#"{"alg":"HS384"}"#, Jwa::HS384),
        (r#"{"alg":"HS512"}"#, Jwa::HS512),
        (r#"{"alg":"hs256"}"#, Jwa::HS256),
        (r#"{"alg":"HS256 "}"#, Jwa::HS256),
        (r#"{"alg":"RS256"}"#, Jwa::HS256),
        (r#"{"alg":"ES256"}"#, Jwa::HS256),
        (r#"{"alg":"EdDSA"}"#, Jwa::HS256),
        (r#"{"alg":"HS1"}"#, Jwa::HS256),
    ] {
        guarded
            .bearer(&sign(head, &body, &key, alg))
            .await
            .assert_invalid_token(Reason::AlgorithmNotAllowed, head);
    }

    // Allowed in the list, but the key is too short for it (RFC 7518 §3.2): still refused.
    let short = b"exactly thirty-two bytes long!!!";
    let validator = Validator::builder()
        .algorithms([Algorithm::HS256, Algorithm::HS512])
        .key(VerifyingKey::hmac(short).unwrap())
        .build(cutoffs)
        .unwrap();
    let token = sign(r#"{"alg":"HS512"}"#, &body, &hmac_key(short), Jwa::HS512);
    assert_eq!(
        reason_of(&validator, &token).await,
        Some(Reason::AlgorithmNotAllowed)
    );
}

#[tokio::test]
async fn hmac_tag_made_with_the_rsa_public_key_is_refused() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let body = payload(&[]);
    let confused_key = hmac_key(RSA_PUBLIC);
    let trimmed = std::str::from_utf8(RSA_PUBLIC)
        .unwrap()
        .trim_end()
        .as_bytes()
        .to_vec();
    let forged = [
        sign(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &body,
            &confused_key,
            Jwa::HS256,
        ),
        sign(r#"{"alg":"HS256"}"#, &body, &hmac_key(&trimmed), Jwa::HS256),
        sign(r#"{"alg":"HS512"}"#, &body, &confused_key, Jwa::HS512),
    ];
    let rs_token =
        TokenIssuer::builder(SigningKey::rsa_pem(RSA_PRIVATE, Algorithm::RS256).unwrap())
            .build()
            .unwrap()
            .issue_access("alice", &())
            .unwrap()
            .token;

    // RS256 only.
    let rsa_only = Validator::builder()
        .algorithms([Algorithm::RS256])
        .key(VerifyingKey::rsa_pem(RSA_PUBLIC).unwrap())
        .build(cutoffs.clone())
        .unwrap();
    let guarded = Guarded::new(rsa_only);
    guarded
        .bearer(&rs_token)
        .await
        .assert_ok("alice", "RS256 control");
    for token in &forged {
        guarded
            .bearer(token)
            .await
            .assert_invalid_token(Reason::AlgorithmNotAllowed, "HS* with the public key");
    }

    // Even with HS256 in the allow-list, the RSA key never verifies an HMAC tag.
    let careless = Validator::builder()
        .algorithms([Algorithm::RS256, Algorithm::HS256, Algorithm::HS512])
        .key(VerifyingKey::rsa_pem(RSA_PUBLIC).unwrap())
        .build(cutoffs.clone())
        .unwrap();
    let guarded = Guarded::new(careless);
    guarded
        .bearer(&rs_token)
        .await
        .assert_ok("alice", "RS256 control");
    for token in &forged {
        guarded.bearer(token).await.assert_invalid_token(
            Reason::AlgorithmNotAllowed,
            "HS* with the public key, HS allowed",
        );
    }

    // With an HMAC key configured too, the tag is checked against that secret only.
    let mixed = Validator::builder()
        .algorithms([Algorithm::RS256, Algorithm::HS256])
        .key(VerifyingKey::rsa_pem(RSA_PUBLIC).unwrap())
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .build(cutoffs)
        .unwrap();
    assert_eq!(
        reason_of(&mixed, &forged[0]).await,
        Some(Reason::BadSignature)
    );
    // And an RS256 header over an HMAC tag made with the public key is just a bad signature.
    let relabelled = sign(r#"{"alg":"RS256"}"#, &body, &confused_key, Jwa::HS256);
    assert_eq!(
        reason_of(&mixed, &relabelled).await,
        Some(Reason::BadSignature)
    );
}

#[tokio::test]
async fn each_key_family_verifies_only_its_own_algorithms() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let rsa = Validator::builder()
        .algorithms([Algorithm::RS256, Algorithm::PS256])
        .key(VerifyingKey::rsa_pem(RSA_PUBLIC).unwrap())
        .build(cutoffs.clone())
        .unwrap();
    let ec = Validator::builder()
        .algorithms([Algorithm::ES256])
        .key(VerifyingKey::ec_pem(EC_PUBLIC).unwrap())
        .build(cutoffs.clone())
        .unwrap();
    let ed = Validator::builder()
        .algorithms([Algorithm::EdDSA])
        .key(VerifyingKey::ed_pem(ED_PUBLIC).unwrap())
        .build(cutoffs.clone())
        .unwrap();
    let issue = |key: SigningKey| {
        TokenIssuer::builder(key)
            .build()
            .unwrap()
            .issue_access("alice", &())
            .unwrap()
            .token
    };
    let rs256 = issue(SigningKey::rsa_pem(RSA_PRIVATE, Algorithm::RS256).unwrap());
    let ps256 = issue(SigningKey::rsa_pem(RSA_PRIVATE, Algorithm::PS256).unwrap());
    let es256 = issue(SigningKey::ec_pem(EC_PRIVATE, Algorithm::ES256).unwrap());
    let eddsa = issue(SigningKey::ed_pem(ED_PRIVATE).unwrap());

    let (rsa, ec, ed) = (Guarded::new(rsa), Guarded::new(ec), Guarded::new(ed));
    rsa.bearer(&rs256).await.assert_ok("alice", "RS256");
    rsa.bearer(&ps256).await.assert_ok("alice", "PS256");
    ec.bearer(&es256).await.assert_ok("alice", "ES256");
    ed.bearer(&eddsa).await.assert_ok("alice", "EdDSA");

    for (guarded, token, what) in [
        (&rsa, &es256, "ES256 at RSA"),
        (&rsa, &eddsa, "EdDSA at RSA"),
        (&ec, &rs256, "RS256 at EC"),
        (&ec, &eddsa, "EdDSA at EC"),
        (&ed, &es256, "ES256 at Ed"),
        (&ed, &ps256, "PS256 at Ed"),
    ] {
        guarded
            .bearer(token)
            .await
            .assert_invalid_token(Reason::AlgorithmNotAllowed, what);
    }

    // An RS256 signature relabelled PS256 (same key, both allowed) does not verify.
    let rsa_key = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
    let relabelled = sign(r#"{"alg":"PS256"}"#, &payload(&[]), &rsa_key, Jwa::RS256);
    rsa.bearer(&relabelled)
        .await
        .assert_invalid_token(Reason::BadSignature, "RS256 signature under a PS256 header");
}

// =============================================================================================
// 7. kid, jku, jwk, x5u, crit

#[tokio::test]
async fn unknown_or_mismatched_kid_is_refused_and_rotation_works() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap().kid("2024"))
        .key(VerifyingKey::hmac(OTHER_SECRET).unwrap().kid("2025"))
        .build(cutoffs.clone())
        .unwrap();
    let guarded = Guarded::new(validator);
    let issuer = |secret: &[u8], kid: &str| {
        TokenIssuer::builder(SigningKey::hmac(secret, Algorithm::HS256).unwrap().kid(kid))
            .build()
            .unwrap()
    };
    let old = issuer(SECRET, "2024")
        .issue_access("alice", &())
        .unwrap()
        .token;
    let new = issuer(OTHER_SECRET, "2025")
        .issue_access("alice", &())
        .unwrap()
        .token;
    guarded
        .bearer(&old)
        .await
        .assert_ok("alice", "old key during rotation");
    guarded
        .bearer(&new)
        .await
        .assert_ok("alice", "new key during rotation");

    let body = payload(&[]);
    let (secret_key, other_key) = (hmac_key(SECRET), hmac_key(OTHER_SECRET));
    let cases = [
        (
            sign(
                r#"{"alg":"HS256","kid":"2024"}"#,
                &body,
                &other_key,
                Jwa::HS256,
            ),
            Reason::BadSignature,
            "kid 2024, key 2025",
        ),
        (
            sign(
                r#"{"alg":"HS256","kid":"2025"}"#,
                &body,
                &secret_key,
                Jwa::HS256,
            ),
            Reason::BadSignature,
            "kid 2025, key 2024",
        ),
        (
            sign(
                r#"{"alg":"HS256","kid":"2026"}"#,
                &body,
                &secret_key,
                Jwa::HS256,
            ),
            Reason::UnknownKey,
            "kid 2026",
        ),
        (
            sign(
                r#"{"alg":"HS256","kid":""}"#,
                &body,
                &secret_key,
                Jwa::HS256,
            ),
            Reason::UnknownKey,
            "empty kid",
        ),
        (
            sign(
                r#"{"alg":"HS256","kid":"2024 "}"#,
                &body,
                &secret_key,
                Jwa::HS256,
            ),
            Reason::UnknownKey,
            "kid with a space",
        ),
        (
            sign(
                r#"{"alg":"HS256","kid":"../2024"}"#,
                &body,
                &secret_key,
                Jwa::HS256,
            ),
            Reason::UnknownKey,
            "path-like kid",
        ),
        (
            sign(r#"{"alg":"HS256"}"#, &body, &secret_key, Jwa::HS256),
            Reason::UnknownKey,
            "no kid",
        ),
        (
            sign(
                r#"{"alg":"HS256","kid":2024}"#,
                &body,
                &secret_key,
                Jwa::HS256,
            ),
            Reason::MalformedToken,
            "numeric kid",
        ),
        (
            sign(
                r#"{"alg":"HS256","kid":"2024","kid":"2025"}"#,
                &body,
                &other_key,
                Jwa::HS256,
            ),
            Reason::MalformedToken,
            "two kids",
        ),
    ];
    for (token, reason, what) in &cases {
        guarded
            .bearer(token)
            .await
            .assert_invalid_token(*reason, what);
    }

    // A token naming an unknown kid never falls back to a key without one.
    let fallback = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .key(VerifyingKey::hmac(OTHER_SECRET).unwrap().kid("b"))
        .build(cutoffs)
        .unwrap();
    let named = sign(
        r#"{"alg":"HS256","kid":"zzz"}"#,
        &body,
        &secret_key,
        Jwa::HS256,
    );
    assert_eq!(reason_of(&fallback, &named).await, Some(Reason::UnknownKey));
    let unnamed = sign(r#"{"alg":"HS256"}"#, &body, &secret_key, Jwa::HS256);
    assert_eq!(reason_of(&fallback, &unnamed).await, None);
    let wrong_unnamed = sign(r#"{"alg":"HS256"}"#, &body, &other_key, Jwa::HS256);
    assert_eq!(
        reason_of(&fallback, &wrong_unnamed).await,
        Some(Reason::BadSignature)
    );
}

#[tokio::test]
async fn jku_jwk_x5u_x5c_headers_are_never_followed() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guarded = Guarded::new(
        Validator::builder()
            .algorithms([Algorithm::RS256])
            .key(VerifyingKey::rsa_pem(RSA_PUBLIC).unwrap())
            .build(cutoffs.clone())
            .unwrap(),
    );
    let body = payload(&[]);
    let jwk = RSA_ATTACKER_JWK.trim();
    let headers = [
        format!(r#"{{"alg":"RS256","jwk":{jwk}}}"#),
        r#"{"alg":"RS256","jku":"https://attacker.invalid/.well-known/jwks.json"}"#.to_owned(),
        r#"{"alg":"RS256","x5u":"https://attacker.invalid/cert.pem"}"#.to_owned(),
        r#"{"alg":"RS256","x5c":["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}"#.to_owned(),
        format!(
            r#"{{"alg":"RS256","jwk":{jwk},"jku":"http://127.0.0.1:1/jwks","x5u":"file:///etc/passwd"}}"#
        ),
    ];
    let attacker = EncodingKey::from_rsa_pem(RSA_ATTACKER_PRIVATE).unwrap();
    let ours = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
    for head in &headers {
        guarded
            .bearer(&sign(head, &body, &attacker, Jwa::RS256))
            .await
            .assert_invalid_token(Reason::BadSignature, &format!("attacker-signed {head}"));
        // Signed with the configured key, the same headers are inert: verified with that key.
        guarded
            .bearer(&sign(head, &body, &ours, Jwa::RS256))
            .await
            .assert_ok("alice", &format!("configured key, {head}"));
    }

    // An embedded symmetric JWK is just as inert.
    let hs = Guarded::new(hs_validator(cutoffs));
    let oct = format!(
        r#"{{"alg":"HS256","jwk":{{"kty":"oct","k":"{}"}}}}"#,
        b64(OTHER_SECRET)
    );
    hs.bearer(&sign(&oct, &body, &hmac_key(OTHER_SECRET), Jwa::HS256))
        .await
        .assert_invalid_token(Reason::BadSignature, "oct jwk with its own secret");
}

#[tokio::test]
async fn crit_header_is_refused() {
    let (guarded, source, _cutoffs) = counted();
    let body = payload(&[]);
    for head in [
        r#"{"alg":"HS256","crit":["exp"]}"#,
        r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
        r#"{"alg":"HS256","crit":[]}"#,
        r#"{"alg":"HS256","crit":"exp"}"#,
        r#"{"alg":"HS256","crit":{}}"#,
        r#"{"alg":"HS256","cr\u0069t":["exp"]}"#,
    ] {
        guarded
            .bearer(&hs(head, &body))
            .await
            .assert_invalid_token(Reason::UnsupportedHeader, head);
    }
    assert_eq!(source.lookup_count(), 0);
}

/// RFC 7515 §4.1.11: `crit`, when present, is an array of names. A `null` is present but not an
/// array; a verifier that "understands no extensions" must not read it as absent.
#[tokio::test]
async fn crit_null_is_not_read_as_absent() {
    let (guarded, _source, _cutoffs) = counted();
    let token = hs(r#"{"alg":"HS256","crit":null}"#, &payload(&[]));
    let reply = guarded.bearer(&token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
    assert_eq!(reply.inner_calls, 0);
}

/// RFC 7515 §5.2 (steps 3-4): the JOSE header is a JSON object. A JSON array must not be read
/// positionally as if it were one.
#[tokio::test]
async fn jose_header_must_be_a_json_object() {
    let (guarded, source, _cutoffs) = counted();
    let body = payload(&[]);
    for head in [
        r#"["HS256"]"#,
        r#"["HS256",null,null]"#,
        r#"["HS256","kid"]"#,
    ] {
        let reply = guarded.bearer(&hs(head, &body)).await;
        reply.assert_invalid_token(Reason::MalformedToken, head);
    }
    assert_eq!(source.lookup_count(), 0);
}

// =============================================================================================
// 8. Signatures, segments, base64, JSON

#[tokio::test]
async fn bad_signatures_are_refused() {
    let (guarded, source, _cutoffs) = counted();
    let issuer = hs_issuer();
    let token = issuer.issue_access("alice", &()).unwrap().token;
    let bob = issuer.issue_access("bob", &()).unwrap().token;
    let (head_payload, signature) = token.rsplit_once('.').unwrap();

    let flip = |s: &str, at: usize| {
        let mut bytes = s.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    let bob_payload = bob.split('.').nth(1).unwrap();
    let alice_head = token.split('.').next().unwrap();
    let cases = [
        (
            format!("{head_payload}.{}", flip(signature, 10)),
            "flipped signature char",
        ),
        (
            format!("{head_payload}.{}", flip(signature, 0)),
            "flipped first signature char",
        ),
        (flip(&token, alice_head.len() + 5), "flipped payload char"),
        (
            format!("{alice_head}.{bob_payload}.{signature}"),
            "bob's payload, alice's signature",
        ),
        (
            sign(
                HS256_HEADER,
                &payload(&[]),
                &hmac_key(OTHER_SECRET),
                Jwa::HS256,
            ),
            "another secret",
        ),
        (
            format!("{head_payload}.{}", &signature[..signature.len() - 4]),
            "short signature",
        ),
        (format!("{head_payload}.{signature}AAAA"), "long signature"),
        (
            format!("{head_payload}.{}", "A".repeat(43)),
            "zero signature",
        ),
        (
            format!("{head_payload}.{}", signature.replace(['-', '_'], "+")),
            "standard alphabet",
        ),
    ];
    for (forged, what) in &cases {
        if forged == &token {
            continue;
        }
        guarded
            .bearer(forged)
            .await
            .assert_invalid_token(Reason::BadSignature, what);
    }
    assert_eq!(source.lookup_count(), 0);
    guarded.bearer(&token).await.assert_ok("alice", "control");
}

#[tokio::test]
async fn truncated_tokens_and_wrong_segment_counts_are_refused() {
    let (guarded, source, _cutoffs) = counted();
    let token = hs_issuer().issue_access("alice", &()).unwrap().token;
    let mut parts = token.split('.');
    let (h, p, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let malformed = [
        format!("{h}.{p}"),
        format!("{h}.{p}."),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}."),
        format!("{h}.{p}.{s}.."),
        format!("{h}.{h}.{p}.{s}"),
        format!("{h}.{p}.{s}.{h}.{p}"),
        format!("{h}..{s}"),
        format!(".{p}.{s}"),
        h.to_owned(),
        ".".to_owned(),
        "..".to_owned(),
        "...".to_owned(),
        format!("{}.{p}.{s}", &h[..h.len() - 3]),
    ];
    for forged in &malformed {
        guarded
            .bearer(forged)
            .await
            .assert_invalid_token(Reason::MalformedToken, forged);
    }
    // Cut inside the signature: still three segments, but the signature fails.
    for cut in [1, 2, 5, 20] {
        guarded
            .bearer(&token[..token.len() - cut])
            .await
            .assert_invalid_token(Reason::BadSignature, &format!("{cut} bytes cut"));
    }
    assert_eq!(source.lookup_count(), 0);
}

/// A JSON text whose base64url encoding contains `-` or `_`, by adding a junk member.
fn with_url_only_chars(object: &str) -> (String, String) {
    for i in 0..1000 {
        let text = format!(
            "{},\"x\":\"{}\"}}",
            &object[..object.len() - 1],
            "~".repeat(i % 7) + &"?".repeat(i / 7)
        );
        let encoded = b64(&text);
        if encoded.contains('-') && encoded.contains('_') {
            return (text, encoded);
        }
    }
    panic!("no encoding with - and _");
}

/// A JSON text whose base64url encoding has unused trailing bits, by adding a junk member.
fn with_trailing_bits(object: &str) -> (String, String) {
    for i in 0..3 {
        let text = format!(
            "{},\"y\":\"{}\"}}",
            &object[..object.len() - 1],
            "z".repeat(i)
        );
        let encoded = b64(&text);
        if dirty_trailing_bits(&encoded).is_some() {
            return (text, encoded);
        }
    }
    panic!("no encoding with trailing bits");
}

#[tokio::test]
async fn non_canonical_base64_is_refused() {
    let (guarded, source, cutoffs) = counted();
    let validator = hs_validator(cutoffs);
    let key = hmac_key(SECRET);
    let body = payload(&[]);

    // '+' and '/' (standard alphabet) in the header or payload, correctly signed over those bytes.
    let (_, head) = with_url_only_chars(HS256_HEADER);
    let standard = head.replace('-', "+").replace('_', "/");
    let token = sign_segments(&standard, &b64(&body), &key, Jwa::HS256);
    guarded
        .bearer(&token)
        .await
        .assert_invalid_token(Reason::MalformedToken, "standard alphabet in the header");
    let (_, payload_b64) = with_url_only_chars(&body);
    let standard = payload_b64.replace('-', "+").replace('_', "/");
    let token = sign_segments(&b64(HS256_HEADER), &standard, &key, Jwa::HS256);
    guarded
        .bearer(&token)
        .await
        .assert_invalid_token(Reason::MalformedToken, "standard alphabet in the payload");
    // Control: the url-safe originals are fine.
    let token = sign_segments(&head, &payload_b64, &key, Jwa::HS256);
    guarded
        .bearer(&token)
        .await
        .assert_ok("alice", "url-safe control");

    // Non-zero unused trailing bits: a lenient decoder reads the same JSON.
    let (head_text, head) = with_trailing_bits(HS256_HEADER);
    let dirty_head = dirty_trailing_bits(&head).unwrap();
    assert_eq!(lenient_decode(&dirty_head), head_text.as_bytes());
    let token = sign_segments(&dirty_head, &b64(&body), &key, Jwa::HS256);
    guarded
        .bearer(&token)
        .await
        .assert_invalid_token(Reason::MalformedToken, "dirty trailing bits in the header");
    let (body_text, body_b64) = with_trailing_bits(&body);
    let dirty_body = dirty_trailing_bits(&body_b64).unwrap();
    assert_eq!(lenient_decode(&dirty_body), body_text.as_bytes());
    let token = sign_segments(&b64(HS256_HEADER), &dirty_body, &key, Jwa::HS256);
    guarded
        .bearer(&token)
        .await
        .assert_invalid_token(Reason::MalformedToken, "dirty trailing bits in the payload");
    // In the signature: a second spelling of a valid token must not verify.
    let valid = hs_token(&body);
    let (message, signature) = valid.rsplit_once('.').unwrap();
    let dirty_signature = dirty_trailing_bits(signature).unwrap();
    assert_eq!(lenient_decode(&dirty_signature), lenient_decode(signature));
    guarded
        .bearer(&format!("{message}.{dirty_signature}"))
        .await
        .assert_invalid_token(Reason::BadSignature, "dirty trailing bits in the signature");

    // Padding in the signature (the last segment, so the header is still token68).
    guarded
        .bearer(&format!("{valid}="))
        .await
        .assert_invalid_token(Reason::BadSignature, "padded signature");
    // Padding inside the token is not token68: a bad request at the layer, malformed standalone.
    let unpadded_head = with_trailing_bits(HS256_HEADER).1;
    let mut padded_head = unpadded_head.clone();
    while !padded_head.len().is_multiple_of(4) {
        padded_head.push('=');
    }
    assert_ne!(padded_head, unpadded_head, "the header needs padding");
    let token = sign_segments(&padded_head, &b64(&body), &key, Jwa::HS256);
    guarded
        .bearer(&token)
        .await
        .assert_invalid_request("padded header segment");
    assert_eq!(
        reason_of(&validator, &token).await,
        Some(Reason::MalformedToken)
    );
    assert_eq!(source.lookup_count(), 1, "only the control was looked up");
}

#[tokio::test]
async fn non_json_segments_are_refused() {
    let (guarded, source, _cutoffs) = counted();
    let key = hmac_key(SECRET);
    let body = payload(&[]);
    let header_cases: &[&[u8]] = &[
        b"not json",
        b"{}",
        b"\"HS256\"",
        b"null",
        b"{\"alg\":\"HS256\"}garbage",
        b"{\"alg\":\"HS256\"}{\"alg\":\"none\"}",
        b"\xef\xbb\xbf{\"alg\":\"HS256\"}",
        b"{\"alg\":\"HS256\",}",
        b"{'alg':'HS256'}",
        b"\xff\xfe{\"alg\":\"HS256\"}",
        b"{\"alg\":\"HS\xff256\"}",
    ];
    for head in header_cases {
        let token = sign_segments(&b64(head), &b64(&body), &key, Jwa::HS256);
        guarded
            .bearer(&token)
            .await
            .assert_invalid_token(Reason::MalformedToken, &String::from_utf8_lossy(head));
    }
    let payload_cases: &[(&[u8], Reason)] = &[
        (b"not json", Reason::MalformedToken),
        (b"{\"sub\":\"alice\"", Reason::MalformedToken),
        (b"\xff\xfe", Reason::MalformedToken),
        (b"[]", Reason::InvalidClaim),
        (b"[\"alice\",1764384000,9999999999]", Reason::InvalidClaim),
        (b"\"claims\"", Reason::InvalidClaim),
        (b"null", Reason::InvalidClaim),
        (b"42", Reason::InvalidClaim),
    ];
    for (content, reason) in payload_cases {
        let token = sign_segments(&b64(HS256_HEADER), &b64(content), &key, Jwa::HS256);
        guarded
            .bearer(&token)
            .await
            .assert_invalid_token(*reason, &String::from_utf8_lossy(content));
    }
    // A valid object followed by more text: refused whatever follows.
    for tail in ["garbage", "{\"sub\":\"bob\"}", ",", "]"] {
        let token = hs_token(&format!("{body}{tail}"));
        let reply = guarded.bearer(&token).await;
        reply.assert_invalid_token(Reason::MalformedToken, &format!("payload then {tail:?}"));
    }
    assert_eq!(source.lookup_count(), 0, "{:?}", source.lookups());
}

/// RFC 7519 §7.2 (steps 5, 10) and RFC 8259 §8.1: header and payload are UTF-8 JSON. Bytes that
/// are not UTF-8, hidden in a member the verifier skips, must not pass.
#[tokio::test]
async fn segments_must_be_valid_utf8_even_in_skipped_members() {
    let (guarded, source, _cutoffs) = counted();
    let key = hmac_key(SECRET);
    let body = payload(&[]);
    let mut raw = body.clone().into_bytes();
    let at = raw.len() - 1;
    raw.splice(at..at, b",\"name\":\"\xc3\x28\"".iter().copied());
    let token = sign_segments(&b64(HS256_HEADER), &b64(&raw), &key, Jwa::HS256);
    guarded
        .bearer(&token)
        .await
        .assert_invalid_token(Reason::MalformedToken, "invalid UTF-8 in a payload claim");
    let head: &[u8] = b"{\"alg\":\"HS256\",\"x\":\"\xff\"}";
    let token = sign_segments(&b64(head), &b64(&body), &key, Jwa::HS256);
    guarded
        .bearer(&token)
        .await
        .assert_invalid_token(Reason::MalformedToken, "invalid UTF-8 in a header member");
    assert_eq!(source.lookup_count(), 0, "{:?}", source.lookups());
}

// =============================================================================================
// 9, 10, 11. The Authorization header

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let (guarded, _source, _cutoffs) = counted();
    let token = hs_issuer().issue_access("alice", &()).unwrap().token;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        guarded
            .authorization(&[header(format!("{scheme} {token}").as_bytes())])
            .await
            .assert_ok("alice", scheme);
    }
}

#[tokio::test]
async fn malformed_authorization_headers_are_bad_requests() {
    let (guarded, source, _cutoffs) = counted();
    let token = hs_issuer().issue_access("alice", &()).unwrap().token;
    let values = [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "bearer".to_owned(),
        format!("Bearer  {token}"),
        format!("Bearer\t{token}"),
        format!("Bearer {token} "),
        format!("Bearer {token}\t"),
        format!("Bearer \"{token}\""),
        format!("Bearer {token},{token}"),
        format!("Bearer {token}, Bearer {token}"),
        format!("Bearer {token} {token}"),
        format!("Bearer {token}, error=\"x\""),
        format!("Bearer token=\"{token}\""),
        format!(" Bearer {token}"),
        format!("Bearer ={token}"),
        format!("Bearer {token};"),
        "Bearer ===".to_owned(),
        String::new(),
        "   ".to_owned(),
        "\"Bearer\" abc".to_owned(),
        format!("Bearer {}", token.replace('.', "\\.")),
    ];
    for value in &values {
        guarded
            .authorization(&[header(value.as_bytes())])
            .await
            .assert_invalid_request(value);
    }
    assert_eq!(source.lookup_count(), 0);
}

#[tokio::test]
async fn no_bearer_token_is_a_bare_challenge() {
    let (guarded, source, _cutoffs) = counted();
    guarded
        .anonymous()
        .await
        .assert_missing("no Authorization header");
    for value in [
        "Basic dXNlcjpwYXNzd29yZA==",
        "Digest username=\"alice\", realm=\"api\"",
        "Token abc.def.ghi",
        "Bearerx abc.def.ghi",
        "Bear",
        "Basic",
    ] {
        guarded
            .authorization(&[header(value.as_bytes())])
            .await
            .assert_missing(value);
    }
    assert_eq!(source.lookup_count(), 0);
}

#[tokio::test]
async fn several_authorization_headers_are_bad_requests() {
    let (guarded, source, _cutoffs) = counted();
    let token = hs_issuer().issue_access("alice", &()).unwrap().token;
    let bearer = header(format!("Bearer {token}").as_bytes());
    let basic = header(b"Basic dXNlcjpwYXNzd29yZA==");
    let other = header(b"Bearer abc.def.ghi");
    for (values, what) in [
        (
            vec![bearer.clone(), bearer.clone()],
            "the same bearer twice",
        ),
        (vec![basic.clone(), bearer.clone()], "Basic then Bearer"),
        (vec![bearer.clone(), basic.clone()], "Bearer then Basic"),
        (vec![bearer.clone(), other.clone()], "two different bearers"),
        (vec![basic.clone(), basic], "Basic twice"),
        (
            vec![bearer.clone(), header(b"")],
            "Bearer and an empty value",
        ),
    ] {
        guarded
            .authorization(&values)
            .await
            .assert_invalid_request(what);
    }
    assert_eq!(source.lookup_count(), 0);
    guarded
        .authorization(&[bearer])
        .await
        .assert_ok("alice", "one header");
}

#[tokio::test]
async fn non_utf8_and_obs_text_bytes_are_refused_without_panic() {
    let (guarded, source, _cutoffs) = counted();
    let token = hs_issuer().issue_access("alice", &()).unwrap().token;
    for byte in 0x80..=0xff_u8 {
        for value in [
            [b"Bearer ".as_slice(), token.as_bytes(), &[byte]].concat(),
            [b"Bearer ".as_slice(), &[byte], token.as_bytes()].concat(),
            [
                b"Bearer ".as_slice(),
                &token.as_bytes()[..10],
                &[byte],
                &token.as_bytes()[10..],
            ]
            .concat(),
            [b"Bearer".as_slice(), &[byte], token.as_bytes()].concat(),
            [&[byte], b"Bearer ".as_slice(), token.as_bytes()].concat(),
            [b"Bearer ".as_slice(), &[byte]].concat(),
        ] {
            guarded
                .authorization(&[header(&value)])
                .await
                .assert_invalid_request(&format!("{value:?}"));
        }
    }
    for value in [
        &b"Bearer \xc3\xa9"[..],
        b"\xef\xbb\xbfBearer abc",
        b"Bearer\xc2\xa0abc",
        b"Bearer abc\xe2\x80\x8b",
        b"Bearer \xf0\x9f\x94\x91",
        b"\xc3\xa9 abc",
        b"Bearer\t",
        b"\tBearer abc",
    ] {
        guarded
            .authorization(&[header(value)])
            .await
            .assert_invalid_request(&format!("{value:?}"));
    }
    // Control bytes cannot even be put into a header value, so they never reach the layer.
    for value in [
        &b"Bearer abc\x00"[..],
        b"Bearer abc\r\n",
        b"Bearer \x7f",
        b"Bearer \x1b",
    ] {
        assert!(HeaderValue::from_bytes(value).is_err(), "{value:?}");
    }
    assert_eq!(source.lookup_count(), 0);
}

// =============================================================================================
// 12. Oversized tokens

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

// =============================================================================================
// 13. Subjects

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
    for (sub, reason) in cases {
        let token = hs_token(&payload(&[("sub", *sub)]));
        guarded
            .bearer(&token)
            .await
            .assert_invalid_token(*reason, &format!("sub {sub:?}"));
    }
    assert_eq!(source.lookup_count(), 0, "{:?}", source.lookups());

    // 256 bytes is the limit, and exactly that subject is looked up.
    let max = "b".repeat(256);
    let token = hs_token(&payload(&[("sub", Some(&format!("\"{max}\"")))]));
    guarded
        .bearer(&token)
        .await
        .assert_ok(&max, "256-byte subject");
    assert_eq!(source.lookups(), [max]);
}

#[tokio::test]
async fn escaped_subjects_are_the_same_subject() {
    let (guarded, source, cutoffs) = counted();
    cutoffs.logout_all("alice").await.unwrap();
    let before = precise(now_micros() - 1_000_000);
    for sub in [r#""al\u0069ce""#, r#""\u0061\u006c\u0069\u0063\u0065""#] {
        let token = hs_token(&payload(&[("sub", Some(sub)), ("iat", Some(&before))]));
        guarded
            .bearer(&token)
            .await
            .assert_invalid_token(Reason::Revoked, sub);
    }
    assert!(
        source.lookups().iter().all(|s| s == "alice"),
        "{:?}",
        source.lookups()
    );
}

#[tokio::test]
async fn custom_subject_claim_looks_up_that_subject_only() {
    let source = CountingSource::default();
    let cutoffs = CutoffCache::new(source.clone());
    let validator = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .subject_claim("user")
        .build(cutoffs.clone())
        .unwrap();
    let guarded = Guarded::new(validator);

    let token = hs_token(&payload(&[
        ("sub", Some("\"mallory\"")),
        ("user", Some("\"alice\"")),
    ]));
    guarded
        .bearer(&token)
        .await
        .assert_ok("alice", "user claim");
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
            .bearer(&hs_token(&payload(&all)))
            .await
            .assert_invalid_token(reason, what);
    }
    assert_eq!(source.lookups(), ["alice"], "no lookup for refused tokens");

    // The cutoff that counts is the user's, not the sub's.
    cutoffs.logout_all("mallory").await.unwrap();
    guarded
        .bearer(&token)
        .await
        .assert_ok("alice", "mallory logged out");
    cutoffs.logout_all("alice").await.unwrap();
    guarded
        .bearer(&token)
        .await
        .assert_invalid_token(Reason::Revoked, "alice logged out");

    let issuer = TokenIssuer::builder(SigningKey::hmac(SECRET, Algorithm::HS256).unwrap())
        .subject_claim("user")
        .build()
        .unwrap();
    let fresh = issuer.issue_access("alice", &()).unwrap().token;
    guarded
        .bearer(&fresh)
        .await
        .assert_ok("alice", "issuer with the same claim");

    for reserved in ["iat", "exp", "nbf", "iss", "aud", "token_use", ""] {
        let built = Validator::builder()
            .algorithms([Algorithm::HS256])
            .key(VerifyingKey::hmac(SECRET).unwrap())
            .subject_claim(reserved)
            .build(cutoffs.clone());
        assert!(built.is_err(), "{reserved:?} cannot name the subject");
    }
}

// =============================================================================================
// 16. The store is down

#[tokio::test]
async fn a_failing_store_fails_closed_with_503() {
    let source = FailingSource::default();
    let guarded = Guarded::new(hs_validator(CutoffCache::new(source.clone())));
    let token = hs_issuer().issue_access("alice", &()).unwrap().token;
    for round in 0..3 {
        let reply = guarded.bearer(&token).await;
        reply.assert_unavailable(&format!("round {round}"));
        assert_eq!(reply.challenge, None, "a 503 challenges nobody");
    }
    assert_eq!(
        source.lookup_count(),
        6,
        "errors are never cached (each round presents the token twice)"
    );
    // Refusals that need no lookup are unaffected.
    guarded.anonymous().await.assert_missing("no token");
    guarded
        .bearer(&sign(
            HS256_HEADER,
            &payload(&[]),
            &hmac_key(OTHER_SECRET),
            Jwa::HS256,
        ))
        .await
        .assert_invalid_token(Reason::BadSignature, "forged");
    assert_eq!(source.lookup_count(), 6);
}

#[tokio::test]
async fn a_store_outage_fails_closed_and_recovers() {
    let source = FlakySource::default();
    let cutoffs = CutoffCache::new(source.clone());
    let guarded = Guarded::new(hs_validator(cutoffs.clone()));
    let issuer = hs_issuer();
    let alice = issuer.issue_access("alice", &()).unwrap().token;
    let bob = issuer.issue_access("bob", &()).unwrap().token;
    // Bob is revoked in the store while it is up, before anything is cached.
    source
        .store
        .raise(
            jwt_cutoff::Scope::Subject("bob"),
            jwt_cutoff::Cutoff::Refused,
        )
        .await
        .unwrap();

    source.set_down(true);
    guarded
        .bearer(&alice)
        .await
        .assert_unavailable("alice, store down");
    guarded
        .bearer(&bob)
        .await
        .assert_unavailable("bob, store down");
    assert!(
        cutoffs.logout_all("alice").await.is_err(),
        "a failed write is reported"
    );

    source.set_down(false);
    guarded
        .bearer(&alice)
        .await
        .assert_ok("alice", "store back");
    guarded
        .bearer(&bob)
        .await
        .assert_invalid_token(Reason::SubjectRefused, "bob, store back");
}

#[tokio::test]
async fn a_hanging_store_times_out_to_503() {
    let cutoffs = CutoffCache::builder(HangingSource)
        .store_timeout(millis(50))
        .build();
    let guarded = Guarded::new(hs_validator(cutoffs));
    let token = hs_issuer().issue_access("alice", &()).unwrap().token;
    let reply = tokio::time::timeout(Duration::from_secs(10), guarded.bearer(&token))
        .await
        .expect("the lookup timeout bounds the request");
    reply.assert_unavailable("hanging store");
}

#[tokio::test]
async fn realm_is_added_to_every_challenge() {
    let layer = |cutoffs| {
        JwtCutoffLayer::new(hs_validator(cutoffs)).responder(Rfc6750Responder::new().realm("api"))
    };
    let guarded = Guarded::with_layer(layer(CutoffCache::new(MemoryStore::new())));
    let reply = guarded.anonymous().await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenge.as_deref(), Some("Bearer realm=\"api\""));
    assert_eq!(reply.inner_calls, 0);

    let forged = sign(
        HS256_HEADER,
        &payload(&[]),
        &hmac_key(OTHER_SECRET),
        Jwa::HS256,
    );
    let reply = guarded.bearer(&forged).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.challenge.as_deref(),
        Some(
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the token signature is invalid\""
        )
    );
    assert_eq!(reply.inner_calls, 0);

    let reply = guarded.authorization(&[header(b"Bearer")]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply
            .challenge
            .as_deref()
            .unwrap_or_default()
            .starts_with("Bearer realm=\"api\", error=\"invalid_request\", error_description=\""),
        "{reply:?}"
    );

    let down = Guarded::with_layer(layer(CutoffCache::new(FailingSource::default())));
    let token = hs_issuer().issue_access("alice", &()).unwrap().token;
    down.bearer(&token)
        .await
        .assert_unavailable("store down, with realm");
}

// =============================================================================================
// Issuer and audience

#[tokio::test]
async fn issuer_and_audience_are_required_and_checked() {
    let source = CountingSource::default();
    let validator = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .issuer("https://issuer.example")
        .audience("api")
        .audience("admin")
        .build(CutoffCache::new(source.clone()))
        .unwrap();
    let guarded = Guarded::new(validator);
    let iss = Some("\"https://issuer.example\"");
    let aud = Some("\"api\"");

    let issued = TokenIssuer::builder(SigningKey::hmac(SECRET, Algorithm::HS256).unwrap())
        .issuer("https://issuer.example")
        .audience("admin")
        .build()
        .unwrap()
        .issue_access("alice", &())
        .unwrap()
        .token;
    guarded
        .bearer(&issued)
        .await
        .assert_ok("alice", "issuer token");

    let accepted: &[Overrides<'_>] = &[
        &[("iss", iss), ("aud", aud)],
        &[("iss", Some(r#""https:\/\/issuer.example""#)), ("aud", aud)],
        &[("iss", iss), ("aud", Some(r#"["web","api"]"#))],
        &[("iss", iss), ("aud", Some(r#"["admin"]"#))],
    ];
    for overrides in accepted {
        guarded
            .bearer(&hs_token(&payload(overrides)))
            .await
            .assert_ok("alice", &format!("{overrides:?}"));
    }
    let lookups = source.lookup_count();

    let refused: &[(Overrides<'_>, Reason)] = &[
        (&[("aud", aud)], Reason::MissingClaim),
        (
            &[("iss", Some("\"https://evil.example\"")), ("aud", aud)],
            Reason::WrongIssuer,
        ),
        (
            &[("iss", Some("\"https://issuer.example/\"")), ("aud", aud)],
            Reason::WrongIssuer,
        ),
        (
            &[("iss", Some("\"HTTPS://ISSUER.EXAMPLE\"")), ("aud", aud)],
            Reason::WrongIssuer,
        ),
        (&[("iss", Some("\"\"")), ("aud", aud)], Reason::WrongIssuer),
        (&[("iss", Some("1")), ("aud", aud)], Reason::InvalidClaim),
        (&[("iss", Some("null")), ("aud", aud)], Reason::InvalidClaim),
        (
            &[("iss", Some("[\"https://issuer.example\"]")), ("aud", aud)],
            Reason::InvalidClaim,
        ),
        (&[("iss", iss)], Reason::MissingClaim),
        (
            &[("iss", iss), ("aud", Some("\"web\""))],
            Reason::WrongAudience,
        ),
        (
            &[("iss", iss), ("aud", Some("\"API\""))],
            Reason::WrongAudience,
        ),
        (
            &[("iss", iss), ("aud", Some("\"api \""))],
            Reason::WrongAudience,
        ),
        (&[("iss", iss), ("aud", Some("[]"))], Reason::WrongAudience),
        (
            &[("iss", iss), ("aud", Some("[\"web\",\"mobile\"]"))],
            Reason::WrongAudience,
        ),
        (
            &[("iss", iss), ("aud", Some("\"api,admin\""))],
            Reason::WrongAudience,
        ),
        (&[("iss", iss), ("aud", Some("[1]"))], Reason::InvalidClaim),
        (
            &[("iss", iss), ("aud", Some("[\"api\",1]"))],
            Reason::InvalidClaim,
        ),
        (
            &[("iss", iss), ("aud", Some("[[\"api\"]]"))],
            Reason::InvalidClaim,
        ),
        (&[("iss", iss), ("aud", Some("null"))], Reason::InvalidClaim),
        (
            &[("iss", iss), ("aud", Some("{\"api\":true}"))],
            Reason::InvalidClaim,
        ),
    ];
    for (overrides, reason) in refused {
        guarded
            .bearer(&hs_token(&payload(overrides)))
            .await
            .assert_invalid_token(*reason, &format!("{overrides:?}"));
    }
    assert_eq!(
        source.lookup_count(),
        lookups,
        "no lookup for refused tokens"
    );
}

// =============================================================================================
// Optional mode

#[tokio::test]
async fn optional_mode_passes_anonymous_requests_but_refuses_bad_tokens() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guarded =
        Guarded::with_layer(JwtCutoffLayer::new(hs_validator(cutoffs.clone())).optional());
    guarded.anonymous().await.assert_anonymous("no header");
    guarded
        .authorization(&[header(b"Basic dXNlcjpwYXNzd29yZA==")])
        .await
        .assert_anonymous("another scheme");

    let token = hs_issuer().issue_access("alice", &()).unwrap().token;
    guarded
        .bearer(&token)
        .await
        .assert_ok("alice", "valid token");
    let forged = sign(
        HS256_HEADER,
        &payload(&[]),
        &hmac_key(OTHER_SECRET),
        Jwa::HS256,
    );
    guarded
        .bearer(&forged)
        .await
        .assert_invalid_token(Reason::BadSignature, "forged token");
    guarded
        .bearer(&hs_token(&payload(&[("iat", Some("\"now\""))])))
        .await
        .assert_invalid_token(Reason::InvalidClaim, "bad iat");
    guarded
        .authorization(&[header(b"Bearer")])
        .await
        .assert_invalid_request("scheme without token");
    let bearer = header(format!("Bearer {token}").as_bytes());
    guarded
        .authorization(&[bearer.clone(), bearer])
        .await
        .assert_invalid_request("two headers");
    guarded
        .bearer(&hs_token_of_len(8 * 1024 + 1, "alice"))
        .await
        .assert_invalid_token(Reason::TokenTooLarge, "oversized");

    cutoffs.logout_all("alice").await.unwrap();
    guarded.bearer(&token).await.assert_invalid_token(
        Reason::Revoked,
        "revoked token is not downgraded to anonymous",
    );
}

// =============================================================================================
// Verified<C>

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
struct MyClaims {
    username: String,
    roles: Vec<String>,
}

#[tokio::test]
async fn verified_custom_claims_reach_the_inner_service() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = hs_validator(cutoffs.clone()).with_claims::<MyClaims>();
    let seen: Arc<Mutex<Vec<Verified<MyClaims>>>> = Arc::default();
    let record = Arc::clone(&seen);
    let service = ServiceBuilder::new()
        .layer(JwtCutoffLayer::new(validator))
        .service_fn(move |request: Request<String>| {
            let record = Arc::clone(&record);
            async move {
                let verified = request.extensions().get::<Verified<MyClaims>>().cloned();
                assert!(request.extensions().get::<Verified>().is_none());
                let status = match verified {
                    Some(verified) => {
                        record.lock().unwrap().push(verified);
                        StatusCode::OK
                    }
                    None => StatusCode::IM_A_TEAPOT,
                };
                let mut response = Response::new(String::new());
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            }
        });
    let send = |token: String| {
        let service = service.clone();
        async move {
            let request = Request::get("/")
                .header("authorization", format!("Bearer {token}"))
                .body(String::new())
                .unwrap();
            service.oneshot(request).await.unwrap()
        }
    };

    let issued = hs_issuer()
        .issue_access(
            "alice",
            &serde_json::json!({ "username": "Alice A.", "roles": ["admin", "ops"] }),
        )
        .unwrap();
    assert_eq!(send(issued.token.clone()).await.status(), StatusCode::OK);
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let verified = &seen[0];
        assert_eq!(verified.subject(), "alice");
        assert_eq!(verified.issued_at(), issued.issued_at);
        assert_eq!(verified.expires_at(), issued.expires_at);
        assert_eq!(verified.token_type(), Some(TokenType::Access));
        assert_eq!(
            verified.claims(),
            &MyClaims {
                username: "Alice A.".to_owned(),
                roles: vec!["admin".to_owned(), "ops".to_owned()],
            }
        );
    }

    // Claims that do not fit the application's type are refused before the inner service.
    let missing = hs_token(&payload(&[("username", Some("\"x\""))]));
    let response = send(missing).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let wrong = hs_token(&payload(&[("username", Some("1")), ("roles", Some("[]"))]));
    assert_eq!(send(wrong).await.status(), StatusCode::UNAUTHORIZED);
    let doubled = payload(&[("username", Some("\"a\"")), ("roles", Some("[]"))]);
    let doubled = format!("{},\"username\":\"b\"}}", &doubled[..doubled.len() - 1]);
    assert_eq!(
        send(hs_token(&doubled)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Revoked: never reaches the inner service.
    cutoffs.logout_all("alice").await.unwrap();
    assert_eq!(send(issued.token).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

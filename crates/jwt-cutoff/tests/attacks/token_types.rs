//! Token types (SPEC 2, 3): access and refresh tokens never stand in for each other, a refresh token
//! from before the cutoff is refused, `auth_time` carries the login, untyped tokens only where
//! accepted.

use http::StatusCode;
use jwt_cutoff::{CutoffCache, MemoryStore, Reason, TokenType};
use jwt_cutoff_test_support::*;

use crate::counted;

#[tokio::test]
async fn access_and_refresh_tokens_cannot_stand_in_for_each_other() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let access = Guarded::new(hs_validator(cutoffs.clone()));
    let refresh_validator = hs_refresh_validator(cutoffs.clone());
    let refresh = Guarded::new(refresh_validator.clone());
    let pair = hs_issuer().issue_pair("alice", &()).unwrap();

    let wrong = Some(Reason::WrongTokenType);
    for (guarded, token, refused_for, what) in [
        (&access, &pair.access.token, None, "access at access"),
        (&access, &pair.refresh.token, wrong, "refresh at access"),
        (&refresh, &pair.refresh.token, None, "refresh at refresh"),
        (&refresh, &pair.access.token, wrong, "access at refresh"),
    ] {
        guarded.decides(token, refused_for, "alice", what).await;
    }
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
        access.refuses(&token, reason, token_use).await;
        refresh.refuses(&token, reason, token_use).await;
    }
    // A repeated token_use cannot be read either way.
    let base = payload(&[("token_use", Some("\"refresh\""))]);
    let doubled = format!("{},\"token_use\":\"access\"}}", &base[..base.len() - 1]);
    access
        .refuses(
            &hs_token(&doubled),
            Reason::InvalidClaim,
            "refresh then access",
        )
        .await;
}

#[tokio::test]
async fn refresh_token_issued_before_the_cutoff_is_refused_at_the_refresh_endpoint() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let refresh = hs_refresh_validator(cutoffs.clone());
    let issuer = hs_issuer();
    let old = issuer.issue_refresh("alice", &()).unwrap().token;
    assert_eq!(reason_of(&refresh, &old).await, None);
    let cutoff = logged_out_at(&cutoffs, "alice").await;
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
        .refuses(&old, Reason::Revoked, "old refresh token")
        .await;
}

/// SPEC case 27 at the token level: a token of a login made before the cutoff (its `auth_time`)
/// is refused however fresh its `iat`, as a pair refreshed from that login would be; and
/// `auth_time` is read as strictly as `iat`.
#[tokio::test]
async fn a_fresh_iat_never_carries_a_login_from_before_the_cutoff() {
    let (guarded, _source, cutoffs) = counted();
    let cutoff = logged_out_at(&cutoffs, "alice").await.as_unix_micros();
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
            .refuses(&token(iat, auth_time), Reason::Revoked, why)
            .await;
    }
    guarded
        .accepts(&token(&after, &after), "alice", "a login after the cutoff")
        .await;

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
            .refuses(&hs_token(&body), Reason::InvalidClaim, &body)
            .await;
    }
}

#[tokio::test]
async fn untyped_tokens_pass_only_where_explicitly_accepted_and_never_as_refresh() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let untyped = hs_token(&payload(&[("token_use", None)]));
    let refresh_typed = hs_token(&payload(&[("token_use", Some("\"refresh\""))]));

    Guarded::new(hs_validator(cutoffs.clone()))
        .refuses(&untyped, Reason::WrongTokenType, "default access validator")
        .await;

    let lenient = hs_builder()
        .accept_untyped_tokens()
        .build(cutoffs.clone())
        .unwrap();
    let lenient = Guarded::new(lenient);
    lenient
        .accepts(&untyped, "alice", "accept_untyped_tokens")
        .await;
    lenient
        .refuses(
            &refresh_typed,
            Reason::WrongTokenType,
            "refresh token at a lenient access validator",
        )
        .await;

    let refresh = hs_refresh_validator(cutoffs.clone());
    assert_eq!(
        reason_of(&refresh, &untyped).await,
        Some(Reason::WrongTokenType)
    );

    let never = hs_builder()
        .token_type(TokenType::Refresh)
        .accept_untyped_tokens()
        .build(cutoffs);
    assert!(
        never.is_err(),
        "untyped refresh tokens must be a configuration error"
    );
}

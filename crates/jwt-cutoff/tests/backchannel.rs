//! OpenID Connect Back-Channel Logout 1.0 (§2.4 to §2.8): every rule a logout token must pass,
//! and what each one logs out: a subject, a session by `sid` alone, or a session and the
//! subject's tokens without `sid`, leaving the other sessions, subjects and issuers alone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use http::StatusCode;
use jsonwebtoken::{Algorithm as Jwa, EncodingKey};
use jwt_cutoff::{
    Algorithm, BackChannelLogout, CutoffCache, MemoryStore, Reason, TrustedIssuer, Validator,
    VerifyingKey,
};
use jwt_cutoff_test_support::{
    EC_PRIVATE, EC_PUBLIC, ED_PRIVATE, ED_PUBLIC, TestSource, now_micros, payload, sign,
};

const IDP: &str = "https://id.example.com";
const OTHER_IDP: &str = "https://login.other.example";
const API: &str = "orders-api";
const CLIENT_ID: &str = "orders-web";
const EVENT: &str = r#"{"http://schemas.openid.net/event/backchannel-logout":{}}"#;

fn validator(cutoffs: &CutoffCache) -> Validator {
    Validator::builder()
        .algorithms([Algorithm::ES256, Algorithm::EdDSA])
        .trust(
            TrustedIssuer::with_keys(IDP, [VerifyingKey::ec_pem(EC_PUBLIC).unwrap().kid("idp")])
                .audience(API),
        )
        .trust(
            TrustedIssuer::with_keys(
                OTHER_IDP,
                [VerifyingKey::ed_pem(ED_PUBLIC).unwrap().kid("other")],
            )
            .audience(API),
        )
        .build(cutoffs.clone())
        .unwrap()
}

fn signed(issuer: &str, typ: &str, claims: &str) -> String {
    let (key, alg, name, kid) = if issuer == OTHER_IDP {
        (
            EncodingKey::from_ed_pem(ED_PRIVATE).unwrap(),
            Jwa::EdDSA,
            "EdDSA",
            "other",
        )
    } else {
        (
            EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
            Jwa::ES256,
            "ES256",
            "idp",
        )
    };
    let header = format!(r#"{{"alg":"{name}","typ":"{typ}","kid":"{kid}"}}"#);
    sign(&header, claims, &key, alg)
}

/// A provider's access token for `sub` (with `sid` if given), issued `ago_secs` seconds ago, in
/// whole seconds as providers write `iat`.
fn access(issuer: &str, sub: &str, sid: Option<&str>, ago_secs: i64) -> String {
    let iat = (now_micros().div_euclid(1_000_000) - ago_secs).to_string();
    let (iss, sub, aud) = (
        format!("\"{issuer}\""),
        format!("\"{sub}\""),
        format!("\"{API}\""),
    );
    let sid = sid.map(|sid| format!("\"{sid}\""));
    signed(
        issuer,
        "at+jwt",
        &payload(&[
            ("token_use", None),
            ("sub", Some(&sub)),
            ("iat", Some(&iat)),
            ("iss", Some(&iss)),
            ("aud", Some(&aud)),
            ("sid", sid.as_deref()),
        ]),
    )
}

/// A logout token from `issuer` as providers send them (`sub` and `sid` given as raw JSON, or
/// left out), changed by `overrides`.
fn logout_token(
    issuer: &str,
    sub: Option<&str>,
    sid: Option<&str>,
    overrides: &[(&str, Option<&str>)],
) -> String {
    let now = now_micros().div_euclid(1_000_000).to_string();
    let (iss, aud) = (format!("\"{issuer}\""), format!("[\"{CLIENT_ID}\"]"));
    let (sub, sid) = (
        sub.map(|s| format!("\"{s}\"")),
        sid.map(|s| format!("\"{s}\"")),
    );
    let mut claims = vec![
        ("token_use", None),
        ("sub", sub.as_deref()),
        ("iat", Some(now.as_str())),
        ("exp", None),
        ("iss", Some(iss.as_str())),
        ("aud", Some(aud.as_str())),
        ("jti", Some("\"bWJq\"")),
        ("sid", sid.as_deref()),
        ("events", Some(EVENT)),
    ];
    claims.extend_from_slice(overrides);
    signed(issuer, "logout+jwt", &payload(&claims))
}

async fn outcome(validator: &Validator, token: &str) -> Result<(), Reason> {
    validator
        .validate(token)
        .await
        .map(drop)
        .map_err(|rejection| rejection.reason())
}

#[tokio::test]
async fn sub_alone_logs_the_subject_out_of_that_issuer_only() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = validator(&cutoffs);
    let receiver = BackChannelLogout::new(&validator, CLIENT_ID);
    let before = [
        access(IDP, "alice", None, 5),
        access(IDP, "alice", Some("laptop"), 5),
    ];
    let untouched = [
        access(IDP, "bob", Some("laptop"), 5),
        access(OTHER_IDP, "alice", None, 5),
    ];
    for token in before.iter().chain(&untouched) {
        assert_eq!(outcome(&validator, token).await, Ok(()));
    }
    let done = receiver
        .receive(&logout_token(IDP, Some("alice"), None, &[]))
        .await
        .unwrap();
    assert_eq!(
        (done.issuer(), done.subject(), done.session()),
        (IDP, Some("alice"), None)
    );
    for token in &before {
        assert_eq!(outcome(&validator, token).await, Err(Reason::Revoked));
    }
    for token in &untouched {
        assert_eq!(outcome(&validator, token).await, Ok(()));
    }
    // Tokens the provider issues after the logout pass; one of the logout's own second does not.
    let after = access(IDP, "alice", None, -1);
    assert_eq!(outcome(&validator, &after).await, Ok(()));
    let same_second = access(IDP, "alice", None, 0);
    assert_eq!(
        outcome(&validator, &same_second).await,
        Err(Reason::Revoked)
    );
}

#[tokio::test]
async fn sid_alone_logs_out_the_tokens_carrying_it() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = validator(&cutoffs);
    let receiver = BackChannelLogout::new(&validator, CLIENT_ID);
    let laptop = access(IDP, "alice", Some("laptop"), 5);
    let phone = access(IDP, "alice", Some("phone"), 5);
    let no_sid = access(IDP, "alice", None, 5);
    let other_issuer_laptop = access(OTHER_IDP, "alice", Some("laptop"), 5);
    for token in [&laptop, &phone, &no_sid, &other_issuer_laptop] {
        assert_eq!(outcome(&validator, token).await, Ok(()), "cached before");
    }
    receiver
        .receive(&logout_token(IDP, None, Some("laptop"), &[]))
        .await
        .unwrap();
    assert_eq!(outcome(&validator, &laptop).await, Err(Reason::Revoked));
    for token in [&phone, &no_sid, &other_issuer_laptop] {
        assert_eq!(outcome(&validator, token).await, Ok(()));
    }
}

#[tokio::test]
async fn sub_and_sid_log_out_the_session_and_the_subjects_tokens_without_sid() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = validator(&cutoffs);
    let receiver = BackChannelLogout::new(&validator, CLIENT_ID);
    let laptop = access(IDP, "alice", Some("laptop"), 5);
    let phone = access(IDP, "alice", Some("phone"), 5);
    let no_sid = access(IDP, "alice", None, 5);
    let bob_no_sid = access(IDP, "bob", None, 5);
    for token in [&laptop, &phone, &no_sid, &bob_no_sid] {
        assert_eq!(outcome(&validator, token).await, Ok(()), "cached before");
    }
    receiver
        .receive(&logout_token(IDP, Some("alice"), Some("laptop"), &[]))
        .await
        .unwrap();
    assert_eq!(outcome(&validator, &laptop).await, Err(Reason::Revoked));
    assert_eq!(outcome(&validator, &no_sid).await, Err(Reason::Revoked));
    assert_eq!(outcome(&validator, &phone).await, Ok(()));
    assert_eq!(outcome(&validator, &bob_no_sid).await, Ok(()));
    // The same logout token again changes nothing (its `iat` is the cutoff, not the time it
    // arrives): alice's new login keeps working.
    let new_login = access(IDP, "alice", None, -2);
    assert_eq!(outcome(&validator, &new_login).await, Ok(()));
}

#[tokio::test]
async fn every_invalid_logout_token_is_400_and_logs_nothing_out() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = validator(&cutoffs);
    let receiver = BackChannelLogout::new(&validator, CLIENT_ID);
    let alice = access(IDP, "alice", Some("laptop"), 5);
    let future = (now_micros().div_euclid(1_000_000) + 600).to_string();
    let past = (now_micros().div_euclid(1_000_000) - 600).to_string();
    let api_audience = format!("\"{API}\"");
    let sub = Some("alice");
    let cases: Vec<(&str, String)> = vec![
        (
            "addressed to the API, not the client",
            logout_token(IDP, sub, None, &[("aud", Some(&api_audience))]),
        ),
        ("no aud", logout_token(IDP, sub, None, &[("aud", None)])),
        ("no iat", logout_token(IDP, sub, None, &[("iat", None)])),
        (
            "iat in the future",
            logout_token(IDP, sub, None, &[("iat", Some(&future))]),
        ),
        (
            "iat as a string",
            logout_token(IDP, sub, None, &[("iat", Some("\"1700000000\""))]),
        ),
        (
            "expired",
            logout_token(IDP, sub, None, &[("exp", Some(&past))]),
        ),
        ("no jti", logout_token(IDP, sub, None, &[("jti", None)])),
        (
            "no events",
            logout_token(IDP, sub, None, &[("events", None)]),
        ),
        (
            "events not an object",
            logout_token(IDP, sub, None, &[("events", Some("[]"))]),
        ),
        (
            "another event",
            logout_token(IDP, sub, None, &[("events", Some(r#"{"urn:other":{}}"#))]),
        ),
        (
            "the event not an object",
            logout_token(
                IDP,
                sub,
                None,
                &[(
                    "events",
                    Some(r#"{"http://schemas.openid.net/event/backchannel-logout":true}"#),
                )],
            ),
        ),
        (
            "a nonce",
            logout_token(IDP, sub, None, &[("nonce", Some("\"n-0S6\""))]),
        ),
        ("neither sub nor sid", logout_token(IDP, None, None, &[])),
        ("an empty sid", logout_token(IDP, None, Some(""), &[])),
        (
            "an untrusted issuer",
            logout_token("https://evil.example", sub, None, &[]),
        ),
        ("no issuer", logout_token(IDP, sub, None, &[("iss", None)])),
        ("an access token", access(IDP, "alice", Some("laptop"), 1)),
        ("typ at+jwt with the event", {
            let token = logout_token(IDP, sub, None, &[]);
            let payload = token.split('.').nth(1).unwrap().to_owned();
            let claims = String::from_utf8(base64_url_decode(&payload)).unwrap();
            signed(IDP, "at+jwt", &claims)
        }),
        ("signed by the other issuer's key", {
            let token = logout_token(OTHER_IDP, sub, None, &[]);
            let payload = token.split('.').nth(1).unwrap().to_owned();
            let claims = String::from_utf8(base64_url_decode(&payload)).unwrap();
            let claims = claims.replace(OTHER_IDP, IDP);
            let header = r#"{"alg":"EdDSA","typ":"logout+jwt","kid":"idp"}"#;
            sign(
                header,
                &claims,
                &EncodingKey::from_ed_pem(ED_PRIVATE).unwrap(),
                Jwa::EdDSA,
            )
        }),
        ("a bad signature", {
            let token = logout_token(IDP, sub, None, &[]);
            format!("{}AAAA", token.trim_end_matches(|c| c != '.'))
        }),
        ("a repeated sub", {
            let token = logout_token(IDP, sub, None, &[]);
            let payload = token.split('.').nth(1).unwrap().to_owned();
            let claims = String::from_utf8(base64_url_decode(&payload)).unwrap();
            let claims = jwt_cutoff_test_support::with_members(&claims, r#""sub":"bob""#);
            signed(IDP, "logout+jwt", &claims)
        }),
        ("not a JWT", "notajwt".to_owned()),
        ("claims as an array", {
            let claims = format!(
                r#"[["{CLIENT_ID}"],{},null,"j","alice",null,{EVENT},null]"#,
                now_micros().div_euclid(1_000_000)
            );
            let claims = claims.replacen('[', &format!(r#"["{IDP}","#), 1);
            signed(IDP, "logout+jwt", &claims)
        }),
    ];
    for (what, token) in &cases {
        let Err(error) = receiver.receive(token).await else {
            panic!("{what}: accepted");
        };
        assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{what}: {error}");
        assert!(!error.message().contains(token.as_str()), "{what}");
    }
    assert_eq!(
        outcome(&validator, &alice).await,
        Ok(()),
        "nothing was logged out"
    );
}

#[tokio::test]
async fn a_store_that_cannot_write_is_503() {
    let source = TestSource::new(MemoryStore::new());
    let cutoffs = CutoffCache::new(source.clone());
    let receiver = BackChannelLogout::new(&validator(&cutoffs), CLIENT_ID);
    source.fail(true);
    let error = receiver
        .receive(&logout_token(IDP, Some("alice"), Some("laptop"), &[]))
        .await
        .unwrap_err();
    assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE, "{error}");
}

fn base64_url_decode(segment: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap()
}

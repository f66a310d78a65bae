//! The `Authorization` header and the bearer scheme (SPEC 9, 10, 11): scheme case, malformed and
//! repeated headers, bytes outside ASCII, the realm, and optional mode.

use http::{HeaderValue, StatusCode};
use jwt_cutoff::{CutoffCache, JwtCutoffLayer, MemoryStore, Reason, Rfc6750Responder};
use jwt_cutoff_test_support::*;

use crate::counted;

/// Sends each of `values` as the one `Authorization` header of a request, and checks each reply
/// with `check`, naming the value (non-ASCII bytes escaped).
async fn sends_each(guarded: &Guarded, values: &[impl AsRef<[u8]>], check: fn(&Reply, &str)) {
    for value in values {
        let value = value.as_ref();
        let reply = guarded.authorization_bytes(value).await;
        check(&reply, &value.escape_ascii().to_string());
    }
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let (guarded, _source, _cutoffs) = counted();
    let token = hs_access("alice");
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        guarded
            .authorization_bytes(format!("{scheme} {token}").as_bytes())
            .await
            .assert_ok("alice", scheme);
    }
}

#[tokio::test]
async fn malformed_authorization_headers_are_bad_requests() {
    let (guarded, source, _cutoffs) = counted();
    let token = hs_access("alice");
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
    sends_each(&guarded, &values, Reply::assert_invalid_request).await;
    source.assert_no_lookups();
}

#[tokio::test]
async fn no_bearer_token_is_a_bare_challenge() {
    let (guarded, source, _cutoffs) = counted();
    guarded
        .anonymous()
        .await
        .assert_missing("no Authorization header");
    let other_schemes = [
        "Basic dXNlcjpwYXNzd29yZA==",
        "Digest username=\"alice\", realm=\"api\"",
        "Token abc.def.ghi",
        "Bearerx abc.def.ghi",
        "Bear",
        "Basic",
    ];
    sends_each(&guarded, &other_schemes, Reply::assert_missing).await;
    source.assert_no_lookups();
}

#[tokio::test]
async fn several_authorization_headers_are_bad_requests() {
    let (guarded, source, _cutoffs) = counted();
    let token = hs_access("alice");
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
    source.assert_no_lookups();
    guarded
        .authorization(&[bearer])
        .await
        .assert_ok("alice", "one header");
}

#[tokio::test]
async fn non_utf8_and_obs_text_bytes_are_refused_without_panic() {
    let (guarded, source, _cutoffs) = counted();
    let token = hs_access("alice");
    for byte in 0x80..=0xff_u8 {
        let values = [
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
        ];
        sends_each(&guarded, &values, Reply::assert_invalid_request).await;
    }
    let utf8_and_tabs = [
        &b"Bearer \xc3\xa9"[..],
        b"\xef\xbb\xbfBearer abc",
        b"Bearer\xc2\xa0abc",
        b"Bearer abc\xe2\x80\x8b",
        b"Bearer \xf0\x9f\x94\x91",
        b"\xc3\xa9 abc",
        b"Bearer\t",
        b"\tBearer abc",
    ];
    sends_each(&guarded, &utf8_and_tabs, Reply::assert_invalid_request).await;
    // Control bytes cannot even be put into a header value, so they never reach the layer.
    for value in [
        &b"Bearer abc\x00"[..],
        b"Bearer abc\r\n",
        b"Bearer \x7f",
        b"Bearer \x1b",
    ] {
        assert!(HeaderValue::from_bytes(value).is_err(), "{value:?}");
    }
    source.assert_no_lookups();
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

    let forged = forged_token();
    let reply = guarded.bearer(&forged).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.challenge.as_deref(),
        Some(
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the token signature is invalid\""
        )
    );
    assert_eq!(reply.inner_calls, 0);

    let reply = guarded.authorization_bytes(b"Bearer").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply
            .challenge
            .as_deref()
            .unwrap_or_default()
            .starts_with("Bearer realm=\"api\", error=\"invalid_request\", error_description=\""),
        "{reply:?}"
    );

    let down = Guarded::with_layer(layer(CutoffCache::new(TestSource::failing())));
    let token = hs_access("alice");
    down.bearer(&token)
        .await
        .assert_unavailable("store down, with realm");
}

#[tokio::test]
async fn optional_mode_passes_anonymous_requests_but_refuses_bad_tokens() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let guarded =
        Guarded::with_layer(JwtCutoffLayer::new(hs_validator(cutoffs.clone())).optional());
    guarded.anonymous().await.assert_anonymous("no header");
    guarded
        .authorization_bytes(b"Basic dXNlcjpwYXNzd29yZA==")
        .await
        .assert_anonymous("another scheme");

    let token = hs_access("alice");
    guarded.accepts(&token, "alice", "valid token").await;
    let forged = forged_token();
    guarded
        .refuses(&forged, Reason::BadSignature, "forged token")
        .await;
    guarded
        .refuses(
            &hs_token(&payload(&[("iat", Some("\"now\""))])),
            Reason::InvalidClaim,
            "bad iat",
        )
        .await;
    guarded
        .authorization_bytes(b"Bearer")
        .await
        .assert_invalid_request("scheme without token");
    let bearer = header(format!("Bearer {token}").as_bytes());
    guarded
        .authorization(&[bearer.clone(), bearer])
        .await
        .assert_invalid_request("two headers");
    guarded
        .refuses(
            &hs_token_of_len(8 * 1024 + 1, "alice"),
            Reason::TokenTooLarge,
            "oversized",
        )
        .await;

    cutoffs.logout_all("alice").await.unwrap();
    guarded
        .refuses(
            &token,
            Reason::Revoked,
            "revoked token is not downgraded to anonymous",
        )
        .await;
}

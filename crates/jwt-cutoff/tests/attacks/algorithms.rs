//! Algorithms and keys (SPEC 6, 7): `none`, the allow-list, HMAC tags made with an RSA public key,
//! key families, `kid` and rotation, and key-carrying headers that are never followed.

use jsonwebtoken::{Algorithm as Jwa, EncodingKey};
use jwt_cutoff::{
    Algorithm, CutoffCache, MemoryStore, Reason, SigningKey, TokenIssuer, Validator, VerifyingKey,
};
use jwt_cutoff_test_support::*;

use crate::counted;

#[tokio::test]
async fn alg_none_in_any_spelling_is_refused() {
    let (guarded, source, _cutoffs) = counted();
    let body = b64(payload(&[]));
    for alg in ["none", "None", "NONE", "nOnE", ""] {
        let head = b64(format!("{{\"alg\":\"{alg}\",\"typ\":\"JWT\"}}"));
        // Unsigned, as `none` tokens are.
        guarded
            .refuses(
                &format!("{head}.{body}."),
                Reason::MalformedToken,
                &format!("{alg:?}, no signature"),
            )
            .await;
        // With some signature bytes, and with a valid HS256 tag over the same message.
        guarded
            .refuses(
                &format!("{head}.{body}.c2lnbmF0dXJl"),
                Reason::AlgorithmNotAllowed,
                &format!("{alg:?}, junk signature"),
            )
            .await;
        let tagged = sign_segments(&head, &body, &hmac_key(SECRET), Jwa::HS256);
        guarded
            .refuses(
                &tagged,
                Reason::AlgorithmNotAllowed,
                &format!("{alg:?}, HS256 tag"),
            )
            .await;
    }
    for head in [
        r#"{"alg":null}"#,
        r#"{"typ":"JWT"}"#,
        r#"{"alg":["HS256"]}"#,
        r#"{"alg":256}"#,
    ] {
        guarded
            .refuses(&hs(head, &payload(&[])), Reason::MalformedToken, head)
            .await;
    }
    source.assert_no_lookups();
}

#[tokio::test]
async fn algorithms_outside_the_allow_list_are_refused() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    // SECRET is 64 bytes, so the key could do HS384/HS512: only the allow-list stops them.
    let guarded = Guarded::new(hs_validator(cutoffs.clone()));
    let body = payload(&[]);
    let key = hmac_key(SECRET);
    guarded
        .accepts(
            &sign(r#"{"alg":"HS256"}"#, &body, &key, Jwa::HS256),
            "alice",
            "HS256 control",
        )
        .await;
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
            .refuses(
                &sign(head, &body, &key, alg),
                Reason::AlgorithmNotAllowed,
                head,
            )
            .await;
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
    let rs_token = issuer_for(SigningKey::rsa_pem(RSA_PRIVATE, Algorithm::RS256).unwrap())
        .issue_access("alice", &())
        .unwrap()
        .token;

    // RS256 only; and even with HS256 in the allow-list, the RSA key never verifies an HMAC tag.
    for (algorithms, what) in [
        (vec![Algorithm::RS256], "HS* with the public key"),
        (
            vec![Algorithm::RS256, Algorithm::HS256, Algorithm::HS512],
            "HS* with the public key, HS allowed",
        ),
    ] {
        let validator = Validator::builder()
            .algorithms(algorithms)
            .key(VerifyingKey::rsa_pem(RSA_PUBLIC).unwrap())
            .build(cutoffs.clone())
            .unwrap();
        let guarded = Guarded::new(validator);
        guarded.accepts(&rs_token, "alice", "RS256 control").await;
        for token in &forged {
            guarded
                .refuses(token, Reason::AlgorithmNotAllowed, what)
                .await;
        }
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
    rsa.accepts(&rs256, "alice", "RS256").await;
    rsa.accepts(&ps256, "alice", "PS256").await;
    ec.accepts(&es256, "alice", "ES256").await;
    ed.accepts(&eddsa, "alice", "EdDSA").await;

    for (guarded, token, what) in [
        (&rsa, &es256, "ES256 at RSA"),
        (&rsa, &eddsa, "EdDSA at RSA"),
        (&ec, &rs256, "RS256 at EC"),
        (&ec, &eddsa, "EdDSA at EC"),
        (&ed, &es256, "ES256 at Ed"),
        (&ed, &ps256, "PS256 at Ed"),
    ] {
        guarded
            .refuses(token, Reason::AlgorithmNotAllowed, what)
            .await;
    }

    // An RS256 signature relabelled PS256 (same key, both allowed) does not verify.
    let rsa_key = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
    let relabelled = sign(r#"{"alg":"PS256"}"#, &payload(&[]), &rsa_key, Jwa::RS256);
    rsa.refuses(
        &relabelled,
        Reason::BadSignature,
        "RS256 signature under a PS256 header",
    )
    .await;
}

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
        .accepts(&old, "alice", "old key during rotation")
        .await;
    guarded
        .accepts(&new, "alice", "new key during rotation")
        .await;

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
        guarded.refuses(token, *reason, what).await;
    }

    // A token naming an unknown kid never falls back to a key without one.
    let fallback = hs_builder()
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
            .refuses(
                &sign(head, &body, &attacker, Jwa::RS256),
                Reason::BadSignature,
                &format!("attacker-signed {head}"),
            )
            .await;
        // Signed with the configured key, the same headers are inert: verified with that key.
        guarded
            .accepts(
                &sign(head, &body, &ours, Jwa::RS256),
                "alice",
                &format!("configured key, {head}"),
            )
            .await;
    }

    // An embedded symmetric JWK is just as inert.
    let hs = Guarded::new(hs_validator(cutoffs));
    let oct = format!(
        r#"{{"alg":"HS256","jwk":{{"kty":"oct","k":"{}"}}}}"#,
        b64(OTHER_SECRET)
    );
    hs.refuses(
        &sign(&oct, &body, &hmac_key(OTHER_SECRET), Jwa::HS256),
        Reason::BadSignature,
        "oct jwk with its own secret",
    )
    .await;
}

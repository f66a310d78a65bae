//! JWK sets: what an issuer publishes verifies its tokens after the round trip, each key only for
//! its own algorithm; odd entries are skipped without costing the others; documents that are not
//! a set are errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use jwt_cutoff::{
    Algorithm, CutoffCache, JwkSet, MemoryStore, Reason, SigningKey, TokenIssuer, Validator,
    VerifyingKey,
};
use jwt_cutoff_test_support::{
    EC_PRIVATE, ED_PRIVATE, Guarded, RSA_ATTACKER_JWK, RSA_PRIVATE, SECRET,
};
use serde_json::{Value, json};

/// Every asymmetric algorithm family, with a kid each.
fn signing_keys() -> Vec<SigningKey> {
    vec![
        SigningKey::rsa_pem(RSA_PRIVATE, Algorithm::RS256)
            .unwrap()
            .kid("rsa"),
        SigningKey::rsa_pem(RSA_PRIVATE, Algorithm::PS384)
            .unwrap()
            .kid("rsa-pss"),
        SigningKey::ec_pem(EC_PRIVATE, Algorithm::ES256)
            .unwrap()
            .kid("ec"),
        SigningKey::ed_pem(ED_PRIVATE).unwrap().kid("ed"),
    ]
}

fn guarded(keys: Vec<VerifyingKey>) -> Guarded {
    let mut builder = Validator::builder().algorithms([
        Algorithm::RS256,
        Algorithm::PS384,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::HS256,
    ]);
    for key in keys {
        builder = builder.key(key);
    }
    Guarded::new(builder.build(CutoffCache::new(MemoryStore::new())).unwrap())
}

fn token(key: SigningKey) -> String {
    TokenIssuer::builder(key)
        .build()
        .unwrap()
        .issue_access("alice", &())
        .unwrap()
        .token
}

#[tokio::test]
async fn a_published_set_verifies_the_issuers_tokens_and_nothing_else() {
    let keys = signing_keys();
    let document = JwkSet::document(&keys).unwrap();
    let published: Value = serde_json::from_str(&document).unwrap();
    for jwk in published["keys"].as_array().unwrap() {
        assert_eq!(jwk["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(jwk.get(private).is_none(), "{private} published: {jwk}");
        }
    }
    assert_eq!(published["keys"][2]["crv"], "P-256");
    assert_eq!(published["keys"][3]["kty"], "OKP");

    let set = JwkSet::parse(document.as_bytes()).unwrap();
    assert!(set.skipped().is_empty(), "{:?}", set.skipped());
    let kids: Vec<_> = set.keys().iter().map(VerifyingKey::key_id).collect();
    assert_eq!(kids, [Some("rsa"), Some("rsa-pss"), Some("ec"), Some("ed")]);
    let guarded = guarded(set.into_keys());
    for key in signing_keys() {
        let what = format!("{:?}", key.algorithm());
        guarded.accepts(&token(key), "alice", &what).await;
    }

    // The RSA key published for RS256 does not verify PS384 under its kid, whatever the allow-list.
    let pss_under_rs_kid = SigningKey::rsa_pem(RSA_PRIVATE, Algorithm::PS384)
        .unwrap()
        .kid("rsa");
    guarded
        .refuses(
            &token(pss_under_rs_kid),
            Reason::AlgorithmNotAllowed,
            "PS384 under the RS256 key",
        )
        .await;
    // Algorithm confusion: an HS256 tag made with the published RSA key's own bytes.
    let published_rsa = published["keys"][0].to_string();
    let confused = SigningKey::hmac(published_rsa.as_bytes(), Algorithm::HS256)
        .unwrap()
        .kid("rsa");
    guarded
        .refuses(&token(confused), Reason::AlgorithmNotAllowed, "HS256 tag")
        .await;
    // Another key under a published kid.
    let attacker = SigningKey::hmac(SECRET, Algorithm::HS256)
        .unwrap()
        .kid("ec");
    guarded
        .refuses(&token(attacker), Reason::AlgorithmNotAllowed, "HS256 as ec")
        .await;
}

#[test]
fn secrets_are_never_published() {
    let hmac = SigningKey::hmac(SECRET, Algorithm::HS256).unwrap();
    let error = JwkSet::document([&hmac]).unwrap_err();
    assert!(error.to_string().contains("HMAC"), "{error}");
}

/// Entries of every odd kind around one good key: each odd one skipped with a reason, the good
/// one kept.
#[tokio::test]
async fn odd_entries_are_skipped_and_the_others_kept() {
    let good: Value = serde_json::from_str(
        &JwkSet::document(&[SigningKey::ec_pem(EC_PRIVATE, Algorithm::ES256)
            .unwrap()
            .kid("good")])
        .unwrap(),
    )
    .unwrap();
    let good = good["keys"][0].clone();
    let attacker: Value = serde_json::from_str(RSA_ATTACKER_JWK).unwrap();
    let with = |members: Value| {
        let mut jwk = good.clone();
        for (name, value) in members.as_object().unwrap() {
            if value.is_null() {
                jwk.as_object_mut().unwrap().remove(name);
            } else {
                jwk[name] = value.clone();
            }
        }
        jwk
    };
    let short_modulus = base64_url(&[0xff; 128]);
    let odd = [
        ("encryption", with(json!({"kid": "enc", "use": "enc"}))),
        (
            "key_ops",
            with(json!({"kid": "ops", "key_ops": ["encrypt"]})),
        ),
        (
            "RSA-OAEP",
            json!({"kty": "RSA", "kid": "oaep", "use": "enc", "alg": "RSA-OAEP",
                   "n": attacker["n"], "e": attacker["e"]}),
        ),
        (
            "symmetric",
            json!({"kty": "oct", "kid": "oct", "k": base64_url(SECRET)}),
        ),
        ("unknown kty", json!({"kty": "PQC", "kid": "pqc"})),
        ("P-521", with(json!({"kid": "p521", "crv": "P-521"}))),
        (
            "X25519",
            json!({"kty": "OKP", "crv": "X25519", "kid": "x25519", "x": good["x"]}),
        ),
        (
            "alg of another type",
            with(json!({"kid": "rs", "alg": "RS256"})),
        ),
        (
            "alg of another curve",
            with(json!({"kid": "es384", "alg": "ES384"})),
        ),
        ("unknown alg", with(json!({"kid": "none", "alg": "none"}))),
        ("bad base64", with(json!({"kid": "b64", "x": "***"}))),
        (
            "short coordinate",
            with(json!({"kid": "short", "x": "AQAB"})),
        ),
        ("no y", with(json!({"kid": "no-y", "y": null}))),
        (
            "1024-bit RSA",
            json!({"kty": "RSA", "kid": "weak", "n": short_modulus, "e": "AQAB"}),
        ),
        ("kid not a string", with(json!({"kid": 7}))),
        ("not an object", json!("a string")),
        (
            "an array in a JWK's place",
            json!([
                "EC", "array", null, null, null, "P-256", null, null, good["x"], good["y"]
            ]),
        ),
        (
            "a second key with a taken kid",
            with(json!({"kid": "good"})),
        ),
    ];
    let mut entries = vec![good.clone()];
    entries.extend(odd.iter().map(|(_, entry)| entry.clone()));
    // The attacker's RSA key is well-formed: it is taken, under its own kid.
    entries.push(with_kid(&attacker, "attacker"));
    let document = json!({ "keys": entries }).to_string();

    let set = JwkSet::parse(document.as_bytes()).unwrap();
    let kids: Vec<_> = set.keys().iter().map(VerifyingKey::key_id).collect();
    assert_eq!(kids, [Some("good"), Some("attacker")]);
    assert_eq!(set.skipped().len(), odd.len(), "{:#?}", set.skipped());
    for (skipped, (what, _)) in set.skipped().iter().zip(&odd) {
        assert!(!skipped.reason().is_empty(), "{what}");
        println!("{what}: {skipped}");
    }
    assert_eq!(set.skipped()[0].kid(), Some("enc"));

    let guarded = guarded(set.into_keys());
    let signer = SigningKey::ec_pem(EC_PRIVATE, Algorithm::ES256).unwrap();
    guarded
        .accepts(&token(signer.clone().kid("good")), "alice", "good")
        .await;
    for kid in ["enc", "p521", "short"] {
        guarded
            .refuses(&token(signer.clone().kid(kid)), Reason::UnknownKey, kid)
            .await;
    }
}

#[test]
fn documents_that_are_not_sets_are_errors() {
    for document in [
        &b"not json"[..],
        b"",
        b"{}",
        b"[]",
        br#"{"keys": {}}"#,
        br#"{"keys": null}"#,
        b"\xff\xfe",
        // Found by fuzzing: an array where the object belongs (serde's derive takes it)...
        b"[[]]",
        // ... and invalid UTF-8 in a member the set does not read.
        b"{\"keys\":[],\"k\":[{\"\x91kty\":\"oct\"}]}",
    ] {
        let error = JwkSet::parse(document).unwrap_err();
        assert!(error.to_string().starts_with("not a JWK set"), "{error}");
    }
    let empty = JwkSet::parse(br#"{"keys": [], "extra": 1}"#).unwrap();
    assert!(empty.keys().is_empty());
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn with_kid(jwk: &Value, kid: &str) -> Value {
    let mut jwk = jwk.clone();
    jwk["kid"] = json!(kid);
    jwk
}

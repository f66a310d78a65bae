//! Writes the seed corpus: `cargo run --manifest-path fuzz/Cargo.toml --example mint_seeds`.
//!
//! Tokens are minted by jwt-cutoff's own `TokenIssuer` with the fuzz key and a lifetime of a
//! century, so the committed seeds stay valid (or revoked, for the revoked subject) for as long as
//! anyone fuzzes them.

use std::error::Error;
use std::fs;
use std::path::Path;
use std::time::Duration;

use jwt_cutoff::{Algorithm, SigningKey, TokenIssuer};
use jwt_cutoff_fuzz::{FUZZ_SECRET, REVOKED_SUBJECT};

const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

fn main() -> Result<(), Box<dyn Error>> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let key = SigningKey::hmac(FUZZ_SECRET, Algorithm::HS256)?;
    let issuer = TokenIssuer::builder(key.clone())
        .access_lifetime(CENTURY)
        .refresh_lifetime(CENTURY)
        .build()?;
    let with_kid = TokenIssuer::builder(key.kid("k1"))
        .access_lifetime(CENTURY)
        .build()?;

    let alice = issuer.issue_access("alice", &())?.token;
    let tokens = [
        ("alice-access", alice.clone()),
        ("alice-refresh", issuer.issue_refresh("alice", &())?.token),
        (
            "revoked-access",
            issuer.issue_access(REVOKED_SUBJECT, &())?.token,
        ),
        (
            "extra-claims",
            issuer
                .issue_access("bob", &serde_json::json!({"role": "admin", "n": [1, 2.5]}))?
                .token,
        ),
        (
            "long-subject",
            issuer.issue_access(&"s".repeat(256), &())?.token,
        ),
        ("unknown-kid", with_kid.issue_access("alice", &())?.token),
        ("alg-none", alg_none(&alice)),
        ("truncated", alice[..alice.len() - 5].to_owned()),
        ("extra-segment", format!("{alice}.e30")),
        ("garbage", "a.b.c".to_owned()),
    ];

    let dir = corpus.join("token");
    fs::create_dir_all(&dir)?;
    for (name, token) in &tokens {
        fs::write(dir.join(name), token)?;
    }

    let dir = corpus.join("authorization_header");
    fs::create_dir_all(&dir)?;
    let revoked = &tokens[2].1;
    let headers: [(&str, Vec<u8>); 14] = [
        ("bearer", format!("Bearer {alice}").into()),
        ("bearer-lowercase", format!("bearer {alice}").into()),
        ("bearer-uppercase", format!("BEARER {alice}").into()),
        ("bearer-revoked", format!("Bearer {revoked}").into()),
        ("basic", b"Basic dXNlcjpwYXNz".to_vec()),
        ("two-spaces", format!("Bearer  {alice}").into()),
        ("tab", format!("Bearer\t{alice}").into()),
        ("quoted", format!("Bearer \"{alice}\"").into()),
        ("padded", format!("Bearer {alice}==").into()),
        (
            "two-headers",
            format!("Bearer {alice}\nBearer {alice}").into(),
        ),
        (
            "basic-and-bearer",
            format!("Basic dXNlcg==\nBearer {alice}").into(),
        ),
        ("scheme-only", b"Bearer ".to_vec()),
        ("non-utf8", b"Bearer \xc3\x28abc\xff".to_vec()),
        ("empty-value", b"\n".to_vec()),
    ];
    for (name, value) in &headers {
        fs::write(dir.join(name), value)?;
    }

    let dir = corpus.join("numeric_date");
    fs::create_dir_all(&dir)?;
    // First byte: 0 iat, 1 exp, 2 nbf (+4: the fuzzed claim first). Then the raw JSON text.
    let dates: [(&str, &[u8]); 14] = [
        ("iat-integer", b"\x001764384000"),
        ("iat-micros", b"\x041764384000.123456"),
        ("iat-nanos", b"\x001764384000.999999999"),
        ("iat-zero", b"\x000"),
        ("iat-max", b"\x00253402300799"),
        ("iat-exponent", b"\x001.7e9"),
        ("iat-negative", b"\x00-1"),
        ("iat-string", b"\x00\"1764384000\""),
        ("iat-duplicate", b"\x001,\"iat\":2"),
        ("iat-escaped-duplicate", b"\x001,\"\\u0069at\":2"),
        ("exp-past", b"\x011764384000"),
        ("exp-huge", b"\x05 99999999999999999999 "),
        ("nbf-future", b"\x02253402300799.5"),
        ("nbf-null", b"\x06null"),
    ];
    for (name, value) in dates {
        fs::write(dir.join(name), value)?;
    }

    write_jwks_seeds(&corpus)?;
    write_logout_token_seeds(&corpus)?;
    Ok(())
}

/// JWK sets: what an issuer publishes (every key type), and entries of every odd kind.
fn write_jwks_seeds(corpus: &Path) -> Result<(), Box<dyn Error>> {
    let keys = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/jwt-cutoff/tests/keys/"
    );
    let read = |name: &str| fs::read(format!("{keys}{name}"));
    let published = jwt_cutoff::JwkSet::document(&[
        SigningKey::rsa_pem(&read("rsa_private.pem")?, Algorithm::RS256)?.kid("rsa"),
        SigningKey::ec_pem(&read("ec_private.pem")?, Algorithm::ES256)?.kid("ec"),
        SigningKey::ed_pem(&read("ed_private.pem")?)?.kid("ed"),
    ])?;
    let odd = serde_json::json!({"keys": [
        {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"},
        {"kty": "OKP", "crv": "X25519", "kid": "x", "x": "AA"},
        {"kty": "EC", "crv": "P-256", "kid": "short", "x": "AQAB", "y": "AQAB"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "alg": "RS256", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty": 7}, "not an object", null
    ]});
    let dir = corpus.join("jwks");
    fs::create_dir_all(&dir)?;
    let seeds: [(&str, Vec<u8>); 6] = [
        ("published", published.into_bytes()),
        ("odd-entries", odd.to_string().into_bytes()),
        ("empty", br#"{"keys":[]}"#.to_vec()),
        (
            "keys-twice",
            br#"{"keys":[],"keys":[{"kty":"oct"}]}"#.to_vec(),
        ),
        ("not-an-array", br#"{"keys":{}}"#.to_vec()),
        ("html", b"<html>502 Bad Gateway</html>".to_vec()),
    ];
    for (name, value) in &seeds {
        fs::write(dir.join(name), value)?;
    }
    Ok(())
}

/// Logout tokens signed with the fuzz key for the fixture's trusted issuer: valid ones (sub, sid,
/// both) and each rule broken once.
fn write_logout_token_seeds(corpus: &Path) -> Result<(), Box<dyn Error>> {
    use jwt_cutoff_fuzz::{LOGOUT_CLIENT_ID, LOGOUT_ISSUER};
    let key = jsonwebtoken::EncodingKey::from_secret(FUZZ_SECRET)?;
    let sign = |typ: &str, claims: &serde_json::Value| -> Result<String, Box<dyn Error>> {
        use base64::Engine as _;
        let encode = |text: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        let header = encode(format!(r#"{{"alg":"HS256","typ":"{typ}"}}"#));
        let message = format!("{header}.{}", encode(claims.to_string()));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)?;
        Ok(format!("{message}.{signature}"))
    };
    let event = serde_json::json!({"http://schemas.openid.net/event/backchannel-logout": {}});
    let valid = |members: serde_json::Value| {
        let mut claims = serde_json::json!({
            "iss": LOGOUT_ISSUER, "aud": LOGOUT_CLIENT_ID, "iat": 1_764_384_000, "jti": "j",
            "events": event,
        });
        if let (Some(claims), serde_json::Value::Object(members)) =
            (claims.as_object_mut(), members)
        {
            claims.extend(members);
        }
        claims
    };
    let seeds = [
        (
            "sub",
            sign("logout+jwt", &valid(serde_json::json!({"sub": "alice"})))?,
        ),
        (
            "sid",
            sign("logout+jwt", &valid(serde_json::json!({"sid": "s1"})))?,
        ),
        (
            "sub-and-sid",
            sign(
                "JWT",
                &valid(serde_json::json!({"sub": "alice", "sid": "s1"})),
            )?,
        ),
        (
            "nonce",
            sign(
                "logout+jwt",
                &valid(serde_json::json!({"sub": "a", "nonce": "n"})),
            )?,
        ),
        (
            "other-client",
            sign(
                "logout+jwt",
                &valid(serde_json::json!({"sub": "a", "aud": ["x"]})),
            )?,
        ),
        (
            "no-subject",
            sign("logout+jwt", &valid(serde_json::json!({})))?,
        ),
        (
            "access-type",
            sign("at+jwt", &valid(serde_json::json!({"sub": "a"})))?,
        ),
        (
            "events-array",
            sign(
                "logout+jwt",
                &valid(serde_json::json!({"sub": "a", "events": []})),
            )?,
        ),
        (
            "expired",
            sign(
                "logout+jwt",
                &valid(serde_json::json!({"sub": "a", "exp": 1})),
            )?,
        ),
    ];
    let dir = corpus.join("logout_token");
    fs::create_dir_all(&dir)?;
    for (name, token) in &seeds {
        fs::write(dir.join(name), token)?;
    }
    Ok(())
}

/// `alice`'s header swapped for `{"alg":"none"}` and the signature dropped.
fn alg_none(token: &str) -> String {
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    let payload = token.split('.').nth(1).unwrap_or_default();
    format!("{header}.{payload}.")
}

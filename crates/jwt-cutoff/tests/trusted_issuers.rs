//! Trusted issuers with keys given up front: each issuer's keys verify its own tokens only, its
//! audience is required, providers' tokens without `token_use` pass as access tokens while
//! refresh, ID and logout tokens never do, and cutoffs are kept per issuer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use jsonwebtoken::{Algorithm as Jwa, EncodingKey};
use jwt_cutoff::{
    Algorithm, CutoffCache, MemoryStore, Reason, TrustedIssuer, Validator, VerifyingKey,
};
use jwt_cutoff_test_support::{
    EC_PRIVATE, EC_PUBLIC, ED_PRIVATE, ED_PUBLIC, SECRET, hs_issuer_builder, hs_token, payload,
    sign,
};

const IDP: &str = "https://id.example.com";
const OTHER_IDP: &str = "https://login.other.example";
const API: &str = "orders-api";

fn idp_key() -> VerifyingKey {
    VerifyingKey::ec_pem(EC_PUBLIC).unwrap().kid("idp-1")
}

fn other_idp_key() -> VerifyingKey {
    VerifyingKey::ed_pem(ED_PUBLIC).unwrap().kid("other-1")
}

/// Own HS256 tokens (the test secret), and two trusted issuers.
fn validator(cutoffs: &CutoffCache) -> Validator {
    Validator::builder()
        .algorithms([Algorithm::HS256, Algorithm::ES256, Algorithm::EdDSA])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .trust(TrustedIssuer::with_keys(IDP, [idp_key()]).audience(API))
        .trust(
            TrustedIssuer::with_keys(OTHER_IDP, [other_idp_key()])
                .audience("reports")
                .audience(API),
        )
        .build(cutoffs.clone())
        .unwrap()
}

/// Signs as a provider does: its `kid`, `typ` (`at+jwt` unless `typ` says otherwise), and no
/// `token_use`; `claims` override the defaults.
fn provider_token(issuer: &str, kid: &str, typ: &str, claims: &[(&str, Option<&str>)]) -> String {
    let (key, alg, name) = if kid.starts_with("other") {
        (
            EncodingKey::from_ed_pem(ED_PRIVATE).unwrap(),
            Jwa::EdDSA,
            "EdDSA",
        )
    } else {
        (
            EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
            Jwa::ES256,
            "ES256",
        )
    };
    let header = format!(r#"{{"alg":"{name}","typ":"{typ}","kid":"{kid}"}}"#);
    let iss = format!("\"{issuer}\"");
    let aud = format!("\"{API}\"");
    let mut all = vec![
        ("token_use", None),
        ("iss", Some(iss.as_str())),
        ("aud", Some(aud.as_str())),
    ];
    all.extend_from_slice(claims);
    sign(&header, &payload(&all), &key, alg)
}

async fn reason(validator: &Validator, token: &str) -> Option<Reason> {
    validator
        .validate(token)
        .await
        .err()
        .map(|rejection| rejection.reason())
}

#[tokio::test]
async fn a_providers_access_tokens_pass_with_its_audience() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = validator(&cutoffs);
    for typ in ["at+jwt", "application/at+jwt", "JWT"] {
        let token = provider_token(IDP, "idp-1", typ, &[]);
        let verified = validator.validate(&token).await.unwrap();
        assert_eq!(verified.subject(), "alice");
        assert_eq!(verified.trusted_issuer(), Some(IDP));
        assert_eq!(verified.cutoff_subject(), "https://id.example.com#alice");
    }
    let token = provider_token(
        OTHER_IDP,
        "other-1",
        "at+jwt",
        &[("aud", Some(r#"["x","reports"]"#))],
    );
    let verified = validator.validate(&token).await.unwrap();
    assert_eq!(
        verified.cutoff_subject(),
        "https://login.other.example#alice"
    );
    // `token_use: access`, as Cognito writes it, is an access token too.
    let token = provider_token(IDP, "idp-1", "JWT", &[("token_use", Some("\"access\""))]);
    validator.validate(&token).await.unwrap();
    // The service's own tokens keep their plain subject.
    let own = validator.validate(&hs_token(&payload(&[]))).await.unwrap();
    assert_eq!(own.cutoff_subject(), "alice");
    assert_eq!(own.trusted_issuer(), None);
}

#[tokio::test]
async fn what_a_provider_must_not_pass_for() {
    let validator = validator(&CutoffCache::new(MemoryStore::new()));
    let cases: [(&str, String, Reason); 12] = [
        (
            "no audience",
            provider_token(IDP, "idp-1", "at+jwt", &[("aud", None)]),
            Reason::MissingClaim,
        ),
        (
            "another audience",
            provider_token(IDP, "idp-1", "at+jwt", &[("aud", Some(r#"["reports"]"#))]),
            Reason::WrongAudience,
        ),
        (
            "a refresh token",
            provider_token(IDP, "idp-1", "JWT", &[("token_use", Some("\"refresh\""))]),
            Reason::WrongTokenType,
        ),
        (
            "an ID token (Cognito's token_use)",
            provider_token(IDP, "idp-1", "JWT", &[("token_use", Some("\"id\""))]),
            Reason::WrongTokenType,
        ),
        (
            "a logout token by its typ",
            provider_token(IDP, "idp-1", "logout+jwt", &[]),
            Reason::WrongTokenType,
        ),
        (
            "a logout token by its full media type, in capitals",
            provider_token(IDP, "idp-1", "Application/Logout+JWT", &[]),
            Reason::WrongTokenType,
        ),
        (
            "a security event token by its events claim",
            provider_token(
                IDP,
                "idp-1",
                "JWT",
                &[(
                    "events",
                    Some(r#"{"http://schemas.openid.net/event/backchannel-logout":{}}"#),
                )],
            ),
            Reason::WrongTokenType,
        ),
        (
            "the other issuer's key (EdDSA) under its own kid, claiming this issuer (ES256)",
            provider_token(IDP, "other-1", "at+jwt", &[]),
            Reason::AlgorithmNotAllowed,
        ),
        (
            "this issuer's key (ES256), claiming the other issuer (EdDSA)",
            provider_token(OTHER_IDP, "idp-1", "at+jwt", &[]),
            Reason::AlgorithmNotAllowed,
        ),
        (
            "a provider token claiming no issuer: the service's own keys (HS256 only)",
            provider_token(IDP, "idp-1", "at+jwt", &[("iss", None)]),
            Reason::AlgorithmNotAllowed,
        ),
        (
            "a provider token claiming an issuer nobody trusts",
            provider_token("https://evil.example", "idp-1", "at+jwt", &[]),
            Reason::AlgorithmNotAllowed,
        ),
        (
            "an HMAC tag made with the provider's public key, claiming the provider",
            sign(
                r#"{"alg":"HS256","kid":"idp-1"}"#,
                &payload(&[
                    ("iss", Some("\"https://id.example.com\"")),
                    ("aud", Some("\"orders-api\"")),
                ]),
                &EncodingKey::from_secret(EC_PUBLIC).unwrap(),
                Jwa::HS256,
            ),
            Reason::AlgorithmNotAllowed,
        ),
    ];
    let mut wrong = Vec::new();
    for (what, token, expected) in cases {
        let got = reason(&validator, &token).await;
        if got != Some(expected) {
            wrong.push(format!("{what}: {got:?}, expected {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // The service's own tokens are not typed as logout tokens either.
    let logout =
        jwt_cutoff_test_support::hs(r#"{"alg":"HS256","typ":"logout+jwt"}"#, &payload(&[]));
    assert_eq!(
        reason(&validator, &logout).await,
        Some(Reason::WrongTokenType)
    );
}

#[tokio::test]
async fn cutoffs_are_kept_per_issuer() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = validator(&cutoffs);
    let idp_alice = provider_token(IDP, "idp-1", "at+jwt", &[]);
    let other_alice = provider_token(OTHER_IDP, "other-1", "at+jwt", &[]);
    let own_alice = hs_issuer_builder()
        .build()
        .unwrap()
        .issue_access("alice", &())
        .unwrap()
        .token;
    for token in [&idp_alice, &other_alice, &own_alice] {
        validator.validate(token).await.unwrap();
    }

    let verified = validator.validate(&idp_alice).await.unwrap();
    cutoffs.logout_all(verified.cutoff_subject()).await.unwrap();
    assert_eq!(reason(&validator, &idp_alice).await, Some(Reason::Revoked));
    validator.validate(&other_alice).await.unwrap();
    validator.validate(&own_alice).await.unwrap();

    cutoffs.logout_all("alice").await.unwrap();
    assert_eq!(reason(&validator, &own_alice).await, Some(Reason::Revoked));
    validator.validate(&other_alice).await.unwrap();
    // A provider session: only the tokens carrying that `sid`.
    let laptop = provider_token(
        OTHER_IDP,
        "other-1",
        "at+jwt",
        &[("sid", Some("\"laptop\""))],
    );
    let phone = provider_token(
        OTHER_IDP,
        "other-1",
        "at+jwt",
        &[("sid", Some("\"phone\""))],
    );
    cutoffs
        .revoke_session("https://login.other.example#alice", "laptop")
        .await
        .unwrap();
    assert_eq!(reason(&validator, &laptop).await, Some(Reason::Revoked));
    validator.validate(&phone).await.unwrap();
}

#[test]
fn configurations_that_cannot_be_safe_are_refused() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let build = |trusted: TrustedIssuer| {
        Validator::builder()
            .algorithms([Algorithm::ES256])
            .trust(trusted)
            .build(cutoffs.clone())
            .map(drop)
            .map_err(|error| error.to_string())
    };
    let no_audience = build(TrustedIssuer::with_keys(IDP, [idp_key()])).unwrap_err();
    assert!(no_audience.contains("no audience"), "{no_audience}");
    let fragment =
        build(TrustedIssuer::with_keys("https://id.example#x", [idp_key()]).audience(API));
    assert!(fragment.unwrap_err().contains('#'));
    let hmac_only = Validator::builder()
        .algorithms([Algorithm::HS256])
        .trust(TrustedIssuer::with_keys(IDP, [idp_key()]).audience(API))
        .build(cutoffs.clone())
        .unwrap_err();
    assert!(
        hmac_only.to_string().contains("none of the allowed"),
        "{hmac_only}"
    );
    let twice = Validator::builder()
        .algorithms([Algorithm::ES256])
        .trust(TrustedIssuer::with_keys(IDP, [idp_key()]).audience(API))
        .trust(TrustedIssuer::with_keys(IDP, [idp_key()]).audience(API))
        .build(cutoffs.clone())
        .unwrap_err();
    assert!(twice.to_string().contains("twice"), "{twice}");
    let own_too = Validator::builder()
        .algorithms([Algorithm::ES256])
        .issuer(IDP)
        .key(idp_key())
        .trust(TrustedIssuer::with_keys(IDP, [idp_key()]).audience(API))
        .build(cutoffs.clone())
        .unwrap_err();
    assert!(own_too.to_string().contains("twice"), "{own_too}");
    let refresh = Validator::builder()
        .algorithms([Algorithm::HS256, Algorithm::ES256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .trust(TrustedIssuer::with_keys(IDP, [idp_key()]).audience(API))
        .build_refresh(cutoffs.clone())
        .unwrap_err();
    assert!(refresh.to_string().contains("refresh"), "{refresh}");
}

#[tokio::test]
async fn a_validator_may_trust_providers_only() {
    let validator = Validator::builder()
        .algorithms([Algorithm::ES256])
        .trust(TrustedIssuer::with_keys(IDP, [idp_key()]).audience(API))
        .build(CutoffCache::new(MemoryStore::new()))
        .unwrap();
    validator
        .validate(&provider_token(IDP, "idp-1", "at+jwt", &[]))
        .await
        .unwrap();
    // Anything else has no key that could verify it.
    let own = hs_token(&payload(&[]));
    assert_eq!(reason(&validator, &own).await, Some(Reason::WrongIssuer));
}

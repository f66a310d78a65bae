//! A trusted issuer's keys fetched from a fake provider on a real socket: discovery, rotation (a
//! new `kid` accepted, a withdrawn key refused after the refresh, cached tokens included), a
//! flood of unknown `kid`s bounded by the cooldown, and a provider that fails, hangs, serves
//! garbage or is down (known keys keep working; an unknown `kid` is 503 within the timeout, 401
//! once the keys are known again), a service started while its provider is down, odd key sets,
//! and keys of another issuer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use http::StatusCode;
use jsonwebtoken::{Algorithm as Jwa, EncodingKey};
use jwt_cutoff::{
    Algorithm, CutoffCache, KeyFetcher, MemoryStore, Reason, SigningKey, TrustedIssuer, Validator,
    VerifyingKey,
};
use jwt_cutoff_test_support::provider::{Behaviour, FakeProvider};
use jwt_cutoff_test_support::{
    EC_PRIVATE, ED_PRIVATE, Guarded, RSA_PRIVATE, RSA_PUBLIC, SECRET, payload, sign,
};

const API: &str = "orders-api";
/// The fetcher's bound on a whole fetch.
const FETCH_TIMEOUT: Duration = Duration::from_millis(500);

fn ec_key(kid: &str) -> SigningKey {
    SigningKey::ec_pem(EC_PRIVATE, Algorithm::ES256)
        .unwrap()
        .kid(kid)
}

fn ed_key(kid: &str) -> SigningKey {
    SigningKey::ed_pem(ED_PRIVATE).unwrap().kid(kid)
}

fn rsa_key(kid: &str) -> SigningKey {
    SigningKey::rsa_pem(RSA_PRIVATE, Algorithm::RS256)
        .unwrap()
        .kid(kid)
}

/// A provider's access token (no `token_use`, `typ: at+jwt`) signed with the test key of `alg`
/// under `kid`, claiming `issuer`.
fn token(issuer: &str, alg: Jwa, kid: &str) -> String {
    let (key, name) = match alg {
        Jwa::ES256 => (EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(), "ES256"),
        Jwa::EdDSA => (EncodingKey::from_ed_pem(ED_PRIVATE).unwrap(), "EdDSA"),
        Jwa::RS256 => (EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(), "RS256"),
        other => panic!("no test key for {other:?}"),
    };
    let header = format!(r#"{{"alg":"{name}","typ":"at+jwt","kid":"{kid}"}}"#);
    let iss = format!("\"{issuer}\"");
    let claims = payload(&[
        ("token_use", None),
        ("iss", Some(iss.as_str())),
        ("aud", Some("\"orders-api\"")),
    ]);
    sign(&header, &claims, &key, alg)
}

fn trusting(provider: &FakeProvider, cooldown: Duration, refresh: Duration) -> TrustedIssuer {
    TrustedIssuer::discover(provider.issuer())
        .audience(API)
        .fetcher(
            KeyFetcher::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .unwrap(),
        )
        .refetch_cooldown(cooldown)
        .refresh_every(refresh)
}

/// Own HS256 tokens, and the trusted issuers.
fn validator(trusted: impl IntoIterator<Item = TrustedIssuer>) -> Validator {
    let mut builder = Validator::builder()
        .algorithms([
            Algorithm::HS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
            Algorithm::RS256,
        ])
        .key(VerifyingKey::hmac(SECRET).unwrap());
    for issuer in trusted {
        builder = builder.trust(issuer);
    }
    builder.build(CutoffCache::new(MemoryStore::new())).unwrap()
}

async fn outcome(validator: &Validator, token: &str) -> Result<(), Reason> {
    validator
        .validate(token)
        .await
        .map(drop)
        .map_err(|rejection| rejection.reason())
}

/// Validates `token` until `wanted`, for two seconds at most.
async fn eventually(validator: &Validator, token: &str, wanted: Result<(), Reason>) {
    let started = Instant::now();
    loop {
        let got = outcome(validator, token).await;
        if got == wanted {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "still {got:?}, waiting for {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn rotation_adds_keys_at_once_and_withdraws_them_at_the_refresh() {
    let provider = FakeProvider::start().await;
    provider.publish(&[&ec_key("k1")]);
    let cooldown = Duration::from_millis(100);
    let refresh = Duration::from_millis(300);
    let validator = validator([trusting(&provider, cooldown, refresh)]);
    let issuer = provider.issuer();
    let old = token(&issuer, Jwa::ES256, "k1");
    assert_eq!(outcome(&validator, &old).await, Ok(()));

    // The provider publishes its next key before signing with it: a token naming it is accepted
    // as soon as it arrives (after the cooldown of the last fetch).
    provider.publish(&[&ec_key("k1"), &ed_key("k2")]);
    tokio::time::sleep(cooldown).await;
    let new = token(&issuer, Jwa::EdDSA, "k2");
    assert_eq!(outcome(&validator, &new).await, Ok(()));
    assert_eq!(
        outcome(&validator, &old).await,
        Ok(()),
        "cached, and still published"
    );

    // The old key is withdrawn: refused once the refresh saw it go, though its token is cached.
    provider.publish(&[&ed_key("k2")]);
    eventually(&validator, &old, Err(Reason::UnknownKey)).await;
    assert_eq!(outcome(&validator, &new).await, Ok(()));
    let fetches = provider.jwks_fetches();
    assert!(fetches <= 10, "{fetches} fetches");
    assert_eq!(provider.discovery_fetches(), 1, "the jwks_uri is kept");
}

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_once_per_cooldown() {
    let provider = FakeProvider::start().await;
    provider.publish(&[&ec_key("k1")]);
    let validator = validator([trusting(
        &provider,
        Duration::from_secs(60),
        Duration::from_secs(600),
    )]);
    let issuer = provider.issuer();
    assert_eq!(
        outcome(&validator, &token(&issuer, Jwa::ES256, "k1")).await,
        Ok(())
    );
    let before = provider.jwks_fetches();

    let flood: Vec<_> = (0..200)
        .map(|n| {
            let validator = validator.clone();
            let token = token(&issuer, Jwa::ES256, &format!("made-up-{n}"));
            tokio::spawn(async move { outcome(&validator, &token).await })
        })
        .collect();
    for task in flood {
        assert_eq!(task.await.unwrap(), Err(Reason::UnknownKey));
    }
    for n in 0..50 {
        let token = token(&issuer, Jwa::ES256, &format!("later-{n}"));
        assert_eq!(outcome(&validator, &token).await, Err(Reason::UnknownKey));
    }
    assert!(
        provider.jwks_fetches() <= before,
        "a flood right after a fetch waits for the cooldown: {} fetches",
        provider.jwks_fetches() - before
    );
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_fetch() {
    let provider = FakeProvider::start().await;
    provider.publish(&[&ec_key("k1"), &ed_key("k2")]);
    // Built outside a fetch: the first tokens all wait for the one fetch.
    let validator = validator([trusting(
        &provider,
        Duration::from_secs(60),
        Duration::from_secs(600),
    )]);
    let issuer = provider.issuer();
    let waiting: Vec<_> = (0..50)
        .map(|n| {
            let validator = validator.clone();
            let token = if n % 2 == 0 {
                token(&issuer, Jwa::ES256, "k1")
            } else {
                token(&issuer, Jwa::EdDSA, "k2")
            };
            tokio::spawn(async move { outcome(&validator, &token).await })
        })
        .collect();
    for task in waiting {
        assert_eq!(task.await.unwrap(), Ok(()));
    }
    assert_eq!(provider.jwks_fetches(), 1);
}

#[tokio::test]
async fn a_failing_provider_leaves_known_keys_working_and_fails_closed_on_unknown_ones() {
    let provider = FakeProvider::start().await;
    provider.publish(&[&ec_key("k1")]);
    let cooldown = Duration::from_millis(100);
    let validator = validator([trusting(&provider, cooldown, Duration::from_millis(200))]);
    let issuer = provider.issuer();
    let known = token(&issuer, Jwa::ES256, "k1");
    assert_eq!(outcome(&validator, &known).await, Ok(()));
    let guarded = Guarded::new(validator.clone());

    for behaviour in [
        Behaviour::Status(503),
        Behaviour::Status(404),
        Behaviour::Garbage,
        Behaviour::Oversized(1024 * 1024),
        Behaviour::Hang,
    ] {
        provider.behave(behaviour);
        tokio::time::sleep(cooldown).await;
        let started = Instant::now();
        assert_eq!(outcome(&validator, &known).await, Ok(()), "{behaviour:?}");
        // A hanging fetch takes the whole timeout: known keys never wait for it.
        assert!(
            started.elapsed() < FETCH_TIMEOUT / 2,
            "{behaviour:?}: known keys waited"
        );

        let unknown = token(&issuer, Jwa::EdDSA, &format!("new-{behaviour:?}"));
        tokio::time::sleep(cooldown).await;
        let started = Instant::now();
        let reply = guarded.bearer(&unknown).await;
        reply.assert_unavailable(&format!("{behaviour:?}"));
        assert!(
            started.elapsed() < FETCH_TIMEOUT * 3,
            "{behaviour:?}: {:?}",
            started.elapsed()
        );
    }

    // Back: the unknown kid is now known to be unknown, and a published one works.
    provider.behave(Behaviour::Serve);
    provider.publish(&[&ec_key("k1"), &ed_key("k2")]);
    tokio::time::sleep(cooldown).await;
    let unknown = token(&issuer, Jwa::EdDSA, "never-published");
    eventually(&validator, &unknown, Err(Reason::UnknownKey)).await;
    let reply = guarded.bearer(&token(&issuer, Jwa::EdDSA, "k2")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

#[tokio::test]
async fn a_service_started_while_its_provider_is_down_picks_the_keys_up_later() {
    let provider = FakeProvider::start().await;
    let addr = provider.addr();
    let issuer = provider.issuer();
    let trusted = trusting(
        &provider,
        Duration::from_millis(100),
        Duration::from_secs(600),
    );
    provider.stop().await;

    let validator = validator([trusted]);
    let signed = token(&issuer, Jwa::ES256, "k1");
    assert_eq!(
        outcome(&validator, &signed).await,
        Err(Reason::KeysUnavailable)
    );

    let back = FakeProvider::start_on(addr).await;
    back.publish(&[&ec_key("k1")]);
    eventually(&validator, &signed, Ok(())).await;

    // The provider restarts with a new key, as some rotate: the new key's tokens are accepted
    // once it answers again; the old key's are refused once the refresh saw it go.
    back.stop().await;
    let rotated = FakeProvider::start_on(addr).await;
    rotated.publish(&[&ed_key("k2")]);
    let new = token(&issuer, Jwa::EdDSA, "k2");
    eventually(&validator, &new, Ok(())).await;
    eventually(&validator, &signed, Err(Reason::UnknownKey)).await;
}

#[tokio::test]
async fn odd_entries_and_other_issuers_keys_are_never_used() {
    let provider = FakeProvider::start().await;
    let other = FakeProvider::start().await;
    let published = jwt_cutoff::JwkSet::document([&ec_key("k1"), &rsa_key("r1")]).unwrap();
    let mut document: serde_json::Value = serde_json::from_str(&published).unwrap();
    let keys = document["keys"].as_array_mut().unwrap();
    keys.insert(0, serde_json::json!({"kty": "oct", "kid": "secret", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}));
    keys.insert(1, serde_json::json!({"kty": "RSA", "kid": "enc", "use": "enc", "alg": "RSA-OAEP", "n": keys[2]["n"], "e": "AQAB"}));
    keys.push(
        serde_json::json!({"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"}),
    );
    provider.set_jwks(document.to_string());
    other.publish(&[&ed_key("o1")]);
    let long = Duration::from_secs(600);
    let validator = validator([
        trusting(&provider, Duration::from_millis(50), long),
        trusting(&other, Duration::from_millis(50), long),
    ]);
    let issuer = provider.issuer();

    assert_eq!(
        outcome(&validator, &token(&issuer, Jwa::ES256, "k1")).await,
        Ok(())
    );
    assert_eq!(
        outcome(&validator, &token(&issuer, Jwa::RS256, "r1")).await,
        Ok(())
    );
    assert_eq!(
        outcome(&validator, &token(&other.issuer(), Jwa::EdDSA, "o1")).await,
        Ok(())
    );
    // The other issuer's key, for a token claiming this issuer: not this issuer's, even after a
    // fetch.
    assert_eq!(
        outcome(&validator, &token(&issuer, Jwa::EdDSA, "o1")).await,
        Err(Reason::UnknownKey)
    );
    // An HMAC tag made with the published RSA key (its PEM, its JWK) or the `oct` entry.
    let claims = payload(&[
        ("token_use", None),
        ("iss", Some(&format!("\"{issuer}\""))),
        ("aud", Some("\"orders-api\"")),
    ]);
    for (kid, secret) in [
        ("r1", RSA_PUBLIC.to_vec()),
        ("r1", published.clone().into_bytes()),
        ("secret", b"secretsecretsecretsecretsecret".to_vec()),
    ] {
        let header = format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#);
        let forged = sign(
            &header,
            &claims,
            &EncodingKey::from_secret(&secret).unwrap(),
            Jwa::HS256,
        );
        let refused = outcome(&validator, &forged).await;
        assert!(
            matches!(
                refused,
                Err(Reason::AlgorithmNotAllowed | Reason::UnknownKey)
            ),
            "{kid}: {refused:?}"
        );
    }
    // Skipped entries are not keys at all.
    for kid in ["enc", "p521"] {
        assert_eq!(
            outcome(&validator, &token(&issuer, Jwa::RS256, kid)).await,
            Err(Reason::UnknownKey),
            "{kid}"
        );
    }
}

/// A logout token naming a key not fetched yet waits for the fetch like an access token does: taken
/// once the key is published, 503 (never 400) while the provider cannot be reached.
#[tokio::test]
async fn a_logout_token_waits_for_its_issuers_keys_too() {
    use jwt_cutoff::BackChannelLogout;

    let provider = FakeProvider::start().await;
    provider.publish(&[&ec_key("k1")]);
    let validator = validator([trusting(
        &provider,
        Duration::from_millis(100),
        Duration::from_secs(600),
    )]);
    let receiver = BackChannelLogout::new(&validator, "web");
    let issuer = provider.issuer();
    let logout_token = |kid: &str| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = serde_json::json!({
            "iss": issuer, "aud": "web", "iat": now, "jti": kid, "sub": "alice",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        });
        let header = format!(r#"{{"alg":"EdDSA","typ":"logout+jwt","kid":"{kid}"}}"#);
        let key = EncodingKey::from_ed_pem(ED_PRIVATE).unwrap();
        sign(&header, &claims.to_string(), &key, Jwa::EdDSA)
    };

    provider.behave(Behaviour::Status(503));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let error = receiver.receive(&logout_token("k2")).await.unwrap_err();
    assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE, "{error}");

    provider.behave(Behaviour::Serve);
    provider.publish(&[&ec_key("k1"), &ed_key("k2")]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let done = receiver.receive(&logout_token("k2")).await.unwrap();
    assert_eq!(done.subject(), Some("alice"));
    let alice = token(&issuer, Jwa::ES256, "k1");
    assert_eq!(outcome(&validator, &alice).await, Err(Reason::Revoked));
}

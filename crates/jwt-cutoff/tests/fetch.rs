//! Fetching from a fake provider on a real socket: discovery, the JWK set, and every way a
//! provider fails (an error status, a redirect, garbage, too much, no answer, no server), each a
//! [`FetchError`](jwt_cutoff::FetchError) within the bounds, never a hang.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use jwt_cutoff::{Algorithm, KeyFetcher, SigningKey, VerifyingKey};
use jwt_cutoff_test_support::provider::{Behaviour, FakeProvider};
use jwt_cutoff_test_support::{EC_PRIVATE, ED_PRIVATE};

const TIMEOUT: Duration = Duration::from_millis(500);

fn fetcher() -> KeyFetcher {
    KeyFetcher::builder()
        .timeout(TIMEOUT)
        .max_document_bytes(4096)
        .build()
        .unwrap()
}

#[tokio::test]
async fn discovery_leads_to_the_keys() {
    let provider = FakeProvider::start().await;
    let ec = SigningKey::ec_pem(EC_PRIVATE, Algorithm::ES256)
        .unwrap()
        .kid("ec");
    let ed = SigningKey::ed_pem(ED_PRIVATE).unwrap().kid("ed");
    provider.publish(&[&ec, &ed]);

    let fetcher = fetcher();
    let metadata = fetcher.discover(&provider.issuer()).await.unwrap();
    assert_eq!(metadata.issuer(), provider.issuer());
    assert_eq!(metadata.jwks_uri(), provider.jwks_uri());
    // A trailing slash in the configured issuer finds the same document, which must then name it
    // exactly: it names the issuer without the slash, so it is refused.
    let slashed = format!("{}/", provider.issuer());
    let error = fetcher.discover(&slashed).await.unwrap_err().to_string();
    assert!(error.contains("names the issuer"), "{error}");

    let set = fetcher.jwks(metadata.jwks_uri()).await.unwrap();
    let kids: Vec<_> = set.keys().iter().map(VerifyingKey::key_id).collect();
    assert_eq!(kids, [Some("ec"), Some("ed")]);
    assert_eq!(provider.jwks_fetches(), 1);
    assert_eq!(provider.discovery_fetches(), 2);
}

#[tokio::test]
async fn a_document_naming_another_issuer_is_refused() {
    let provider = FakeProvider::start().await;
    provider.claim_issuer("https://accounts.example.com");
    let error = fetcher()
        .discover(&provider.issuer())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("\"https://accounts.example.com\""),
        "{error}"
    );
}

#[tokio::test]
async fn every_failure_is_an_error_within_the_timeout() {
    let provider = FakeProvider::start().await;
    let fetcher = fetcher();
    let cases = [
        (Behaviour::Status(500), "500"),
        (Behaviour::Status(302), "302"),
        (Behaviour::Status(404), "404"),
        (Behaviour::Garbage, "not a JWK set"),
        (Behaviour::Oversized(5000), "over 4096 bytes"),
        (Behaviour::Hang, "within"),
    ];
    for (behaviour, says) in cases {
        provider.behave(behaviour);
        for fetch in [
            fetcher.jwks(&provider.jwks_uri()).await.map(drop),
            fetcher.discover(&provider.issuer()).await.map(drop),
        ] {
            let started = Instant::now();
            let error = fetch.unwrap_err().to_string();
            assert!(started.elapsed() < TIMEOUT * 4, "{behaviour:?}");
            if behaviour != Behaviour::Garbage {
                assert!(error.contains(says), "{behaviour:?}: {error}");
            }
            assert!(error.starts_with("fetching http://127.0.0.1:"), "{error}");
        }
    }
    // A kept-alive connection does not outlive the server: down means down.
    provider.behave(Behaviour::Serve);
    fetcher.jwks(&provider.jwks_uri()).await.unwrap();
    let jwks_uri = provider.jwks_uri();
    provider.stop().await;
    let started = Instant::now();
    let error = fetcher.jwks(&jwks_uri).await.unwrap_err().to_string();
    assert!(started.elapsed() < TIMEOUT * 4);
    assert!(error.contains("fetching"), "{error}");

    for url in [
        "ftp://127.0.0.1/jwks",
        "/jwks.json",
        "not a url",
        "file:///etc/passwd",
    ] {
        let error = fetcher.jwks(url).await.unwrap_err().to_string();
        assert!(error.contains("URL"), "{url}: {error}");
    }
}

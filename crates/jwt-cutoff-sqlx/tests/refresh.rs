//! Two instances on one SQLite file, no push: a refresh on the instance whose cache has not seen
//! a logout cannot launder it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
#![cfg(feature = "sqlite")]

mod common;

use std::time::Duration;

use jwt_cutoff::{Algorithm, Cutoffs, Reason, TokenType, Validator, VerifyingKey};
use jwt_cutoff_sqlx::SqliteStore;

/// The instances' cache TTL: how long B may answer from a cache that missed A's logout.
const TTL: Duration = Duration::from_secs(2);

fn refresh_validator(cutoffs: &Cutoffs) -> Validator {
    Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(common::SECRET).unwrap())
        .token_type(TokenType::Refresh)
        .build(cutoffs.clone())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_on_an_instance_with_a_stale_cache_cannot_launder_a_logout() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("cutoffs.db").display());
    let instance = async || {
        Cutoffs::builder(SqliteStore::connect(&url).await.unwrap())
            .time_to_live(TTL)
            .build()
    };
    let (a, b) = (instance().await, instance().await);
    let issuer = common::issuer();
    let (access_a, access_b) = (common::validator(&a), common::validator(&b));
    let refresh_b = refresh_validator(&b);

    let login = issuer.issue_pair("alice", &()).unwrap();
    assert!(access_b.validate(&login.access.token).await.is_ok());
    // A refresh on B verified just before the logout reaches the store...
    let raced = refresh_b.validate(&login.refresh.token).await.unwrap();

    a.logout_all("alice").await.unwrap();

    // ...and one right after it. B's cache still says "no cutoff" for alice, but a refresh reads
    // the store.
    assert!(
        access_b.validate(&login.access.token).await.is_ok(),
        "B's cache has not seen the logout (the test relies on it)"
    );
    assert_eq!(
        refresh_b
            .validate(&login.refresh.token)
            .await
            .unwrap_err()
            .reason(),
        Reason::Revoked,
        "a refresh on B after the logout is refused"
    );

    // The refresh that raced the logout mints its pair anyway: it carries the revoked login's
    // instant, so it is refused wherever the cutoff is known, for good.
    let laundered = issuer.refresh_pair(&raced, &()).unwrap();
    assert_eq!(
        access_a
            .validate(&laundered.access.token)
            .await
            .unwrap_err()
            .reason(),
        Reason::Revoked
    );
    assert_eq!(
        refresh_b
            .validate(&laundered.refresh.token)
            .await
            .unwrap_err()
            .reason(),
        Reason::Revoked
    );
    common::eventually(
        "B refuses the laundered access token once its cache expires",
        TTL * 5,
        async || access_b.validate(&laundered.access.token).await.is_err(),
    )
    .await;
    tokio::time::sleep(TTL + Duration::from_millis(600)).await;
    for (instance, validator) in [("A", &access_a), ("B", &access_b)] {
        for token in [&login.access.token, &laundered.access.token] {
            assert_eq!(
                validator.validate(token).await.unwrap_err().reason(),
                Reason::Revoked,
                "on {instance}, past the TTL"
            );
        }
    }
}

//! Two instances on one SQLite file, no push: a refresh on the instance whose cache has not seen
//! a logout cannot launder it.
#![cfg(feature = "sqlite")]

use std::time::{Duration, Instant};

use jwt_cutoff::{CutoffCache, Reason};
use jwt_cutoff_sqlx::SqliteStore;
use jwt_cutoff_test_support::{
    eventually, hs_issuer, hs_refresh_validator, hs_validator, reason_of,
};

/// The instances' cache TTL: how long an instance may answer from a cache that missed another's
/// logout. Long enough for the steps that rely on a stale cache, on a slow machine.
const TTL: Duration = Duration::from_secs(4);

/// A logs alice out. B serves refreshes; C only serves access tokens, and its cache holds alice
/// from before the logout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_on_an_instance_with_a_stale_cache_cannot_launder_a_logout() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("cutoffs.db").display());
    let instance = async || {
        CutoffCache::builder(SqliteStore::connect(&url).await.unwrap())
            .time_to_live(TTL)
            .build()
    };
    let (a, b, c) = (instance().await, instance().await, instance().await);
    let issuer = hs_issuer();
    let (access_a, access_b, access_c) = (
        hs_validator(a.clone()),
        hs_validator(b.clone()),
        hs_validator(c.clone()),
    );
    let refresh_b = hs_refresh_validator(b.clone());

    let login = issuer.issue_pair("alice", &()).unwrap();
    let cached_at = Instant::now();
    assert!(access_b.validate(&login.access.token).await.is_ok());
    assert!(access_c.validate(&login.access.token).await.is_ok());
    // A refresh on B verified just before the logout reaches the store...
    let raced = refresh_b.validate(&login.refresh.token).await.unwrap();

    a.logout_all("alice").await.unwrap();
    let stale = access_b.validate(&login.access.token).await.is_ok()
        && access_c.validate(&login.access.token).await.is_ok();
    assert!(
        stale || cached_at.elapsed() >= TTL,
        "B and C answer from caches that have not seen the logout (the test relies on it)"
    );

    // ...and one right after it: B's cache says "no cutoff", but a refresh reads the store (and
    // brings B's cache up to date on the way).
    assert_eq!(
        reason_of(&refresh_b, &login.refresh.token).await,
        Some(Reason::Revoked),
        "a refresh on B after the logout is refused"
    );
    assert_eq!(
        reason_of(&access_b, &login.access.token).await,
        Some(Reason::Revoked)
    );

    // The refresh that raced the logout mints its pair anyway: it carries the revoked login's
    // instant, so it is refused wherever the cutoff is known: on A and B at once, on C once its
    // cache expires, for good.
    let laundered = issuer.refresh_pair(&raced, &()).unwrap();
    for (instance, validator) in [("A", &access_a), ("B", &access_b)] {
        assert_eq!(
            reason_of(validator, &laundered.access.token).await,
            Some(Reason::Revoked),
            "on {instance}"
        );
    }
    assert_eq!(
        reason_of(&refresh_b, &laundered.refresh.token).await,
        Some(Reason::Revoked)
    );
    eventually(
        "C refuses the laundered access token once its cache expires",
        TTL * 3,
        async || access_c.validate(&laundered.access.token).await.is_err(),
    )
    .await;
    for token in [&login.access.token, &laundered.access.token] {
        assert_eq!(
            reason_of(&access_c, token).await,
            Some(Reason::Revoked),
            "on C, past the TTL"
        );
    }
}

//! The verified-token cache, seen from outside: a cached token is still refused the moment its
//! subject is logged out or the token expires, and nothing crosses from one validator to another.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, Reason, Validator, VerifyingKey};
use jwt_cutoff_test_support::*;

fn reason(result: Result<impl Sized, jwt_cutoff::Rejection>) -> Option<Reason> {
    result.err().map(|rejection| rejection.reason())
}

#[tokio::test]
async fn a_cached_token_is_refused_at_once_after_logout_on_every_path() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = hs_validator(cutoffs.clone());
    let guarded = Guarded::new(validator.clone());
    let token = hs_access("alice");
    for _ in 0..3 {
        validator.validate(&token).await.unwrap();
        guarded.accepts(&token, "alice", "before logout").await;
    }

    cutoffs.logout_all("alice").await.unwrap();
    assert_eq!(
        reason(validator.validate(&token).await),
        Some(Reason::Revoked)
    );
    guarded
        .refuses(&token, Reason::Revoked, "cached token after logout")
        .await;

    let after = hs_access("alice");
    guarded.accepts(&after, "alice", "new login").await;
}

#[tokio::test]
async fn a_cached_token_is_refused_once_it_expires() {
    // Not zero: tokens minted in a burst may carry an `iat` a few microseconds ahead of the clock.
    const LEEWAY: Duration = Duration::from_millis(500);
    let validator = hs_builder()
        .leeway(LEEWAY)
        .build(CutoffCache::new(MemoryStore::new()))
        .unwrap();
    let issuer = hs_issuer_builder()
        .access_lifetime(Duration::from_secs(1))
        .build()
        .unwrap();
    let issued = issuer.issue_access("alice", &()).unwrap();
    validator.validate(&issued.token).await.unwrap();
    validator.validate(&issued.token).await.unwrap();

    let until_expiry = issued
        .expires_at
        .to_system_time()
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    validator.validate(&issued.token).await.unwrap();
    tokio::time::sleep(until_expiry + LEEWAY + Duration::from_millis(20)).await;
    assert_eq!(
        reason(validator.validate(&issued.token).await),
        Some(Reason::Expired)
    );
}

#[tokio::test]
async fn a_token_cached_by_one_validator_means_nothing_to_another() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let access = hs_validator(cutoffs.clone());
    let refresh = hs_refresh_validator(cutoffs.clone());
    let other_key = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(OTHER_SECRET).unwrap())
        .build(cutoffs.clone())
        .unwrap();

    let token = hs_access("alice");
    access.validate(&token).await.unwrap();
    access.validate(&token).await.unwrap();
    assert_eq!(
        reason(refresh.validate(&token).await),
        Some(Reason::WrongTokenType)
    );
    assert_eq!(
        reason(other_key.validate(&token).await),
        Some(Reason::BadSignature)
    );

    #[derive(Clone, Debug, serde::Deserialize)]
    struct Claims {
        token_use: String,
    }
    let with_claims = access.clone().with_claims::<Claims>();
    let verified = with_claims.validate(&token).await.unwrap();
    assert_eq!(verified.claims().token_use, "access");
}

/// A token answered from the token cache is admitted again without looking its subject up while
/// its cutoffs stand (see `TokenCheck`); every scope that applies to it still refuses it at once,
/// written here or pushed, and changes that do not apply leave it admitted.
#[tokio::test]
async fn a_cached_token_is_refused_at_once_by_every_scope_that_applies_to_it() {
    type Change = fn(&CutoffCache, &str) -> futures_util::future::BoxFuture<'static, ()>;
    let changes: [(&str, Change); 4] = [
        ("its session revoked", |cutoffs, session| {
            let (cutoffs, session) = (cutoffs.clone(), session.to_owned());
            Box::pin(async move { cutoffs.revoke_session("alice", &session).await.unwrap() })
        }),
        ("its subject logged out elsewhere, pushed", |cutoffs, _| {
            let cutoffs = cutoffs.clone();
            let now = jwt_cutoff::Cutoff::ValidFrom(jwt_cutoff::Timestamp::now());
            Box::pin(async move { cutoffs.apply(jwt_cutoff::Scope::Subject("alice"), now) })
        }),
        ("everyone logged out", |cutoffs, _| {
            let cutoffs = cutoffs.clone();
            Box::pin(async move { _ = cutoffs.logout_everyone().await.unwrap() })
        }),
        ("its subject deleted", |cutoffs, _| {
            let cutoffs = cutoffs.clone();
            Box::pin(async move { cutoffs.refuse("alice").await.unwrap() })
        }),
    ];
    for (name, change) in changes {
        let cutoffs = CutoffCache::new(MemoryStore::new());
        let validator = hs_validator(cutoffs.clone());
        let guarded = Guarded::new(validator.clone());
        let token = hs_issuer().issue_pair("alice", &()).unwrap().access.token;
        let session = validator.validate(&token).await.unwrap();
        let session = session.session_id().unwrap().to_owned();
        let others = [
            hs_access("bob"),
            hs_issuer().issue_pair("alice", &()).unwrap().access.token,
        ];
        for _ in 0..3 {
            guarded.accepts(&token, "alice", "before").await;
        }

        // What does not apply to the token leaves it admitted.
        cutoffs.logout_all("bob").await.unwrap();
        let other_session = validator.validate(&others[1]).await.unwrap();
        cutoffs
            .revoke_session("alice", other_session.session_id().unwrap())
            .await
            .unwrap();
        guarded.accepts(&token, "alice", name).await;
        assert!(validator.validate(&others[0]).await.is_err());

        change(&cutoffs, &session).await;
        let expected = if name == "its subject deleted" {
            Reason::SubjectRefused
        } else {
            Reason::Revoked
        };
        guarded.refuses(&token, expected, name).await;
        assert_eq!(
            reason(validator.validate(&token).await),
            Some(expected),
            "{name}"
        );
    }
}

//! The refresh endpoint never launders a logout, even when a refresh slips in while the logout is
//! still on its way to the store.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use axum::http::StatusCode;
use axum::response::IntoResponse as _;
use jwt_cutoff::{Cutoff, MemoryStore, NoClaims, Reason, Refresher};
use jwt_cutoff_axum::{RefreshRequest, TokenResponse};
use jwt_cutoff_test_support::{
    TestSource, hs_builder, hs_issuer, hs_validator, patient_cache, wait_until,
};

async fn refresh(refresher: &Refresher, refresh_token: &str) -> Result<TokenResponse, StatusCode> {
    jwt_cutoff_axum::refresh(
        refresher,
        &RefreshRequest::new(refresh_token),
        |_: &jwt_cutoff::Verified<NoClaims>| (),
    )
    .await
    .map_err(|rejection| rejection.into_response().status())
}

/// Logout-all stamps its cutoff, then waits on a slow store write; a refresh with a token of the
/// old login arrives meanwhile, finds no cutoff in the store yet, and is answered with a new pair
/// minted after the cutoff's instant. Once the logout returns, that pair is refused like the
/// login it came from: access and refresh token alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_racing_a_slow_logout_cannot_launder_it() {
    // A slow store write: the logout's waits at the closed gate until the test opens it (the
    // gate, not the write timeout, decides when it ends).
    let source = TestSource::new(MemoryStore::new());
    source.before_write.close();
    let cutoffs = patient_cache(&source);
    let access = hs_validator(cutoffs.clone());
    let issuer = hs_issuer();
    let refresher = Refresher::new(
        hs_builder().build_refresh(cutoffs.clone()).unwrap(),
        issuer.clone(),
    );

    let login = issuer.issue_pair("alice", &()).unwrap();
    assert!(access.validate(&login.access.token).await.is_ok());

    let logout = tokio::spawn({
        let cutoffs = cutoffs.clone();
        async move { cutoffs.logout_all("alice").await }
    });
    wait_until("the logout reaches the store", || source.write_calls() > 0).await;

    let raced = refresh(&refresher, &login.refresh.token)
        .await
        .expect("the store holds no cutoff yet: the refresh passes");

    source.before_write.open();
    let stored = logout.await.unwrap().unwrap();
    assert!(stored > Cutoff::NoCutoff);

    assert_eq!(
        access
            .validate(&raced.access_token)
            .await
            .unwrap_err()
            .reason(),
        Reason::Revoked,
        "the access token of a pair refreshed from the revoked login is refused"
    );
    assert_eq!(
        refresh(&refresher, &raced.refresh_token).await.unwrap_err(),
        StatusCode::UNAUTHORIZED,
        "its refresh token refreshes nothing"
    );
    assert_eq!(
        refresh(&refresher, &login.refresh.token).await.unwrap_err(),
        StatusCode::UNAUTHORIZED
    );

    // A new login after the logout is a new session: accepted, and it refreshes.
    let fresh = issuer.issue_pair("alice", &()).unwrap();
    assert!(access.validate(&fresh.access.token).await.is_ok());
    let refreshed = refresh(&refresher, &fresh.refresh.token).await.unwrap();
    assert!(access.validate(&refreshed.access_token).await.is_ok());
}

//! The refresh endpoint never launders a logout, even when a refresh slips in while the logout is
//! still on its way to the store.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse as _;
use jwt_cutoff::{
    Algorithm, BoxFuture, Cutoff, CutoffCache, CutoffSource, MemoryStore, NoClaims, Reason,
    RefreshValidator, Scope, SigningKey, SourceError, TokenIssuer, Validator, ValidatorBuilder,
    VerifyingKey,
};
use jwt_cutoff_axum::{RefreshRequest, TokenResponse};
use tokio::sync::watch;

const SECRET: &[u8] = b"an access secret of at least 32 bytes";
const PATIENCE: Duration = Duration::from_secs(30);

/// A memory store whose writes wait at a gate before they reach it: a slow store write.
struct SlowWrites {
    store: MemoryStore,
    open: watch::Sender<bool>,
    waiting: AtomicUsize,
}

impl CutoffSource for SlowWrites {
    fn lookup<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        self.store.lookup(subject)
    }

    fn raise<'a>(
        &'a self,
        scope: Scope<'a>,
        to: Cutoff,
    ) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        Box::pin(async move {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let _ = self.open.subscribe().wait_for(|open| *open).await;
            self.store.raise(scope, to).await
        })
    }
}

fn validator() -> ValidatorBuilder {
    Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
}

async fn refresh(
    validator: &RefreshValidator,
    issuer: &TokenIssuer,
    refresh_token: &str,
) -> Result<TokenResponse, StatusCode> {
    jwt_cutoff_axum::refresh(
        validator,
        issuer,
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
    let source = Arc::new(SlowWrites {
        store: MemoryStore::new(),
        open: watch::Sender::new(false),
        waiting: AtomicUsize::new(0),
    });
    // The gate, not the write timeout, decides when the logout's write ends.
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .store_timeout(PATIENCE)
        .build();
    let access = validator().build(cutoffs.clone()).unwrap();
    let refresh_validator = validator().build_refresh(cutoffs.clone()).unwrap();
    let issuer = TokenIssuer::builder(SigningKey::hmac(SECRET, Algorithm::HS256).unwrap())
        .build()
        .unwrap();

    let login = issuer.issue_pair("alice", &()).unwrap();
    assert!(access.validate(&login.access.token).await.is_ok());

    let logout = tokio::spawn({
        let cutoffs = cutoffs.clone();
        async move { cutoffs.logout_all("alice").await }
    });
    let deadline = Instant::now() + PATIENCE;
    while source.waiting.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the logout never reached the store"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    let raced = refresh(&refresh_validator, &issuer, &login.refresh.token)
        .await
        .expect("the store holds no cutoff yet: the refresh passes");

    source.open.send_replace(true);
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
        refresh(&refresh_validator, &issuer, &raced.refresh_token)
            .await
            .unwrap_err(),
        StatusCode::UNAUTHORIZED,
        "its refresh token refreshes nothing"
    );
    assert_eq!(
        refresh(&refresh_validator, &issuer, &login.refresh.token)
            .await
            .unwrap_err(),
        StatusCode::UNAUTHORIZED
    );

    // A new login after the logout is a new session: accepted, and it refreshes.
    let fresh = issuer.issue_pair("alice", &()).unwrap();
    assert!(access.validate(&fresh.access.token).await.is_ok());
    let refreshed = refresh(&refresh_validator, &issuer, &fresh.refresh.token)
        .await
        .unwrap();
    assert!(access.validate(&refreshed.access_token).await.is_ok());
}

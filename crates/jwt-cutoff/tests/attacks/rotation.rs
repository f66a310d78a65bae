//! Refresh-token rotation through a [`Refresher`] (SPEC 19, 20): each refresh token works once;
//! of concurrent refreshes with one token exactly one succeeds and the session keeps working; a
//! spent token presented after the grace window revokes its session, access tokens included.

use std::sync::Arc;
use std::time::Duration;

use jwt_cutoff::{CutoffCache, MemoryStore, Reason, RefreshError, Refresher, TokenPair};
use jwt_cutoff_test_support::*;

/// A refresher over a memory store, rotating with `grace`, and a layer over the same cutoffs.
fn rotating(grace: Duration) -> (Refresher, Guarded, CutoffCache) {
    let store = MemoryStore::new();
    let cutoffs = CutoffCache::new(store.clone());
    let validator = hs_builder()
        .build_refresh(cutoffs.clone())
        .unwrap_or_else(|error| panic!("refresh validator: {error}"));
    // The grace set before the store: the order of the two must not matter.
    let refresher = Refresher::new(validator, hs_issuer())
        .reuse_grace(grace)
        .rotating(store);
    (
        refresher,
        Guarded::new(hs_validator(cutoffs.clone())),
        cutoffs,
    )
}

async fn refresh(refresher: &Refresher, token: &str) -> Result<TokenPair, Reason> {
    refresher
        .refresh(token, |_| ())
        .await
        .map_err(|error| match error {
            RefreshError::Refused(rejection) => rejection.reason(),
            RefreshError::Issue(error) => panic!("issue failed: {error}"),
        })
}

#[tokio::test]
async fn each_refresh_token_works_once_and_a_retry_within_the_grace_window_keeps_the_session() {
    let (refresher, guarded, _cutoffs) = rotating(Duration::from_secs(30));
    let login = hs_issuer().issue_pair("alice", &()).unwrap();
    let first = refresh(&refresher, &login.refresh.token).await.unwrap();
    assert_eq!(first.session_id, login.session_id, "the same session");
    assert_ne!(first.refresh.id, login.refresh.id, "a new token id");

    // The login's refresh token again, within the window: refused, session untouched.
    let retry = refresh(&refresher, &login.refresh.token).await;
    assert_eq!(retry.unwrap_err(), Reason::Revoked);
    guarded
        .accepts(&first.access.token, "alice", "the winner's access token")
        .await;
    let second = refresh(&refresher, &first.refresh.token).await.unwrap();
    guarded
        .accepts(&second.access.token, "alice", "after a retry")
        .await;
}

#[tokio::test]
async fn a_spent_token_after_the_grace_window_revokes_its_session_and_nothing_else() {
    let (refresher, guarded, _cutoffs) = rotating(Duration::ZERO);
    let login = hs_issuer().issue_pair("alice", &()).unwrap();
    let other = hs_issuer().issue_pair("alice", &()).unwrap();
    let stolen = login.refresh.token.clone();
    let honest = refresh(&refresher, &login.refresh.token).await.unwrap();

    // The thief's copy: reuse. The whole session goes, the honest client's newer tokens too.
    assert_eq!(
        refresh(&refresher, &stolen).await.unwrap_err(),
        Reason::Revoked
    );
    for (token, what) in [
        (&login.access.token, "the login's access token"),
        (&honest.access.token, "the newer access token"),
    ] {
        guarded.refuses(token, Reason::Revoked, what).await;
    }
    assert_eq!(
        refresh(&refresher, &honest.refresh.token)
            .await
            .unwrap_err(),
        Reason::Revoked,
        "the newer refresh token"
    );
    // The subject's other session keeps working.
    guarded
        .accepts(&other.access.token, "alice", "another session")
        .await;
    assert!(refresh(&refresher, &other.refresh.token).await.is_ok());
}

/// SPEC 20: twelve concurrent refreshes with one token, a session's first and a later one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_twelve_concurrent_refreshes_exactly_one_succeeds() {
    let (refresher, guarded, _cutoffs) = rotating(Duration::from_secs(30));
    let refresher = Arc::new(refresher);
    let login = hs_issuer().issue_pair("alice", &()).unwrap();
    let mut token = login.refresh.token;
    for round in 0..2 {
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (refresher, token) = (Arc::clone(&refresher), token.clone());
                tokio::spawn(async move { refresh(&refresher, &token).await })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(pair) => winners.push(pair),
                Err(reason) => assert_eq!(reason, Reason::Revoked, "round {round}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one succeeds");
        let winner = winners.remove(0);
        guarded
            .accepts(&winner.access.token, "alice", "the session keeps working")
            .await;
        token = winner.refresh.token;
    }
}

#[tokio::test]
async fn a_refresh_token_without_a_session_starts_one_and_a_sessions_token_needs_its_id() {
    let (refresher, _guarded, _cutoffs) = rotating(Duration::from_secs(30));
    // Minted before sessions (no sid, no jti): a new session, as before rotation.
    let legacy = hs_issuer().issue_refresh("alice", &()).unwrap();
    let pair = refresh(&refresher, &legacy.token).await.unwrap();
    assert!(!pair.session_id.is_empty());
    // A session's refresh token without its id cannot be spent once: refused.
    let payload = payload(&[("token_use", Some("\"refresh\"")), ("sid", Some("\"s\""))]);
    let no_id = hs_token(&payload);
    assert_eq!(
        refresh(&refresher, &no_id).await.unwrap_err(),
        Reason::MissingClaim
    );
}

/// A token id (`jti`) is a string of 1 to `MAX_TOKEN_ID_BYTES` printable bytes without spaces,
/// once: anything else is refused before any lookup.
#[tokio::test]
async fn bad_token_ids_are_refused_without_lookup() {
    let (guarded, source, _cutoffs) = crate::counted();
    let too_long = format!("\"{}\"", "j".repeat(jwt_cutoff::MAX_TOKEN_ID_BYTES + 1));
    let cases: &[(Option<&str>, Reason)] = &[
        (Some("\"\""), Reason::InvalidClaim),
        (Some("\"a b\""), Reason::InvalidClaim),
        (Some("\"a\\nb\""), Reason::InvalidClaim),
        (Some(&too_long), Reason::InvalidClaim),
        (Some("null"), Reason::InvalidClaim),
        (Some("7"), Reason::InvalidClaim),
    ];
    crate::refuses_claim_values(&guarded, "jti", cases).await;
    let twice = with_members(&payload(&[("jti", Some("\"a\""))]), "\"jti\":\"b\"");
    guarded
        .refuses(&hs_token(&twice), Reason::InvalidClaim, "jti twice")
        .await;
    source.assert_no_lookups();
    let fine = hs_token(&payload(&[("jti", Some("\"k-1_2.3\""))]));
    guarded.accepts(&fine, "alice", "a plain id").await;
}

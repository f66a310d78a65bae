//! Accepted and refused calls, server-wide: verified claims reach the handler, refusals are
//! UNAUTHENTICATED and never reach it, a logout is in force at once, a store that is down or hangs
//! gives UNAVAILABLE, and the optional layer lets anonymous calls through.

use std::time::Duration;

use jwt_cutoff::{CutoffCache, Reason};
use jwt_cutoff_test_support::grpc::{bearer, health_check as check};
use jwt_cutoff_test_support::{
    TestSource, cache_with_timeout, forged_token, hs_token, now_secs, payload,
};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::{Fixture, assert_all_unauthenticated, assert_anonymous_refused, assert_refused};

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_verified_claims() {
    let (fixture, channel) = Fixture::strict().await;

    let token = fixture.token("alice");
    assert_eq!(
        check(&channel, &[&bearer(&token)]).await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        fixture.recorder.last(),
        Some(("alice".to_owned(), Some("admin".to_owned())))
    );
}

#[tokio::test]
async fn the_handler_sees_the_session_of_a_pair() {
    let (fixture, channel) = Fixture::strict().await;

    let pair = fixture.issuer.issue_pair("alice", &()).unwrap();
    assert!(
        check(&channel, &[&bearer(&pair.access.token)])
            .await
            .is_ok()
    );
    assert_eq!(fixture.recorder.last_session_id(), Some(pair.session_id));
    let lone = fixture.token("alice");
    assert!(check(&channel, &[&bearer(&lone)]).await.is_ok());
    assert_eq!(fixture.recorder.last_session_id(), None);
}

#[tokio::test]
async fn refused_calls_are_unauthenticated_and_never_reach_the_handler() {
    let (fixture, channel) = Fixture::strict().await;

    let now = now_secs();
    let (iat, exp) = ((now - 3600).to_string(), (now - 1800).to_string());
    let expired = hs_token(&payload(&[("iat", Some(&iat)), ("exp", Some(&exp))]));
    let refresh = fixture.issuer.issue_refresh("alice", &()).unwrap().token;

    let cases = [
        (vec![], Reason::MissingToken),
        (vec![bearer(&expired)], Reason::Expired),
        (vec![bearer(&forged_token())], Reason::BadSignature),
        (vec![bearer(&refresh)], Reason::WrongTokenType),
        (vec![b"Bearer not.a.jwt".to_vec()], Reason::MalformedToken),
    ];
    assert_all_unauthenticated(&channel, &cases).await;
    assert_eq!(fixture.recorder.calls(), 0);
}

#[tokio::test]
async fn logout_all_revokes_earlier_tokens_at_once() {
    let (fixture, channel) = Fixture::strict().await;

    let before = fixture.token("alice");
    let bob = fixture.token("bob");
    assert!(check(&channel, &[&bearer(&before)]).await.is_ok());

    fixture.cutoffs.logout_all("alice").await.unwrap();
    let revoked = check(&channel, &[&bearer(&before)]).await;
    assert_refused(revoked, Code::Unauthenticated, Reason::Revoked);
    // Others are untouched, and a token minted after the logout works.
    assert!(check(&channel, &[&bearer(&bob)]).await.is_ok());
    let after = fixture.token("alice");
    assert!(check(&channel, &[&bearer(&after)]).await.is_ok());
    assert_eq!(fixture.recorder.calls(), 3);
}

#[tokio::test]
async fn a_failing_store_gives_unavailable() {
    let fixture = Fixture::with_cutoffs(CutoffCache::new(TestSource::failing()));
    let channel = fixture.serve_strict().await;

    let token = fixture.token("alice");
    for _ in 0..2 {
        // The error is not cached: the second call asks the store again, and fails again.
        let answer = check(&channel, &[&bearer(&token)]).await;
        assert_refused(answer, Code::Unavailable, Reason::Unavailable);
    }
    // A token that fails before the lookup is still UNAUTHENTICATED.
    assert_anonymous_refused(&channel).await;
    assert_eq!(fixture.recorder.calls(), 0);
}

#[tokio::test]
async fn a_hanging_store_gives_unavailable() {
    // The lookup timeout turns a store that never answers into UNAVAILABLE.
    let source = TestSource::hanging();
    let fixture = Fixture::with_cutoffs(cache_with_timeout(&source, Duration::from_millis(50)));
    let channel = fixture.serve_strict().await;

    let token = fixture.token("alice");
    let answer = check(&channel, &[&bearer(&token)]).await;
    assert_refused(answer, Code::Unavailable, Reason::Unavailable);
}

#[tokio::test]
async fn an_optional_layer_lets_anonymous_calls_through_but_not_bad_tokens() {
    let fixture = Fixture::new();
    let channel = fixture.serve(fixture.strict_layer().optional()).await;

    assert!(check(&channel, &[]).await.is_ok());
    assert_eq!(fixture.recorder.last(), None);
    assert_eq!(fixture.recorder.calls(), 1);
    let malformed = check(&channel, &[b"Bearer not.a.jwt"]).await;
    assert_refused(malformed, Code::Unauthenticated, Reason::MalformedToken);
    let token = fixture.token("alice");
    assert!(check(&channel, &[&bearer(&token)]).await.is_ok());
    assert_eq!(fixture.recorder.last_subject().as_deref(), Some("alice"));
}

//! The wire: refusals are trailers-only responses, and the grpc-message never holds the token.

use http_body_util::BodyExt as _;
use jwt_cutoff::CutoffCache;
use jwt_cutoff_test_support::TestSource;
use jwt_cutoff_test_support::grpc::{bearer, health_check as check};
use tonic::transport::Channel;
use tower::ServiceExt as _;

use crate::Fixture;

/// Sends one health check as raw HTTP/2 through the channel, and reads the raw response.
async fn raw_check(
    channel: &Channel,
    authorization: Option<&str>,
) -> http::Response<tonic::body::Body> {
    // One gRPC message frame: uncompressed, zero bytes long (an empty HealthCheckRequest).
    let frame = tonic::codegen::Bytes::from_static(&[0; 5]);
    let mut request = http::Request::post("/grpc.health.v1.Health/Check")
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(token) = authorization {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = tonic::body::Body::new(http_body_util::Full::new(frame));
    channel
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn refusals_are_trailers_only_responses() {
    let fixture = Fixture::with_cutoffs(CutoffCache::new(TestSource::failing()));
    let healthy = Fixture::new();
    let down_channel = fixture.serve_strict().await;
    let up_channel = healthy.serve_strict().await;

    let token = fixture.token("alice");
    for (channel, authorization, code) in [
        (&up_channel, None, "16"),
        (&up_channel, Some("not.a.jwt"), "16"),
        (&down_channel, Some(token.as_str()), "14"),
    ] {
        let response = raw_check(channel, authorization).await;
        assert_eq!(response.status(), http::StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers["content-type"], "application/grpc");
        assert_eq!(headers["grpc-status"], code);
        assert!(headers.contains_key("grpc-message"));
        // Trailers-only: the status is in the one HEADERS frame, and nothing follows it.
        let collected = response.into_body().collect().await.unwrap();
        assert!(collected.trailers().is_none());
        assert!(collected.to_bytes().is_empty());
    }

    // A call that passes has its status in real trailers, after a message.
    let token = healthy.token("alice");
    let response = raw_check(&up_channel, Some(&token)).await;
    assert!(!response.headers().contains_key("grpc-status"));
    let collected = response.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
    assert!(!collected.to_bytes().is_empty());
}

#[tokio::test]
async fn the_grpc_message_never_holds_the_token() {
    let (fixture, channel) = Fixture::strict().await;

    let token = fixture.token("alice");
    fixture.cutoffs.logout_all("alice").await.unwrap();
    let status = check(&channel, &[&bearer(&token)]).await.unwrap_err();
    let payload = token.split('.').nth(1).unwrap();
    assert!(!status.message().contains(payload));
    for (_, value) in status.metadata().clone().into_headers() {
        assert!(!value.to_str().unwrap_or_default().contains(payload));
    }
}

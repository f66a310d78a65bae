//! The SPEC's header cases, as tonic metadata: the scheme's case, malformed and repeated values,
//! and huge tokens.

use jwt_cutoff::Reason;
use jwt_cutoff_test_support::grpc::{bearer, health_check as check, serve_grpc};
use tonic::Code;
use tonic::transport::Server;

use crate::{Fixture, assert_all_unauthenticated, assert_refused};

#[tokio::test]
async fn the_scheme_is_case_insensitive() {
    let (fixture, channel) = Fixture::strict().await;

    let token = fixture.token("alice");
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let value = format!("{scheme} {token}");
        assert!(
            check(&channel, &[value.as_bytes()]).await.is_ok(),
            "{scheme}"
        );
    }
    assert_eq!(fixture.recorder.calls(), 4);
}

#[tokio::test]
async fn malformed_authorization_metadata_is_unauthenticated() {
    let (fixture, channel) = Fixture::strict().await;

    let token = fixture.token("alice");
    let malformed = Reason::MalformedRequest;
    let cases: Vec<(Vec<Vec<u8>>, Reason)> = vec![
        // Two values: gRPC has no 400, so UNAUTHENTICATED.
        (vec![bearer(&token), bearer(&token)], malformed),
        (
            vec![b"Basic YWxpY2U6c2VjcmV0".to_vec(), bearer(&token)],
            malformed,
        ),
        (vec![b"Bearer".to_vec()], malformed),
        (vec![b"Bearer ".to_vec()], malformed),
        (vec![format!("Bearer  {token}").into_bytes()], malformed),
        (vec![format!("Bearer\t{token}").into_bytes()], malformed),
        (vec![format!("Bearer \"{token}\"").into_bytes()], malformed),
        (
            vec![format!("Bearer {token} {token}").into_bytes()],
            malformed,
        ),
        // Bytes above 0x7f are legal in a header value, but not in a token.
        (vec![b"Bearer \xff\xfe\x80".to_vec()], malformed),
        (
            vec![[b"Bearer ".as_slice(), token.as_bytes(), b"\xe9"].concat()],
            malformed,
        ),
        (vec![b"\xffBearer abc".to_vec()], malformed),
        // Another scheme alone means no bearer token was offered.
        (
            vec![b"Basic YWxpY2U6c2VjcmV0".to_vec()],
            Reason::MissingToken,
        ),
    ];
    assert_all_unauthenticated(&channel, &cases).await;
    assert_eq!(fixture.recorder.calls(), 0);
}

#[tokio::test]
async fn huge_tokens_are_refused_by_the_layer_before_decoding() {
    let fixture = Fixture::new();
    let (layer, service) = (fixture.strict_layer(), fixture.service());
    let channel = serve_grpc(|incoming| {
        Server::builder()
            // Let 64 KiB of metadata reach the layer, so the layer's own cap is what refuses.
            .http2_max_header_list_size(256 * 1024)
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
    })
    .await;

    for size in [8 * 1024 + 1, 64 * 1024] {
        let token = "a".repeat(size);
        let answer = check(&channel, &[&bearer(&token)]).await;
        assert_refused(answer, Code::Unauthenticated, Reason::TokenTooLarge);
    }
    assert_eq!(fixture.recorder.calls(), 0);
    // Just under the cap, the token gets as far as decoding.
    let token = "a".repeat(8 * 1024);
    let answer = check(&channel, &[&bearer(&token)]).await;
    assert_refused(answer, Code::Unauthenticated, Reason::MalformedToken);
}

#[tokio::test]
async fn huge_metadata_over_the_server_limit_never_reaches_the_handler() {
    let (fixture, channel) = Fixture::strict().await;

    // With tonic's default header limits, a huge value may be refused by HTTP/2 itself, before
    // the layer (tonic's client answers RESOURCE_EXHAUSTED for 1 MiB): whatever the code, the call
    // fails and nothing reaches the handler.
    for size in [64 * 1024, 1024 * 1024] {
        let token = "a".repeat(size);
        let status = check(&channel, &[&bearer(&token)]).await.unwrap_err();
        assert_ne!(status.code(), Code::Ok);
        assert_ne!(status.code(), Code::PermissionDenied);
    }
    assert_eq!(fixture.recorder.calls(), 0);
    // The connection is still usable afterwards.
    let token = fixture.token("alice");
    assert!(check(&channel, &[&bearer(&token)]).await.is_ok());
}

//! Health and reflection: open or guarded by the layer's bypass, a service opened by name, and the
//! layer applied to one service only.

use jwt_cutoff::Reason;
use jwt_cutoff_test_support::grpc::{bearer, health_check as check, serve_grpc, with_bearer};
use jwt_cutoff_tonic::GrpcJwtCutoffLayer;
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tower::{Layer as _, ServiceBuilder};

use crate::{Claims, Fixture, assert_anonymous_refused};

const HEALTH: &str = tonic_health::pb::health_server::SERVICE_NAME;

/// Asks for the list of services over one version of reflection (the module of its generated
/// code), with `Bearer <token>` metadata if given: the names listed, or the status the call failed
/// with.
macro_rules! list_services {
    ($version:ident, $channel:expr, $token:expr) => {{
        use tonic_reflection::pb::$version::ServerReflectionRequest;
        use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;

        let request = with_bearer(
            tokio_stream::iter([ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            }]),
            $token,
        );
        let mut responses = ServerReflectionClient::new($channel.clone())
            .server_reflection_info(request)
            .await?
            .into_inner();
        let answer = responses.message().await?.expect("one answer");
        match answer.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => Ok(list
                .service
                .into_iter()
                .map(|service| service.name)
                .collect()),
            other => panic!("unexpected reflection answer: {other:?}"),
        }
    }};
}

/// The services listed over reflection v1 (see [`list_services`]).
async fn reflection_v1(channel: &Channel, token: Option<&str>) -> Result<Vec<String>, Status> {
    list_services!(v1, channel, token)
}

/// The services listed over reflection v1alpha (see [`list_services`]).
async fn reflection_v1alpha(channel: &Channel, token: Option<&str>) -> Result<Vec<String>, Status> {
    list_services!(v1alpha, channel, token)
}

fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// Health, and reflection v1 and v1alpha listing it, behind `layer` server-wide.
async fn health_and_reflection_behind(layer: GrpcJwtCutoffLayer<Claims>) -> Channel {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let v1 = reflection_builder().build_v1().unwrap();
    let v1alpha = reflection_builder().build_v1alpha().unwrap();
    serve_grpc(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(health)
            .add_service(v1)
            .add_service(v1alpha)
            .serve_with_incoming(incoming)
    })
    .await
}

#[tokio::test]
async fn by_default_health_is_open_and_reflection_needs_a_token() {
    let fixture = Fixture::new();
    let channel =
        health_and_reflection_behind(GrpcJwtCutoffLayer::new(fixture.validator.clone())).await;

    assert_eq!(check(&channel, &[]).await.unwrap(), ServingStatus::Serving);
    // Open means untouched: even a bad token is not looked at.
    assert!(check(&channel, &[b"Bearer not.a.jwt"]).await.is_ok());

    // Reflection serves the whole schema: not to anonymous clients.
    for status in [
        reflection_v1(&channel, None).await.unwrap_err(),
        reflection_v1alpha(&channel, None).await.unwrap_err(),
        reflection_v1(&channel, Some("not.a.jwt"))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    let status = reflection_v1(&channel, None).await.unwrap_err();
    assert_eq!(status.message(), Reason::MissingToken.description());

    let token = fixture.token("alice");
    assert!(
        reflection_v1(&channel, Some(&token))
            .await
            .unwrap()
            .contains(&HEALTH.to_owned())
    );
    assert!(
        reflection_v1alpha(&channel, Some(&token))
            .await
            .unwrap()
            .contains(&HEALTH.to_owned())
    );
}

#[tokio::test]
async fn unguarded_reflection_answers_both_versions_without_a_token() {
    let fixture = Fixture::new();
    let layer = GrpcJwtCutoffLayer::new(fixture.validator.clone()).unguarded_reflection();
    let channel = health_and_reflection_behind(layer).await;

    assert_eq!(check(&channel, &[]).await.unwrap(), ServingStatus::Serving);
    for token in [None, Some("not.a.jwt")] {
        // Open means untouched: a bad token is not looked at either.
        let listed = reflection_v1(&channel, token).await.unwrap();
        assert!(listed.contains(&HEALTH.to_owned()), "{listed:?}");
        let listed = reflection_v1alpha(&channel, token).await.unwrap();
        assert!(listed.contains(&HEALTH.to_owned()), "{listed:?}");
    }
}

#[tokio::test]
async fn unguarded_reflection_opens_nothing_else() {
    let fixture = Fixture::new();
    let layer = fixture.strict_layer().unguarded_reflection();
    let service = fixture.service();
    let channel = serve_grpc(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(service)
            .add_service(reflection_builder().build_v1().unwrap())
            .add_service(reflection_builder().build_v1alpha().unwrap())
            .serve_with_incoming(incoming)
    })
    .await;

    reflection_v1(&channel, None).await.unwrap();
    reflection_v1alpha(&channel, None).await.unwrap();
    assert_anonymous_refused(&channel).await;
    assert_eq!(fixture.recorder.calls(), 0);
}

#[tokio::test]
async fn health_and_reflection_are_guarded_when_the_bypass_is_off() {
    let fixture = Fixture::new();
    let channel = health_and_reflection_behind(fixture.strict_layer()).await;

    assert_anonymous_refused(&channel).await;
    let status = reflection_v1(&channel, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = reflection_v1alpha(&channel, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let token = fixture.token("alice");
    assert_eq!(
        check(&channel, &[&bearer(&token)]).await.unwrap(),
        ServingStatus::Serving
    );
    reflection_v1(&channel, Some(&token)).await.unwrap();
    reflection_v1alpha(&channel, Some(&token)).await.unwrap();
}

#[tokio::test]
async fn a_service_can_be_opened_by_name() {
    let fixture = Fixture::new();
    let channel = fixture
        .serve(fixture.strict_layer().unguarded_service(HEALTH))
        .await;

    assert!(check(&channel, &[]).await.is_ok());
    assert_eq!(fixture.recorder.last(), None);
}

#[tokio::test]
async fn the_layer_guards_one_service_and_leaves_the_others_alone() {
    let fixture = Fixture::new();
    // `Layer::layer` and `ServiceBuilder` both keep the service's name for `add_service`.
    let guarded = fixture.strict_layer().layer(fixture.service());
    let reflection = ServiceBuilder::new()
        .layer(fixture.strict_layer())
        .service(reflection_builder().build_v1().unwrap());
    let open = reflection_builder().build_v1alpha().unwrap();
    let channel = serve_grpc(|incoming| {
        Server::builder()
            .add_service(guarded)
            .add_service(reflection)
            .add_service(open)
            .serve_with_incoming(incoming)
    })
    .await;

    assert_anonymous_refused(&channel).await;
    assert_eq!(
        reflection_v1(&channel, None).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    reflection_v1alpha(&channel, None).await.unwrap();

    let token = fixture.token("alice");
    assert!(check(&channel, &[&bearer(&token)]).await.is_ok());
    assert_eq!(fixture.recorder.last_subject().as_deref(), Some("alice"));
    reflection_v1(&channel, Some(&token)).await.unwrap();
}

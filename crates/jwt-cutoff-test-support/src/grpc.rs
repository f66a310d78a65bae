//! gRPC over a real socket: a tonic server on 127.0.0.1:0, a channel to it, and health checks
//! carrying chosen `authorization` metadata.

use std::future::Future;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Serves what `serve` builds on a fresh 127.0.0.1:0 listener, and connects a channel to it. The
/// server runs on a task of the test's runtime, and stops with it.
///
/// ```text
/// let channel = serve_grpc(|incoming| {
///     Server::builder().layer(layer).add_service(service).serve_with_incoming(incoming)
/// })
/// .await;
/// ```
pub async fn serve_grpc<F>(serve: impl FnOnce(TcpListenerStream) -> F) -> Channel
where
    F: Future<Output = Result<(), tonic::transport::Error>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(serve(TcpListenerStream::new(listener)));
    Channel::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect()
        .await
        .expect("the server accepts connections")
}

/// `Bearer <token>` as bytes, for [`with_authorization`] and [`health_check`].
pub fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

/// `message` as a request, with `authorization: Bearer <token>` metadata if a token is given.
pub fn with_bearer<T>(message: T, token: Option<&str>) -> Request<T> {
    match token {
        Some(token) => with_authorization(message, &[&bearer(token)]),
        None => Request::new(message),
    }
}

/// `message` as a request carrying each of `authorization` as its own metadata entry.
pub fn with_authorization<T>(message: T, authorization: &[&[u8]]) -> Request<T> {
    let mut request = Request::new(message);
    for value in authorization {
        let value = MetadataValue::try_from(*value).expect("a valid ASCII metadata value");
        request.metadata_mut().append("authorization", value);
    }
    request
}

/// A health check (of the whole server) carrying these `authorization` values: the serving
/// status, or the status the call was refused with.
pub async fn health_check(
    channel: &Channel,
    authorization: &[&[u8]],
) -> Result<ServingStatus, Status> {
    let request = with_authorization(HealthCheckRequest::default(), authorization);
    let response = HealthClient::new(channel.clone()).check(request).await?;
    Ok(response.into_inner().status())
}

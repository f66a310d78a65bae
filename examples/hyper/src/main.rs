//! A hyper server guarded by `JwtCutoffLayer`: `/me` says who you are, `/logout-all` logs you out
//! from all devices, after which the same token is refused. HTTP/1 and HTTP/2 (prior knowledge)
//! on one port, served by hyper-util's builder; `jwt_cutoff_hyper::guard` puts the layer in front
//! of a `hyper::service::service_fn` handler.
//!
//! Run with `cargo run -p example-hyper`, then use the `curl` lines it prints. Ctrl-C stops it
//! gracefully: requests in flight are answered first.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use jwt_cutoff::{Algorithm, CutoffCache, JwtCutoffLayer, MemoryStore, TokenKeys, Verified};
use tokio::net::TcpListener;

/// How long a shutdown waits for requests in flight before it closes their connections.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Example secrets: read yours from configuration.
    let keys = TokenKeys::hmac(
        b"an example access secret of at least 32 bytes",
        b"an example refresh secret of at least 32 bytes",
        Algorithm::HS256,
    )?;
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = keys.access_validator().build(cutoffs.clone())?;

    // Every request passes the layer first; `handle` only sees requests with a valid token.
    let handler = service_fn(move |request| handle(cutoffs.clone(), request));
    let service = jwt_cutoff_hyper::guard(JwtCutoffLayer::new(validator), handler);

    let issuer = keys.issuer().build()?;
    let token = issuer.issue_access("alice", &())?.token;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    println!("listening on http://{address} (Ctrl-C to stop)");
    println!("alice's token: {token}");
    println!("  curl -H 'Authorization: Bearer {token}' http://{address}/me");
    println!("  curl -X POST -H 'Authorization: Bearer {token}' http://{address}/logout-all");

    example_hyper::serve(listener, service, tokio::signal::ctrl_c(), DRAIN_DEADLINE).await;
    Ok(())
}

/// The application: dispatch by method and path. The layer put the verified token in the
/// request extensions.
async fn handle(
    cutoffs: CutoffCache,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let Some(user) = request.extensions().get::<Verified>() else {
        return Ok(text(StatusCode::UNAUTHORIZED, "no token".to_owned()));
    };
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, "/me") => text(StatusCode::OK, format!("you are {}\n", user.subject())),
        (&Method::POST, "/logout-all") => match cutoffs.logout_all(user.subject()).await {
            Ok(_) => text(StatusCode::OK, "logged out from all devices\n".to_owned()),
            Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "try again\n".to_owned()),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    Ok(response)
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

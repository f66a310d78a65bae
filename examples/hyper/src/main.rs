//! A hyper server guarded by `JwtCutoffLayer`: `/me` says who you are, `/logout-all` logs you out
//! from all devices, after which the same token is refused.
//!
//! Run with `cargo run -p example-hyper`, then use the `curl` lines it prints. Ctrl-C stops it
//! gracefully: requests in flight are answered first.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use jwt_cutoff::{
    Algorithm, CutoffCache, JwtCutoffLayer, MemoryStore, SigningKey, TokenIssuer, Validator,
    Verified, VerifyingKey,
};
use jwt_cutoff_hyper::Incoming;
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = b"an example secret of at least 32 bytes";
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(secret)?)
        .build(cutoffs.clone())?;

    // Every request passes the layer first; `handle` only sees requests with a valid token.
    let service = ServiceBuilder::new()
        .layer(JwtCutoffLayer::new(validator))
        .service_fn(move |request| handle(cutoffs.clone(), request));

    let issuer = TokenIssuer::builder(SigningKey::hmac(secret, Algorithm::HS256)?).build()?;
    let token = issuer.issue_access("alice", &())?.token;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    println!("listening on http://{address} (Ctrl-C to stop)");
    println!("alice's token: {token}");
    println!("  curl -H 'Authorization: Bearer {token}' http://{address}/me");
    println!("  curl -X POST -H 'Authorization: Bearer {token}' http://{address}/logout-all");

    jwt_cutoff_hyper::serve(listener, service)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
            println!("shutting down");
        })
        .await;
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

//! Run with `cargo run -p example-tonic`
//!
//! A gRPC server whose `hello.v1.Greeter` service needs a bearer token, while health stays open.
//! Reflection is served but needs the token too (grpcurl sends `-H` on its reflection calls). It
//! prints a token for the demo user "alice"; then, with grpcurl:
//!
//! ```text
//! grpcurl -plaintext -H "authorization: Bearer $TOKEN" 127.0.0.1:50051 list
//! grpcurl -plaintext -H "authorization: Bearer $TOKEN" 127.0.0.1:50051 hello.v1.Greeter/SayHello
//! grpcurl -plaintext -H "authorization: Bearer $TOKEN" 127.0.0.1:50051 hello.v1.Greeter/LogoutAll
//! grpcurl -plaintext -H "authorization: Bearer $TOKEN" 127.0.0.1:50051 hello.v1.Greeter/SayHello
//!   -> Unauthenticated: the token has been revoked
//! grpcurl -plaintext 127.0.0.1:50051 grpc.health.v1.Health/Check   (no token needed)
//! grpcurl -plaintext 127.0.0.1:50051 list
//!   -> Unauthenticated (reflection hands out the schema: open it with `.unguarded_reflection()`)
//! ```
//!
//! Set `ADDR` to listen elsewhere (default `127.0.0.1:50051`).

use std::time::Duration;

use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, NoClaims, TokenKeys};
use jwt_cutoff_tonic::{GrpcJwtCutoffLayer, RequestExt as _};
use tonic::transport::Server;
use tonic::{Request, Response, Status};

use pb::greeter_server::GreeterServer;

/// Code generated from `proto/hello.proto` by `build.rs`.
#[allow(missing_docs, unreachable_pub)]
mod pb {
    tonic::include_proto!("hello.v1");
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("hello_descriptor");
}

struct Greeter {
    cutoffs: CutoffCache,
}

#[tonic::async_trait]
impl pb::greeter_server::Greeter for Greeter {
    async fn say_hello(
        &self,
        request: Request<pb::SayHelloRequest>,
    ) -> Result<Response<pb::SayHelloReply>, Status> {
        // The layer let this call through, so its verified token is here.
        let user = request.verified::<NoClaims>()?.subject();
        let message = format!("Hello, {user}!");
        Ok(Response::new(pb::SayHelloReply { message }))
    }

    async fn logout_all(
        &self,
        request: Request<pb::LogoutAllRequest>,
    ) -> Result<Response<pb::LogoutAllReply>, Status> {
        let user = request.verified::<NoClaims>()?.subject();
        // Every token of `user` issued before now is refused from here on, on every device.
        self.cutoffs
            .logout_all(user)
            .await
            .map_err(|_| Status::unavailable("the cutoff store is unavailable"))?;
        Ok(Response::new(pb::LogoutAllReply {}))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Example secrets: read yours from configuration. The store: use a shared one in production.
    let keys = TokenKeys::hmac(
        b"an example access secret of at least 32 bytes",
        b"an example refresh secret of at least 32 bytes",
        Algorithm::HS256,
    )?;
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = keys.access_validator().build(cutoffs.clone())?;
    let issuer = keys
        .issuer()
        .access_lifetime(Duration::from_secs(60 * 60))
        .build()?;

    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<GreeterServer<Greeter>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:50051".to_owned());
    let token = issuer.issue_access("alice", &())?.token;
    println!("listening on {addr}");
    println!("a token for alice, valid for an hour:\nexport TOKEN={token}");

    Server::builder()
        // Guards every service below except health: reflection too. To let clients without a token
        // list and describe the API, add `.unguarded_reflection()` to the layer.
        .layer(GrpcJwtCutoffLayer::new(validator))
        .add_service(health)
        .add_service(reflection)
        .add_service(GreeterServer::new(Greeter { cutoffs }))
        .serve(addr.parse()?)
        .await?;
    Ok(())
}

//! [jwt-cutoff](jwt_cutoff) for [tonic] gRPC servers: "log out from all devices" for JWT bearer
//! tokens, with gRPC answers.
//!
//! This crate only translates; every check is the core's [`JwtCutoffLayer`](jwt_cutoff::JwtCutoffLayer).
//!
//! - [`GrpcJwtCutoffLayer`] guards calls. A refused call gets a trailers-only response:
//!   `UNAUTHENTICATED` (16) for a missing, malformed, invalid or revoked token, `UNAVAILABLE` (14)
//!   when the cutoff store cannot answer (fail closed), never `PERMISSION_DENIED`. The
//!   `grpc-message` is a short description of the reason, never the token.
//! - It works server-wide (`Server::builder().layer(..)`) and per service (`layer.layer(service)`
//!   keeps the service's name for `add_service`).
//! - gRPC health stays open by default, so the layer can guard a whole server behind a load
//!   balancer. Server reflection hands out the whole schema, so it needs a token like any other
//!   service (`grpcurl -H "authorization: Bearer …"` sends it on reflection calls too), unless you
//!   opt in with [`GrpcJwtCutoffLayer::unguarded_reflection`].
//! - Handlers read the verified token with [`RequestExt::verified`].
//!
//! Clients send the token as `authorization: Bearer <token>` metadata.
//!
//! # Example
//!
//! ```no_run
//! use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, NoClaims, Validator, VerifyingKey};
//! use jwt_cutoff_tonic::{GrpcJwtCutoffLayer, RequestExt as _};
//! use tonic::transport::Server;
//! use tower::Layer as _;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cutoffs = CutoffCache::new(MemoryStore::new());
//! let validator = Validator::builder()
//!     .algorithms([Algorithm::HS256])
//!     .key(VerifyingKey::hmac(b"an access secret of at least 32 bytes")?)
//!     .build(cutoffs.clone())?;
//! let layer = GrpcJwtCutoffLayer::new(validator);
//!
//! let (_health_reporter, health) = tonic_health::server::health_reporter();
//! # let my_service = health.clone();
//!
//! // Every service guarded, except health. Reflection, if added, is guarded too, unless the layer
//! // is built with `.unguarded_reflection()`.
//! Server::builder()
//!     .layer(layer.clone())
//!     .add_service(health.clone())
//!     .add_service(my_service.clone())
//!     .serve("127.0.0.1:50051".parse()?)
//!     .await?;
//!
//! // Or one service guarded, the others not.
//! Server::builder()
//!     .add_service(health)
//!     .add_service(layer.layer(my_service))
//!     .serve("127.0.0.1:50052".parse()?)
//!     .await?;
//! # Ok(())
//! # }
//!
//! // In a handler: the token's subject, or UNAUTHENTICATED.
//! fn whoami<T>(request: &tonic::Request<T>) -> Result<String, tonic::Status> {
//!     Ok(request.verified::<NoClaims>()?.subject().to_owned())
//! }
//! ```
//!
//! To log a user out from all devices, call [`CutoffCache::logout_all`](jwt_cutoff::CutoffCache::logout_all)
//! (from a handler, after reading its subject): every token issued before is refused from then on.
//!
//! # Features
//!
//! `aws-lc-rs` (default) and `rust-crypto` pass the core's crypto backend features on; they are
//! additive (see the [`jwt_cutoff`] docs).
//!
//! [tonic]: https://docs.rs/tonic

mod layer;
mod request;
mod responder;

pub use layer::{
    DEFAULT_UNGUARDED_SERVICES, GrpcJwtCutoff, GrpcJwtCutoffLayer, REFLECTION_SERVICES,
    UnguardedServices,
};
pub use request::RequestExt;
pub use responder::{GrpcResponder, rejection_status};

//! Serve a tower service guarded by [`JwtCutoffLayer`](jwt_cutoff::JwtCutoffLayer) with hyper 1:
//! HTTP/1 and HTTP/2 on one port, graceful shutdown, and no body glue to write.
//!
//! This crate holds no authentication logic. The layer does all the checking; [`serve`] runs the
//! guarded service on a [`TcpListener`](tokio::net::TcpListener), and handlers read the
//! [`Verified`](jwt_cutoff::Verified) claims from `request.extensions()`.
//!
//! # Example
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use jwt_cutoff::{Algorithm, CutoffCache, JwtCutoffLayer, MemoryStore, Validator, Verified, VerifyingKey};
//! use jwt_cutoff_hyper::Incoming;
//! use tower::ServiceBuilder;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let cutoffs = CutoffCache::new(MemoryStore::new());
//!     let validator = Validator::builder()
//!         .algorithms([Algorithm::HS256])
//!         .key(VerifyingKey::hmac(b"an access secret of at least 32 bytes")?)
//!         .build(cutoffs)?;
//!     let service = ServiceBuilder::new()
//!         .layer(JwtCutoffLayer::new(validator))
//!         .service_fn(|request: Request<Incoming>| async move {
//!             let subject = request.extensions().get::<Verified>().map(Verified::subject);
//!             let body = Full::new(Bytes::from(format!("hello {}", subject.unwrap_or_default())));
//!             Ok::<_, Infallible>(Response::new(body))
//!         });
//!
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     jwt_cutoff_hyper::serve(listener, service)
//!         .with_graceful_shutdown(async {
//!             let _ = tokio::signal::ctrl_c().await;
//!         })
//!         .await;
//!     Ok(())
//! }
//! ```
//!
//! # Body types
//!
//! Requests reach the service as `Request<`[`Incoming`]`>`, hyper's body type, which the layer
//! passes through untouched. Responses may use any [`http_body::Body`] whose error converts into
//! a [`BoxError`], but the layer answers refused requests itself, with an empty body made by
//! [`Default`]: so with the default responder, the response body type must implement `Default`.
//!
//! - `Full<Bytes>`, `Empty<Bytes>` (from `http-body-util`) and `String` do: return them as they are.
//! - A body that streams, or different body types on different paths: return
//!   `Response<`[`BoxBody`]`>` and wrap each body with [`boxed`].
//! - Or give the layer your own [`Responder`](jwt_cutoff::Responder): any closure
//!   `Fn(&Rejection) -> Response<B>` is one, so refusals can use your body type and your wording.
//!
//! # Serving
//!
//! One port speaks HTTP/1.1 and HTTP/2 (prior knowledge, as gRPC and `h2c` clients use it). Each
//! connection runs on its own tokio task, with its own clone of the service; an error on one
//! connection is logged (`tracing`, debug level) and touches no other, and an accept error
//! (such as running out of file descriptors) is logged and retried after a pause, never fatal.
//! hyper's own limits still come first: HTTP/1 requests whose headers outgrow its read buffer
//! (about 400 KB) get 431, and HTTP/2 header lists far beyond 16 KiB close the connection with
//! `GOAWAY`, before the layer's own cap on token size (8 KiB by default) is reached.
//! TLS is not handled here: terminate it in front, or accept TLS connections yourself and use
//! `hyper-util` directly.

mod body;
mod serve;

pub use body::{BoxBody, BoxError, boxed};
pub use hyper::body::Incoming;
pub use serve::{Serve, ServeFuture, WithGracefulShutdown, serve};

/// The core crate, re-exported so its version always matches this one.
pub use jwt_cutoff;

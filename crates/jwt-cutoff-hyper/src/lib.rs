//! Put [`JwtCutoffLayer`] in front of a hyper 1 service, served by hyper-util's own builder and
//! graceful shutdown.
//!
//! The layer does all the checking; this crate only closes the gap between hyper and tower.
//! hyper 1 services (such as [`hyper::service::service_fn`]) are not tower services, and the
//! layer's default refusals need a response body with [`Default`], which streaming bodies lack.
//! [`guard`] takes the layer and a hyper service and returns a hyper service, a [`Guarded`], that
//! hyper-util's [`auto::Builder`] serves as it is. Requests with a valid token reach the handler
//! with a [`Verified`](jwt_cutoff::Verified) in `request.extensions()`; refused ones never do.
//!
//! - [`guard`]: the layer in front of a hyper service, as a hyper service.
//! - [`Handler`]: the hyper-to-tower half of it, to put other tower layers around the handler too.
//! - [`ResponseBody`]: the handler's body or the layer's empty refusal body, so the handler may
//!   answer with any [`http_body::Body`].
//!
//! The accept loop, HTTP/1 and HTTP/2 on one port, and graceful shutdown are hyper-util's; the
//! example below is the whole server.
//!
//! # Example
//!
//! ```no_run
//! use std::convert::Infallible;
//! use std::pin::pin;
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use hyper::body::Incoming;
//! use hyper::service::service_fn;
//! use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
//! use hyper_util::server::conn::auto::Builder;
//! use hyper_util::server::graceful::GracefulShutdown;
//! use jwt_cutoff::{Algorithm, CutoffCache, JwtCutoffLayer, MemoryStore, Validator, Verified, VerifyingKey};
//! use tokio::net::TcpListener;
//!
//! /// Reached only with a valid token: the layer put it in the request extensions.
//! async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     let subject = request.extensions().get::<Verified>().map_or("", Verified::subject);
//!     Ok(Response::new(Full::from(format!("hello {subject}\n"))))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let validator = Validator::builder()
//!         .algorithms([Algorithm::HS256])
//!         .key(VerifyingKey::hmac(b"an access secret of at least 32 bytes")?)
//!         .build(CutoffCache::new(MemoryStore::new()))?;
//!     let service = jwt_cutoff_hyper::guard(JwtCutoffLayer::new(validator), service_fn(hello));
//!
//!     // HTTP/1 and HTTP/2 (prior knowledge, as h2c and gRPC clients use it) on one port. The timer
//!     // puts HTTP/1's 30 s header read timeout in force.
//!     let mut builder = Builder::new(TokioExecutor::new());
//!     builder.http1().timer(TokioTimer::new());
//!     builder.http2().timer(TokioTimer::new());
//!     let graceful = GracefulShutdown::new();
//!     let listener = TcpListener::bind("127.0.0.1:3000").await?;
//!     let mut ctrl_c = pin!(tokio::signal::ctrl_c());
//!
//!     loop {
//!         let stream = tokio::select! {
//!             accepted = listener.accept() => match accepted {
//!                 Ok((stream, _remote)) => stream,
//!                 Err(error) => {
//!                     // Such as running out of file descriptors: pause rather than spin.
//!                     eprintln!("accept failed: {error}");
//!                     tokio::time::sleep(Duration::from_secs(1)).await;
//!                     continue;
//!                 }
//!             },
//!             _ = ctrl_c.as_mut() => break,
//!         };
//!         let _ = stream.set_nodelay(true);
//!         // Each connection gets a clone of the guarded service and its own task.
//!         let connection = builder
//!             .serve_connection_with_upgrades(TokioIo::new(stream), service.clone())
//!             .into_owned();
//!         let connection = graceful.watch(connection);
//!         tokio::spawn(async move {
//!             if let Err(error) = connection.await {
//!                 eprintln!("connection failed: {error}");
//!             }
//!         });
//!     }
//!
//!     // New connections are refused from here on; open ones finish their in-flight requests and
//!     // close (HTTP/1 `Connection: close`, HTTP/2 `GOAWAY`). Whatever is still open at the
//!     // deadline is closed when `main` returns and the runtime drops its tasks.
//!     drop(listener);
//!     tokio::select! {
//!         () = graceful.shutdown() => {}
//!         () = tokio::time::sleep(Duration::from_secs(30)) => eprintln!("shutdown timed out"),
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # A tower service instead
//!
//! A handler that is a tower service already (`tower::service_fn`, a `ServiceBuilder` stack)
//! needs nothing from this crate: `TowerToHyperService::new(JwtCutoffLayer::new(validator).layer(service))`
//! is what hyper-util serves, provided its response body implements `Default` (`Full<Bytes>`,
//! `Empty<Bytes>`, `String` and http-body-util's `BoxBody` do) or the layer has a
//! [`Responder`](jwt_cutoff::Responder) that writes the handler's body type.
//!
//! # Limits
//!
//! hyper's own limits come before the layer's: HTTP/1 requests whose headers outgrow its read
//! buffer (about 400 KB) get 431, and HTTP/2 header lists far beyond 16 KiB close the connection
//! with `GOAWAY`, before the layer's cap on token size (8 KiB by default) is reached. TLS is not
//! handled here: terminate it in front, or wrap the accepted stream (say with `tokio-rustls`)
//! before handing it to the builder.
//!
//! [`auto::Builder`]: https://docs.rs/hyper-util/0.1/hyper_util/server/conn/auto/struct.Builder.html

mod body;
mod handler;

use hyper_util::service::TowerToHyperService;
use jwt_cutoff::{JwtCutoff, JwtCutoffLayer, NoClaims, Rfc6750Responder};
use tower_layer::Layer as _;

pub use body::ResponseBody;
pub use handler::{Handler, HandlerFuture};

/// The core crate, re-exported so its version always matches this one.
pub use jwt_cutoff;

/// A hyper service `S` behind [`JwtCutoffLayer`], as a hyper service: what [`guard`] returns
/// and hyper-util's builder serves. Its responses have a [`ResponseBody`].
pub type Guarded<S, C = NoClaims, R = Rfc6750Responder> =
    TowerToHyperService<JwtCutoff<Handler<S>, C, R>>;

/// Puts `layer` in front of the hyper service `service` (such as a
/// [`service_fn`](hyper::service::service_fn)), and returns a hyper service for
/// `serve_connection` of hyper-util's builder (clone it for each connection).
///
/// The handler may answer with any body: responses come out as [`ResponseBody`], whose default
/// is the empty body of a refusal. See the [crate docs](crate) for a complete server.
pub fn guard<S, C, R: Clone>(layer: JwtCutoffLayer<C, R>, service: S) -> Guarded<S, C, R> {
    TowerToHyperService::new(layer.layer(Handler::new(service)))
}

//! The accept loop of the hyper example, the one in the `jwt-cutoff-hyper` crate docs: kept apart
//! from `main` so that the socket tests (`tests/hyper`) serve their app with this very loop.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

/// The errors of a service or body that hyper-util serves: anything it can box.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves `service` on `listener`, HTTP/1 and HTTP/2 (prior knowledge) on one port, until
/// `shutdown` completes; then refuses new connections and waits `drain` at most for the requests
/// in flight. Connections still open after that are closed when the caller's runtime drops them.
pub async fn serve<S, B>(listener: TcpListener, service: S, shutdown: impl Future, drain: Duration)
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    // hyper-util's builder speaks HTTP/1 and HTTP/2 on one port; the timer puts HTTP/1's header
    // read timeout in force.
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _remote)) => stream,
                Err(error) => {
                    // Such as running out of file descriptors: pause rather than spin.
                    eprintln!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            _ = shutdown.as_mut() => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service.clone())
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                eprintln!("connection failed: {error}");
            }
        });
    }

    // New connections are refused from here on; requests in flight are answered first.
    println!("shutting down");
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(drain) => eprintln!("shutdown timed out"),
    }
}

//! [`serve`]: the connection loop. Accept, hand each connection to hyper (HTTP/1 or HTTP/2, told
//! apart by its first bytes), and on shutdown stop accepting, then drain.

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_service::Service;

use crate::body::BoxError;

/// How long the loop pauses after an accept error such as "too many open files", so the process
/// can close some before it tries again.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `service` on `listener`, HTTP/1 and HTTP/2 on the same port.
///
/// Each connection gets a clone of `service`; each request is a `Request<`[`Incoming`]`>`. The
/// returned [`Serve`] does nothing until awaited; it then runs forever. Call
/// [`with_graceful_shutdown`](Serve::with_graceful_shutdown) to stop it.
///
/// hyper's defaults apply, with a timer so the HTTP/1 header read timeout (30 s) is in force.
/// Accept errors never end the loop: connection resets are skipped, other errors (such as running
/// out of file descriptors) are logged and the loop pauses for a second. Errors on one connection
/// are logged at debug level and affect no other. Dropping the running future closes every
/// connection it accepted.
///
/// See the [crate docs](crate) for a complete example.
pub fn serve<S, B>(listener: TcpListener, service: S) -> Serve<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    Serve { listener, service }
}

/// A server that runs until the process ends; made by [`serve`]. Await it to run it.
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve<S> {
    listener: TcpListener,
    service: S,
}

impl<S> Serve<S> {
    /// Stops the server when `signal` completes: it stops accepting connections at once (new ones
    /// are refused), asks open connections to close once their in-flight requests are answered
    /// (HTTP/1 `Connection: close`, HTTP/2 `GOAWAY`), and resolves when every connection has
    /// closed, or at the [`shutdown_timeout`](WithGracefulShutdown::shutdown_timeout) if one is set.
    ///
    /// ```no_run
    /// # use std::convert::Infallible;
    /// # use http::{Request, Response};
    /// # use http_body_util::Empty;
    /// # use bytes::Bytes;
    /// # use jwt_cutoff_hyper::Incoming;
    /// # #[tokio::main]
    /// # async fn main() -> std::io::Result<()> {
    /// # let service = tower::service_fn(|_: Request<Incoming>| async {
    /// #     Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    /// # });
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// jwt_cutoff_hyper::serve(listener, service)
    ///     .with_graceful_shutdown(async {
    ///         let _ = tokio::signal::ctrl_c().await;
    ///     })
    ///     .shutdown_timeout(std::time::Duration::from_secs(30))
    ///     .await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_graceful_shutdown<F>(self, signal: F) -> WithGracefulShutdown<S, F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        WithGracefulShutdown {
            listener: self.listener,
            service: self.service,
            signal,
            timeout: None,
        }
    }

    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl<S> fmt::Debug for Serve<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl<S, B> IntoFuture for Serve<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Output = Infallible;
    type IntoFuture = ServeFuture<Infallible>;

    fn into_future(self) -> Self::IntoFuture {
        let never = std::future::pending::<Infallible>();
        ServeFuture(Box::pin(run(self.listener, self.service, never, None)))
    }
}

/// A server that stops gracefully when a signal completes; made by
/// [`Serve::with_graceful_shutdown`]. Await it to run it.
#[must_use = "a server does nothing until it is awaited"]
pub struct WithGracefulShutdown<S, F> {
    listener: TcpListener,
    service: S,
    signal: F,
    timeout: Option<Duration>,
}

impl<S, F> WithGracefulShutdown<S, F> {
    /// Bounds the drain: connections still open `timeout` after the signal are closed, and the
    /// server resolves. Without it, the server waits for every in-flight request, however long.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl<S, F> fmt::Debug for WithGracefulShutdown<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithGracefulShutdown")
            .field("listener", &self.listener)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<S, B, F> IntoFuture for WithGracefulShutdown<S, F>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    F: Future<Output = ()> + Send + 'static,
{
    type Output = ();
    type IntoFuture = ServeFuture<()>;

    fn into_future(self) -> Self::IntoFuture {
        ServeFuture(Box::pin(run(
            self.listener,
            self.service,
            self.signal,
            self.timeout,
        )))
    }
}

/// The future of a running server: what awaiting [`Serve`] or [`WithGracefulShutdown`] polls.
///
/// It is `Send`, so it can be handed to `tokio::spawn`.
#[must_use = "futures do nothing unless polled"]
pub struct ServeFuture<T>(Pin<Box<dyn Future<Output = T> + Send>>);

impl<T> Future for ServeFuture<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.0.as_mut().poll(cx)
    }
}

impl<T> fmt::Debug for ServeFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeFuture").finish_non_exhaustive()
    }
}

/// Accepts until `signal` completes, then drains and returns the signal's output.
async fn run<S, B, F>(
    listener: TcpListener,
    service: S,
    signal: F,
    timeout: Option<Duration>,
) -> F::Output
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    F: Future,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    // Every connection task holds a receiver; a send closes them all at the shutdown deadline.
    let (close, closed) = watch::channel(());

    let mut signal = pin!(signal);
    let output = loop {
        tokio::select! {
            biased;
            output = signal.as_mut() => break output,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let watcher = graceful.watcher();
                    spawn_connection(&builder, stream, remote, service.clone(), watcher, closed.clone());
                }
                Err(error) if is_connection_error(&error) => {
                    tracing::debug!(%error, "jwt-cutoff-hyper: a connection failed while being accepted");
                }
                Err(error) => {
                    tracing::error!(%error, "jwt-cutoff-hyper: accept failed; pausing");
                    tokio::select! {
                        biased;
                        output = signal.as_mut() => break output,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    }
                }
            },
        }
    };

    // New connections are refused from here on.
    drop(listener);
    drop(closed);
    tracing::debug!(
        connections = graceful.count(),
        "jwt-cutoff-hyper: shutting down; draining connections"
    );
    let drained = graceful.shutdown();
    match timeout {
        None => drained.await,
        Some(timeout) => {
            if tokio::time::timeout(timeout, drained).await.is_err() {
                tracing::warn!(
                    connections = close.receiver_count(),
                    "jwt-cutoff-hyper: shutdown timeout reached; closing the remaining connections"
                );
                // Ignored error: no receiver left means every connection has closed already.
                let _ = close.send(());
                close.closed().await;
            }
        }
    }
    output
}

/// Serves one connection on its own task, until it ends, drains, or is closed at the deadline.
fn spawn_connection<S, B>(
    builder: &Builder<TokioExecutor>,
    stream: TcpStream,
    remote: SocketAddr,
    service: S,
    watcher: Watcher,
    mut closed: watch::Receiver<()>,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    if let Err(error) = stream.set_nodelay(true) {
        tracing::trace!(%remote, %error, "jwt-cutoff-hyper: could not set TCP_NODELAY");
    }
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
        .into_owned();
    tokio::spawn(async move {
        tokio::select! {
            result = watcher.watch(connection) => {
                if let Err(error) = result {
                    tracing::debug!(%remote, %error, "jwt-cutoff-hyper: connection ended with an error");
                }
            }
            _ = closed.changed() => {
                tracing::debug!(%remote, "jwt-cutoff-hyper: connection closed at the shutdown timeout");
            }
        }
    });
}

/// Errors that concern only the connection being accepted; the next accept may go ahead at once.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_per_connection_accept_errors_skip_the_pause() {
        assert!(is_connection_error(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
        assert!(is_connection_error(&io::Error::from(
            io::ErrorKind::ConnectionReset
        )));
        // EMFILE: the process is out of file descriptors; retrying at once would spin.
        assert!(!is_connection_error(&io::Error::from_raw_os_error(24)));
        assert!(!is_connection_error(&io::Error::other("anything else")));
    }
}

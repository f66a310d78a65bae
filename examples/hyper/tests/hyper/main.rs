//! `jwt_cutoff_hyper::guard` over a real socket, on the crate docs' accept loop (this example's own
//! `serve`; the tests live beside it, so the adapter's crate depends on nothing above it): a
//! `hyper::service::service_fn` handler served by hyper-util's auto builder with its graceful
//! shutdown, talked to by real clients (hyper-util's, over HTTP/1 and HTTP/2, and raw TCP; from
//! `jwt-cutoff-test-support`). Tokens accepted and revoked, both protocols on one port, the SPEC's
//! header cases as hyper hands them over ([`serve`]), and draining on shutdown ([`shutdown`]).
//!
//! The server ([`Running`]) runs on a thread with its own runtime, as a `main` would: when the loop
//! returns at the shutdown deadline, dropping the runtime closes the connections still open.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions (which clippy.toml already covers) fail the test this way"
)]

mod serve;
mod shutdown;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use jwt_cutoff::{CutoffCache, CutoffSource, JwtCutoffLayer, TokenIssuer, Verified};
use jwt_cutoff_test_support::{hs_issuer, hs_validator, within};
use tokio::net::TcpListener;
use tokio::sync::oneshot::error::TryRecvError;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// How long the server drains by default after the shutdown signal: generous, so it only ends
/// the drain when something is stuck.
pub(crate) const DRAIN: Duration = Duration::from_secs(20);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A server running the accept loop of the crate docs on its own thread and runtime.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    /// Completes the shutdown signal; dropping it does too.
    shutdown: Option<oneshot::Sender<()>>,
    /// Fires once the accept loop has returned and its runtime is gone.
    served: oneshot::Receiver<()>,
}

impl Running {
    /// Serves `service` on 127.0.0.1:0, as the crate docs do; after the shutdown signal, waits
    /// `deadline` at most for open connections to close.
    pub(crate) fn start<S, B>(service: S, deadline: Duration) -> Self
    where
        S: hyper::service::Service<Request<Incoming>, Response = Response<B>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, signal) = oneshot::channel::<()>();
        let (done, served) = oneshot::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                // A send or a dropped sender: either way, shut down.
                example_hyper::serve(listener, service, signal, deadline).await;
            });
            // As when `main` returns: the connections still open at the deadline are closed.
            drop(runtime);
            let _ = done.send(());
        });
        Self {
            addr,
            shutdown: Some(shutdown),
            served,
        }
    }

    /// Completes the shutdown signal.
    pub(crate) fn shut_down(&mut self) {
        self.shutdown.take().unwrap().send(()).unwrap();
    }

    /// Whether the accept loop is still running (or draining).
    pub(crate) fn is_serving(&mut self) -> bool {
        matches!(self.served.try_recv(), Err(TryRecvError::Empty))
    }

    /// Waits until the accept loop has returned and its runtime is gone.
    pub(crate) async fn served(&mut self) {
        within("the server to stop", &mut self.served)
            .await
            .unwrap();
    }
}

/// Lets a test hold `/slow` requests in the handler and release them.
#[derive(Clone)]
pub(crate) struct Gate {
    started: mpsc::UnboundedSender<()>,
    release: Arc<Semaphore>,
}

/// The guarded test app on a [`Running`] server, with the cutoffs and an issuer for its tokens.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) cutoffs: CutoffCache,
    pub(crate) issuer: TokenIssuer,
    pub(crate) running: Running,
    /// One message each time a `/slow` request reaches the handler.
    pub(crate) started: mpsc::UnboundedReceiver<()>,
    release: Arc<Semaphore>,
}

impl Server {
    pub(crate) async fn start(source: impl CutoffSource) -> Self {
        Self::start_with(source, DRAIN).await
    }

    /// Serves the guarded test app; after the shutdown signal, waits `deadline` at most.
    pub(crate) async fn start_with(source: impl CutoffSource, deadline: Duration) -> Self {
        let cutoffs = CutoffCache::new(source);
        let (started_tx, started) = mpsc::unbounded_channel();
        let release = Arc::new(Semaphore::new(0));
        let gate = Gate {
            started: started_tx,
            release: Arc::clone(&release),
        };
        let handler = service_fn(move |request| app(gate.clone(), request));
        let service = jwt_cutoff_hyper::guard(layer(cutoffs.clone()), handler);
        let running = Running::start(service, deadline);
        Self {
            addr: running.addr,
            cutoffs,
            issuer: hs_issuer(),
            running,
            started,
            release,
        }
    }

    pub(crate) fn token(&self, subject: &str) -> String {
        self.issuer.issue_access(subject, &()).unwrap().token
    }

    /// `Bearer <token>` for `subject`, as an `Authorization` value.
    pub(crate) fn bearer(&self, subject: &str) -> String {
        format!("Bearer {}", self.token(subject))
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Lets one held `/slow` request finish.
    pub(crate) fn release_one(&self) {
        self.release.add_permits(1);
    }
}

/// The layer under test, checking HS256 tokens against `cutoffs`.
pub(crate) fn layer(cutoffs: CutoffCache) -> JwtCutoffLayer {
    JwtCutoffLayer::new(hs_validator(cutoffs))
}

/// The guarded application: `/me` answers with the verified subject, `/slow` waits for the test.
async fn app(gate: Gate, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let subject = request
        .extensions()
        .get::<Verified>()
        .map(|verified| verified.subject().to_owned())
        .unwrap_or_else(|| "NO CLAIMS".to_owned());
    if request.uri().path() == "/slow" {
        let _ = gate.started.send(());
        let _permit = gate.release.acquire().await.unwrap();
        return Ok(Response::new(Full::new(Bytes::from(format!(
            "slow {subject}"
        )))));
    }
    Ok(Response::new(Full::new(Bytes::from(subject))))
}

//! A real server on 127.0.0.1:0 and real clients: hyper-util's legacy client over HTTP/1 and
//! HTTP/2, and raw TCP for bytes no client would send.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::{Future, IntoFuture as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jwt_cutoff::{
    Algorithm, CutoffCache, CutoffSource, JwtCutoffLayer, SigningKey, TokenIssuer, Validator,
    Verified, VerifyingKey,
};
use jwt_cutoff_hyper::Incoming;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tower::ServiceBuilder;

pub(crate) const SECRET: &[u8] = b"jwt-cutoff-hyper test secret: long enough for HS256";

/// A hang guard: generous, so it only ever fires when something is stuck.
pub(crate) const GUARD: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test if it hangs.
pub(crate) async fn guarded<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(GUARD, future).await {
        Ok(output) => output,
        Err(_) => panic!("hung: {what}"),
    }
}

/// Lets a test hold `/slow` requests in the handler and release them.
#[derive(Clone)]
pub(crate) struct Gate {
    started: mpsc::UnboundedSender<()>,
    release: Arc<Semaphore>,
}

pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) cutoffs: CutoffCache,
    pub(crate) issuer: TokenIssuer,
    /// Completes the shutdown signal.
    shutdown: Option<oneshot::Sender<()>>,
    /// The spawned serve future.
    pub(crate) served: JoinHandle<()>,
    /// One message each time a `/slow` request reaches the handler.
    pub(crate) started: mpsc::UnboundedReceiver<()>,
    release: Arc<Semaphore>,
}

impl Server {
    pub(crate) async fn start(source: impl CutoffSource) -> Self {
        Self::start_with(source, None).await
    }

    /// Serves the guarded test app with graceful shutdown (and `timeout`, if given).
    pub(crate) async fn start_with(source: impl CutoffSource, timeout: Option<Duration>) -> Self {
        let cutoffs = CutoffCache::new(source);
        let validator = Validator::builder()
            .algorithms([Algorithm::HS256])
            .key(VerifyingKey::hmac(SECRET).unwrap())
            .build(cutoffs.clone())
            .unwrap();
        let (started_tx, started) = mpsc::unbounded_channel();
        let release = Arc::new(Semaphore::new(0));
        let gate = Gate {
            started: started_tx,
            release: Arc::clone(&release),
        };
        let service = ServiceBuilder::new()
            .layer(JwtCutoffLayer::new(validator))
            .service_fn(move |request| app(gate.clone(), request));

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (shutdown, signal) = oneshot::channel::<()>();
        let serve = jwt_cutoff_hyper::serve(listener, service).with_graceful_shutdown(async {
            let _ = signal.await;
        });
        let serve = match timeout {
            Some(timeout) => serve.shutdown_timeout(timeout),
            None => serve,
        };
        let addr = serve.local_addr().unwrap();
        let served = tokio::spawn(serve.into_future());
        let issuer = TokenIssuer::builder(SigningKey::hmac(SECRET, Algorithm::HS256).unwrap())
            .build()
            .unwrap();
        Self {
            addr,
            cutoffs,
            issuer,
            shutdown: Some(shutdown),
            served,
            started,
            release,
        }
    }

    pub(crate) fn token(&self, subject: &str) -> String {
        self.issuer.issue_access(subject, &()).unwrap().token
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Completes the shutdown signal.
    pub(crate) fn shut_down(&mut self) {
        self.shutdown.take().unwrap().send(()).unwrap();
    }

    /// Lets one held `/slow` request finish.
    pub(crate) fn release_one(&self) {
        self.release.add_permits(1);
    }
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

pub(crate) type TestClient = Client<HttpConnector, Empty<Bytes>>;

pub(crate) fn http1_client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub(crate) fn http2_client() -> TestClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// Both clients, named, for tests that must hold over either protocol.
pub(crate) fn clients() -> [(&'static str, TestClient, Version); 2] {
    [
        ("HTTP/1.1", http1_client(), Version::HTTP_11),
        ("HTTP/2", http2_client(), Version::HTTP_2),
    ]
}

pub(crate) fn get(url: &str, authorizations: &[&str]) -> Request<Empty<Bytes>> {
    let mut builder = Request::get(url);
    for value in authorizations {
        builder = builder.header(http::header::AUTHORIZATION, *value);
    }
    builder.body(Empty::new()).unwrap()
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }
}

pub(crate) async fn send(
    client: &TestClient,
    request: Request<Empty<Bytes>>,
) -> Result<Answer, hyper_util::client::legacy::Error> {
    let response = guarded("request", client.request(request)).await?;
    let (parts, body) = response.into_parts();
    let body = guarded("response body", body.collect())
        .await
        .unwrap()
        .to_bytes();
    Ok(Answer {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    })
}

/// Writes `request` as is on a fresh TCP connection and reads until the server closes it.
/// Returns what came back, or `None` if the connection failed before any answer.
pub(crate) async fn raw(addr: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before reading everything: a failed write is fine.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    match guarded("raw read", stream.read_to_end(&mut answer)).await {
        Ok(_) => {}
        Err(_) if !answer.is_empty() => {}
        Err(_) => return None,
    }
    Some(answer)
}

/// The status code of a raw HTTP/1.1 answer.
pub(crate) fn raw_status(answer: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(answer);
    let line = text.lines().next().unwrap_or_default().to_owned();
    let code = line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .unwrap_or_else(|| panic!("not an HTTP/1.1 answer: {line:?}"));
    code.parse().unwrap()
}

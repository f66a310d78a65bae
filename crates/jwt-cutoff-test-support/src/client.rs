//! HTTP over a real socket: hyper-util's legacy client over HTTP/1 and HTTP/2, answers read whole,
//! and raw TCP for bytes no client would send.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Version, header};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::wait::within;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A client over plain TCP sending bodies of type `B` (empty ones unless said otherwise).
pub type TestClient<B = Empty<Bytes>> = Client<HttpConnector, B>;

/// An HTTP/1.1 client, keeping connections alive.
pub fn http1_client<B>() -> TestClient<B>
where
    B: http_body::Body + Send,
    B::Data: Send,
{
    Client::builder(TokioExecutor::new()).build_http()
}

/// An HTTP/2 client (prior knowledge, no upgrade).
pub fn http2_client<B>() -> TestClient<B>
where
    B: http_body::Body + Send,
    B::Data: Send,
{
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// Both clients, named, with the version their answers come in, for tests that must hold over
/// either protocol.
pub fn clients() -> [(&'static str, TestClient, Version); 2] {
    [
        ("HTTP/1.1", http1_client(), Version::HTTP_11),
        ("HTTP/2", http2_client(), Version::HTTP_2),
    ]
}

/// A GET of `url` carrying each of `authorizations` as its own `Authorization` header.
pub fn get(url: &str, authorizations: &[&str]) -> Request<Empty<Bytes>> {
    let mut builder = Request::get(url);
    for value in authorizations {
        builder = builder.header(header::AUTHORIZATION, *value);
    }
    builder.body(Empty::new()).expect("a request")
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: StatusCode,
    /// The protocol version it came in.
    pub version: Version,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, as UTF-8 text.
    pub body: String,
}

impl Answer {
    /// The status and the body, to compare with one assertion.
    pub fn outcome(&self) -> (StatusCode, &str) {
        (self.status, &self.body)
    }

    /// The header `name`, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|value| value.to_str().expect("a text header"))
    }
}

/// Sends `request` and reads the whole answer; the error if the client failed (a refused
/// connection, a reset stream). Hangs fail the test (see [`within`]).
pub async fn send<B>(
    client: &TestClient<B>,
    request: Request<B>,
) -> Result<Answer, hyper_util::client::legacy::Error>
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let response = within("the answer", client.request(request)).await?;
    let (parts, body) = response.into_parts();
    let body = within("the answer's body", body.collect())
        .await
        .expect("the body is read")
        .to_bytes();
    Ok(Answer {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).expect("a UTF-8 body"),
    })
}

/// GETs `url` with these `Authorization` headers (see [`get`]) and reads the whole answer; a client
/// error fails the test.
pub async fn fetch(client: &TestClient, url: &str, authorizations: &[&str]) -> Answer {
    send(client, get(url, authorizations))
        .await
        .unwrap_or_else(|error| panic!("GET {url}: {error:?}"))
}

/// Writes `request` as is on a fresh TCP connection and reads until the server closes it.
/// Returns what came back, or `None` if the connection failed before any answer.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may answer and close before reading everything: a failed write is fine.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    match within("the raw answer", stream.read_to_end(&mut answer)).await {
        Ok(_) => {}
        Err(_) if !answer.is_empty() => {}
        Err(_) => return None,
    }
    Some(answer)
}

/// The status code of a raw HTTP/1.1 answer.
pub fn raw_status(answer: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(answer);
    let line = text.lines().next().unwrap_or_default().to_owned();
    let code = line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .unwrap_or_else(|| panic!("not an HTTP/1.1 answer: {line:?}"));
    code.parse().expect("a status code")
}

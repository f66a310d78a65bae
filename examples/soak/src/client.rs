//! One keep-alive HTTP/1.1 connection, owned by one task: requests go out one after another, and a
//! connection that failed or was closed is replaced before the next request.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A request body.
pub(crate) type Body = Full<Bytes>;

/// A response, read to its end.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

/// One connection to the demo, reopened when it breaks.
pub(crate) struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    sender: Option<SendRequest<Body>>,
    /// How many times a connection was opened (1 when it never broke).
    pub(crate) connects: u64,
}

impl Conn {
    pub(crate) fn new(addr: SocketAddr, host: HeaderValue) -> Self {
        Self {
            addr,
            host,
            sender: None,
            connects: 0,
        }
    }

    /// Opens the connection now if there is none.
    pub(crate) async fn connect(&mut self) -> Result<(), String> {
        if self
            .sender
            .as_ref()
            .is_some_and(|sender| !sender.is_closed())
        {
            return Ok(());
        }
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|error| format!("connect: {error}"))?;
        stream
            .set_nodelay(true)
            .map_err(|error| format!("nodelay: {error}"))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| format!("handshake: {error}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        self.sender = Some(sender);
        self.connects += 1;
        Ok(())
    }

    /// `GET path` with these `Authorization` headers (none, one or several).
    pub(crate) async fn get(
        &mut self,
        path: &str,
        authorization: &[HeaderValue],
        timeout: Duration,
    ) -> Result<Answer, String> {
        let request = self.request(Method::GET, path, authorization, Bytes::new())?;
        self.send(request, timeout).await
    }

    /// `POST path` with a JSON body and these `Authorization` headers.
    pub(crate) async fn post(
        &mut self,
        path: &str,
        authorization: &[HeaderValue],
        body: Bytes,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let request = self.request(Method::POST, path, authorization, body)?;
        self.send(request, timeout).await
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        authorization: &[HeaderValue],
        body: Bytes,
    ) -> Result<Request<Body>, String> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone());
        if !body.is_empty() {
            builder = builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        for value in authorization {
            builder = builder.header(AUTHORIZATION, value.clone());
        }
        builder
            .body(Full::new(body))
            .map_err(|error| format!("request: {error}"))
    }

    async fn send(&mut self, request: Request<Body>, timeout: Duration) -> Result<Answer, String> {
        let result = tokio::time::timeout(timeout, self.exchange(request))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")));
        if result.is_err() {
            // Whatever state it is in, do not reuse it.
            self.sender = None;
        }
        result
    }

    async fn exchange(&mut self, request: Request<Body>) -> Result<Answer, String> {
        self.connect().await?;
        let Some(sender) = self.sender.as_mut() else {
            return Err("no connection".to_owned());
        };
        sender
            .ready()
            .await
            .map_err(|error| format!("ready: {error}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| format!("send: {error}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| format!("body: {error}"))?
            .to_bytes();
        Ok(Answer { status, body })
    }
}

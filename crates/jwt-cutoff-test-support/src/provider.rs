//! A fake OpenID provider on a real socket: it serves a discovery document and a JWK set over
//! HTTP/1 on 127.0.0.1, counts the fetches, and misbehaves on demand (an error status, garbage,
//! an oversized document, an answer that never comes, or no server at all).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use jwt_cutoff::{JwkSet, SigningKey};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Where the fake serves its JWK set.
pub const JWKS_PATH: &str = "/jwks.json";

/// How the fake answers requests for its documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// The documents, `200 OK`.
    Serve,
    /// This status, with an empty body.
    Status(u16),
    /// `200 OK` with a body that is not JSON.
    Garbage,
    /// `200 OK` with a body of this many bytes.
    Oversized(usize),
    /// The headers never come.
    Hang,
}

#[derive(Debug)]
struct Provider {
    issuer: String,
    /// The `issuer` the discovery document names (a lying provider names another).
    claimed_issuer: String,
    jwks: String,
    behaviour: Behaviour,
    jwks_fetches: usize,
    discovery_fetches: usize,
}

/// A fake provider, listening until it is [stopped](Self::stop) or dropped.
#[derive(Debug)]
pub struct FakeProvider {
    addr: SocketAddr,
    state: Arc<Mutex<Provider>>,
    server: JoinHandle<()>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeProvider {
    /// Starts one on a free port, serving an empty key set.
    pub async fn start() -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts one on `addr` (the address of one [stopped](Self::stop) before: a provider coming
    /// back), serving an empty key set.
    pub async fn start_on(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind the address");
        let addr = listener.local_addr().expect("a local address");
        let issuer = format!("http://{addr}");
        let state = Arc::new(Mutex::new(Provider {
            claimed_issuer: issuer.clone(),
            issuer,
            jwks: r#"{"keys":[]}"#.to_owned(),
            behaviour: Behaviour::Serve,
            jwks_fetches: 0,
            discovery_fetches: 0,
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route(JWKS_PATH, get(jwks))
            .with_state(Arc::clone(&state));
        let server = tokio::spawn(serve(listener, app));
        Self {
            addr,
            state,
            server,
        }
    }

    fn state(&self) -> MutexGuard<'_, Provider> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its issuer identifier, `http://127.0.0.1:PORT`.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of its JWK set.
    pub fn jwks_uri(&self) -> String {
        format!("http://{}{JWKS_PATH}", self.addr)
    }

    /// Publishes the public halves of `keys`.
    pub fn publish(&self, keys: &[&SigningKey]) {
        let document = JwkSet::document(keys.iter().copied()).expect("asymmetric keys");
        self.set_jwks(document);
    }

    /// Serves `document` as its JWK set, byte for byte.
    pub fn set_jwks(&self, document: impl Into<String>) {
        self.state().jwks = document.into();
    }

    /// Makes its discovery document name `issuer` instead of its own.
    pub fn claim_issuer(&self, issuer: impl Into<String>) {
        self.state().claimed_issuer = issuer.into();
    }

    /// How it answers from now on.
    pub fn behave(&self, behaviour: Behaviour) {
        self.state().behaviour = behaviour;
    }

    /// How many times its JWK set was asked for.
    pub fn jwks_fetches(&self) -> usize {
        self.state().jwks_fetches
    }

    /// How many times its discovery document was asked for.
    pub fn discovery_fetches(&self) -> usize {
        self.state().discovery_fetches
    }

    /// Stops: its open connections are closed and connections to its port are refused from now
    /// on.
    pub async fn stop(mut self) {
        self.server.abort();
        let _ = (&mut self.server).await;
    }
}

/// Serves each connection in a task of a set this task owns, so that aborting it closes them all
/// (kept-alive connections included: a stopped provider answers nothing).
async fn serve(listener: TcpListener, app: Router) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        connections.spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

type Shared = State<Arc<Mutex<Provider>>>;

async fn discovery(State(state): Shared) -> Response {
    let (behaviour, document) = {
        let mut provider = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        provider.discovery_fetches += 1;
        let document = serde_json::json!({
            "issuer": provider.claimed_issuer,
            "jwks_uri": format!("{}{JWKS_PATH}", provider.issuer),
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
        });
        (provider.behaviour, document.to_string())
    };
    answer(behaviour, document).await
}

async fn jwks(State(state): Shared) -> Response {
    let (behaviour, document) = {
        let mut provider = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        provider.jwks_fetches += 1;
        (provider.behaviour, provider.jwks.clone())
    };
    answer(behaviour, document).await
}

async fn answer(behaviour: Behaviour, document: String) -> Response {
    let json = [(header::CONTENT_TYPE, "application/json")];
    match behaviour {
        Behaviour::Serve => (json, document).into_response(),
        Behaviour::Status(status) => StatusCode::from_u16(status)
            .expect("a valid status")
            .into_response(),
        Behaviour::Garbage => (json, "<html>502 Bad Gateway</html>").into_response(),
        Behaviour::Oversized(bytes) => (json, Body::from(vec![b' '; bytes])).into_response(),
        Behaviour::Hang => match std::future::pending::<Infallible>().await {},
    }
}

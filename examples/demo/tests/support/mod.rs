//! Runs the real `jwt-cutoff-demo` binary on free ports and talks to it over HTTP and gRPC.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jwt_cutoff_redis::redis;
use jwt_cutoff_test_support::grpc::with_bearer;
pub use jwt_cutoff_test_support::skip;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// The gRPC client generated from `proto/demo.proto` by `build.rs`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/client/jwtcutoff.demo.v1.rs"));
}

pub const BINARY: &str = env!("CARGO_BIN_EXE_jwt-cutoff-demo");

/// Every variable the demo reads, removed so the caller's environment cannot leak in.
const DEMO_VARIABLES: &[&str] = &[
    "JWT_CUTOFF_DEMO_HTTP",
    "JWT_CUTOFF_DEMO_GRPC",
    "JWT_CUTOFF_DEMO_DATABASE",
    "JWT_CUTOFF_DEMO_CUTOFF_STORE",
    "JWT_CUTOFF_DEMO_REDIS_PREFIX",
    "JWT_CUTOFF_DEMO_ACCESS_TTL",
    "JWT_CUTOFF_DEMO_REFRESH_TTL",
    "JWT_CUTOFF_DEMO_CACHE_TTL",
    "JWT_CUTOFF_DEMO_ACCESS_SECRET",
    "JWT_CUTOFF_DEMO_REFRESH_SECRET",
    "JWT_CUTOFF_DEMO_REFRESH_REUSE_GRACE",
    "JWT_CUTOFF_DEMO_OIDC_ISSUER",
    "JWT_CUTOFF_DEMO_AUDIENCE",
    "JWT_CUTOFF_DEMO_CLIENT_ID",
    "JWT_CUTOFF_DEMO_JWKS_COOLDOWN",
    "JWT_CUTOFF_DEMO_JWKS_REFRESH",
    "JWT_CUTOFF_DEMO_ISSUER",
    "JWT_CUTOFF_DEMO_SIGNING_ALG",
];

/// The demo's command with a clean environment, run in `dir`.
pub fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BINARY);
    command.current_dir(dir).args(args);
    for variable in DEMO_VARIABLES {
        command.env_remove(variable);
    }
    command.envs(env.iter().copied());
    command
}

/// A running demo; killed when dropped.
pub struct Demo {
    child: Child,
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    pub http: Http,
}

impl Demo {
    /// Starts the demo on free ports with `args` (add `--database`), waits for its listening line.
    pub async fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_on(dir, "127.0.0.1:0", args, env).await
    }

    /// [`start`](Self::start) with HTTP on `http` (an address known before it starts: its
    /// `--issuer` URL, say).
    pub async fn start_on(dir: &Path, http: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut all = vec!["--http", http, "--grpc", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut child = command(dir, &all, env)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the demo binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the demo prints its listening line within 60 s")
            .expect("stdout is readable")
            .expect("the demo printed a line before exiting");
        let (http_addr, grpc_addr) = parse_listening(&line);
        // Keep draining stdout so the demo never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            http_addr,
            grpc_addr,
            http: Http::new(http_addr),
        }
    }

    /// Sends SIGTERM and waits for the exit code (a graceful shutdown exits with 0).
    pub async fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().expect("the demo is running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the demo stops within 20 s of SIGTERM")
            .expect("wait works");
        status.code()
    }

    pub async fn grpc(&self) -> pb::account_client::AccountClient<tonic::transport::Channel> {
        pb::account_client::AccountClient::new(self.channel().await)
    }

    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.grpc_addr))
            .expect("a valid endpoint")
            .connect()
            .await
            .expect("gRPC connects")
    }
}

/// `listening http=ADDR grpc=ADDR` → the two addresses.
pub fn parse_listening(line: &str) -> (SocketAddr, SocketAddr) {
    let rest = line
        .strip_prefix("listening http=")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    let (http, grpc) = rest
        .split_once(" grpc=")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    (http.parse().unwrap(), grpc.parse().unwrap())
}

/// A small JSON-over-HTTP/1 client with keep-alive.
#[derive(Clone)]
pub struct Http {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// One answer: status, headers and the body (parsed as JSON, `Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            base: format!("http://{addr}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        self.send_with(method, path, token, body, &[]).await
    }

    /// [`send`](Self::send) with more headers.
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .expect("the demo answers within 30 s")
            .expect("the request goes through");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    /// A GET that may fail to connect (a server still starting): `None` then.
    pub async fn try_get(&self, path: &str) -> Option<Answer> {
        let request = Request::get(format!("{}{path}", self.base))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(5), self.client.request(request))
            .await
            .ok()?
            .ok()?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.ok()?.to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Some(Answer {
            status,
            headers,
            text,
            json,
        })
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.send(Method::POST, path, token, Some(&body.to_string()))
            .await
    }

    pub async fn signup(&self, username: &str, password: &str) -> Answer {
        let body = serde_json::json!({ "username": username, "password": password });
        self.post("/auth/signup", None, &body).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Answer {
        let body = serde_json::json!({ "username": username, "password": password });
        self.post("/auth/login", None, &body).await
    }

    /// Logs in from a device that says it is `user_agent`, and returns the pair; panics unless it
    /// worked.
    pub async fn pair_from(&self, username: &str, password: &str, user_agent: &str) -> Pair {
        let body = serde_json::json!({ "username": username, "password": password }).to_string();
        let headers = [("user-agent", user_agent)];
        let answer = self
            .send_with(Method::POST, "/auth/login", None, Some(&body), &headers)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "login: {}", answer.text);
        Pair::from_json(&answer.json)
    }

    pub async fn sessions(&self, token: &str) -> Answer {
        self.get("/api/sessions", Some(token)).await
    }

    pub async fn delete_session(&self, token: &str, id: &str) -> Answer {
        self.send(
            Method::DELETE,
            &format!("/api/sessions/{id}"),
            Some(token),
            None,
        )
        .await
    }

    pub async fn logout(&self, token: &str) -> Answer {
        self.send(Method::POST, "/auth/logout", Some(token), None)
            .await
    }

    pub async fn logout_others(&self, token: &str) -> Answer {
        self.send(Method::POST, "/auth/logout-others", Some(token), None)
            .await
    }

    /// Logs in and returns the pair; panics unless it worked.
    pub async fn pair(&self, username: &str, password: &str) -> Pair {
        let answer = self.login(username, password).await;
        assert_eq!(answer.status, StatusCode::OK, "login: {}", answer.text);
        Pair::from_json(&answer.json)
    }

    pub async fn refresh(&self, refresh_token: &str) -> Answer {
        let body = serde_json::json!({ "refresh_token": refresh_token });
        self.post("/auth/refresh", None, &body).await
    }

    pub async fn me(&self, token: &str) -> Answer {
        self.get("/api/me", Some(token)).await
    }

    /// Posts `logout_token` as a provider does, form-encoded, to `/backchannel-logout`.
    pub async fn backchannel_logout(&self, logout_token: &str) -> Answer {
        let body = format!("logout_token={logout_token}");
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        self.send_with(
            Method::POST,
            "/backchannel-logout",
            None,
            Some(&body),
            &headers,
        )
        .await
    }

    pub async fn logout_all(&self, token: &str) -> Answer {
        self.send(Method::POST, "/auth/logout-all", Some(token), None)
            .await
    }
}

/// An access and a refresh token.
#[derive(Clone, Debug)]
pub struct Pair {
    pub access: String,
    pub refresh: String,
    pub session_id: String,
}

impl Pair {
    pub fn from_json(json: &Value) -> Self {
        Self {
            access: json["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh: json["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_owned(),
            session_id: json["session_id"].as_str().expect("session_id").to_owned(),
        }
    }
}

/// A gRPC request carrying `token`.
pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    with_bearer(message, Some(token))
}

pub async fn who_am_i(demo: &Demo, token: &str) -> Result<pb::WhoAmIResponse, tonic::Status> {
    demo.grpc()
        .await
        .who_am_i(with_token(pb::WhoAmIRequest {}, token))
        .await
        .map(tonic::Response::into_inner)
}

/// The assertion that a refusal is a JSON `{"error", "error_description"}` with this status.
pub fn assert_refused(answer: &Answer, status: StatusCode, error: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.json["error"], error, "{}", answer.text);
    assert!(
        answer.json["error_description"].is_string(),
        "{}",
        answer.text
    );
    assert_eq!(
        answer.headers.get("content-type"),
        Some(&HeaderValue::from_static("application/json")),
    );
}

/// A random lower-case hex string, for unique names.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).unwrap();
    buffer.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A database of its own on the test PostgreSQL server (`JWT_CUTOFF_TEST_POSTGRES_URL`), so that
/// parallel runs never share tables; [`remove`](Self::remove) drops it.
pub struct ScratchDatabase {
    admin: sqlx::PgPool,
    name: String,
    /// The URL of the new database.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates one named `{prefix}_{random}`; `None`, after [`skip`], when no server answers.
    pub async fn create(prefix: &str) -> Option<Self> {
        let admin_url = std::env::var("JWT_CUTOFF_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let connect = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&admin_url);
        let admin = connect_or_skip(&format!("PostgreSQL at {admin_url}"), connect).await?;
        let name = format!("{prefix}_{}", random_hex(8));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let url = with_database(&admin_url, &name);
        Some(Self { admin, name, url })
    }

    /// Runs `body` to completion, drops the database (whatever `body` did), then fails as `body`
    /// did, if it did.
    pub async fn run(self, body: impl Future<Output = ()> + Send + 'static) {
        let outcome = run_to_completion(body).await;
        self.remove().await;
        outcome.finish();
    }

    /// Drops the database, whatever is still connected to it.
    pub async fn remove(self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&self.admin)
        .await
        .unwrap();
    }
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |at| authority_start + at);
    let mut result = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

/// A key prefix of its own on the test Redis server (`JWT_CUTOFF_TEST_REDIS_URL`), so that
/// parallel runs never share keys; [`remove`](Self::remove) deletes what was stored under it.
pub struct ScratchRedis {
    connection: redis::aio::MultiplexedConnection,
    /// The server's URL.
    pub url: String,
    /// The prefix, for `--redis-prefix`.
    pub prefix: String,
}

impl ScratchRedis {
    /// Connects to the test Redis; `None`, after [`skip`], when no server answers.
    pub async fn create() -> Option<Self> {
        let url = std::env::var("JWT_CUTOFF_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let what = format!("Redis at {url}");
        let client = match redis::Client::open(url.as_str()) {
            Ok(client) => client,
            Err(error) => {
                skip(&format!("{what}: {error}"));
                return None;
            }
        };
        let connection = connect_or_skip(&what, client.get_multiplexed_async_connection()).await?;
        let prefix = format!("jwt-cutoff-demo-test:{}:", random_hex(8));
        Some(Self {
            connection,
            url,
            prefix,
        })
    }

    /// The demo's arguments that keep its cutoffs under this prefix.
    pub fn cutoff_store_args(&self) -> [String; 4] {
        [
            "--cutoff-store".to_owned(),
            self.url.clone(),
            "--redis-prefix".to_owned(),
            self.prefix.clone(),
        ]
    }

    /// Runs `body` to completion, deletes the keys under the prefix (whatever `body` did), then
    /// fails as `body` did, if it did; returns how many keys there were.
    pub async fn run(self, body: impl Future<Output = ()> + Send + 'static) -> usize {
        let outcome = run_to_completion(body).await;
        let stored = self.remove().await;
        outcome.finish();
        stored
    }

    /// Deletes every key under the prefix; returns how many there were.
    async fn remove(mut self) -> usize {
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut self.connection)
            .await
            .unwrap();
        let stored = keys.len();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut self.connection)
                .await
                .unwrap();
        }
        stored
    }
}

/// The outcome of a test body, run as a task so that cleanup happens even when it panics.
struct Outcome(Result<(), tokio::task::JoinError>);

impl Outcome {
    /// Panics as the body did, if it did.
    fn finish(self) {
        if let Err(error) = self.0 {
            std::panic::resume_unwind(error.into_panic());
        }
    }
}

/// Runs `body` to completion as a task; [`Outcome::finish`] after the cleanup.
async fn run_to_completion(body: impl Future<Output = ()> + Send + 'static) -> Outcome {
    Outcome(tokio::spawn(body).await)
}

/// Awaits `connect` for 5 s at most; `None`, after [`skip`] naming `what`, if it fails or hangs.
async fn connect_or_skip<T, E: std::fmt::Display>(
    what: &str,
    connect: impl Future<Output = Result<T, E>>,
) -> Option<T> {
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(connection)) => Some(connection),
        Ok(Err(error)) => {
            skip(&format!("{what}: {error}"));
            None
        }
        Err(_) => {
            skip(&format!("{what}: no answer in 5 s"));
            None
        }
    }
}

/// The URL of the SQLite database `file` in `dir`.
pub fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}", dir.join(file).display())
}

/// The operator CLI `jwt-cutoff`, beside the demo's binary: `cargo test --workspace` builds both.
/// Where it is missing (`cargo test -p jwt-cutoff-demo` on a fresh target directory) it is built
/// here, once. Only a missing binary is built: building the CLI package alone would resolve other
/// features and rebuild the shared crates a second time.
pub fn cli_binary() -> &'static Path {
    static CLI: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    CLI.get_or_init(|| {
        let binary =
            Path::new(BINARY).with_file_name(format!("jwt-cutoff{}", std::env::consts::EXE_SUFFIX));
        if !binary.exists() {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = std::process::Command::new(cargo);
            build.args([
                "build",
                "--locked",
                "-p",
                "jwt-cutoff-cli",
                "--bin",
                "jwt-cutoff",
            ]);
            let profile = binary.parent().and_then(Path::file_name);
            if profile.is_some_and(|name| name == "release") {
                build.arg("--release");
            }
            let status = build.status().expect("cargo runs");
            assert!(status.success(), "cargo build -p jwt-cutoff-cli failed");
        }
        binary
    })
}

/// A 127.0.0.1 address nothing listens on now.
pub fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

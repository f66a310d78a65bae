//! `jwt-cutoff-demo`: "log out from all devices" for JWTs, over HTTP, gRPC and a web page, in one
//! process.
//!
//! Run `cargo run --release -p jwt-cutoff-demo` and open <http://127.0.0.1:8080>. `--help` lists
//! the flags; each can also be set with an environment variable `JWT_CUTOFF_DEMO_<FLAG>`.
//!
//! Where to read:
//! - `config.rs`: flags and their checks;
//! - `db.rs`, `users.rs`: the database, users and password hashes;
//! - `auth.rs`: the jwt-cutoff part: the cutoff store, the cache, validators and issuer;
//! - `http.rs`, `grpc.rs`, `page.rs`: the three faces, all behind that one cache.

use std::io::Write as _;
use std::process::ExitCode;

use tokio::net::TcpListener;
use tokio::sync::watch;

mod auth;
mod config;
mod db;
mod grpc;
mod http;
mod page;
mod sessions;
mod users;

use auth::Auth;
use config::Config;
use db::Database;

#[tokio::main]
async fn main() -> ExitCode {
    // jwt-cutoff's warnings (a store that fails, a push channel that drops) on stderr; stdout
    // carries the one line scripts wait for.
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .with_writer(std::io::stderr)
        .try_init();
    let config = Config::from_env_or_exit();
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message.replace('\n', " "));
            ExitCode::from(failure.code)
        }
    }
}

async fn run(config: Config) -> Result<(), Failure> {
    let database = Database::open(&config.database).await?;
    let (auth, push) = Auth::start(&config, &database).await?;
    let app = http::App {
        auth: auth.clone(),
        database: database.clone(),
        dummy_hash: users::dummy_hash().await.map_err(Failure::runtime)?.into(),
    };

    let http_listener = bind(config.http).await?;
    let grpc_listener = bind(config.grpc).await?;
    let local = |listener: &TcpListener| {
        listener
            .local_addr()
            .map_err(|error| Failure::runtime(error.to_string()))
    };
    // The one line scripts and tests wait for.
    println!(
        "listening http={} grpc={}",
        local(&http_listener)?,
        local(&grpc_listener)?
    );
    let _ = std::io::stdout().flush();

    let stop = shutdown_signal();
    let http = async {
        axum::serve(http_listener, http::router(app))
            .with_graceful_shutdown(stopped(stop.clone()))
            .await
            .map_err(|error| error.to_string())
    };
    let grpc = grpc::serve(grpc_listener, &auth, stopped(stop.clone()));
    let (http, grpc) = tokio::join!(http, grpc);

    if let Some(push) = push {
        push.stop();
    }
    database.close().await;
    http.map_err(|error| Failure::runtime(format!("http: {error}")))?;
    grpc.map_err(|error| Failure::runtime(format!("grpc: {error}")))
}

async fn bind(address: std::net::SocketAddr) -> Result<TcpListener, Failure> {
    TcpListener::bind(address)
        .await
        .map_err(|error| Failure::runtime(format!("cannot listen on {address}: {error}")))
}

/// Flips to `true` on Ctrl-C or SIGTERM; both servers then stop taking connections and finish
/// the requests in flight.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            () = terminate => {}
        }
        let _ = sender.send(true);
    });
    receiver
}

async fn stopped(mut receiver: watch::Receiver<bool>) {
    let _ = receiver.wait_for(|stop| *stop).await;
}

/// Why the demo could not start or stopped: a one-line message and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    /// A mistake in the flags or environment: exit code 2, like the command-line parser's own.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }

    /// Anything else (a server that cannot be reached, a port in use): exit code 1.
    pub(crate) fn runtime(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }
}

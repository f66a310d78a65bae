//! Shared by the Redis test files: where Redis is (skipping through the test-support crate when it
//! is not there), unique key prefixes, a cuttable TCP proxy and Redis servers the tests start
//! themselves.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use jwt_cutoff::CutoffCache;
use jwt_cutoff_redis::{RedisStore, RedisStoreBuilder};
use jwt_cutoff_test_support::{eventually, skip, unique_id};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;

pub const MINUTES: Duration = Duration::from_secs(600);

/// The Redis the tests talk to.
pub fn redis_url() -> String {
    std::env::var("JWT_CUTOFF_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The test Redis URL if a server answers there; otherwise skips (see [`skip`]) and gives `None`.
pub async fn redis() -> Option<String> {
    let url = redis_url();
    if ping(&url).await {
        Some(url)
    } else {
        skip(&format!(
            "Redis not reachable at {url} (set JWT_CUTOFF_TEST_REDIS_URL)"
        ));
        None
    }
}

async fn ping(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let attempt = async {
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Ok(pong)) if pong == "PONG"
    )
}

/// A name no other test (or run) uses, for key prefixes and channels.
pub fn unique(test: &str) -> String {
    format!("jwt-cutoff-test:{test}:{}:", unique_id())
}

/// One test's keys on the test Redis: a prefix of its own, under which
/// [`clean_up`](Self::clean_up) deletes everything the test wrote.
pub struct TestKeys {
    pub url: String,
    pub prefix: String,
}

impl TestKeys {
    /// A fresh prefix for `test` on the test Redis; `None` when there is no test Redis (see
    /// [`redis`]).
    pub async fn new(test: &str) -> Option<Self> {
        Some(Self {
            url: redis().await?,
            prefix: unique(test),
        })
    }

    /// [`new`](Self::new), and a store under the prefix.
    pub async fn with_store(test: &str) -> Option<(Self, RedisStore)> {
        let keys = Self::new(test).await?;
        let store = keys.store().await;
        Some((keys, store))
    }

    /// Another store under the prefix, on a connection of its own.
    pub async fn store(&self) -> RedisStore {
        store(&self.url, &self.prefix).await
    }

    /// A proxy in front of the test Redis, and a builder of a store under the prefix that talks to
    /// Redis through it, commands and pub/sub alike.
    pub async fn behind_proxy(&self) -> (Proxy, RedisStoreBuilder) {
        let proxy = Proxy::start(address(&self.url)).await;
        let client = redis::Client::open(redirect(&self.url, proxy.addr)).unwrap();
        let builder = RedisStore::builder(client).key_prefix(&self.prefix);
        (proxy, builder)
    }

    /// Deletes every key under the prefix.
    pub async fn clean_up(self) {
        clean_up(&self.url, &self.prefix).await;
    }
}

/// A store on `url` with its own key prefix (and so its own channel).
pub async fn store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::builder(redis::Client::open(url).unwrap())
        .key_prefix(prefix)
        .connect()
        .await
        .unwrap()
}

/// A raw connection, to look at what the store wrote.
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Deletes every key under `prefix` (the tests' prefixes hold no glob characters).
pub async fn clean_up(url: &str, prefix: &str) {
    let mut connection = raw(url).await;
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    if !keys.is_empty() {
        let () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut connection)
            .await
            .unwrap();
    }
}

/// An instance's cache: both TTLs are minutes, so only push (or a reconnect) explains a change.
pub fn instance(store: &RedisStore) -> CutoffCache {
    CutoffCache::builder(store.clone())
        .time_to_live(MINUTES)
        .time_to_live_with_push(MINUTES)
        .build()
}

/// Host and port of a `redis://` URL.
pub fn address(url: &str) -> SocketAddr {
    let authority = authority(url);
    let host_port = authority.rsplit('@').next().unwrap();
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    };
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port.parse().unwrap()
}

/// `url` with its host and port replaced by `to` (credentials and database kept).
pub fn redirect(url: &str, to: SocketAddr) -> String {
    let authority = authority(url);
    let replaced = match authority.rsplit_once('@') {
        Some((credentials, _)) => format!("{credentials}@{to}"),
        None => to.to_string(),
    };
    url.replacen(authority, &replaced, 1)
}

fn authority(url: &str) -> &str {
    let rest = url.split_once("://").unwrap().1;
    rest.split('/').next().unwrap()
}

/// What a [`Proxy`] does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Forwards bytes both ways.
    Open,
    /// Drops every connection, and closes new ones at once (a refused connection).
    Cut,
    /// Keeps every connection open but forwards nothing, and accepts new ones that never answer (a
    /// silent network partition). Leaving this state drops the frozen connections.
    Frozen,
}

/// A TCP proxy in front of a server, which the test can cut, freeze and restore.
pub struct Proxy {
    pub addr: SocketAddr,
    link: watch::Sender<Link>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let link = watch::Sender::new(Link::Open);
        let state = link.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let mut link = state.subscribe();
                let now = *link.borrow_and_update();
                match now {
                    Link::Cut => drop(client),
                    Link::Frozen => {
                        tokio::spawn(async move {
                            let _ = link.wait_for(|link| *link != Link::Frozen).await;
                            drop(client);
                        });
                    }
                    Link::Open => {
                        tokio::spawn(async move {
                            let Ok(mut server) = TcpStream::connect(target).await else {
                                return;
                            };
                            let _ = client.set_nodelay(true);
                            let _ = server.set_nodelay(true);
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
                                _ = link.wait_for(|link| *link != Link::Open) => {}
                            }
                            if *link.borrow() == Link::Frozen {
                                let _ = link.wait_for(|link| *link != Link::Frozen).await;
                            }
                            // Both sockets are dropped here: the client sees its connection close.
                        });
                    }
                }
            }
        });
        Self { addr, link, task }
    }

    pub fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.link.send_replace(Link::Cut);
        self.task.abort();
    }
}

/// A `redis-server` child process on a fixed port, killed with the test.
pub struct Server {
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

/// Whether `redis-server` can be started here; skips (see [`skip`]) when not.
pub fn redis_server_installed() -> bool {
    let found = std::process::Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        skip("redis-server is not installed, so the test cannot start its own Redis");
    }
    found
}

impl Server {
    /// Starts `redis-server` on a free port with `args` (persistence settings and such), in `dir`.
    pub async fn start(dir: &Path, args: &[&str]) -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let mut args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        args.extend(
            [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "no",
                "--dir",
                dir.to_str().unwrap(),
                "--logfile",
                "redis.log",
            ]
            .map(str::to_owned),
        );
        let mut server = Self {
            port,
            args,
            child: None,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `kill -9`: no shutdown, no final save.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// Starts the server again on the same port and waits until it answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is still running");
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let url = self.url();
        eventually(
            "the test's redis-server answers",
            Duration::from_secs(10),
            async || ping(&url).await,
        )
        .await;
    }
}

/// An empty directory of its own under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(test: &str) -> Self {
        let name = unique(test).replace(':', "-");
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

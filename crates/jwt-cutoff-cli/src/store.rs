//! The store a `--store` URL names, opened with the stores' table or key prefix.

use std::path::Path;
use std::time::Duration;

use jwt_cutoff_redis::RedisStore;
use jwt_cutoff_sqlx::{PostgresStore, SqliteStore};
use jwt_cutoff_store::{CutoffChange, CutoffSource, PushChannel as _, PushSubscription as _};

/// Where the cutoffs are, as `--store` and its options name them; checked before anything is
/// opened.
#[derive(Debug)]
pub(crate) enum StoreUrl {
    /// `sqlite://PATH`: a file that must exist (it is never created).
    Sqlite {
        url: String,
        path: String,
    },
    Postgres(String),
    Redis(String),
}

/// The options that shape a store beside its URL.
#[derive(Debug)]
pub(crate) struct StoreOptions {
    /// The SQL stores' table (`--table`).
    pub(crate) table: String,
    /// The Redis store's key prefix (`--key-prefix`).
    pub(crate) key_prefix: String,
    /// How long one store call may take.
    pub(crate) timeout: Duration,
}

impl StoreUrl {
    /// The store `url` names, or the usage error to print.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(format!("--store: {url:?} names no file: sqlite://PATH"));
            }
            return Ok(Self::Sqlite {
                url: url.to_owned(),
                path: path.to_owned(),
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if url.starts_with("redis://") {
            return Ok(Self::Redis(url.to_owned()));
        }
        Err(format!(
            "--store: {url:?} is not a sqlite://PATH, postgres://… or redis://… URL"
        ))
    }

    /// Opens the store, without creating anything in it.
    pub(crate) async fn open(&self, options: &StoreOptions) -> Result<Store, String> {
        match self {
            Self::Sqlite { url, path } => {
                if !Path::new(path).is_file() {
                    return Err(format!("no SQLite database at {path:?}"));
                }
                let store = SqliteStore::builder()
                    .table(options.table.as_str())
                    .create_tables(false)
                    .connect(url)
                    .await
                    .map_err(|error| format!("cannot open the SQLite store: {error}"))?;
                Ok(Store::Sqlite(store))
            }
            Self::Postgres(url) => {
                let store = PostgresStore::builder()
                    .table(options.table.as_str())
                    .create_tables(false)
                    .connect(url)
                    .await
                    .map_err(|error| format!("cannot reach the PostgreSQL store: {error}"))?;
                Ok(Store::Postgres(store))
            }
            Self::Redis(url) => {
                let client = jwt_cutoff_redis::redis::Client::open(url.as_str())
                    .map_err(|error| format!("--store: {error}"))?;
                let store = RedisStore::builder(client)
                    .key_prefix(options.key_prefix.as_str())
                    .timeout(options.timeout)
                    .connect()
                    .await
                    .map_err(|error| format!("cannot reach the Redis store: {error}"))?;
                Ok(Store::Redis(store))
            }
        }
    }
}

/// An open store.
pub(crate) enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
    Redis(RedisStore),
}

impl Store {
    /// The store's cutoffs, to read and raise.
    pub(crate) fn source(&self) -> &dyn CutoffSource {
        match self {
            Self::Sqlite(store) => store,
            Self::Postgres(store) => store,
            Self::Redis(store) => store,
        }
    }

    /// Calls `each` with every change the store pushes, until it answers `false` or the channel
    /// fails; an error at once when the store does not push.
    pub(crate) async fn watch(
        &self,
        mut each: impl FnMut(CutoffChange) -> bool,
    ) -> Result<(), String> {
        let failed = |error: jwt_cutoff_store::SourceError| format!("push channel: {error}");
        match self {
            Self::Sqlite(_) => Err(
                "a SQLite store does not push its changes: nothing to watch \
                                    (PostgreSQL and Redis stores do)"
                    .to_owned(),
            ),
            Self::Postgres(store) => {
                let mut changes = store.push_channel().subscribe().await.map_err(failed)?;
                while each(changes.next_change().await.map_err(failed)?) {}
                Ok(())
            }
            Self::Redis(store) => {
                let mut changes = store.subscribe().await.map_err(failed)?;
                while each(changes.next_change().await.map_err(failed)?) {}
                Ok(())
            }
        }
    }
}

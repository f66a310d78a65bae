//! [`SqliteStore`]: cutoffs in a SQLite file. What is SQLite's own: its column types, how it
//! opens a file (WAL, busy timeout) or a database in memory, and no push.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jwt_cutoff_store::{BoxFuture, CutoffChange};
use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use crate::dialect::Dialect;
use crate::{Error, SqlStore, SqlStoreBuilder};

/// Cutoffs in a SQLite database: the embedded default, a file and no server.
///
/// [`connect`](SqlStore::connect) opens (and creates) the file in WAL mode with a 5 s busy timeout
/// and `synchronous = FULL`, so a stored logout survives a crash or power loss, readers never
/// block the writer, and concurrent writers, from this process or another one sharing the file,
/// wait their turn. Every write is one atomic upsert that keeps the later cutoff, so racing writers
/// never move a cutoff back. See the [crate docs](crate#schema) for the schema.
///
/// SQLite has no push. When several processes share one file, each sees the others' changes at the
/// latest one cache [TTL](jwt_cutoff_store::CutoffCacheBuilder::time_to_live) later; changes
/// written through a process's own [`CutoffCache`](jwt_cutoff_store::CutoffCache) are in force
/// there at once. For several instances on several machines use
/// [`PostgresStore`](crate::PostgresStore).
///
/// With [`known_subjects`](SqlStoreBuilder::known_subjects) it is authoritative about which
/// subjects exist: one without a row in your users table is
/// [refused](jwt_cutoff_store::Cutoff::Refused).
///
/// Clones share one pool.
pub type SqliteStore = SqlStore<Sqlite>;

/// Configures a [`SqliteStore`]; made by [`SqliteStore::builder`](SqlStore::builder).
pub type SqliteStoreBuilder = SqlStoreBuilder<Sqlite>;

/// How long a writer waits for another connection's write lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite has no push: a store announces nothing.
#[derive(Clone, Copy)]
pub struct NoPush;

impl fmt::Debug for NoPush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("none (SQLite has no push)")
    }
}

impl Dialect for Sqlite {
    const SCHEMA_PREFIX: bool = false;
    const MICROS_TYPE: &'static str = "INTEGER";
    const ID_TYPE: &'static str = "INTEGER";
    const SUBJECTS_TABLE_OPTIONS: &'static str = " WITHOUT ROWID";

    type Channel = NoPush;

    fn channel(_configured: Option<&str>, _table: &str) -> Result<NoPush, Error> {
        Ok(NoPush)
    }

    fn connect(url: &str) -> BoxFuture<'_, Result<SqlitePool, sqlx::Error>> {
        Box::pin(async move {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .busy_timeout(BUSY_TIMEOUT)
                .synchronous(SqliteSynchronous::Full);
            if is_in_memory(url) {
                // An in-memory database lives as long as one of its connections: keep exactly one
                // open for good (several would also contend for shared-cache table locks).
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(options)
                    .await
            } else {
                SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options.journal_mode(SqliteJournalMode::Wal))
                    .await
            }
        })
    }

    fn announce<'a>(
        _channel: &'a NoPush,
        _transaction: &'a mut SqliteConnection,
        _change: &'a CutoffChange,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

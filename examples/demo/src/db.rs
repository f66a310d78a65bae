//! The database: SQLite (embedded, the default) or PostgreSQL. It holds the users, the generated
//! token secrets and, unless `--cutoff-store` says otherwise, the cutoffs (in the tables of
//! `jwt-cutoff-sqlx`, on the same pool). The users table also decides who exists: a token whose
//! `sub` has no row in it is refused (see `auth.rs`).

use std::str::FromStr as _;
use std::time::Duration;

use jwt_cutoff_sqlx::SqliteStore;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::SqlitePool;

use crate::Failure;
use crate::config::DatabaseUrl;

/// How long a request for a pooled PostgreSQL connection waits.
const WAIT: Duration = Duration::from_secs(5);

/// The users table and its id column (the tokens' `sub`), as [`SCHEMA`] creates them: the cutoff
/// lookups refuse a subject with no row there.
pub(crate) const USERS_TABLE: &str = "demo_users";
pub(crate) const USER_ID_COLUMN: &str = "id";

/// The demo's own tables, created when missing.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS demo_users (
    id            TEXT NOT NULL PRIMARY KEY, -- random; the tokens' `sub`
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL              -- argon2id, PHC string
);
CREATE TABLE IF NOT EXISTS demo_sessions (
    id            TEXT NOT NULL PRIMARY KEY, -- the tokens' `sid`
    user_id       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,           -- the login, microseconds since the epoch
    last_used_at  BIGINT NOT NULL,           -- the last login or refresh
    expires_at    BIGINT NOT NULL,           -- when its newest refresh token expires
    user_agent    TEXT NOT NULL              -- as sent at the login
);
CREATE INDEX IF NOT EXISTS demo_sessions_user ON demo_sessions (user_id);
CREATE INDEX IF NOT EXISTS demo_sessions_expiry ON demo_sessions (expires_at);
CREATE TABLE IF NOT EXISTS demo_secrets (
    name  TEXT NOT NULL PRIMARY KEY,         -- 'access' or 'refresh'
    value TEXT NOT NULL                      -- HS256 key, generated at first start
);
";

/// A pool on one of the two databases. Statements are written once, with `$1` placeholders, which
/// both understand; [`on_pool!`] runs one on whichever pool this is.
#[derive(Clone, Debug)]
pub(crate) enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the database's pool, whichever kind it is.
macro_rules! on_pool {
    ($database:expr, |$pool:ident| $body:expr) => {
        match $database {
            $crate::db::Database::Sqlite($pool) => $body,
            $crate::db::Database::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl Database {
    /// Opens the database (creating a missing SQLite file) and its tables. The users table exists
    /// once this returns, so the cutoff lookups that check it can run.
    ///
    /// A URL that cannot be parsed is a usage error; a server that cannot be reached is not.
    pub(crate) async fn open(url: &DatabaseUrl) -> Result<Self, Failure> {
        let unreachable = |error: sqlx::Error| Failure::runtime(format!("database: {error}"));
        let database = match url {
            DatabaseUrl::Sqlite(url) => {
                // Opened as the cutoff store opens it (WAL, busy timeout, one connection kept for a
                // database in memory): users, secrets and cutoffs share the pool.
                let pool = SqliteStore::open_pool(url)
                    .await
                    .map_err(|error| match error {
                        jwt_cutoff_sqlx::Error::Database(sqlx::Error::Configuration(_)) => {
                            Failure::usage(format!("--database: {error}"))
                        }
                        error => Failure::runtime(format!("database: {error}")),
                    })?;
                Self::Sqlite(pool)
            }
            DatabaseUrl::Postgres(url) => {
                let options = PgConnectOptions::from_str(url)
                    .map_err(|error| Failure::usage(format!("--database: {error}")))?;
                let pool = PgPoolOptions::new()
                    .max_connections(10)
                    .acquire_timeout(WAIT)
                    .connect_with(options)
                    .await
                    .map_err(unreachable)?;
                Self::Postgres(pool)
            }
        };
        database.migrate().await.map_err(unreachable)?;
        Ok(database)
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(pool) => {
                sqlx::raw_sql(SCHEMA).execute(pool).await?;
            }
            Self::Postgres(pool) => {
                // Two instances starting at once would race on CREATE TABLE: take turns.
                let mut transaction = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(7366044591170541)")
                    .execute(&mut *transaction)
                    .await?;
                sqlx::raw_sql(SCHEMA).execute(&mut *transaction).await?;
                transaction.commit().await?;
            }
        }
        Ok(())
    }

    /// The secret called `name`: the one stored, or else `generated`, stored now. Two instances
    /// starting at once agree: the first insert wins and both read it back.
    pub(crate) async fn secret(&self, name: &str, generated: &str) -> Result<String, sqlx::Error> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO demo_secrets (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(generated)
            .execute(pool)
            .await?;
            sqlx::query_scalar("SELECT value FROM demo_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(pool)
                .await
        })
    }

    /// Closes the pool, waiting for the connections to finish (SQLite checkpoints its WAL).
    pub(crate) async fn close(&self) {
        on_pool!(self, |pool| pool.close().await);
    }
}

/// `len` random bytes as lower-case hex, for ids and generated secrets.
pub(crate) fn random_hex(len: usize) -> Result<String, getrandom::Error> {
    let mut bytes = vec![0; len];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

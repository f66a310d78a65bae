//! SQL cutoff stores for [jwt-cutoff](https://docs.rs/jwt-cutoff) ([`jwt_cutoff_store`]), through [sqlx]: [`SqliteStore`] and [`PostgresStore`].
//!
//! Both implement the cutoff crate's [`CutoffSource`](jwt_cutoff_store::CutoffSource), so a [`CutoffCache`] in
//! front of either one answers the layer's lookups and stores
//! [`logout_all`](jwt_cutoff_store::CutoffCache::logout_all), [`refuse`](jwt_cutoff_store::CutoffCache::refuse) and
//! [`logout_everyone`](jwt_cutoff_store::CutoffCache::logout_everyone) durably.
//!
//! They are one store, [`SqlStore`], over two databases: `SqliteStore` is `SqlStore<sqlx::Sqlite>`
//! and `PostgresStore` is `SqlStore<sqlx::Postgres>`. The builder, lookups, writes, the schema and
//! the checks of names and subjects are the same code; what differs is how each database connects,
//! its column types, and PostgreSQL's push.
//!
//! # Which one
//!
//! - **SQLite** (feature `sqlite`) is the embedded default: one file next to the service, no server
//!   to run, SQLite compiled in. It suits one instance (or a few processes on one machine sharing the
//!   file). It has no push: a change written by *another* process is seen here at the latest one
//!   [cache TTL](jwt_cutoff_store::CutoffCacheBuilder::time_to_live) later (30 s by default); changes written
//!   through this process's [`CutoffCache`] are in force here at once.
//! - **PostgreSQL** (feature `postgres`) is for several instances behind a load balancer. Every
//!   write sends a `NOTIFY` in the same transaction, and each instance that
//!   [follows](jwt_cutoff_store::CutoffCache::follow) [`PostgresStore::push_channel`] applies it within
//!   milliseconds, so the cache TTL can be minutes. When the listening connection drops, the core
//!   clears the cache, falls back to the plain TTL and reconnects with backoff; on reconnect it
//!   clears the cache again, so nothing missed while disconnected survives.
//!
//! # Features
//!
//! - `sqlite` (default): [`SqliteStore`], with SQLite compiled in (no system library needed).
//! - `postgres` (default): [`PostgresStore`] and its push channel.
//!
//! # Example
//!
//! ```
//! use jwt_cutoff::{Algorithm, CutoffCache, SigningKey, TokenIssuer, Validator, VerifyingKey};
//! use jwt_cutoff_sqlx::SqliteStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A file in production ("sqlite://cutoffs.db"); in memory here. The table is created if missing.
//! let store = SqliteStore::connect("sqlite::memory:").await?;
//! let cutoffs = CutoffCache::new(store);
//!
//! let secret = b"an access secret of at least 32 bytes";
//! let validator = Validator::builder()
//!     .algorithms([Algorithm::HS256])
//!     .key(VerifyingKey::hmac(secret)?)
//!     .build(cutoffs.clone())?;
//! let issuer = TokenIssuer::builder(SigningKey::hmac(secret, Algorithm::HS256)?).build()?;
//!
//! let token = issuer.issue_access("alice", &())?.token;
//! assert!(validator.validate(&token).await.is_ok());
//!
//! let stored = cutoffs.logout_all("alice").await?; // the cutoff now in SQLite
//! assert!(validator.validate(&token).await.is_err());
//! assert_eq!(cutoffs.lookup("alice").await?.cutoff(), stored);
//! # Ok(())
//! # }
//! ```
//!
//! With PostgreSQL and push (needs a server, so not run here):
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use jwt_cutoff::CutoffCache;
//! use jwt_cutoff_sqlx::PostgresStore;
//!
//! let store = PostgresStore::builder()
//!     .table("auth.jwt_cutoffs") // beside your users table; the schema must exist
//!     .connect("postgres://app@db/app")
//!     .await?;
//! let cutoffs = CutoffCache::builder(store.clone())
//!     .time_to_live(Duration::from_secs(30)) // while the push channel is down
//!     .time_to_live_with_push(Duration::from_secs(600))
//!     .build();
//! let _push = cutoffs.follow(store.push_channel());
//! # Ok(())
//! # }
//! ```
//!
//! # Schema
//!
//! The store creates its three tables with `CREATE TABLE IF NOT EXISTS` when it connects (turn that
//! off with `create_tables(false)` on the builder, and run [`SqliteStore::schema`] or
//! [`PostgresStore::schema`] yourself, if the service's database role may not create tables).
//! With the default table name `jwt_cutoffs`, on PostgreSQL:
//!
//! ```sql
//! -- One row per subject that has ever been logged out or refused.
//! CREATE TABLE IF NOT EXISTS "jwt_cutoffs" (
//!     subject           TEXT    NOT NULL PRIMARY KEY,  -- the token's subject, exactly
//!     valid_from_micros BIGINT  NULL,                  -- tokens issued before this are refused
//!     refused           BOOLEAN NOT NULL DEFAULT FALSE -- every token is refused
//! );
//! -- The cutoff for everyone: at most one row, id = 1.
//! CREATE TABLE IF NOT EXISTS "jwt_cutoffs_everyone" (
//!     id                SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
//!     valid_from_micros BIGINT   NULL,
//!     refused           BOOLEAN  NOT NULL DEFAULT FALSE
//! );
//! -- One row per session with a cutoff of its own, kept for the session retention.
//! CREATE TABLE IF NOT EXISTS "jwt_cutoffs_sessions" (
//!     subject           TEXT    NOT NULL,
//!     session           TEXT    NOT NULL,              -- the tokens' `sid`
//!     valid_from_micros BIGINT  NULL,
//!     refused           BOOLEAN NOT NULL DEFAULT FALSE,
//!     keep_until_micros BIGINT  NOT NULL,              -- forgotten after this
//!     current_token     TEXT    NULL,                  -- refresh-token rotation: the current `jti`,
//!     previous_token    TEXT    NULL,                  -- the one it replaced,
//!     rotated_at_micros BIGINT  NULL,                  -- and when
//!     PRIMARY KEY (subject, session)
//! );
//! CREATE INDEX IF NOT EXISTS "jwt_cutoffs_sess_ttl" ON "jwt_cutoffs_sessions" (keep_until_micros);
//! ```
//!
//! SQLite uses the same columns (`INTEGER` for the `BIGINT`s; the subjects and sessions tables are
//! `WITHOUT ROWID`). A database made by an earlier version gains the sessions table and its index
//! the next time the store connects (or [`migrate`](SqlStore::migrate) runs); nothing else changes.
//!
//! - A row's cutoff is [`Refused`](jwt_cutoff_store::Cutoff::Refused) when `refused` is true, else
//!   [`ValidFrom`](jwt_cutoff_store::Cutoff::ValidFrom)`(valid_from_micros)` (microseconds since the Unix
//!   epoch, as [`Timestamp`](jwt_cutoff_store::Timestamp) counts them; `to_timestamp(valid_from_micros /
//!   1e6)` shows it in PostgreSQL), else (no row, or `NULL`)
//!   [`NoCutoff`](jwt_cutoff_store::Cutoff::NoCutoff). `valid_from_micros` is kept when a subject is
//!   refused, for the record.
//! - The cutoff for everyone lives in its own table, so no subject name is reserved: a subject may
//!   be any string. A lookup returns the later of the subject's cutoff and everyone's, and the
//!   subject's sessions, in one statement.
//! - A session's row ([`Scope::Session`](jwt_cutoff_store::Scope::Session)) is kept for the
//!   store's [session retention](SqlStoreBuilder::session_retention) after it was last raised (31
//!   days by default; at least the refresh-token lifetime). Lookups ignore rows past it, and every
//!   session write deletes them, through the index, in its transaction: the table holds only
//!   sessions that may still have a valid token.
//! - Refresh-token rotation ([`RefreshTokens`](jwt_cutoff_store::RefreshTokens)) keeps its record
//!   in the session's row: a spend is one conditional upsert (`ON CONFLICT ... DO UPDATE ... WHERE`
//!   the presented token is current), so of racing spends exactly one rotates, on any number of
//!   connections or instances; a spend that loses reads the row in the same transaction to tell a
//!   race within the grace window from reuse, and reuse revokes the session there too.
//! - Writes are monotonic in SQL: one `INSERT ... ON CONFLICT DO UPDATE` takes the later of the
//!   stored and the new cutoff (`refused = refused OR new`, `valid_from_micros` the greater), so
//!   racing writers, on any number of connections or instances, never move a cutoff back.
//! - The table name is configurable (`builder().table(..)`): ASCII letters, digits and `_`, not
//!   starting with a digit, with an optional `schema.` prefix on PostgreSQL; the other tables are the
//!   same name plus `_everyone` and `_sessions`, the index the name plus `_sess_ttl`. Names are quoted, so they are case-sensitive. The stores only
//!   ever raise cutoffs; to re-enable a refused subject, update or delete its row yourself (caches
//!   keep the old answer until their TTL runs out or the process restarts).
//! - A subject may have at most [`MAX_SUBJECT_BYTES`](jwt_cutoff_store::MAX_SUBJECT_BYTES) (256) bytes of UTF-8, the bound that
//!   tokens, the issuer and [`CutoffCache`] share. Both stores refuse a longer one in
//!   [`lookup`](jwt_cutoff_store::CutoffSource::lookup) and [`raise`](jwt_cutoff_store::CutoffSource::raise)
//!   with an error, before the database is asked, so nothing is written for it; they can also be
//!   used directly as a source. Within the bound every subject can be stored and, on PostgreSQL,
//!   announced: a `NOTIFY` payload holds at most 8,000 bytes, a B-tree index entry about 2,700.
//!   PostgreSQL text cannot hold NUL (`\0`): such a subject fails (closed) on PostgreSQL.
//!
//! # Known subjects
//!
//! A store that holds cutoffs only knows the subjects that were logged out or refused: any other
//! subject has no cutoff, so a token signed with your key for a user that never existed (or whose
//! row was deleted without [`refuse`](jwt_cutoff_store::CutoffCache::refuse)) passes. When the users live
//! in the same database, make the store *authoritative* about which subjects exist with
//! `known_subjects(table, column)` on either builder: a subject with no row in `table` whose
//! `column` equals it is then [`Refused`](jwt_cutoff_store::Cutoff::Refused).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use jwt_cutoff::{Cutoff, CutoffSource};
//! use jwt_cutoff_sqlx::SqliteStore;
//!
//! let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
//! sqlx::query("CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL)")
//!     .execute(&pool)
//!     .await?;
//! sqlx::query("INSERT INTO users (id, name) VALUES ('u1', 'alice')")
//!     .execute(&pool)
//!     .await?;
//! let store = SqliteStore::builder()
//!     .known_subjects("users", "id")
//!     .pool(pool)
//!     .await?;
//! assert_eq!(store.lookup("u1").await?.cutoff(), Cutoff::NoCutoff);
//! assert_eq!(store.lookup("u2").await?.cutoff(), Cutoff::Refused); // no such user
//! # Ok(())
//! # }
//! ```
//!
//! - The check is part of the lookup's single query (one more `UNION ALL` branch, `NOT EXISTS`
//!   on that table), so it costs no extra round trip.
//! - The answer is cached like any other lookup: a subject created after a lookup of it is seen
//!   once that answer expires (the cache TTL), and a deleted row refuses at the next lookup that
//!   reaches the store. No notification is sent for your table; to refuse a deleted user at once
//!   on every instance, also call [`refuse`](jwt_cutoff_store::CutoffCache::refuse).
//! - Ids should be unique (a primary key or a `UNIQUE` column, which also makes the check an index
//!   lookup) and never reused: a new user with an old id would inherit its cutoff.
//! - Names are checked like the table name. The table need not exist when the store is made, but
//!   every lookup fails (closed) until it does. On PostgreSQL the column is compared with the
//!   subject as text, so it must be `TEXT` or `VARCHAR`.
//!
//! # TLS
//!
//! This crate turns on no TLS backend in sqlx. To reach PostgreSQL over TLS, enable one in your own
//! dependency on sqlx (for example `sqlx = { version = "0.9", features = ["tls-rustls-aws-lc-rs"] }`);
//! Cargo unifies the features.
//!
//! [sqlx]: https://docs.rs/sqlx
//! [`CutoffCache`]: jwt_cutoff_store::CutoffCache

// With neither backend there is nothing to use the shared helpers.
#![cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]

use std::fmt;

use jwt_cutoff_store::SourceError;

mod dialect;
mod names;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;

#[cfg(feature = "postgres")]
pub use postgres::{
    PostgresPushChannel, PostgresStore, PostgresStoreBuilder, PostgresSubscription,
};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStore, SqliteStoreBuilder};
pub use store::{SqlStore, SqlStoreBuilder};

/// The table name used unless the builder is given another.
pub const DEFAULT_TABLE: &str = "jwt_cutoffs";

/// What the stores' constructors and [`migrate`](SqlStore::migrate) can fail with.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A table, column or channel name is not a plain identifier (see the crate docs).
    InvalidName {
        /// What the name was for: `"table"`, `"channel"`, `"known subjects table"` or
        /// `"known subjects column"`.
        what: &'static str,
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The database refused or could not be reached.
    Database(sqlx::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName { what, name, reason } => {
                write!(f, "invalid {what} name {name:?}: {reason}")
            }
            Self::Database(error) => write!(f, "database error: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidName { .. } => None,
            Self::Database(error) => Some(error),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error)
    }
}

impl From<Error> for SourceError {
    fn from(error: Error) -> Self {
        SourceError::from_error(error)
    }
}

//! What differs between SQLite and PostgreSQL, in one place: the [`Dialect`] each database
//! implements (its column types, how it connects, how it announces a write). And [`Driver`], the
//! three sqlx calls the store makes, written once for both.
//!
//! The statements themselves are the same text on both: `$1`-style parameters (which SQLite
//! reads too), and upserts in standard SQL.

use std::fmt;
use std::sync::Arc;

use jwt_cutoff_store::{BoxFuture, CutoffChange};
use sqlx::{AssertSqlSafe, Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use crate::Error;

/// A cutoff as the two columns store it: `(valid_from_micros, refused)`.
pub(crate) type Columns = (Option<i64>, bool);

/// A row of the lookup: the session it is for (`None`: the whole subject) and its cutoff.
pub(crate) type LookupRow = (Option<String>, Option<i64>, bool);

/// A session's row as a spend reads it: its cutoff's two columns, the token it last replaced, and
/// when (microseconds).
pub(crate) type RotationRow = (Option<i64>, bool, Option<String>, Option<i64>);

/// A statement parameter, bound in order. Public only as [`Driver`] is: it cannot be named
/// outside this crate.
#[derive(Clone, Copy, Debug)]
pub enum Param<'a> {
    /// A subject, a session id, a token id.
    Text(&'a str),
    /// An instant, in microseconds since the epoch.
    Micros(i64),
}

/// What a [`SqlStore`](crate::SqlStore) needs to know of its database. Implemented for
/// `sqlx::Sqlite` (feature `sqlite`) and `sqlx::Postgres` (feature `postgres`), and for nothing
/// else: the trait is public only so that it can bound the store's parameter, and cannot be named
/// outside this crate.
pub trait Dialect: Driver {
    /// Whether a table name may carry a schema (`schema.table`).
    const SCHEMA_PREFIX: bool;
    /// The column type of `valid_from_micros` (a 64-bit integer).
    const MICROS_TYPE: &'static str;
    /// The column type of the everyone table's `id`.
    const ID_TYPE: &'static str;
    /// What follows the subjects and sessions tables' column lists in their `CREATE TABLE`.
    const SUBJECTS_TABLE_OPTIONS: &'static str;

    /// Where the store announces its writes.
    type Channel: Clone + fmt::Debug + Send + Sync + 'static;

    /// The channel, checked: the builder's `configured` one, else one made from the table name.
    ///
    /// # Errors
    /// The channel name is invalid.
    fn channel(configured: Option<&str>, table: &str) -> Result<Self::Channel, Error>;

    /// Opens a pool on `url` with this database's settings.
    fn connect(url: &str) -> BoxFuture<'_, Result<Pool<Self>, sqlx::Error>>;

    /// The statements [`migrate`](crate::SqlStore::migrate) runs for the tables named `table`:
    /// `schema`, plus whatever makes it safe to run from several instances starting at once.
    fn migration(table: &str, schema: &str) -> String {
        let _ = table;
        schema.to_owned()
    }

    /// Announces a stored change inside the write's transaction, so that it goes out exactly when
    /// the write commits and never for one that rolls back.
    fn announce<'a>(
        channel: &'a Self::Channel,
        transaction: &'a mut Self::Connection,
        change: &'a CutoffChange,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;
}

/// How many rows a statement changed, whatever the database calls it.
pub trait RowsAffected {
    /// The number of rows the statement inserted, updated or deleted.
    fn changed_rows(&self) -> u64;
}

#[cfg(feature = "sqlite")]
impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn changed_rows(&self) -> u64 {
        self.rows_affected()
    }
}

#[cfg(feature = "postgres")]
impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn changed_rows(&self) -> u64 {
        self.rows_affected()
    }
}

/// The calls a store makes through sqlx, written once for any database whose driver
/// can run them.
///
/// sqlx says what a database can do through bounds on other types (`&mut Connection: Executor`,
/// `&str: Encode`, ...), and Rust does not carry bounds like those from a trait's `where` clause
/// to the code that uses the trait. So they sit on the one blanket implementation below, and the
/// store's own code needs nothing but `D: Dialect`.
pub trait Driver: Database {
    /// The rows the lookup `statement` answers, with `subject` and `now` (microseconds) bound to
    /// its parameters.
    fn fetch_rows<'a>(
        pool: &'a Pool<Self>,
        statement: &Arc<str>,
        subject: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<LookupRow>, sqlx::Error>>;

    /// Runs an upsert whose parameters are `keys` (the subject, then the session id, as far as
    /// the row has them), the two columns and, for a session's row, when it may be forgotten;
    /// reads back the columns it stored.
    fn upsert<'a>(
        connection: &'a mut Self::Connection,
        statement: &Arc<str>,
        keys: &'a [&'a str],
        columns: Columns,
        keep_until: Option<i64>,
    ) -> BoxFuture<'a, Result<Columns, sqlx::Error>>;

    /// Runs a statement with `params`; how many rows it changed.
    fn execute<'a>(
        connection: &'a mut Self::Connection,
        statement: &Arc<str>,
        params: &'a [Param<'a>],
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>>;

    /// The two columns `statement` reads with `params` bound, if a row matches.
    fn fetch_columns<'a>(
        pool: &'a Pool<Self>,
        statement: &Arc<str>,
        params: &'a [Param<'a>],
    ) -> BoxFuture<'a, Result<Option<Columns>, sqlx::Error>>;

    /// The session row a spend reads, by `subject` and `session`.
    fn fetch_rotation<'a>(
        connection: &'a mut Self::Connection,
        statement: &Arc<str>,
        subject: &'a str,
        session: &'a str,
    ) -> BoxFuture<'a, Result<Option<RotationRow>, sqlx::Error>>;

    /// Runs statements that take no parameters.
    fn run_script<'a>(
        pool: &'a Pool<Self>,
        script: &Arc<str>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;
}

impl<D> Driver for D
where
    D: Database,
    D::Arguments: IntoArguments<D>,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> i64: Encode<'q, D> + Type<D>,
    for<'q> Option<i64>: Encode<'q, D> + Type<D>,
    for<'q> bool: Encode<'q, D> + Type<D>,
    for<'r> Columns: FromRow<'r, D::Row>,
    for<'r> LookupRow: FromRow<'r, D::Row>,
    for<'r> RotationRow: FromRow<'r, D::Row>,
    D::QueryResult: RowsAffected,
{
    fn fetch_rows<'a>(
        pool: &'a Pool<Self>,
        statement: &Arc<str>,
        subject: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<LookupRow>, sqlx::Error>> {
        let query = sqlx::query_as(AssertSqlSafe(Arc::clone(statement)))
            .bind(subject)
            .bind(now);
        Box::pin(query.fetch_all(pool))
    }

    fn upsert<'a>(
        connection: &'a mut Self::Connection,
        statement: &Arc<str>,
        keys: &'a [&'a str],
        (micros, refused): Columns,
        keep_until: Option<i64>,
    ) -> BoxFuture<'a, Result<Columns, sqlx::Error>> {
        let mut query = sqlx::query_as(AssertSqlSafe(Arc::clone(statement)));
        for key in keys {
            query = query.bind(*key);
        }
        query = query.bind(micros).bind(refused);
        if let Some(keep_until) = keep_until {
            query = query.bind(keep_until);
        }
        Box::pin(query.fetch_one(connection))
    }

    fn execute<'a>(
        connection: &'a mut Self::Connection,
        statement: &Arc<str>,
        params: &'a [Param<'a>],
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        let mut query = sqlx::query(AssertSqlSafe(Arc::clone(statement)));
        for param in params {
            query = match *param {
                Param::Text(text) => query.bind(text),
                Param::Micros(micros) => query.bind(micros),
            };
        }
        Box::pin(async move { Ok(query.execute(connection).await?.changed_rows()) })
    }

    fn fetch_columns<'a>(
        pool: &'a Pool<Self>,
        statement: &Arc<str>,
        params: &'a [Param<'a>],
    ) -> BoxFuture<'a, Result<Option<Columns>, sqlx::Error>> {
        let mut query = sqlx::query_as(AssertSqlSafe(Arc::clone(statement)));
        for param in params {
            query = match *param {
                Param::Text(text) => query.bind(text),
                Param::Micros(micros) => query.bind(micros),
            };
        }
        Box::pin(query.fetch_optional(pool))
    }

    fn fetch_rotation<'a>(
        connection: &'a mut Self::Connection,
        statement: &Arc<str>,
        subject: &'a str,
        session: &'a str,
    ) -> BoxFuture<'a, Result<Option<RotationRow>, sqlx::Error>> {
        let query = sqlx::query_as(AssertSqlSafe(Arc::clone(statement)))
            .bind(subject)
            .bind(session);
        Box::pin(query.fetch_optional(connection))
    }

    fn run_script<'a>(
        pool: &'a Pool<Self>,
        script: &Arc<str>,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        let script = sqlx::raw_sql(AssertSqlSafe(Arc::clone(script)));
        Box::pin(async move {
            script.execute(pool).await?;
            Ok(())
        })
    }
}

//! [`SqliteStore`]: cutoffs in a SQLite file.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use jwt_cutoff_store::{BoxFuture, Cutoff, CutoffSource, Scope, SourceError, check_subject};
use sqlx::AssertSqlSafe;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::{
    DEFAULT_TABLE, Error, KnownSubjects, TableNames, cutoff_of_rows, from_columns,
    lookup_statement, source_error, to_columns,
};

/// How long a writer waits for another connection's write lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Cutoffs in a SQLite database: the embedded default, a file and no server.
///
/// [`connect`](Self::connect) opens (and creates) the file in WAL mode with a 5 s busy timeout and
/// `synchronous = FULL`, so a stored logout survives a crash or power loss, readers never block
/// the writer, and concurrent writers, from this process or another one sharing the file, wait
/// their turn. Every write is one atomic upsert that keeps the later cutoff, so racing writers never
/// move a cutoff back. See the [crate docs](crate#schema) for the schema.
///
/// SQLite has no push. When several processes share one file, each sees the others' changes at the
/// latest one cache [TTL](jwt_cutoff_store::CutoffCacheBuilder::time_to_live) later; changes written through
/// a process's own [`CutoffCache`](jwt_cutoff_store::CutoffCache) are in force there at once. For several
/// instances on several machines use [`PostgresStore`](crate::PostgresStore).
///
/// With [`known_subjects`](SqliteStoreBuilder::known_subjects) it is authoritative about which
/// subjects exist: one without a row in your users table is [refused](Cutoff::Refused).
///
/// Clones share one pool.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    tables: TableNames,
    known_subjects: Option<KnownSubjects>,
    statements: Arc<Statements>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.tables.name)
            .field(
                "known_subjects",
                &self.known_subjects.as_ref().map(|known| &known.name),
            )
            .finish_non_exhaustive()
    }
}

/// The SQL, made once per store (sqlx caches prepared statements by their text).
#[derive(Debug)]
struct Statements {
    schema: Arc<str>,
    lookup: Arc<str>,
    raise_subject: Arc<str>,
    raise_everyone: Arc<str>,
}

impl Statements {
    fn new(tables: &TableNames, known_subjects: Option<&KnownSubjects>) -> Self {
        let TableNames {
            subjects, everyone, ..
        } = tables;
        // The later of two nullable instants: NULL only when both are.
        let later = "max(coalesce(c.valid_from_micros, excluded.valid_from_micros), \
                     coalesce(excluded.valid_from_micros, c.valid_from_micros))";
        Self {
            schema: format!(
                "CREATE TABLE IF NOT EXISTS {subjects} (\n    \
                     subject TEXT NOT NULL PRIMARY KEY,\n    \
                     valid_from_micros INTEGER NULL,\n    \
                     refused BOOLEAN NOT NULL DEFAULT FALSE\n\
                 ) WITHOUT ROWID;\n\
                 CREATE TABLE IF NOT EXISTS {everyone} (\n    \
                     id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),\n    \
                     valid_from_micros INTEGER NULL,\n    \
                     refused BOOLEAN NOT NULL DEFAULT FALSE\n\
                 );\n"
            )
            .into(),
            lookup: lookup_statement(tables, known_subjects, "?1").into(),
            raise_subject: format!(
                "INSERT INTO {subjects} AS c (subject, valid_from_micros, refused) \
                 VALUES (?1, ?2, ?3) \
                 ON CONFLICT (subject) DO UPDATE SET \
                 valid_from_micros = {later}, refused = (c.refused OR excluded.refused) \
                 RETURNING valid_from_micros, refused"
            )
            .into(),
            raise_everyone: format!(
                "INSERT INTO {everyone} AS c (id, valid_from_micros, refused) \
                 VALUES (1, ?1, ?2) \
                 ON CONFLICT (id) DO UPDATE SET \
                 valid_from_micros = {later}, refused = (c.refused OR excluded.refused) \
                 RETURNING valid_from_micros, refused"
            )
            .into(),
        }
    }
}

/// Configures a [`SqliteStore`]; made by [`SqliteStore::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct SqliteStoreBuilder {
    table: String,
    create_tables: bool,
    known_subjects: Option<(String, String)>,
}

impl SqliteStoreBuilder {
    /// The subjects table's name (default [`DEFAULT_TABLE`]); the everyone table is this name plus
    /// `_everyone`. ASCII letters, digits and `_`, not starting with a digit; checked when the store
    /// is made.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// Whether to create the tables if they are missing (default `true`). Turn it off when the
    /// service's database user may not create tables; run [`SqliteStore::schema`] yourself then.
    pub fn create_tables(mut self, create: bool) -> Self {
        self.create_tables = create;
        self
    }

    /// Makes the store authoritative about which subjects exist: a subject with no row in `table`
    /// whose `column` equals it is [refused](Cutoff::Refused), whatever its cutoff, so a token
    /// signed with your key for a user that was deleted or never existed gets 401. The check is
    /// part of the lookup's one query, so it costs no extra round trip. Names are checked like
    /// [`table`](Self::table)'s when the store is made; the table need not exist yet, but until it
    /// does every lookup fails (closed). See the [crate docs](crate#known-subjects).
    ///
    /// The answer is cached like any other lookup: a subject created after a lookup of it is
    /// seen only once that answer expires (the cache TTL), and a deleted row refuses at the next
    /// lookup that reaches the store. Subject ids should be unique (a primary key or a `UNIQUE`
    /// column, which also makes the check an index lookup) and never reused, or a new user would
    /// inherit an old one's cutoff.
    pub fn known_subjects(mut self, table: impl Into<String>, column: impl Into<String>) -> Self {
        self.known_subjects = Some((table.into(), column.into()));
        self
    }

    /// Opens the database at `url` (`sqlite://path/to/cutoffs.db`, created if missing, or
    /// `sqlite::memory:`) in WAL mode with a busy timeout, and makes the store.
    ///
    /// # Errors
    /// A table or column name is invalid, the URL is malformed, or the database cannot be opened
    /// or its tables created.
    pub async fn connect(self, url: &str) -> Result<SqliteStore, Error> {
        let (tables, known_subjects) = self.names()?;
        let mut options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Full);
        let pool = if is_in_memory(url) {
            // An in-memory database lives as long as one of its connections: keep exactly one open
            // for good (several would also contend for shared-cache table locks).
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?
        } else {
            options = options.journal_mode(SqliteJournalMode::Wal);
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await?
        };
        self.finish(pool, tables, known_subjects).await
    }

    /// Makes the store on a pool you already have (sharing the service's database file).
    ///
    /// The pool's own settings are kept: open it with a busy timeout (sqlx's default is 5 s) and
    /// preferably in WAL mode (`SqliteConnectOptions::journal_mode`), so that writers from several
    /// connections or processes wait for each other instead of failing.
    ///
    /// # Errors
    /// A table or column name is invalid, or the tables cannot be created.
    pub async fn pool(self, pool: SqlitePool) -> Result<SqliteStore, Error> {
        let (tables, known_subjects) = self.names()?;
        self.finish(pool, tables, known_subjects).await
    }

    fn names(&self) -> Result<(TableNames, Option<KnownSubjects>), Error> {
        Ok((
            TableNames::new(&self.table, false)?,
            KnownSubjects::new(self.known_subjects.as_ref(), false)?,
        ))
    }

    async fn finish(
        self,
        pool: SqlitePool,
        tables: TableNames,
        known_subjects: Option<KnownSubjects>,
    ) -> Result<SqliteStore, Error> {
        let store = SqliteStore {
            statements: Arc::new(Statements::new(&tables, known_subjects.as_ref())),
            pool,
            tables,
            known_subjects,
        };
        if self.create_tables {
            store.migrate().await?;
        }
        Ok(store)
    }
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

impl SqliteStore {
    /// Opens the database at `url` with the default table name; see [`SqliteStoreBuilder::connect`].
    ///
    /// # Errors
    /// The URL is malformed, or the database cannot be opened or its tables created.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::builder().connect(url).await
    }

    /// Makes the store on a pool you already have, with the default table name; see
    /// [`SqliteStoreBuilder::pool`].
    ///
    /// # Errors
    /// The tables cannot be created.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self, Error> {
        Self::builder().pool(pool).await
    }

    /// Configures a store: table name, whether to create the tables, known subjects.
    pub fn builder() -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            table: DEFAULT_TABLE.to_owned(),
            create_tables: true,
            known_subjects: None,
        }
    }

    /// Creates the tables if they are missing (the constructors do this unless told not to).
    ///
    /// # Errors
    /// The database refused.
    pub async fn migrate(&self) -> Result<(), Error> {
        sqlx::raw_sql(AssertSqlSafe(Arc::clone(&self.statements.schema)))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The `CREATE TABLE IF NOT EXISTS` statements [`migrate`](Self::migrate) runs, to run yourself.
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.statements.schema
    }

    /// The pool the store uses.
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The subjects table's name, as configured.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.tables.name
    }
}

/// Subjects longer than [`MAX_SUBJECT_BYTES`](jwt_cutoff_store::MAX_SUBJECT_BYTES) are refused with an
/// error before the database is asked, in lookups and writes alike.
impl CutoffSource for SqliteStore {
    fn lookup<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        Box::pin(async move {
            check_subject(subject)?;
            let rows: Vec<(Option<i64>, bool)> =
                sqlx::query_as(AssertSqlSafe(Arc::clone(&self.statements.lookup)))
                    .bind(subject)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(source_error)?;
            Ok(cutoff_of_rows(rows))
        })
    }

    fn raise<'a>(
        &'a self,
        scope: Scope<'a>,
        to: Cutoff,
    ) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        Box::pin(async move {
            if let Scope::Subject(subject) = scope {
                check_subject(subject)?;
            }
            let (micros, refused) = to_columns(to);
            let (micros, refused): (Option<i64>, bool) = match scope {
                Scope::Subject(subject) => {
                    sqlx::query_as(AssertSqlSafe(Arc::clone(&self.statements.raise_subject)))
                        .bind(subject)
                        .bind(micros)
                        .bind(refused)
                        .fetch_one(&self.pool)
                        .await
                }
                Scope::Everyone => {
                    sqlx::query_as(AssertSqlSafe(Arc::clone(&self.statements.raise_everyone)))
                        .bind(micros)
                        .bind(refused)
                        .fetch_one(&self.pool)
                        .await
                }
            }
            .map_err(source_error)?;
            Ok(from_columns(micros, refused))
        })
    }
}

//! [`SqlStore`]: cutoffs in a SQL database, the same code for SQLite and PostgreSQL; what differs
//! between them is their [`Dialect`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use jwt_cutoff_store::{
    BoxFuture, Cutoff, CutoffChange, CutoffFuture, CutoffSource, DEFAULT_SESSION_RETENTION,
    LookupFuture, RefreshTokens, Scope, SourceError, Spend, Spent, SubjectCutoffs, Timestamp,
    check_scope, check_spend, check_subject,
};
use sqlx::Pool;

use crate::dialect::{Columns, Dialect, LookupRow, Param};
use crate::names::{KnownSubjects, TableNames};
use crate::{DEFAULT_TABLE, Error};

/// Cutoffs in a SQL database through sqlx: [`SqliteStore`](crate::SqliteStore) is
/// `SqlStore<sqlx::Sqlite>` and [`PostgresStore`](crate::PostgresStore) is
/// `SqlStore<sqlx::Postgres>`; see those for what each database adds.
///
/// Every write is one atomic upsert that keeps the later cutoff, so racing writers, on any number
/// of connections or instances, never move a cutoff back; PostgreSQL also announces it in the same
/// transaction. See the [crate docs](crate#schema) for the schema.
///
/// With [`known_subjects`](SqlStoreBuilder::known_subjects) it is authoritative about which
/// subjects exist: one without a row in your users table is [refused](Cutoff::Refused).
///
/// Subjects longer than [`MAX_SUBJECT_BYTES`](jwt_cutoff_store::MAX_SUBJECT_BYTES) are refused
/// with an error before the database is asked, in lookups and writes alike, so nothing is written
/// for them and every subject stored can also be announced.
///
/// Clones share one pool.
pub struct SqlStore<D: Dialect> {
    pool: Pool<D>,
    settings: Arc<Settings<D>>,
}

/// What a store was made with, checked, and the SQL made from it once.
struct Settings<D: Dialect> {
    tables: TableNames,
    known_subjects: Option<KnownSubjects>,
    channel: D::Channel,
    session_retention: Duration,
    statements: Statements,
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            settings: Arc::clone(&self.settings),
        }
    }
}

impl<D: Dialect> fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.settings;
        f.debug_struct("SqlStore")
            .field("database", &D::NAME)
            .field("table", &settings.tables.name)
            .field(
                "known_subjects",
                &settings.known_subjects.as_ref().map(|known| &known.name),
            )
            .field("channel", &settings.channel)
            .finish_non_exhaustive()
    }
}

/// The SQL, made once per store (sqlx caches prepared statements by their text).
#[derive(Debug)]
struct Statements {
    schema: Arc<str>,
    migration: Arc<str>,
    lookup: Arc<str>,
    raise_subject: Arc<str>,
    raise_everyone: Arc<str>,
    raise_session: Arc<str>,
    stored_subject: Arc<str>,
    stored_everyone: Arc<str>,
    stored_session: Arc<str>,
    forget_sessions: Arc<str>,
    rotate: Arc<str>,
    read_rotation: Arc<str>,
}

impl Statements {
    fn new<D: Dialect>(tables: &TableNames, known_subjects: Option<&KnownSubjects>) -> Self {
        let TableNames {
            subjects,
            everyone,
            sessions,
            sessions_by_retention,
            ..
        } = tables;
        let (micros, id) = (D::MICROS_TYPE, D::ID_TYPE);
        let options = D::SUBJECTS_TABLE_OPTIONS;
        let schema = format!(
            "CREATE TABLE IF NOT EXISTS {subjects} (\n    \
                 subject TEXT NOT NULL PRIMARY KEY,\n    \
                 valid_from_micros {micros} NULL,\n    \
                 refused BOOLEAN NOT NULL DEFAULT FALSE\n\
             ){options};\n\
             CREATE TABLE IF NOT EXISTS {everyone} (\n    \
                 id {id} NOT NULL PRIMARY KEY CHECK (id = 1),\n    \
                 valid_from_micros {micros} NULL,\n    \
                 refused BOOLEAN NOT NULL DEFAULT FALSE\n\
             );\n\
             CREATE TABLE IF NOT EXISTS {sessions} (\n    \
                 subject TEXT NOT NULL,\n    \
                 session TEXT NOT NULL,\n    \
                 valid_from_micros {micros} NULL,\n    \
                 refused BOOLEAN NOT NULL DEFAULT FALSE,\n    \
                 keep_until_micros {micros} NOT NULL,\n    \
                 current_token TEXT NULL,\n    \
                 previous_token TEXT NULL,\n    \
                 rotated_at_micros {micros} NULL,\n    \
                 PRIMARY KEY (subject, session)\n\
             ){options};\n\
             CREATE INDEX IF NOT EXISTS {sessions_by_retention} ON {sessions} (keep_until_micros);\n"
        );
        // The later of the stored and the new instant, NULL only when both are (a comparison with
        // NULL is not true); refused once, refused for good.
        let set = "valid_from_micros = CASE \
                   WHEN c.valid_from_micros IS NULL OR excluded.valid_from_micros > c.valid_from_micros \
                   THEN excluded.valid_from_micros ELSE c.valid_from_micros END, \
                   refused = (c.refused OR excluded.refused)";
        let returning = "RETURNING valid_from_micros, refused";
        Self {
            migration: D::migration(&tables.name, &schema).into(),
            schema: schema.into(),
            lookup: lookup_statement(tables, known_subjects).into(),
            raise_subject: format!(
                "INSERT INTO {subjects} AS c (subject, valid_from_micros, refused) \
                 VALUES ($1, $2, $3) ON CONFLICT (subject) DO UPDATE SET {set} {returning}"
            )
            .into(),
            raise_everyone: format!(
                "INSERT INTO {everyone} AS c (id, valid_from_micros, refused) \
                 VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET {set} {returning}"
            )
            .into(),
            raise_session: format!(
                "INSERT INTO {sessions} AS c \
                 (subject, session, valid_from_micros, refused, keep_until_micros) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subject, session) DO UPDATE SET {set}, \
                 keep_until_micros = CASE WHEN excluded.keep_until_micros > c.keep_until_micros \
                 THEN excluded.keep_until_micros ELSE c.keep_until_micros END {returning}"
            )
            .into(),
            stored_subject: format!(
                "SELECT valid_from_micros, refused FROM {subjects} WHERE subject = $1"
            )
            .into(),
            stored_everyone: format!("SELECT valid_from_micros, refused FROM {everyone}").into(),
            stored_session: format!(
                "SELECT valid_from_micros, refused FROM {sessions} \
                 WHERE subject = $1 AND session = $2 AND keep_until_micros > $3"
            )
            .into(),
            forget_sessions: format!("DELETE FROM {sessions} WHERE keep_until_micros <= $1").into(),
            // A session's first spend inserts its row; a spend of the current token updates it;
            // anything else (a revoked session, another token) changes nothing.
            rotate: format!(
                "INSERT INTO {sessions} AS c (subject, session, keep_until_micros, current_token, \
                 previous_token, rotated_at_micros) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (subject, session) DO UPDATE SET \
                 current_token = excluded.current_token, previous_token = excluded.previous_token, \
                 rotated_at_micros = excluded.rotated_at_micros, \
                 keep_until_micros = CASE WHEN excluded.keep_until_micros > c.keep_until_micros \
                 THEN excluded.keep_until_micros ELSE c.keep_until_micros END \
                 WHERE NOT c.refused AND c.valid_from_micros IS NULL \
                 AND (c.current_token IS NULL OR c.current_token = excluded.previous_token)"
            )
            .into(),
            read_rotation: format!(
                "SELECT valid_from_micros, refused, previous_token, rotated_at_micros \
                 FROM {sessions} WHERE subject = $1 AND session = $2"
            )
            .into(),
        }
    }
}

/// The lookup, one statement and so one round trip: the subject's row, the everyone row, the
/// subject's sessions that are still kept and, with known subjects, a row that is refused when the
/// subject has none in that table. Its parameters are the subject, `$1`, and now in microseconds,
/// `$2`. Read the rows with [`cutoffs_of_rows`].
fn lookup_statement(tables: &TableNames, known: Option<&KnownSubjects>) -> String {
    let TableNames {
        subjects,
        everyone,
        sessions,
        ..
    } = tables;
    let mut statement = format!(
        "SELECT CAST(NULL AS TEXT), valid_from_micros, refused FROM {subjects} WHERE subject = $1 \
         UNION ALL SELECT NULL, valid_from_micros, refused FROM {everyone} \
         UNION ALL SELECT session, valid_from_micros, refused FROM {sessions} \
         WHERE subject = $1 AND keep_until_micros > $2 \
         AND (refused OR valid_from_micros IS NOT NULL)"
    );
    if let Some(KnownSubjects { table, column, .. }) = known {
        statement.push_str(&format!(
            " UNION ALL SELECT NULL, NULL, NOT EXISTS (SELECT 1 FROM {table} WHERE {column} = $1)"
        ));
    }
    statement
}

/// The cutoffs in force from the rows of [`lookup_statement`]: the latest of the subject-wide rows
/// (no cutoff when there are none), and each session's own.
fn cutoffs_of_rows(rows: Vec<LookupRow>) -> SubjectCutoffs {
    let (sessions, subject): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|(session, _, _)| session.is_some());
    let cutoff = subject
        .into_iter()
        .map(|(_, micros, refused)| from_columns((micros, refused)))
        .fold(Cutoff::NoCutoff, Cutoff::max);
    sessions.into_iter().fold(
        SubjectCutoffs::from(cutoff),
        |cutoffs, (session, micros, refused)| {
            let session = session.unwrap_or_default();
            cutoffs.with_session(&session, from_columns((micros, refused)))
        },
    )
}

/// A cutoff as the two columns store it.
fn to_columns(cutoff: Cutoff) -> Columns {
    match cutoff {
        Cutoff::NoCutoff => (None, false),
        Cutoff::ValidFrom(at) => (Some(at.as_unix_micros()), false),
        Cutoff::Refused => (None, true),
    }
}

/// The cutoff two columns hold.
fn from_columns((valid_from_micros, refused): Columns) -> Cutoff {
    match (refused, valid_from_micros) {
        (true, _) => Cutoff::Refused,
        (false, Some(micros)) => Cutoff::ValidFrom(Timestamp::from_unix_micros(micros)),
        (false, None) => Cutoff::NoCutoff,
    }
}

/// A store error, for the cache (which logs it and fails the request closed).
pub(crate) fn source_error(error: sqlx::Error) -> SourceError {
    SourceError::from_error(error)
}

/// Configures a [`SqlStore`]; made by [`SqlStore::builder`] (`SqliteStore::builder()`,
/// `PostgresStore::builder()`).
#[must_use]
pub struct SqlStoreBuilder<D> {
    table: String,
    create_tables: bool,
    known_subjects: Option<(String, String)>,
    pub(crate) channel: Option<String>,
    session_retention: Duration,
    dialect: PhantomData<fn() -> D>,
}

impl<D> Clone for SqlStoreBuilder<D> {
    fn clone(&self) -> Self {
        Self {
            table: self.table.clone(),
            create_tables: self.create_tables,
            known_subjects: self.known_subjects.clone(),
            channel: self.channel.clone(),
            session_retention: self.session_retention,
            dialect: PhantomData,
        }
    }
}

// By hand, as `Clone` is: a derive would ask `D: Debug` of the dialect, which it never shows.
impl<D> fmt::Debug for SqlStoreBuilder<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStoreBuilder")
            .field("table", &self.table)
            .field("create_tables", &self.create_tables)
            .field("known_subjects", &self.known_subjects)
            .field("channel", &self.channel)
            .field("session_retention", &self.session_retention)
            .finish_non_exhaustive()
    }
}

impl<D: Dialect> SqlStoreBuilder<D> {
    /// How long a session's cutoff ([`Scope::Session`]) is kept after it was last raised (default
    /// [`DEFAULT_SESSION_RETENTION`], 31 days). Make it at least the refresh-token lifetime: a
    /// session forgotten while one of its tokens is unexpired would let that token through again.
    /// Rows past it are deleted by the next session write, through an index, so the sessions
    /// table holds only the sessions that may still have a valid token.
    pub fn session_retention(mut self, retention: Duration) -> Self {
        self.session_retention = retention;
        self
    }

    /// The subjects table's name (default [`DEFAULT_TABLE`]); the everyone table is this name plus
    /// `_everyone`. ASCII letters, digits and `_`, not starting with a digit; on PostgreSQL
    /// optionally with a schema, `"auth.jwt_cutoffs"` (the schema must exist). Checked when the
    /// store is made.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// Whether to create the tables if they are missing (default `true`). Turn it off when the
    /// service's database role may not create tables; run [`SqlStore::schema`] yourself then.
    pub fn create_tables(mut self, create: bool) -> Self {
        self.create_tables = create;
        self
    }

    /// Makes the store authoritative about which subjects exist: a subject with no row in `table`
    /// (on PostgreSQL optionally `schema.table`) whose `column` equals it is
    /// [refused](Cutoff::Refused), whatever its cutoff, so a token signed with your key for a user
    /// that was deleted or never existed gets 401. The check is part of the lookup's one query, so
    /// it costs no extra round trip. Names are checked like [`table`](Self::table)'s when the store
    /// is made; the table need not exist yet, but until it does every lookup fails (closed). On
    /// PostgreSQL the column is compared with the subject as text: make it `TEXT` or `VARCHAR` (a
    /// `uuid` or integer column makes every lookup fail). See the
    /// [crate docs](crate#known-subjects).
    ///
    /// The answer is cached like any other lookup: a subject created after a lookup of it is
    /// seen only once that answer expires (the cache TTL, which push does not shorten: no
    /// notification is sent for your users table), and a deleted row refuses at the next lookup
    /// that reaches the store. Subject ids should be unique (a primary key or a `UNIQUE` column,
    /// which also makes the check an index lookup) and never reused, or a new user would inherit
    /// an old one's cutoff.
    pub fn known_subjects(mut self, table: impl Into<String>, column: impl Into<String>) -> Self {
        self.known_subjects = Some((table.into(), column.into()));
        self
    }

    /// Opens the database at `url` and makes the store.
    ///
    /// - SQLite: `sqlite://path/to/cutoffs.db` (created if missing) or `sqlite::memory:`, in WAL
    ///   mode with a 5 s busy timeout and `synchronous = FULL`.
    /// - PostgreSQL: `postgres://user@host/database`, with a pool of up to 10 connections that
    ///   gives up acquiring one after 5 s.
    ///
    /// # Errors
    /// A name is invalid, the URL is malformed, or the database cannot be reached or its tables
    /// created.
    pub async fn connect(self, url: &str) -> Result<SqlStore<D>, Error> {
        let settings = self.settings()?;
        let pool = D::connect(url).await?;
        self.finish(pool, settings).await
    }

    /// Makes the store on a pool you already have (sharing the service's database).
    ///
    /// The pool's own settings are kept. On SQLite, open it with a busy timeout (sqlx's default
    /// is 5 s) and preferably in WAL mode (`SqliteConnectOptions::journal_mode`), so that writers
    /// from several connections or processes wait for each other instead of failing. On
    /// PostgreSQL the push channel opens its own connection with the pool's connect options, so
    /// it does not hold one of the pool's connections.
    ///
    /// # Errors
    /// A name is invalid, or the tables cannot be created.
    pub async fn pool(self, pool: Pool<D>) -> Result<SqlStore<D>, Error> {
        let settings = self.settings()?;
        self.finish(pool, settings).await
    }

    /// Checks the names and makes the SQL.
    fn settings(&self) -> Result<Settings<D>, Error> {
        let tables = TableNames::new(&self.table, D::SCHEMA_PREFIX)?;
        let known_subjects = KnownSubjects::new(self.known_subjects.as_ref(), D::SCHEMA_PREFIX)?;
        Ok(Settings {
            channel: D::channel(self.channel.as_deref(), &self.table)?,
            session_retention: self.session_retention,
            statements: Statements::new::<D>(&tables, known_subjects.as_ref()),
            tables,
            known_subjects,
        })
    }

    async fn finish(self, pool: Pool<D>, settings: Settings<D>) -> Result<SqlStore<D>, Error> {
        let store = SqlStore {
            pool,
            settings: Arc::new(settings),
        };
        if self.create_tables {
            store.migrate().await?;
        }
        Ok(store)
    }
}

impl<D: Dialect> SqlStore<D> {
    /// Opens the database at `url` with the default table name; see [`SqlStoreBuilder::connect`].
    ///
    /// # Errors
    /// The URL is malformed, or the database cannot be reached or its tables created.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::builder().connect(url).await
    }

    /// Makes the store on a pool you already have, with the default table name; see
    /// [`SqlStoreBuilder::pool`].
    ///
    /// # Errors
    /// The tables cannot be created.
    pub async fn from_pool(pool: Pool<D>) -> Result<Self, Error> {
        Self::builder().pool(pool).await
    }

    /// Opens a pool on `url` the way [`connect`](SqlStoreBuilder::connect) does (on SQLite: WAL, a
    /// 5 s busy timeout, `synchronous = FULL`, and one connection kept open for a database in
    /// memory), to keep your own tables in the same database: make the store on it with
    /// [`from_pool`](Self::from_pool) or [`SqlStoreBuilder::pool`].
    ///
    /// # Errors
    /// The URL is malformed, or the database cannot be reached.
    pub async fn open_pool(url: &str) -> Result<Pool<D>, Error> {
        Ok(D::connect(url).await?)
    }

    /// Configures a store: table name, whether to create the tables, known subjects (and on
    /// PostgreSQL the channel).
    pub fn builder() -> SqlStoreBuilder<D> {
        SqlStoreBuilder {
            table: DEFAULT_TABLE.to_owned(),
            create_tables: true,
            known_subjects: None,
            channel: None,
            session_retention: DEFAULT_SESSION_RETENTION,
            dialect: PhantomData,
        }
    }

    /// Creates the tables if they are missing (the constructors do this unless told not to). Safe
    /// to run from several instances at once.
    ///
    /// # Errors
    /// The database refused (no `CREATE` privilege, a missing schema) or could not be reached.
    pub async fn migrate(&self) -> Result<(), Error> {
        D::run_script(&self.pool, &self.settings.statements.migration).await?;
        Ok(())
    }

    /// The `CREATE TABLE IF NOT EXISTS` statements [`migrate`](Self::migrate) runs, to run yourself.
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.settings.statements.schema
    }

    /// The pool the store uses.
    #[must_use]
    pub fn pool(&self) -> &Pool<D> {
        &self.pool
    }

    /// The subjects table's name, as configured.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.settings.tables.name
    }

    /// Where the store announces its writes.
    #[cfg(feature = "postgres")]
    pub(crate) fn announced_on(&self) -> &D::Channel {
        &self.settings.channel
    }
}

impl<D: Dialect> CutoffSource for SqlStore<D> {
    fn lookup<'a>(&'a self, subject: &'a str) -> LookupFuture<'a> {
        Box::pin(async move {
            check_subject(subject)?;
            let statement = &self.settings.statements.lookup;
            let now = Timestamp::now().as_unix_micros();
            let rows = D::fetch_rows(&self.pool, statement, subject, now)
                .await
                .map_err(source_error)?;
            Ok(cutoffs_of_rows(rows))
        })
    }

    fn stored<'a>(&'a self, scope: Scope<'a>) -> CutoffFuture<'a> {
        Box::pin(async move {
            check_scope(scope)?;
            let statements = &self.settings.statements;
            let now = Timestamp::now().as_unix_micros();
            let subject_params;
            let session_params;
            let (statement, params): (_, &[Param<'_>]) = match scope {
                Scope::Subject(subject) => {
                    subject_params = [Param::Text(subject)];
                    (&statements.stored_subject, &subject_params)
                }
                Scope::Everyone => (&statements.stored_everyone, &[]),
                Scope::Session { subject, session } => {
                    session_params = [
                        Param::Text(subject),
                        Param::Text(session),
                        Param::Micros(now),
                    ];
                    (&statements.stored_session, &session_params)
                }
            };
            let columns = D::fetch_columns(&self.pool, statement, params)
                .await
                .map_err(source_error)?;
            Ok(columns.map_or(Cutoff::NoCutoff, from_columns))
        })
    }

    fn raise<'a>(&'a self, scope: Scope<'a>, to: Cutoff) -> CutoffFuture<'a> {
        Box::pin(async move {
            check_scope(scope)?;
            let statements = &self.settings.statements;
            let subject_key;
            let session_keys;
            let (statement, keys, keep_until): (_, &[&str], _) = match scope {
                Scope::Subject(subject) => {
                    subject_key = [subject];
                    (&statements.raise_subject, &subject_key, None)
                }
                Scope::Everyone => (&statements.raise_everyone, &[], None),
                Scope::Session { subject, session } => {
                    session_keys = [subject, session];
                    let now = Timestamp::now();
                    let keep_until = now.saturating_add(self.settings.session_retention);
                    let kept = Some((now, keep_until.as_unix_micros()));
                    (&statements.raise_session, &session_keys, kept)
                }
            };
            let mut transaction = self.pool.begin().await.map_err(source_error)?;
            if let Some((now, _)) = keep_until {
                self.forget_sessions(&mut transaction, now).await?;
            }
            let keep_until = keep_until.map(|(_, until)| until);
            let write = Write {
                statement,
                scope,
                keys,
                to,
                keep_until,
            };
            self.write_and_announce(transaction, write).await
        })
    }
}

/// One upsert of a cutoff: its statement, scope, the keys bound first, the cutoff, and for a
/// session until when it is kept.
struct Write<'a> {
    statement: &'a Arc<str>,
    scope: Scope<'a>,
    keys: &'a [&'a str],
    to: Cutoff,
    keep_until: Option<i64>,
}

impl<D: Dialect> SqlStore<D> {
    /// Deletes the sessions past their retention at `now`, so the table follows the sessions that
    /// can still have a valid token; every session write does it first, through the index.
    async fn forget_sessions(
        &self,
        transaction: &mut D::Connection,
        now: Timestamp,
    ) -> Result<(), SourceError> {
        let now = [Param::Micros(now.as_unix_micros())];
        let forget = &self.settings.statements.forget_sessions;
        D::execute(transaction, forget, &now)
            .await
            .map_err(source_error)?;
        Ok(())
    }

    /// Runs `write`, announces what it stored and commits, all or nothing (PostgreSQL delivers a
    /// notification at commit, in commit order); the cutoff now stored.
    async fn write_and_announce(
        &self,
        mut transaction: sqlx::Transaction<'_, D>,
        write: Write<'_>,
    ) -> Result<Cutoff, SourceError> {
        let columns = to_columns(write.to);
        let stored = D::upsert(
            &mut transaction,
            write.statement,
            write.keys,
            columns,
            write.keep_until,
        )
        .await
        .map_err(source_error)?;
        let change = CutoffChange::new(write.scope, from_columns(stored));
        D::announce(&self.settings.channel, &mut transaction, &change)
            .await
            .map_err(source_error)?;
        transaction.commit().await.map_err(source_error)?;
        Ok(change.cutoff())
    }
}

impl<D: Dialect> RefreshTokens for SqlStore<D> {
    fn spend<'a>(&'a self, spend: Spend<'a>) -> BoxFuture<'a, Result<Spent, SourceError>> {
        Box::pin(async move {
            check_spend(&spend)?;
            let statements = &self.settings.statements;
            let now = Timestamp::now();
            let keep_until = now.saturating_add(self.settings.session_retention);
            // One transaction: the rotation, or the read that tells a race from reuse and the
            // revocation that reuse makes, with its announcement. Racing spends of one token wait
            // for each other on the row, and each sees what the one before it did.
            let mut transaction = self.pool.begin().await.map_err(source_error)?;
            self.forget_sessions(&mut transaction, now).await?;
            let params = [
                Param::Text(spend.subject),
                Param::Text(spend.session),
                Param::Micros(keep_until.as_unix_micros()),
                Param::Text(spend.successor),
                Param::Text(spend.token),
                Param::Micros(now.as_unix_micros()),
            ];
            let rotated = D::execute(&mut transaction, &statements.rotate, &params)
                .await
                .map_err(source_error)?;
            if rotated == 1 {
                transaction.commit().await.map_err(source_error)?;
                return Ok(Spent::Rotated);
            }
            let row = D::fetch_rotation(
                &mut transaction,
                &statements.read_rotation,
                spend.subject,
                spend.session,
            )
            .await
            .map_err(source_error)?;
            let Some((micros, refused, previous, rotated_at)) = row else {
                return Err(SourceError::new(
                    "the session's row vanished during a spend",
                ));
            };
            if from_columns((micros, refused)) != Cutoff::NoCutoff {
                return Ok(Spent::Revoked);
            }
            let grace = i64::try_from(spend.grace.as_micros()).unwrap_or(i64::MAX);
            let within_grace =
                rotated_at.is_some_and(|at| now.as_unix_micros().saturating_sub(at) <= grace);
            if previous.as_deref() == Some(spend.token) && within_grace {
                return Ok(Spent::Raced);
            }
            let scope = Scope::Session {
                subject: spend.subject,
                session: spend.session,
            };
            let write = Write {
                statement: &statements.raise_session,
                scope,
                keys: &[spend.subject, spend.session],
                to: Cutoff::Refused,
                keep_until: Some(keep_until.as_unix_micros()),
            };
            self.write_and_announce(transaction, write).await?;
            Ok(Spent::Reused)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_subjects_are_one_more_branch_of_the_one_lookup_statement() {
        let tables = TableNames::new("auth.cutoffs", true).unwrap_or_else(|_| unreachable!());
        let setting = ("auth.users".to_owned(), "Id".to_owned());
        let known = KnownSubjects::new(Some(&setting), true)
            .unwrap_or_else(|_| unreachable!())
            .unwrap_or_else(|| unreachable!());
        assert_eq!(
            lookup_statement(&tables, Some(&known)),
            "SELECT CAST(NULL AS TEXT), valid_from_micros, refused FROM \"auth\".\"cutoffs\" \
             WHERE subject = $1 \
             UNION ALL SELECT NULL, valid_from_micros, refused FROM \"auth\".\"cutoffs_everyone\" \
             UNION ALL SELECT session, valid_from_micros, refused FROM \"auth\".\"cutoffs_sessions\" \
             WHERE subject = $1 AND keep_until_micros > $2 \
             AND (refused OR valid_from_micros IS NOT NULL) \
             UNION ALL SELECT NULL, NULL, NOT EXISTS \
             (SELECT 1 FROM \"auth\".\"users\" WHERE \"Id\" = $1)"
        );
        assert!(!lookup_statement(&tables, None).contains("EXISTS"));
    }

    #[test]
    fn rows_combine_to_the_latest_cutoff_and_each_sessions_own() {
        let whole = |micros, refused| (None, micros, refused);
        assert_eq!(cutoffs_of_rows(Vec::new()), Cutoff::NoCutoff.into());
        assert_eq!(
            cutoffs_of_rows(vec![
                whole(Some(5), false),
                whole(None, false),
                whole(Some(3), false)
            ]),
            Cutoff::ValidFrom(Timestamp::from_unix_micros(5)).into()
        );
        assert_eq!(
            cutoffs_of_rows(vec![whole(Some(5), false), whole(None, true)]),
            Cutoff::Refused.into()
        );
        let with_sessions = cutoffs_of_rows(vec![
            (Some("phone".to_owned()), None, true),
            whole(Some(5), false),
            (Some("laptop".to_owned()), Some(9), false),
        ]);
        assert_eq!(
            with_sessions,
            SubjectCutoffs::from(Cutoff::ValidFrom(Timestamp::from_unix_micros(5)))
                .with_session("phone", Cutoff::Refused)
                .with_session("laptop", Cutoff::ValidFrom(Timestamp::from_unix_micros(9)))
        );
    }

    #[test]
    fn columns_round_trip() {
        for cutoff in [
            Cutoff::NoCutoff,
            Cutoff::ValidFrom(Timestamp::from_unix_micros(1_764_384_000_123_456)),
            Cutoff::Refused,
        ] {
            assert_eq!(from_columns(to_columns(cutoff)), cutoff);
        }
        assert_eq!(from_columns((Some(5), true)), Cutoff::Refused);
    }

    /// The tables every existing database holds: the schema text may only grow (new tables come
    /// after them).
    #[test]
    fn the_schema_begins_with_the_tables_existing_databases_hold() {
        let tables = TableNames::new("jwt_cutoffs", false).unwrap_or_else(|_| unreachable!());
        let schema = |micros: &str, id: &str, options: &str| {
            format!(
                "CREATE TABLE IF NOT EXISTS \"jwt_cutoffs\" (\n    \
                 subject TEXT NOT NULL PRIMARY KEY,\n    \
                 valid_from_micros {micros} NULL,\n    \
                 refused BOOLEAN NOT NULL DEFAULT FALSE\n){options};\n\
                 CREATE TABLE IF NOT EXISTS \"jwt_cutoffs_everyone\" (\n    \
                 id {id} NOT NULL PRIMARY KEY CHECK (id = 1),\n    \
                 valid_from_micros {micros} NULL,\n    \
                 refused BOOLEAN NOT NULL DEFAULT FALSE\n);\n"
            )
        };
        #[cfg(feature = "sqlite")]
        assert!(
            Statements::new::<sqlx::Sqlite>(&tables, None)
                .schema
                .starts_with(&schema("INTEGER", "INTEGER", " WITHOUT ROWID"))
        );
        #[cfg(feature = "postgres")]
        assert!(
            Statements::new::<sqlx::Postgres>(&tables, None)
                .schema
                .starts_with(&schema("BIGINT", "SMALLINT", ""))
        );
        let _ = (&tables, schema);
    }
}

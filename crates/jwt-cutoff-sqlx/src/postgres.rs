//! [`PostgresStore`]: cutoffs in PostgreSQL, pushed to every instance with LISTEN/NOTIFY.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jwt_cutoff_store::{
    BoxFuture, Cutoff, CutoffChange, CutoffSource, PushChannel, PushSubscription, Scope,
    SourceError, check_subject,
};
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};

use crate::{
    DEFAULT_TABLE, Error, KnownSubjects, MAX_IDENTIFIER_BYTES, TableNames, check_identifier,
    cutoff_of_rows, from_columns, lookup_statement, source_error, to_columns,
};

/// How long [`PostgresStoreBuilder::connect`]'s pool waits for a connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The default [`PostgresPushChannel::heartbeat`].
const HEARTBEAT: Duration = Duration::from_secs(10);

/// Cutoffs in PostgreSQL, shared by every instance of a service, with push.
///
/// Every write is one atomic upsert that keeps the later cutoff (so racing writers on any number of
/// instances never move a cutoff back), and it sends `NOTIFY` with the stored change in the same
/// transaction: a notification goes out exactly when the write commits, never for one that rolled
/// back. Each instance follows [`push_channel`](Self::push_channel) with
/// [`CutoffCache::follow`](jwt_cutoff_store::CutoffCache::follow) and applies the changes as they arrive. See the
/// [crate docs](crate#schema) for the schema.
///
/// With [`known_subjects`](PostgresStoreBuilder::known_subjects) it is authoritative about which
/// subjects exist: one without a row in your users table is [refused](Cutoff::Refused).
///
/// Clones share one pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    tables: TableNames,
    known_subjects: Option<KnownSubjects>,
    channel: Arc<str>,
    statements: Arc<Statements>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.tables.name)
            .field(
                "known_subjects",
                &self.known_subjects.as_ref().map(|known| &known.name),
            )
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// The SQL, made once per store (sqlx caches prepared statements by their text).
#[derive(Debug)]
struct Statements {
    schema: Arc<str>,
    migrate: Arc<str>,
    lookup: Arc<str>,
    raise_subject: Arc<str>,
    raise_everyone: Arc<str>,
}

impl Statements {
    fn new(tables: &TableNames, known_subjects: Option<&KnownSubjects>) -> Self {
        let TableNames {
            name,
            subjects,
            everyone,
        } = tables;
        // GREATEST ignores NULLs: NULL only when both are.
        let set = "valid_from_micros = GREATEST(c.valid_from_micros, excluded.valid_from_micros), \
                   refused = (c.refused OR excluded.refused)";
        let schema = format!(
            "CREATE TABLE IF NOT EXISTS {subjects} (\n    \
                 subject TEXT NOT NULL PRIMARY KEY,\n    \
                 valid_from_micros BIGINT NULL,\n    \
                 refused BOOLEAN NOT NULL DEFAULT FALSE\n\
             );\n\
             CREATE TABLE IF NOT EXISTS {everyone} (\n    \
                 id SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),\n    \
                 valid_from_micros BIGINT NULL,\n    \
                 refused BOOLEAN NOT NULL DEFAULT FALSE\n\
             );\n"
        );
        Self {
            // Instances starting together would race in CREATE TABLE IF NOT EXISTS (which can fail
            // on the catalog's unique index); a transaction-scoped advisory lock serialises them.
            // Several statements in one simple query run as one implicit transaction, which holds
            // the lock to the end and rolls back entirely on an error. The name is a checked
            // identifier, so it is safe inside a string literal.
            migrate: format!(
                "SELECT pg_advisory_xact_lock(hashtextextended('jwt-cutoff-sqlx {name}', 0));\n\
                 {schema}"
            )
            .into(),
            schema: schema.into(),
            lookup: lookup_statement(tables, known_subjects, "$1").into(),
            raise_subject: format!(
                "INSERT INTO {subjects} AS c (subject, valid_from_micros, refused) \
                 VALUES ($1, $2, $3) ON CONFLICT (subject) DO UPDATE SET {set} \
                 RETURNING valid_from_micros, refused"
            )
            .into(),
            raise_everyone: format!(
                "INSERT INTO {everyone} AS c (id, valid_from_micros, refused) \
                 VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET {set} \
                 RETURNING valid_from_micros, refused"
            )
            .into(),
        }
    }
}

/// Configures a [`PostgresStore`]; made by [`PostgresStore::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct PostgresStoreBuilder {
    table: String,
    channel: Option<String>,
    create_tables: bool,
    known_subjects: Option<(String, String)>,
}

impl PostgresStoreBuilder {
    /// The subjects table's name (default [`DEFAULT_TABLE`]), optionally with a schema:
    /// `"auth.jwt_cutoffs"` (the schema must exist). The everyone table is this name plus
    /// `_everyone`. ASCII letters, digits and `_`, not starting with a digit; checked when the store
    /// is made.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// The `NOTIFY` channel (default: the table name as given, schema included). Every instance of
    /// one service must use the same one. ASCII letters, digits, `_` and `.`, at most 63 bytes.
    pub fn channel(mut self, name: impl Into<String>) -> Self {
        self.channel = Some(name.into());
        self
    }

    /// Whether to create the tables if they are missing (default `true`). Turn it off when the
    /// service's database role may not create tables; run [`PostgresStore::schema`] yourself then.
    pub fn create_tables(mut self, create: bool) -> Self {
        self.create_tables = create;
        self
    }

    /// Makes the store authoritative about which subjects exist: a subject with no row in `table`
    /// (optionally `schema.table`) whose `column` equals it is [refused](Cutoff::Refused),
    /// whatever its cutoff, so a token signed with your key for a user that was deleted or never
    /// existed gets 401. The check is part of the lookup's one query, so it costs no extra round
    /// trip. Names are checked like [`table`](Self::table)'s when the store is made; the table need
    /// not exist yet, but until it does every lookup fails (closed). The column is compared with
    /// the subject as text: make it `TEXT` or `VARCHAR` (a `uuid` or integer column makes every
    /// lookup fail). See the [crate docs](crate#known-subjects).
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

    /// Connects to `url` (`postgres://user@host/database`) with a pool of up to 10 connections that
    /// gives up acquiring one after 5 s, and makes the store.
    ///
    /// # Errors
    /// A name is invalid, the URL is malformed, or the server cannot be reached or the tables
    /// created.
    pub async fn connect(self, url: &str) -> Result<PostgresStore, Error> {
        let names = self.names()?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        self.finish(pool, names).await
    }

    /// Makes the store on a pool you already have. The push channel opens its own connection with
    /// the pool's connect options, so it does not hold one of the pool's connections.
    ///
    /// # Errors
    /// A name is invalid, or the tables cannot be created.
    pub async fn pool(self, pool: PgPool) -> Result<PostgresStore, Error> {
        let names = self.names()?;
        self.finish(pool, names).await
    }

    fn names(&self) -> Result<Names, Error> {
        let tables = TableNames::new(&self.table, true)?;
        let known_subjects = KnownSubjects::new(self.known_subjects.as_ref(), true)?;
        let channel = self.channel.clone().unwrap_or_else(|| self.table.clone());
        check_channel(&channel).map_err(|reason| Error::InvalidName {
            what: "channel",
            name: channel.clone(),
            reason,
        })?;
        Ok(Names {
            tables,
            known_subjects,
            channel,
        })
    }

    async fn finish(self, pool: PgPool, names: Names) -> Result<PostgresStore, Error> {
        let Names {
            tables,
            known_subjects,
            channel,
        } = names;
        let store = PostgresStore {
            statements: Arc::new(Statements::new(&tables, known_subjects.as_ref())),
            pool,
            tables,
            known_subjects,
            channel: channel.into(),
        };
        if self.create_tables {
            store.migrate().await?;
        }
        Ok(store)
    }
}

/// A builder's names, checked.
struct Names {
    tables: TableNames,
    known_subjects: Option<KnownSubjects>,
    channel: String,
}

fn check_channel(name: &str) -> Result<(), &'static str> {
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err("a channel name may have at most 63 bytes");
    }
    name.split('.').try_for_each(check_identifier)
}

impl PostgresStore {
    /// Connects to `url` with the default table name; see [`PostgresStoreBuilder::connect`].
    ///
    /// # Errors
    /// The URL is malformed, or the server cannot be reached or the tables created.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::builder().connect(url).await
    }

    /// Makes the store on a pool you already have, with the default table name; see
    /// [`PostgresStoreBuilder::pool`].
    ///
    /// # Errors
    /// The tables cannot be created.
    pub async fn from_pool(pool: PgPool) -> Result<Self, Error> {
        Self::builder().pool(pool).await
    }

    /// Configures a store: table name, channel, whether to create the tables, known subjects.
    pub fn builder() -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            table: DEFAULT_TABLE.to_owned(),
            channel: None,
            create_tables: true,
            known_subjects: None,
        }
    }

    /// Creates the tables if they are missing (the constructors do this unless told not to). Safe
    /// to run from several instances at once.
    ///
    /// # Errors
    /// The database refused (no `CREATE` privilege, a missing schema) or could not be reached.
    pub async fn migrate(&self) -> Result<(), Error> {
        sqlx::raw_sql(AssertSqlSafe(Arc::clone(&self.statements.migrate)))
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
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The subjects table's name, as configured.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.tables.name
    }

    /// The `NOTIFY` channel.
    #[must_use]
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The push channel, for [`CutoffCache::follow`](jwt_cutoff_store::CutoffCache::follow). Each subscription
    /// opens one dedicated connection with the pool's connect options and `LISTEN`s on
    /// [`channel`](Self::channel).
    #[must_use]
    pub fn push_channel(&self) -> PostgresPushChannel {
        PostgresPushChannel {
            options: self.pool.connect_options(),
            channel: Arc::clone(&self.channel),
            heartbeat: HEARTBEAT,
        }
    }
}

/// Subjects longer than [`MAX_SUBJECT_BYTES`](jwt_cutoff_store::MAX_SUBJECT_BYTES) are refused with an
/// error before the database is asked, in lookups and writes alike: every subject stored can then
/// be announced (a `NOTIFY` payload holds at most 8,000 bytes).
impl CutoffSource for PostgresStore {
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
            // The upsert and its notification commit together or not at all; PostgreSQL delivers
            // the notification at commit, in commit order.
            let mut transaction = self.pool.begin().await.map_err(source_error)?;
            let (micros, refused): (Option<i64>, bool) = match scope {
                Scope::Subject(subject) => {
                    sqlx::query_as(AssertSqlSafe(Arc::clone(&self.statements.raise_subject)))
                        .bind(subject)
                        .bind(micros)
                        .bind(refused)
                        .fetch_one(&mut *transaction)
                        .await
                }
                Scope::Everyone => {
                    sqlx::query_as(AssertSqlSafe(Arc::clone(&self.statements.raise_everyone)))
                        .bind(micros)
                        .bind(refused)
                        .fetch_one(&mut *transaction)
                        .await
                }
            }
            .map_err(source_error)?;
            let stored = from_columns(micros, refused);
            let change = CutoffChange {
                subject: match scope {
                    Scope::Subject(subject) => Some(subject.to_owned()),
                    Scope::Everyone => None,
                },
                cutoff: stored,
            };
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(&*self.channel)
                .bind(change.encode())
                .execute(&mut *transaction)
                .await
                .map_err(source_error)?;
            transaction.commit().await.map_err(source_error)?;
            Ok(stored)
        })
    }
}

/// A [`PostgresStore`]'s push channel: `LISTEN` on a dedicated connection. Made by
/// [`PostgresStore::push_channel`]; follow it with [`CutoffCache::follow`](jwt_cutoff_store::CutoffCache::follow).
///
/// A subscription ends with an error (and the core clears the cache and reconnects) when the
/// connection is lost, when it stays silent for a [heartbeat](Self::heartbeat) and then does not
/// answer a ping within another one (a half-open connection), or when a notification on the
/// channel does not decode. It never reconnects by itself, so no notification is lost unnoticed.
#[derive(Clone)]
pub struct PostgresPushChannel {
    options: Arc<PgConnectOptions>,
    channel: Arc<str>,
    heartbeat: Duration,
}

impl fmt::Debug for PostgresPushChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresPushChannel")
            .field("channel", &self.channel)
            .field("heartbeat", &self.heartbeat)
            .finish_non_exhaustive()
    }
}

impl PostgresPushChannel {
    /// How long the connection may stay silent before it is pinged, and how long connecting or the
    /// ping may take (default 10 s). A dead connection that no error reveals is noticed within
    /// twice this.
    #[must_use]
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    async fn connect(&self) -> Result<PostgresSubscription, sqlx::Error> {
        // A private single-connection pool: PgListener needs one, and this keeps the listening
        // connection out of the store's pool.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(self.heartbeat)
            .connect_with(PgConnectOptions::clone(&self.options))
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        // Report a lost connection instead of quietly making a new one: notifications sent in
        // between would be lost unnoticed. The core reconnects and clears the cache instead.
        listener.eager_reconnect(false);
        listener.ignore_pool_close_event(true);
        listener.listen(&self.channel).await?;
        Ok(PostgresSubscription {
            listener,
            channel: Arc::clone(&self.channel),
            heartbeat: self.heartbeat,
        })
    }
}

impl PushChannel for PostgresPushChannel {
    type Subscription = PostgresSubscription;

    fn subscribe(&self) -> BoxFuture<'_, Result<PostgresSubscription, SourceError>> {
        Box::pin(async move {
            match tokio::time::timeout(self.heartbeat, self.connect()).await {
                Ok(subscribed) => subscribed.map_err(source_error),
                Err(_) => Err(SourceError::new(format!(
                    "LISTEN connection not made within {:?}",
                    self.heartbeat
                ))),
            }
        })
    }
}

/// One `LISTEN` connection of a [`PostgresPushChannel`].
pub struct PostgresSubscription {
    listener: PgListener,
    channel: Arc<str>,
    heartbeat: Duration,
}

impl fmt::Debug for PostgresSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSubscription")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl PostgresSubscription {
    async fn next(&mut self) -> Result<CutoffChange, SourceError> {
        loop {
            // `try_recv` is cancel-safe: a timeout loses no partly read notification.
            let received = tokio::time::timeout(self.heartbeat, self.listener.try_recv()).await;
            match received {
                Ok(Ok(Some(notification))) => {
                    if notification.channel() != &*self.channel {
                        continue;
                    }
                    return CutoffChange::decode(notification.payload()).ok_or_else(|| {
                        // From a newer version of this crate, or someone else's NOTIFY: the change
                        // cannot be applied, so start over with an empty cache.
                        SourceError::new(format!(
                            "undecodable notification on channel {:?}",
                            self.channel
                        ))
                    });
                }
                Ok(Ok(None)) => return Err(SourceError::new("LISTEN connection lost")),
                Ok(Err(error)) => return Err(source_error(error)),
                Err(_silent) => {
                    // Nothing for a while: make sure the connection is still alive. Notifications
                    // that arrive meanwhile are buffered by the listener.
                    let ping = sqlx::query("SELECT 1").execute(&mut self.listener);
                    match tokio::time::timeout(self.heartbeat, ping).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => return Err(source_error(error)),
                        Err(_) => {
                            return Err(SourceError::new(format!(
                                "LISTEN connection did not answer a ping within {:?}",
                                self.heartbeat
                            )));
                        }
                    }
                }
            }
        }
    }
}

impl PushSubscription for PostgresSubscription {
    fn next_change(&mut self) -> BoxFuture<'_, Result<CutoffChange, SourceError>> {
        Box::pin(self.next())
    }
}

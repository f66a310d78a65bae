//! [`PostgresStore`]: cutoffs in PostgreSQL, pushed to every instance with LISTEN/NOTIFY. What is
//! PostgreSQL's own: its column types, schemas, a migration safe for instances starting together,
//! and `NOTIFY` in the write's transaction, followed with a [`PostgresPushChannel`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jwt_cutoff_store::{BoxFuture, CutoffChange, PushChannel, PushSubscription, SourceError};
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};

use crate::dialect::Dialect;
use crate::names::{MAX_IDENTIFIER_BYTES, check_identifier};
use crate::store::source_error;
use crate::{Error, SqlStore, SqlStoreBuilder};

/// Cutoffs in PostgreSQL, shared by every instance of a service, with push.
///
/// Every write is one atomic upsert that keeps the later cutoff (so racing writers on any number of
/// instances never move a cutoff back), and it sends `NOTIFY` with the stored change in the same
/// transaction: a notification goes out exactly when the write commits, never for one that rolled
/// back. Each instance follows [`push_channel`](SqlStore::push_channel) with
/// [`CutoffCache::follow`](jwt_cutoff_store::CutoffCache::follow) and applies the changes as they
/// arrive. See the [crate docs](crate#schema) for the schema.
///
/// With [`known_subjects`](SqlStoreBuilder::known_subjects) it is authoritative about which
/// subjects exist: one without a row in your users table is
/// [refused](jwt_cutoff_store::Cutoff::Refused).
///
/// Clones share one pool.
pub type PostgresStore = SqlStore<Postgres>;

/// Configures a [`PostgresStore`]; made by [`PostgresStore::builder`](SqlStore::builder).
pub type PostgresStoreBuilder = SqlStoreBuilder<Postgres>;

/// How long [`connect`](SqlStoreBuilder::connect)'s pool waits for a connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The default [`PostgresPushChannel::heartbeat`].
const HEARTBEAT: Duration = Duration::from_secs(10);

impl Dialect for Postgres {
    const SCHEMA_PREFIX: bool = true;
    const MICROS_TYPE: &'static str = "BIGINT";
    const ID_TYPE: &'static str = "SMALLINT";
    const SUBJECTS_TABLE_OPTIONS: &'static str = "";

    type Channel = Arc<str>;

    fn channel(configured: Option<&str>, table: &str) -> Result<Arc<str>, Error> {
        let channel = configured.unwrap_or(table);
        check_channel(channel).map_err(|reason| Error::InvalidName {
            what: "channel",
            name: channel.to_owned(),
            reason,
        })?;
        Ok(channel.into())
    }

    fn connect(url: &str) -> BoxFuture<'_, Result<PgPool, sqlx::Error>> {
        Box::pin(
            PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url),
        )
    }

    /// Instances starting together would race in CREATE TABLE IF NOT EXISTS (which can fail on the
    /// catalog's unique index); a transaction-scoped advisory lock serialises them. Several
    /// statements in one simple query run as one implicit transaction, which holds the lock to the
    /// end and rolls back entirely on an error. The name is a checked identifier, so it is safe
    /// inside a string literal.
    fn migration(table: &str, schema: &str) -> String {
        format!(
            "SELECT pg_advisory_xact_lock(hashtextextended('jwt-cutoff-sqlx {table}', 0));\n{schema}"
        )
    }

    fn announce<'a>(
        channel: &'a Arc<str>,
        transaction: &'a mut PgConnection,
        change: &'a CutoffChange,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(&**channel)
                .bind(change.encode())
                .execute(transaction)
                .await?;
            Ok(())
        })
    }
}

fn check_channel(name: &str) -> Result<(), &'static str> {
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err("a channel name may have at most 63 bytes");
    }
    name.split('.').try_for_each(check_identifier)
}

impl SqlStoreBuilder<Postgres> {
    /// The `NOTIFY` channel (default: the table name as given, schema included). Every instance of
    /// one service must use the same one. ASCII letters, digits, `_` and `.`, at most 63 bytes.
    pub fn channel(mut self, name: impl Into<String>) -> Self {
        self.channel = Some(name.into());
        self
    }
}

impl SqlStore<Postgres> {
    /// The `NOTIFY` channel.
    #[must_use]
    pub fn channel(&self) -> &str {
        self.announced_on()
    }

    /// The push channel, for [`CutoffCache::follow`](jwt_cutoff_store::CutoffCache::follow). Each
    /// subscription opens one dedicated connection with the pool's connect options and `LISTEN`s
    /// on [`channel`](Self::channel).
    #[must_use]
    pub fn push_channel(&self) -> PostgresPushChannel {
        PostgresPushChannel {
            options: ListenOptions(self.pool().connect_options()),
            channel: Arc::clone(self.announced_on()),
            heartbeat: HEARTBEAT,
        }
    }
}

/// A [`PostgresStore`]'s push channel: `LISTEN` on a dedicated connection. Made by
/// [`PostgresStore::push_channel`]; follow it with [`CutoffCache::follow`](jwt_cutoff_store::CutoffCache::follow).
///
/// A subscription ends with an error (and the core clears the cache and reconnects) when the
/// connection is lost, when it stays silent for a [heartbeat](Self::heartbeat) and then does not
/// answer a ping within another one (a half-open connection), or when a notification on the
/// channel does not decode. It never reconnects by itself, so no notification is lost unnoticed.
#[derive(Clone, Debug)]
pub struct PostgresPushChannel {
    options: ListenOptions,
    channel: Arc<str>,
    heartbeat: Duration,
}

/// The options the `LISTEN` connection is made with, which `Debug` leaves out: sqlx's own `Debug`
/// of them shows the database password.
#[derive(Clone)]
struct ListenOptions(Arc<PgConnectOptions>);

impl fmt::Debug for ListenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PgConnectOptions { .. }")
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
            .connect_with(PgConnectOptions::clone(&self.options.0))
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
#[derive(Debug)]
pub struct PostgresSubscription {
    listener: PgListener,
    channel: Arc<str>,
    heartbeat: Duration,
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

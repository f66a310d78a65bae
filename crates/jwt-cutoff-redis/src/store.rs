//! [`RedisStore`]: cutoffs in Redis, written by a Lua script that also publishes each change.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jwt_cutoff_store::{
    BoxFuture, Cutoff, CutoffChange, CutoffFuture, CutoffSource, DEFAULT_SESSION_RETENTION,
    LookupFuture, RefreshTokens, Scope, SourceError, Spend, Spent, SubjectCutoffs, Timestamp,
    check_scope, check_spend, check_subject,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Script};

const DEFAULT_PREFIX: &str = "jwt-cutoff:";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);
const MIN_HEARTBEAT: Duration = Duration::from_millis(10);
const REFUSED: &str = "refused";

/// Raises one cutoff if the new one is later, and publishes the change in the same script.
///
/// `KEYS[1]`: the cutoff's key. `ARGV[1]`: the new cutoff (`refused` or decimal microseconds).
/// `ARGV[2]`: the pub/sub channel. `ARGV[3]`: the notification, the change as the core encodes it.
/// Returns the value stored afterwards, or nil when there is none. Values are compared as exact
/// decimal strings: Lua numbers are doubles.
/// What both scripts share: which values are cutoffs, and which of two is later (compared as
/// text, so that instants beyond a double's precision compare exactly).
const CUTOFF_FUNCTIONS: &str = r"
local function valid(v)
  return v == 'refused' or v == '0' or string.match(v, '^%-?[1-9]%d*$') ~= nil
end
local function later(a, b)
  if a == b or b == 'refused' then return false end
  if a == 'refused' then return true end
  local a_negative = string.sub(a, 1, 1) == '-'
  local b_negative = string.sub(b, 1, 1) == '-'
  if a_negative ~= b_negative then return b_negative end
  local greater
  if #a ~= #b then greater = #a > #b else greater = a > b end
  if a_negative then return not greater end
  return greater
end
";

/// Raises the cutoff at `KEYS[1]` to `ARGV[1]` unless it is already as late, publishing
/// `ARGV[3]` on channel `ARGV[2]` when it changed; returns what is stored.
const RAISE_SCRIPT: &str = r"
local to = ARGV[1]
if not valid(to) then
  return redis.error_reply('jwt-cutoff: not a cutoff: ' .. to)
end
local current = redis.call('GET', KEYS[1])
if current then
  if not valid(current) then
    return redis.error_reply('jwt-cutoff: unreadable cutoff stored at ' .. KEYS[1])
  end
  if not later(to, current) then
    return current
  end
end
redis.call('SET', KEYS[1], to)
redis.call('PUBLISH', ARGV[2], ARGV[3])
return to
";

/// What the session scripts share: raising a session's cutoff in the subject's session hash,
/// which also forgets the subject's sessions past their retention and lets the hash expire with
/// its last session. A field holds `<cutoff> <keep until, microseconds>`. `-` (no cutoff) raises
/// nothing. Returns what is stored (nil for nothing) and whether it changed.
const SESSION_FUNCTIONS: &str = r"
local function raise_session(key, session, to, now, keep)
  local current, current_keep = nil, keep
  local last_keep = keep
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    local cutoff, until_micros = string.match(fields[i + 1], '^(%S+) (%-?%d+)$')
    if not cutoff or not valid(cutoff) then
      return redis.error_reply('jwt-cutoff: unreadable session ' .. fields[i] .. ' at ' .. key)
    end
    until_micros = tonumber(until_micros)
    if until_micros <= now then
      redis.call('HDEL', key, fields[i])
    else
      if fields[i] == session then current, current_keep = cutoff, until_micros end
      if until_micros > last_keep then last_keep = until_micros end
    end
  end
  if to == '-' then
    return current, false
  end
  local stored, changed = current, false
  if not current or later(to, current) then
    stored, changed = to, true
  end
  if current_keep < keep then current_keep = keep end
  redis.call('HSET', key, session, stored .. ' ' .. string.format('%d', current_keep))
  redis.call('PEXPIREAT', key, math.ceil(last_keep / 1000))
  return stored, changed
end
";

/// Raises session `ARGV[2]` in the subject's session hash `KEYS[1]` to `ARGV[1]` (`-`: no
/// cutoff), at `ARGV[3]` (now, microseconds), keeping it at least until `ARGV[4]`; publishes
/// `ARGV[6]` on `ARGV[5]` when the cutoff changed; returns what is stored, nil for nothing.
const RAISE_SESSION_SCRIPT: &str = r"
local to, session, now, keep = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if to ~= '-' and not valid(to) then
  return redis.error_reply('jwt-cutoff: not a cutoff: ' .. to)
end
local stored, changed = raise_session(KEYS[1], session, to, now, keep)
if type(stored) == 'table' then return stored end
if changed then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
return stored
";

/// Spends refresh token `ARGV[2]` of session `ARGV[1]` for its successor `ARGV[3]`, at `ARGV[4]`
/// (now, microseconds), keeping the session at least until `ARGV[5]`, with a grace window of
/// `ARGV[6]` microseconds; see [`jwt_cutoff_store::Spent`]. `KEYS[1]` is the subject's session
/// hash (cutoffs), `KEYS[2]` its rotation hash, whose field holds `<rotated at> <current>
/// <previous> <keep until>`. Reuse revokes the session and publishes `ARGV[8]` on `ARGV[7]`.
const SPEND_SCRIPT: &str = r"
local session, token, successor = ARGV[1], ARGV[2], ARGV[3]
local now, keep, grace = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cutoff = redis.call('HGET', KEYS[1], session)
if cutoff then
  local until_micros = string.match(cutoff, '^%S+ (%-?%d+)$')
  if not until_micros then
    return redis.error_reply('jwt-cutoff: unreadable session ' .. session .. ' at ' .. KEYS[1])
  end
  if tonumber(until_micros) > now then return 'revoked' end
end
local current, previous, rotated_at = nil, nil, nil
local last_keep = keep
local records = redis.call('HGETALL', KEYS[2])
for i = 1, #records, 2 do
  local at, cur, prev, until_micros = string.match(records[i + 1], '^(%-?%d+) (%S+) (%S+) (%-?%d+)$')
  if not at then
    return redis.error_reply('jwt-cutoff: unreadable rotation ' .. records[i] .. ' at ' .. KEYS[2])
  end
  until_micros = tonumber(until_micros)
  if until_micros <= now then
    redis.call('HDEL', KEYS[2], records[i])
  else
    if records[i] == session then current, previous, rotated_at = cur, prev, tonumber(at) end
    if until_micros > last_keep then last_keep = until_micros end
  end
end
if not current or current == token then
  redis.call('HSET', KEYS[2], session, ARGV[4] .. ' ' .. successor .. ' ' .. token .. ' ' .. ARGV[5])
  redis.call('PEXPIREAT', KEYS[2], math.ceil(last_keep / 1000))
  return 'rotated'
end
if previous == token and now - rotated_at <= grace then
  return 'raced'
end
local stored, changed = raise_session(KEYS[1], session, 'refused', now, keep)
if type(stored) == 'table' then return stored end
if changed then redis.call('PUBLISH', ARGV[7], ARGV[8]) end
return 'reused'
";
/// Cutoffs in Redis, shared by every instance of a service, with each change pushed to all of them.
///
/// Made by [`RedisStore::connect`] or [`RedisStore::builder`]. Clones share one connection. Use it
/// as the source of [`CutoffCache`](jwt_cutoff_store::CutoffCache), and hand a clone to
/// [`CutoffCache::follow`](jwt_cutoff_store::CutoffCache::follow) for push (see the [crate docs](crate) for the
/// key layout, the failure behaviour and what Redis must be configured with).
///
/// Subjects Redis has no key for have no cutoff.
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) client: Client,
    connection: ConnectionManager,
    prefix: Vec<u8>,
    pub(crate) channel: String,
    pub(crate) timeout: Duration,
    pub(crate) heartbeat: Duration,
    session_retention: Duration,
    raise_script: Script,
    raise_session_script: Script,
    spend_script: Script,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the client: its connection info may hold a password.
        f.debug_struct("RedisStore")
            .field("key_prefix", &String::from_utf8_lossy(&self.inner.prefix))
            .field("channel", &self.inner.channel)
            .field("timeout", &self.inner.timeout)
            .field("heartbeat", &self.inner.heartbeat)
            .field("session_retention", &self.inner.session_retention)
            .finish_non_exhaustive()
    }
}

/// Configures a [`RedisStore`]; made by [`RedisStore::builder`].
#[must_use]
#[derive(Debug)]
pub struct RedisStoreBuilder {
    client: HiddenClient,
    prefix: String,
    channel: Option<String>,
    timeout: Duration,
    heartbeat: Duration,
    session_retention: Duration,
    connection_config: Option<ConnectionManagerConfig>,
}

/// The builder's client, shown by `Debug` only as being there: its connection info may hold a
/// password, and its address is the operator's business, not the logs'.
struct HiddenClient(Client);

impl fmt::Debug for HiddenClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Client { .. }")
    }
}

impl RedisStoreBuilder {
    /// What every key starts with (default `jwt-cutoff:`), so several services, tenants or test runs
    /// can share one server. Also the start of the default [channel](Self::channel).
    ///
    /// The prefixes sharing a server must not be prefixes of one another: a key is the prefix
    /// followed by `s:` and the subject, or by `g` for everyone, so with `t:` and `t:s:b:` on one
    /// server the first one's subject `b:s:x` and the second one's subject `x` are the same key,
    /// and the first one's subject `b:g` is the second one's cutoff of everyone. End every prefix
    /// with a separator and never nest them (`shop:jwt-cutoff:` beside `billing:jwt-cutoff:`, not
    /// `tenant:` beside `tenant:s:eu:`). Each store only knows its own prefix, so this cannot be
    /// checked here. See the [crate docs](crate#in-redis).
    ///
    /// ```
    /// use jwt_cutoff::Scope;
    /// use jwt_cutoff_redis::RedisStore;
    /// use jwt_cutoff_redis::redis::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = |prefix: &str| {
    ///     RedisStore::builder(Client::open("redis://127.0.0.1:6379")?)
    ///         .key_prefix(prefix)
    ///         .connect_lazily() // nothing is sent to Redis here
    /// };
    /// // Nested: tenant A's subject "b:s:x" is tenant B's subject "x", and A's "b:g" is B's everyone.
    /// let (a, b) = (store("t:")?, store("t:s:b:")?);
    /// assert_eq!(a.key(Scope::Subject("b:s:x")), b.key(Scope::Subject("x")));
    /// assert_eq!(a.key(Scope::Subject("b:g")), b.key(Scope::Everyone));
    /// // Not nested: no key of one can be a key of the other.
    /// let (shop, billing) = (store("shop:jwt-cutoff:")?, store("billing:jwt-cutoff:")?);
    /// assert_ne!(shop.key(Scope::Everyone), billing.key(Scope::Everyone));
    /// # Ok(())
    /// # }
    /// ```
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The pub/sub channel changes are published on and followed from (default: the key prefix
    /// followed by `changes`, so `jwt-cutoff:changes`). Every instance sharing the keys must use the
    /// same channel.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = Some(channel.into());
        self
    }

    /// How long one command may take, waiting for a reconnect included, before it fails (default
    /// 2 s). Also bounds connecting and subscribing the push channel, and each heartbeat.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a session's cutoff ([`Scope::Session`]) is kept after it was last raised (default
    /// [`DEFAULT_SESSION_RETENTION`], 31 days). Make it at least the refresh-token lifetime: a
    /// session forgotten while one of its tokens is unexpired would let that token through again.
    /// A subject's sessions share one hash, which Redis deletes with its last session; each session
    /// write also deletes the subject's sessions past their retention.
    pub fn session_retention(mut self, retention: Duration) -> Self {
        self.session_retention = retention;
        self
    }

    /// How often a push subscription pings Redis to find out that its connection died without
    /// closing (default 5 s, at least 10 ms). A ping unanswered within the [timeout](Self::timeout)
    /// counts as a lost connection.
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = interval.max(MIN_HEARTBEAT);
        self
    }

    /// Replaces the command connection's reconnect settings (by default: 100 ms doubling to at most
    /// 1 s, six attempts per reconnect; connection and response timeouts of the
    /// [timeout](Self::timeout)).
    pub fn connection_config(mut self, config: ConnectionManagerConfig) -> Self {
        self.connection_config = Some(config);
        self
    }

    /// Connects, and fails if Redis cannot be reached (after a few quick retries).
    ///
    /// # Errors
    /// Redis could not be reached, or refused the connection (authentication, say).
    pub async fn connect(self) -> Result<RedisStore, RedisError> {
        let (client, config, store) = self.parts();
        let connection = ConnectionManager::new_with_config(client.clone(), config).await?;
        Ok(store(client, connection))
    }

    /// Makes the store without connecting: the first command connects. For services that must
    /// start while Redis is down (they answer 503 until it is back).
    ///
    /// # Errors
    /// Called outside a Tokio runtime (the connection's background task needs one).
    pub fn connect_lazily(self) -> Result<RedisStore, RedisError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisError::from((
                redis::ErrorKind::Client,
                "jwt-cutoff-redis: connect_lazily must be called within a Tokio runtime",
            )));
        }
        let (client, config, store) = self.parts();
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(store(client, connection))
    }

    fn parts(
        self,
    ) -> (
        Client,
        ConnectionManagerConfig,
        impl FnOnce(Client, ConnectionManager) -> RedisStore,
    ) {
        let config = self.connection_config.unwrap_or_else(|| {
            ConnectionManagerConfig::new()
                .set_min_delay(Duration::from_millis(100))
                .set_max_delay(Duration::from_secs(1))
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(self.timeout))
        });
        let channel = self
            .channel
            .unwrap_or_else(|| format!("{}changes", self.prefix));
        let (prefix, timeout, heartbeat) = (self.prefix.into_bytes(), self.timeout, self.heartbeat);
        let session_retention = self.session_retention;
        let store = move |client, connection| RedisStore {
            inner: Arc::new(Inner {
                client,
                connection,
                prefix,
                channel,
                timeout,
                heartbeat,
                session_retention,
                raise_script: Script::new(&format!("{CUTOFF_FUNCTIONS}{RAISE_SCRIPT}")),
                raise_session_script: Script::new(&format!(
                    "{CUTOFF_FUNCTIONS}{SESSION_FUNCTIONS}{RAISE_SESSION_SCRIPT}"
                )),
                spend_script: Script::new(&format!(
                    "{CUTOFF_FUNCTIONS}{SESSION_FUNCTIONS}{SPEND_SCRIPT}"
                )),
            }),
        };
        (self.client.0, config, store)
    }
}

impl RedisStore {
    /// Connects to the Redis at `url` (such as `redis://127.0.0.1:6379`) with the default settings.
    ///
    /// # Errors
    /// The URL is invalid, or Redis could not be reached.
    pub async fn connect(url: &str) -> Result<Self, RedisError> {
        Self::builder(Client::open(url)?).connect().await
    }

    /// Configures a store that talks to Redis through `client`.
    pub fn builder(client: Client) -> RedisStoreBuilder {
        RedisStoreBuilder {
            client: HiddenClient(client),
            prefix: DEFAULT_PREFIX.to_owned(),
            channel: None,
            timeout: DEFAULT_TIMEOUT,
            heartbeat: DEFAULT_HEARTBEAT,
            session_retention: DEFAULT_SESSION_RETENTION,
            connection_config: None,
        }
    }

    /// The key holding `scope`'s cutoff, for operators and tests that look at Redis directly. A
    /// session's is the subject's session hash (`<prefix>r:<subject>`), whose field named by the
    /// session id holds `<cutoff> <kept until, in microseconds>`.
    #[must_use]
    pub fn key(&self, scope: Scope<'_>) -> Vec<u8> {
        match scope {
            Scope::Subject(subject) => self.subject_key(b"s:", subject),
            Scope::Session { subject, .. } => self.subject_key(b"r:", subject),
            Scope::Everyone => self.subject_key(b"g", ""),
        }
    }

    /// The pub/sub channel changes are published on.
    #[must_use]
    pub fn channel(&self) -> &str {
        &self.inner.channel
    }

    /// Runs one command against the shared connection, bounded by the timeout.
    async fn bounded<T>(
        &self,
        command: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, SourceError> {
        match tokio::time::timeout(self.inner.timeout, command).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(SourceError::from_error(error)),
            Err(_elapsed) => Err(SourceError::new(format!(
                "redis did not answer within {:?}",
                self.inner.timeout
            ))),
        }
    }
}

/// Subjects longer than [`MAX_SUBJECT_BYTES`](jwt_cutoff_store::MAX_SUBJECT_BYTES) are refused with an error before Redis is asked, in
/// lookups and writes alike.
impl CutoffSource for RedisStore {
    fn lookup<'a>(&'a self, subject: &'a str) -> LookupFuture<'a> {
        Box::pin(async move {
            check_subject(subject)?;
            let mut connection = self.inner.connection.clone();
            let keys = [self.key(Scope::Subject(subject)), self.key(Scope::Everyone)];
            let sessions_key = self.key(Scope::Session {
                subject,
                session: "",
            });
            // One round trip: both cutoffs and the subject's sessions.
            let (values, sessions): (Vec<Option<String>>, Vec<(String, String)>) = self
                .bounded(
                    redis::pipe()
                        .cmd("MGET")
                        .arg(&keys[..])
                        .cmd("HGETALL")
                        .arg(&sessions_key)
                        .query_async(&mut connection),
                )
                .await?;
            let cutoff = values.iter().try_fold(Cutoff::NoCutoff, |cutoff, value| {
                Ok::<_, SourceError>(cutoff.max(decode(value.as_deref())?))
            })?;
            let now = Timestamp::now();
            sessions
                .iter()
                .try_fold(SubjectCutoffs::from(cutoff), |cutoffs, (session, value)| {
                    let (session_cutoff, keep_until) = decode_session(value)?;
                    Ok(if keep_until > now {
                        cutoffs.with_session(session, session_cutoff)
                    } else {
                        cutoffs
                    })
                })
        })
    }

    fn stored<'a>(&'a self, scope: Scope<'a>) -> CutoffFuture<'a> {
        Box::pin(async move {
            check_scope(scope)?;
            let mut connection = self.inner.connection.clone();
            let Scope::Session { subject, session } = scope else {
                let key = self.key(scope);
                let value: Option<String> = self
                    .bounded(redis::cmd("GET").arg(&key).query_async(&mut connection))
                    .await?;
                return decode(value.as_deref());
            };
            let sessions_key = self.key(Scope::Session {
                subject,
                session: "",
            });
            let value: Option<String> = self
                .bounded(
                    redis::cmd("HGET")
                        .arg(&sessions_key)
                        .arg(session)
                        .query_async(&mut connection),
                )
                .await?;
            let Some(value) = value else {
                return Ok(Cutoff::NoCutoff);
            };
            let (cutoff, keep_until) = decode_session(&value)?;
            Ok(if keep_until > Timestamp::now() {
                cutoff
            } else {
                Cutoff::NoCutoff
            })
        })
    }

    fn raise<'a>(&'a self, scope: Scope<'a>, to: Cutoff) -> CutoffFuture<'a> {
        Box::pin(async move {
            check_scope(scope)?;
            if let Scope::Session { session, .. } = scope {
                return self.raise_session(scope, session, to).await;
            }
            let mut connection = self.inner.connection.clone();
            let key = self.key(scope);
            let stored: Option<String> = match encode(to) {
                // Nothing to raise to: report what is stored.
                None => {
                    self.bounded(redis::cmd("GET").arg(&key).query_async(&mut connection))
                        .await?
                }
                Some(value) => {
                    let change = CutoffChange::new(scope, to);
                    self.bounded(
                        self.inner
                            .raise_script
                            .key(&key)
                            .arg(value)
                            .arg(&self.inner.channel)
                            .arg(change.encode())
                            .invoke_async(&mut connection),
                    )
                    .await?
                }
            };
            decode(stored.as_deref())
        })
    }
}

impl RedisStore {
    /// [`CutoffSource::raise`] for a session: one script that also forgets the subject's sessions
    /// past their retention.
    async fn raise_session(
        &self,
        scope: Scope<'_>,
        session: &str,
        to: Cutoff,
    ) -> Result<Cutoff, SourceError> {
        let mut connection = self.inner.connection.clone();
        let now = Timestamp::now();
        let keep_until = now.saturating_add(self.inner.session_retention);
        let value = encode(to).unwrap_or_else(|| "-".to_owned());
        let stored: Option<String> = self
            .bounded(
                self.inner
                    .raise_session_script
                    .key(self.key(scope))
                    .arg(&value)
                    .arg(session)
                    .arg(now.as_unix_micros())
                    .arg(keep_until.as_unix_micros())
                    .arg(&self.inner.channel)
                    .arg(CutoffChange::new(scope, to).encode())
                    .invoke_async(&mut connection),
            )
            .await?;
        decode(stored.as_deref())
    }
}

impl RefreshTokens for RedisStore {
    fn spend<'a>(&'a self, spend: Spend<'a>) -> BoxFuture<'a, Result<Spent, SourceError>> {
        Box::pin(async move {
            check_spend(&spend)?;
            let mut connection = self.inner.connection.clone();
            let now = Timestamp::now();
            let keep_until = now.saturating_add(self.inner.session_retention);
            let scope = Scope::Session {
                subject: spend.subject,
                session: spend.session,
            };
            let grace = i64::try_from(spend.grace.as_micros()).unwrap_or(i64::MAX);
            let answer: String = self
                .bounded(
                    self.inner
                        .spend_script
                        .key(self.key(scope))
                        .key(self.rotation_key(spend.subject))
                        .arg(spend.session)
                        .arg(spend.token)
                        .arg(spend.successor)
                        .arg(now.as_unix_micros())
                        .arg(keep_until.as_unix_micros())
                        .arg(grace)
                        .arg(&self.inner.channel)
                        .arg(CutoffChange::new(scope, Cutoff::Refused).encode())
                        .invoke_async(&mut connection),
                )
                .await?;
            match answer.as_str() {
                "rotated" => Ok(Spent::Rotated),
                "raced" => Ok(Spent::Raced),
                "reused" => Ok(Spent::Reused),
                "revoked" => Ok(Spent::Revoked),
                _ => Err(SourceError::new(
                    "the spend script answered something unknown",
                )),
            }
        })
    }
}

impl RedisStore {
    /// The hash holding the rotation records of `subject`'s sessions: prefix, `t:`, the subject.
    fn rotation_key(&self, subject: &str) -> Vec<u8> {
        self.subject_key(b"t:", subject)
    }

    /// The prefix, the kind of key, the subject.
    fn subject_key(&self, kind: &[u8], subject: &str) -> Vec<u8> {
        let prefix = &self.inner.prefix;
        let mut key = Vec::with_capacity(prefix.len() + kind.len() + subject.len());
        key.extend_from_slice(prefix);
        key.extend_from_slice(kind);
        key.extend_from_slice(subject.as_bytes());
        key
    }
}

/// A session's field: its cutoff and until when it is kept.
fn decode_session(value: &str) -> Result<(Cutoff, Timestamp), SourceError> {
    let unreadable = || SourceError::new("redis holds a session that is not a cutoff");
    let (cutoff, keep_until) = value.split_once(' ').ok_or_else(unreadable)?;
    let keep_until = keep_until.parse().map_err(|_| unreadable())?;
    Ok((
        decode(Some(cutoff))?,
        Timestamp::from_unix_micros(keep_until),
    ))
}

/// A cutoff as stored in Redis; `None` for [`Cutoff::NoCutoff`], which is the absence of a key.
fn encode(cutoff: Cutoff) -> Option<String> {
    match cutoff {
        Cutoff::NoCutoff => None,
        Cutoff::ValidFrom(at) => Some(at.as_unix_micros().to_string()),
        Cutoff::Refused => Some(REFUSED.to_owned()),
    }
}

/// Reads a stored cutoff; only what [`encode`] writes, exactly.
fn decode(value: Option<&str>) -> Result<Cutoff, SourceError> {
    let Some(value) = value else {
        return Ok(Cutoff::NoCutoff);
    };
    if value == REFUSED {
        return Ok(Cutoff::Refused);
    }
    match value.parse::<i64>() {
        // Canonical decimal only: no sign, leading zeros or spaces that the script would not accept.
        Ok(micros) if micros.to_string() == value => {
            Ok(Cutoff::ValidFrom(Timestamp::from_unix_micros(micros)))
        }
        _ => Err(SourceError::new(
            "redis holds a value that is not a cutoff under a cutoff key",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn cutoffs_round_trip_through_their_stored_form() {
        for cutoff in [
            Cutoff::ValidFrom(Timestamp::from_unix_micros(1_764_384_000_123_456)),
            Cutoff::ValidFrom(Timestamp::from_unix_micros(0)),
            Cutoff::ValidFrom(Timestamp::from_unix_micros(-42)),
            Cutoff::ValidFrom(Timestamp::from_unix_micros(i64::MAX)),
            Cutoff::ValidFrom(Timestamp::from_unix_micros(i64::MIN)),
            Cutoff::Refused,
            Cutoff::NoCutoff,
        ] {
            assert_eq!(decode(encode(cutoff).as_deref()).unwrap(), cutoff);
        }
    }

    #[test]
    fn connecting_lazily_outside_a_runtime_is_an_error_not_a_panic() {
        let client = Client::open("redis://127.0.0.1:6379").unwrap();
        assert!(RedisStore::builder(client).connect_lazily().is_err());
    }

    #[tokio::test]
    async fn debug_shows_the_settings_but_not_where_redis_is_or_its_password() {
        let client = Client::open("redis://user:hunter2@redis.internal:6390/3").unwrap();
        let builder = RedisStore::builder(client).key_prefix("shop:");
        let shown = format!("{builder:?}");
        assert!(shown.contains("\"shop:\""), "{shown}");
        let store = builder.connect_lazily().unwrap();
        for shown in [shown, format!("{store:?}")] {
            for secret in ["hunter2", "redis.internal", "6390"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
        }
    }

    #[test]
    fn only_canonical_values_decode() {
        for value in [
            "", " 1", "1 ", "+1", "01", "-0", "1.5", "1e3", "Refused", "none", "-",
        ] {
            assert!(decode(Some(value)).is_err(), "{value:?}");
        }
    }
}

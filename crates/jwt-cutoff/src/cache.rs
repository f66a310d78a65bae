//! [`Cutoffs`]: the cached view of a [`CutoffSource`], and the writes that take effect at once.

use std::collections::HashMap;
use std::fmt;
use std::future::ready;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use moka::Expiry;
use moka::future::Cache;
use moka::ops::compute::Op;

use crate::cutoff::Cutoff;
use crate::metrics;
use crate::reject::Rejection;
use crate::source::{CutoffSource, Scope, SourceError};
use crate::time::{NumericDate, Timestamp};

/// Cached cutoffs for one service instance, in front of a [`CutoffSource`].
///
/// - Lookups are cached for a time-to-live (default 30 s) in a bounded cache (default 100 000
///   subjects). "No cutoff" is cached too. Without a push channel from the store, a change written by
///   *another* instance is seen here at the latest one TTL later; changes written through this
///   `Cutoffs` (and pushed ones, see [`follow`](Cutoffs::follow) and [`apply`](Cutoffs::apply)) are
///   in force at once.
/// - Concurrent lookups of one uncached subject make exactly one source call; its answer, or its
///   error, reaches every waiter. Errors are never cached. Each call is bounded by a timeout (default
///   2 s), so a hanging store cannot hold requests, and a waiter that goes away never strands the
///   others.
/// - A source that cannot answer makes requests fail closed (HTTP 503), unless
///   [`serve_stale_for`](CutoffsBuilder::serve_stale_for) allows a cached answer of bounded age.
/// - Cutoffs only move forward here too: a late write, a slow lookup racing a logout or a replayed
///   push can never lower a cached cutoff.
///
/// Clones share one cache. Lookups need a Tokio runtime (for the timeout).
///
/// ```
/// use jwt_cutoff::{Cutoff, Cutoffs, MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let cutoffs = Cutoffs::new(MemoryStore::new());
/// let cutoff_time = cutoffs.logout_all("alice").await?;
/// assert_eq!(cutoffs.lookup("alice").await?, Cutoff::ValidFrom(cutoff_time));
/// # Ok::<_, jwt_cutoff::SourceError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Cutoffs {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    source: Box<dyn CutoffSource>,
    fresh: Cache<String, Cutoff>,
    /// Answers kept past the TTL for the opt-in serve-stale policy, each for at most its maximum age.
    last_known: Option<Cache<String, Cutoff>>,
    /// The [`Scope::Everyone`] cutoff as last written or pushed here, encoded by [`encode_everyone`].
    everyone: AtomicI64,
    lookup_timeout: Duration,
    push_state: Arc<AtomicU8>,
    /// Subjects with a lookup under way, counted per caller: see [`Cutoffs::apply`].
    loading: Mutex<HashMap<String, usize>>,
}

impl Shared {
    fn loading(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        // The map only holds counters that are updated in one step each, so a panic elsewhere
        // cannot leave it inconsistent.
        self.loading.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_loading(&self, subject: &str) -> bool {
        self.loading().contains_key(subject)
    }
}

/// Marks a subject as loading from creation until drop, which comes after the cache insert.
struct Loading<'a> {
    shared: &'a Shared,
    subject: &'a str,
}

impl<'a> Loading<'a> {
    fn start(shared: &'a Shared, subject: &'a str) -> Self {
        *shared.loading().entry(subject.to_owned()).or_insert(0) += 1;
        Self { shared, subject }
    }
}

impl Drop for Loading<'_> {
    fn drop(&mut self) {
        let mut loading = self.shared.loading();
        if let Some(count) = loading.get_mut(self.subject) {
            *count -= 1;
            if *count == 0 {
                loading.remove(self.subject);
            }
        }
    }
}

/// Whether a push channel keeps this cache current; it decides how long new entries live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum PushState {
    /// No channel is followed.
    None = 0,
    Connected = 1,
    Disconnected = 2,
}

/// Entries live for the TTL with push while a push channel is connected, else for the plain TTL.
/// A raise counts as fresh knowledge and restarts the clock.
struct PushAwareExpiry {
    time_to_live: Duration,
    time_to_live_with_push: Duration,
    push_state: Arc<AtomicU8>,
}

impl PushAwareExpiry {
    fn current(&self) -> Option<Duration> {
        if self.push_state.load(Ordering::Acquire) == PushState::Connected as u8 {
            Some(self.time_to_live_with_push)
        } else {
            Some(self.time_to_live)
        }
    }
}

impl Expiry<String, Cutoff> for PushAwareExpiry {
    fn expire_after_create(&self, _: &String, _: &Cutoff, _: Instant) -> Option<Duration> {
        self.current()
    }

    fn expire_after_update(
        &self,
        _: &String,
        _: &Cutoff,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.current()
    }
}

impl fmt::Debug for Cutoffs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cutoffs")
            .field("cached_subjects", &self.shared.fresh.entry_count())
            .field("everyone", &self.everyone())
            .field("lookup_timeout", &self.shared.lookup_timeout)
            .field("serve_stale", &self.shared.last_known.is_some())
            .finish_non_exhaustive()
    }
}

/// Configures [`Cutoffs`]; made by [`Cutoffs::builder`].
#[must_use]
pub struct CutoffsBuilder {
    source: Box<dyn CutoffSource>,
    time_to_live: Duration,
    time_to_live_with_push: Option<Duration>,
    max_subjects: u64,
    lookup_timeout: Duration,
    serve_stale_for: Option<Duration>,
}

impl fmt::Debug for CutoffsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CutoffsBuilder")
            .field("time_to_live", &self.time_to_live)
            .field("time_to_live_with_push", &self.time_to_live_with_push)
            .field("max_subjects", &self.max_subjects)
            .field("lookup_timeout", &self.lookup_timeout)
            .field("serve_stale_for", &self.serve_stale_for)
            .finish_non_exhaustive()
    }
}

impl CutoffsBuilder {
    /// How long a looked-up cutoff is trusted before the source is asked again (default 30 s).
    ///
    /// Without push from the store, this is how late a change written by another instance can be
    /// seen here. Keep it well under the access-token lifetime.
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.time_to_live = ttl;
        self
    }

    /// How long a looked-up cutoff is trusted while a push channel followed with
    /// [`Cutoffs::follow`] is connected (default: the same as [`time_to_live`](Self::time_to_live)).
    ///
    /// Pushed changes are applied at once, so this can be minutes; it bounds the damage of a lost
    /// message. While the channel is down the plain TTL applies again.
    pub fn time_to_live_with_push(mut self, ttl: Duration) -> Self {
        self.time_to_live_with_push = Some(ttl);
        self
    }

    /// How many subjects the cache holds at most (default 100 000); the least useful are evicted.
    pub fn max_subjects(mut self, max: u64) -> Self {
        self.max_subjects = max;
        self
    }

    /// How long one source call (a lookup, or the write behind a logout) may take before it counts
    /// as failed (default 2 s).
    pub fn lookup_timeout(mut self, timeout: Duration) -> Self {
        self.lookup_timeout = timeout;
        self
    }

    /// When the source fails, answer with a cutoff looked up at most `max_age` ago, if one is cached.
    ///
    /// Off by default: a failing source fails closed. Never invents an answer for a subject that was
    /// not looked up within `max_age`. Changes written or pushed here still apply at once.
    pub fn serve_stale_for(mut self, max_age: Duration) -> Self {
        self.serve_stale_for = Some(max_age);
        self
    }

    /// The configured cache.
    #[must_use]
    pub fn build(self) -> Cutoffs {
        let push_state = Arc::new(AtomicU8::new(PushState::None as u8));
        let fresh = Cache::builder()
            .max_capacity(self.max_subjects)
            .expire_after(PushAwareExpiry {
                time_to_live: self.time_to_live,
                time_to_live_with_push: self.time_to_live_with_push.unwrap_or(self.time_to_live),
                push_state: Arc::clone(&push_state),
            })
            .build();
        let last_known = self.serve_stale_for.map(|max_age| {
            Cache::builder()
                .max_capacity(self.max_subjects)
                .time_to_live(max_age)
                .build()
        });
        Cutoffs {
            shared: Arc::new(Shared {
                source: self.source,
                fresh,
                last_known,
                everyone: AtomicI64::new(encode_everyone(Cutoff::NoCutoff)),
                lookup_timeout: self.lookup_timeout,
                push_state,
                loading: Mutex::default(),
            }),
        }
    }
}

impl Cutoffs {
    /// A cache with the default settings in front of `source`.
    pub fn new(source: impl CutoffSource) -> Self {
        Self::builder(source).build()
    }

    /// Configures a cache in front of `source`.
    pub fn builder(source: impl CutoffSource) -> CutoffsBuilder {
        CutoffsBuilder {
            source: Box::new(source),
            time_to_live: Duration::from_secs(30),
            time_to_live_with_push: None,
            max_subjects: 100_000,
            lookup_timeout: Duration::from_secs(2),
            serve_stale_for: None,
        }
    }

    /// The cutoff in force for `subject`: from the cache, or from the source on a miss.
    ///
    /// Includes the [`Scope::Everyone`] cutoff.
    ///
    /// # Errors
    /// The source failed or timed out, and no answer could be served stale.
    pub async fn lookup(&self, subject: &str) -> Result<Cutoff, SourceError> {
        let own = match self.shared.fresh.get(subject).await {
            Some(cutoff) => {
                metrics::cache_hit();
                cutoff
            }
            None => {
                metrics::cache_miss();
                self.load(subject).await?
            }
        };
        Ok(own.max(self.everyone()))
    }

    /// The cutoff check of a verified token: its subject's cutoff, from the cache or the source,
    /// against its `iat`.
    pub(crate) async fn check(
        &self,
        subject: &str,
        issued_at: NumericDate,
    ) -> Result<(), Rejection> {
        match self.lookup(subject).await {
            Ok(cutoff) => cutoff.check(issued_at).map_err(Rejection::new),
            Err(error) => Err(Rejection::unavailable(error)),
        }
    }

    /// The cutoff check answered from the cache alone, without waiting: `None` when the subject is not
    /// cached (or the cache is busy), and [`check`](Self::check) must run instead.
    pub(crate) fn check_cached(
        &self,
        subject: &str,
        issued_at: NumericDate,
    ) -> Option<Result<(), Rejection>> {
        let own = self.shared.fresh.get(subject).now_or_never().flatten()?;
        metrics::cache_hit();
        Some(
            own.max(self.everyone())
                .check(issued_at)
                .map_err(Rejection::new),
        )
    }

    async fn load(&self, subject: &str) -> Result<Cutoff, SourceError> {
        let shared = &self.shared;
        let loaded = {
            let _loading = Loading::start(shared, subject);
            shared
                .fresh
                .try_get_with_by_ref(subject, self.fetch(subject))
                .await
        };
        match loaded {
            Ok(cutoff) => Ok(cutoff),
            Err(error) => {
                metrics::source_error();
                let stale = match &shared.last_known {
                    Some(last_known) => last_known.get(subject).await,
                    None => None,
                };
                match stale {
                    Some(cutoff) => {
                        tracing::warn!(error = %error, "jwt-cutoff: serving a stale cutoff");
                        Ok(cutoff)
                    }
                    None => Err(SourceError::clone(&error)),
                }
            }
        }
    }

    /// One bounded source call; the caller caches its answer through `try_get_with`, which is what
    /// coalesces concurrent callers.
    async fn fetch(&self, subject: &str) -> Result<Cutoff, SourceError> {
        let shared = &self.shared;
        let answer = tokio::time::timeout(shared.lookup_timeout, shared.source.lookup(subject))
            .await
            .unwrap_or_else(|_elapsed| {
                Err(SourceError::new(format!(
                    "lookup timed out after {:?}",
                    shared.lookup_timeout
                )))
            })?;
        if let Some(last_known) = &shared.last_known {
            last_known
                .entry_by_ref(subject)
                .and_upsert_with(|current| {
                    ready(current.map_or(answer, |entry| entry.into_value().max(answer)))
                })
                .await;
        }
        Ok(answer)
    }

    /// Logs `subject` out from all devices: every token issued before now is refused from the moment
    /// this returns, on this instance (and on others when the store pushes, or within their TTL).
    ///
    /// Returns the new cutoff time. Tokens the [`TokenIssuer`](crate::TokenIssuer) of this process
    /// mints after the call returns are accepted, even within the same second.
    ///
    /// # Errors
    /// The source is read-only or could not store the cutoff; nothing changed here then.
    pub async fn logout_all(&self, subject: &str) -> Result<Timestamp, SourceError> {
        let at = Timestamp::now();
        self.raise(Scope::Subject(subject), Cutoff::ValidFrom(at))
            .await?;
        Ok(at)
    }

    /// Refuses every token of `subject`, for a deleted or disabled account.
    ///
    /// # Errors
    /// The source is read-only or could not store the change; nothing changed here then.
    pub async fn refuse(&self, subject: &str) -> Result<(), SourceError> {
        self.raise(Scope::Subject(subject), Cutoff::Refused).await
    }

    /// Logs every subject out: tokens issued before now are refused, whoever they belong to.
    ///
    /// # Errors
    /// The source is read-only or could not store the cutoff; nothing changed here then.
    pub async fn logout_everyone(&self) -> Result<Timestamp, SourceError> {
        let at = Timestamp::now();
        self.raise(Scope::Everyone, Cutoff::ValidFrom(at)).await?;
        Ok(at)
    }

    async fn raise(&self, scope: Scope<'_>, to: Cutoff) -> Result<(), SourceError> {
        let timeout = self.shared.lookup_timeout;
        let stored = tokio::time::timeout(timeout, self.shared.source.raise(scope, to))
            .await
            .unwrap_or_else(|_elapsed| {
                Err(SourceError::new(format!(
                    "write timed out after {timeout:?}"
                )))
            })?;
        self.apply(scope, stored).await;
        Ok(())
    }

    /// Brings this instance's cache up to a cutoff that was already stored: one pushed by the store
    /// after another instance wrote it, or one your own code wrote to a read-only source.
    ///
    /// Monotonic: an older or replayed change never lowers what is cached. Returns when the change
    /// is in force here. A subject this instance has not cached is left alone: its next lookup
    /// reads the store, which must therefore already hold the change (read-your-writes; a lagging
    /// read replica would be read for up to one TTL).
    pub async fn apply(&self, scope: Scope<'_>, cutoff: Cutoff) {
        match scope {
            Scope::Everyone => {
                self.shared
                    .everyone
                    .fetch_max(encode_everyone(cutoff), Ordering::AcqRel);
            }
            Scope::Subject(subject) => {
                // A lookup of this subject may be in flight, holding what the store said before this
                // change; it would overwrite a raise made now. Joining it (one `try_get_with`
                // coalesces with it) lets it insert first, so the raise below lands after it.
                // `loading` is read before the cache: a lookup inserts before it stops counting as
                // loading, so one that finished in between is seen as cached. A subject neither
                // loading nor cached needs nothing: its next lookup reads the changed store.
                if self.shared.is_loading(subject) || self.shared.fresh.contains_key(subject) {
                    let _ = self
                        .shared
                        .fresh
                        .try_get_with_by_ref(subject, self.fetch(subject))
                        .await;
                    raise_if_cached(&self.shared.fresh, subject, cutoff).await;
                }
                if let Some(last_known) = &self.shared.last_known {
                    raise_if_cached(last_known, subject, cutoff).await;
                }
            }
        }
    }

    /// Forgets the cached cutoff of `subject`; the next request looks it up again.
    pub async fn invalidate(&self, subject: &str) {
        self.shared.fresh.invalidate(subject).await;
    }

    /// Forgets every cached cutoff, for instance after a push channel was down and changes may have
    /// been missed. The [`Scope::Everyone`] cutoff known here is kept: it only moves forward.
    pub fn invalidate_all(&self) {
        self.shared.fresh.invalidate_all();
    }

    /// Whether a push channel followed with [`follow`](Cutoffs::follow) is connected right now; for
    /// health checks.
    #[must_use]
    pub fn push_connected(&self) -> bool {
        self.shared.push_state.load(Ordering::Acquire) == PushState::Connected as u8
    }

    pub(crate) fn set_push_state(&self, state: PushState) {
        self.shared.push_state.store(state as u8, Ordering::Release);
    }

    fn everyone(&self) -> Cutoff {
        decode_everyone(self.shared.everyone.load(Ordering::Acquire))
    }
}

/// Raises a cached cutoff in place. An absent subject stays absent: the entry holds the subject's
/// whole answer (wider cutoffs included), which `to` alone is not.
async fn raise_if_cached(cache: &Cache<String, Cutoff>, subject: &str, to: Cutoff) {
    cache
        .entry_by_ref(subject)
        .and_compute_with(|current| {
            ready(match current {
                Some(entry) if *entry.value() < to => Op::Put(to),
                _ => Op::Nop,
            })
        })
        .await;
}

/// Packs a cutoff into an `i64` whose order matches [`Cutoff`]'s, so `fetch_max` keeps it monotonic.
fn encode_everyone(cutoff: Cutoff) -> i64 {
    match cutoff {
        Cutoff::NoCutoff => i64::MIN,
        Cutoff::ValidFrom(at) => at.as_unix_micros().clamp(i64::MIN + 1, i64::MAX - 1),
        Cutoff::Refused => i64::MAX,
    }
}

fn decode_everyone(encoded: i64) -> Cutoff {
    match encoded {
        i64::MIN => Cutoff::NoCutoff,
        i64::MAX => Cutoff::Refused,
        micros => Cutoff::ValidFrom(Timestamp::from_unix_micros(micros)),
    }
}

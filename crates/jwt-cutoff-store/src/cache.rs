//! [`CutoffCache`]: the cached view of a [`CutoffSource`], and the writes that take effect at once.
//!
//! How the cache stays monotonic while lookups, writes, pushes and reconnects race:
//! - A lookup that misses starts one *load* per subject; unless the source answers at once, the
//!   load runs in a task of its own: the callers that wait on it may go away, the load still
//!   finishes (bounded by the lookup timeout) and answers the others. Loads are registered by
//!   subject while they run.
//! - A change applied here ([`CutoffCache::apply`], and every write and push) raises the subject's
//!   cached entry if there is one, and the *floor* of its registered load if there is one. A load
//!   answers its callers, and puts in the cache, `max(what the store said, its floor)`. Both steps
//!   go through the cache's per-key compute lock, so whichever comes second sees the first: an
//!   answer read before a change can never land after it.
//! - [`CutoffCache::invalidate_all`] (a push channel reconnecting) starts a new *generation*: entries
//!   of an older generation are never served, and loads still running from before are forgotten,
//!   so what they read (raised to their floor) is answered to their callers but not kept.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use moka::Expiry;
use moka::ops::compute::Op;
use moka::sync::Cache;
use tokio::sync::watch;

use crate::cutoff::{Cutoff, SubjectCutoffs, TokenInstant, Verdict};
use crate::metrics;
use crate::push::{CutoffChange, PushChannel, PushSubscription};
use crate::source::{CutoffSource, Scope, SourceError, check_scope, check_subject};
use crate::time::Timestamp;
use crate::token_check::{Changes, TokenCheck};

/// Cached cutoffs for one service instance, in front of a [`CutoffSource`].
///
/// - Lookups are cached for a time-to-live (default 30 s) in a bounded cache (default 100 000
///   subjects). "No cutoff" is cached too. Without a push channel from the store, a change written by
///   *another* instance is seen here at the latest one TTL after this instance last asked the store;
///   changes written through this `CutoffCache` (and pushed ones, see [`follow`](CutoffCache::follow) and
///   [`apply`](CutoffCache::apply)) are in force at once.
/// - Concurrent lookups of one uncached subject make exactly one source call; its answer, or its
///   error, reaches every waiter. Errors are never cached. Each call is bounded by a timeout (default
///   2 s), so a hanging store cannot hold requests, and a waiter that goes away never strands the
///   others: the call runs in a task of its own.
/// - A source that cannot answer makes requests fail closed (HTTP 503), unless
///   [`serve_stale_for`](CutoffCacheBuilder::serve_stale_for) allows an answer of bounded age.
/// - Cutoffs only move forward here too: a late write, a slow lookup racing a logout, a lookup
///   running across a push reconnect, or a replayed push can never lower a cached cutoff.
///
/// Clones share one cache. Lookups and writes need a Tokio runtime.
///
/// ```
/// use jwt_cutoff_store::{Cutoff, CutoffCache, MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let cutoffs = CutoffCache::new(MemoryStore::new());
/// let stored = cutoffs.logout_all("alice").await?;
/// assert_eq!(cutoffs.lookup("alice").await?.cutoff(), stored);
/// # Ok::<_, jwt_cutoff_store::SourceError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct CutoffCache {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    source: Box<dyn CutoffSource>,
    fresh: Cache<String, Entry>,
    /// Answers kept past the TTL for the opt-in serve-stale policy.
    stale: Option<StaleAnswers>,
    /// The [`Scope::Everyone`] cutoff as last written or pushed here.
    everyone: RisingCutoff,
    /// Entries of another generation are never served; changed only with `loads` locked.
    generation: AtomicU64,
    store_timeout: Duration,
    push_state: Arc<AtomicU8>,
    /// How long entries live, for the admissions [`TokenCheck`]s remember from them.
    lifetime: PushAwareExpiry,
    /// Bumped by every change that could refuse a token a [`TokenCheck`] remembers as admitted.
    changes: Changes,
    loads: Mutex<Loads>,
}

/// A cached answer: the subject's cutoffs (wider ones and its sessions' included, as the store
/// answered), the generation it was read in, and when the store was asked, from which its
/// time-to-live counts.
#[derive(Clone, Debug)]
struct Entry {
    cutoffs: SubjectCutoffs,
    generation: u64,
    asked_at: Instant,
}

/// The source calls under way, by subject.
#[derive(Default)]
struct Loads {
    by_subject: HashMap<Box<str>, Load>,
    next_id: u64,
}

struct Load {
    id: u64,
    /// The latest changes applied here while this load ran: its answer is never below them.
    /// Shared with the load itself, which answers with it even once it is forgotten.
    floor: Arc<Floor>,
    /// The answer, once there is one.
    answer: Answer,
}

type Answer = watch::Receiver<Option<Result<SubjectCutoffs, SourceError>>>;

/// What a load needs to keep its answer: whose it is, which registration and generation it
/// belongs to, and its floor.
struct LoadRun {
    subject: String,
    id: u64,
    generation: u64,
    floor: Arc<Floor>,
}

/// Where a lookup that missed gets its answer.
enum Joined {
    /// A load finished between the miss and the registration: the cache has it.
    Cached(SubjectCutoffs),
    Load(Answer),
}

/// Removes a load's registration when the load ends, however it ends (a panicking source
/// included), unless a newer load has taken its place.
struct Registration<'a> {
    shared: &'a Shared,
    subject: &'a str,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut loads = self.shared.loads();
        if loads
            .by_subject
            .get(self.subject)
            .is_some_and(|load| load.id == self.id)
        {
            loads.by_subject.remove(self.subject);
        }
    }
}

/// Answers kept for the serve-stale policy, each until `max_age` after the store gave it.
struct StaleAnswers {
    answers: Cache<String, Entry>,
    max_age: Duration,
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

/// An entry lives for the TTL with push while a push channel is connected, else for the plain TTL,
/// counted from when the store was asked: raising a cached cutoff makes its answer no younger.
#[derive(Clone)]
struct PushAwareExpiry {
    time_to_live: Duration,
    time_to_live_with_push: Duration,
    push_state: Arc<AtomicU8>,
}

impl PushAwareExpiry {
    fn remaining(&self, entry: &Entry, now: Instant) -> Option<Duration> {
        let time_to_live = if self.push_state.load(Ordering::Acquire) == PushState::Connected as u8
        {
            self.time_to_live_with_push
        } else {
            self.time_to_live
        };
        Some(time_to_live.saturating_sub(now.saturating_duration_since(entry.asked_at)))
    }
}

impl Expiry<String, Entry> for PushAwareExpiry {
    fn expire_after_create(&self, _: &String, entry: &Entry, now: Instant) -> Option<Duration> {
        self.remaining(entry, now)
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.remaining(entry, now)
    }
}

/// A stale answer lives until `max_age` after the store was asked.
struct UntilMaxAge(Duration);

impl Expiry<String, Entry> for UntilMaxAge {
    fn expire_after_create(&self, _: &String, entry: &Entry, now: Instant) -> Option<Duration> {
        Some(
            self.0
                .saturating_sub(now.saturating_duration_since(entry.asked_at)),
        )
    }

    fn expire_after_update(
        &self,
        key: &String,
        entry: &Entry,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, entry, now)
    }
}

impl fmt::Debug for CutoffCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CutoffCache")
            .field("cached_subjects", &self.shared.fresh.entry_count())
            .field("everyone", &self.shared.everyone())
            .field("store_timeout", &self.shared.store_timeout)
            .field("serve_stale", &self.shared.stale.is_some())
            .finish_non_exhaustive()
    }
}

/// Configures [`CutoffCache`]; made by [`CutoffCache::builder`].
#[derive(Debug)]
#[must_use]
pub struct CutoffCacheBuilder {
    source: Box<dyn CutoffSource>,
    time_to_live: Duration,
    time_to_live_with_push: Option<Duration>,
    max_subjects: u64,
    store_timeout: Duration,
    serve_stale_for: Option<Duration>,
}

impl CutoffCacheBuilder {
    /// How long a looked-up cutoff is trusted before the source is asked again (default 30 s).
    ///
    /// Without push from the store, this is how late a change written by another instance can be
    /// seen here. Keep it well under the access-token lifetime.
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.time_to_live = ttl;
        self
    }

    /// How long a looked-up cutoff is trusted while a push channel followed with
    /// [`CutoffCache::follow`] is connected (default: the same as [`time_to_live`](Self::time_to_live)).
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
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// When the source fails, answer with what it said at most `max_age` ago, if that is cached.
    ///
    /// Off by default: a failing source fails closed. Never invents an answer for a subject that was
    /// not looked up within `max_age`, and changes applied since do not make an answer younger.
    /// Changes written or pushed here still apply at once. Refresh-token checks never use it (see
    /// [`CutoffCache::lookup_in_store`]).
    pub fn serve_stale_for(mut self, max_age: Duration) -> Self {
        self.serve_stale_for = Some(max_age);
        self
    }

    /// The configured cache.
    #[must_use]
    pub fn build(self) -> CutoffCache {
        let push_state = Arc::new(AtomicU8::new(PushState::None as u8));
        let lifetime = PushAwareExpiry {
            time_to_live: self.time_to_live,
            time_to_live_with_push: self.time_to_live_with_push.unwrap_or(self.time_to_live),
            push_state: Arc::clone(&push_state),
        };
        let fresh = Cache::builder()
            .max_capacity(self.max_subjects)
            .expire_after(lifetime.clone())
            .build();
        let stale = self.serve_stale_for.map(|max_age| StaleAnswers {
            answers: Cache::builder()
                .max_capacity(self.max_subjects)
                .expire_after(UntilMaxAge(max_age))
                .build(),
            max_age,
        });
        CutoffCache {
            shared: Arc::new(Shared {
                source: self.source,
                fresh,
                stale,
                everyone: RisingCutoff::default(),
                generation: AtomicU64::new(0),
                store_timeout: self.store_timeout,
                push_state,
                lifetime,
                changes: Changes::new(),
                loads: Mutex::default(),
            }),
        }
    }
}

impl CutoffCache {
    /// A cache with the default settings in front of `source`.
    pub fn new(source: impl CutoffSource) -> Self {
        Self::builder(source).build()
    }

    /// Configures a cache in front of `source`.
    pub fn builder(source: impl CutoffSource) -> CutoffCacheBuilder {
        CutoffCacheBuilder {
            source: Box::new(source),
            time_to_live: Duration::from_secs(30),
            time_to_live_with_push: None,
            max_subjects: 100_000,
            store_timeout: Duration::from_secs(2),
            serve_stale_for: None,
        }
    }

    /// The cutoffs in force for `subject` and its sessions: from the cache, or from the source on
    /// a miss.
    ///
    /// Includes the [`Scope::Everyone`] cutoff.
    ///
    /// # Errors
    /// The source failed or timed out, and no answer could be served stale; or `subject` is longer
    /// than [`MAX_SUBJECT_BYTES`](crate::MAX_SUBJECT_BYTES).
    pub async fn lookup(&self, subject: &str) -> Result<SubjectCutoffs, SourceError> {
        let shared = &self.shared;
        let own = match shared.cached(subject) {
            Some(cutoffs) => {
                metrics::cache_hit();
                cutoffs
            }
            None => {
                metrics::cache_miss();
                check_subject(subject)?;
                shared.load(subject).await?
            }
        };
        Ok(shared.with_everyone(own))
    }

    /// The cutoff in force for `subject`, read from the source now (and never lower than what
    /// this instance already knows); the answer also brings the cache up to date.
    ///
    /// For decisions that outlive the request, such as minting a new token pair from a refresh
    /// token: a cache can be a TTL (or a push delay) behind a logout made on another instance.
    /// Never served stale.
    ///
    /// # Errors
    /// The source failed or timed out, or `subject` is too long.
    pub async fn lookup_in_store(&self, subject: &str) -> Result<SubjectCutoffs, SourceError> {
        check_subject(subject)?;
        let shared = &self.shared;
        let (found, _asked_at) = shared.fetch(subject).await.inspect_err(|_| {
            metrics::source_error();
        })?;
        shared.apply(Scope::Subject(subject), found.cutoff());
        for (session, cutoff) in found.sessions() {
            shared.apply(Scope::Session { subject, session }, cutoff);
        }
        // What this instance knows may be later than the store's answer: a change pushed or
        // applied here, or a store read from a lagging replica.
        let found = match shared.cached(subject) {
            Some(known) => found.max(&known),
            None => found,
        };
        Ok(shared.with_everyone(found))
    }

    /// What the cutoffs of `subject`, from the cache or the source, say of a token judged by
    /// `instant` (see [`TokenInstant::judged`]) that carries `session` (`None`: no session id):
    /// the latest of everyone's, the subject's and the session's decides.
    ///
    /// # Errors
    /// As for [`lookup`](Self::lookup): the request must fail closed.
    pub async fn check(
        &self,
        subject: &str,
        session: Option<&str>,
        instant: TokenInstant,
    ) -> Result<Verdict, SourceError> {
        Ok(self.lookup(subject).await?.judge(session, instant))
    }

    /// [`check`](Self::check) with the cutoff read from the source ([`lookup_in_store`](Self::lookup_in_store)).
    ///
    /// # Errors
    /// As for [`lookup_in_store`](Self::lookup_in_store).
    pub async fn check_in_store(
        &self,
        subject: &str,
        session: Option<&str>,
        instant: TokenInstant,
    ) -> Result<Verdict, SourceError> {
        Ok(self.lookup_in_store(subject).await?.judge(session, instant))
    }

    /// [`check`](Self::check) answered from the cache alone, without waiting: `None` when the subject
    /// is not cached, and `check` must run instead.
    #[must_use]
    pub fn check_cached(
        &self,
        subject: &str,
        session: Option<&str>,
        instant: TokenInstant,
    ) -> Option<Verdict> {
        let cutoffs = self.shared.cached(subject)?;
        metrics::cache_hit();
        Some(cutoffs.judge_with(self.shared.everyone(), session, instant))
    }

    /// A token's cutoff check, to keep beside the token and answer with
    /// [`check_token`](Self::check_token) each time the token is presented: `subject` and
    /// `session` as the token names them, `instant` the one it is judged by (see
    /// [`TokenInstant::judged`]).
    #[must_use]
    pub fn token_check(
        &self,
        subject: Arc<str>,
        session: Option<Arc<str>>,
        instant: TokenInstant,
    ) -> TokenCheck {
        self.shared.changes.check(subject, session, instant)
    }

    /// [`check_cached`](Self::check_cached) for a token presented again: when this cache admitted
    /// the token before and no cutoff that could apply to it has changed since, the answer is
    /// [`Verdict::Admitted`] without looking the subject up (a few atomic loads and a clock read);
    /// otherwise the subject's cached cutoffs decide, and an admission is remembered in `check`.
    /// `None` when the subject is not cached, and [`check`](Self::check) must run instead.
    ///
    /// A remembered admission lives no longer than the cached answer it came from, so it sees
    /// changes exactly when `check_cached` would: at once for changes written, applied or pushed
    /// here, within the time-to-live for others. A `check` made by another cache is answered from
    /// the cutoffs alone.
    #[must_use]
    pub fn check_token(&self, check: &TokenCheck) -> Option<Verdict> {
        let shared = &self.shared;
        // Read before the cutoffs: a change bumps the count only once it is in force, so either
        // the cutoffs read below hold it, or the count no longer matches next time.
        let count = shared.changes.count_for(check);
        let now = Instant::now();
        if shared.changes.still_admits(check, count, now) {
            metrics::cache_hit();
            return Some(Verdict::Admitted);
        }
        let entry = shared.cached_entry(check.subject())?;
        metrics::cache_hit();
        let verdict = entry
            .cutoffs
            .judge_with(shared.everyone(), check.session(), check.instant());
        if verdict == Verdict::Admitted {
            let fresh_until = shared
                .lifetime
                .remaining(&entry, now)
                .and_then(|remaining| now.checked_add(remaining));
            if let Some(fresh_until) = fresh_until {
                shared.changes.remember(check, count, fresh_until);
            }
        }
        Some(verdict)
    }

    /// Logs `subject` out from all devices: every token issued before now, and every token of a
    /// login made before now, is refused from the moment this returns, on this instance (and on
    /// others when the store pushes, or within their TTL).
    ///
    /// Returns the cutoff the store now holds for the subject: the new instant, or a later one (or
    /// [`Cutoff::Refused`]) that was already there. Tokens that jwt-cutoff's `TokenIssuer`
    /// in this process mints for a login after the call returns are accepted, even within the same
    /// second.
    ///
    /// The write runs to its end even if the returned future is dropped: once the store may have
    /// the change, this instance applies it too.
    ///
    /// # Errors
    /// The source is read-only, failed, or did not answer within the
    /// [timeout](CutoffCacheBuilder::store_timeout), or `subject` is too long. A write that timed out
    /// may still have landed in the store.
    pub async fn logout_all(&self, subject: &str) -> Result<Cutoff, SourceError> {
        self.raise(Scope::Subject(subject), Cutoff::ValidFrom(Timestamp::now()))
            .await
    }

    /// Refuses every token of `subject`, for a deleted or disabled account.
    ///
    /// # Errors
    /// As for [`logout_all`](Self::logout_all).
    pub async fn refuse(&self, subject: &str) -> Result<(), SourceError> {
        self.raise(Scope::Subject(subject), Cutoff::Refused)
            .await
            .map(drop)
    }

    /// Logs every subject out: tokens issued before now are refused, whoever they belong to.
    /// Returns the cutoff for everyone that the store now holds.
    ///
    /// # Errors
    /// As for [`logout_all`](Self::logout_all).
    pub async fn logout_everyone(&self) -> Result<Cutoff, SourceError> {
        self.raise(Scope::Everyone, Cutoff::ValidFrom(Timestamp::now()))
            .await
    }

    /// Revokes one session of `subject`: every token that carries `session` as its `sid` is
    /// refused from the moment this returns, on this instance (and on others when the store
    /// pushes, or within their TTL); the subject's other sessions keep working. "Log out here" and
    /// "sign this device out" are this call; "sign out the other devices" is this call for each of
    /// the others.
    ///
    /// The store keeps the revocation for its session retention (see [`Scope::Session`]).
    ///
    /// # Errors
    /// As for [`logout_all`](Self::logout_all), and a session id that is empty or longer than
    /// [`MAX_SESSION_ID_BYTES`](crate::MAX_SESSION_ID_BYTES).
    pub async fn revoke_session(&self, subject: &str, session: &str) -> Result<(), SourceError> {
        self.raise(Scope::Session { subject, session }, Cutoff::Refused)
            .await
            .map(drop)
    }

    /// Raises the cutoff of `scope` to at least `to` in the store, and here once it is stored;
    /// returns what the store now holds for the scope. The general form of
    /// [`logout_all`](Self::logout_all), [`revoke_session`](Self::revoke_session) and the others.
    ///
    /// # Errors
    /// As for [`logout_all`](Self::logout_all).
    pub async fn raise(&self, scope: Scope<'_>, to: Cutoff) -> Result<Cutoff, SourceError> {
        check_scope(scope)?;
        let change = CutoffChange::new(scope, to);
        let shared = Arc::clone(&self.shared);
        // In a task of its own, so that a caller going away once the store may hold the change
        // cannot leave this instance without it.
        let write = tokio::spawn(async move {
            let timeout = shared.store_timeout;
            let written = shared.source.raise(change.scope(), change.cutoff());
            let stored = tokio::time::timeout(timeout, written)
                .await
                .unwrap_or_else(|_elapsed| {
                    Err(SourceError::new(format!(
                        "write timed out after {timeout:?} (it may still land)"
                    )))
                })?;
            shared.apply(change.scope(), stored);
            Ok(stored)
        });
        write
            .await
            .unwrap_or_else(|_| Err(SourceError::new("the cutoff write task failed")))
    }

    /// Brings this instance's cache up to a cutoff that was already stored: one pushed by the store
    /// after another instance wrote it, or one your own code wrote to a read-only source.
    ///
    /// Monotonic: an older or replayed change never lowers what is cached. The change is in force
    /// here when this returns; it never waits for the source. A subject this instance has not
    /// cached is left alone: its next lookup reads the store, which must therefore already hold the
    /// change (read-your-writes; a lagging read replica would be read for up to one TTL).
    pub fn apply(&self, scope: Scope<'_>, cutoff: Cutoff) {
        self.shared.apply(scope, cutoff);
    }

    /// Forgets the cached cutoff of `subject`; the next request looks it up again (a lookup already
    /// under way answers its callers but is not kept).
    pub fn invalidate(&self, subject: &str) {
        let shared = &self.shared;
        shared.loads().by_subject.remove(subject);
        shared
            .fresh
            .entry_by_ref(subject)
            .and_compute_with(|_| Op::Remove);
        shared.changes.bump(subject);
    }

    /// Forgets every cached cutoff, for instance after a push channel was down and changes may have
    /// been missed: nothing read before this call is served after it, lookups under way included.
    /// The [`Scope::Everyone`] cutoff known here is kept: it only moves forward.
    pub fn invalidate_all(&self) {
        self.shared.invalidate_all();
    }

    /// How long one store call may take before it counts as failed (see
    /// [`CutoffCacheBuilder::store_timeout`]); other calls to the same store, such as spending a
    /// refresh token, are held to it too.
    #[must_use]
    pub fn store_timeout(&self) -> Duration {
        self.shared.store_timeout
    }

    /// Whether a push channel followed with [`follow`](CutoffCache::follow) is connected right now; for
    /// health checks.
    #[must_use]
    pub fn push_connected(&self) -> bool {
        self.shared.push_state.load(Ordering::Acquire) == PushState::Connected as u8
    }
}

impl Shared {
    fn loads(&self) -> MutexGuard<'_, Loads> {
        // Every update of the map is one step, so a panic elsewhere cannot leave it inconsistent.
        self.loads.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn everyone(&self) -> Cutoff {
        self.everyone.get()
    }

    /// The subject's cached cutoffs, if some of the current generation are cached.
    fn cached(&self, subject: &str) -> Option<SubjectCutoffs> {
        self.cached_entry(subject).map(|entry| entry.cutoffs)
    }

    /// The subject's cache entry, if one of the current generation is cached.
    fn cached_entry(&self, subject: &str) -> Option<Entry> {
        let entry = self.fresh.get(subject)?;
        (entry.generation == self.generation.load(Ordering::Acquire)).then_some(entry)
    }

    /// A subject's cutoffs with the [`Scope::Everyone`] cutoff known here.
    fn with_everyone(&self, cutoffs: SubjectCutoffs) -> SubjectCutoffs {
        cutoffs.raised(None, self.everyone()).unwrap_or(cutoffs)
    }

    pub(crate) fn set_push_state(&self, state: PushState) {
        self.push_state.store(state as u8, Ordering::Release);
        // How long answers stay fresh depends on it.
        self.changes.bump_all();
    }

    pub(crate) fn invalidate_all(&self) {
        {
            let mut loads = self.loads();
            self.generation.fetch_add(1, Ordering::AcqRel);
            loads.by_subject.clear();
        }
        self.fresh.invalidate_all();
        self.changes.bump_all();
    }

    /// Waits for the subject's load, starting one unless one is under way.
    async fn load(self: &Arc<Self>, subject: &str) -> Result<SubjectCutoffs, SourceError> {
        let mut answer = match self.join_or_start(subject) {
            Joined::Cached(cutoff) => return Ok(cutoff),
            Joined::Load(answer) => answer,
        };
        let answered = match answer.wait_for(Option::is_some).await {
            Ok(answer) => answer.clone(),
            Err(_closed) => None,
        };
        let error = match answered {
            Some(Ok(cutoffs)) => return Ok(cutoffs),
            Some(Err(error)) => error,
            // Only a runtime shutting down drops a load without an answer.
            None => SourceError::new("the cutoff lookup was abandoned"),
        };
        metrics::source_error();
        match self.stale_answer(subject) {
            Some(cutoffs) => {
                tracing::warn!(error = %error, "jwt-cutoff: serving a stale cutoff");
                Ok(cutoffs)
            }
            None => Err(error),
        }
    }

    fn join_or_start(self: &Arc<Self>, subject: &str) -> Joined {
        let mut loads = self.loads();
        if let Some(load) = loads.by_subject.get(subject) {
            return Joined::Load(load.answer.clone());
        }
        // A load may have put its answer in the cache and ended since the miss.
        if let Some(cutoffs) = self.cached(subject) {
            return Joined::Cached(cutoffs);
        }
        let id = loads.next_id;
        loads.next_id += 1;
        let generation = self.generation.load(Ordering::Acquire);
        let (sender, answer) = watch::channel(None);
        let floor = Arc::new(Floor::default());
        loads.by_subject.insert(
            subject.into(),
            Load {
                id,
                floor: Arc::clone(&floor),
                answer: answer.clone(),
            },
        );
        drop(loads);
        let load = LoadRun {
            subject: subject.to_owned(),
            id,
            generation,
            floor,
        };
        // A source that answers at once (a memory store) is done within this poll; any other is
        // finished in a task of its own, so that no caller going away can leave it halfway.
        let mut fill = Box::pin(Arc::clone(self).fill(load, sender));
        if fill.as_mut().now_or_never().is_none() {
            tokio::spawn(fill);
        }
        Joined::Load(answer)
    }

    /// Runs one load: asks the source, keeps the answer, answers the waiters.
    async fn fill(
        self: Arc<Self>,
        load: LoadRun,
        sender: watch::Sender<Option<Result<SubjectCutoffs, SourceError>>>,
    ) {
        let registration = Registration {
            shared: &self,
            subject: &load.subject,
            id: load.id,
        };
        let answer = self
            .fetch(&load.subject)
            .await
            .map(|(found, asked_at)| self.keep(&load, found, asked_at));
        drop(registration);
        sender.send_replace(Some(answer));
    }

    /// One bounded source call, and when it was made.
    async fn fetch(&self, subject: &str) -> Result<(SubjectCutoffs, Instant), SourceError> {
        let asked_at = Instant::now();
        let timeout = self.store_timeout;
        match tokio::time::timeout(timeout, self.source.lookup(subject)).await {
            Ok(found) => found.map(|found| (found, asked_at)),
            Err(_elapsed) => Err(SourceError::new(format!(
                "lookup timed out after {timeout:?}"
            ))),
        }
    }

    /// Puts a load's answer, raised to its floor, in the caches unless the load was forgotten while
    /// it ran; returns it for its callers either way.
    fn keep(&self, load: &LoadRun, found: SubjectCutoffs, asked_at: Instant) -> SubjectCutoffs {
        // Read inside each compute, so that a change applied before it is included, and one applied
        // after it raises the entry it put.
        let registered = || {
            self.loads()
                .by_subject
                .get(&*load.subject)
                .is_some_and(|registered| registered.id == load.id)
        };
        let put = |current: Option<moka::Entry<String, Entry>>| {
            if !registered() {
                return Op::Nop;
            }
            let raised = found.clone().max(&load.floor.get());
            let cutoffs = match current {
                Some(entry) if entry.value().generation == load.generation => {
                    entry.value().cutoffs.clone().max(&raised)
                }
                _ => raised,
            };
            Op::Put(Entry {
                cutoffs,
                generation: load.generation,
                asked_at,
            })
        };
        let mut raised_entry = false;
        self.fresh
            .entry_by_ref(&*load.subject)
            .and_compute_with(|current| {
                let held = current.as_ref().map(|entry| entry.value().cutoffs.clone());
                let op = put(current);
                if let (Op::Put(entry), Some(held)) = (&op, held) {
                    raised_entry = entry.cutoffs != held;
                }
                op
            });
        if raised_entry {
            self.changes.bump(&load.subject);
        }
        if let Some(stale) = &self.stale {
            stale
                .answers
                .entry_by_ref(&*load.subject)
                .and_compute_with(put);
        }
        found.max(&load.floor.get())
    }

    /// A cached answer no older than the serve-stale limit, if the policy is on.
    fn stale_answer(&self, subject: &str) -> Option<SubjectCutoffs> {
        let stale = self.stale.as_ref()?;
        let entry = stale.answers.get(subject)?;
        (entry.asked_at.elapsed() <= stale.max_age).then_some(entry.cutoffs)
    }

    pub(crate) fn apply(&self, scope: Scope<'_>, cutoff: Cutoff) {
        // Raises nothing anywhere; a refresh reading the store back applies it for most subjects.
        if cutoff == Cutoff::NoCutoff {
            return;
        }
        let (subject, session) = match scope {
            Scope::Everyone => {
                if self.everyone.raise(cutoff) {
                    self.changes.bump_all();
                }
                return;
            }
            Scope::Subject(subject) => (subject, None),
            Scope::Session { subject, session } => (subject, Some(session)),
        };
        if let Some(load) = self.loads().by_subject.get(subject) {
            load.floor.raise(session, cutoff);
        }
        let raised = raise_if_cached(&self.fresh, subject, session, cutoff);
        if let Some(stale) = &self.stale {
            raise_if_cached(&stale.answers, subject, session, cutoff);
        }
        // Only a cached entry that already held the change leaves the admissions read from it
        // standing. An absent one may have been evicted a moment ago, under admissions still
        // remembered: they must go.
        if raised != CachedRaise::AlreadyHeld {
            self.changes.bump(subject);
        }
    }
}

/// What [`raise_if_cached`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CachedRaise {
    NotCached,
    AlreadyHeld,
    Applied,
}

/// Raises a cached cutoff (the subject's, or one of its sessions') in place, keeping its
/// generation and age. An absent subject stays absent: the entry holds the subject's whole answer
/// (wider cutoffs and every session included), which `to` alone is not.
fn raise_if_cached(
    cache: &Cache<String, Entry>,
    subject: &str,
    session: Option<&str>,
    to: Cutoff,
) -> CachedRaise {
    let mut raised = CachedRaise::NotCached;
    cache.entry_by_ref(subject).and_compute_with(|current| {
        let Some(entry) = current else {
            return Op::Nop;
        };
        let entry = entry.value();
        match entry.cutoffs.raised(session, to) {
            Some(cutoffs) => {
                raised = CachedRaise::Applied;
                Op::Put(Entry {
                    cutoffs,
                    ..entry.clone()
                })
            }
            None => {
                raised = CachedRaise::AlreadyHeld;
                Op::Nop
            }
        }
    });
    raised
}

/// The cutoffs applied here while a load ran, which its answer is never below.
#[derive(Debug, Default)]
struct Floor(Mutex<SubjectCutoffs>);

impl Floor {
    fn get(&self) -> SubjectCutoffs {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn raise(&self, session: Option<&str>, to: Cutoff) {
        let mut floor = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(raised) = floor.raised(session, to) {
            *floor = raised;
        }
    }
}

/// A cutoff that only rises, readable and raisable from any thread without a lock.
#[derive(Debug)]
struct RisingCutoff(AtomicI64);

impl Default for RisingCutoff {
    fn default() -> Self {
        Self(AtomicI64::new(Self::encode(Cutoff::NoCutoff)))
    }
}

impl RisingCutoff {
    fn get(&self) -> Cutoff {
        match self.0.load(Ordering::Acquire) {
            i64::MIN => Cutoff::NoCutoff,
            i64::MAX => Cutoff::Refused,
            micros => Cutoff::ValidFrom(Timestamp::from_unix_micros(micros)),
        }
    }

    /// Raises it to at least `to`; returns whether that changed it.
    fn raise(&self, to: Cutoff) -> bool {
        let to = Self::encode(to);
        self.0.fetch_max(to, Ordering::AcqRel) < to
    }

    /// An `i64` whose order matches [`Cutoff`]'s, so `fetch_max` keeps it monotonic.
    fn encode(cutoff: Cutoff) -> i64 {
        match cutoff {
            Cutoff::NoCutoff => i64::MIN,
            Cutoff::ValidFrom(at) => at.as_unix_micros().clamp(i64::MIN + 1, i64::MAX - 1),
            Cutoff::Refused => i64::MAX,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Following a store's push channel

/// The background task made by [`CutoffCache::follow`]. It stops when [`stop`](PushTask::stop) is called
/// or when every clone of its [`CutoffCache`] is gone; dropping the handle leaves it running. However it
/// ends (a panic in the store's subscription included), [`CutoffCache::push_connected`] turns false and
/// the cache is cleared, since nothing keeps it current any more.
pub struct PushTask {
    handle: tokio::task::JoinHandle<()>,
    shared: Weak<Shared>,
}

impl fmt::Debug for PushTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushTask")
            .field("finished", &self.handle.is_finished())
            .finish()
    }
}

impl PushTask {
    /// Whether the task has ended (stopped, or its `CutoffCache` are all gone).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Stops following the channel. When this returns, the cache is cleared and falls back to the
    /// TTL without push.
    pub fn stop(self) {
        self.handle.abort();
        // The task does the same when it notices the abort; this makes it true on return.
        if let Some(shared) = self.shared.upgrade() {
            stop_counting_on_push(&shared);
        }
    }
}

const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
const HEALTHY_FOR: Duration = Duration::from_secs(10);

impl CutoffCache {
    /// Follows a store's push channel in a background Tokio task: each change stored by any
    /// instance is applied here as it arrives.
    ///
    /// While connected, cache entries live for
    /// [`time_to_live_with_push`](crate::CutoffCacheBuilder::time_to_live_with_push). When the channel
    /// drops, the cache is cleared and entries live for the plain
    /// [`time_to_live`](crate::CutoffCacheBuilder::time_to_live) again, so changes are picked up by
    /// lookups while the task reconnects with backoff (100 ms doubling to 5 s, started over once a
    /// connection has held for 10 s). On every (re)connect the cache is cleared once more, so
    /// nothing missed while disconnected is kept.
    pub fn follow(&self, channel: impl PushChannel) -> PushTask {
        let shared = std::sync::Arc::downgrade(&self.shared);
        PushTask {
            handle: tokio::spawn(follow(shared.clone(), channel)),
            shared,
        }
    }
}

async fn follow(shared: Weak<Shared>, channel: impl PushChannel) {
    let _following = Following(shared.clone());
    let mut retry = FIRST_RETRY;
    loop {
        let subscribed = channel.subscribe().await;
        let Some(cutoffs) = shared.upgrade() else {
            return;
        };
        let error = match subscribed {
            Ok(mut subscription) => {
                // Forget first, so that nothing read before is kept once push counts as connected.
                cutoffs.invalidate_all();
                cutoffs.set_push_state(PushState::Connected);
                tracing::info!("jwt-cutoff: push channel connected");
                drop(cutoffs);
                let connected_at = Instant::now();
                let error = loop {
                    let next = subscription.next_change().await;
                    let Some(cutoffs) = shared.upgrade() else {
                        return;
                    };
                    match next {
                        Ok(change) => cutoffs.apply(change.scope(), change.cutoff()),
                        Err(error) => break error,
                    }
                };
                // A channel that held for a while was healthy: start the backoff over. One that
                // drops right after connecting keeps backing off instead of spinning.
                if connected_at.elapsed() >= HEALTHY_FOR {
                    retry = FIRST_RETRY;
                }
                let Some(cutoffs) = shared.upgrade() else {
                    return;
                };
                cutoffs.set_push_state(PushState::Disconnected);
                cutoffs.invalidate_all();
                error
            }
            Err(error) => {
                cutoffs.set_push_state(PushState::Disconnected);
                // Not held through the backoff below: the cache may be dropped meanwhile.
                drop(cutoffs);
                error
            }
        };
        tracing::warn!(%error, retry_in = ?retry, "jwt-cutoff: push channel down; reconnecting");
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// Lives as long as the push task: when the task ends, stopped, panicking or done, the cache no
/// longer counts on push.
struct Following(Weak<Shared>);

impl Drop for Following {
    fn drop(&mut self) {
        let Some(shared) = self.0.upgrade() else {
            return;
        };
        if std::thread::panicking() {
            tracing::error!("jwt-cutoff: the push task panicked; falling back to the plain TTL");
        }
        stop_counting_on_push(&shared);
    }
}

/// Nothing pushes any more: entries cached for the long TTL with push must go.
fn stop_counting_on_push(shared: &Shared) {
    shared.set_push_state(PushState::None);
    shared.invalidate_all();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::MemoryStore;

    fn issued_now() -> TokenInstant {
        TokenInstant::precise(Timestamp::now())
    }

    async fn cached(cutoffs: &CutoffCache, subjects: &[&str]) {
        for subject in subjects {
            cutoffs.lookup(subject).await.unwrap();
        }
    }

    /// A check that `cutoffs` admitted, so that it remembers the admission.
    fn admitted(cutoffs: &CutoffCache, subject: &str, session: Option<&str>) -> TokenCheck {
        let check = cutoffs.token_check(subject.into(), session.map(Arc::from), issued_now());
        assert_eq!(cutoffs.check_token(&check), Some(Verdict::Admitted));
        check
    }

    /// Whether `check` is answered from its remembered admission: with the subject's entry taken
    /// out of the cache behind the cache's back (no change counted), only a remembered admission
    /// can still answer.
    fn remembered(cutoffs: &CutoffCache, check: &TokenCheck) -> bool {
        cutoffs.shared.fresh.invalidate(check.subject());
        let answer = cutoffs.check_token(check);
        assert_ne!(answer, Some(Verdict::Revoked), "a remembered check refused");
        answer == Some(Verdict::Admitted)
    }

    /// A subject whose change count is not `subject`'s.
    fn in_another_shard(cutoffs: &CutoffCache, subject: &str) -> String {
        let changes = &cutoffs.shared.changes;
        (0..)
            .map(|n| format!("other-{n}"))
            .find(|other| changes.shard(other) != changes.shard(subject))
            .unwrap()
    }

    #[tokio::test]
    async fn an_admission_is_remembered_until_something_could_refuse_the_token() {
        let cutoffs = CutoffCache::new(MemoryStore::new());
        cached(&cutoffs, &["alice"]).await;
        let check = admitted(&cutoffs, "alice", Some("laptop"));
        assert!(remembered(&cutoffs, &check));
        // Twice: answering from memory keeps the memory.
        assert!(remembered(&cutoffs, &check));

        // A logout of a subject in another shard, and a change the cache already holds (a
        // replayed push, a refresh reading the store back), leave it standing.
        let earlier = cutoffs.logout_all("alice").await.unwrap();
        let bob = in_another_shard(&cutoffs, "alice");
        cached(&cutoffs, &["alice", &bob]).await;
        let check = admitted(&cutoffs, "alice", Some("laptop"));
        cutoffs.logout_all(&bob).await.unwrap();
        cutoffs.apply(Scope::Subject("alice"), earlier);
        cutoffs.apply(Scope::Subject("alice"), Cutoff::NoCutoff);
        assert!(remembered(&cutoffs, &check));
    }

    #[tokio::test]
    async fn every_change_that_could_refuse_a_token_forgets_its_admission() {
        type Change = fn(&CutoffCache) -> crate::BoxFuture<'_, ()>;
        let changes: [(&str, Change); 9] = [
            ("logout_all", |c| {
                Box::pin(async { _ = c.logout_all("alice").await.unwrap() })
            }),
            ("refuse", |c| {
                Box::pin(async { c.refuse("alice").await.unwrap() })
            }),
            ("revoke the session", |c| {
                Box::pin(async { c.revoke_session("alice", "laptop").await.unwrap() })
            }),
            ("logout_everyone", |c| {
                Box::pin(async { _ = c.logout_everyone().await.unwrap() })
            }),
            ("a pushed logout", |c| {
                let now = Cutoff::ValidFrom(Timestamp::now());
                Box::pin(async move { c.apply(Scope::Subject("alice"), now) })
            }),
            ("a pushed logout of a subject not cached", |c| {
                let now = Cutoff::ValidFrom(Timestamp::now());
                c.shared.fresh.invalidate("alice");
                Box::pin(async move { c.apply(Scope::Subject("alice"), now) })
            }),
            ("invalidate", |c| Box::pin(async { c.invalidate("alice") })),
            ("invalidate_all", |c| Box::pin(async { c.invalidate_all() })),
            ("the push state", |c| {
                Box::pin(async { c.shared.set_push_state(PushState::Disconnected) })
            }),
        ];
        for (name, change) in changes {
            let cutoffs = CutoffCache::new(MemoryStore::new());
            cached(&cutoffs, &["alice"]).await;
            let check = admitted(&cutoffs, "alice", Some("laptop"));
            change(&cutoffs).await;
            assert!(!remembered(&cutoffs, &check), "{name}");
        }
    }

    #[tokio::test]
    async fn an_admission_lives_no_longer_than_the_answer_it_read() {
        const TTL: Duration = Duration::from_millis(100);
        let cutoffs = CutoffCache::builder(MemoryStore::new())
            .time_to_live(TTL)
            .build();
        cached(&cutoffs, &["alice"]).await;
        let check = admitted(&cutoffs, "alice", None);
        tokio::time::sleep(TTL + Duration::from_millis(20)).await;
        assert!(!remembered(&cutoffs, &check));

        let uncached = CutoffCache::builder(MemoryStore::new())
            .time_to_live(Duration::ZERO)
            .build();
        let check = uncached.token_check("alice".into(), None, issued_now());
        assert_eq!(uncached.check_token(&check), None);
    }

    #[tokio::test]
    async fn a_check_made_by_another_cache_is_answered_from_the_cutoffs() {
        let store = MemoryStore::new();
        let (one, other) = (CutoffCache::new(store.clone()), CutoffCache::new(store));
        cached(&one, &["alice"]).await;
        cached(&other, &["alice"]).await;
        let check = admitted(&one, "alice", None);
        other.logout_all("alice").await.unwrap();
        assert_eq!(other.check_token(&check), Some(Verdict::Revoked));
        assert!(!remembered(&other, &check));
    }

    /// Threads keep checking remembered tokens while changes land; once a change has returned, no
    /// check that starts after it may admit what it refuses. Catches a count bumped before its
    /// change is in force.
    #[test]
    fn no_check_admits_after_a_change_returned() {
        const ROUNDS: usize = 200;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        for round in 0..ROUNDS {
            let cutoffs = CutoffCache::new(MemoryStore::new());
            runtime.block_on(cached(&cutoffs, &["alice"]));
            let check = Arc::new(admitted(&cutoffs, "alice", Some("laptop")));
            let changed = Arc::new(AtomicBool::new(false));
            let checkers: Vec<_> = (0..2)
                .map(|_| {
                    let (cutoffs, check, changed) =
                        (cutoffs.clone(), Arc::clone(&check), Arc::clone(&changed));
                    std::thread::spawn(move || {
                        for _ in 0..2_000 {
                            let after_change = changed.load(Ordering::Acquire);
                            let verdict = cutoffs.check_token(&check);
                            if after_change {
                                assert_eq!(verdict, Some(Verdict::Revoked), "round {round}");
                            }
                        }
                    })
                })
                .collect();
            let scope = if round % 2 == 0 {
                Scope::Session {
                    subject: "alice",
                    session: "laptop",
                }
            } else {
                Scope::Subject("alice")
            };
            std::thread::yield_now();
            cutoffs.apply(scope, Cutoff::ValidFrom(Timestamp::now()));
            changed.store(true, Ordering::Release);
            for checker in checkers {
                checker.join().unwrap();
            }
        }
    }
}

//! [`TokenCheck`]: one token's cutoff check, kept beside the token so that the token is admitted
//! again without looking its subject up, while nothing that could refuse it has changed.
//!
//! Why a remembered admission is sound:
//! - The cache counts its changes in shards, by a hash of the subject ([`Changes`]). Every change
//!   that can refuse a cached token bumps its subject's shard *after* it is in force: a raised
//!   cutoff of the subject or of one of its sessions, a cutoff applied to a subject that is not
//!   cached (its entry may have just been evicted), a forgotten subject, a lookup that raises an
//!   entry already cached. A change of the everyone cutoff, a reset of the whole cache and a change
//!   of the push state bump every shard. A change already held bumps nothing.
//! - A check reads its shard's count *before* the cached cutoffs, and remembers an admission with
//!   that count. It is reused only while the count is the same: a change bumped after the count
//!   was read makes it stale, and a change bumped before was visible to the check.
//! - An admission lives no longer than the cached answer it read (its time-to-live counts from
//!   when the store was asked), so a change written by another instance without push is seen no
//!   later than the cache itself would see it.

use std::hash::{BuildHasher as _, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::cutoff::TokenInstant;

/// Shards of the change count: enough that a logout of one subject leaves the remembered checks of
/// nearly all others standing.
const SHARDS: usize = 256;
/// The bits of a remembered admission that hold the change count; the others hold until when it
/// is fresh, in milliseconds since the cache was made (40 bits: 34 years).
const COUNT_BITS: u32 = 24;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// The change counts of one cache, by shard of subjects.
pub(crate) struct Changes {
    /// Tells the checks of one cache from those of another.
    id: u64,
    shards: Box<[AtomicU64]>,
    hasher: RandomState,
    /// Where a remembered admission's milliseconds count from.
    base: Instant,
}

impl Changes {
    pub(crate) fn new() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            shards: (0..SHARDS).map(|_| AtomicU64::new(0)).collect(),
            hasher: RandomState::new(),
            base: Instant::now(),
        }
    }

    pub(crate) fn shard(&self, subject: &str) -> usize {
        // The remainder is below `SHARDS`, so it fits any `usize`.
        usize::try_from(self.hasher.hash_one(subject) % SHARDS as u64).unwrap_or_default()
    }

    fn count(&self, shard: usize) -> u64 {
        self.shards
            .get(shard)
            .map_or(0, |count| count.load(Ordering::Acquire))
    }

    /// Makes every admission remembered for `subject`'s shard stale; called once a change is in
    /// force.
    pub(crate) fn bump(&self, subject: &str) {
        if let Some(count) = self.shards.get(self.shard(subject)) {
            count.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Makes every remembered admission stale.
    pub(crate) fn bump_all(&self) {
        for count in &*self.shards {
            count.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The count of `check`'s shard, to read before the cutoffs the check is answered from.
    pub(crate) fn count_for(&self, check: &TokenCheck) -> u64 {
        self.count(check.shard)
    }

    pub(crate) fn check(
        &self,
        subject: Arc<str>,
        session: Option<Arc<str>>,
        instant: TokenInstant,
    ) -> TokenCheck {
        TokenCheck {
            shard: self.shard(&subject),
            cache: self.id,
            subject,
            session,
            instant,
            admitted: AtomicU64::new(0),
        }
    }

    /// Whether `check` was admitted at change count `count`, by an answer still fresh at `now`.
    pub(crate) fn still_admits(&self, check: &TokenCheck, count: u64, now: Instant) -> bool {
        let admitted = check.admitted.load(Ordering::Acquire);
        check.cache == self.id
            && admitted != 0
            && admitted & COUNT_MASK == count & COUNT_MASK
            && self.millis(now) < admitted >> COUNT_BITS
    }

    /// Remembers that `check` was admitted at change count `count` by an answer fresh until
    /// `fresh_until`.
    pub(crate) fn remember(&self, check: &TokenCheck, count: u64, fresh_until: Instant) {
        let until = self.millis(fresh_until);
        if check.cache != self.id || until == 0 || until >> (u64::BITS - COUNT_BITS) != 0 {
            return;
        }
        let admitted = until << COUNT_BITS | count & COUNT_MASK;
        check.admitted.store(admitted, Ordering::Release);
    }

    /// Whole milliseconds from `base` to `at`, rounded down: an admission is fresh strictly
    /// before its millisecond.
    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }
}

/// One token's cutoff check (its subject, its session, the instant it is judged by), made by
/// [`CutoffCache::token_check`](crate::CutoffCache::token_check) and answered by
/// [`CutoffCache::check_token`](crate::CutoffCache::check_token).
///
/// Kept beside a verified token (jwt-cutoff's cache of verified tokens keeps one per token), it
/// remembers the last time the cache admitted the token: while no cutoff that could apply to the
/// token has changed since, and the cached answer that admitted it is still fresh, the token is
/// admitted again without looking its subject up. Any change that could refuse it (its subject's
/// or its session's cutoff, everyone's, the subject forgotten, the cache reset) makes the memory
/// stale, and the next check reads the cutoffs again. Only admissions are remembered: a refused
/// token is judged afresh every time.
pub struct TokenCheck {
    subject: Arc<str>,
    session: Option<Arc<str>>,
    instant: TokenInstant,
    shard: usize,
    cache: u64,
    /// `0`, or the freshness and change count of the last admission (see [`COUNT_BITS`]).
    admitted: AtomicU64,
}

impl TokenCheck {
    /// The token's subject.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The token's session id, if it carries one.
    #[must_use]
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// The instant the token is judged by (see [`TokenInstant::judged`]).
    #[must_use]
    pub const fn instant(&self) -> TokenInstant {
        self.instant
    }
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCheck")
            .field("subject", &self.subject)
            .field("session", &self.session)
            .field("instant", &self.instant)
            .finish_non_exhaustive()
    }
}

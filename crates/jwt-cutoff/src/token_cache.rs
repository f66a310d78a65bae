//! [`TokenCache`]: tokens that passed verification, by their exact text, so that a token presented
//! again skips the signature and the JSON.
//!
//! Why this is safe to keep on by default:
//! - The key is the whole token. A hit needs the very bytes that were verified, and verification is a
//!   function of those bytes and the validator's fixed configuration (keys, algorithms, issuer,
//!   audiences, token type): the cache belongs to one validator, so nothing else can change the
//!   answer. Only tokens that passed go in, so an attacker cannot fill it with forgeries.
//! - Everything that depends on the clock is decided again on every hit, with the same leeway:
//!   `exp`, `nbf` and a future `iat`. An entry also leaves the cache when its token expires.
//! - The cutoff is not cached here: the caller checks it on every hit, so a logout refuses a cached
//!   token at once.

use std::time::{Duration, Instant, SystemTime};

use foldhash::fast::RandomState;
use moka::Expiry;
use moka::sync::Cache;

use crate::claims::Verified;
use jwt_cutoff_store::Timestamp;

/// A verified token, with what a hit must re-check against the clock and what its claims weigh.
#[derive(Clone)]
pub(crate) struct CachedToken<C> {
    pub(crate) verified: Verified<C>,
    pub(crate) not_before: Option<Timestamp>,
    /// An estimate of the heap the application's claims hold: twice their JSON, or nothing for a
    /// type without fields.
    pub(crate) claims_bytes: usize,
}

/// Verified tokens of one [`Validator`](crate::Validator), bounded by an estimate of their bytes.
pub(crate) struct TokenCache<C> {
    entries: Cache<Box<str>, CachedToken<C>, RandomState>,
}

impl<C> Clone for TokenCache<C> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
        }
    }
}

/// What an entry costs beside the token, the subject and the value: moka's nodes, expiry timer and
/// hash table slot, and the allocator's headers. Measured by `benches/memory.rs` (about 670 bytes
/// resident per 190-byte token), so that the bound is close to the memory really used.
const ENTRY_OVERHEAD_BYTES: usize = 400;

impl<C: Clone + Send + Sync + 'static> TokenCache<C> {
    pub(crate) fn new(max_bytes: u64) -> Self {
        #[allow(
            clippy::borrowed_box,
            reason = "moka's weigher takes a reference to the key"
        )]
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|token: &Box<str>, cached: &CachedToken<C>| {
                let bytes = token.len()
                    + cached.verified.subject.len()
                    + [&cached.verified.session_id, &cached.verified.token_id]
                        .into_iter()
                        .flatten()
                        .map(|id| id.len())
                        .sum::<usize>()
                    + cached.claims_bytes
                    + size_of::<CachedToken<C>>()
                    + ENTRY_OVERHEAD_BYTES;
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .expire_after(UntilExpiry)
            // A fast randomly seeded hash is enough here: only tokens that passed verification are
            // ever inserted, and lookups of keys an attacker chooses insert nothing, so nobody can
            // make entries collide.
            .build_with_hasher(RandomState::default());
        Self { entries }
    }

    pub(crate) fn get(&self, token: &str) -> Option<CachedToken<C>> {
        let cached = self.entries.get(token);
        crate::metrics::token_cache(cached.is_some());
        cached
    }

    /// Keeps a token that just passed verification, unless it is already past its `exp` (and
    /// accepted only within the leeway). Returns whether it was kept.
    pub(crate) fn insert(&self, token: &str, cached: &CachedToken<C>) -> bool {
        let keep = until_expiry(cached).is_some();
        if keep {
            self.entries.insert(token.into(), cached.clone());
        }
        keep
    }

    /// Puts an entry in without `insert`'s check, to show that hits are checked anyway.
    #[cfg(test)]
    pub(crate) fn insert_unchecked(&self, token: &str, cached: CachedToken<C>) {
        self.entries.insert(token.into(), cached);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

/// The time left until the token's `exp` (leeway not included: past `exp`, a token is verified in
/// full again, and not cached again).
fn until_expiry<C>(cached: &CachedToken<C>) -> Option<Duration> {
    let now = Timestamp::from_system_time(SystemTime::now());
    let micros = cached
        .verified
        .expires_at
        .as_unix_micros()
        .checked_sub(now.as_unix_micros())?;
    let micros = u64::try_from(micros).ok().filter(|&micros| micros > 0)?;
    Some(Duration::from_micros(micros))
}

/// Entries live until their token's `exp`.
struct UntilExpiry;

impl<C> Expiry<Box<str>, CachedToken<C>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _token: &Box<str>,
        cached: &CachedToken<C>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(until_expiry(cached).unwrap_or(Duration::ZERO))
    }
}

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
//! - The cutoff is checked on every hit, so a logout refuses a cached token at once. Each entry
//!   keeps its token's [`TokenCheck`], so that a hit whose cutoffs have not changed since the token
//!   was last admitted is admitted again without looking its subject up (see `TokenCheck` for why
//!   that is sound).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use foldhash::fast::RandomState;
use moka::Expiry;
use moka::sync::Cache;

use crate::claims::Verified;
use crate::trust::KeysStamp;
use jwt_cutoff_store::{Timestamp, TokenCheck};

/// A verified token, with what a hit must re-check against the clock and what its claims weigh.
#[derive(Clone)]
pub(crate) struct CachedToken<C> {
    pub(crate) verified: Verified<C>,
    pub(crate) not_before: Option<Timestamp>,
    /// The fetched keys that verified it, for a trusted issuer's token.
    pub(crate) keys: Option<KeysStamp>,
    /// An estimate of the heap the application's claims hold: twice their JSON, or nothing for a
    /// type without fields.
    pub(crate) claims_bytes: usize,
}

/// A token in the cache: what its verification found, and its remembered cutoff check.
pub(crate) struct TokenEntry<C> {
    pub(crate) token: CachedToken<C>,
    pub(crate) check: TokenCheck,
}

/// Verified tokens of one [`Validator`](crate::Validator), bounded by an estimate of their bytes.
pub(crate) struct TokenCache<C> {
    // Shared, so that a hit costs a reference count and the remembered check is the entry's own.
    entries: Cache<Box<[u8]>, Arc<TokenEntry<C>>, RandomState>,
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
            .weigher(|token: &Box<[u8]>, entry: &Arc<TokenEntry<C>>| {
                let cached = &entry.token;
                let verified = &cached.verified;
                let cutoff_subject = if Arc::ptr_eq(&verified.subject, &verified.cutoff_subject) {
                    0
                } else {
                    verified.cutoff_subject.len()
                };
                let bytes = token.len()
                    + verified.subject.len()
                    + cutoff_subject
                    + [&cached.verified.session_id, &cached.verified.token_id]
                        .into_iter()
                        .flatten()
                        .map(|id| id.len())
                        .sum::<usize>()
                    + cached.claims_bytes
                    // The `Arc`'s two counts.
                    + size_of::<TokenEntry<C>>()
                    + 2 * size_of::<usize>()
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

    pub(crate) fn get(&self, token: &[u8]) -> Option<Arc<TokenEntry<C>>> {
        let cached = self.entries.get(token);
        crate::metrics::token_cache(cached.is_some());
        cached
    }

    /// Whether a token that just passed verification is worth keeping: not if it is already past
    /// its `exp` (and accepted only within the leeway).
    pub(crate) fn keeps(cached: &CachedToken<C>) -> bool {
        until_expiry(cached).is_some()
    }

    /// Keeps a token that passed verification and that [`keeps`](Self::keeps) accepts (an entry
    /// past its `exp` would only leave at once).
    pub(crate) fn insert(&self, token: &str, entry: TokenEntry<C>) -> Arc<TokenEntry<C>> {
        let entry = Arc::new(entry);
        self.entries
            .insert(token.as_bytes().into(), Arc::clone(&entry));
        entry
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

impl<C> Expiry<Box<[u8]>, Arc<TokenEntry<C>>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _token: &Box<[u8]>,
        entry: &Arc<TokenEntry<C>>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(until_expiry(&entry.token).unwrap_or(Duration::ZERO))
    }
}

//! [`SigningKeys`]: an issuer's signing keys over time, rotated without refusing a token that
//! was valid: the next key is published before it signs, the previous one stays published until
//! the tokens it signed have expired.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::ConfigError;
use crate::keys::{Algorithm, KeySet, SigningKey, VerifyingKey};

/// The signing keys of one kind of token, over time: the key that signs now, the next one,
/// published ahead so that verifiers already know it when it starts signing, and the previous
/// ones, published until the last token they signed has expired.
///
/// Clones share the keys: give one clone to the [`TokenIssuer`](crate::TokenIssuer) (through
/// [`TokenIssuer::builder_rotating`](crate::TokenIssuer::builder_rotating) or
/// [`TokenKeys::rotating`](crate::TokenKeys::rotating)), one to the service's own
/// [`Validator`](crate::Validator) ([`ValidatorBuilder::signing_keys`]), one to the published JWK
/// set (`jwt_cutoff_axum::PublishedKeys::following`), and keep one to rotate with. Each sees a
/// rotation at once.
///
/// A rotation ([`schedule`](Self::schedule)) names the instant the next key starts signing;
/// schedule it at least as far ahead as verifiers take to fetch a published key set again (the
/// refresh interval of a [`TrustedIssuer`](crate::TrustedIssuer), 5 minutes by default, plus the
/// HTTP caching of the set). Verifiers of this crate also fetch at once for a `kid` they do not
/// know, but others may not. A key that leaked is [`withdraw`](Self::withdraw)n at once, after
/// a new key took over.
///
/// Each process holds its keys in memory: a service of several processes stores the keys and
/// the schedule (the instants given to [`schedule`](Self::schedule)) and builds the same
/// `SigningKeys` in each of them.
///
/// [`ValidatorBuilder::signing_keys`]: crate::ValidatorBuilder::signing_keys
///
/// ```
/// use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, SigningKey, SigningKeys, TokenIssuer, Validator};
/// use std::time::{Duration, SystemTime};
///
/// # let (pem_2026, pem_2027) = (include_bytes!("../tests/keys/ec_private.pem"), include_bytes!("../tests/keys/ec_private_2.pem"));
/// let access_lifetime = Duration::from_secs(300);
/// let keys = SigningKeys::new(
///     SigningKey::ec_pem(pem_2026, Algorithm::ES256)?.kid("2026"),
///     access_lifetime + Duration::from_secs(60), // how long a retired key stays published
/// )?;
/// let issuer = TokenIssuer::builder_rotating(keys.clone())
///     .access_lifetime(access_lifetime)
///     .refresh_key(SigningKey::hmac(b"a refresh secret of at least 32 bytes", Algorithm::HS256)?)
///     .build()?;
/// let validator = Validator::builder()
///     .algorithms([Algorithm::ES256])
///     .signing_keys(&keys)
///     .build(CutoffCache::new(MemoryStore::new()))?;
///
/// // Published now, signing in ten minutes; "2026" is then published for six more.
/// let next = SigningKey::ec_pem(pem_2027, Algorithm::ES256)?.kid("2027");
/// keys.schedule(next, SystemTime::now() + Duration::from_secs(600))?;
/// assert_eq!(keys.published().len(), 2);
/// assert_eq!(keys.signing_key_id().as_deref(), Some("2026"));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SigningKeys {
    ring: Arc<Ring>,
}

struct Ring {
    /// How long a key stays published after the next one started signing.
    keep_retired: Duration,
    /// Changes whenever the keys published change (a rotation, a withdrawal, a retired key
    /// dropped), so that what was built from them is built again.
    generation: AtomicU64,
    /// When a retired key is next due to be dropped, in milliseconds since the Unix epoch
    /// (`u64::MAX`: none is), read without the lock.
    next_expiry_millis: AtomicU64,
    entries: RwLock<Vec<Entry>>,
}

struct Entry {
    key: Arc<SigningKey>,
    verifying: VerifyingKey,
    signs_from: SystemTime,
    /// Set once the key after it is scheduled.
    published_until: Option<SystemTime>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.ring.read();
        let kids: Vec<Option<&str>> = entries.iter().map(|entry| entry.key.key_id()).collect();
        f.debug_struct("SigningKeys")
            .field("kids", &kids)
            .field("keep_retired", &self.ring.keep_retired)
            .finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// Keys that start with `current`, signing from now on. After a rotation, a retired key stays
    /// published (and verifies) for `keep_retired`: at least the lifetime of the tokens it signs
    /// plus the verifiers' leeway. A [`TokenIssuer`](crate::TokenIssuer) refuses keys that keep
    /// retired ones for less than its tokens' lifetime.
    ///
    /// # Errors
    /// The key's verifying half cannot be derived (no crypto backend, or a key it cannot read).
    pub fn new(current: SigningKey, keep_retired: Duration) -> Result<Self, ConfigError> {
        let entry = Entry::new(current, UNIX_EPOCH)?;
        Ok(Self {
            ring: Arc::new(Ring {
                keep_retired,
                generation: AtomicU64::new(0),
                next_expiry_millis: AtomicU64::new(u64::MAX),
                entries: RwLock::new(vec![entry]),
            }),
        })
    }

    /// Publishes `next` now; it signs from `signs_from` on (at once if that has passed), and the
    /// key signing until then stays published for [`keep_retired`](Self::keep_retired) after it.
    ///
    /// # Errors
    /// `next` has no `kid`, or one a published key has; `signs_from` is not after the instant the
    /// last scheduled key starts signing; or `next` is an HMAC secret among private keys (or the
    /// reverse), which could not be published together.
    pub fn schedule(&self, next: SigningKey, signs_from: SystemTime) -> Result<(), ConfigError> {
        let Some(kid) = next.key_id() else {
            return Err(ConfigError::new(
                "a key scheduled to sign next needs a `kid`, so tokens tell which key signed them",
            ));
        };
        let mut entries = self.ring.write();
        self.ring.drop_expired(&mut entries, SystemTime::now());
        if entries.iter().any(|entry| entry.key.key_id() == Some(kid)) {
            return Err(ConfigError::new(format!(
                "the kid {kid:?} is already published"
            )));
        }
        let Some(last) = entries.last() else {
            return Err(ConfigError::new("no key is left to rotate from"));
        };
        if signs_from <= last.signs_from {
            return Err(ConfigError::new(
                "the next key must start signing after the last one scheduled did",
            ));
        }
        if next.algorithm().is_asymmetric() != last.key.algorithm().is_asymmetric() {
            return Err(ConfigError::new(
                "HMAC secrets and private keys cannot take turns: one kind can be published, \
                 the other cannot",
            ));
        }
        entries.push(Entry::new(next, signs_from)?);
        self.ring.changed(&mut entries);
        Ok(())
    }

    /// Stops publishing, signing with and verifying with the key `kid` at once: for a key that
    /// leaked. Tokens it signed are refused from now on, also by validators that verified them
    /// before. Schedule its successor first, to sign from now on.
    ///
    /// # Errors
    /// No key has that `kid`, or it is the only key that could sign now.
    pub fn withdraw(&self, kid: &str) -> Result<(), ConfigError> {
        let mut entries = self.ring.write();
        let now = SystemTime::now();
        self.ring.drop_expired(&mut entries, now);
        let Some(index) = entries
            .iter()
            .position(|entry| entry.key.key_id() == Some(kid))
        else {
            return Err(ConfigError::new(format!(
                "no published key has the kid {kid:?}"
            )));
        };
        let signs_after = entries
            .iter()
            .enumerate()
            .any(|(other, entry)| other != index && entry.signs_from <= now);
        if !signs_after {
            return Err(ConfigError::new(format!(
                "the key {kid:?} is the only one that can sign now: schedule its successor to \
                 sign from now on first"
            )));
        }
        entries.remove(index);
        self.ring.changed(&mut entries);
        Ok(())
    }

    /// The `kid` of the key that signs now.
    #[must_use]
    pub fn signing_key_id(&self) -> Option<String> {
        self.signing_now()
            .and_then(|key| key.key_id().map(str::to_owned))
    }

    /// The key that signs now: the last one whose turn has come. There always is one (the first
    /// key signs from the epoch, [`withdraw`](Self::withdraw) leaves one whose turn has come, and
    /// a key is only dropped once the one after it signs); `None` would be a bug.
    pub(crate) fn signing_now(&self) -> Option<Arc<SigningKey>> {
        let now = SystemTime::now();
        let entries = self.ring.read();
        entries
            .iter()
            .rev()
            .find(|entry| entry.signs_from <= now)
            .map(|entry| Arc::clone(&entry.key))
    }

    /// The keys published now: the one signing, those scheduled to sign next, and those retired
    /// less than [`keep_retired`](Self::keep_retired) ago.
    #[must_use]
    pub fn published(&self) -> Vec<SigningKey> {
        self.drop_due();
        let entries = self.ring.read();
        entries
            .iter()
            .map(|entry| SigningKey::clone(&entry.key))
            .collect()
    }

    /// How long a key stays published after the next one started signing.
    #[must_use]
    pub fn keep_retired(&self) -> Duration {
        self.ring.keep_retired
    }

    /// Changes whenever [`published`](Self::published) does: what is built from the published
    /// keys (a JWK set document) is built again only then.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.drop_due();
        self.ring.generation.load(Ordering::Acquire)
    }

    /// Drops the retired keys whose time is up, taking the lock only when one is.
    fn drop_due(&self) {
        let now = SystemTime::now();
        if unix_millis(now) >= self.ring.next_expiry_millis.load(Ordering::Acquire) {
            let mut entries = self.ring.write();
            self.ring.drop_expired(&mut entries, now);
        }
    }

    /// The algorithms of the keys published now.
    pub(crate) fn algorithms(&self) -> Vec<Algorithm> {
        let mut algorithms: Vec<Algorithm> = Vec::new();
        for entry in self.ring.read().iter() {
            if !algorithms.contains(&entry.key.algorithm()) {
                algorithms.push(entry.key.algorithm());
            }
        }
        algorithms
    }

    /// The verifying keys of the keys published now, with their generation.
    fn verifying_keys(&self) -> (Vec<VerifyingKey>, u64) {
        self.drop_due();
        let entries = self.ring.read();
        let keys = entries
            .iter()
            .map(|entry| entry.verifying.clone())
            .collect();
        // Changes are made under the write lock, so this is the generation of these keys.
        (keys, self.ring.generation.load(Ordering::Acquire))
    }
}

impl Entry {
    fn new(key: SigningKey, signs_from: SystemTime) -> Result<Self, ConfigError> {
        Ok(Self {
            verifying: key.verifying_key()?,
            key: Arc::new(key),
            signs_from,
            published_until: None,
        })
    }
}

impl Ring {
    fn read(&self) -> RwLockReadGuard<'_, Vec<Entry>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Vec<Entry>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops the retired keys whose time is up.
    fn drop_expired(&self, entries: &mut Vec<Entry>, now: SystemTime) {
        let before = entries.len();
        entries.retain(|entry| entry.published_until.is_none_or(|until| now < until));
        if entries.len() == before {
            self.note_next_expiry(entries);
        } else {
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.note_next_expiry(entries);
        }
    }

    /// After a key was scheduled or withdrawn: each key is published until the one after it has
    /// signed for `keep_retired`, the last one for good.
    fn changed(&self, entries: &mut [Entry]) {
        let mut successor_signs_from = None;
        for entry in entries.iter_mut().rev() {
            entry.published_until = successor_signs_from
                .and_then(|signs_from: SystemTime| signs_from.checked_add(self.keep_retired));
            successor_signs_from = Some(entry.signs_from);
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.note_next_expiry(entries);
    }

    fn note_next_expiry(&self, entries: &[Entry]) {
        let next = entries
            .iter()
            .filter_map(|entry| entry.published_until)
            .min()
            .map_or(u64::MAX, unix_millis);
        self.next_expiry_millis.store(next, Ordering::Release);
    }
}

fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

/// A validator's own keys when they rotate: the verifying keys of what a [`SigningKeys`]
/// publishes, rebuilt for the validator's algorithms when its generation changes.
pub(crate) struct RotatingKeySet {
    keys: SigningKeys,
    allowed: Vec<Algorithm>,
    built: RwLock<(u64, Arc<KeySet>)>,
}

impl fmt::Debug for RotatingKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotatingKeySet")
            .field("keys", &self.keys)
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

impl RotatingKeySet {
    /// # Errors
    /// None of the keys published now verifies an allowed algorithm.
    pub(crate) fn new(keys: SigningKeys, allowed: Vec<Algorithm>) -> Result<Self, ConfigError> {
        let (verifying, generation) = keys.verifying_keys();
        let set = KeySet::new(&allowed, verifying)?;
        Ok(Self {
            keys,
            allowed,
            built: RwLock::new((generation, Arc::new(set))),
        })
    }

    /// The generation of the keys published now (cheap: an atomic read unless a retired key is
    /// due to go).
    pub(crate) fn generation(&self) -> u64 {
        self.keys.generation()
    }

    /// The keys that verify now, and their generation.
    pub(crate) fn current(&self) -> (Arc<KeySet>, u64) {
        let generation = self.keys.generation();
        {
            let built = self.built.read().unwrap_or_else(PoisonError::into_inner);
            if built.0 == generation {
                return (Arc::clone(&built.1), generation);
            }
        }
        let (verifying, generation) = self.keys.verifying_keys();
        // Keys that fit none of the validator's algorithms are left out (a rotation to an
        // algorithm it does not allow): tokens they sign are refused, nothing else is.
        let set = Arc::new(KeySet::published(&self.allowed, verifying));
        let mut built = self.built.write().unwrap_or_else(PoisonError::into_inner);
        if built.0 < generation {
            *built = (generation, Arc::clone(&set));
        }
        (set, generation)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const A: &[u8] = b"the first secret, at least 32 bytes long";
    const B: &[u8] = b"the second secret, at least 32 bytes long";
    const C: &[u8] = b"the third secret, at least 32 bytes long";

    fn hmac(secret: &[u8], kid: &str) -> SigningKey {
        SigningKey::hmac(secret, Algorithm::HS256).unwrap().kid(kid)
    }

    fn kids(keys: &SigningKeys) -> Vec<String> {
        keys.published()
            .iter()
            .map(|key| key.key_id().unwrap_or("").to_owned())
            .collect()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn the_next_key_is_published_at_once_and_signs_from_its_turn() {
        let keys = SigningKeys::new(hmac(A, "a"), HOUR).unwrap();
        let before = keys.generation();
        keys.schedule(hmac(B, "b"), SystemTime::now() + HOUR)
            .unwrap();
        assert_ne!(keys.generation(), before);
        assert_eq!(kids(&keys), ["a", "b"]);
        assert_eq!(keys.signing_key_id().as_deref(), Some("a"));

        // A key whose turn has come signs at once; the ones before it stay published.
        let keys = SigningKeys::new(hmac(A, "a"), HOUR).unwrap();
        keys.schedule(hmac(B, "b"), SystemTime::now()).unwrap();
        assert_eq!(keys.signing_key_id().as_deref(), Some("b"));
        assert_eq!(kids(&keys), ["a", "b"]);
    }

    #[test]
    fn a_retired_key_goes_once_kept_long_enough() {
        let keys = SigningKeys::new(hmac(A, "a"), Duration::ZERO).unwrap();
        keys.schedule(hmac(B, "b"), SystemTime::now()).unwrap();
        // Retired for no time at all: gone at the next look, and the generation says so.
        let generation = keys.ring.generation.load(Ordering::Acquire);
        assert_eq!(kids(&keys), ["b"]);
        assert!(keys.generation() > generation);
        assert_eq!(keys.signing_key_id().as_deref(), Some("b"));
    }

    #[test]
    fn scheduling_refuses_what_would_break_verification() {
        let keys = SigningKeys::new(hmac(A, "a"), HOUR).unwrap();
        let soon = SystemTime::now() + HOUR;
        let no_kid = SigningKey::hmac(B, Algorithm::HS256).unwrap();
        assert!(keys.schedule(no_kid, soon).is_err());
        assert!(keys.schedule(hmac(B, "a"), soon).is_err(), "a kid taken");
        keys.schedule(hmac(B, "b"), soon).unwrap();
        assert!(
            keys.schedule(hmac(C, "c"), soon).is_err(),
            "not after the last one scheduled"
        );
        let ec = SigningKey::ec_pem(
            include_bytes!("../tests/keys/ec_private.pem"),
            Algorithm::ES256,
        )
        .unwrap()
        .kid("ec");
        assert!(
            keys.schedule(ec, soon + HOUR).is_err(),
            "a private key among HMAC secrets"
        );
        assert_eq!(kids(&keys), ["a", "b"]);
    }

    #[test]
    fn withdrawing_leaves_a_key_that_signs() {
        let keys = SigningKeys::new(hmac(A, "a"), HOUR).unwrap();
        assert!(keys.withdraw("a").is_err(), "the only key");
        assert!(keys.withdraw("nobody").is_err());
        keys.schedule(hmac(B, "b"), SystemTime::now() + HOUR)
            .unwrap();
        assert!(keys.withdraw("a").is_err(), "b's turn has not come");
        // The next key withdrawn before its turn: "a" signs on, and is no longer retired.
        keys.withdraw("b").unwrap();
        assert_eq!(kids(&keys), ["a"]);
        assert!(keys.ring.read()[0].published_until.is_none());

        // The leak: a successor signs from now on, then the leaked key goes.
        keys.schedule(hmac(C, "c"), SystemTime::now()).unwrap();
        keys.withdraw("a").unwrap();
        assert_eq!(kids(&keys), ["c"]);
        assert_eq!(keys.signing_key_id().as_deref(), Some("c"));
    }

    #[test]
    fn debug_output_names_kids_only() {
        let keys = SigningKeys::new(hmac(A, "a"), HOUR).unwrap();
        let debug = format!("{keys:?}");
        assert!(debug.contains("\"a\""), "{debug}");
        assert!(!debug.contains("secret"), "{debug}");
    }
}

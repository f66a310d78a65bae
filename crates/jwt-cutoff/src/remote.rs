//! A trusted issuer's published keys, fetched and kept fresh: refreshed in the background while
//! the known keys keep working, refetched for an unknown `kid` at most once per cooldown, one
//! fetch at a time shared by everyone waiting for it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};

use crate::fetch::{FetchError, KeyFetcher};
use crate::jwks::JwkSet;
use crate::keys::{Algorithm, KeySet};

/// Whether the last fetch found keys.
type Fetched = Shared<BoxFuture<'static, bool>>;

pub(crate) struct RemoteKeys {
    issuer: String,
    /// Given, or `None` to find it through discovery.
    jwks_url: Option<String>,
    fetcher: KeyFetcher,
    algorithms: Vec<Algorithm>,
    refresh: Duration,
    cooldown: Duration,
    /// Changes whenever a fetch brings a key set different from the one before, so that tokens
    /// verified with the old one are verified again (a key withdrawn must stop verifying).
    generation: AtomicU64,
    /// When the keys may next need a fetch, in milliseconds since `created`: read without the
    /// lock on every cached token's hit, so that hits alone keep the keys fresh.
    due_millis: AtomicU64,
    created: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// What the last successful fetch found; `None` before one.
    keys: Option<Arc<KeySet>>,
    /// A hash of the document those keys came from.
    document_hash: u64,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
    /// Whether the last attempt failed.
    failing: bool,
    /// The `jwks_uri` discovery found, until a fetch from it fails.
    discovered: Option<String>,
    in_flight: Option<Fetched>,
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("issuer", &self.issuer)
            .field("jwks_url", &self.jwks_url)
            .field("refresh", &self.refresh)
            .field("cooldown", &self.cooldown)
            .finish_non_exhaustive()
    }
}

/// What waiting for keys found.
pub(crate) enum Refetched {
    /// Keys are known (fetched now, or by a fetch within the cooldown).
    Keys,
    /// The issuer's keys could not be fetched.
    Unavailable,
}

impl RemoteKeys {
    /// Starts the first fetch in the background when built inside a Tokio runtime.
    pub(crate) fn new(
        issuer: String,
        jwks_url: Option<String>,
        fetcher: KeyFetcher,
        algorithms: Vec<Algorithm>,
        refresh: Duration,
        cooldown: Duration,
    ) -> Arc<Self> {
        let keys = Arc::new(Self {
            issuer,
            jwks_url,
            fetcher,
            algorithms,
            refresh,
            cooldown,
            generation: AtomicU64::new(0),
            due_millis: AtomicU64::new(0),
            created: Instant::now(),
            state: Mutex::default(),
        });
        keys.current();
        keys
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a key this issuer may publish could verify `alg`: a token naming a key not known
    /// yet is worth a fetch only then (never for an HMAC one).
    pub(crate) fn may_verify(&self, alg: Algorithm) -> bool {
        alg.is_asymmetric() && self.algorithms.contains(&alg)
    }

    /// The generation of the keys known now (see [`current`](Self::current)), for a cached
    /// token's hit; starts a refresh when one is due, as [`current`](Self::current) does.
    pub(crate) fn generation(self: &Arc<Self>) -> u64 {
        if self.millis_since_created(Instant::now()) >= self.due_millis.load(Ordering::Relaxed) {
            self.refresh_if_due(&mut self.state());
        }
        self.generation.load(Ordering::Acquire)
    }

    fn millis_since_created(&self, at: Instant) -> u64 {
        u64::try_from(at.duration_since(self.created).as_millis()).unwrap_or(u64::MAX)
    }

    /// Notes that no fetch is needed before `after` from now.
    fn not_due_for(&self, after: Duration) {
        let due = self.millis_since_created(Instant::now() + after);
        self.due_millis.store(due, Ordering::Relaxed);
    }

    /// The keys known now (`None` before the first successful fetch), with their generation.
    /// When they are older than the refresh interval, a fetch starts in the background (inside a
    /// Tokio runtime), unless one started within the cooldown.
    pub(crate) fn current(self: &Arc<Self>) -> Option<(Arc<KeySet>, u64)> {
        let mut state = self.state();
        self.refresh_if_due(&mut state);
        let generation = self.generation.load(Ordering::Acquire);
        state.keys.clone().map(|keys| (keys, generation))
    }

    /// Starts a fetch in the background (inside a Tokio runtime) when the keys are older than the
    /// refresh interval, unless one is running or started within the cooldown.
    fn refresh_if_due(self: &Arc<Self>, state: &mut State) {
        let age = state.fetched_at.map(|at| at.elapsed());
        match age {
            Some(age) if age < self.refresh => self.not_due_for(self.refresh - age),
            _ if in_flight(state) || self.cooling_down(state) => {
                // Hits need not take the lock again before another fetch may start.
                self.not_due_for(self.cooldown);
            }
            _ => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    // The fetch runs as a task of its own; nobody waits for it here.
                    drop(self.start(state, &runtime));
                }
            }
        }
    }

    /// For a token whose `kid` the known keys lack: waits for the fetch in flight, or starts one
    /// unless one started within the cooldown, whose outcome then answers.
    pub(crate) async fn refetch(self: &Arc<Self>) -> Refetched {
        let fetched = {
            let mut state = self.state();
            match &state.in_flight {
                Some(fetched) if in_flight(&state) => fetched.clone(),
                _ if self.cooling_down(&state) => {
                    return if state.failing || state.keys.is_none() {
                        Refetched::Unavailable
                    } else {
                        Refetched::Keys
                    };
                }
                _ => {
                    let runtime = tokio::runtime::Handle::current();
                    self.start(&mut state, &runtime)
                }
            }
        };
        if fetched.await {
            Refetched::Keys
        } else {
            Refetched::Unavailable
        }
    }

    fn cooling_down(&self, state: &State) -> bool {
        state
            .attempted_at
            .is_some_and(|at| at.elapsed() < self.cooldown)
    }

    /// Starts a fetch as a task of its own (it finishes, and stores what it found, even when
    /// every request waiting for it is gone) and records it as the one in flight.
    fn start(self: &Arc<Self>, state: &mut State, runtime: &tokio::runtime::Handle) -> Fetched {
        state.attempted_at = Some(Instant::now());
        self.not_due_for(self.cooldown);
        let keys = Arc::clone(self);
        let task = runtime.spawn(async move { keys.fetch_and_keep().await });
        let fetched = async move { task.await.unwrap_or(false) }.boxed().shared();
        state.in_flight = Some(fetched.clone());
        fetched
    }

    async fn fetch_and_keep(&self) -> bool {
        let discovered = self.state().discovered.clone();
        let fetched = self.fetch(discovered).await;
        let mut state = self.state();
        state.in_flight = None;
        match fetched {
            Ok((set, hash, jwks_url)) => {
                if state.keys.is_none() || hash != state.document_hash {
                    let keys = KeySet::published(&self.algorithms, set.into_keys());
                    state.keys = Some(Arc::new(keys));
                    state.document_hash = hash;
                    self.generation.fetch_add(1, Ordering::AcqRel);
                }
                state.fetched_at = Some(Instant::now());
                self.not_due_for(self.refresh);
                state.failing = false;
                if self.jwks_url.is_none() {
                    state.discovered = Some(jwks_url);
                }
                true
            }
            Err(error) => {
                tracing::warn!(
                    issuer = %self.issuer,
                    %error,
                    "jwt-cutoff: the trusted issuer's keys could not be fetched; the keys known \
                     keep working"
                );
                state.failing = true;
                state.discovered = None;
                false
            }
        }
    }

    /// The key set, a hash of its document, and the URL it came from.
    async fn fetch(&self, discovered: Option<String>) -> Result<(JwkSet, u64, String), FetchError> {
        let url = match (&self.jwks_url, discovered) {
            (Some(url), _) => url.clone(),
            (None, Some(url)) => url,
            (None, None) => self
                .fetcher
                .discover(&self.issuer)
                .await?
                .jwks_uri()
                .to_owned(),
        };
        let (set, hash) = self.fetcher.jwks_hashed(&url).await?;
        Ok((set, hash, url))
    }
}

/// Whether a fetch is running: one that ended (even by a panic, which leaves it recorded) is not.
fn in_flight(state: &State) -> bool {
    state
        .in_flight
        .as_ref()
        .is_some_and(|fetched| fetched.peek().is_none())
}

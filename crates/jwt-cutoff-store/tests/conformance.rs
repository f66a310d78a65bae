//! The conformance suite against the memory store, and against a store with one flaw at a time,
//! which the suite must catch: every check fails for some flaw, and a store without one passes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "tests"
)]

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt as _;
use jwt_cutoff_store::conformance::{Check, Suite};
use jwt_cutoff_store::{
    BoxFuture, Cutoff, CutoffChange, CutoffFuture, CutoffSource, MemoryStore, PushChannel,
    PushSubscription, Scope, SourceError, check_subject,
};
use tokio::sync::broadcast;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_memory_store_keeps_the_promises() {
    let mut suite = Suite::new(async || MemoryStore::new()).push(MemoryStore::clone);
    for check in Check::ALL {
        suite.check(check).await;
    }
}

/// What a [`Flawed`] store gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    /// A raise reads, lets other tasks run, then writes: a slow writer overwrites a later cutoff.
    NotAtomic,
    /// Lookups answer the subject's own cutoff and forget everyone's.
    IgnoresEveryone,
    /// A later instant replaces Refused.
    InstantReplacesRefused,
    /// Subjects are stored trimmed of spaces.
    TrimsSubjects,
    /// Subjects are stored cut to 64 bytes.
    CutsSubjects,
    /// The empty subject is everyone.
    EmptySubjectIsEveryone,
    /// Subjects of any length are kept.
    Unbounded,
    /// A raise stores and pushes, and only then checks the subject's length.
    ChecksTheBoundAfterWriting,
    /// A raise answers what was asked rather than what is stored.
    AnswersTheAsked,
    /// The last write wins, earlier or not.
    LastWriteWins,
    /// Every subject is refused, as by a store that is authoritative about its subjects and knows
    /// none: a flaw only where the store does not say it is authoritative.
    KnowsNoSubject,
    /// Changes of everyone's cutoff are not pushed.
    ForgetsEveryonesPush,
    /// Every raise pushes what was asked, changed or not.
    PushesTheAsked,
}

/// Which check catches each flaw, and what its message says.
const CAUGHT: &[(Flaw, Check, &str)] = &[
    (Flaw::NotAtomic, Check::RacingWriters, ""),
    (Flaw::IgnoresEveryone, Check::ScopesCombine, "lookup"),
    (Flaw::InstantReplacesRefused, Check::RefusedWins, "refused"),
    (Flaw::TrimsSubjects, Check::OddSubjects, "is stored"),
    (Flaw::CutsSubjects, Check::OddSubjects, "is stored"),
    (Flaw::EmptySubjectIsEveryone, Check::OddSubjects, ""),
    (Flaw::Unbounded, Check::SubjectBound, "must be refused"),
    (
        Flaw::ChecksTheBoundAfterWriting,
        Check::SubjectBound,
        "never stored",
    ),
    (
        Flaw::AnswersTheAsked,
        Check::RaiseReturnsStored,
        "is stored",
    ),
    (Flaw::LastWriteWins, Check::NeverLowers, "is stored"),
    (Flaw::KnowsNoSubject, Check::UnknownSubjects, "lookup"),
    (Flaw::ForgetsEveryonesPush, Check::Push, "no push"),
    (Flaw::PushesTheAsked, Check::Push, "pushed"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_without_a_flaw_passes_every_check() {
    suite(None).run().await;
    // A store that refuses unknown subjects passes too, when it says so.
    suite(Some(Flaw::KnowsNoSubject))
        .refuses_unknown_subjects()
        .run()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_flaw_is_caught_and_every_check_catches_one() {
    let mut checks_that_caught = HashSet::new();
    for &(flaw, check, says) in CAUGHT {
        let message = failure(suite(Some(flaw)), check).await;
        assert!(
            message.starts_with(&format!("{check:?}: ")) && message.contains(says),
            "{flaw:?} under {check:?}: {message}"
        );
        checks_that_caught.insert(check);
    }
    assert_eq!(checks_that_caught, HashSet::from(Check::ALL));

    // A store that says it refuses unknown subjects but does not.
    let message = failure(
        suite(None).refuses_unknown_subjects(),
        Check::UnknownSubjects,
    )
    .await;
    assert!(
        message.contains("for a subject it does not know"),
        "{message}"
    );
    // Push asked for without a channel is the caller's mistake, said so.
    let message = failure(Suite::new(async || Flawed::new(None)), Check::Push).await;
    assert!(message.contains("Suite::push"), "{message}");
}

/// A limit of the suite: a store that writes a subject over the bound before refusing it shows
/// the write through its pushes only (above), so without a push channel it passes. The stores'
/// own tests look at what they hold (rows, keys) for that.
#[tokio::test]
async fn without_pushes_a_write_before_the_bound_check_goes_unseen() {
    let flawed = async || Flawed::new(Some(Flaw::ChecksTheBoundAfterWriting));
    Suite::new(flawed).check(Check::SubjectBound).await;
}

/// The suite for stores with `flaw`, following their pushes.
fn suite(flaw: Option<Flaw>) -> Suite<Flawed, impl AsyncFnMut() -> Flawed> {
    Suite::new(async move || Flawed::new(flaw)).push(Flawed::clone)
}

/// The message `check` fails with; fails the test if it passes.
async fn failure<Make>(mut suite: Suite<Flawed, Make>, check: Check) -> String
where
    Make: AsyncFnMut() -> Flawed,
{
    let outcome = AssertUnwindSafe(suite.check(check)).catch_unwind().await;
    let Err(panic) = outcome else {
        panic!("{check:?} passed, but it should have failed");
    };
    match (panic.downcast_ref::<String>(), panic.downcast_ref::<&str>()) {
        (Some(message), _) => message.clone(),
        (None, Some(message)) => (*message).to_owned(),
        (None, None) => panic!("{check:?} failed without a message"),
    }
}

/// A store in memory that keeps every promise, except the one flaw it is given.
#[derive(Clone)]
struct Flawed {
    flaw: Option<Flaw>,
    state: Arc<Mutex<State>>,
    changes: broadcast::Sender<CutoffChange>,
}

struct State {
    subjects: HashMap<String, Cutoff>,
    everyone: Cutoff,
}

impl Flawed {
    fn new(flaw: Option<Flaw>) -> Self {
        Self {
            flaw,
            state: Arc::new(Mutex::new(State {
                subjects: HashMap::new(),
                everyone: Cutoff::NoCutoff,
            })),
            changes: broadcast::Sender::new(4_096),
        }
    }

    fn has(&self, flaw: Flaw) -> bool {
        self.flaw == Some(flaw)
    }

    /// Where a scope's cutoff is kept: `None` for everyone.
    fn key(&self, scope: Scope<'_>) -> Option<String> {
        let Scope::Subject(subject) = scope else {
            return None;
        };
        if self.has(Flaw::EmptySubjectIsEveryone) && subject.is_empty() {
            return None;
        }
        if self.has(Flaw::TrimsSubjects) {
            return Some(subject.trim().to_owned());
        }
        if self.has(Flaw::CutsSubjects) {
            let mut end = subject.len().min(64);
            while !subject.is_char_boundary(end) {
                end -= 1;
            }
            return Some(subject.get(..end).unwrap().to_owned());
        }
        Some(subject.to_owned())
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn stored(&self, key: Option<&String>) -> Option<Cutoff> {
        self.with_state(|state| match key {
            Some(subject) => state.subjects.get(subject).copied(),
            None => Some(state.everyone),
        })
    }

    fn checks_the_bound_first(&self, scope: Scope<'_>) -> Result<(), SourceError> {
        match scope {
            Scope::Subject(subject)
                if !self.has(Flaw::Unbounded) && !self.has(Flaw::ChecksTheBoundAfterWriting) =>
            {
                check_subject(subject)
            }
            _ => Ok(()),
        }
    }
}

impl CutoffSource for Flawed {
    fn lookup<'a>(&'a self, subject: &'a str) -> CutoffFuture<'a> {
        Box::pin(async move {
            if !self.has(Flaw::Unbounded) {
                check_subject(subject)?;
            }
            if self.has(Flaw::KnowsNoSubject) {
                return Ok(Cutoff::Refused);
            }
            let own = self
                .stored(self.key(Scope::Subject(subject)).as_ref())
                .unwrap_or(Cutoff::NoCutoff);
            if self.has(Flaw::IgnoresEveryone) {
                return Ok(own);
            }
            Ok(own.max(self.stored(None).unwrap_or(Cutoff::NoCutoff)))
        })
    }

    fn raise<'a>(&'a self, scope: Scope<'a>, to: Cutoff) -> CutoffFuture<'a> {
        Box::pin(async move {
            self.checks_the_bound_first(scope)?;
            let key = self.key(scope);
            // A NotAtomic store reads, lets other tasks run, and writes from what it read.
            let read_before = if self.has(Flaw::NotAtomic) {
                let read = self.stored(key.as_ref()).unwrap_or(Cutoff::NoCutoff);
                tokio::task::yield_now().await;
                Some(read)
            } else {
                None
            };
            let (current, stored) = self.with_state(|state| {
                let slot = match &key {
                    Some(subject) => state
                        .subjects
                        .entry(subject.clone())
                        .or_insert(Cutoff::NoCutoff),
                    None => &mut state.everyone,
                };
                let current = read_before.unwrap_or(*slot);
                *slot = match self.flaw {
                    Some(Flaw::LastWriteWins) => to,
                    Some(Flaw::InstantReplacesRefused)
                        if current == Cutoff::Refused && to.valid_from().is_some() =>
                    {
                        to
                    }
                    _ => current.max(to),
                };
                (current, *slot)
            });
            let forgets = self.has(Flaw::ForgetsEveryonesPush) && scope == Scope::Everyone;
            if self.has(Flaw::PushesTheAsked) {
                let _ = self.changes.send(CutoffChange::new(scope, to));
            } else if stored != current && !forgets {
                let _ = self.changes.send(CutoffChange::new(scope, stored));
            }
            match scope {
                Scope::Subject(subject) if self.has(Flaw::ChecksTheBoundAfterWriting) => {
                    check_subject(subject)?;
                }
                _ => {}
            }
            Ok(if self.has(Flaw::AnswersTheAsked) {
                to
            } else {
                stored
            })
        })
    }
}

impl PushChannel for Flawed {
    type Subscription = FlawedSubscription;

    fn subscribe(&self) -> BoxFuture<'_, Result<FlawedSubscription, SourceError>> {
        let receiver = self.changes.subscribe();
        Box::pin(async move { Ok(FlawedSubscription(receiver)) })
    }
}

struct FlawedSubscription(broadcast::Receiver<CutoffChange>);

impl PushSubscription for FlawedSubscription {
    fn next_change(&mut self) -> BoxFuture<'_, Result<CutoffChange, SourceError>> {
        Box::pin(async move {
            self.0
                .recv()
                .await
                .map_err(|error| SourceError::new(error.to_string()))
        })
    }
}

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
    BoxFuture, Cutoff, CutoffChange, CutoffFuture, CutoffSource, LookupFuture, MemoryStore,
    PushChannel, PushSubscription, Scope, SourceError, SubjectCutoffs, check_scope, check_subject,
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
    /// A session's cutoff is the subject's: revoking one device logs out every device.
    SessionIsTheSubject,
    /// Sessions are kept by id alone: one subject's revocation reaches another's session.
    SessionsAcrossSubjects,
    /// Lookups answer no session.
    ForgetsSessions,
    /// Session ids of any length are kept.
    UnboundedSessionIds,
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
    (Flaw::SessionIsTheSubject, Check::Sessions, "lookup"),
    (
        Flaw::SessionsAcrossSubjects,
        Check::Sessions,
        "lookup(\"bob\")",
    ),
    (Flaw::ForgetsSessions, Check::Sessions, "lookup"),
    (
        Flaw::UnboundedSessionIds,
        Check::Sessions,
        "must be refused",
    ),
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

#[derive(Default)]
struct State {
    cutoffs: HashMap<Slot, Cutoff>,
}

/// Where a scope's cutoff is kept.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Slot {
    Subject(String),
    Everyone,
    Session { subject: String, session: String },
}

impl Flawed {
    fn new(flaw: Option<Flaw>) -> Self {
        Self {
            flaw,
            state: Arc::default(),
            changes: broadcast::Sender::new(4_096),
        }
    }

    fn has(&self, flaw: Flaw) -> bool {
        self.flaw == Some(flaw)
    }

    /// Where a scope's cutoff is kept.
    fn key(&self, scope: Scope<'_>) -> Slot {
        match scope {
            Scope::Everyone => Slot::Everyone,
            Scope::Subject(subject) => self.subject_key(subject),
            Scope::Session { subject, .. } if self.has(Flaw::SessionIsTheSubject) => {
                self.subject_key(subject)
            }
            Scope::Session { session, .. } if self.has(Flaw::SessionsAcrossSubjects) => {
                Slot::Session {
                    subject: String::new(),
                    session: session.to_owned(),
                }
            }
            Scope::Session { subject, session } => Slot::Session {
                subject: subject.to_owned(),
                session: session.to_owned(),
            },
        }
    }

    fn subject_key(&self, subject: &str) -> Slot {
        self.trimmed_subject(subject)
            .map_or(Slot::Everyone, Slot::Subject)
    }

    /// The subject as stored: `None` where it is taken for everyone.
    fn trimmed_subject(&self, subject: &str) -> Option<String> {
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

    fn stored(&self, key: &Slot) -> Cutoff {
        self.with_state(|state| state.cutoffs.get(key).copied().unwrap_or_default())
    }

    fn checks_the_bound_first(&self, scope: Scope<'_>) -> Result<(), SourceError> {
        match scope {
            Scope::Subject(subject)
                if !self.has(Flaw::Unbounded) && !self.has(Flaw::ChecksTheBoundAfterWriting) =>
            {
                check_subject(subject)
            }
            Scope::Session { .. } if !self.has(Flaw::UnboundedSessionIds) => check_scope(scope),
            _ => Ok(()),
        }
    }
}

impl CutoffSource for Flawed {
    fn stored<'a>(&'a self, scope: Scope<'a>) -> CutoffFuture<'a> {
        let stored = Self::stored(self, &self.key(scope));
        Box::pin(async move { Ok(stored) })
    }

    fn lookup<'a>(&'a self, subject: &'a str) -> LookupFuture<'a> {
        Box::pin(async move {
            if !self.has(Flaw::Unbounded) {
                check_subject(subject)?;
            }
            if self.has(Flaw::KnowsNoSubject) {
                return Ok(Cutoff::Refused.into());
            }
            let mut cutoff = self.stored(&self.key(Scope::Subject(subject)));
            if !self.has(Flaw::IgnoresEveryone) {
                cutoff = cutoff.max(self.stored(&Slot::Everyone));
            }
            if self.has(Flaw::ForgetsSessions) {
                return Ok(cutoff.into());
            }
            let Slot::Session { subject: owner, .. } = self.key(Scope::Session {
                subject,
                session: "any",
            }) else {
                return Ok(cutoff.into());
            };
            Ok(self.with_state(|state| {
                state.cutoffs.iter().fold(
                    SubjectCutoffs::from(cutoff),
                    |cutoffs, (slot, stored)| match slot {
                        Slot::Session { subject, session } if *subject == owner => {
                            cutoffs.with_session(session, *stored)
                        }
                        _ => cutoffs,
                    },
                )
            }))
        })
    }

    fn raise<'a>(&'a self, scope: Scope<'a>, to: Cutoff) -> CutoffFuture<'a> {
        Box::pin(async move {
            self.checks_the_bound_first(scope)?;
            let key = self.key(scope);
            // A NotAtomic store reads, lets other tasks run, and writes from what it read.
            let read_before = if self.has(Flaw::NotAtomic) {
                let read = self.stored(&key);
                tokio::task::yield_now().await;
                Some(read)
            } else {
                None
            };
            let (current, stored) = self.with_state(|state| {
                let slot = state.cutoffs.entry(key).or_default();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_memory_store_rotates_refresh_tokens() {
    let store = MemoryStore::new();
    jwt_cutoff_store::conformance::check_rotation(vec![store.clone(), store]).await;
}

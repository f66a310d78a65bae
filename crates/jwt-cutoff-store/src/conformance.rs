//! A conformance suite for [`CutoffSource`] stores (feature `testing`): the promises every store
//! makes, checked against the store itself, from its own tests.
//!
//! Give [`Suite::new`] a way to make a fresh, empty store (a new table, key prefix or file each
//! time), say with [`Suite::push`] how to follow it if it pushes, and [`Suite::run`] checks:
//!
//! - [`Check::RacingWriters`]: many tasks raising a subject's and everyone's cutoff in a scrambled
//!   order never see one move back, and what ends up stored is the latest asked; Refused, raced
//!   against later instants, wins.
//! - [`Check::ScopesCombine`]: a lookup answers the later of the subject's and everyone's cutoff,
//!   whatever order they were written in.
//! - [`Check::RefusedWins`]: Refused wins over any instant, for a subject and for everyone, and
//!   stays.
//! - [`Check::OddSubjects`]: subjects are kept apart byte for byte and round-trip intact: the empty
//!   one, spaces, `=`, `*`, newlines, quotes, backslashes, multi-byte UTF-8, and subjects of exactly
//!   [`MAX_SUBJECT_BYTES`] bytes; none of them is everyone.
//! - [`Check::SubjectBound`]: a longer subject is refused with the error [`check_subject`](crate::check_subject) makes,
//!   and nothing is written (or pushed) for it.
//! - [`Check::RaiseReturnsStored`]: a raise answers what is stored for its scope, which a later
//!   stored cutoff or Refused wins over the asked one.
//! - [`Check::NeverLowers`]: an earlier instant, or no cutoff, changes nothing and answers the
//!   stored value, also where a double would round.
//! - [`Check::UnknownSubjects`]: a subject never written has no cutoff (or is refused, for a store
//!   that is [authoritative](Suite::refuses_unknown_subjects) about its subjects).
//! - [`Check::Sessions`]: a session's cutoff ([`Scope::Session`]) is kept apart from the subject's,
//!   from the subject's other sessions and from other subjects' sessions of the same id; a lookup
//!   answers it beside the subject's, whatever order the subject, everyone and session cutoffs
//!   were written in; odd session ids round-trip, and ids that are empty or over
//!   [`MAX_SESSION_ID_BYTES`] are refused with an error.
//! - [`Check::Push`] (with [`Suite::push`]): every write that changed something is pushed as a
//!   [`CutoffChange`] with the stored cutoff. With a push channel every other check watches the
//!   pushes too: each change must arrive, and a push may only ever carry a cutoff that was stored
//!   for its scope, never going back (a push of an unchanged cutoff is allowed).
//!
//! Every check runs on its own fresh store, and each failure panics with the check's name and what
//! the store answered. The suite needs no server of its own and uses nothing but this crate and
//! Tokio: run it from a `#[tokio::test]`.
//!
//! ```
//! use jwt_cutoff_store::MemoryStore;
//! use jwt_cutoff_store::conformance::{Check, Suite};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let mut suite = Suite::new(async || MemoryStore::new()).push(MemoryStore::clone);
//! suite.check(Check::NeverLowers).await;
//! suite.check(Check::Push).await;
//! // A store's own test runs every check: suite.run().await
//! # });
//! ```
//!
//! A shared store (PostgreSQL, Redis) can also race writers over several connections to one fresh
//! store with [`Suite::racing_writers_on`]. A store that rotates refresh tokens runs
//! [`check_rotation`] too.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed check panics with a message, like an assertion"
)]

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::cutoff::{Cutoff, MAX_SESSION_ID_BYTES, MAX_SUBJECT_BYTES, SubjectCutoffs};
use crate::push::{CutoffChange, PushChannel, PushSubscription};
use crate::rotation::{RefreshTokens, Spend, Spent};
use crate::source::{BoxFuture, CutoffSource, Scope, SourceError};
use crate::time::Timestamp;

/// How long a check waits for a change to be pushed.
const PUSH_WAIT: Duration = Duration::from_secs(5);

/// Racing tasks, and the raises each one makes.
const RACING_TASKS: usize = 16;
const RAISES_PER_TASK: usize = 50;

/// A subject no check writes, whose lookups show what an unknown subject gets.
const NEVER_WRITTEN: &str = "conformance: never written";

/// The subject written last to flush the pushes of a check.
const LAST_PUSH: &str = "conformance: the last push";

/// One of the promises the suite checks; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// Racing writers never move a cutoff back, and the latest asked ends up stored.
    RacingWriters,
    /// Subject and everyone cutoffs combine by the later, in every order of writes.
    ScopesCombine,
    /// Refused wins over any instant, and stays.
    RefusedWins,
    /// Odd subjects are kept apart and round-trip intact.
    OddSubjects,
    /// A subject over [`MAX_SUBJECT_BYTES`] is refused with an error, and nothing is written.
    SubjectBound,
    /// A raise returns what is stored, not what was asked.
    RaiseReturnsStored,
    /// An earlier raise is a no-op that returns the stored cutoff.
    NeverLowers,
    /// A subject never written has no cutoff (or is refused, by an authoritative store).
    UnknownSubjects,
    /// Every write that changed something is pushed with the stored cutoff.
    Push,
    /// Session cutoffs are kept apart, answered with the subject's, and bounded.
    Sessions,
}

impl Check {
    /// Every check, in the order [`Suite::run`] runs them.
    pub const ALL: [Self; 10] = [
        Self::UnknownSubjects,
        Self::RaiseReturnsStored,
        Self::NeverLowers,
        Self::ScopesCombine,
        Self::Sessions,
        Self::RefusedWins,
        Self::OddSubjects,
        Self::SubjectBound,
        Self::Push,
        Self::RacingWriters,
    ];
}

/// The suite, for one kind of store: see the [module docs](self).
///
/// `make` returns a fresh, empty store each time it is called: every check gets its own, as racing
/// writers and the cutoff for everyone would otherwise meet across checks.
pub struct Suite<S, Make> {
    make: Make,
    push: Option<ChannelOf<S>>,
    unknown_subjects: Cutoff,
    store: PhantomData<fn() -> S>,
}

/// How the suite gets a store's push channel.
type ChannelOf<S> = Box<dyn Fn(&S) -> Box<dyn ErasedChannel>>;

impl<S, Make> fmt::Debug for Suite<S, Make> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Suite")
            .field("pushes", &self.push.is_some())
            .field("unknown_subjects", &self.unknown_subjects)
            .finish_non_exhaustive()
    }
}

impl<S, Make> Suite<S, Make>
where
    S: CutoffSource,
    Make: AsyncFnMut() -> S,
{
    /// The suite for the stores `make` makes: each call must return a fresh, empty one.
    pub fn new(make: Make) -> Self {
        Self {
            make,
            push: None,
            unknown_subjects: Cutoff::NoCutoff,
            store: PhantomData,
        }
    }

    /// The store pushes: `channel` gives a store's push channel (the store itself for
    /// [`MemoryStore`](crate::MemoryStore), `push_channel()` for PostgreSQL). Turns on
    /// [`Check::Push`], and every other check then watches the pushes too.
    #[must_use]
    pub fn push<P: PushChannel>(mut self, channel: impl Fn(&S) -> P + 'static) -> Self {
        self.push = Some(Box::new(move |store| Box::new(channel(store))));
        self
    }

    /// The store is authoritative about its subjects (as `jwt-cutoff-sqlx` with `known_subjects`
    /// is): a subject it does not know is [refused](Cutoff::Refused), whatever its cutoff. The
    /// suite makes no subject known, so every lookup it makes is then expected to be refused; the
    /// stored cutoffs are still checked through what each raise returns.
    #[must_use]
    pub fn refuses_unknown_subjects(mut self) -> Self {
        self.unknown_subjects = Cutoff::Refused;
        self
    }

    /// Runs every check, each on a fresh store; [`Check::Push`] only if [`push`](Self::push) was
    /// given.
    ///
    /// # Panics
    /// The store breaks a promise: the message names the check and what the store answered.
    pub async fn run(&mut self) {
        for check in Check::ALL {
            if check != Check::Push || self.push.is_some() {
                self.check(check).await;
            }
        }
    }

    /// Runs one check, on a fresh store (several, for the checks that try every order of writes).
    ///
    /// # Panics
    /// The store breaks the promise (the message names the check and what the store answered), or
    /// [`Check::Push`] is asked for without a [push channel](Self::push).
    pub async fn check(&mut self, check: Check) {
        match check {
            Check::RacingWriters => {
                let store = (self.make)().await;
                self.racing_writers_on(vec![store]).await;
            }
            Check::ScopesCombine => self.scopes_combine().await,
            Check::RefusedWins => self.refused_wins().await,
            Check::OddSubjects => self.odd_subjects().await,
            Check::SubjectBound => self.subject_bound().await,
            Check::RaiseReturnsStored => self.raise_returns_stored().await,
            Check::NeverLowers => self.never_lowers().await,
            Check::UnknownSubjects => self.unknown_subjects().await,
            Check::Push => self.pushes().await,
            Check::Sessions => self.sessions().await,
        }
    }

    /// [`Check::RacingWriters`] over `handles` on one fresh store (each with its own connections,
    /// say, as several instances would be): the tasks are spread over them.
    ///
    /// # Panics
    /// A cutoff moved back, or what ends up stored is not the latest asked.
    pub async fn racing_writers_on(&mut self, handles: Vec<S>) {
        let handles: Vec<Arc<S>> = handles.into_iter().map(Arc::new).collect();
        race(&handles, self.unknown_subjects).await;
    }

    async fn probe(&mut self, check: Check) -> Probe<S> {
        let store = (self.make)().await;
        let pushes = match &self.push {
            Some(channel) => {
                let channel = channel(&store);
                let subscription = channel.subscribe_erased().await.unwrap_or_else(|error| {
                    panic!("{check:?}: the store's push channel did not subscribe: {error}")
                });
                Some(Pushes {
                    _channel: channel,
                    subscription,
                    stored: HashMap::new(),
                    last_pushed: HashMap::new(),
                })
            }
            None => None,
        };
        Probe {
            check,
            store,
            model: Model {
                subjects: HashMap::new(),
                everyone: Cutoff::NoCutoff,
                sessions: HashMap::new(),
                unknown: self.unknown_subjects,
            },
            pushes,
        }
    }

    async fn scopes_combine(&mut self) {
        let writes = [
            (Scope::Subject("alice"), at(10)),
            (Scope::Subject("alice"), at(30)),
            (Scope::Everyone, at(20)),
            (Scope::Everyone, at(40)),
        ];
        for order in permutations(&writes) {
            let mut probe = self.probe(Check::ScopesCombine).await;
            for (scope, to) in order {
                probe.raise(scope, to).await;
                probe.verify_lookups(&["alice", "bob"]).await;
            }
            probe.finish().await;
        }
    }

    async fn refused_wins(&mut self) {
        let latest = Cutoff::ValidFrom(Timestamp::from_unix_micros(i64::MAX));
        let subject_refused = [
            (Scope::Subject("alice"), Cutoff::Refused),
            (Scope::Subject("alice"), latest),
            (Scope::Everyone, at(50)),
        ];
        let everyone_refused = [
            (Scope::Everyone, Cutoff::Refused),
            (Scope::Everyone, latest),
            (Scope::Subject("alice"), at(50)),
        ];
        for writes in [subject_refused, everyone_refused] {
            for order in permutations(&writes) {
                let mut probe = self.probe(Check::RefusedWins).await;
                for (scope, to) in order {
                    probe.raise(scope, to).await;
                    probe.verify_lookups(&["alice", "bob", ""]).await;
                }
                for to in [at(60), latest, Cutoff::NoCutoff] {
                    probe.raise(writes[0].0, to).await;
                }
                probe.verify_lookups(&["alice", "bob", ""]).await;
                probe.finish().await;
            }
        }
    }

    async fn odd_subjects(&mut self) {
        let subjects = odd_subjects();
        let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
        let mut probe = self.probe(Check::OddSubjects).await;
        for (n, subject) in (1..).zip(&subjects) {
            probe.raise(Scope::Subject(subject), at(n)).await;
        }
        probe.verify_stored(&subjects).await;
        probe.verify_lookups(&subjects).await;
        // Again, the other way round, each to a later instant.
        for (n, subject) in (1_000..).zip(subjects.iter().rev()) {
            probe.raise(Scope::Subject(subject), at(n)).await;
        }
        probe.verify_stored(&subjects).await;
        probe.verify_lookups(&subjects).await;
        // No subject is everyone's cutoff.
        probe.verify_lookups(&[NEVER_WRITTEN]).await;
        probe.raise(Scope::Everyone, Cutoff::NoCutoff).await;
        probe.finish().await;
    }

    async fn subject_bound(&mut self) {
        let mut probe = self.probe(Check::SubjectBound).await;
        probe.raise(Scope::Subject("within the bound"), at(7)).await;
        probe.raise(Scope::Everyone, at(3)).await;
        for subject in too_long_subjects() {
            probe.refuses_too_long(&subject).await;
            // A store that cut the subject down to the bound would have written this one.
            let cut = cut_to_bound(&subject);
            probe.verify_lookups(&[cut]).await;
            probe.raise(Scope::Subject(cut), Cutoff::NoCutoff).await;
        }
        probe.raise(Scope::Everyone, Cutoff::NoCutoff).await;
        probe
            .verify_lookups(&["within the bound", NEVER_WRITTEN])
            .await;
        probe.finish().await;
    }

    async fn raise_returns_stored(&mut self) {
        let mut probe = self.probe(Check::RaiseReturnsStored).await;
        let steps = [
            (Scope::Subject("alice"), at(20)),
            // A later stored cutoff wins over the asked one.
            (Scope::Subject("alice"), at(10)),
            (Scope::Subject("alice"), Cutoff::NoCutoff),
            (Scope::Everyone, at(50)),
            // The scope's own cutoff, not the later one a lookup combines.
            (Scope::Subject("alice"), at(30)),
            (Scope::Subject("bob"), at(5)),
            (Scope::Everyone, at(40)),
            (Scope::Everyone, Cutoff::NoCutoff),
            // Refused wins over the asked instant.
            (Scope::Subject("alice"), Cutoff::Refused),
            (Scope::Subject("alice"), at(60)),
            (Scope::Everyone, Cutoff::Refused),
            (Scope::Subject("carol"), at(1)),
            (Scope::Everyone, at(70)),
        ];
        for (scope, to) in steps {
            probe.raise(scope, to).await;
            probe.verify_lookups(&["alice", "bob", "carol"]).await;
        }
        probe.finish().await;
    }

    async fn never_lowers(&mut self) {
        let mut probe = self.probe(Check::NeverLowers).await;
        let earlier = [
            at(99),
            at(1),
            Cutoff::ValidFrom(Timestamp::UNIX_EPOCH),
            Cutoff::ValidFrom(Timestamp::from_unix_micros(-1)),
            Cutoff::ValidFrom(Timestamp::from_unix_micros(i64::MIN)),
            Cutoff::NoCutoff,
        ];
        for scope in [Scope::Subject("alice"), Scope::Everyone, Scope::Subject("")] {
            probe.raise(scope, at(100)).await;
            for to in earlier {
                probe.raise(scope, to).await;
                probe.verify_lookups(&["alice", "", NEVER_WRITTEN]).await;
            }
        }
        // Instants a store must compare exactly, as integers: before the epoch, across a change
        // in the number of digits (where text compares otherwise), where a double rounds 2^53 + 1
        // to 2^53, and the largest.
        let exact = [
            (-10, -10),
            (-11, -10),
            (-9, -9),
            (0, 0),
            (-1, 0),
            (9, 9),
            (10, 10),
            (9, 10),
            (9_007_199_254_740_993, 9_007_199_254_740_993),
            (9_007_199_254_740_992, 9_007_199_254_740_993),
            (i64::MAX - 1, i64::MAX - 1),
            (i64::MAX, i64::MAX),
            (i64::MAX - 1, i64::MAX),
        ];
        for (asked, stored) in exact {
            let asked = Cutoff::ValidFrom(Timestamp::from_unix_micros(asked));
            let stored = Cutoff::ValidFrom(Timestamp::from_unix_micros(stored));
            probe.raise(Scope::Subject("exact"), asked).await;
            probe.expect_stored(Scope::Subject("exact"), stored);
        }
        probe.finish().await;
    }

    async fn unknown_subjects(&mut self) {
        let mut probe = self.probe(Check::UnknownSubjects).await;
        let unknown = ["", "nobody", "alice", "*", NEVER_WRITTEN];
        probe.verify_lookups(&unknown).await;
        probe.raise(Scope::Subject("alice"), at(5)).await;
        probe
            .verify_lookups(&["alice", "alice ", "Alice", "nobody", ""])
            .await;
        probe.raise(Scope::Everyone, at(7)).await;
        probe.verify_lookups(&unknown).await;
        probe.finish().await;
    }

    async fn sessions(&mut self) {
        let laptop = Scope::Session {
            subject: "alice",
            session: "laptop",
        };
        let writes = [
            (Scope::Subject("alice"), at(10)),
            (Scope::Everyone, at(20)),
            (laptop, at(30)),
            (
                Scope::Session {
                    subject: "alice",
                    session: "phone",
                },
                Cutoff::Refused,
            ),
        ];
        for order in permutations(&writes) {
            let mut probe = self.probe(Check::Sessions).await;
            for (scope, to) in order {
                probe.raise(scope, to).await;
                probe.verify_lookups(&["alice", "bob"]).await;
            }
            probe.finish().await;
        }

        let mut probe = self.probe(Check::Sessions).await;
        // The same id in another subject, and ids that look like subjects or formats, stay apart.
        let sessions = odd_session_ids();
        for (n, session) in (1..).zip(&sessions) {
            for subject in ["bob", "", "bob:laptop"] {
                probe
                    .raise(Scope::Session { subject, session }, at(n))
                    .await;
            }
        }
        probe.raise(laptop, Cutoff::Refused).await;
        probe.raise(laptop, at(5)).await;
        probe.raise(Scope::Subject("bob"), at(7)).await;
        probe
            .verify_lookups(&["alice", "bob", "", "bob:laptop", "bo"])
            .await;
        for session in ["", &"s".repeat(MAX_SESSION_ID_BYTES + 1)] {
            probe.refuses_session(session).await;
        }
        probe.finish().await;
    }

    async fn pushes(&mut self) {
        assert!(
            self.push.is_some(),
            "{:?}: the suite has no push channel for the store: give one with Suite::push",
            Check::Push
        );
        let mut probe = self.probe(Check::Push).await;
        let steps = [
            (Scope::Subject("alice"), at(10)),
            (Scope::Subject("alice"), at(5)),
            (Scope::Subject("alice"), Cutoff::NoCutoff),
            (Scope::Everyone, at(20)),
            (Scope::Subject(""), at(3)),
            (Scope::Subject("*"), Cutoff::Refused),
            (Scope::Subject("alice"), at(30)),
            (Scope::Subject("alice"), Cutoff::Refused),
            (Scope::Everyone, Cutoff::Refused),
            (Scope::Everyone, at(40)),
        ];
        for (scope, to) in steps {
            probe.raise(scope, to).await;
        }
        for (n, subject) in (100..).zip(odd_subjects()) {
            probe.raise(Scope::Subject(&subject), at(n)).await;
        }
        probe.finish().await;
    }
}

/// What the suite expects a store to hold: the cutoffs written so far.
struct Model {
    subjects: HashMap<String, Cutoff>,
    everyone: Cutoff,
    /// By subject and session id.
    sessions: HashMap<(String, String), Cutoff>,
    /// What a lookup of a subject the store does not know answers at least.
    unknown: Cutoff,
}

impl Model {
    fn stored(&self, scope: Scope<'_>) -> Cutoff {
        match scope {
            Scope::Subject(subject) => self
                .subjects
                .get(subject)
                .copied()
                .unwrap_or(Cutoff::NoCutoff),
            Scope::Everyone => self.everyone,
            Scope::Session { subject, session } => self
                .sessions
                .get(&(subject.to_owned(), session.to_owned()))
                .copied()
                .unwrap_or(Cutoff::NoCutoff),
        }
    }

    fn store(&mut self, scope: Scope<'_>, cutoff: Cutoff) {
        match scope {
            Scope::Subject(subject) => {
                self.subjects.insert(subject.to_owned(), cutoff);
            }
            Scope::Everyone => self.everyone = cutoff,
            Scope::Session { subject, session } => {
                self.sessions
                    .insert((subject.to_owned(), session.to_owned()), cutoff);
            }
        }
    }

    fn lookup(&self, subject: &str) -> SubjectCutoffs {
        let cutoff = self
            .stored(Scope::Subject(subject))
            .max(self.everyone)
            .max(self.unknown);
        self.sessions
            .iter()
            .filter(|((owner, _), _)| owner == subject)
            .fold(
                SubjectCutoffs::from(cutoff),
                |cutoffs, ((_, session), stored)| cutoffs.with_session(session, *stored),
            )
    }
}

/// One fresh store under one check, what it should hold, and its pushes.
struct Probe<S> {
    check: Check,
    store: S,
    model: Model,
    pushes: Option<Pushes>,
}

/// The pushes of a probe's store, and what they may carry.
struct Pushes {
    _channel: Box<dyn ErasedChannel>,
    subscription: Box<dyn PushSubscription>,
    /// Every cutoff each scope has held, in turn, by [`scope_key`].
    stored: HashMap<String, Vec<Cutoff>>,
    /// The last cutoff pushed for each scope.
    last_pushed: HashMap<String, Cutoff>,
}

impl<S: CutoffSource> Probe<S> {
    /// Raises `scope` to `to`, and checks the answer and, if the store pushes, the push.
    async fn raise(&mut self, scope: Scope<'_>, to: Cutoff) {
        let check = self.check;
        let before = self.model.stored(scope);
        let expected = before.max(to);
        let answered = self.store.raise(scope, to).await.unwrap_or_else(|error| {
            panic!(
                "{check:?}: raise({}, {to}) failed: {error}",
                describe(scope)
            )
        });
        assert!(
            answered == expected,
            "{check:?}: raise({}, {to}) answered {answered}, but {expected} is stored: the later \
             of what was stored ({before}) and what was asked",
            describe(scope)
        );
        if expected != before {
            self.model.store(scope, expected);
            if let Some(pushes) = &mut self.pushes {
                pushes
                    .stored
                    .entry(scope_key(scope))
                    .or_default()
                    .push(expected);
                let change = CutoffChange::new(scope, expected);
                let because = format!("raise({}, {to}) changed it", describe(scope));
                pushes.expect(check, &change, &because).await;
            }
        }
    }

    /// Checks that what the model says is stored for `scope` is `cutoff` (the check's own
    /// reasoning, before the store is asked).
    fn expect_stored(&self, scope: Scope<'_>, cutoff: Cutoff) {
        let stored = self.model.stored(scope);
        assert!(
            stored == cutoff,
            "{:?}: the suite expected {cutoff} stored for {}, but its own writes leave {stored}",
            self.check,
            describe(scope)
        );
    }

    /// Looks up each subject and compares with the model.
    async fn verify_lookups(&self, subjects: &[&str]) {
        let check = self.check;
        for subject in subjects {
            let answered = self.store.lookup(subject).await.unwrap_or_else(|error| {
                panic!("{check:?}: lookup({}) failed: {error}", shown(subject))
            });
            let expected = self.model.lookup(subject);
            let own = self.model.stored(Scope::Subject(subject));
            let unknown = match self.model.unknown {
                Cutoff::NoCutoff => String::new(),
                floor => format!(" and {floor} for a subject it does not know"),
            };
            assert!(
                same_for_every_token(&answered, &expected),
                "{check:?}: lookup({}) answered {answered}, expected {expected}: the latest of its \
                 own cutoff ({own}), everyone's ({}){unknown}, and its sessions' own",
                shown(subject),
                self.model.everyone
            );
        }
        for subject in subjects {
            self.verify_stored_apart(subject).await;
        }
    }

    /// Checks that [`CutoffSource::stored`] answers each scope of `subject` (and everyone's) on
    /// its own, as written, without the wider ones.
    async fn verify_stored_apart(&self, subject: &str) {
        let check = self.check;
        let sessions = self.model.sessions.keys();
        let sessions = sessions.filter(|(owner, _)| owner == subject);
        let scopes = [Scope::Subject(subject), Scope::Everyone]
            .into_iter()
            .chain(sessions.map(|(_, session)| Scope::Session { subject, session }));
        for scope in scopes {
            let answered = self.store.stored(scope).await.unwrap_or_else(|error| {
                panic!("{check:?}: stored({}) failed: {error}", describe(scope))
            });
            let expected = self.model.stored(scope);
            assert!(
                answered == expected,
                "{check:?}: stored({}) answered {answered}, expected {expected}: what was raised \
                 for that scope alone",
                describe(scope)
            );
        }
    }

    /// Checks that `session`, out of bounds, is refused with an error and nothing is stored.
    async fn refuses_session(&self, session: &str) {
        let check = self.check;
        let scope = Scope::Session {
            subject: "alice",
            session,
        };
        if let Ok(stored) = self.store.raise(scope, Cutoff::Refused).await {
            panic!(
                "{check:?}: raise({}, refused) answered {stored}: a session id of {} bytes must be \
                 refused with an error before anything is written",
                describe(scope),
                session.len()
            );
        }
        self.verify_lookups(&["alice"]).await;
    }

    /// Asks each subject's stored cutoff (a raise to no cutoff, which changes nothing and
    /// answers what is stored) and compares with the model.
    async fn verify_stored(&mut self, subjects: &[&str]) {
        for subject in subjects {
            self.raise(Scope::Subject(subject), Cutoff::NoCutoff).await;
        }
    }

    /// Checks that `subject`, over the bound, is refused with the bound's error everywhere.
    async fn refuses_too_long(&self, subject: &str) {
        let check = self.check;
        for to in [Cutoff::Refused, at(100)] {
            match self.store.raise(Scope::Subject(subject), to).await {
                Ok(stored) => panic!(
                    "{check:?}: raise({}, {to}) of a subject over {MAX_SUBJECT_BYTES} bytes \
                     answered {stored}: it must be refused with an error before anything is written",
                    shown(subject)
                ),
                Err(error) => assert!(
                    is_subject_bound_error(&error),
                    "{check:?}: raise({}, {to}) failed, but not with the subject bound's error \
                     (from check_subject): {error}",
                    shown(subject)
                ),
            }
        }
        match self.store.lookup(subject).await {
            Ok(cutoffs) => panic!(
                "{check:?}: lookup({}) of a subject over {MAX_SUBJECT_BYTES} bytes answered \
                 {cutoffs}: it must be refused with an error",
                shown(subject)
            ),
            Err(error) => assert!(
                is_subject_bound_error(&error),
                "{check:?}: lookup({}) failed, but not with the subject bound's error (from \
                 check_subject): {error}",
                shown(subject)
            ),
        }
    }

    /// Flushes the pushes: a last change, and every push before it must be one the store may
    /// send.
    async fn finish(mut self) {
        if self.pushes.is_some() {
            self.raise(Scope::Subject(LAST_PUSH), at(1)).await;
        }
    }
}

impl Pushes {
    /// Waits for `change`; pushes before it must each carry a cutoff stored for its scope, never
    /// going back.
    async fn expect(&mut self, check: Check, change: &CutoffChange, because: &str) {
        loop {
            let next = tokio::time::timeout(PUSH_WAIT, self.subscription.next_change()).await;
            let pushed = match next {
                Err(_elapsed) => panic!(
                    "{check:?}: no push of {} within {PUSH_WAIT:?}, after {because}",
                    describe_change(change)
                ),
                Ok(Err(error)) => panic!(
                    "{check:?}: the push subscription failed while waiting for {}: {error}",
                    describe_change(change)
                ),
                Ok(Ok(pushed)) => pushed,
            };
            let scope = scope_key(pushed.scope());
            let stored = self.stored.get(&scope).map_or(&[][..], Vec::as_slice);
            assert!(
                pushed.cutoff() == Cutoff::NoCutoff || stored.contains(&pushed.cutoff()),
                "{check:?}: pushed {}, a cutoff never stored for that scope (it held, in turn: \
                 {stored:?}); waiting for {}, after {because}",
                describe_change(&pushed),
                describe_change(change)
            );
            let last = self.last_pushed.entry(scope).or_insert(Cutoff::NoCutoff);
            assert!(
                pushed.cutoff() >= *last,
                "{check:?}: pushed {} after it had pushed {last} for that scope: pushes went back",
                describe_change(&pushed)
            );
            *last = pushed.cutoff();
            if pushed == *change {
                return;
            }
        }
    }
}

/// [`Check::RacingWriters`] over `handles` on one fresh store.
async fn race<S: CutoffSource>(handles: &[Arc<S>], unknown: Cutoff) {
    let check = Check::RacingWriters;
    assert!(!handles.is_empty(), "{check:?}: no store to race on");
    const SUBJECT: &str = "racer";
    let scrambled = |task: usize, i: usize| (i * 7_919 + task * 104_729) % 1_000;
    let is_everyone = |i: usize| i % 5 == 4;
    let instant = |n: usize| at(i64::try_from(n).unwrap_or(i64::MAX));

    // Subject and everyone, racing in a scrambled order: each answer is at least what was asked
    // and what the same task saw before, and each lookup at least what the task stored.
    let mut tasks = Vec::new();
    for task in 0..RACING_TASKS {
        let store = Arc::clone(&handles[task % handles.len()]);
        tasks.push(tokio::spawn(async move {
            let (mut subject_seen, mut everyone_seen, mut lookup_seen) =
                (Cutoff::NoCutoff, Cutoff::NoCutoff, Cutoff::NoCutoff);
            for i in 0..RAISES_PER_TASK {
                let to = instant(scrambled(task, i));
                let (scope, seen) = if is_everyone(i) {
                    (Scope::Everyone, &mut everyone_seen)
                } else {
                    (Scope::Subject(SUBJECT), &mut subject_seen)
                };
                let stored = race_raise(&*store, scope, to).await;
                assert!(
                    stored >= *seen,
                    "{check:?}: task {task}: {} moved back: it answered {seen}, then {stored}",
                    describe(scope)
                );
                *seen = stored;
                let found = store.lookup(SUBJECT).await.unwrap_or_else(|error| {
                    panic!("{check:?}: task {task}: lookup failed: {error}")
                });
                let found = found.cutoff();
                let floor = subject_seen.max(everyone_seen).max(lookup_seen);
                assert!(
                    found >= floor,
                    "{check:?}: task {task}: lookup answered {found}, below {floor}, which it \
                     had stored or looked up before"
                );
                lookup_seen = found;
            }
        }));
    }
    join(tasks).await;
    let latest = |everyone: bool| {
        (0..RACING_TASKS)
            .flat_map(|task| {
                (0..RAISES_PER_TASK)
                    .filter(move |&i| is_everyone(i) == everyone)
                    .map(move |i| scrambled(task, i))
            })
            .max()
            .map_or(Cutoff::NoCutoff, instant)
    };
    let (subject_latest, everyone_latest) = (latest(false), latest(true));
    let store = &*handles[0];
    for (scope, latest) in [
        (Scope::Subject(SUBJECT), subject_latest),
        (Scope::Everyone, everyone_latest),
    ] {
        let stored = race_raise(store, scope, Cutoff::NoCutoff).await;
        assert!(
            stored == latest,
            "{check:?}: {} holds {stored} after the race, not the latest asked, {latest}",
            describe(scope)
        );
    }
    let expected = subject_latest.max(everyone_latest).max(unknown);
    let found = store.lookup(SUBJECT).await.unwrap_or_else(|error| {
        panic!("{check:?}: lookup after the race failed: {error}");
    });
    let found = found.cutoff();
    assert!(
        found == expected,
        "{check:?}: lookup after the race answered {found}, not {expected}"
    );

    // Refused against later instants, racing: once a task has seen Refused it never sees less.
    let mut tasks = Vec::new();
    for task in 0..RACING_TASKS {
        let store = Arc::clone(&handles[task % handles.len()]);
        tasks.push(tokio::spawn(async move {
            let mut seen = Cutoff::NoCutoff;
            for i in 0..20 {
                let to = if task % 3 == 0 && i == 5 {
                    Cutoff::Refused
                } else {
                    instant(2_000 + scrambled(task, i))
                };
                let stored = race_raise(&*store, Scope::Subject(SUBJECT), to).await;
                assert!(
                    stored >= seen,
                    "{check:?}: task {task}: the subject moved back: {seen}, then {stored}"
                );
                seen = stored;
            }
        }));
    }
    join(tasks).await;
    for (n, store) in handles.iter().enumerate() {
        let stored = race_raise(&**store, Scope::Subject(SUBJECT), Cutoff::NoCutoff).await;
        assert!(
            stored == Cutoff::Refused,
            "{check:?}: handle {n}: the subject holds {stored} after Refused raced later instants"
        );
    }
}

/// A raise in the race: it must succeed and answer at least what was asked.
async fn race_raise<S: CutoffSource>(store: &S, scope: Scope<'_>, to: Cutoff) -> Cutoff {
    let check = Check::RacingWriters;
    let stored = store.raise(scope, to).await.unwrap_or_else(|error| {
        panic!(
            "{check:?}: raise({}, {to}) failed: {error}",
            describe(scope)
        )
    });
    assert!(
        stored >= to,
        "{check:?}: raise({}, {to}) answered {stored}, earlier than asked",
        describe(scope)
    );
    stored
}

/// Waits for every task, passing on the first one's panic as it was.
async fn join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        if let Err(error) = task.await {
            match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(error) => panic!("a racing task did not finish: {error}"),
            }
        }
    }
}

/// Subjects a store might mangle, each different from every other byte for byte, and none of them
/// everyone: empty, blank, near-duplicates, characters that SQL, a key layout or a message format
/// might escape or split on, multi-byte UTF-8, and [`longest_subjects`]. No NUL: PostgreSQL text
/// cannot hold it (a store that cannot must fail such a subject, closed).
#[must_use]
pub fn odd_subjects() -> Vec<String> {
    let mut subjects: Vec<String> = [
        "",
        " ",
        "  ",
        "\t",
        "=",
        "*",
        "alice",
        "alice ",
        " alice",
        "Alice",
        "a\nb",
        "a\r\nb",
        "'",
        "\"",
        "\\",
        "\\\\",
        "it's \"quoted\"; --",
        "Robert'); DROP TABLE jwt_cutoffs;--",
        "%",
        "_",
        "?",
        "$1",
        "1 5 *",
        "1 refused =alice",
        "refused",
        "everyone",
        "-",
        "g",
        "s:g",
        "jwt-cutoff:",
        "\u{1}\u{1b}[0m\u{7f}",
        "é",
        "e\u{301}",
        "ünïcødé 🦀 用户",
    ]
    .map(str::to_owned)
    .into();
    subjects.extend(longest_subjects());
    // The longest but one: a store that cut subjects short would make these two one.
    let mut shorter = "a".repeat(MAX_SUBJECT_BYTES);
    shorter.pop();
    subjects.push(shorter);
    subjects
}

/// Subjects of exactly [`MAX_SUBJECT_BYTES`] bytes: ASCII, two- and three-byte characters, four-byte
/// ones, and the characters a message or SQL might escape or split on.
#[must_use]
pub fn longest_subjects() -> Vec<String> {
    let fill = |pattern: &str| {
        let mut subject: String = pattern
            .chars()
            .cycle()
            .scan(0, |bytes, c| {
                *bytes += c.len_utf8();
                (*bytes <= MAX_SUBJECT_BYTES).then_some(c)
            })
            .collect();
        // Whatever a multi-byte character left over, in ASCII.
        while subject.len() < MAX_SUBJECT_BYTES {
            subject.push('.');
        }
        subject
    };
    vec![
        "a".repeat(MAX_SUBJECT_BYTES),
        fill("é€"),
        "🦀".repeat(MAX_SUBJECT_BYTES / 4),
        fill("\"'\\\n\r\t =*%$;:,{}[]<>é 1 refused s:g"),
    ]
}

/// Subjects over [`MAX_SUBJECT_BYTES`]: by one byte though not in characters, and far over (9,000
/// bytes overflow PostgreSQL's `NOTIFY` payload; 100,000 more than any key should hold).
#[must_use]
pub fn too_long_subjects() -> Vec<String> {
    vec![
        "a".repeat(MAX_SUBJECT_BYTES + 1),
        format!("{}x", "🦀".repeat(MAX_SUBJECT_BYTES / 4)),
        "é".repeat(MAX_SUBJECT_BYTES / 2 + 1),
        "z".repeat(9_000),
        "z".repeat(100_000),
    ]
}

/// Raises each of [`too_long_subjects`] to [`Cutoff::Refused`] on `store`, which must refuse every
/// one with the bound's error, and returns them: for a store's own tests, which then look in the
/// store itself that nothing was written for them.
pub async fn raise_too_long_subjects<S: CutoffSource>(store: &S) -> Vec<String> {
    let subjects = too_long_subjects();
    for subject in &subjects {
        match store.raise(Scope::Subject(subject), Cutoff::Refused).await {
            Ok(stored) => panic!(
                "a subject of {} bytes was raised and {stored} stored: it must be refused",
                subject.len()
            ),
            Err(error) => assert!(
                is_subject_bound_error(&error),
                "{} bytes: {error}",
                subject.len()
            ),
        }
    }
    subjects
}

/// Whether `error` is the one [`check_subject`](crate::check_subject) makes for a subject over the bound (rather than,
/// say, a database error): its message names the bound.
#[must_use]
pub fn is_subject_bound_error(error: &SourceError) -> bool {
    error
        .to_string()
        .contains(&format!("at most {MAX_SUBJECT_BYTES} bytes"))
}

/// `subject` cut to [`MAX_SUBJECT_BYTES`] on a character boundary.
fn cut_to_bound(subject: &str) -> &str {
    let mut end = MAX_SUBJECT_BYTES.min(subject.len());
    while !subject.is_char_boundary(end) {
        end -= 1;
    }
    &subject[..end]
}

/// `at(n)`: valid from `n` microseconds after an instant in 2025.
fn at(n: i64) -> Cutoff {
    const BASE: i64 = 1_764_384_000_000_000;
    Cutoff::ValidFrom(Timestamp::from_unix_micros(BASE + n))
}

/// Whether two answers judge every token alike: the same cutoff for tokens without a session and
/// for each session either names. A session whose cutoff the subject's already covers may be left
/// out.
fn same_for_every_token(answered: &SubjectCutoffs, expected: &SubjectCutoffs) -> bool {
    let sessions = answered.sessions().chain(expected.sessions());
    answered.cutoff() == expected.cutoff()
        && sessions.into_iter().all(|(session, _)| {
            answered.for_token(Some(session)) == expected.for_token(Some(session))
        })
}

/// Tells scopes apart in the suite's maps.
fn scope_key(scope: Scope<'_>) -> String {
    format!("{scope:?}")
}

/// Session ids a store might mangle or confuse with subjects: characters that a key layout or a
/// message format might split on, multi-byte UTF-8, one byte, and the longest allowed.
fn odd_session_ids() -> Vec<String> {
    let mut sessions: Vec<String> = [
        "laptop", "Laptop", "laptop ", " ", "=", "*", ":", "@3:abc", "a:b", "é", "\\'\"", "\n",
    ]
    .map(str::to_owned)
    .to_vec();
    sessions.push("s".repeat(MAX_SESSION_ID_BYTES));
    sessions
}

/// A subject for a message: quoted, and cut short when long.
fn shown(subject: &str) -> String {
    const SHOWN_CHARS: usize = 40;
    if subject.chars().count() <= SHOWN_CHARS {
        format!("{subject:?}")
    } else {
        let start: String = subject.chars().take(SHOWN_CHARS).collect();
        format!("{start:?}… ({} bytes)", subject.len())
    }
}

fn describe(scope: Scope<'_>) -> String {
    match scope {
        Scope::Subject(subject) => format!("subject {}", shown(subject)),
        Scope::Everyone => "everyone".to_owned(),
        Scope::Session { subject, session } => {
            format!("session {} of subject {}", shown(session), shown(subject))
        }
    }
}

fn describe_change(change: &CutoffChange) -> String {
    format!("{} of {}", change.cutoff(), describe(change.scope()))
}

/// Every order of `items`.
fn permutations<T: Copy>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut orders = Vec::new();
    for (first, item) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(first);
        for mut order in permutations(&rest) {
            order.insert(0, *item);
            orders.push(order);
        }
    }
    orders
}

/// A push channel whose subscription type is boxed, so that the suite has one type for any.
trait ErasedChannel {
    fn subscribe_erased(&self) -> BoxFuture<'_, Result<Box<dyn PushSubscription>, SourceError>>;
}

impl<P: PushChannel> ErasedChannel for P {
    fn subscribe_erased(&self) -> BoxFuture<'_, Result<Box<dyn PushSubscription>, SourceError>> {
        Box::pin(async move {
            let subscription = self.subscribe().await?;
            Ok(Box::new(subscription) as Box<dyn PushSubscription>)
        })
    }
}

/// The promises of a store's refresh-token rotation ([`RefreshTokens`]), on one fresh store
/// reached through `handles` (several, each with its own connections, to race over them as several
/// instances would): a session's first token and then each current one rotates; the token just
/// replaced is [`Spent::Raced`] within the grace window and [`Spent::Reused`] after it (at once
/// with no grace), as is any older one; reuse revokes the session, in the store's lookups too,
/// and nothing else; of twelve concurrent spends of one token exactly one rotates and the others
/// are raced; ids out of bounds are refused with an error.
///
/// # Panics
/// The store breaks a promise; the message says which.
pub async fn check_rotation<S: CutoffSource + RefreshTokens>(handles: Vec<S>) {
    const GRACE: Duration = Duration::from_secs(30);
    let handles: Vec<Arc<S>> = handles.into_iter().map(Arc::new).collect();
    assert!(!handles.is_empty(), "rotation: no store to check");
    let store = &*handles[0];
    let spend = async |subject: &str, session: &str, token: &str, successor: &str, grace| {
        let asked = Spend {
            subject,
            session,
            token,
            successor,
            grace,
        };
        store
            .spend(asked)
            .await
            .unwrap_or_else(|error| panic!("rotation: spend({asked:?}) failed: {error}"))
    };
    let revoked = async |subject: &str, session: &str| {
        let found = store
            .lookup(subject)
            .await
            .unwrap_or_else(|error| panic!("rotation: lookup({subject:?}) failed: {error}"));
        found.for_token(Some(session)) == Cutoff::Refused
    };

    let steps = [
        ("t0", "t1", Spent::Rotated, "the session's first refresh"),
        ("t1", "t2", Spent::Rotated, "the current token"),
        (
            "t1",
            "x",
            Spent::Raced,
            "the token just replaced, within the grace window",
        ),
        (
            "t2",
            "t3",
            Spent::Rotated,
            "the current token, after a race",
        ),
        (
            "t1",
            "x",
            Spent::Reused,
            "a token replaced two rotations ago",
        ),
        (
            "t3",
            "t4",
            Spent::Revoked,
            "the current token of a session revoked for reuse",
        ),
    ];
    for (token, successor, expected, what) in steps {
        let spent = spend("alice", "s1", token, successor, GRACE).await;
        assert_eq!(spent, expected, "rotation: {what} ({token})");
        let revoked_now = revoked("alice", "s1").await;
        assert_eq!(
            revoked_now,
            matches!(expected, Spent::Reused | Spent::Revoked),
            "rotation: after {what}, lookups show the session revoked: {revoked_now}"
        );
    }
    for (subject, session) in [("alice", "s2"), ("bob", "s1")] {
        assert!(
            !revoked(subject, session).await,
            "rotation: reuse in alice's s1 revoked {subject}'s {session} too"
        );
        let spent = spend(subject, session, "t0", "t1", GRACE).await;
        assert_eq!(
            spent,
            Spent::Rotated,
            "rotation: {subject}'s {session} is its own"
        );
    }

    // No grace: any second use is reuse. A short one: reuse once it has passed.
    assert_eq!(
        spend("carol", "s1", "t0", "t1", Duration::ZERO).await,
        Spent::Rotated
    );
    assert_eq!(
        spend("carol", "s1", "t0", "x", Duration::ZERO).await,
        Spent::Reused,
        "rotation: with no grace window a second use is reuse"
    );
    let short = Duration::from_millis(200);
    assert_eq!(
        spend("carol", "s2", "t0", "t1", short).await,
        Spent::Rotated
    );
    tokio::time::sleep(short + Duration::from_millis(100)).await;
    assert_eq!(
        spend("carol", "s2", "t0", "x", short).await,
        Spent::Reused,
        "rotation: the replaced token after the grace window"
    );

    // Twelve concurrent spends of one token, over every handle: a session's first, and a current
    // one.
    for (session, token) in [("race-first", "t0"), ("race-current", "t1")] {
        if token == "t1" {
            assert_eq!(
                spend("dave", session, "t0", "t1", GRACE).await,
                Spent::Rotated
            );
        }
        let tasks: Vec<_> = (0..12)
            .map(|n| {
                let store = Arc::clone(&handles[n % handles.len()]);
                let (session, token) = (session.to_owned(), token.to_owned());
                tokio::spawn(async move {
                    let successor = format!("next-{n}");
                    let asked = Spend {
                        subject: "dave",
                        session: &session,
                        token: &token,
                        successor: &successor,
                        grace: GRACE,
                    };
                    let spent = store.spend(asked).await;
                    (successor, spent.map_err(|error| error.to_string()))
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (successor, spent) = task
                .await
                .unwrap_or_else(|error| panic!("rotation: a racing spend did not finish: {error}"));
            match spent {
                Ok(Spent::Rotated) => winners.push(successor),
                Ok(Spent::Raced) => {}
                other => panic!("rotation: a racing spend of {session} answered {other:?}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "rotation: twelve concurrent spends of {session}'s {token}: {winners:?} rotated"
        );
        assert!(
            !revoked("dave", session).await,
            "rotation: a race is not reuse"
        );
        let winner = &winners[0];
        assert_eq!(
            spend("dave", session, winner, "after", GRACE).await,
            Spent::Rotated,
            "rotation: the winner's successor is current"
        );
    }

    let long = "x".repeat(crate::rotation::MAX_TOKEN_ID_BYTES + 1);
    for (token, successor) in [("", "b"), ("a b", "b"), (long.as_str(), "b"), ("a", "")] {
        let asked = Spend {
            subject: "erin",
            session: "s1",
            token,
            successor,
            grace: GRACE,
        };
        assert!(
            store.spend(asked).await.is_err(),
            "rotation: the ids {token:?} and {successor:?} must be refused"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_subject;

    #[test]
    fn subject_lists_are_what_they_say() {
        for subject in longest_subjects() {
            assert_eq!(subject.len(), MAX_SUBJECT_BYTES, "{subject:?}");
        }
        for subject in too_long_subjects() {
            assert!(subject.len() > MAX_SUBJECT_BYTES, "{}", shown(&subject));
            assert!(check_subject(&subject).is_err());
            assert!(check_subject(cut_to_bound(&subject)).is_ok());
        }
        let odd = odd_subjects();
        let distinct: std::collections::HashSet<_> = odd.iter().collect();
        assert_eq!(distinct.len(), odd.len(), "the odd subjects are distinct");
        assert!(odd.iter().all(|subject| check_subject(subject).is_ok()));
    }

    #[test]
    fn the_bound_error_is_recognised_and_nothing_else() {
        let over = "é".repeat(MAX_SUBJECT_BYTES);
        let error = check_subject(&over).err();
        assert!(error.as_ref().is_some_and(is_subject_bound_error));
        assert!(!is_subject_bound_error(&SourceError::new(
            "connection refused"
        )));
    }

    #[test]
    fn permutations_are_every_order_once() {
        let orders = permutations(&[1, 2, 3, 4]);
        assert_eq!(orders.len(), 24);
        let distinct: std::collections::HashSet<_> = orders.iter().collect();
        assert_eq!(distinct.len(), 24);
    }
}

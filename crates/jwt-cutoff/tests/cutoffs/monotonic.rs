//! Monotonic cutoffs: racing logouts and applies never lower a cutoff, older and replayed applies
//! are no-ops, a slow fill racing a logout cannot restore the old cutoff, and `logout_all` is in
//! force when it returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jwt_cutoff::{Cutoff, CutoffCache, CutoffSource as _, MemoryStore, Reason, Scope, Timestamp};
use jwt_cutoff_test_support::{
    PATIENCE, TestSource, at_secs, eventually, hs_access, hs_issuer as issuer,
    hs_validator as validator, logged_out_at, patient_cache, pushed_logout, reason_of as reason,
    spawn_lookup, store_with, wait_until, within,
};
use tokio::task::JoinHandle;

/// Looks a subject up in a loop until stopped, failing if the cutoff it sees ever goes back.
struct Monitor {
    done: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Monitor {
    fn start(cutoffs: &CutoffCache, subject: &'static str) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let cutoffs = cutoffs.clone();
            let done = Arc::clone(&done);
            async move {
                let mut last = Cutoff::NoCutoff;
                while !done.load(Ordering::SeqCst) {
                    let seen = cutoffs.lookup(subject).await.unwrap().cutoff();
                    assert!(
                        seen >= last,
                        "the cutoff went back from {last:?} to {seen:?}"
                    );
                    last = seen;
                    tokio::task::yield_now().await;
                }
            }
        });
        Self { done, task }
    }

    async fn stop(self) {
        self.done.store(true, Ordering::SeqCst);
        within("the monitor", self.task).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_logouts_never_leave_a_lower_cutoff() {
    let store = MemoryStore::new();
    let cutoffs = CutoffCache::new(store.clone());
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );

    let monitor = Monitor::start(&cutoffs, "alice");
    let writers: Vec<_> = (0..32)
        .map(|_| {
            let cutoffs = cutoffs.clone();
            tokio::spawn(async move {
                let mut stamps = Vec::new();
                for _ in 0..20 {
                    stamps.push(logged_out_at(&cutoffs, "alice").await);
                    tokio::task::yield_now().await;
                }
                stamps
            })
        })
        .collect();
    let mut latest = Timestamp::UNIX_EPOCH;
    for writer in writers {
        for stamp in within("a writer", writer).await.unwrap() {
            latest = latest.max(stamp);
        }
    }
    monitor.stop().await;

    let expected = Cutoff::ValidFrom(latest);
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        expected,
        "cache"
    );
    assert_eq!(
        store.lookup("alice").await.unwrap().cutoff(),
        expected,
        "store"
    );
    cutoffs.invalidate("alice");
    assert_eq!(cutoffs.lookup("alice").await.unwrap().cutoff(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_applies_never_lower_the_cached_cutoff() {
    // As with pushes: another instance writes the store, then this one is told through `apply`.
    // "warm" is cached for the whole test, so only `apply` can change what it shows.
    let store = MemoryStore::new();
    let cutoffs = CutoffCache::new(store.clone());
    assert_eq!(
        cutoffs.lookup("warm").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );

    const N: i64 = 1000;
    let base = 1_700_000_000_i64;
    // Every cutoff once, in a scrambled order, then replayed in another order.
    let order: Vec<i64> = (0..N)
        .map(|i| (i * 7919) % N)
        .chain((0..N).map(|i| (i * 104_729 + 13) % N))
        .collect();
    for subject in ["warm", "cold"] {
        let monitor = Monitor::start(&cutoffs, subject);
        let appliers: Vec<_> = order
            .chunks(125)
            .map(|chunk| {
                let cutoffs = cutoffs.clone();
                let store = store.clone();
                let chunk = chunk.to_vec();
                tokio::spawn(async move {
                    for offset in chunk {
                        let at = Cutoff::ValidFrom(Timestamp::from_unix_micros(
                            (base + offset) * 1_000_000 + 1,
                        ));
                        store.raise(Scope::Subject(subject), at).await.unwrap();
                        cutoffs.apply(Scope::Subject(subject), at);
                    }
                })
            })
            .collect();
        for applier in appliers {
            within("an applier", applier).await.unwrap();
        }
        monitor.stop().await;
        assert_eq!(
            cutoffs.lookup(subject).await.unwrap().cutoff(),
            Cutoff::ValidFrom(Timestamp::from_unix_micros((base + N - 1) * 1_000_000 + 1)),
            "{subject}: the latest applied cutoff wins"
        );
    }
}

#[tokio::test]
async fn older_and_replayed_applies_are_no_ops() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let (t1, t2, t3) = (
        at_secs(1_700_000_001),
        at_secs(1_700_000_002),
        at_secs(1_700_000_003),
    );

    // `apply` brings a cached subject up to a change already stored; cache alice first.
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );
    cutoffs.apply(Scope::Subject("alice"), t2);
    assert_eq!(cutoffs.lookup("alice").await.unwrap().cutoff(), t2);
    cutoffs.apply(Scope::Subject("alice"), t1);
    assert_eq!(cutoffs.lookup("alice").await.unwrap().cutoff(), t2, "older");
    cutoffs.apply(Scope::Subject("alice"), t2);
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        t2,
        "replayed"
    );
    cutoffs.apply(Scope::Subject("alice"), Cutoff::NoCutoff);
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        t2,
        "no cutoff"
    );
    cutoffs.apply(Scope::Subject("alice"), t3);
    assert_eq!(cutoffs.lookup("alice").await.unwrap().cutoff(), t3, "newer");
    cutoffs.apply(Scope::Subject("alice"), Cutoff::Refused);
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        Cutoff::Refused
    );
    cutoffs.apply(Scope::Subject("alice"), t3);
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        Cutoff::Refused
    );

    // Everyone: affects every subject, cached or not, and never goes back.
    assert_eq!(
        cutoffs.lookup("bob").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );
    assert_eq!(
        cutoffs.lookup("carol").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );
    cutoffs.apply(Scope::Subject("carol"), t3);
    cutoffs.apply(Scope::Everyone, t2);
    assert_eq!(
        cutoffs.lookup("bob").await.unwrap().cutoff(),
        t2,
        "cached subject"
    );
    assert_eq!(
        cutoffs.lookup("dave").await.unwrap().cutoff(),
        t2,
        "unseen subject"
    );
    assert_eq!(
        cutoffs.lookup("carol").await.unwrap().cutoff(),
        t3,
        "own is later"
    );
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        Cutoff::Refused
    );
    cutoffs.apply(Scope::Everyone, t1);
    cutoffs.apply(Scope::Everyone, Cutoff::NoCutoff);
    cutoffs.apply(Scope::Everyone, t2);
    assert_eq!(
        cutoffs.lookup("bob").await.unwrap().cutoff(),
        t2,
        "older everyone"
    );
    cutoffs.invalidate_all();
    assert_eq!(
        cutoffs.lookup("bob").await.unwrap().cutoff(),
        t2,
        "kept across invalidate_all"
    );

    // Racing everyone-applies from many tasks: the latest wins.
    let tasks: Vec<_> = (0..64_i64)
        .map(|i| {
            let cutoffs = cutoffs.clone();
            tokio::spawn(async move {
                let secs = 1_700_000_100 + (i * 37) % 64;
                cutoffs.apply(Scope::Everyone, at_secs(secs));
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        cutoffs.lookup("erin").await.unwrap().cutoff(),
        at_secs(1_700_000_163)
    );
}

/// How the new cutoff reaches the store and this instance in [`slow_fill_race`].
#[derive(Clone, Copy, Debug)]
enum Writer {
    /// `CutoffCache::logout_all`, writing through the source.
    LogoutAll,
    /// Another instance writes the store; the push arrives here through `CutoffCache::apply`.
    Push,
}

async fn slow_fill_race(writer: Writer) {
    let old = at_secs(1_700_000_000);
    let store = store_with("alice", old).await;
    let source = TestSource::gated(store.clone());
    let cutoffs = patient_cache(&source);
    let validator = validator(cutoffs.clone());
    let before_logout = hs_access("alice");

    // A lookup starts and reads the OLD cutoff from the store, then is held.
    let slow = spawn_lookup(&cutoffs, "alice");
    wait_until("the slow fill read the old cutoff", || source.reads() == 1).await;

    // The logout writes the store while that fill is in flight.
    let write = tokio::spawn({
        let cutoffs = cutoffs.clone();
        let store = store.clone();
        async move {
            match writer {
                Writer::LogoutAll => cutoffs.logout_all("alice").await.unwrap(),
                Writer::Push => pushed_logout(&store, &cutoffs, "alice").await,
            }
        }
    });
    eventually("the logout wrote the store", PATIENCE, async || {
        store.lookup("alice").await.unwrap().cutoff() != old
    })
    .await;

    // Release the slow fill, which carries the stale answer.
    source.gate.open();
    let _stale = within("the slow fill", slow).await.unwrap().unwrap();
    let new = within("the logout", write).await.unwrap();

    let expected = new;
    assert!(expected > old);
    assert_eq!(store.lookup("alice").await.unwrap().cutoff(), expected);
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        expected,
        "{writer:?}: the slow fill's stale answer must not replace the new cutoff"
    );
    assert_eq!(
        reason(&validator, &before_logout).await,
        Some(Reason::Revoked),
        "{writer:?}: a token from before the logout is refused"
    );
    let after_logout = hs_access("alice");
    assert_eq!(reason(&validator, &after_logout).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_cache_fill_racing_logout_all_cannot_restore_the_old_cutoff() {
    slow_fill_race(Writer::LogoutAll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_cache_fill_racing_a_pushed_change_cannot_restore_the_old_cutoff() {
    slow_fill_race(Writer::Push).await;
}

#[tokio::test]
async fn logout_all_is_in_force_when_it_returns_even_within_one_second() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = validator(cutoffs.clone());
    let issuer = issuer();
    let mut same_second = 0;
    for round in 0..300 {
        let before = issuer.issue_access("alice", &()).unwrap();
        // Warm: the cache holds the previous cutoff, so the logout must update it, not wait it out.
        assert_eq!(
            reason(&validator, &before.token).await,
            None,
            "round {round}"
        );
        let cutoff = logged_out_at(&cutoffs, "alice").await;
        assert_eq!(
            reason(&validator, &before.token).await,
            Some(Reason::Revoked),
            "round {round}: a token issued before logout_all returned is refused at once"
        );
        let after = issuer.issue_access("alice", &()).unwrap();
        assert_eq!(
            reason(&validator, &after.token).await,
            None,
            "round {round}: a token issued after logout_all returned is accepted"
        );
        assert!(before.issued_at < cutoff && cutoff < after.issued_at);
        if before.issued_at.as_unix_secs() == cutoff.as_unix_secs()
            && after.issued_at.as_unix_secs() == cutoff.as_unix_secs()
        {
            same_second += 1;
        }
    }
    assert!(same_second > 0, "some rounds fell within one second");
}

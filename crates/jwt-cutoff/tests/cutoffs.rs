#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

//! Cache and cutoff semantics of [`CutoffCache`], on the real moka cache.
//!
//! The stores are real ([`MemoryStore`]) or small test doubles of a *store* written here (counting,
//! failing, hanging, gated); `CutoffCache` itself is never replaced. Nothing asserts on wall-clock speed:
//! waits are bounded by generous deadlines, and the TTL tests only assert "still cached" when the
//! elapsed time proves the entry was younger than the TTL.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode, header};
use jwt_cutoff::{
    BoxFuture, Cutoff, CutoffCache, CutoffSource, JwtCutoffLayer, MAX_SUBJECT_BYTES, MemoryStore,
    Reason, Scope, SourceError, Timestamp, Validator,
};
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};

use jwt_cutoff_test_support::{
    NO_TIMEOUT, PATIENCE, Probe, TestSource, at_secs, hs_issuer as issuer,
    hs_validator as validator, reason_of as reason, wait_until, within,
};

const STAMPEDE: usize = 1000;

/// A read-only store: implements `lookup` only, so `raise` is the trait's default refusal.
struct ReadOnly(MemoryStore);

impl CutoffSource for ReadOnly {
    fn lookup<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        self.0.lookup(subject)
    }
}

type Guarded = BoxCloneService<Request<String>, Response<String>, Infallible>;

/// A service behind the layer; `inner_calls` counts the requests that reached it.
fn guarded(validator: Validator, inner_calls: &Arc<AtomicUsize>) -> Guarded {
    let inner_calls = Arc::clone(inner_calls);
    let inner = tower::service_fn(move |_request: Request<String>| {
        inner_calls.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new("inner".to_owned())) }
    });
    BoxCloneService::new(
        ServiceBuilder::new()
            .layer(JwtCutoffLayer::new(validator))
            .service(inner),
    )
}

fn bearer(token: &str) -> Request<String> {
    Request::get("/")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(String::new())
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Coalescing: one source call for a cold stampede
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cold_stampede_of_lookups_makes_one_source_call() {
    let store = MemoryStore::new();
    store
        .raise(Scope::Subject("alice"), at_secs(1_700_000_000))
        .await
        .unwrap();
    let source = TestSource::gated(store);
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .store_timeout(NO_TIMEOUT)
        .build();

    let pending = Arc::new(AtomicUsize::new(0));
    let lookups: Vec<_> = (0..STAMPEDE)
        .map(|_| {
            let cutoffs = cutoffs.clone();
            tokio::spawn(Probe::new(
                async move { cutoffs.lookup("alice").await },
                &pending,
            ))
        })
        .collect();
    wait_until("all lookups wait on the held source call", || {
        pending.load(Ordering::SeqCst) == STAMPEDE
    })
    .await;
    assert_eq!(source.calls(), 1, "one source call while all of them wait");

    source.gate.open();
    for lookup in lookups {
        let answer = within("a coalesced lookup", lookup).await.unwrap();
        assert_eq!(answer.unwrap(), at_secs(1_700_000_000));
    }
    assert_eq!(source.calls(), 1, "exactly one source call in all");
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap(),
        at_secs(1_700_000_000)
    );
    assert_eq!(source.calls(), 1, "the answer is cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cold_stampede_through_the_layer_makes_one_source_call() {
    let source = TestSource::gated(MemoryStore::new());
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .store_timeout(NO_TIMEOUT)
        .build();
    let inner_calls = Arc::new(AtomicUsize::new(0));
    let service = guarded(validator(cutoffs), &inner_calls);
    let token = issuer().issue_access("alice", &()).unwrap().token;

    let pending = Arc::new(AtomicUsize::new(0));
    let requests: Vec<_> = (0..STAMPEDE)
        .map(|_| {
            let request = service.clone().oneshot(bearer(&token));
            tokio::spawn(Probe::new(request, &pending))
        })
        .collect();
    wait_until("all requests wait on the held source call", || {
        pending.load(Ordering::SeqCst) == STAMPEDE
    })
    .await;
    assert_eq!(source.calls(), 1);
    assert_eq!(inner_calls.load(Ordering::SeqCst), 0, "nothing passed yet");

    source.gate.open();
    for request in requests {
        let response = within("a coalesced request", request).await.unwrap();
        assert_eq!(response.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(source.calls(), 1, "exactly one source call in all");
    assert_eq!(inner_calls.load(Ordering::SeqCst), STAMPEDE);
}

// ---------------------------------------------------------------------------------------------
// Failures: shared with every waiter, never cached, bounded in time
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_lookup_reaches_every_waiter_and_is_not_cached() {
    let source = TestSource::gated(MemoryStore::new());
    source.fail(true);
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .store_timeout(NO_TIMEOUT)
        .build();

    let pending = Arc::new(AtomicUsize::new(0));
    let lookups: Vec<_> = (0..STAMPEDE)
        .map(|_| {
            let cutoffs = cutoffs.clone();
            tokio::spawn(Probe::new(
                async move { cutoffs.lookup("alice").await },
                &pending,
            ))
        })
        .collect();
    wait_until("all lookups wait on the failing source call", || {
        pending.load(Ordering::SeqCst) == STAMPEDE
    })
    .await;
    source.gate.open();
    for lookup in lookups {
        let answer = within("a coalesced failing lookup", lookup).await.unwrap();
        assert!(answer.is_err(), "every waiter sees the error: {answer:?}");
    }
    assert_eq!(source.calls(), 1, "one source call for all the waiters");

    // Not cached: the next lookup asks again, and fails again while the store is down.
    assert!(cutoffs.lookup("alice").await.is_err());
    assert_eq!(source.calls(), 2);

    // The store recovers: the next lookup succeeds, and that answer is cached.
    source.fail(false);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::NoCutoff);
    assert_eq!(source.calls(), 3);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::NoCutoff);
    assert_eq!(source.calls(), 3);
}

#[tokio::test]
async fn store_outage_through_the_layer_is_503_and_recovers() {
    let source = TestSource::new(MemoryStore::new());
    source.fail(true);
    let cutoffs = CutoffCache::new(Arc::clone(&source));
    let inner_calls = Arc::new(AtomicUsize::new(0));
    let service = guarded(validator(cutoffs), &inner_calls);
    let token = issuer().issue_access("alice", &()).unwrap().token;

    for _ in 0..3 {
        let response = service.clone().oneshot(bearer(&token)).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
        assert!(!response.headers().contains_key(header::WWW_AUTHENTICATE));
    }
    assert_eq!(inner_calls.load(Ordering::SeqCst), 0, "fail closed");
    assert_eq!(source.calls(), 3, "errors are not cached");

    source.fail(false);
    let response = service.clone().oneshot(bearer(&token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(inner_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_source_is_bounded_by_the_store_timeout() {
    let source = TestSource::new(MemoryStore::new());
    source.hang(true);
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .store_timeout(Duration::from_millis(100))
        .build();
    let bound = Duration::from_secs(5);

    // One lookup, and a crowd of concurrent ones: all answer, with an error, within the bound.
    let answer = tokio::time::timeout(bound, cutoffs.lookup("alice"))
        .await
        .expect("a hanging source must not hold the lookup past the timeout");
    assert!(answer.is_err());
    let crowd: Vec<_> = (0..100)
        .map(|_| {
            let cutoffs = cutoffs.clone();
            tokio::spawn(async move { tokio::time::timeout(bound, cutoffs.lookup("bob")).await })
        })
        .collect();
    for lookup in crowd {
        let answer = lookup
            .await
            .unwrap()
            .expect("every waiter is released by the timeout");
        assert!(answer.is_err());
    }

    // Through the layer: 503 with Retry-After, the inner service untouched.
    let inner_calls = Arc::new(AtomicUsize::new(0));
    let service = guarded(validator(cutoffs.clone()), &inner_calls);
    let token = issuer().issue_access("carol", &()).unwrap().token;
    let response = tokio::time::timeout(bound, service.clone().oneshot(bearer(&token)))
        .await
        .expect("a hanging source must not hold the request")
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(inner_calls.load(Ordering::SeqCst), 0);

    // A timeout is a failure like any other: not cached.
    source.hang(false);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::NoCutoff);
    let response = service.oneshot(bearer(&token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// A waiter that goes away while running the source call
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aborted_waiter_running_the_source_call_does_not_strand_the_others() {
    let store = MemoryStore::new();
    store
        .raise(Scope::Subject("alice"), at_secs(1_700_000_000))
        .await
        .unwrap();
    let source = TestSource::gated(store);
    // A timeout far beyond the test: only the gate can release the source calls.
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .store_timeout(NO_TIMEOUT)
        .build();

    let first = tokio::spawn({
        let cutoffs = cutoffs.clone();
        async move { cutoffs.lookup("alice").await }
    });
    wait_until("the first lookup runs the source call", || {
        source.calls() == 1
    })
    .await;

    let pending = Arc::new(AtomicUsize::new(0));
    let others: Vec<_> = (0..100)
        .map(|_| {
            let cutoffs = cutoffs.clone();
            tokio::spawn(Probe::new(
                async move { cutoffs.lookup("alice").await },
                &pending,
            ))
        })
        .collect();
    wait_until("the others wait on the first one's call", || {
        pending.load(Ordering::SeqCst) == 100
    })
    .await;

    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    source.gate.open();
    for other in others {
        let answer = within("a waiter whose leader was aborted", other)
            .await
            .unwrap();
        assert_eq!(answer.unwrap(), at_secs(1_700_000_000));
    }
    assert!(
        (1..=2).contains(&source.calls()),
        "at most one retry of the dropped call, got {} calls",
        source.calls()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropped_lookup_future_running_the_source_call_does_not_strand_the_others() {
    let source = TestSource::gated(MemoryStore::new());
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .store_timeout(NO_TIMEOUT)
        .build();
    let pending = Arc::new(AtomicUsize::new(0));
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();

    // This task's own lookup runs the source call; it is dropped in place (a client going away)
    // once the others are waiting on it.
    let leader = async {
        tokio::select! {
            biased;
            _ = cancelled => None,
            answer = cutoffs.lookup("alice") => Some(answer),
        }
    };
    let driver = async {
        wait_until("the leader runs the source call", || source.calls() == 1).await;
        let others: Vec<_> = (0..100)
            .map(|_| {
                let cutoffs = cutoffs.clone();
                tokio::spawn(Probe::new(
                    async move { cutoffs.lookup("alice").await },
                    &pending,
                ))
            })
            .collect();
        wait_until("the others wait on the leader's call", || {
            pending.load(Ordering::SeqCst) == 100
        })
        .await;
        cancel.send(()).unwrap();
        others
    };
    let (led, others) = tokio::join!(leader, driver);
    assert!(led.is_none(), "the leader was dropped before answering");

    source.gate.open();
    for other in others {
        let answer = within("a waiter whose leader was dropped", other)
            .await
            .unwrap();
        assert_eq!(answer.unwrap(), Cutoff::NoCutoff);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aborted_waiter_on_a_hanging_source_leaves_the_others_bounded_by_the_timeout() {
    let source = TestSource::new(MemoryStore::new());
    source.hang(true);
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .store_timeout(Duration::from_millis(300))
        .build();

    let first = tokio::spawn({
        let cutoffs = cutoffs.clone();
        async move { cutoffs.lookup("alice").await }
    });
    wait_until("the first lookup runs the source call", || {
        source.calls() >= 1
    })
    .await;
    let others: Vec<_> = (0..50)
        .map(|_| {
            let cutoffs = cutoffs.clone();
            tokio::spawn(async move { cutoffs.lookup("alice").await })
        })
        .collect();
    first.abort();
    let _ = first.await;
    for other in others {
        let answer = within("a waiter on a hanging source", other).await.unwrap();
        assert!(answer.is_err(), "a hanging source fails closed");
    }
}

// ---------------------------------------------------------------------------------------------
// Monotonic cutoffs
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_logouts_never_leave_a_lower_cutoff() {
    let store = MemoryStore::new();
    let cutoffs = CutoffCache::new(store.clone());
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::NoCutoff);

    let done = Arc::new(AtomicBool::new(false));
    let monitor = tokio::spawn({
        let cutoffs = cutoffs.clone();
        let done = Arc::clone(&done);
        async move {
            let mut last = Cutoff::NoCutoff;
            while !done.load(Ordering::SeqCst) {
                let seen = cutoffs.lookup("alice").await.unwrap();
                assert!(
                    seen >= last,
                    "the cutoff went back from {last:?} to {seen:?}"
                );
                last = seen;
                tokio::task::yield_now().await;
            }
        }
    });
    let writers: Vec<_> = (0..32)
        .map(|_| {
            let cutoffs = cutoffs.clone();
            tokio::spawn(async move {
                let mut stamps = Vec::new();
                for _ in 0..20 {
                    stamps.push(
                        cutoffs
                            .logout_all("alice")
                            .await
                            .unwrap()
                            .valid_from()
                            .unwrap(),
                    );
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
    done.store(true, Ordering::SeqCst);
    within("the monitor", monitor).await.unwrap();

    let expected = Cutoff::ValidFrom(latest);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), expected, "cache");
    assert_eq!(store.lookup("alice").await.unwrap(), expected, "store");
    cutoffs.invalidate("alice");
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_applies_never_lower_the_cached_cutoff() {
    // As with pushes: another instance writes the store, then this one is told through `apply`.
    // "warm" is cached for the whole test, so only `apply` can change what it shows.
    let store = MemoryStore::new();
    let cutoffs = CutoffCache::new(store.clone());
    assert_eq!(cutoffs.lookup("warm").await.unwrap(), Cutoff::NoCutoff);

    const N: i64 = 1000;
    let base = 1_700_000_000_i64;
    // Every cutoff once, in a scrambled order, then replayed in another order.
    let order: Vec<i64> = (0..N)
        .map(|i| (i * 7919) % N)
        .chain((0..N).map(|i| (i * 104_729 + 13) % N))
        .collect();
    for subject in ["warm", "cold"] {
        let done = Arc::new(AtomicBool::new(false));
        let monitor = tokio::spawn({
            let cutoffs = cutoffs.clone();
            let done = Arc::clone(&done);
            async move {
                let mut last = Cutoff::NoCutoff;
                while !done.load(Ordering::SeqCst) {
                    let seen = cutoffs.lookup(subject).await.unwrap();
                    assert!(
                        seen >= last,
                        "the cutoff went back from {last:?} to {seen:?}"
                    );
                    last = seen;
                    tokio::task::yield_now().await;
                }
            }
        });
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
        done.store(true, Ordering::SeqCst);
        within("the monitor", monitor).await.unwrap();
        assert_eq!(
            cutoffs.lookup(subject).await.unwrap(),
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
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::NoCutoff);
    cutoffs.apply(Scope::Subject("alice"), t2);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), t2);
    cutoffs.apply(Scope::Subject("alice"), t1);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), t2, "older");
    cutoffs.apply(Scope::Subject("alice"), t2);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), t2, "replayed");
    cutoffs.apply(Scope::Subject("alice"), Cutoff::NoCutoff);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), t2, "no cutoff");
    cutoffs.apply(Scope::Subject("alice"), t3);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), t3, "newer");
    cutoffs.apply(Scope::Subject("alice"), Cutoff::Refused);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::Refused);
    cutoffs.apply(Scope::Subject("alice"), t3);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::Refused);

    // Everyone: affects every subject, cached or not, and never goes back.
    assert_eq!(cutoffs.lookup("bob").await.unwrap(), Cutoff::NoCutoff);
    assert_eq!(cutoffs.lookup("carol").await.unwrap(), Cutoff::NoCutoff);
    cutoffs.apply(Scope::Subject("carol"), t3);
    cutoffs.apply(Scope::Everyone, t2);
    assert_eq!(cutoffs.lookup("bob").await.unwrap(), t2, "cached subject");
    assert_eq!(cutoffs.lookup("dave").await.unwrap(), t2, "unseen subject");
    assert_eq!(cutoffs.lookup("carol").await.unwrap(), t3, "own is later");
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::Refused);
    cutoffs.apply(Scope::Everyone, t1);
    cutoffs.apply(Scope::Everyone, Cutoff::NoCutoff);
    cutoffs.apply(Scope::Everyone, t2);
    assert_eq!(cutoffs.lookup("bob").await.unwrap(), t2, "older everyone");
    cutoffs.invalidate_all();
    assert_eq!(
        cutoffs.lookup("bob").await.unwrap(),
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
        cutoffs.lookup("erin").await.unwrap(),
        at_secs(1_700_000_163)
    );
}

// ---------------------------------------------------------------------------------------------
// A slow cache fill racing a logout
// ---------------------------------------------------------------------------------------------

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
    let store = MemoryStore::new();
    store.raise(Scope::Subject("alice"), old).await.unwrap();
    let source = TestSource::gated(store.clone());
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .store_timeout(NO_TIMEOUT)
        .build();
    let validator = validator(cutoffs.clone());
    let before_logout = issuer().issue_access("alice", &()).unwrap().token;

    // A lookup starts and reads the OLD cutoff from the store, then is held.
    let slow = tokio::spawn({
        let cutoffs = cutoffs.clone();
        async move { cutoffs.lookup("alice").await }
    });
    wait_until("the slow fill read the old cutoff", || source.reads() == 1).await;

    // The logout writes the store while that fill is in flight.
    let write = tokio::spawn({
        let cutoffs = cutoffs.clone();
        let store = store.clone();
        async move {
            match writer {
                Writer::LogoutAll => cutoffs.logout_all("alice").await.unwrap(),
                Writer::Push => {
                    let at = Timestamp::now();
                    store
                        .raise(Scope::Subject("alice"), Cutoff::ValidFrom(at))
                        .await
                        .unwrap();
                    cutoffs.apply(Scope::Subject("alice"), Cutoff::ValidFrom(at));
                    Cutoff::ValidFrom(at)
                }
            }
        }
    });
    let deadline = Instant::now() + PATIENCE;
    while store.lookup("alice").await.unwrap() == old {
        assert!(
            Instant::now() < deadline,
            "the logout never wrote the store"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    // Release the slow fill, which carries the stale answer.
    source.gate.open();
    let _stale = within("the slow fill", slow).await.unwrap().unwrap();
    let new = within("the logout", write).await.unwrap();

    let expected = new;
    assert!(expected > old);
    assert_eq!(store.lookup("alice").await.unwrap(), expected);
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap(),
        expected,
        "{writer:?}: the slow fill's stale answer must not replace the new cutoff"
    );
    assert_eq!(
        reason(&validator, &before_logout).await,
        Some(Reason::Revoked),
        "{writer:?}: a token from before the logout is refused"
    );
    let after_logout = issuer().issue_access("alice", &()).unwrap().token;
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

// ---------------------------------------------------------------------------------------------
// logout_all is in force when it returns
// ---------------------------------------------------------------------------------------------

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
        let cutoff = cutoffs
            .logout_all("alice")
            .await
            .unwrap()
            .valid_from()
            .unwrap();
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

// ---------------------------------------------------------------------------------------------
// Serve stale
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stale_serves_a_young_answer_then_fails_closed() {
    const TTL: Duration = Duration::from_millis(200);
    const STALE: Duration = Duration::from_millis(1500);
    let cutoff = at_secs(1_700_000_000);
    for _attempt in 0..5 {
        let store = MemoryStore::new();
        store.raise(Scope::Subject("alice"), cutoff).await.unwrap();
        let source = TestSource::new(store);
        let cutoffs = CutoffCache::builder(Arc::clone(&source))
            .time_to_live(TTL)
            .serve_stale_for(STALE)
            .build();
        let validator = validator(cutoffs.clone());
        let old_token = issuer().issue_access("alice", &()).unwrap().token;
        let bob_token = issuer().issue_access("bob", &()).unwrap().token;

        let looked_up = Instant::now(); // at or before the answer was cached
        assert_eq!(cutoffs.lookup("alice").await.unwrap(), cutoff);
        source.fail(true);
        tokio::time::sleep(TTL * 2).await;
        let calls = source.calls();
        let stale = cutoffs.lookup("alice").await;
        let from_stale = validator
            .validate(&old_token)
            .await
            .err()
            .map(|r| r.reason());
        let bob = reason(&validator, &bob_token).await;
        if looked_up.elapsed() >= STALE {
            continue; // too slow to prove the answer was younger than STALE; try again
        }
        assert!(
            source.calls() > calls,
            "the TTL expired, so the source was asked"
        );
        assert_eq!(
            stale.unwrap(),
            cutoff,
            "a cached answer younger than the limit is served"
        );
        assert_eq!(from_stale, None, "and the token it admits passes");
        assert!(
            cutoffs.lookup("bob").await.is_err(),
            "a subject never looked up fails closed"
        );
        assert_eq!(bob, Some(Reason::Unavailable));

        // Past the limit (counted from when the answer was cached): fail closed.
        tokio::time::sleep(STALE + Duration::from_millis(300)).await;
        assert!(
            cutoffs.lookup("alice").await.is_err(),
            "a cached answer older than the limit is not served"
        );
        assert_eq!(
            reason(&validator, &old_token).await,
            Some(Reason::Unavailable)
        );

        // Recovery.
        source.fail(false);
        assert_eq!(cutoffs.lookup("alice").await.unwrap(), cutoff);
        return;
    }
    panic!("the machine was too slow to observe an answer younger than {STALE:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stale_still_applies_changes_made_here() {
    const TTL: Duration = Duration::from_millis(200);
    let source = TestSource::new(MemoryStore::new());
    let cutoffs = CutoffCache::builder(Arc::clone(&source))
        .time_to_live(TTL)
        .serve_stale_for(Duration::from_secs(600))
        .build();
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::NoCutoff);
    source.fail(true);

    // A push arrives while the store is down; a write through the failing store is refused.
    cutoffs.apply(Scope::Subject("alice"), at_secs(1_700_000_000));
    assert!(cutoffs.logout_all("alice").await.is_err());
    tokio::time::sleep(TTL * 2).await;
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap(),
        at_secs(1_700_000_000),
        "the stale answer includes the pushed change"
    );
    cutoffs.apply(Scope::Everyone, at_secs(1_700_000_100));
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap(),
        at_secs(1_700_000_100)
    );
    cutoffs.apply(Scope::Subject("alice"), at_secs(1));
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap(),
        at_secs(1_700_000_100),
        "an older push does not lower the stale answer"
    );
}

// ---------------------------------------------------------------------------------------------
// TTL and invalidation
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_changes_made_elsewhere_are_seen_after_the_ttl_or_an_invalidate() {
    const TTL: Duration = Duration::from_millis(600);
    for _attempt in 0..5 {
        let store = MemoryStore::new();
        let cutoffs = CutoffCache::builder(store.clone())
            .time_to_live(TTL)
            .build();

        let cached_at = Instant::now(); // at or before the answer was cached
        assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::NoCutoff);
        // Another instance writes the store; nothing pushes.
        let t1 = at_secs(1_700_000_001);
        store.raise(Scope::Subject("alice"), t1).await.unwrap();
        let seen = cutoffs.lookup("alice").await.unwrap();
        if cached_at.elapsed() >= TTL {
            continue; // too slow to prove the entry was still fresh; try again
        }
        assert_eq!(
            seen,
            Cutoff::NoCutoff,
            "within the TTL the cached answer stands"
        );

        tokio::time::sleep(TTL + Duration::from_millis(200)).await;
        assert_eq!(
            cutoffs.lookup("alice").await.unwrap(),
            t1,
            "after the TTL the change is seen"
        );

        let t2 = at_secs(1_700_000_002);
        store.raise(Scope::Subject("alice"), t2).await.unwrap();
        cutoffs.invalidate("alice");
        assert_eq!(
            cutoffs.lookup("alice").await.unwrap(),
            t2,
            "seen at once after invalidate"
        );

        let t3 = at_secs(1_700_000_003);
        store.raise(Scope::Subject("alice"), t3).await.unwrap();
        store.raise(Scope::Everyone, t3).await.unwrap();
        cutoffs.invalidate_all();
        assert_eq!(cutoffs.lookup("alice").await.unwrap(), t3);
        assert_eq!(cutoffs.lookup("bob").await.unwrap(), t3);
        return;
    }
    panic!("the machine was too slow to observe a lookup within {TTL:?}");
}

// ---------------------------------------------------------------------------------------------
// refuse, logout_everyone, read-only sources
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn refuse_refuses_every_token_of_the_subject_for_good() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = validator(cutoffs.clone());
    let issuer = issuer();
    let before = issuer.issue_access("mallory", &()).unwrap().token;
    assert_eq!(reason(&validator, &before).await, None);

    cutoffs.refuse("mallory").await.unwrap();
    assert_eq!(cutoffs.lookup("mallory").await.unwrap(), Cutoff::Refused);
    let after = issuer.issue_access("mallory", &()).unwrap().token;
    for token in [&before, &after] {
        assert_eq!(
            reason(&validator, token).await,
            Some(Reason::SubjectRefused)
        );
    }
    // A later logout does not lift the refusal.
    cutoffs.logout_all("mallory").await.unwrap();
    assert_eq!(cutoffs.lookup("mallory").await.unwrap(), Cutoff::Refused);
    let later = issuer.issue_access("mallory", &()).unwrap().token;
    assert_eq!(
        reason(&validator, &later).await,
        Some(Reason::SubjectRefused)
    );
    // Others are untouched.
    let alice = issuer.issue_access("alice", &()).unwrap().token;
    assert_eq!(reason(&validator, &alice).await, None);
}

#[tokio::test]
async fn logout_everyone_refuses_older_tokens_of_every_subject() {
    let store = MemoryStore::new();
    let cutoffs = CutoffCache::new(store.clone());
    let validator = validator(cutoffs.clone());
    let issuer = issuer();
    let old_alice = issuer.issue_access("alice", &()).unwrap().token;
    let old_bob = issuer.issue_access("bob", &()).unwrap().token;
    assert_eq!(reason(&validator, &old_alice).await, None); // alice is cached, bob is not

    let at = cutoffs.logout_everyone().await.unwrap();
    for token in [&old_alice, &old_bob] {
        assert_eq!(reason(&validator, token).await, Some(Reason::Revoked));
    }
    for subject in ["alice", "bob", "never-seen"] {
        assert_eq!(cutoffs.lookup(subject).await.unwrap(), at);
        let fresh = issuer.issue_access(subject, &()).unwrap().token;
        assert_eq!(reason(&validator, &fresh).await, None, "{subject}");
    }

    // Never lowered, by an older push or a repeated logout.
    cutoffs.apply(Scope::Everyone, Cutoff::ValidFrom(Timestamp::UNIX_EPOCH));
    assert_eq!(reason(&validator, &old_alice).await, Some(Reason::Revoked));
    let again = cutoffs.logout_everyone().await.unwrap();
    assert!(again > at);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), again);

    // Another instance on the same store, with nothing pushed, sees it through the store.
    let elsewhere = validator_on(store);
    assert_eq!(reason(&elsewhere, &old_bob).await, Some(Reason::Revoked));
}

fn validator_on(store: MemoryStore) -> Validator {
    validator(CutoffCache::new(store))
}

#[tokio::test]
async fn read_only_source_refuses_writes_and_nothing_changes() {
    let store = MemoryStore::new();
    let cutoffs = CutoffCache::new(ReadOnly(store.clone()));
    let validator = validator(cutoffs.clone());
    let token = issuer().issue_access("alice", &()).unwrap().token;
    assert_eq!(reason(&validator, &token).await, None);

    assert!(cutoffs.logout_all("alice").await.is_err());
    assert!(cutoffs.refuse("alice").await.is_err());
    assert!(cutoffs.logout_everyone().await.is_err());
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::NoCutoff);
    assert_eq!(cutoffs.lookup("bob").await.unwrap(), Cutoff::NoCutoff);
    assert_eq!(reason(&validator, &token).await, None, "nothing changed");
    assert_eq!(store.lookup("alice").await.unwrap(), Cutoff::NoCutoff);

    // The application writes its own store, then tells this instance.
    let at = Timestamp::now();
    store
        .raise(Scope::Subject("alice"), Cutoff::ValidFrom(at))
        .await
        .unwrap();
    cutoffs.apply(Scope::Subject("alice"), Cutoff::ValidFrom(at));
    assert_eq!(reason(&validator, &token).await, Some(Reason::Revoked));
}

#[tokio::test]
async fn failed_write_changes_nothing() {
    let source = TestSource::new(MemoryStore::new());
    let cutoffs = CutoffCache::new(Arc::clone(&source));
    let validator = validator(cutoffs.clone());
    let token = issuer().issue_access("alice", &()).unwrap().token;
    assert_eq!(reason(&validator, &token).await, None);

    source.fail(true);
    assert!(cutoffs.logout_all("alice").await.is_err());
    assert!(cutoffs.logout_everyone().await.is_err());
    assert!(cutoffs.refuse("alice").await.is_err());
    source.fail(false);
    assert_eq!(reason(&validator, &token).await, None, "nothing changed");
    cutoffs.invalidate("alice");
    assert_eq!(reason(&validator, &token).await, None, "nor in the store");
}

/// Another instance got there first: the write keeps the later cutoff, and the caller learns it.
#[tokio::test]
async fn logout_all_returns_what_the_store_holds() {
    let store = MemoryStore::new();
    let cutoffs = CutoffCache::new(store.clone());
    let later = Cutoff::ValidFrom(Timestamp::now().saturating_add(Duration::from_secs(3600)));
    store.raise(Scope::Subject("alice"), later).await.unwrap();
    assert_eq!(cutoffs.logout_all("alice").await.unwrap(), later);
    store
        .raise(Scope::Subject("alice"), Cutoff::Refused)
        .await
        .unwrap();
    assert_eq!(cutoffs.logout_all("alice").await.unwrap(), Cutoff::Refused);
    assert_eq!(cutoffs.lookup("alice").await.unwrap(), Cutoff::Refused);

    store.raise(Scope::Everyone, later).await.unwrap();
    assert_eq!(cutoffs.logout_everyone().await.unwrap(), later);
    let mine = cutoffs.logout_all("bob").await.unwrap();
    assert!(mine < later, "bob's own cutoff is the new instant");
    assert_eq!(cutoffs.lookup("bob").await.unwrap(), later);
}

/// Subjects are bounded as in tokens, so that every store can keep and push any subject it is
/// given; a longer one never reaches the store.
#[tokio::test]
async fn subjects_longer_than_a_token_may_name_never_reach_the_store() {
    let source = TestSource::new(MemoryStore::new());
    let cutoffs = CutoffCache::new(Arc::clone(&source));
    let longest = "é".repeat(MAX_SUBJECT_BYTES / 2);
    assert!(cutoffs.logout_all(&longest).await.unwrap() > Cutoff::NoCutoff);
    assert!(cutoffs.lookup(&longest).await.unwrap() > Cutoff::NoCutoff);
    let (writes, calls) = (source.writes(), source.calls());

    let too_long = format!("{longest}x");
    assert!(cutoffs.logout_all(&too_long).await.is_err());
    assert!(cutoffs.refuse(&too_long).await.is_err());
    assert!(cutoffs.lookup(&too_long).await.is_err());
    assert!(cutoffs.lookup_in_store(&too_long).await.is_err());
    assert_eq!((source.writes(), source.calls()), (writes, calls));
}

#[tokio::test]
async fn a_change_for_a_subject_not_cached_here_costs_no_lookup() {
    let store = MemoryStore::new();
    let source = TestSource::new(store.clone());
    let cutoffs = CutoffCache::new(Arc::clone(&source));
    for i in 0..100 {
        let subject = format!("user-{i}");
        let stored = store
            .raise(Scope::Subject(&subject), at_secs(1_700_000_000 + i))
            .await
            .unwrap();
        cutoffs.apply(Scope::Subject(&subject), stored);
    }
    assert_eq!(
        source.calls(),
        0,
        "pushed changes for strangers must not load them"
    );
    // Their first lookup reads the changed store.
    assert_eq!(
        cutoffs.lookup("user-7").await.unwrap(),
        at_secs(1_700_000_007)
    );
    assert_eq!(source.calls(), 1);
}

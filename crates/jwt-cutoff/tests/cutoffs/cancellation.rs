//! A waiter that goes away while it runs the source call strands none of the others.

use std::time::Duration;

use jwt_cutoff::{Cutoff, MemoryStore};
use jwt_cutoff_test_support::{
    TestSource, at_secs, blocked_lookups, cache_with_timeout, patient_cache, spawn_lookup,
    store_with, wait_until, within,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aborted_waiter_running_the_source_call_does_not_strand_the_others() {
    let source = TestSource::gated(store_with("alice", at_secs(1_700_000_000)).await);
    // A timeout far beyond the test: only the gate can release the source calls.
    let cutoffs = patient_cache(&source);

    let first = spawn_lookup(&cutoffs, "alice");
    wait_until("the first lookup runs the source call", || {
        source.calls() == 1
    })
    .await;

    let others = blocked_lookups(
        &cutoffs,
        "alice",
        100,
        "the others wait on the first one's call",
    )
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
    let cutoffs = patient_cache(&source);
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
        let others = blocked_lookups(
            &cutoffs,
            "alice",
            100,
            "the others wait on the leader's call",
        )
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
    let source = TestSource::hanging();
    let cutoffs = cache_with_timeout(&source, Duration::from_millis(300));

    let first = spawn_lookup(&cutoffs, "alice");
    wait_until("the first lookup runs the source call", || {
        source.calls() >= 1
    })
    .await;
    let others: Vec<_> = (0..50).map(|_| spawn_lookup(&cutoffs, "alice")).collect();
    first.abort();
    let _ = first.await;
    for other in others {
        let answer = within("a waiter on a hanging source", other).await.unwrap();
        assert!(answer.is_err(), "a hanging source fails closed");
    }
}

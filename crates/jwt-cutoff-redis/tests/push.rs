//! Two instances (two `CutoffCache`, two caches, two stores) on one Redis: push latency, and an outage
//! made by cutting a TCP proxy in front of one instance.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::io::Write as _;
use std::time::{Duration, Instant};

use jwt_cutoff::{Cutoff, CutoffCache, Reason};
use jwt_cutoff_test_support::{
    eventually, following, hs_issuer, hs_validator, logout_reaches, push_latency,
    revocation_reaches, sees,
};
use support::{Link, TestKeys, instance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_instance_reaches_the_other_by_push() {
    let Some((keys, store_a)) = TestKeys::with_store("latency").await else {
        return;
    };
    let store_b = keys.store().await;
    let (a, b) = (instance(&store_a), instance(&store_b));
    let _push_a = following(&a, store_a).await;
    let _push_b = following(&b, store_b).await;

    // B caches "no cutoff" for ten minutes: only the push can change its answer. The message is
    // published inside the write, so B often has it before A has its answer.
    let latency = push_latency(&a, &b, 200, Duration::from_secs(10)).await;
    let _ = writeln!(
        std::io::stderr(),
        "redis push latency over 200 logouts, until a lookup on B shows the cutoff: {latency}"
    );
    // The goal is p99 < 100 ms on loopback; only a generous bound is asserted, against flakiness.
    let p99 = latency.after_return.p99;
    assert!(p99 < Duration::from_secs(2), "p99 {p99:?}");

    // The other way round, and the global cutoff: later than user-0's own, so it is what A reads.
    let at = b.logout_everyone().await.unwrap();
    sees("A sees the global logout", &a, "user-0", at).await;

    // A session revoked on B is refused on A, through push.
    revocation_reaches(&b, &a, "bob", "laptop").await;
    keys.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_cut_off_from_redis_fails_closed_then_recovers_on_its_own() {
    // A talks to Redis directly; B's commands and pub/sub both go through the proxy.
    let Some((keys, store_a)) = TestKeys::with_store("outage").await else {
        return;
    };
    let a = instance(&store_a);
    let (proxy, builder_b) = keys.behind_proxy().await;
    let store_b = builder_b
        .timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let b = instance(&store_b);
    let _push_b = following(&b, store_b).await;

    let (issuer, validator_b) = (hs_issuer(), hs_validator(b.clone()));
    let alice_before = issuer.issue_access("alice", &()).unwrap().token;
    assert!(validator_b.validate(&alice_before).await.is_ok()); // now cached at B for minutes
    assert_eq!(b.lookup("carol").await.unwrap().cutoff(), Cutoff::NoCutoff);

    proxy.set(Link::Cut);
    eventually(
        "B notices that its push channel is gone",
        Duration::from_secs(10),
        async || !b.push_connected(),
    )
    .await;

    // Alice logs out everywhere through A while B cannot hear about it.
    let logout = a.logout_all("alice").await.unwrap();
    // B forgot its cache with the channel, and cannot ask Redis: it fails closed, never accepts.
    for _ in 0..3 {
        let refused = validator_b.validate(&alice_before).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::Unavailable);
        assert!(
            b.lookup("bob").await.is_err(),
            "an uncached subject fails closed"
        );
    }

    proxy.set(Link::Open);
    // B reconnects by itself (push and commands) and catches up on the logout it missed.
    eventually(
        "B reconnects and catches up",
        Duration::from_secs(20),
        async || {
            b.push_connected()
                && b.lookup("alice").await.ok().map(|found| found.cutoff()) == Some(logout)
        },
    )
    .await;
    assert_eq!(
        validator_b
            .validate(&alice_before)
            .await
            .unwrap_err()
            .reason(),
        Reason::Revoked
    );
    let alice_after = issuer.issue_access("alice", &()).unwrap().token;
    assert!(validator_b.validate(&alice_after).await.is_ok());
    assert_eq!(b.lookup("bob").await.unwrap().cutoff(), Cutoff::NoCutoff);

    // And pushes flow again: a change B has cached for minutes reaches it.
    logout_reaches(&a, &b, "carol").await;
    keys.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_push_connection_is_found_out_by_the_heartbeat() {
    let Some(keys) = TestKeys::new("heartbeat").await else {
        return;
    };
    let (proxy, builder) = keys.behind_proxy().await;
    let store = builder
        .heartbeat(Duration::from_millis(200))
        .timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let b: CutoffCache = instance(&store);
    let _push = following(&b, store).await;
    assert_eq!(b.lookup("alice").await.unwrap().cutoff(), Cutoff::NoCutoff);

    // The connections stay open but nothing comes back, as in a silent network partition: without
    // the heartbeat the pub/sub stream would just wait, and B would trust its cache for minutes.
    proxy.set(Link::Frozen);
    let frozen = Instant::now();
    eventually(
        "the heartbeat gives up on the silent connection",
        Duration::from_secs(10),
        async || !b.push_connected(),
    )
    .await;
    let noticed = frozen.elapsed();
    let _ = writeln!(
        std::io::stderr(),
        "silent pub/sub connection noticed after {noticed:?}"
    );
    // Cache cleared, and Redis unreachable: fail closed.
    assert!(b.lookup("alice").await.is_err());

    proxy.set(Link::Open);
    eventually("B follows again", Duration::from_secs(20), async || {
        b.push_connected() && b.lookup("alice").await.is_ok()
    })
    .await;
    keys.clean_up().await;
}

//! Instances that follow a push channel: following it, waiting until a change made elsewhere
//! reaches one, and how long changes take to arrive.

use std::fmt;
use std::time::{Duration, Instant};

use jwt_cutoff_store::{Cutoff, CutoffCache, PushChannel, PushTask};

use crate::wait::{PATIENCE, eventually};

/// Makes `cutoffs` follow `channel` and waits until its subscription is up, failing the test after
/// [`PATIENCE`]. The cache follows for as long as the returned task is kept.
pub async fn following(cutoffs: &CutoffCache, channel: impl PushChannel) -> PushTask {
    let task = cutoffs.follow(channel);
    eventually("the cache follows its push channel", PATIENCE, async || {
        cutoffs.push_connected()
    })
    .await;
    task
}

/// How long a change may take to reach another instance by push before a test calls it lost: far
/// more than a push takes, far less than the minutes the push tests' caches keep an entry, so only
/// the push can explain a change seen in time.
pub const PUSH_WAIT: Duration = Duration::from_secs(5);

/// Waits until `cutoffs` answers exactly `cutoff` for `subject`, failing the test (named by
/// `what`) after [`PUSH_WAIT`]; a lookup that fails fails the test at once.
pub async fn sees(what: &str, cutoffs: &CutoffCache, subject: &str, cutoff: Cutoff) {
    eventually(what, PUSH_WAIT, async || {
        cutoffs.lookup(subject).await.expect("lookup").cutoff() == cutoff
    })
    .await;
}

/// Revokes `subject`'s session `session` on `writer` and checks that the revocation reaches
/// `reader` by push: `reader` first caches the subject's cutoffs without it, then refuses the
/// session within [`PUSH_WAIT`], while the subject's other sessions and tokens without one keep
/// their cutoff.
pub async fn revocation_reaches(
    writer: &CutoffCache,
    reader: &CutoffCache,
    subject: &str,
    session: &str,
) {
    let before = reader.lookup(subject).await.expect("lookup");
    assert_eq!(
        before.for_token(Some(session)),
        before.cutoff(),
        "{subject}'s session {session} must have no cutoff of its own before the revocation"
    );
    writer
        .revoke_session(subject, session)
        .await
        .expect("revoke_session");
    let what =
        format!("the revocation of {subject}'s session {session} reaches the other instance");
    eventually(&what, PUSH_WAIT, async || {
        let found = reader.lookup(subject).await.expect("lookup");
        found.for_token(Some(session)) == Cutoff::Refused
    })
    .await;
    let after = reader.lookup(subject).await.expect("lookup");
    assert_eq!(
        after.cutoff(),
        before.cutoff(),
        "the subject's own cutoff is untouched"
    );
    assert_eq!(
        after.for_token(Some("another session")),
        before.cutoff(),
        "another session is untouched"
    );
}

/// Logs `subject` out on `writer` and checks that the logout reaches `reader` by push: `reader`
/// first looks the subject up and caches that it has no cutoff, then shows the logout within
/// [`PUSH_WAIT`]. Returns the logout's cutoff.
pub async fn logout_reaches(writer: &CutoffCache, reader: &CutoffCache, subject: &str) -> Cutoff {
    assert_eq!(
        reader.lookup(subject).await.expect("lookup").cutoff(),
        Cutoff::NoCutoff,
        "{subject} must have no cutoff before the logout"
    );
    let cutoff = writer.logout_all(subject).await.expect("logout_all");
    let what = format!("the logout of {subject} reaches the other instance");
    sees(&what, reader, subject, cutoff).await;
    cutoff
}

/// The median, the 99th percentile (nearest rank) and the maximum of some latencies.
#[derive(Clone, Copy, Debug)]
pub struct Percentiles {
    /// The median.
    pub p50: Duration,
    /// The 99th percentile, by nearest rank.
    pub p99: Duration,
    /// The longest.
    pub max: Duration,
}

impl Percentiles {
    fn of(mut latencies: Vec<Duration>) -> Self {
        latencies.sort();
        let at = |percent: usize| latencies[(latencies.len() * percent).div_ceil(100) - 1];
        Self {
            p50: at(50),
            p99: at(99),
            max: at(100),
        }
    }
}

impl fmt::Display for Percentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { p50, p99, max } = self;
        write!(f, "p50 {p50:?}, p99 {p99:?}, max {max:?}")
    }
}

/// How long logouts made on one instance took to show on another ([`push_latency`]).
#[derive(Clone, Copy, Debug)]
pub struct PushLatency {
    /// From `logout_all` returning on the writing instance: the figure a user waits for.
    pub after_return: Percentiles,
    /// From calling `logout_all`, which adds the write's own round trip (a store that publishes
    /// inside the write often delivers before the writer has its answer).
    pub after_call: Percentiles,
}

impl fmt::Display for PushLatency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "from logout_all returning: {}; from calling it: {}",
            self.after_return, self.after_call
        )
    }
}

/// Logs out `logouts` subjects (`user-0`, `user-1`, …) one after another on `writer`, and measures
/// how long each takes until a lookup on `reader` shows it. `reader` must cache "no cutoff" for
/// longer than the test runs, so that only a push explains the change; each subject is looked up
/// there first, and must have no cutoff. Fails the test if a logout takes longer than `within`.
pub async fn push_latency(
    writer: &CutoffCache,
    reader: &CutoffCache,
    logouts: usize,
    within: Duration,
) -> PushLatency {
    let (mut after_return, mut after_call) = (Vec::new(), Vec::new());
    for round in 0..logouts {
        let subject = format!("user-{round}");
        assert_eq!(
            reader.lookup(&subject).await.expect("lookup").cutoff(),
            Cutoff::NoCutoff
        );
        let called = Instant::now();
        let cutoff = writer.logout_all(&subject).await.expect("logout_all");
        let returned = Instant::now();
        // Polled without sleeping: a sleep would be part of the figure.
        while reader.lookup(&subject).await.expect("lookup").cutoff() != cutoff {
            assert!(
                returned.elapsed() < within,
                "the logout of {subject} did not arrive within {within:?}"
            );
            tokio::task::yield_now().await;
        }
        let seen = Instant::now();
        after_return.push(seen - returned);
        after_call.push(seen - called);
    }
    PushLatency {
        after_return: Percentiles::of(after_return),
        after_call: Percentiles::of(after_call),
    }
}

//! Patient waits, and the clock as tests read it.
//!
//! Nothing here asserts on speed: a wait fails only after a deadline generous enough for a small,
//! shared machine, and then it names what it was waiting for.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jwt_cutoff_store::{Cutoff, Timestamp};

/// How long a test waits for something that must happen before it calls it a hang.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Waits until `condition` holds (checked every millisecond), failing the test after
/// [`PATIENCE`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Polls the async `check` until it holds, failing the test after `within`.
pub async fn eventually(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Awaits `future`, failing the test if it takes longer than [`PATIENCE`]: it hangs.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} did not complete within {PATIENCE:?}: it hangs"),
    }
}

/// `Duration` shorthand.
pub const fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Wall-clock microseconds since the epoch.
pub fn now_micros() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(elapsed.as_micros()).expect("fits in i64")
}

/// Wall-clock whole seconds since the epoch.
pub fn now_secs() -> i64 {
    now_micros().div_euclid(1_000_000)
}

/// The exact NumericDate text `secs.micros` (six digits) for an instant in microseconds.
pub fn precise(micros: i64) -> String {
    format!(
        "{}.{:06}",
        micros.div_euclid(1_000_000),
        micros.rem_euclid(1_000_000)
    )
}

/// A cutoff at a whole second.
pub fn at_secs(secs: i64) -> Cutoff {
    Cutoff::ValidFrom(Timestamp::from_unix_secs(secs))
}

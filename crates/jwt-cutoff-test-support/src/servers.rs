//! Tests that need a server (PostgreSQL, Redis): skipped where it is missing, unless
//! `JWT_CUTOFF_REQUIRE_SERVERS=1` (set by CI) makes that a failure; and names for what the tests
//! make on a shared server.

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether tests must fail instead of skipping when a server is missing.
pub fn servers_required() -> bool {
    std::env::var("JWT_CUTOFF_REQUIRE_SERVERS").is_ok_and(|value| value == "1")
}

/// Says the test is skipped, where `cargo test` shows it even for a passing test; or fails it when
/// servers are required.
pub fn skip(why: &str) {
    assert!(
        !servers_required(),
        "{why} (JWT_CUTOFF_REQUIRE_SERVERS=1 makes this a failure)"
    );
    // Straight to stderr: the test harness captures `eprintln!` of passing tests.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// A suffix no other test, in this run or another, uses: `<pid>_<nanoseconds>_<n>`, for schemas,
/// key prefixes and channels on a server that several runs share. Only ASCII digits and `_`, so
/// it fits any such name; short enough for PostgreSQL's 63-byte identifiers.
pub fn unique_id() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    format!(
        "{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

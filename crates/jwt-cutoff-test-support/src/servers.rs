//! Tests that need a server (PostgreSQL, Redis): skipped where it is missing, unless
//! `JWT_CUTOFF_REQUIRE_SERVERS=1` (set by CI) makes that a failure.

use std::io::Write as _;

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

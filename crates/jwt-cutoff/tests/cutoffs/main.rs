//! Cache and cutoff semantics of [`CutoffCache`](jwt_cutoff::CutoffCache), on the real moka
//! cache. One module per topic.
//!
//! The stores are real ([`MemoryStore`](jwt_cutoff::MemoryStore)) or test doubles of a *store*
//! (counting, failing, hanging, gated: `jwt-cutoff-test-support`); `CutoffCache` itself is never
//! replaced. Nothing asserts on wall-clock speed: waits are bounded by generous deadlines, and the
//! TTL tests only assert "still cached" when the elapsed time proves the entry was younger than the
//! TTL.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions (which clippy.toml already covers) fail the test this way"
)]

mod cancellation;
mod coalescing;
mod expiry;
mod failures;
mod monotonic;
mod writes;

/// How many concurrent lookups or requests make a stampede.
pub(crate) const STAMPEDE: usize = 1000;

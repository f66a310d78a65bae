//! Helpers shared by the tests of the jwt-cutoff workspace, so that each test file says only what
//! it tests.
//!
//! - [`wait`]: patient waits ([`within`], [`wait_until`], [`eventually`]) and the clock
//!   ([`now_micros`], [`precise`], [`at_secs`]).
//! - [`source`]: the one test double of a cutoff store, [`TestSource`]: it records its lookups,
//!   fails, hangs, and holds lookups and writes at [`Gate`]s, to play outages and races with the
//!   cache in a chosen order.
//! - [`cutoffs`]: driving the cache: [`patient_cache`], [`store_with`], [`logged_out_at`],
//!   [`pushed_logout`], and lookups known to be blocked inside it ([`Probe`], [`blocked_lookups`]).
//! - [`link`]: a push channel the test can cut and restore ([`Link`]).
//! - [`push`]: caches following a push channel ([`following`]), waiting until a change reaches one
//!   ([`sees`], [`logout_reaches`]), and how long changes take to arrive ([`push_latency`]).
//! - [`servers`]: skipping, or failing, when a test server (PostgreSQL, Redis) is missing, and
//!   names no other test uses ([`unique_id`]).
//! - feature `jwt`: `tokens` (test keys, hand-made tokens, HS256 issuer and validator fixtures,
//!   and the logout round trip every store's tests check) and `guarded` (a tower service behind the layer that records what reached it).
//! - feature `http`: `client` (HTTP/1 and HTTP/2 clients, answers read whole, raw TCP).
//! - feature `provider`: `provider` (a fake OpenID provider serving discovery and a JWK set on a
//!   real socket, failing on demand).
//! - feature `grpc`: `grpc` (a tonic server on 127.0.0.1:0 and a channel to it).
//!
//! The cutoff side depends on `jwt-cutoff-store` only; the token side on `jwt-cutoff` without a
//! crypto feature, so the crate under test chooses the backend.
// Test helpers report a broken expectation the way tests do: by panicking with a message. The
// workspace lints that forbid that in library code do not apply here.
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test that calls them by panicking, as assertions do"
)]

pub mod cutoffs;
pub mod link;
pub mod push;
pub mod servers;
pub mod source;
pub mod wait;

#[cfg(feature = "jwt")]
pub mod guarded;
#[cfg(feature = "jwt")]
pub mod tokens;

#[cfg(feature = "http")]
pub mod client;
#[cfg(feature = "grpc")]
pub mod grpc;
#[cfg(feature = "provider")]
pub mod provider;

pub use cutoffs::{
    NO_TIMEOUT, Probe, blocked_lookups, cache_with_timeout, check_session_retention, logged_out_at,
    patient_cache, pushed_logout, spawn_blocked, spawn_lookup, store_with,
};
pub use link::Link;
pub use push::{
    PUSH_WAIT, Percentiles, PushLatency, following, logout_reaches, push_latency,
    revocation_reaches, sees,
};
pub use servers::{servers_required, skip, unique_id};
pub use source::{Gate, TestSource};
pub use wait::{
    PATIENCE, at_secs, eventually, millis, now_micros, now_secs, precise, wait_until, within,
};

#[cfg(feature = "jwt")]
pub use guarded::{Guarded, Reply, guarded_over, header};
#[cfg(feature = "jwt")]
pub use tokens::*;

//! jwt-cutoff-axum's extractors, responders and refusals: over a real socket ([`serve`]), and
//! through `oneshot` where a test reads the log events it caused ([`refusals`]); an issuing
//! service's published keys followed by another service through a rotation ([`rotation`]).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "helpers outside #[test] functions (which clippy.toml already covers) fail the test this way"
)]

mod refusals;
mod rotation;
mod serve;

use jwt_cutoff::{Cutoff, CutoffSource, LookupFuture};

/// A store that answers lookups but cannot be written (the default `raise`): a logout-all fails.
struct ReadOnly;

impl CutoffSource for ReadOnly {
    fn lookup<'a>(&'a self, _subject: &'a str) -> LookupFuture<'a> {
        Box::pin(async { Ok(Cutoff::NoCutoff.into()) })
    }
}

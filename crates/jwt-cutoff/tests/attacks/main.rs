//! Adversarial tests for the core crate: every attack of the SPEC's list that applies to it, driven
//! through the real [`JwtCutoffLayer`](jwt_cutoff::JwtCutoffLayer) with hand-made tokens whose every
//! byte is chosen here. One module per topic; the keys, token builders and the guarded service
//! come from `jwt-cutoff-test-support`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod algorithms;
mod bearer;
mod claims;
mod cutoff_semantics;
mod encoding;
mod jose_header;
mod sizes;
mod stores_down;
mod subjects;
mod token_types;

use jwt_cutoff::CutoffCache;
use jwt_cutoff_test_support::{CountingSource, Guarded, hs_validator};

/// A guarded HS256 service over a counting store.
pub(crate) fn counted() -> (Guarded, CountingSource, CutoffCache) {
    let source = CountingSource::default();
    let cutoffs = CutoffCache::new(source.clone());
    (Guarded::new(hs_validator(cutoffs.clone())), source, cutoffs)
}

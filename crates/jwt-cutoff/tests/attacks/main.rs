//! Adversarial tests for the core crate: every attack of the SPEC's list that applies to it, driven
//! through the real [`JwtCutoffLayer`](jwt_cutoff::JwtCutoffLayer) with hand-made tokens whose every
//! byte is chosen here. One module per topic; the keys, token builders and the guarded service
//! come from `jwt-cutoff-test-support`.
#![allow(
    clippy::panic,
    reason = "helpers outside #[test] functions (which clippy.toml already covers) fail the test this way"
)]

mod algorithms;
mod bearer;
mod claims;
mod cutoff_semantics;
mod encoding;
mod jose_header;
mod rotation;
mod sessions;
mod sizes;
mod stores_down;
mod subjects;
mod token_types;

use std::sync::Arc;

use jwt_cutoff::{CutoffCache, MemoryStore, Reason};
use jwt_cutoff_test_support::{Guarded, TestSource, guarded_over, hs_token, hs_validator, payload};

/// A guarded HS256 service over a counting store.
pub(crate) fn counted() -> (Guarded, Arc<TestSource>, CutoffCache) {
    let source = TestSource::new(MemoryStore::new());
    let (guarded, cutoffs) = guarded_over(&source);
    (guarded, source, cutoffs)
}

/// A guarded HS256 service over a memory store.
pub(crate) fn in_memory() -> (Guarded, CutoffCache) {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    (Guarded::new(hs_validator(cutoffs.clone())), cutoffs)
}

/// Each token whose payload has `claim` set to a case's value (or removed, for `None`) is refused
/// for the case's reason.
pub(crate) async fn refuses_claim_values(
    guarded: &Guarded,
    claim: &str,
    cases: &[(Option<&str>, Reason)],
) {
    for (value, reason) in cases {
        let token = hs_token(&payload(&[(claim, *value)]));
        guarded
            .refuses(&token, *reason, &format!("{claim} {value:?}"))
            .await;
    }
}

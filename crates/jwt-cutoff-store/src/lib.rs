//! Cutoffs for [jwt-cutoff](https://docs.rs/jwt-cutoff), without HTTP and without JWT: what a store
//! keeps, how it is read and written, and the cache every instance keeps in front of it.
//!
//! Each subject (user) has a [`Cutoff`]: no cutoff, valid from an instant ("log out from all
//! devices" sets it to now), or refused. A cutoff for everyone applies to all subjects, and each
//! session (one login and the tokens refreshed from it, named by the tokens' `sid`) may have one of
//! its own ("log out this device"); scopes ([`Scope`]) combine by the latest. A lookup answers a
//! subject's cutoffs in one [`SubjectCutoffs`], its sessions' included, so one cache entry and one
//! store round trip serve every token of the subject. A token is judged by the instants it claims ([`TokenInstant`]: its `iat`
//! and the `auth_time` of its login), and a cutoff's [`Verdict`] is admitted, revoked or refused.
//!
//! - [`CutoffSource`] is the store trait: `lookup`, and optionally `raise` (monotonic writes).
//!   [`MemoryStore`] implements it in memory; `jwt-cutoff-sqlx` (SQLite, PostgreSQL) and
//!   `jwt-cutoff-redis` for shared stores.
//! - [`PushChannel`] / [`PushSubscription`] let a shared store push every change to every instance.
//! - [`CutoffCache`] is one instance's cache in front of a source: coalesced, bounded lookups that
//!   fail closed, writes in force on return, pushed changes applied at once, and nothing ever
//!   lowered by a race. A [`TokenCheck`] kept beside a verified token lets the cache admit the
//!   token again without looking its subject up, while none of its cutoffs has changed.
//!
//! ```
//! use jwt_cutoff_store::{CutoffCache, MemoryStore, Timestamp, TokenInstant, Verdict};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let cutoffs = CutoffCache::new(MemoryStore::new());
//! let issued_before = TokenInstant::precise(Timestamp::now());
//! cutoffs.logout_all("alice").await?;
//! let issued_after = TokenInstant::precise(Timestamp::now());
//!
//! assert_eq!(cutoffs.check("alice", None, issued_before).await?, Verdict::Revoked);
//! assert_eq!(cutoffs.check("alice", None, issued_after).await?, Verdict::Admitted);
//! assert_eq!(cutoffs.check("bob", None, issued_before).await?, Verdict::Admitted);
//!
//! // One device: the tokens of that session (their `sid`), and only them.
//! cutoffs.revoke_session("bob", "laptop").await?;
//! assert_eq!(cutoffs.check("bob", Some("laptop"), issued_after).await?, Verdict::Revoked);
//! assert_eq!(cutoffs.check("bob", Some("phone"), issued_before).await?, Verdict::Admitted);
//! # Ok::<_, jwt_cutoff_store::SourceError>(())
//! # }).unwrap();
//! ```
//!
//! # Features
//! - `metrics`: `jwt_cutoff_cache_total{result="hit" | "miss" | "source_error"}` through the
//!   [`metrics`](https://docs.rs/metrics) facade.
//! - `testing`: the `conformance` module, a suite of checks any store runs from its own tests.

mod cache;
#[cfg(feature = "testing")]
pub mod conformance;
mod cutoff;
mod memory;
mod metrics;
mod push;
mod rotation;
mod source;
mod time;
mod token_check;

pub use cache::{CutoffCache, CutoffCacheBuilder, PushTask};
pub use cutoff::{
    Cutoff, MAX_SESSION_ID_BYTES, MAX_SUBJECT_BYTES, SubjectCutoffs, TokenInstant, Verdict,
};
pub use memory::{MemoryStore, MemorySubscription};
pub use push::{CutoffChange, PushChannel, PushSubscription};
pub use rotation::{MAX_TOKEN_ID_BYTES, RefreshTokens, Spend, Spent, check_spend};
pub use source::{
    BoxFuture, CutoffFuture, CutoffSource, DEFAULT_SESSION_RETENTION, LookupFuture, Scope,
    SourceError, check_scope, check_subject,
};
pub use time::Timestamp;
pub use token_check::TokenCheck;

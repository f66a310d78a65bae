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
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod cancellation;
mod coalescing;
mod expiry;
mod failures;
mod monotonic;
mod writes;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{Request, Response, header};
use jwt_cutoff::{JwtCutoffLayer, Validator};
use tower::ServiceBuilder;
use tower::util::BoxCloneService;

pub(crate) const STAMPEDE: usize = 1000;

pub(crate) type Guarded = BoxCloneService<Request<String>, Response<String>, Infallible>;

/// A service behind the layer; `inner_calls` counts the requests that reached it.
pub(crate) fn guarded(validator: Validator, inner_calls: &Arc<AtomicUsize>) -> Guarded {
    let inner_calls = Arc::clone(inner_calls);
    let inner = tower::service_fn(move |_request: Request<String>| {
        inner_calls.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new("inner".to_owned())) }
    });
    BoxCloneService::new(
        ServiceBuilder::new()
            .layer(JwtCutoffLayer::new(validator))
            .service(inner),
    )
}

pub(crate) fn bearer(token: &str) -> Request<String> {
    Request::get("/")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(String::new())
        .unwrap()
}

//! The cutoff cache's counters through the `metrics` facade (feature `metrics`); without the feature
//! these compile to nothing.
//!
//! - `jwt_cutoff_cache_total{result="hit" | "miss" | "source_error"}`

pub(crate) fn cache_hit() {
    count("hit");
}

pub(crate) fn cache_miss() {
    count("miss");
}

pub(crate) fn source_error() {
    count("source_error");
}

#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
fn count(result: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("jwt_cutoff_cache_total", "result" => result).increment(1);
}

//! The cutoff cache's counters through the `metrics` facade (feature `metrics`); without the feature
//! these compile to nothing.
//!
//! - `jwt_cutoff_cache_total{result="hit" | "miss" | "source_error"}`

#[cfg(feature = "metrics")]
mod enabled {
    pub(crate) fn cache_hit() {
        metrics::counter!("jwt_cutoff_cache_total", "result" => "hit").increment(1);
    }

    pub(crate) fn cache_miss() {
        metrics::counter!("jwt_cutoff_cache_total", "result" => "miss").increment(1);
    }

    pub(crate) fn source_error() {
        metrics::counter!("jwt_cutoff_cache_total", "result" => "source_error").increment(1);
    }
}

#[cfg(feature = "metrics")]
pub(crate) use enabled::*;

#[cfg(not(feature = "metrics"))]
mod disabled {
    pub(crate) fn cache_hit() {}
    pub(crate) fn cache_miss() {}
    pub(crate) fn source_error() {}
}

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::*;

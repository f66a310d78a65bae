//! Counters through the `metrics` facade (feature `metrics`); without the feature these compile to
//! nothing.
//!
//! - `jwt_cutoff_requests_total{outcome="accepted"}` and `{outcome="rejected", reason="…"}`
//! - `jwt_cutoff_cache_total{result="hit" | "miss" | "source_error"}` (the cutoff cache, counted by
//!   `jwt-cutoff-store`, whose `metrics` feature this one turns on)
//! - `jwt_cutoff_token_cache_total{result="hit" | "miss"}` (the verified-token cache)

pub(crate) fn accepted() {
    #[cfg(feature = "metrics")]
    metrics::counter!("jwt_cutoff_requests_total", "outcome" => "accepted").increment(1);
}

#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn rejected(reason: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "jwt_cutoff_requests_total",
        "outcome" => "rejected",
        "reason" => reason
    )
    .increment(1);
}

/// Counts one lookup in the verified-token cache.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn token_cache(hit: bool) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "jwt_cutoff_token_cache_total",
        "result" => if hit { "hit" } else { "miss" }
    )
    .increment(1);
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use metrics::{
        Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    };

    use crate::{
        Algorithm, CutoffCache, MemoryStore, SigningKey, TokenIssuer, Validator, VerifyingKey,
    };

    /// Keeps every counter, by name and labels, so the test can read them back.
    #[derive(Default)]
    struct Counters(Mutex<HashMap<String, Arc<AtomicU64>>>);

    struct Cell(Arc<AtomicU64>);

    impl CounterFn for Cell {
        fn increment(&self, value: u64) {
            self.0.fetch_add(value, Ordering::Relaxed);
        }
        fn absolute(&self, value: u64) {
            self.0.store(value, Ordering::Relaxed);
        }
    }

    impl Counters {
        fn get(&self, key: &str) -> u64 {
            let counters = self.0.lock().unwrap();
            counters
                .get(key)
                .map_or(0, |cell| cell.load(Ordering::Relaxed))
        }
    }

    impl Recorder for Counters {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            let mut name = key.name().to_owned();
            for label in key.labels() {
                name.push_str(&format!(",{}={}", label.key(), label.value()));
            }
            let cell = Arc::clone(self.0.lock().unwrap().entry(name).or_default());
            Counter::from_arc(Arc::new(Cell(cell)))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    #[test]
    fn outcomes_and_the_results_of_both_caches_are_counted() {
        let counters = Counters::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        metrics::with_local_recorder(&counters, || {
            runtime.block_on(async {
                let secret = b"a metrics test secret of 32 bytes or more";
                let cutoffs = CutoffCache::new(MemoryStore::new());
                let validator = Validator::builder()
                    .algorithms([Algorithm::HS256])
                    .key(VerifyingKey::hmac(secret).unwrap())
                    .build(cutoffs.clone())
                    .unwrap();
                let issuer =
                    TokenIssuer::builder(SigningKey::hmac(secret, Algorithm::HS256).unwrap())
                        .build()
                        .unwrap();
                let token = issuer.issue_access("alice", &()).unwrap().token;
                validator.validate(&token).await.unwrap();
                validator.validate(&token).await.unwrap();
                cutoffs.logout_all("alice").await.unwrap();
                validator.validate(&token).await.unwrap_err();
                validator.validate("garbage").await.unwrap_err();
            });
        });
        assert_eq!(
            counters.get("jwt_cutoff_requests_total,outcome=accepted"),
            2
        );
        assert_eq!(
            counters.get("jwt_cutoff_requests_total,outcome=rejected,reason=revoked"),
            1
        );
        assert_eq!(
            counters.get("jwt_cutoff_requests_total,outcome=rejected,reason=malformed_token"),
            1
        );
        assert_eq!(counters.get("jwt_cutoff_cache_total,result=miss"), 1);
        assert_eq!(counters.get("jwt_cutoff_cache_total,result=hit"), 2);
        // The token: a miss, then two hits (the last refused by its cutoff); "garbage": a miss.
        assert_eq!(counters.get("jwt_cutoff_token_cache_total,result=miss"), 2);
        assert_eq!(counters.get("jwt_cutoff_token_cache_total,result=hit"), 2);
    }
}

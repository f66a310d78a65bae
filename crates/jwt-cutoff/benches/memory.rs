//! Resident memory of the two caches when full: 1 000 000 subjects in the cutoff cache, then
//! 1 000 000 verified tokens (of those subjects) in the token cache. Then, for reference, the same
//! number of entries in a bare moka cache (capacity only: its leanest set-up) and in a plain
//! `HashMap`, to show how much of the cutoff cache's size is moka's own per-entry cost.
//!
//! Run with `cargo bench -p jwt-cutoff --bench memory`. Reads `VmRSS` from `/proc/self/status`,
//! so it runs on Linux only. Figures are in BENCHMARKS.md.
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::HashMap;
use std::time::Instant;

use jwt_cutoff::{
    Algorithm, CutoffCache, MemoryStore, SigningKey, TokenIssuer, Validator, VerifyingKey,
};

const ENTRIES: usize = 1_000_000;
const SECRET: &[u8] = b"a benchmark secret that is at least 32 bytes";

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line");
    kib * 1024
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Runs `fill` and prints how much resident memory it added, in all and per entry.
fn report(what: &str, fill: impl FnOnce()) {
    let before = resident_bytes();
    let started = Instant::now();
    fill();
    let added = resident_bytes() - before;
    println!(
        "{what}: {:.1} MiB resident, {:.0} bytes per entry (filled in {:.1?})",
        mib(added),
        added as f64 / ENTRIES as f64,
        started.elapsed(),
    );
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent: skip the minute of work.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let subject = |i: usize| format!("user-{i:07}");

    let cutoffs = CutoffCache::builder(MemoryStore::new())
        .max_subjects(ENTRIES as u64)
        .build();
    let validator = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .token_cache_max_bytes(1 << 30)
        .build(cutoffs.clone())
        .unwrap();
    let issuer = TokenIssuer::builder(SigningKey::hmac(SECRET, Algorithm::HS256).unwrap())
        .build()
        .unwrap();

    report(&format!("cutoff cache, {ENTRIES} subjects"), || {
        runtime.block_on(async {
            for i in 0..ENTRIES {
                cutoffs.lookup(&subject(i)).await.unwrap();
            }
        });
    });

    let mut token_bytes = 0;
    report(&format!("token cache, {ENTRIES} tokens"), || {
        runtime.block_on(async {
            for i in 0..ENTRIES {
                let token = issuer.issue_access(&subject(i), &()).unwrap().token;
                token_bytes += token.len();
                validator.validate(&token).await.unwrap();
            }
        });
    });
    println!("(tokens of {} bytes)", token_bytes / ENTRIES);

    let bare_moka = moka::sync::Cache::<String, i64>::new(ENTRIES as u64);
    report("reference: bare moka cache, capacity only", || {
        for i in 0..ENTRIES {
            bare_moka.insert(subject(i), 0);
        }
        bare_moka.run_pending_tasks();
    });
    let mut hash_map = HashMap::<Box<str>, (i64, u64)>::new();
    report("reference: HashMap<Box<str>, (i64, u64)>", || {
        for i in 0..ENTRIES {
            hash_map.insert(subject(i).into(), (0, 0));
        }
    });
    assert_eq!(hash_map.len(), ENTRIES);
}

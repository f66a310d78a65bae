//! Resident memory of the two caches when full: 1 000 000 subjects in the cutoff cache, then
//! 1 000 000 verified tokens (of those subjects) in the token cache.
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

use std::time::Instant;

use jwt_cutoff::{
    Algorithm, Cutoffs, MemoryStore, SigningKey, TokenIssuer, Validator, VerifyingKey,
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

    let cutoffs = Cutoffs::builder(MemoryStore::new())
        .max_subjects(ENTRIES as u64)
        .build();
    let validator = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).unwrap())
        .token_cache_max_bytes(1 << 30)
        .build(cutoffs.clone())
        .unwrap();
    let issuer = TokenIssuer::builder(SigningKey::hmac(SECRET, Algorithm::HS256).unwrap()).build();

    let before = resident_bytes();
    let started = Instant::now();
    runtime.block_on(async {
        for i in 0..ENTRIES {
            cutoffs.lookup(&subject(i)).await.unwrap();
        }
    });
    let with_subjects = resident_bytes();
    println!(
        "cutoff cache, {ENTRIES} subjects: resident {:.1} MiB in all, {:.1} MiB for the cache \
         ({:.0} bytes per subject; filled in {:.1?})",
        mib(with_subjects),
        mib(with_subjects - before),
        (with_subjects - before) as f64 / ENTRIES as f64,
        started.elapsed(),
    );

    let started = Instant::now();
    let mut token_bytes = 0;
    runtime.block_on(async {
        for i in 0..ENTRIES {
            let token = issuer.issue_access(&subject(i), &()).unwrap().token;
            token_bytes += token.len();
            validator.validate(&token).await.unwrap();
        }
    });
    let with_tokens = resident_bytes();
    println!(
        "token cache, {ENTRIES} tokens of {} bytes: resident {:.1} MiB in all, {:.1} MiB for the \
         cache ({:.0} bytes per token; filled in {:.1?})",
        token_bytes / ENTRIES,
        mib(with_tokens),
        mib(with_tokens - with_subjects),
        (with_tokens - with_subjects) as f64 / ENTRIES as f64,
        started.elapsed(),
    );
}

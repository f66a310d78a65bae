//! The full layer on a cutoff-cache hit against `jsonwebtoken::decode` alone, per algorithm, with
//! 100 000 subjects in the cutoff cache, the token verified in full or found in the verified-token
//! cache; and the allocations of one accepted request.
//!
//! Run with `cargo bench -p jwt-cutoff --bench layer`. Figures are in BENCHMARKS.md.
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::alloc::System;
use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jwt_cutoff::Algorithm;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use support::{Fixture, Mode, Sessions};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn report_allocations(algorithm: Algorithm, fixture: &mut Fixture) {
    const CALLS: usize = 1_000;
    for mode in Mode::ALL {
        let requests: Vec<_> = (0..CALLS).map(|_| fixture.request()).collect();
        let region = Region::new(GLOBAL);
        for request in requests {
            black_box(fixture.call(mode, request));
        }
        let layer = region.change();
        println!(
            "{algorithm}: allocations per accepted request, {}: {:.1} ({:.0} bytes)",
            mode.describe(),
            layer.allocations as f64 / CALLS as f64,
            layer.bytes_allocated as f64 / CALLS as f64,
        );
    }
    let region = Region::new(GLOBAL);
    for _ in 0..CALLS {
        fixture.decode_raw();
    }
    let raw = region.change();
    println!(
        "{algorithm}: allocations per jsonwebtoken::decode: {:.1} ({:.0} bytes)",
        raw.allocations as f64 / CALLS as f64,
        raw.bytes_allocated as f64 / CALLS as f64,
    );
}

/// The layer's time over raw decoding, measured in alternating rounds so that both see the same
/// machine: on a shared VM, drift between two criterion groups run a minute apart is larger than
/// the difference being measured. Prints the median ratio and the 10th and 90th percentiles.
fn report_paired_ratio(
    algorithm: Algorithm,
    mode: Mode,
    sessions: Sessions,
    fixture: &mut Fixture,
) {
    const ROUNDS: usize = 101;
    let per_round = if algorithm.name().starts_with("HS") {
        2_000
    } else {
        40
    };
    let authorization = fixture.authorization();
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            let requests: Vec<_> = (0..per_round)
                .map(|_| support::request(&authorization))
                .collect();
            let raw = |fixture: &mut Fixture| {
                let started = Instant::now();
                (0..per_round).for_each(|_| fixture.decode_raw());
                started.elapsed()
            };
            let layer = |fixture: &mut Fixture, requests: Vec<_>| {
                let started = Instant::now();
                requests.into_iter().for_each(|request| {
                    black_box(fixture.call(mode, request));
                });
                started.elapsed()
            };
            let (raw, layer) = if round % 2 == 0 {
                let raw = raw(fixture);
                (raw, layer(fixture, requests))
            } else {
                let layer = layer(fixture, requests);
                (raw(fixture), layer)
            };
            layer.as_secs_f64() / raw.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "{algorithm}: {}{} / jsonwebtoken::decode, paired over {ROUNDS} rounds: median {:.4} \
         (p10 {:.4}, p90 {:.4})",
        mode.describe(),
        sessions.describe(),
        ratios[ROUNDS / 2],
        ratios[ROUNDS / 10],
        ratios[ROUNDS * 9 / 10],
    );
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let cutoffs = support::warm_cutoffs(&runtime);
    let _guard = runtime.enter();
    // Sessions are measured on HS256, where the layer's own costs show most (the signature is
    // cheapest); they change nothing the algorithm does.
    for (algorithm, sessions) in [
        (Algorithm::HS256, Sessions::Without),
        (Algorithm::HS256, Sessions::With),
        (Algorithm::RS256, Sessions::Without),
        (Algorithm::ES256, Sessions::Without),
        (Algorithm::EdDSA, Sessions::Without),
    ] {
        let mut fixture = Fixture::new(&cutoffs, algorithm, sessions);
        report_allocations(algorithm, &mut fixture);
        for mode in Mode::ALL {
            report_paired_ratio(algorithm, mode, sessions, &mut fixture);
        }
        let mut group = c.benchmark_group(format!("{algorithm}{}", sessions.describe()));
        if sessions == Sessions::Without {
            group.bench_function("jsonwebtoken::decode", |b| b.iter(|| fixture.decode_raw()));
        }
        let authorization = fixture.authorization();
        for mode in Mode::ALL {
            group.bench_function(mode.describe(), |b| {
                b.iter_batched(
                    || support::request(&authorization),
                    |request| fixture.call(mode, request),
                    BatchSize::SmallInput,
                );
            });
        }
        group.finish();
    }
}

criterion_group!(layer, benches);
criterion_main!(layer);

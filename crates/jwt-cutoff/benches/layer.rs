//! The full layer on a cutoff-cache hit against `jsonwebtoken::decode` alone, per algorithm, with
//! 100 000 subjects in the cutoff cache; and the allocations of one accepted request.
//!
//! Run with `cargo bench -p jwt-cutoff --bench layer`. Figures are in BENCHMARKS.md.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::alloc::System;
use std::convert::Infallible;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use futures_util::FutureExt as _;
use http::{HeaderValue, Request, Response, StatusCode, header};
use jwt_cutoff::{
    Algorithm, Cutoffs, JwtCutoffLayer, MemoryStore, SigningKey, TokenIssuer, Validator, Verified,
    VerifyingKey,
};
use serde::Deserialize;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Service, ServiceBuilder, ServiceExt};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SUBJECTS: usize = 100_000;
const SECRET: &[u8] = b"a benchmark secret that is at least 32 bytes";

/// What raw decoding deserializes: the registered claims the layer checks too.
#[derive(Deserialize)]
#[allow(dead_code)]
struct RawClaims {
    sub: String,
    iat: f64,
    exp: u64,
    token_use: String,
}

struct Keys {
    algorithm: Algorithm,
    signing: SigningKey,
    verifying: VerifyingKey,
    raw: jsonwebtoken::DecodingKey,
}

fn keys(algorithm: Algorithm) -> Keys {
    let (signing, verifying, raw) = match algorithm {
        Algorithm::HS256 => (
            SigningKey::hmac(SECRET, algorithm).unwrap(),
            VerifyingKey::hmac(SECRET).unwrap(),
            jsonwebtoken::DecodingKey::from_secret(SECRET).unwrap(),
        ),
        Algorithm::RS256 => {
            let public = include_bytes!("../tests/keys/rsa_public.pem");
            (
                SigningKey::rsa_pem(include_bytes!("../tests/keys/rsa_private.pem"), algorithm)
                    .unwrap(),
                VerifyingKey::rsa_pem(public).unwrap(),
                jsonwebtoken::DecodingKey::from_rsa_pem(public).unwrap(),
            )
        }
        Algorithm::ES256 => {
            let public = include_bytes!("../tests/keys/ec_public.pem");
            (
                SigningKey::ec_pem(include_bytes!("../tests/keys/ec_private.pem"), algorithm)
                    .unwrap(),
                VerifyingKey::ec_pem(public).unwrap(),
                jsonwebtoken::DecodingKey::from_ec_pem(public).unwrap(),
            )
        }
        Algorithm::EdDSA => {
            let public = include_bytes!("../tests/keys/ed_public.pem");
            (
                SigningKey::ed_pem(include_bytes!("../tests/keys/ed_private.pem")).unwrap(),
                VerifyingKey::ed_pem(public).unwrap(),
                jsonwebtoken::DecodingKey::from_ed_pem(public).unwrap(),
            )
        }
        other => panic!("no benchmark key for {other}"),
    };
    Keys {
        algorithm,
        signing,
        verifying,
        raw,
    }
}

/// A cutoff cache holding `SUBJECTS` subjects, the one the token names among them.
fn warm_cutoffs(runtime: &tokio::runtime::Runtime) -> Cutoffs {
    let cutoffs = Cutoffs::builder(MemoryStore::new())
        .max_subjects(2 * SUBJECTS as u64)
        .build();
    runtime.block_on(async {
        for i in 0..SUBJECTS {
            cutoffs.lookup(&format!("user-{i}")).await.unwrap();
        }
    });
    cutoffs
}

fn request(authorization: &HeaderValue) -> Request<()> {
    let mut request = Request::new(());
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, authorization.clone());
    request
}

fn bench_algorithm(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    cutoffs: &Cutoffs,
    algorithm: Algorithm,
) {
    let keys = keys(algorithm);
    let issuer = TokenIssuer::builder(keys.signing.clone()).build();
    let token = issuer.issue_access("user-4242", &()).unwrap().token;
    let authorization = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();

    let validator = Validator::builder()
        .algorithms([keys.algorithm])
        .key(keys.verifying.clone())
        .build(cutoffs.clone())
        .unwrap();
    let mut service = ServiceBuilder::new()
        .layer(JwtCutoffLayer::new(validator))
        .service_fn(|request: Request<()>| async move {
            black_box(request.extensions().get::<Verified>());
            Ok::<_, Infallible>(Response::new(()))
        });
    let mut validation = jsonwebtoken::Validation::new(keys.algorithm.to_string().parse().unwrap());
    validation.leeway = 30;

    let mut call = |request: Request<()>| {
        let service = service.ready().now_or_never().unwrap().unwrap();
        // On a cutoff-cache hit the whole request completes without yielding.
        service
            .call(request)
            .now_or_never()
            .expect("cache hit")
            .unwrap()
    };
    let _guard = runtime.enter();
    assert_eq!(call(request(&authorization)).status(), StatusCode::OK);

    report_allocations(
        algorithm,
        &mut call,
        &authorization,
        &token,
        &keys.raw,
        &validation,
    );

    let mut group = c.benchmark_group(algorithm.to_string());
    group.bench_function("jsonwebtoken::decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<RawClaims>(black_box(&token), &keys.raw, &validation).unwrap()
        });
    });
    group.bench_function("layer, cutoff cached", |b| {
        b.iter_batched(|| request(&authorization), &mut call, BatchSize::SmallInput);
    });
    group.finish();
}

fn report_allocations(
    algorithm: Algorithm,
    call: &mut impl FnMut(Request<()>) -> Response<()>,
    authorization: &HeaderValue,
    token: &str,
    raw_key: &jsonwebtoken::DecodingKey,
    validation: &jsonwebtoken::Validation,
) {
    const CALLS: usize = 1_000;
    let requests: Vec<_> = (0..CALLS).map(|_| request(authorization)).collect();
    let region = Region::new(GLOBAL);
    for request in requests {
        black_box(call(request));
    }
    let layer = region.change();
    let region = Region::new(GLOBAL);
    for _ in 0..CALLS {
        black_box(jsonwebtoken::decode::<RawClaims>(token, raw_key, validation).unwrap());
    }
    let raw = region.change();
    println!(
        "{algorithm}: allocations per accepted request through the layer: {:.1} ({:.0} bytes); \
         per jsonwebtoken::decode: {:.1} ({:.0} bytes)",
        layer.allocations as f64 / CALLS as f64,
        layer.bytes_allocated as f64 / CALLS as f64,
        raw.allocations as f64 / CALLS as f64,
        raw.bytes_allocated as f64 / CALLS as f64,
    );
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let cutoffs = warm_cutoffs(&runtime);
    for algorithm in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        bench_algorithm(c, &runtime, &cutoffs, algorithm);
    }
}

criterion_group!(layer, benches);
criterion_main!(layer);

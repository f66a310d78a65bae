//! `jwks`: see [`jwt_cutoff_fuzz::check_jwks`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| jwt_cutoff_fuzz::check_jwks(data));

//! `authorization_header`: see [`jwt_cutoff_fuzz::check_headers`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| jwt_cutoff_fuzz::check_headers(data));

//! `logout_token`: see [`jwt_cutoff_fuzz::check_logout_token`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| jwt_cutoff_fuzz::check_logout_token(data));

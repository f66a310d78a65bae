//! `numeric_date`: see [`jwt_cutoff_fuzz::check_numeric_date`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| jwt_cutoff_fuzz::check_numeric_date(data));

//! libFuzzer entry for the `config` target; the check is `medsettle_fuzz_harness::config`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| medsettle_fuzz_harness::config::check(data));

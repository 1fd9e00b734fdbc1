//! libFuzzer entry for the `api_bodies` target; the check is `medsettle_fuzz_harness::api_bodies`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| medsettle_fuzz_harness::api_bodies::check(data));

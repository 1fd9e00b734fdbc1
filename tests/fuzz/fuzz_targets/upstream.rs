//! libFuzzer entry for the `upstream` target; the check is `medsettle_fuzz_harness::upstream`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| medsettle_fuzz_harness::upstream::check(data));

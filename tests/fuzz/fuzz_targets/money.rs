//! libFuzzer entry for the `money` target; the check is `medsettle_fuzz_harness::money`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| medsettle_fuzz_harness::money::check(data));

//! libFuzzer entry for the `essc_mint` target; the check is `medsettle_fuzz_harness::essc_mint`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| medsettle_fuzz_harness::essc_mint::check(data));

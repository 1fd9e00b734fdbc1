//! libFuzzer entry for the `qr_scan` target; the check is `medsettle_fuzz_harness::qr_scan`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| medsettle_fuzz_harness::qr_scan::check(data));

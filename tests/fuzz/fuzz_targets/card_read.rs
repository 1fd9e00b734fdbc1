//! libFuzzer entry for the `card_read` target; the check is `medsettle_fuzz_harness::card_read`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| medsettle_fuzz_harness::card_read::check(data));

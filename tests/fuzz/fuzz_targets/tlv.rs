//! libFuzzer entry for the `tlv` target; the check is `medsettle_fuzz_harness::tlv`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| medsettle_fuzz_harness::tlv::check(data));

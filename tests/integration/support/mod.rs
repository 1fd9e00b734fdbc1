//! The shared test support (`medsettle-test-support`, also used by the benchmarks) and the
//! headless-browser driver only the status-page tests need.

pub use medsettle_test_support::*;

pub mod browser;

/// The `medsettle` binary under test (the same file as [`process::bin`]).
pub const BIN: &str = env!("CARGO_BIN_EXE_medsettle");
pub mod clinic;

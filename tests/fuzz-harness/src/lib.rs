//! The checks behind the libFuzzer targets in `tests/fuzz/fuzz_targets/`: one function per
//! target taking the raw input, calling the same core code the daemon runs, and panicking when
//! an invariant breaks (a panic is what libFuzzer reports as a crash).
//!
//! It lives in its own workspace crate so the same code runs in two places: under libFuzzer
//! (`scripts/fuzz`) and in plain `cargo test`, where `tests/replay.rs` replays every
//! regression input under `fixtures/fuzz/TARGET/`. It must not read files, the clock or the
//! environment, keep state between inputs, or log: each check is a pure function of its input.

#![forbid(unsafe_code)]

pub mod api_bodies;
pub mod card_read;
pub mod config;
pub mod essc_mint;
pub mod money;
pub mod qr_scan;
pub mod tlv;
pub mod upstream;

/// A target's check: panics when an invariant breaks.
pub type Check = fn(&[u8]);

/// Every target: its name (the fuzz target's and the `fixtures/fuzz/` directory's) and check.
pub const TARGETS: &[(&str, Check)] = &[
    ("api_bodies", api_bodies::check),
    ("card_read", card_read::check),
    ("config", config::check),
    ("essc_mint", essc_mint::check),
    ("money", money::check),
    ("qr_scan", qr_scan::check),
    ("tlv", tlv::check),
    ("upstream", upstream::check),
];

/// The check of the target called `name`.
pub fn target(name: &str) -> Option<Check> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

//! The `medsettle` binary: parse the command line and hand over to the core library.
//!
//! This file and `src/cli/` form the binary package `medsettle-daemon` (root `Cargo.toml`);
//! everything else under `src/` is the core library package `medsettle` (`src/Cargo.toml`).
//! The split lets the binary link the driver crates, which themselves depend on the core.
#![forbid(unsafe_code)]

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    cli::Cli::parse().execute()
}

//! The `medsettle` binary: parse the command line and hand over to the library (`src/cli/`).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    medsettle::cli::main()
}

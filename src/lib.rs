//! medsettle: the medical-insurance settlement terminal daemon.
//!
//! The library holds everything but `main` (`src/main.rs` calls [`cli::main`]): the command
//! line (`cli`), the daemon's wiring (`daemon`), its typed
//! configuration (`config`), the SQLite store (`store`), the local API (`api`), the card
//! application as pure code (`card`), credential validation (`credential`), QR credentials
//! (`qr`: camera-frame decoding, e-SSC verification, e-voucher syntax) and logging with PII
//! masking (`telemetry`), and the optional fleet ledger on PostgreSQL (`fleet`). Edges to hardware and the network live in the `drivers/` crates.
#![forbid(unsafe_code)]

/// mimalloc instead of glibc's malloc: a sale step builds and drops many small JSON values
/// and strings on two runtime threads and the store writer, and glibc's allocator spent a
/// sixth of the daemon's CPU in `_int_malloc`, `malloc_consolidate` and `free` under the visit
/// benchmark (`cargo bench --bench visit_api`; numbers in benches/README.md). Declared here,
/// not in `main.rs`, so the benchmarks and tests that run the daemon in-process measure the
/// allocator it ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod api;
pub mod card;
pub mod cli;
pub mod config;
pub mod credential;
pub mod daemon;
pub mod doctor;
/// [`UserFacing`](error::UserFacing), shared with every crate (`medsettle-base`).
pub mod error {
    pub use medsettle_base::UserFacing;
}
pub mod events;
pub mod fleet;
pub mod qr;
pub mod secret;
pub mod services;
pub mod settle;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod terminal;
pub mod upstream;
pub mod work;

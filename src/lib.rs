//! medsettle: the medical-insurance settlement terminal daemon.
//!
//! The library holds everything but `main` (`src/main.rs` calls [`cli::main`]): the command
//! line (`cli`), the daemon's wiring (`daemon`), its typed
//! configuration (`config`), the SQLite store (`store`), the local API (`api`), the card
//! application as pure code (`card`), credential validation (`credential`), QR credentials
//! (`qr`: camera-frame decoding, e-SSC verification, e-voucher syntax) and logging with PII
//! masking (`telemetry`), and the optional fleet ledger on PostgreSQL (`fleet`). Edges to hardware and the network live in the `drivers/` crates.
#![forbid(unsafe_code)]

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

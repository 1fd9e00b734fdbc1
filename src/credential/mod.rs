//! Credentials: what a patient presents and what a sale is made with.
//!
//! - The acceptance rules for a card that was read correctly: GB 11643 ID numbers
//!   (`idnumber`), GB/T 2260 region codes shipped as data (`region`), the card blacklist
//!   (`blacklist`) and the rules with their stable error codes (`validate`, `error`); the
//!   e-voucher code's local syntax (`evoucher`).
//! - [`Credential`] (`kind`): the credential a sale document holds, personal data in the
//!   masked `medsettle_base::pii` newtypes.
//! - [`Credentials`] (`cache`): what this terminal just read or scanned, held under a
//!   `credential_id`; [`ScanResult`] (`scan`), one processed code.
//! - [`Intake`] (`intake`): the one "wait for the next credential", for the API and the kiosk.
//!
//! Below `card`, `qr` and `settle`: this module imports none of them (only the pure crates),
//! does no card or network I/O, and takes the clock as a parameter; the only file read is the
//! blacklist, on request.

pub mod blacklist;
pub mod cache;
pub mod error;
pub mod evoucher;
pub mod idnumber;
pub mod intake;
pub mod kind;
pub mod region;
pub mod scan;
pub mod validate;

pub use blacklist::{Blacklist, BlacklistError};
pub use cache::{Credentials, Fresh};
pub use error::CredentialError;
pub use evoucher::EVoucherCode;
pub use intake::{CardSource, Intake, IntakeError, Presented, Want};
pub use kind::{BearerToken, Credential};
pub use scan::ScanResult;
pub use validate::{Policy, problems, today_in_china, validate};

//! Credential validation: whether a card that was read correctly may be used for settlement.
//! GB 11643 ID numbers (`idnumber`), GB/T 2260 region codes shipped as data (`region`), the
//! card blacklist (`blacklist`) and the acceptance rules with their stable error codes
//! (`validate`, `error`).
//!
//! Pure: no card I/O (that is `card`), the clock is a parameter, and the only file read is the
//! blacklist, on request. Other credential kinds (e-SSC QR, e-voucher) will sit beside these.

pub mod blacklist;
pub mod error;
pub mod idnumber;
pub mod region;
pub mod validate;

pub use blacklist::{Blacklist, BlacklistError};
pub use error::CredentialError;
pub use validate::{Policy, problems, today_in_china, validate};

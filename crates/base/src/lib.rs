//! The vocabulary every medsettle crate shares, with no I/O: [`UserFacing`] (a stable code and
//! zh/en messages for anything a person sees), personal-data masking ([`pii`]) and the wrappers
//! that hold personal data masked in `Debug`/`Display` ([`person`]), the citizen-ID check
//! character ([`idnumber`]), and money: [`Fen`] (integer fen, never `f64`), [`Qty`] and
//! [`Price`] for fee lines, all three over the one exact [`decimal`] parser.
#![forbid(unsafe_code)]

pub mod decimal;
pub mod idnumber;
pub mod money;
pub mod person;
pub mod pii;
pub mod quantity;
mod user_facing;

pub use decimal::DecimalError;
pub use money::{Fen, MoneyError};
pub use quantity::{Price, Qty, QuantityError};
pub use user_facing::UserFacing;

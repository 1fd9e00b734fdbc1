//! The vocabulary every medsettle crate shares, with no I/O: [`UserFacing`] (a stable code and
//! zh/en messages for anything a person sees), personal data ([`pii`]: the newtypes that hold
//! it masked in `Debug`/`Display`, and the masking helpers), the citizen-ID check
//! character ([`idnumber`]), and money: [`Fen`] (integer fen, never `f64`), [`Qty`] and
//! [`Price`] for fee lines, all three over the one exact [`decimal`] parser.
#![forbid(unsafe_code)]

pub mod decimal;
pub mod idnumber;
pub mod money;
pub mod pii;
pub mod quantity;
mod user_facing;

/// The personal-data newtypes under their first name (`medsettle_base::person::IdNumber`).
pub use pii as person;

pub use decimal::DecimalError;
pub use money::{Fen, MoneyError};
pub use quantity::{Price, Qty, QuantityError};
pub use user_facing::UserFacing;

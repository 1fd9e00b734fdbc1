//! Money as integer fen (分): the only amount type of the upstream client.
//!
//! The platform writes amounts as decimal yuan with up to 2 places, sometimes as a JSON string
//! (`"12.30"`), sometimes as a JSON number (`12.3`). [`Fen`] parses both into an `i64` count of
//! fen and writes the canonical string form (`"12.30"`). It must never hold or compute money in
//! binary floating point.
//!
//! Parsing is [`decimal`](crate::decimal)'s, at scale 2: a JSON number with a fraction is read
//! through its shortest round-trip text and accepted only below 10^13 yuan (13 integer digits
//! and 2 decimals, within the 15 significant digits that text keeps exact); strings and integer
//! numbers are exact over the whole `i64` range. An exponent inside a string is refused; in a
//! number token it cannot be told apart from plain notation and is accepted when exact.
//!
//! Writing choice: amounts are serialised as strings with exactly 2 decimals. A JSON number
//! keeping the trailing zero (`12.30`) cannot be produced without `arbitrary_precision`, and
//! upstream.md allows either form.

use std::fmt;
use std::str::FromStr;

use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};

use crate::decimal::{DecimalError, ScaledVisitor, format_scaled, parse_scaled};

/// An amount in fen (1/100 yuan). Negative amounts occur in reversals and refunds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fen(pub i64);

/// Why an amount was refused.
pub type MoneyError = DecimalError;

/// Largest magnitude (in yuan) accepted from a JSON number with a fraction: 13 integer digits
/// plus 2 decimals stay within the 15 significant digits an `f64` round-trips.
const EXACT_NUMBER_LIMIT_YUAN: f64 = 1e13;

impl Fen {
    pub const ZERO: Fen = Fen(0);

    pub const SCALE: u32 = 2;

    /// Parses decimal yuan text: optional `-`, at least one digit, optional `.` and 1–2 digits.
    pub fn parse_yuan(text: &str) -> Result<Fen, MoneyError> {
        parse_scaled(text, Self::SCALE).map(Fen)
    }

    /// The canonical platform text: `-0.50`, `0.00`, `12.30`.
    pub fn to_yuan_string(self) -> String {
        self.to_string()
    }

    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }

    pub fn checked_sub(self, other: Fen) -> Option<Fen> {
        self.0.checked_sub(other.0).map(Fen)
    }

    /// Sum of amounts, `None` on overflow.
    pub fn checked_sum<I: IntoIterator<Item = Fen>>(items: I) -> Option<Fen> {
        items.into_iter().try_fold(Fen::ZERO, Fen::checked_add)
    }
}

impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_scaled(self.0, Self::SCALE, f)
    }
}

impl FromStr for Fen {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fen::parse_yuan(s)
    }
}

impl Serialize for Fen {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScaledVisitor {
            parse: Fen::parse_yuan,
            exact_limit: EXACT_NUMBER_LIMIT_YUAN,
            expecting: "an amount in yuan with at most 2 decimals, as a string or a number",
        })
    }
}

#[cfg(test)]
mod tests;

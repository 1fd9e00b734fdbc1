//! Money as integer fen (分): the only amount type of the upstream client.
//!
//! The platform writes amounts as decimal yuan with up to 2 places, sometimes as a JSON string
//! (`"12.30"`), sometimes as a JSON number (`12.3`). [`Fen`] parses both into an `i64` count of
//! fen and writes the canonical string form (`"12.30"`). It must never hold or compute money in
//! binary floating point.
//!
//! Parsing choice: this workspace builds `serde_json` without `arbitrary_precision` (that
//! feature would change number handling for every crate in the build), so serde hands a JSON
//! number with a fraction to [`Fen`]'s visitor as an `f64`. The visitor never computes with it:
//! it formats the `f64` with Rust's shortest round-trip `Display` and parses that text. Every
//! decimal with at most 15 significant digits survives that trip exactly, so number-form
//! amounts are accepted only below 10^13 yuan (13 integer digits + 2 decimals) and refused
//! above, where the text could differ from what the platform wrote. Strings and integer
//! numbers are exact over the whole `i64` range. An exponent inside a string is refused; in a
//! number token it cannot be told apart from plain notation and is accepted when exact.
//!
//! Writing choice: amounts are serialised as strings with exactly 2 decimals. A JSON number
//! keeping the trailing zero (`12.30`) cannot be produced without `arbitrary_precision`, and
//! upstream.md allows either form.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// An amount in fen (1/100 yuan). Negative amounts occur in reversals and refunds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fen(pub i64);

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount is empty")]
    Empty,
    #[error("amount {0:?} is not a plain decimal (digits, optional '-' and '.')")]
    Syntax(String),
    #[error("amount {0:?} has more than 2 decimal places")]
    TooManyDecimals(String),
    #[error("amount {0:?} is outside the i64 fen range")]
    OutOfRange(String),
    #[error("amount {0} as a JSON number is not exact; the platform must send it as a string")]
    Inexact(String),
}

/// Largest magnitude (in yuan) accepted from a JSON number with a fraction: 13 integer digits
/// plus 2 decimals stay within the 15 significant digits an `f64` round-trips.
const EXACT_NUMBER_LIMIT_YUAN: f64 = 1e13;

impl Fen {
    pub const ZERO: Fen = Fen(0);

    /// Parses decimal yuan text: optional `-`, at least one digit, optional `.` and 1–2 digits.
    pub fn parse_yuan(text: &str) -> Result<Fen, MoneyError> {
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
            return Err(MoneyError::Syntax(text.to_owned()));
        }
        let frac = frac.unwrap_or("");
        if frac.len() > 2 {
            return Err(MoneyError::TooManyDecimals(text.to_owned()));
        }
        let out_of_range = || MoneyError::OutOfRange(text.to_owned());
        let int = int.trim_start_matches('0');
        if int.len() > 20 {
            return Err(out_of_range());
        }
        let mut magnitude: i128 = 0;
        for b in int
            .bytes()
            .chain(frac.bytes())
            .chain("00".bytes().take(2 - frac.len()))
        {
            magnitude = magnitude * 10 + i128::from(b - b'0');
        }
        let value = if negative { -magnitude } else { magnitude };
        i64::try_from(value).map(Fen).map_err(|_| out_of_range())
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
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
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

struct FenVisitor;

impl Visitor<'_> for FenVisitor {
    type Value = Fen;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an amount in yuan with at most 2 decimals, as a string or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Fen, E> {
        Fen::parse_yuan(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Fen, E> {
        v.checked_mul(100)
            .map(Fen)
            .ok_or_else(|| E::custom(MoneyError::OutOfRange(v.to_string())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Fen, E> {
        i64::try_from(v)
            .ok()
            .and_then(|v| v.checked_mul(100))
            .map(Fen)
            .ok_or_else(|| E::custom(MoneyError::OutOfRange(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Fen, E> {
        // Only the shortest round-trip text of the number is used, never its binary value.
        let text = format!("{v}");
        if !v.is_finite() || v.abs() >= EXACT_NUMBER_LIMIT_YUAN {
            return Err(E::custom(MoneyError::Inexact(text)));
        }
        Fen::parse_yuan(&text).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Fen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FenVisitor)
    }
}

#[cfg(test)]
#[path = "money_tests.rs"]
mod tests;

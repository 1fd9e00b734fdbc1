//! Exact fixed-point quantities and unit prices of fee lines: [`Qty`] (`cnt`, 4 decimals) and
//! [`Price`] (`pric`, 6 decimals), and the one place a line amount is computed from them.
//!
//! They follow [`Fen`]'s rules: an `i64` count of the smallest unit, parsed from a JSON string
//! or number, written as a string with all its decimals (`"1.5000"`, `"3.333333"`), never held
//! or computed in binary floating point. A JSON number with a fraction is read through its
//! shortest round-trip text and accepted only within 15 significant digits (see `money`).
//! More decimals than the scale are refused, never rounded: the only rounding is
//! [`line_amount`] (`cnt × pric` to the fen, half away from zero). A unit price is never
//! negative; a quantity may be (some provinces write returned goods as negative lines).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::money::Fen;

/// A quantity in 1/10000 units (`cnt`, 4 decimals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Qty(pub i64);

/// A unit price in 1/1000000 yuan (`pric`, 6 decimals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(pub i64);

/// Why a quantity or a price was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("value is empty")]
    Empty,
    #[error("value {0:?} is not a plain decimal (digits, optional '-' and '.')")]
    Syntax(String),
    #[error("value {text:?} has more than {max} decimal places")]
    TooManyDecimals { text: String, max: u32 },
    #[error("value {0:?} is negative")]
    Negative(String),
    #[error("value {0:?} is out of range")]
    OutOfRange(String),
    #[error("value {0} as a JSON number is not exact; it must be sent as a string")]
    Inexact(String),
}

impl Qty {
    pub const SCALE: u32 = 4;
    pub const ONE: Qty = Qty(10_000);

    /// Parses `1`, `1.5`, `-2.0000`; at most 4 decimals.
    pub fn parse(text: &str) -> Result<Qty, QuantityError> {
        parse_scaled(text, Self::SCALE).map(Qty)
    }
}

impl Price {
    pub const SCALE: u32 = 6;

    /// Parses `12.5`, `3.333333`; at most 6 decimals, never negative.
    pub fn parse(text: &str) -> Result<Price, QuantityError> {
        let value = parse_scaled(text, Self::SCALE)?;
        if value < 0 {
            return Err(QuantityError::Negative(text.to_owned()));
        }
        Ok(Price(value))
    }
}

/// `cnt × pric` rounded to the fen, half away from zero; `None` beyond the `i64` fen range.
pub fn line_amount(cnt: Qty, pric: Price) -> Option<Fen> {
    // 10^-4 × 10^-6 yuan = 10^-10 yuan; a fen is 10^-2 yuan.
    const DIVISOR: i128 = 100_000_000;
    let product = i128::from(cnt.0) * i128::from(pric.0);
    let (quotient, remainder) = (product / DIVISOR, product % DIVISOR);
    let rounded = if remainder.abs() * 2 >= DIVISOR {
        quotient + product.signum()
    } else {
        quotient
    };
    i64::try_from(rounded).ok().map(Fen)
}

/// Decimal text to an integer count of `10^-scale` units; exact or refused.
fn parse_scaled(text: &str, scale: u32) -> Result<i64, QuantityError> {
    if text.is_empty() {
        return Err(QuantityError::Empty);
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
        return Err(QuantityError::Syntax(text.to_owned()));
    }
    let frac = frac.unwrap_or("");
    if frac.len() > scale as usize {
        return Err(QuantityError::TooManyDecimals {
            text: text.to_owned(),
            max: scale,
        });
    }
    let out_of_range = || QuantityError::OutOfRange(text.to_owned());
    let int = int.trim_start_matches('0');
    if int.len() > 20 {
        return Err(out_of_range());
    }
    let padding = scale as usize - frac.len();
    let mut magnitude: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        magnitude = magnitude * 10 + i128::from(b - b'0');
    }
    magnitude *= 10i128.pow(padding as u32);
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).map_err(|_| out_of_range())
}

fn format_scaled(value: i64, scale: u32, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    let unit = 10u64.pow(scale);
    let width = scale as usize;
    write!(f, "{sign}{}.{:0width$}", abs / unit, abs % unit)
}

impl fmt::Display for Qty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_scaled(self.0, Self::SCALE, f)
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_scaled(self.0, Self::SCALE, f)
    }
}

impl FromStr for Qty {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Qty::parse(s)
    }
}

impl FromStr for Price {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Price::parse(s)
    }
}

impl Serialize for Qty {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for Price {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Reads a string or a number as decimal text, then hands it to `parse`.
struct ScaledVisitor<T> {
    parse: fn(&str) -> Result<T, QuantityError>,
    /// Beyond this magnitude a JSON number with a fraction may not be exact in an `f64`.
    exact_limit: f64,
}

impl<T> Visitor<'_> for ScaledVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal quantity or price, as a string or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        (self.parse)(&v.to_string()).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        (self.parse)(&v.to_string()).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // Only the shortest round-trip text of the number is used, never its binary value.
        let text = format!("{v}");
        if !v.is_finite() || v.abs() >= self.exact_limit {
            return Err(E::custom(QuantityError::Inexact(text)));
        }
        (self.parse)(&text).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Qty {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScaledVisitor {
            parse: Qty::parse,
            exact_limit: 1e11, // 11 integer digits + 4 decimals
        })
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScaledVisitor {
            parse: Price::parse,
            exact_limit: 1e9, // 9 integer digits + 6 decimals
        })
    }
}

#[cfg(test)]
#[path = "quantity_tests.rs"]
mod tests;

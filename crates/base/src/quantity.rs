//! Exact fixed-point quantities and unit prices of fee lines: [`Qty`] (`cnt`, 4 decimals) and
//! [`Price`] (`pric`, 6 decimals), and the one place a line amount is computed from them.
//!
//! Both are [`decimal`](crate::decimal) numbers like [`Fen`]: an `i64` count of the smallest
//! unit, written as a string with all its decimals (`"1.5000"`, `"3.333333"`), never held or
//! computed in binary floating point. More decimals than the scale are refused, never rounded: the only rounding is
//! [`line_amount`] (`cnt × pric` to the fen, half away from zero). A unit price is never
//! negative; a quantity may be (some provinces write returned goods as negative lines).

use std::fmt;
use std::str::FromStr;

use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};

use crate::decimal::{DecimalError, ScaledVisitor, format_scaled, parse_scaled};
use crate::money::Fen;

/// A quantity in 1/10000 units (`cnt`, 4 decimals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Qty(pub i64);

/// A unit price in 1/1000000 yuan (`pric`, 6 decimals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(pub i64);

/// Why a quantity or a price was refused.
pub type QuantityError = DecimalError;

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

impl<'de> Deserialize<'de> for Qty {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScaledVisitor {
            parse: Qty::parse,
            exact_limit: 1e11, // 11 integer digits + 4 decimals
            expecting: "a quantity with at most 4 decimals, as a string or a number",
        })
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScaledVisitor {
            parse: Price::parse,
            exact_limit: 1e9, // 9 integer digits + 6 decimals
            expecting: "a unit price with at most 6 decimals, as a string or a number",
        })
    }
}

#[cfg(test)]
mod tests;

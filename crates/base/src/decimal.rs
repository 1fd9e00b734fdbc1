//! The one decimal parser and printer: exact fixed-point numbers as an `i64` count of
//! `10^-scale` units. [`Fen`](crate::Fen) (scale 2), [`Qty`](crate::Qty) (4) and
//! [`Price`](crate::Price) (6) are thin types over it; nothing else in the workspace parses a
//! decimal.
//!
//! Text: optional `-`, at least one digit, optional `.` and at most `scale` digits; more
//! decimals are refused, never rounded. JSON: a string is that text; an integer number is
//! exact; a number with a fraction arrives from serde as an `f64` (the workspace builds
//! `serde_json` without `arbitrary_precision`, which would change number handling for every
//! crate), and is read through its shortest round-trip text, never its binary value, and
//! accepted only below a limit where that text is the one the sender wrote (15 significant
//! digits). Nothing here computes in floating point.

use std::fmt;

use serde::de::{self, Visitor};

/// Why a decimal was refused. The messages never say more than the text itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
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

/// Decimal text to an integer count of `10^-scale` units; exact or refused.
pub fn parse_scaled(text: &str, scale: u32) -> Result<i64, DecimalError> {
    if text.is_empty() {
        return Err(DecimalError::Empty);
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
        return Err(DecimalError::Syntax(text.to_owned()));
    }
    let frac = frac.unwrap_or("");
    if frac.len() > scale as usize {
        return Err(DecimalError::TooManyDecimals {
            text: text.to_owned(),
            max: scale,
        });
    }
    let out_of_range = || DecimalError::OutOfRange(text.to_owned());
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

/// `value` units of `10^-scale` with all `scale` decimals: `-0.50`, `1.5000`.
pub fn format_scaled(value: i64, scale: u32, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    let unit = 10u64.pow(scale);
    let width = scale as usize;
    write!(f, "{sign}{}.{:0width$}", abs / unit, abs % unit)
}

/// Reads a JSON string or number as decimal text, then hands it to `parse`.
pub(crate) struct ScaledVisitor<T> {
    pub parse: fn(&str) -> Result<T, DecimalError>,
    /// Beyond this magnitude a JSON number with a fraction may not be exact in an `f64`.
    pub exact_limit: f64,
    pub expecting: &'static str,
}

impl<T> Visitor<'_> for ScaledVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
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
            return Err(E::custom(DecimalError::Inexact(text)));
        }
        (self.parse)(&text).map_err(E::custom)
    }
}

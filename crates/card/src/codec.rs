//! Field codings used by the card's records: packed BCD dates (`YYYYMMDD` in 4 bytes), BCD digit
//! strings, GBK text (names) and padded ASCII (card number, spec version).
//!
//! Pure functions over byte slices; they never panic and never guess silently: a value that is
//! not what the contract says becomes a [`FieldError`]. The only tolerance is padding (`00`,
//! `FF` and spaces at the end) and "date not written" (all `00` or all `FF`), both seen on real
//! cards.

use chrono::{Datelike, NaiveDate};

/// A field value that does not have the coding card.md gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// A nibble above 9 in a BCD field.
    #[error("not BCD")]
    NotBcd,
    /// BCD digits that are not a calendar date.
    #[error("not a calendar date")]
    BadDate,
    /// Bytes that are not valid GBK.
    #[error("not GBK text")]
    NotGbk,
    /// Bytes that are not printable ASCII.
    #[error("not printable ASCII")]
    NotAscii,
    /// The value has the wrong size.
    #[error("expected {expected} bytes, got {got}")]
    WrongLength {
        /// Bytes the field has.
        expected: usize,
        /// Bytes the card sent.
        got: usize,
    },
}

/// Packed BCD to a digit string (`[0x20, 0x24]` → `"2024"`).
pub fn bcd_digits(bytes: &[u8]) -> Result<String, FieldError> {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0x0F] {
            if nibble > 9 {
                return Err(FieldError::NotBcd);
            }
            out.push(char::from(b'0' + nibble));
        }
    }
    Ok(out)
}

/// A 4-byte BCD `YYYYMMDD` date. All `00` or all `FF` means "not written" and gives `None`.
pub fn bcd_date(bytes: &[u8]) -> Result<Option<NaiveDate>, FieldError> {
    if bytes.len() != 4 {
        return Err(FieldError::WrongLength {
            expected: 4,
            got: bytes.len(),
        });
    }
    if bytes.iter().all(|&b| b == 0) || bytes.iter().all(|&b| b == 0xFF) {
        return Ok(None);
    }
    parse_yyyymmdd(&bcd_digits(bytes)?)
        .map(Some)
        .ok_or(FieldError::BadDate)
}

/// Parses eight ASCII digits `YYYYMMDD` into a date, `None` if they are not one.
pub fn parse_yyyymmdd(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y = s[0..4].parse().ok()?;
    let m = s[4..6].parse().ok()?;
    let d = s[6..8].parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d)
}

/// The inverse of [`bcd_date`] for a written date (years 0..=9999).
pub fn date_to_bcd(date: NaiveDate) -> [u8; 4] {
    let digits = format!(
        "{:04}{:02}{:02}",
        date.year().clamp(0, 9999),
        date.month(),
        date.day()
    );
    let d = digits.as_bytes();
    std::array::from_fn(|i| ((d[2 * i] - b'0') << 4) | (d[2 * i + 1] - b'0'))
}

/// A one-byte numeric code (民族): BCD when both nibbles are digits, else the binary value.
pub fn small_code(b: u8) -> u8 {
    match (b >> 4, b & 0x0F) {
        (hi, lo) if hi <= 9 && lo <= 9 => hi * 10 + lo,
        _ => b,
    }
}

/// Cuts the value at the first `00`, drops trailing `FF`, then trims spaces.
fn unpad(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let mut v = &bytes[..end];
    while let [rest @ .., 0xFF | b' '] = v {
        v = rest;
    }
    while let [b' ', rest @ ..] = v {
        v = rest;
    }
    v
}

/// GBK text right-padded with `00` or spaces (姓名).
pub fn gbk_text(bytes: &[u8]) -> Result<String, FieldError> {
    encoding_rs::GBK
        .decode_without_bom_handling_and_without_replacement(unpad(bytes))
        .map(|s| s.trim().to_owned())
        .ok_or(FieldError::NotGbk)
}

/// Printable ASCII right-padded with `00`, `FF` or spaces (卡号, 规范版本).
pub fn ascii_text(bytes: &[u8]) -> Result<String, FieldError> {
    let v = unpad(bytes);
    if v.iter().all(|b| (0x20..0x7F).contains(b)) {
        Ok(String::from_utf8_lossy(v).into_owned())
    } else {
        Err(FieldError::NotAscii)
    }
}

/// Uppercase hex, as the 卡识别码 and the ATR are shown.
pub fn upper_hex(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    #[test]
    fn bcd_dates() {
        assert_eq!(
            bcd_date(&[0x20, 0x24, 0x02, 0x29]),
            Ok(Some(d(2024, 2, 29)))
        );
        assert_eq!(
            bcd_date(&[0x20, 0x23, 0x02, 0x29]),
            Err(FieldError::BadDate)
        );
        assert_eq!(bcd_date(&[0x20, 0x2A, 0x01, 0x01]), Err(FieldError::NotBcd));
        assert_eq!(bcd_date(&[0; 4]), Ok(None));
        assert_eq!(bcd_date(&[0xFF; 4]), Ok(None));
        assert_eq!(
            bcd_date(&[0x20, 0x24]),
            Err(FieldError::WrongLength {
                expected: 4,
                got: 2
            })
        );
        assert_eq!(date_to_bcd(d(1949, 12, 31)), [0x19, 0x49, 0x12, 0x31]);
        assert_eq!(
            bcd_date(&date_to_bcd(d(2034, 6, 1))),
            Ok(Some(d(2034, 6, 1)))
        );
    }

    #[test]
    fn digit_strings() {
        assert_eq!(bcd_digits(&[0x11, 0x01, 0x05]).unwrap(), "110105");
        assert_eq!(bcd_digits(&[]).unwrap(), "");
        assert_eq!(bcd_digits(&[0x1F]), Err(FieldError::NotBcd));
        assert_eq!(parse_yyyymmdd("19491231"), Some(d(1949, 12, 31)));
        assert_eq!(parse_yyyymmdd("19491332"), None);
        assert_eq!(parse_yyyymmdd("1949123"), None);
        assert_eq!(parse_yyyymmdd("1949123a"), None);
        assert_eq!(parse_yyyymmdd("+9491231"), None);
    }

    #[test]
    fn small_codes() {
        assert_eq!(small_code(0x01), 1);
        assert_eq!(small_code(0x56), 56);
        assert_eq!(small_code(0x0A), 0x0A);
    }

    #[test]
    fn gbk_names() {
        let (enc, _, _) = encoding_rs::GBK.encode("王秀英");
        let mut field = enc.to_vec();
        field.resize(30, 0);
        assert_eq!(gbk_text(&field).unwrap(), "王秀英");
        let mut spaced = enc.to_vec();
        spaced.resize(30, b' ');
        assert_eq!(gbk_text(&spaced).unwrap(), "王秀英");
        assert_eq!(gbk_text(&[0x81]), Err(FieldError::NotGbk));
        assert_eq!(gbk_text(&[0; 30]).unwrap(), "");
    }

    #[test]
    fn ascii_fields() {
        assert_eq!(ascii_text(b"X00000019").unwrap(), "X00000019");
        assert_eq!(ascii_text(b"3.00\0\0").unwrap(), "3.00");
        assert_eq!(ascii_text(b"3.00  \xFF").unwrap(), "3.00");
        assert_eq!(ascii_text(b"3\x01"), Err(FieldError::NotAscii));
        assert_eq!(upper_hex(&[0xd1, 0x56]), "D156");
    }
}

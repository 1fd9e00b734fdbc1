//! 药品追溯码, the drug traceability code printed on every box (traceability.md): what a scan
//! of one must look like before it goes on a sale, and what it is not.
//!
//! The rules are the contract's "terminal rules for a scanned trace code":
//! - the text is kept as received, minus surrounding whitespace and CR/LF; never reformatted;
//! - 20 digits is the common case (the 码上放心 Code 128 code); anything else of 1–100 printable
//!   characters is accepted too (GS1 element strings, manufacturer codes);
//! - a 13-digit code starting `69` is a 商品码 (EAN-13) and a 14-digit code starting `86` is a
//!   药品本位码, both printed on the same box: scanning either is an operator error, refused
//!   with a message saying to scan the other barcode;
//! - a 20-digit code that does not start with `8` is accepted with a warning;
//! - GS1 symbols keep their group separators (0x1D); a scanner's AIM symbology identifier
//!   (`]C1`, `]d2`, …) is stripped only when the scan box is configured to send one, which is
//!   why [`split_aim`] is a separate step the caller chooses.
//!
//! Pure code: no I/O, nothing logged. The per-sale rules (one code per box, a code sold before
//! is a warning) need the sale and the terminal's history and live with them.

use std::fmt;

use medsettle_base::UserFacing;
use serde::{Deserialize, Serialize};

/// The longest code the platform stores (`drug_trac_codg`, c100 in `drugtracinfo`).
pub const MAX_LEN: usize = 100;

/// The ASCII group separator GS1 symbols use between variable-length element strings.
pub const GS: u8 = 0x1d;

/// The barcode symbology a code was read from, where the reader said (AIM identifier) or the
/// camera's decoder knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Symbology {
    /// Code 128 (`]C0`): the 20-digit 码上放心 code.
    Code128,
    /// GS1-128 (`]C1`, Code 128 with FNC1 first).
    Gs1_128,
    /// Data Matrix ECC 200 (`]d1`).
    DataMatrix,
    /// GS1 DataMatrix (`]d2`): imported drugs.
    Gs1DataMatrix,
    /// QR Code (`]Q1`): also how e-SSC and e-voucher codes arrive.
    Qr,
    /// GS1 QR Code (`]Q3`).
    Gs1Qr,
    /// EAN-13 (`]E0`): the 商品码.
    Ean13,
}

impl Symbology {
    /// The symbology an AIM identifier names (`]` + code character + modifier).
    pub fn from_aim(id: &[u8]) -> Option<Symbology> {
        Some(match id {
            b"]C0" => Symbology::Code128,
            b"]C1" => Symbology::Gs1_128,
            b"]d1" => Symbology::DataMatrix,
            b"]d2" => Symbology::Gs1DataMatrix,
            b"]Q1" => Symbology::Qr,
            b"]Q3" => Symbology::Gs1Qr,
            b"]E0" => Symbology::Ean13,
            _ => return None,
        })
    }

    /// Whether the symbol is two-dimensional (a camera frame or 2D scan box read it).
    pub fn is_2d(self) -> bool {
        matches!(
            self,
            Symbology::DataMatrix | Symbology::Gs1DataMatrix | Symbology::Qr | Symbology::Gs1Qr
        )
    }
}

/// Splits a leading AIM symbology identifier off a scan box's output. `None` and the input
/// unchanged when it does not start with one this terminal knows: call only for a scan box
/// configured to send identifiers, since `]C1…` could otherwise be a code's own text.
pub fn split_aim(raw: &[u8]) -> (Option<Symbology>, &[u8]) {
    let trimmed = raw.trim_ascii_start();
    match trimmed.get(..3).and_then(Symbology::from_aim) {
        Some(s) => (Some(s), &trimmed[3..]),
        None => (None, raw),
    }
}

/// A scanned trace code that passed the contract's syntax rules: the text as received, minus
/// surrounding whitespace, group separators kept.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TraceCode(String);

impl TraceCode {
    /// Checks one scan (bytes as the reader produced them).
    pub fn parse(raw: &[u8]) -> Result<(TraceCode, Option<TraceWarning>), TraceCodeError> {
        let text = raw.trim_ascii();
        if text.is_empty() {
            return Err(TraceCodeError::Empty);
        }
        if text.len() > MAX_LEN {
            return Err(TraceCodeError::TooLong { len: text.len() });
        }
        if let Some(offset) = text
            .iter()
            .position(|&b| b != GS && !(0x20..=0x7e).contains(&b))
        {
            return Err(TraceCodeError::NotPrintable { offset });
        }
        let digits = text.iter().all(u8::is_ascii_digit);
        if digits && text.len() == 13 && text.starts_with(b"69") {
            return Err(TraceCodeError::CommodityCode);
        }
        if digits && text.len() == 14 && text.starts_with(b"86") {
            return Err(TraceCodeError::DrugStandardCode);
        }
        let warning =
            (digits && text.len() == 20 && text[0] != b'8').then_some(TraceWarning::UnusualPrefix);
        // Printable ASCII and GS only, so this cannot fail.
        let text = String::from_utf8(text.to_vec())
            .map_err(|_| TraceCodeError::NotPrintable { offset: 0 })?;
        Ok((TraceCode(text), warning))
    }

    /// The code as the platform receives it (`drug_trac_codg`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What kind of code this is, by shape.
    pub fn shape(&self) -> CodeShape {
        let b = self.0.as_bytes();
        if b.len() == 20 && b.iter().all(u8::is_ascii_digit) {
            CodeShape::Digits20
        } else if b.contains(&GS) || (b.starts_with(b"01") && b.len() > 16) {
            CodeShape::Gs1
        } else {
            CodeShape::Other
        }
    }
}

impl fmt::Debug for TraceCode {
    /// Trace codes are not personal data; GS bytes are shown as `<GS>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceCode({:?})", self.0.replace('\u{1d}', "<GS>"))
    }
}

impl fmt::Display for TraceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.replace('\u{1d}', "<GS>"))
    }
}

/// A trace code's shape, for counts and the operator's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeShape {
    /// 20 digits: the 码上放心 code.
    Digits20,
    /// A GS1 element string (group separators, or AI 01 GTIN first).
    Gs1,
    /// A manufacturer-defined code.
    Other,
}

/// Accepted, but worth a look by the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceWarning {
    /// 20 digits not starting with `8`, unlike every 码上放心 code seen.
    UnusualPrefix,
}

impl TraceWarning {
    /// Stable code, for the API and the counter UI.
    pub fn code(self) -> &'static str {
        match self {
            TraceWarning::UnusualPrefix => "trace.unusual_prefix",
        }
    }

    pub fn message_zh(self) -> &'static str {
        match self {
            TraceWarning::UnusualPrefix => "追溯码不以8开头，请核对是否扫了药盒上的追溯码",
        }
    }

    pub fn message_en(self) -> &'static str {
        match self {
            TraceWarning::UnusualPrefix => {
                "20-digit trace code not starting with 8: check it is the box's trace code"
            }
        }
    }
}

/// Why a scan is not a trace code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceCodeError {
    #[error("empty trace code")]
    Empty,
    #[error("trace code too long ({len} characters, at most {MAX_LEN})")]
    TooLong { len: usize },
    #[error("trace code contains a non-printable byte at offset {offset}")]
    NotPrintable { offset: usize },
    #[error("this is the box's EAN-13 commodity code (商品码), not its trace code")]
    CommodityCode,
    #[error("this is the drug standard code (药品本位码), not the box's trace code")]
    DrugStandardCode,
}

impl UserFacing for TraceCodeError {
    fn code(&self) -> &'static str {
        match self {
            Self::Empty => "trace.empty",
            Self::TooLong { .. } => "trace.too_long",
            Self::NotPrintable { .. } => "trace.not_printable",
            Self::CommodityCode => "trace.commodity_code",
            Self::DrugStandardCode => "trace.standard_code",
        }
    }

    fn message_zh(&self) -> String {
        match self {
            Self::Empty => "未读到追溯码，请重新扫码".into(),
            Self::TooLong { .. } | Self::NotPrintable { .. } => {
                "这不是药品追溯码，请扫描药盒上的追溯码".into()
            }
            Self::CommodityCode => {
                "扫到的是商品条码（69开头），请扫描药盒上的另一个条码：药品追溯码".into()
            }
            Self::DrugStandardCode => {
                "扫到的是药品本位码，请扫描药盒上的另一个条码：药品追溯码".into()
            }
        }
    }

    fn message_en(&self) -> String {
        match self {
            Self::CommodityCode | Self::DrugStandardCode => {
                format!("{self}: scan the other barcode on the box")
            }
            _ => self.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<(String, Option<TraceWarning>), &'static str> {
        TraceCode::parse(s)
            .map(|(c, w)| (c.as_str().to_owned(), w))
            .map_err(|e| e.code())
    }

    #[test]
    fn keeps_the_code_as_scanned() {
        assert_eq!(
            parse(b" 81234567890123456789\r\n"),
            Ok(("81234567890123456789".into(), None))
        );
        // A GS1 element string keeps its separators and its order.
        let gs1 = b"0106912345678904215ABC123\x1d10LOT7\x1d17281231";
        let (code, warning) = TraceCode::parse(gs1).unwrap();
        assert_eq!(code.as_str().as_bytes(), gs1);
        assert_eq!(warning, None);
        assert_eq!(code.shape(), CodeShape::Gs1);
        assert_eq!(
            format!("{code}"),
            "0106912345678904215ABC123<GS>10LOT7<GS>17281231"
        );
        // Manufacturer codes: letters, other lengths.
        assert_eq!(
            parse(b"ZX-2026-000123"),
            Ok(("ZX-2026-000123".into(), None))
        );
        assert_eq!(parse(b"1"), Ok(("1".into(), None)));
    }

    #[test]
    fn twenty_digits_not_starting_with_8_is_a_warning() {
        assert_eq!(
            parse(b"31234567890123456789"),
            Ok((
                "31234567890123456789".into(),
                Some(TraceWarning::UnusualPrefix)
            ))
        );
        // Only 20-digit codes carry the expectation.
        assert_eq!(parse(b"3123456789012345678").map(|r| r.1), Ok(None));
    }

    #[test]
    fn refuses_the_other_barcodes_on_the_box() {
        assert_eq!(parse(b"6901234567892"), Err("trace.commodity_code"));
        assert_eq!(parse(b"86901234000123"), Err("trace.standard_code"));
        // Same lengths, other prefixes: a manufacturer may use them.
        assert_eq!(parse(b"4901234567894").map(|r| r.1), Ok(None));
        assert_eq!(parse(b"12345678901234").map(|r| r.1), Ok(None));
        let e = TraceCode::parse(b"6901234567892").unwrap_err();
        assert!(e.message_zh().contains("另一个条码"), "{}", e.message_zh());
        assert!(e.message_en().contains("other barcode"));
    }

    #[test]
    fn refuses_what_cannot_be_a_code() {
        assert_eq!(parse(b""), Err("trace.empty"));
        assert_eq!(parse(b" \r\n"), Err("trace.empty"));
        assert_eq!(parse(&[b'8'; 100]).map(|r| r.0.len()), Ok(100));
        assert_eq!(parse(&[b'8'; 101]), Err("trace.too_long"));
        assert_eq!(parse(b"8123\x00456"), Err("trace.not_printable"));
        assert_eq!(parse("药品".as_bytes()), Err("trace.not_printable"));
    }

    #[test]
    fn aim_identifiers_split_only_known_ones() {
        assert_eq!(
            split_aim(b"]C081234567890123456789"),
            (Some(Symbology::Code128), &b"81234567890123456789"[..])
        );
        let (s, rest) = split_aim(b"]d2010691234567890421X\x1d10L");
        assert_eq!(s, Some(Symbology::Gs1DataMatrix));
        assert!(s.unwrap().is_2d());
        assert_eq!(rest, b"010691234567890421X\x1d10L");
        assert_eq!(split_aim(b"]E06901234567892").0, Some(Symbology::Ean13));
        assert_eq!(split_aim(b"]Z9abc"), (None, &b"]Z9abc"[..]));
        assert_eq!(split_aim(b"81234"), (None, &b"81234"[..]));
    }
}

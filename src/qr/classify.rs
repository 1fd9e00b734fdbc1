//! Sorting scanned QR content into the credential kinds the counter accepts.
//!
//! Input is the raw bytes a decoder or scan box produced (they may be GBK, so bytes, not
//! `str`). Surrounding ASCII whitespace (a scan box's CR/LF, a keyboard wedge's Tab) is
//! ignored. `ESSC1.` starts a signed e-SSC, checked later by [`super::essc`]; any other
//! `ESSC…` prefix is a version this terminal does not speak. Everything else must look like an
//! NHSA e-voucher ([`EVoucherCode::parse`], the credential module's syntax rules). This module only looks at syntax: it verifies no
//! signature and calls nobody.
//!
//! The same devices read the boxes' drug traceability codes (药品追溯码, traceability.md) at a
//! pharmacy counter, so [`read`] first sorts a scan into a credential, a trace code, or — for a
//! bare 20-digit number from a source that does not name its symbology — both candidates (see
//! [`Reading`]).

use medsettle_nhsa::trace::{Symbology, TraceCode, TraceCodeError, TraceWarning};

use crate::credential::evoucher::{CodeSyntaxError, EVoucherCode};
use crate::error::UserFacing;

/// The prefix of the signed e-SSC profile (qr.md), version 1.
pub use medsettle_essc::ESSC_PREFIX;

/// What a scan turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scanned {
    /// A signed e-SSC code (`ESSC1.…`), still to be verified by [`super::essc::Verifier`].
    Essc(String),
    /// An e-voucher candidate that passed the local syntax checks.
    EVoucher(EVoucherCode),
}

/// Why a scan is not a credential this terminal accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    #[error("empty scan")]
    Empty,
    #[error("scan contains non-ASCII or control bytes (first at offset {offset})")]
    NotPrintable { offset: usize },
    #[error("code too short ({len} characters, at least {min})")]
    TooShort { len: usize, min: usize },
    #[error("code too long ({len} characters, at most {max})")]
    TooLong { len: usize, max: usize },
    #[error("e-SSC profile version not supported")]
    UnsupportedEssc,
}

impl From<CodeSyntaxError> for ClassifyError {
    fn from(e: CodeSyntaxError) -> Self {
        match e {
            CodeSyntaxError::NotPrintable { offset } => Self::NotPrintable { offset },
            CodeSyntaxError::TooShort { len, min } => Self::TooShort { len, min },
            CodeSyntaxError::TooLong { len, max } => Self::TooLong { len, max },
        }
    }
}

impl UserFacing for ClassifyError {
    fn code(&self) -> &'static str {
        match self {
            Self::Empty => "qr.empty",
            Self::NotPrintable { .. } => "qr.not_printable",
            Self::TooShort { .. } => "qr.too_short",
            Self::TooLong { .. } => "qr.too_long",
            Self::UnsupportedEssc => "qr.essc_version",
        }
    }

    fn message_zh(&self) -> String {
        match self {
            Self::Empty => "未读到二维码内容，请重新扫码".into(),
            Self::NotPrintable { .. } => {
                "这不是医保码或电子社保卡码，请出示医保码或电子社保卡码".into()
            }
            Self::TooShort { .. } | Self::TooLong { .. } => {
                "二维码不是医保码或电子社保卡码，请重新扫码或改用社保卡".into()
            }
            Self::UnsupportedEssc => {
                "本终端不支持该版本的电子社保卡码，请改用社保卡或医保码".into()
            }
        }
    }

    fn message_en(&self) -> String {
        self.to_string()
    }
}

/// A trace code as scanned, with the operator's warning if it has one.
pub type TraceScan = (TraceCode, Option<TraceWarning>);

/// What one scan is, once its symbology (when the source names it) and its shape are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// A patient's credential (e-SSC, e-voucher), or why it is none.
    Credential(Result<Scanned, ClassifyError>),
    /// A box's traceability code, or the other barcode of the box scanned by mistake (the
    /// 商品码, the 药品本位码), refused with what to scan instead.
    Trace(Result<TraceScan, TraceCodeError>),
    /// Twenty digits from a source that does not say which symbology it read (a scan box
    /// without AIM identifiers, a code typed in): the 码上放心 trace code's shape, and also a
    /// syntactically valid e-voucher, which is opaque and may be any printable text. Both are
    /// offered; an open sale takes the trace code, a new sale the credential.
    Either(EVoucherCode, TraceScan),
}

/// Reads one scan: rules in this order (traceability.md, "Terminal rules"; qr.md):
/// 1. a symbology only drug boxes carry (Code 128, GS1-128, DataMatrix, GS1 QR), or a group
///    separator in the bytes: a trace code; an EAN-13 symbol: the box's 商品码, refused;
/// 2. `ESSC…`: an e-SSC code;
/// 3. all digits: 13 starting `69` (商品码) and 14 starting `86` (本位码) are refused as trace
///    codes; 20 digits are the trace code's shape — a trace code when the source read a 1D
///    symbology, a credential when it read a QR Code, [`Reading::Either`] when it did not say;
/// 4. anything else: a credential (or its refusal), as [`classify`] says.
pub fn read(raw: &[u8], symbology: Option<Symbology>) -> Reading {
    let text = raw.trim_ascii();
    match symbology {
        Some(Symbology::Ean13) => return Reading::Trace(Err(TraceCodeError::CommodityCode)),
        Some(
            Symbology::Code128
            | Symbology::Gs1_128
            | Symbology::DataMatrix
            | Symbology::Gs1DataMatrix
            | Symbology::Gs1Qr,
        ) => return Reading::Trace(TraceCode::parse(text)),
        Some(Symbology::Qr) | None => {}
    }
    if text.contains(&medsettle_nhsa::trace::GS) {
        return Reading::Trace(TraceCode::parse(text));
    }
    if text.starts_with(b"ESSC") {
        return Reading::Credential(classify(text));
    }
    if !text.is_empty() && text.iter().all(u8::is_ascii_digit) {
        let refused = matches!(
            (text.len(), text.get(..2)),
            (13, Some(b"69")) | (14, Some(b"86"))
        );
        if refused {
            return Reading::Trace(TraceCode::parse(text));
        }
        if text.len() == 20 && symbology.is_none() {
            let trace = TraceCode::parse(text);
            let credential = classify(text);
            if let (Ok(trace), Ok(Scanned::EVoucher(code))) = (trace, credential) {
                return Reading::Either(code, trace);
            }
        }
    }
    Reading::Credential(classify(text))
}

/// Classifies one scan as a credential. Never allocates more than the scan's length.
pub fn classify(raw: &[u8]) -> Result<Scanned, ClassifyError> {
    let text = raw.trim_ascii();
    if text.is_empty() {
        return Err(ClassifyError::Empty);
    }
    if let Some(offset) = text.iter().position(|b| !(0x20..=0x7e).contains(b)) {
        return Err(ClassifyError::NotPrintable { offset });
    }
    // Printable ASCII from here on, so the conversion cannot fail.
    let text = std::str::from_utf8(text).map_err(|_| ClassifyError::NotPrintable { offset: 0 })?;
    if text.starts_with(ESSC_PREFIX) {
        return Ok(Scanned::Essc(text.to_owned()));
    }
    if text.starts_with("ESSC") {
        return Err(ClassifyError::UnsupportedEssc);
    }
    // The e-voucher is opaque (qr.md): printable and within length bounds is all a terminal
    // may check. URL-shaped and all-digit codes are e-voucher candidates too; a payment code
    // shown by mistake is refused by the platform's ec.query, not guessed at here.
    Ok(Scanned::EVoucher(EVoucherCode::parse(text)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<Scanned, ClassifyError>) -> &'static str {
        match r {
            Ok(Scanned::Essc(_)) => "essc",
            Ok(Scanned::EVoucher(_)) => "evoucher",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn sorts_each_kind() {
        assert_eq!(code(classify(b"ESSC1.abc.def")), "essc");
        assert_eq!(code(classify(b"ESSC1.abc.def\r\n")), "essc");
        let ev = b"0A1B2C3D4E5F60718293A4B5C6D7E8F9:0123456789ABCDEF";
        assert_eq!(code(classify(ev)), "evoucher");
        assert_eq!(code(classify(b"ESSC2.abc.def")), "qr.essc_version");
        // Opaque means opaque: URL-shaped and all-digit codes go to the e-voucher service.
        assert_eq!(code(classify(b"https://example.invalid/x?y=1")), "evoucher");
        assert_eq!(code(classify(b"134567890123456789")), "evoucher");
        assert_eq!(code(classify(b"904567890123456789")), "evoucher");
    }

    fn reading(raw: &[u8], symbology: Option<Symbology>) -> String {
        match read(raw, symbology) {
            Reading::Credential(r) => format!("credential:{}", code(r)),
            Reading::Trace(Ok((c, None))) => format!("trace:{c}"),
            Reading::Trace(Ok((c, Some(w)))) => format!("trace:{c}:{}", w.code()),
            Reading::Trace(Err(e)) => e.code().to_owned(),
            Reading::Either(_, (c, _)) => format!("either:{c}"),
        }
    }

    #[test]
    fn reads_trace_codes_by_symbology_then_by_shape() {
        let code20 = b"81234567890123456789";
        // A 1D symbol is a trace code; a QR Code of the same digits is a credential.
        assert_eq!(
            reading(code20, Some(Symbology::Code128)),
            "trace:81234567890123456789"
        );
        assert_eq!(reading(code20, Some(Symbology::Qr)), "credential:evoucher");
        // Not saying: both candidates.
        assert_eq!(reading(code20, None), "either:81234567890123456789");
        assert_eq!(
            reading(b"91234567890123456789\r\n", Some(Symbology::Code128)),
            "trace:91234567890123456789:trace.unusual_prefix"
        );
        // GS1 DataMatrix: group separators kept, whatever the source says.
        let gs1 = b"0106901234567892\x1d10LOT42\x1d17270131";
        assert_eq!(
            reading(gs1, Some(Symbology::Gs1DataMatrix)),
            "trace:0106901234567892<GS>10LOT42<GS>17270131"
        );
        assert_eq!(
            reading(gs1, None),
            "trace:0106901234567892<GS>10LOT42<GS>17270131"
        );
        // The box's other barcodes, refused with what they are.
        assert_eq!(reading(b"6901234567892", None), "trace.commodity_code");
        assert_eq!(
            reading(b"4006381333931", Some(Symbology::Ean13)),
            "trace.commodity_code"
        );
        assert_eq!(reading(b"86901234000012", None), "trace.standard_code");
        // Credentials are unchanged.
        assert_eq!(reading(b"ESSC1.abc.def", None), "credential:essc");
        assert_eq!(
            reading(b"0A1B2C3D4E5F60718293A4B5C6D7E8F9:0123456789ABCDEF", None),
            "credential:evoucher"
        );
        assert_eq!(reading(b"134567890123456789", None), "credential:evoucher");
        assert_eq!(reading(b"", None), "credential:qr.empty");
    }

    #[test]
    fn refuses_bad_syntax_with_distinct_codes() {
        assert_eq!(code(classify(b"")), "qr.empty");
        assert_eq!(code(classify(b" \r\n\t")), "qr.empty");
        let gbk = [0xd5, 0xc5, 0xc8, 0xfd, b'1', b'2'];
        assert_eq!(
            classify(&gbk),
            Err(ClassifyError::NotPrintable { offset: 0 })
        );
        assert_eq!(code(classify(b"abc\x01defghijklmnopq")), "qr.not_printable");
        assert_eq!(code(classify(b"short")), "qr.too_short");
        assert_eq!(code(classify(&[b'A'; 513])), "qr.too_long");
    }
}

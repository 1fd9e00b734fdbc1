//! Sorting scanned QR content into the credential kinds the counter accepts.
//!
//! Input is the raw bytes a decoder or scan box produced (they may be GBK, so bytes, not
//! `str`). Surrounding ASCII whitespace (a scan box's CR/LF, a keyboard wedge's Tab) is
//! ignored. `ESSC1.` starts a signed e-SSC, checked later by [`super::essc`]; any other
//! `ESSC…` prefix is a version this terminal does not speak. Everything else must look like an
//! NHSA e-voucher ([`EVoucherCode::parse`], the credential module's syntax rules). This module only looks at syntax: it verifies no
//! signature and calls nobody.

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

/// Classifies one scan. Never allocates more than the scan's length.
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

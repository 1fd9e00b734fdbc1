//! The NHSA e-voucher code (医保电子凭证) as a credential: the local syntax rules a terminal may
//! apply to an opaque code (printable ASCII, within length bounds) and [`EVoucherCode`], the
//! text that passed them.
//!
//! It sits here, below `qr`, because the credential cache holds codes that the QR service
//! produced: `qr` depends on `credential`, never the reverse. Nothing here decodes a code (that
//! is the platform's `ec.query`, `qr::evoucher::EcDecoder`) or prints one.

use std::fmt;

/// Shortest accepted e-voucher text. Real codes are far longer (they carry a signed token);
/// 16 rejects drug-package barcodes (EAN-13) and stray keyboard input without guessing.
pub const EVOUCHER_MIN_LEN: usize = 16;
/// Longest accepted e-voucher text. A phone-screen QR that scans reliably at a counter is at
/// most around version 10 (~270 bytes); 512 leaves headroom while bounding what is sent
/// upstream as `ecQrCode` and kept in memory.
pub const EVOUCHER_MAX_LEN: usize = 512;

/// Why a text is not an e-voucher code. `qr::classify` turns it into its `ClassifyError`
/// (same wording, the `qr.*` codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeSyntaxError {
    #[error("scan contains non-ASCII or control bytes (first at offset {offset})")]
    NotPrintable { offset: usize },
    #[error("code too short ({len} characters, at least {min})")]
    TooShort { len: usize, min: usize },
    #[error("code too long ({len} characters, at most {max})")]
    TooLong { len: usize, max: usize },
}

/// An e-voucher text that passed the local checks: printable ASCII, within the length bounds.
/// It is a bearer credential for a minute or so: `Debug` shows only its length and 4 chars.
#[derive(Clone, PartialEq, Eq)]
pub struct EVoucherCode(String);

impl EVoucherCode {
    /// Applies the local syntax checks.
    pub fn parse(text: &str) -> Result<Self, CodeSyntaxError> {
        if let Some(offset) = text.bytes().position(|b| !(0x20..=0x7e).contains(&b)) {
            return Err(CodeSyntaxError::NotPrintable { offset });
        }
        let len = text.len();
        if len < EVOUCHER_MIN_LEN {
            return Err(CodeSyntaxError::TooShort {
                len,
                min: EVOUCHER_MIN_LEN,
            });
        }
        if len > EVOUCHER_MAX_LEN {
            return Err(CodeSyntaxError::TooLong {
                len,
                max: EVOUCHER_MAX_LEN,
            });
        }
        Ok(Self(text.to_owned()))
    }

    /// The code as sent upstream (`ecQrCode`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EVoucherCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EVoucherCode({}…, {} chars)", &self.0[..4], self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive() {
        assert!(EVoucherCode::parse(&"A".repeat(EVOUCHER_MIN_LEN)).is_ok());
        assert!(EVoucherCode::parse(&"A".repeat(EVOUCHER_MAX_LEN)).is_ok());
        assert!(EVoucherCode::parse(&"A".repeat(EVOUCHER_MIN_LEN - 1)).is_err());
        assert!(EVoucherCode::parse(&"A".repeat(EVOUCHER_MAX_LEN + 1)).is_err());
        assert_eq!(
            EVoucherCode::parse("ABCDEFGHIJKLMNO\u{7f}"),
            Err(CodeSyntaxError::NotPrintable { offset: 15 })
        );
    }

    #[test]
    fn debug_hides_the_code() {
        let c = EVoucherCode::parse("SECRETTOKENVALUE0123456789").unwrap();
        assert_eq!(format!("{c:?}"), "EVoucherCode(SECR…, 26 chars)");
    }
}

//! The NHSA medical-insurance e-voucher (医保电子凭证): local syntax checks and the decoder
//! contract.
//!
//! The payload is opaque to the terminal; only the upstream `ec.query` turns it into an
//! identity and a short-lived `ecToken` (upstream.md, "E-voucher decoding"). This file holds
//! the syntax bounds, the [`EcDecoder`] trait the HTTP client will implement, and
//! [`OfflineEcDecoder`], which refuses every code: an e-voucher is never usable offline. No
//! network code lives here.

use std::fmt;

use futures_util::future::BoxFuture;

use super::classify::ClassifyError;
use super::person::{IdNumber, PersonName};
use crate::error::UserFacing;
use crate::telemetry::pii::scrub;

/// Shortest accepted e-voucher text. Real codes are far longer (they carry a signed token);
/// 16 rejects drug-package barcodes (EAN-13) and stray keyboard input without guessing.
pub const EVOUCHER_MIN_LEN: usize = 16;
/// Longest accepted e-voucher text. A phone-screen QR that scans reliably at a counter is at
/// most around version 10 (~270 bytes); 512 leaves headroom while bounding what is sent
/// upstream as `ecQrCode` and kept in memory.
pub const EVOUCHER_MAX_LEN: usize = 512;

/// An e-voucher text that passed the local checks: printable ASCII, within the length bounds.
/// It is a bearer credential for a minute or so: `Debug` shows only its length and 4 chars.
#[derive(Clone, PartialEq, Eq)]
pub struct EVoucherCode(String);

impl EVoucherCode {
    /// Applies the local syntax checks.
    pub fn parse(text: &str) -> Result<Self, ClassifyError> {
        if let Some(offset) = text.bytes().position(|b| !(0x20..=0x7e).contains(&b)) {
            return Err(ClassifyError::NotPrintable { offset });
        }
        let len = text.len();
        if len < EVOUCHER_MIN_LEN {
            return Err(ClassifyError::TooShort {
                len,
                min: EVOUCHER_MIN_LEN,
            });
        }
        if len > EVOUCHER_MAX_LEN {
            return Err(ClassifyError::TooLong {
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

/// `businessType` of an `ec.query` (upstream.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusinessType {
    /// 01101 挂号
    Registration,
    /// 01301 结算
    Settlement,
    /// 01302 取药
    Dispensing,
    /// 02121 药店购药
    PharmacyPurchase,
}

impl BusinessType {
    /// The wire code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Registration => "01101",
            Self::Settlement => "01301",
            Self::Dispensing => "01302",
            Self::PharmacyPurchase => "02121",
        }
    }
}

/// What `ec.query` answers for a valid e-voucher. Personal fields are masked in `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcIdentity {
    pub id_no: IdNumber,
    pub id_type: String,
    pub user_name: PersonName,
    /// Short-lived token (40 chars) for `mdtrt_cert_type=01`; shown as its length only.
    pub ec_token: EcToken,
    /// 参保地 region.
    pub insu_org: String,
    pub ec_index_no: String,
}

/// The `ecToken`: a bearer credential for the following transactions.
#[derive(Clone, PartialEq, Eq)]
pub struct EcToken(pub String);

impl fmt::Debug for EcToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EcToken({} chars)", self.0.len())
    }
}

/// Why an e-voucher could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcError {
    #[error("e-voucher decoding needs the network and the terminal is offline")]
    Offline,
    #[error("e-voucher service refused the code (code {code})")]
    Rejected { code: i64, message: String },
    #[error("e-voucher service did not answer in time")]
    Timeout,
    #[error("e-voucher service unreachable: {0}")]
    Transport(String),
    #[error("e-voucher service answer not understood: {0}")]
    BadAnswer(String),
}

impl EcError {
    /// True when asking again later may succeed (the code itself may have expired by then).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Offline | Self::Timeout | Self::Transport(_))
    }
}

impl UserFacing for EcError {
    fn code(&self) -> &'static str {
        match self {
            Self::Offline => "evoucher.offline",
            Self::Rejected { .. } => "evoucher.rejected",
            Self::Timeout => "evoucher.timeout",
            Self::Transport(_) => "evoucher.transport",
            Self::BadAnswer(_) => "evoucher.bad_answer",
        }
    }

    fn message_zh(&self) -> String {
        match self {
            Self::Offline => "网络中断，医保码暂不可用，请使用社保卡或电子社保卡码".into(),
            Self::Rejected { message, .. } => {
                format!("医保码无效或已过期，请刷新后重试（{}）", scrub(message))
            }
            Self::Timeout | Self::Transport(_) => "医保码查询服务暂时不可用，请稍后重试".into(),
            Self::BadAnswer(_) => "医保码查询服务应答异常，请改用社保卡或联系信息科".into(),
        }
    }

    fn message_en(&self) -> String {
        self.to_string()
    }
}

/// The upstream `ec.query`: turns an e-voucher into an identity and an `ecToken`.
/// Implemented over HTTP by the upstream client; [`OfflineEcDecoder`] refuses everything.
pub trait EcDecoder: Send + Sync {
    fn decode<'a>(
        &'a self,
        code: &'a EVoucherCode,
        business: BusinessType,
    ) -> BoxFuture<'a, Result<EcIdentity, EcError>>;
}

/// The decoder used while the terminal is offline (or has no e-voucher service configured).
#[derive(Debug, Default, Clone, Copy)]
pub struct OfflineEcDecoder;

impl EcDecoder for OfflineEcDecoder {
    fn decode<'a>(
        &'a self,
        _code: &'a EVoucherCode,
        _business: BusinessType,
    ) -> BoxFuture<'a, Result<EcIdentity, EcError>> {
        Box::pin(async { Err(EcError::Offline) })
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
        assert!(EVoucherCode::parse("ABCDEFGHIJKLMNO\u{7f}").is_err());
    }

    #[test]
    fn debug_hides_the_code() {
        let c = EVoucherCode::parse("SECRETTOKENVALUE0123456789").unwrap();
        assert_eq!(format!("{c:?}"), "EVoucherCode(SECR…, 26 chars)");
        assert_eq!(
            format!("{:?}", EcToken("x".repeat(40))),
            "EcToken(40 chars)"
        );
    }

    #[tokio::test]
    async fn offline_refuses_every_code() {
        let c = EVoucherCode::parse("0123456789ABCDEF0123").unwrap();
        let err = OfflineEcDecoder
            .decode(&c, BusinessType::Settlement)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "evoucher.offline");
        assert!(err.is_retryable());
    }
}

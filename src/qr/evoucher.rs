//! The NHSA medical-insurance e-voucher (医保电子凭证): the decoder contract.
//!
//! The payload is opaque to the terminal; only the upstream `ec.query` turns it into an
//! identity and a short-lived `ecToken` (upstream.md, "E-voucher decoding"). The local syntax
//! checks and [`EVoucherCode`] are `credential::evoucher`'s (re-exported here). This file holds
//! the [`EcDecoder`] trait the HTTP client implements, and
//! [`OfflineEcDecoder`], which refuses every code: an e-voucher is never usable offline. No
//! network code lives here.

use std::fmt;

use futures_util::future::BoxFuture;

pub use crate::credential::evoucher::{EVOUCHER_MAX_LEN, EVOUCHER_MIN_LEN, EVoucherCode};
use crate::error::UserFacing;
use medsettle_base::pii::{IdNumber, PersonName, scrub};

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
    fn debug_hides_the_token() {
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

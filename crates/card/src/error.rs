//! [`CardError`]: everything that can go wrong while reading a social security card, with a
//! stable code and zh/en messages ([`UserFacing`]).
//!
//! No variant carries card data (ID numbers, names, PINs); only file ids, tags and status words.

use crate::exchange::ExchangeError;
use crate::security::SecurityError;
use crate::status::StatusWord;
use crate::transport::TransportError;
use medsettle_base::UserFacing;

/// Why a card read or PIN check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// The reader or the card went away (see [`TransportError`]).
    #[error(transparent)]
    Transport(TransportError),
    /// The card broke the APDU protocol (short answer, endless chaining).
    #[error("card protocol error: {0}")]
    Protocol(String),
    /// Neither the application nor EF05 could be selected.
    #[error("not a social security card (application and EF05 not found)")]
    NotSocialSecurityCard,
    /// A file the contract requires is absent.
    #[error("file {file:04X} not found on the card")]
    FileNotFound {
        /// File identifier, e.g. `0xEF06`.
        file: u16,
    },
    /// A field could be read neither by record nor by tag.
    #[error("field {tag:02X} of {file:04X} not found")]
    FieldMissing {
        /// File identifier.
        file: u16,
        /// TLV tag.
        tag: u8,
    },
    /// A field does not have the coding the contract gives it.
    #[error("field {tag:02X} of {file:04X} is malformed: {reason}")]
    Malformed {
        /// File identifier.
        file: u16,
        /// TLV tag (`0` when the whole record did not parse).
        tag: u8,
        /// What is wrong, without the value.
        reason: String,
    },
    /// The card wants external authentication (6982) and no security module was given.
    #[error("card requires authentication before reading holder data")]
    AuthRequired,
    /// EXTERNAL AUTHENTICATE was refused.
    #[error("card refused external authentication ({sw})")]
    AuthFailed {
        /// The card's status word.
        sw: StatusWord,
    },
    /// The security module (PSAM, remote HSM) failed.
    #[error(transparent)]
    Security(#[from] SecurityError),
    /// The PIN is not 6 digits.
    #[error("PIN must be 6 digits")]
    PinFormat,
    /// Wrong PIN.
    #[error("wrong PIN, {tries_left} tries left")]
    PinWrong {
        /// Tries left before the PIN blocks.
        tries_left: u8,
    },
    /// The PIN is blocked (6983, or 63C0).
    #[error("PIN blocked")]
    PinBlocked,
    /// A status word the sequence has no rule for.
    #[error("{command} answered {sw}")]
    UnexpectedStatus {
        /// The command, e.g. `SELECT EF05`.
        command: &'static str,
        /// The status word.
        sw: StatusWord,
    },
}

impl From<ExchangeError> for CardError {
    fn from(e: ExchangeError) -> Self {
        match e {
            ExchangeError::Transport(t) => CardError::Transport(t),
            other => CardError::Protocol(other.to_string()),
        }
    }
}

impl CardError {
    /// Whether presenting the card again may succeed (removed, reset, timed out, glitch).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CardError::Transport(
                TransportError::CardRemoved | TransportError::CardReset | TransportError::Timeout
            ) | CardError::Protocol(_)
        )
    }
}

impl UserFacing for CardError {
    fn code(&self) -> &'static str {
        match self {
            CardError::Transport(TransportError::CardRemoved) => "card.removed",
            CardError::Transport(TransportError::CardReset) => "card.reset",
            CardError::Transport(TransportError::Timeout) => "card.timeout",
            CardError::Transport(TransportError::ReaderGone(_) | TransportError::ServiceGone) => {
                "card.reader_unavailable"
            }
            CardError::Transport(TransportError::Other(_)) => "card.reader_error",
            CardError::Protocol(_) => "card.protocol",
            CardError::NotSocialSecurityCard => "card.not_ssc",
            CardError::FileNotFound { .. } => "card.file_not_found",
            CardError::FieldMissing { .. } => "card.field_missing",
            CardError::Malformed { .. } => "card.data_malformed",
            CardError::AuthRequired => "card.auth_required",
            CardError::AuthFailed { .. } => "card.auth_failed",
            CardError::Security(_) => "card.security_module",
            CardError::PinFormat => "card.pin_format",
            CardError::PinWrong { .. } => "card.pin_wrong",
            CardError::PinBlocked => "card.pin_blocked",
            CardError::UnexpectedStatus { .. } => "card.unexpected_status",
        }
    }

    fn message_zh(&self) -> String {
        match self {
            CardError::Transport(TransportError::CardRemoved) => {
                "读卡过程中卡片被移开，请重新插卡或放卡".into()
            }
            CardError::Transport(TransportError::CardReset) => "卡片被复位，请重新读卡".into(),
            CardError::Transport(TransportError::Timeout) => "卡片无响应，请重新读卡".into(),
            CardError::Transport(TransportError::ReaderGone(_) | TransportError::ServiceGone) => {
                "读卡器不可用，请检查读卡器连接后重新读卡".into()
            }
            CardError::Transport(TransportError::Other(_)) => {
                "读卡器故障，请检查读卡器连接，仍不行请联系信息科".into()
            }
            CardError::Protocol(_) => "卡片通讯异常，请重新读卡".into(),
            CardError::NotSocialSecurityCard => {
                "这张卡不是社会保障卡，请插入社保卡，或出示医保码、电子社保卡码".into()
            }
            CardError::FileNotFound { file } => format!(
                "卡片数据不完整（缺少文件 {file:04X}），请改用医保码或电子社保卡码，并请持卡人到社保经办机构检查卡片"
            ),
            CardError::FieldMissing { file, tag } => {
                format!(
                    "卡片数据不完整（文件 {file:04X} 缺少数据项 {tag:02X}），请改用医保码或电子社保卡码，并请持卡人到社保经办机构检查卡片"
                )
            }
            CardError::Malformed { file, tag, .. } => {
                format!(
                    "卡片数据有误（文件 {file:04X} 数据项 {tag:02X}），请改用医保码或电子社保卡码，并请持卡人到社保经办机构检查卡片"
                )
            }
            CardError::AuthRequired => {
                "该卡须经安全模块认证才能读取持卡人信息，请联系信息科检查PSAM卡".into()
            }
            CardError::AuthFailed { .. } => {
                "卡片认证失败，请重新插卡；仍失败请联系信息科检查安全模块".into()
            }
            CardError::Security(_) => {
                "安全模块（PSAM卡/加密机）不可用，暂时无法读卡，请联系信息科；患者可改用医保码"
                    .into()
            }
            CardError::PinFormat => "密码须为6位数字，请重新输入".into(),
            CardError::PinWrong { tries_left } => {
                format!("密码错误，还可尝试{tries_left}次，请重新输入")
            }
            CardError::PinBlocked => {
                "密码已锁定，本卡暂不能结算；请持卡人到社保经办机构解锁，或改用医保码".into()
            }
            CardError::UnexpectedStatus { command, sw } => {
                format!("卡片返回异常状态 {sw}（{command}），请重新读卡；仍失败请改用医保码")
            }
        }
    }

    fn message_en(&self) -> String {
        match self {
            CardError::Transport(TransportError::CardRemoved) => {
                "The card was removed during the read; present it again".into()
            }
            CardError::PinBlocked => {
                "PIN blocked; the holder must have it unblocked at a social security office".into()
            }
            CardError::Security(e) => format!("security module unavailable: {e}"),
            other => {
                let mut s = other.to_string();
                if let Some(c) = s.get_mut(0..1) {
                    c.make_ascii_uppercase();
                }
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<CardError> {
        vec![
            CardError::Transport(TransportError::CardRemoved),
            CardError::Transport(TransportError::CardReset),
            CardError::Transport(TransportError::Timeout),
            CardError::Transport(TransportError::ServiceGone),
            CardError::Transport(TransportError::Other("x".into())),
            CardError::Protocol("x".into()),
            CardError::NotSocialSecurityCard,
            CardError::FileNotFound { file: 0xEF06 },
            CardError::FieldMissing {
                file: 0xEF05,
                tag: 7,
            },
            CardError::Malformed {
                file: 0xEF05,
                tag: 5,
                reason: "not BCD".into(),
            },
            CardError::AuthRequired,
            CardError::AuthFailed {
                sw: StatusWord::SecurityNotSatisfied,
            },
            CardError::Security(SecurityError::Unavailable("x".into())),
            CardError::PinFormat,
            CardError::PinWrong { tries_left: 2 },
            CardError::PinBlocked,
            CardError::UnexpectedStatus {
                command: "SELECT EF05",
                sw: StatusWord::Other(0x6400),
            },
        ]
    }

    #[test]
    fn every_variant_has_a_distinct_code_and_messages() {
        let errors = all();
        let mut codes: Vec<_> = errors.iter().map(|e| e.code()).collect();
        for e in &errors {
            assert!(e.code().starts_with("card."), "{}", e.code());
            assert!(!e.message_zh().is_empty() && !e.message_en().is_empty());
        }
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
        assert_eq!(
            CardError::PinWrong { tries_left: 2 }.message_zh(),
            "密码错误，还可尝试2次，请重新输入"
        );
        assert_eq!(
            CardError::PinWrong { tries_left: 2 }.message_en(),
            "Wrong PIN, 2 tries left"
        );
    }

    #[test]
    fn retryable_and_conversion() {
        assert!(CardError::Transport(TransportError::CardRemoved).is_retryable());
        assert!(!CardError::PinBlocked.is_retryable());
        assert_eq!(
            CardError::from(ExchangeError::Transport(TransportError::Timeout)),
            CardError::Transport(TransportError::Timeout)
        );
        assert_eq!(
            CardError::from(ExchangeError::TooManyRounds).code(),
            "card.protocol"
        );
    }
}

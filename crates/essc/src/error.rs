//! Why an e-SSC code was refused: one variant, and one stable code, per failed check.
//!
//! Messages name the check that failed and never carry the code's personal data: JSON errors
//! keep only serde's category and position, ID and region failures say nothing of the value.

use medsettle_base::UserFacing;

use crate::replay::GuardError;

/// A refused e-SSC code. The variant order is the order in which the checks run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EsscError {
    #[error("not of the form ESSC1.<payload>.<signature>")]
    Format,
    #[error("{0} is not base64url without padding")]
    Base64(&'static str),
    #[error("payload is not the expected JSON object ({0})")]
    Json(String),
    #[error("payload version {0} not supported")]
    Version(i64),
    #[error("issuer key id {0:?} is not configured")]
    UnknownKid(String),
    #[error("signature does not verify under the issuer key")]
    Signature,
    #[error("validity window invalid: exp - iat = {0} s (must be 0..=300)")]
    Lifetime(i128),
    #[error("not yet valid: issued {ahead} s in the future")]
    NotYetValid { ahead: i128 },
    #[error("expired {ago} s ago")]
    Expired { ago: i128 },
    #[error("social security number fails GB 11643")]
    IdChecksum,
    #[error("region (ad) is not 6 digits")]
    Region,
    #[error("nonce is not 32 hex digits")]
    Nonce,
    #[error("field {0} is empty or too long")]
    Field(&'static str),
    #[error("code already used on this terminal")]
    Replayed,
    #[error("replay guard unavailable: {0}")]
    Guard(#[from] GuardError),
}

impl UserFacing for EsscError {
    fn code(&self) -> &'static str {
        match self {
            Self::Format => "essc.format",
            Self::Base64(_) => "essc.base64",
            Self::Json(_) => "essc.json",
            Self::Version(_) => "essc.version",
            Self::UnknownKid(_) => "essc.unknown_kid",
            Self::Signature => "essc.signature",
            Self::Lifetime(_) => "essc.lifetime",
            Self::NotYetValid { .. } => "essc.not_yet_valid",
            Self::Expired { .. } => "essc.expired",
            Self::IdChecksum => "essc.id_checksum",
            Self::Region => "essc.region",
            Self::Nonce => "essc.nonce",
            Self::Field(_) => "essc.field",
            Self::Replayed => "essc.replayed",
            Self::Guard(_) => "essc.replay_guard",
        }
    }

    fn message_zh(&self) -> String {
        let what = match self {
            Self::Format | Self::Base64(_) | Self::Json(_) | Self::Field(_) => {
                "无法识别，请刷新后重新出示，或改用社保卡"
            }
            Self::Version(_) => "的版本本终端尚不支持，请改用社保卡或医保码",
            Self::UnknownKid(_) => "的签发机构未在本终端配置，请改用社保卡或医保码，并联系信息科",
            Self::Signature => "签名验证失败，可能是伪造或被篡改的二维码，不能使用",
            Self::Lifetime(_) => "有效期不合法，请刷新后重新出示",
            Self::NotYetValid { .. } => "尚未生效，可能是终端时间不对，请联系信息科校准时间",
            Self::Expired { .. } => "已过期，请刷新后重新出示",
            Self::IdChecksum => "中的社会保障号码校验失败，不能使用，请改用社保卡",
            Self::Region => "中的参保地代码错误，不能使用，请改用社保卡",
            Self::Nonce => "无法识别，请刷新后重新出示，或改用社保卡",
            Self::Replayed => "已使用过，请刷新后重新出示",
            Self::Guard(_) => "暂时无法核验二维码是否已被使用，请稍后重试或改用社保卡",
        };
        format!("电子社保卡码{what}")
    }

    fn message_en(&self) -> String {
        format!("e-SSC refused: {self}")
    }
}

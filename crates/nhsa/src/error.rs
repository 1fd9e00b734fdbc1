//! Why an exchange with the insurance platform failed, sorted by what the caller must do next.
//!
//! The decisive question for a settlement is whether the platform may have acted on the request
//! ([`UpstreamError::outcome_unknown`]): if so the sale must be reversed with 2601 and never
//! settled afresh under a new msgid. Timeouts, a connection lost after sending, HTTP 5xx and an
//! unparsable body leave the outcome unknown; a parsed envelope with `infcode=-1` is a business
//! rejection (nothing happened; the platform's `err_msg` is shown to the cashier). Messages
//! never carry personal data: `err_msg` is scrubbed of ID-number-shaped runs on construction
//! and schema errors keep only a JSON path and serde's category, never the offending value.

use medsettle_base::UserFacing;
use medsettle_base::pii;

/// Why the outcome of a sent request is unknown (besides a plain timeout).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownCause {
    #[error("connection lost after the request was sent: {0}")]
    Interrupted(String),
    #[error("HTTP {0} from the platform")]
    ServerError(u16),
    #[error("response body is not JSON ({0})")]
    Unparsable(String),
}

/// A failed exchange with the platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be made (DNS, refused, TLS handshake): the request never left, so
    /// nothing happened. Only the transport may use this, and only before sending.
    #[error("platform unreachable: {detail}")]
    Unreachable { detail: String },
    /// No answer in time after sending: the platform may have acted.
    #[error("no answer from the platform within {after_ms} ms")]
    Timeout { after_ms: u64 },
    /// The request was sent and the answer is unusable at the transport level.
    #[error("outcome unknown: {cause}")]
    OutcomeUnknown { cause: UnknownCause },
    /// A parsed envelope with `infcode=-1`: the platform refused, nothing happened.
    #[error("platform refused (infcode {infcode}): {err_msg}")]
    Business { infcode: i64, err_msg: String },
    /// JSON that is not the envelope or output the contract describes.
    #[error("response does not match the interface contract: {detail}")]
    Protocol { detail: String },
    /// An HTTP 4xx without an envelope: a gateway refused the request before the platform.
    #[error("gateway refused the request with HTTP {status}")]
    Gateway { status: u16 },
    /// The terminal could not prepare or record the request (audit write, msgid counter,
    /// sign-in missing), so it was not sent: nothing happened upstream.
    #[error("request not sent: {detail}")]
    NotSent { detail: String },
}

impl UpstreamError {
    /// A business rejection; the platform's message is scrubbed of ID numbers.
    pub fn business(infcode: i64, err_msg: &str) -> UpstreamError {
        UpstreamError::Business {
            infcode,
            err_msg: pii::scrub(err_msg.trim()).into_owned(),
        }
    }

    /// A schema mismatch described by a JSON path and serde's error category only.
    pub fn protocol(path: &str, error: &serde_json::Error) -> UpstreamError {
        let category = match error.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "unexpected type or value",
            serde_json::error::Category::Eof => "truncated",
        };
        UpstreamError::Protocol {
            detail: format!("{path}: {category}"),
        }
    }

    /// The failure is transient: the same request (same msgid) may be sent again. For a
    /// settlement that also [`outcome_unknown`](Self::outcome_unknown), 2601 comes first.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable { .. }
            | Self::Timeout { .. }
            | Self::OutcomeUnknown { .. }
            | Self::NotSent { .. } => true,
            Self::Gateway { status } => matches!(status, 408 | 429),
            Self::Business { .. } | Self::Protocol { .. } => false,
        }
    }

    /// The platform may have acted on the request. A `Protocol` error counts: an answer the
    /// terminal cannot read proves nothing about what the platform did.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. } | Self::OutcomeUnknown { .. } | Self::Protocol { .. }
        )
    }
}

impl UserFacing for UpstreamError {
    fn code(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "upstream.unreachable",
            Self::Timeout { .. } => "upstream.timeout",
            Self::OutcomeUnknown { .. } => "upstream.outcome_unknown",
            Self::Business { .. } => "upstream.business",
            Self::Protocol { .. } => "upstream.protocol",
            Self::Gateway { .. } => "upstream.gateway",
            Self::NotSent { .. } => "upstream.not_sent",
        }
    }

    fn message_zh(&self) -> String {
        match self {
            Self::Unreachable { .. } => {
                "无法连接医保平台，本次交易未发送，请检查网络后重试".to_owned()
            }
            Self::Timeout { .. } => {
                "医保平台响应超时，交易结果未知，系统将自动冲正，请勿重复结算".to_owned()
            }
            Self::OutcomeUnknown { .. } => {
                "医保平台通讯中断，交易结果未知，系统将自动冲正，请勿重复结算".to_owned()
            }
            Self::Business { err_msg, .. } if err_msg.is_empty() => {
                "医保平台拒绝本次交易（未返回原因），请联系信息科".to_owned()
            }
            Self::Business { err_msg, .. } => format!("医保平台拒绝本次交易：{err_msg}"),
            Self::Protocol { .. } => {
                "医保平台返回的数据无法识别，交易结果未知，请联系信息科".to_owned()
            }
            Self::Gateway { status } => {
                format!("医保网关拒绝请求（HTTP {status}），请联系信息科检查配置")
            }
            Self::NotSent { .. } => "本机故障，交易未发送至医保平台，请稍后重试".to_owned(),
        }
    }

    fn message_en(&self) -> String {
        match self {
            Self::Unreachable { .. } => {
                "Cannot reach the insurance platform; nothing was sent, retry when the network is back".to_owned()
            }
            Self::Timeout { .. } | Self::OutcomeUnknown { .. } => format!(
                "{self}; the outcome is unknown, the terminal will reverse it (2601): do not settle again"
            ),
            Self::Business { .. } => format!("The insurance {self}"),
            Self::Protocol { .. } => format!("Unreadable answer, outcome unknown: {self}"),
            Self::Gateway { .. } => format!("The insurance {self}; check the upstream configuration"),
            Self::NotSent { .. } => {
                format!("Local failure, nothing was sent to the platform ({self}); retry later")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_callers_rely_on() {
        let unreachable = UpstreamError::Unreachable {
            detail: "refused".into(),
        };
        assert!(unreachable.is_retryable() && !unreachable.outcome_unknown());
        let timeout = UpstreamError::Timeout { after_ms: 30_000 };
        assert!(timeout.is_retryable() && timeout.outcome_unknown());
        let lost = UpstreamError::OutcomeUnknown {
            cause: UnknownCause::ServerError(502),
        };
        assert!(lost.is_retryable() && lost.outcome_unknown());
        let business = UpstreamError::business(-1, "余额不足");
        assert!(!business.is_retryable() && !business.outcome_unknown());
        let protocol = UpstreamError::Protocol { detail: "x".into() };
        assert!(!protocol.is_retryable() && protocol.outcome_unknown());
        assert!(UpstreamError::Gateway { status: 429 }.is_retryable());
        assert!(!UpstreamError::Gateway { status: 401 }.is_retryable());
        assert!(!UpstreamError::Gateway { status: 401 }.outcome_unknown());
    }

    #[test]
    fn codes_are_stable() {
        let all = [
            (
                UpstreamError::Unreachable {
                    detail: String::new(),
                },
                "upstream.unreachable",
            ),
            (UpstreamError::Timeout { after_ms: 1 }, "upstream.timeout"),
            (
                UpstreamError::OutcomeUnknown {
                    cause: UnknownCause::Unparsable("eof".into()),
                },
                "upstream.outcome_unknown",
            ),
            (UpstreamError::business(-1, ""), "upstream.business"),
            (
                UpstreamError::Protocol {
                    detail: String::new(),
                },
                "upstream.protocol",
            ),
            (UpstreamError::Gateway { status: 404 }, "upstream.gateway"),
            (
                UpstreamError::NotSent {
                    detail: String::new(),
                },
                "upstream.not_sent",
            ),
        ];
        for (error, code) in all {
            assert_eq!(error.code(), code);
            assert!(!error.message_zh().is_empty() && !error.message_en().is_empty());
        }
    }

    #[test]
    fn business_message_is_shown_but_scrubbed() {
        let e = UpstreamError::business(-1, " 参保人11010519491231002X未参保 ");
        assert_eq!(
            e.message_zh(),
            "医保平台拒绝本次交易：参保人110105********002X未参保"
        );
        assert!(!e.message_en().contains("11010519491231002X"));
        assert!(!format!("{e:?}").contains("11010519491231002X"));
    }

    #[test]
    fn protocol_detail_keeps_no_value() {
        let err = serde_json::from_str::<u8>(r#""张三""#).unwrap_err();
        let e = UpstreamError::protocol("output.baseinfo.age", &err);
        assert!(!e.to_string().contains("张三"));
        assert!(e.to_string().contains("output.baseinfo.age"));
    }
}

//! Why a sale operation was refused, as the cashier sees it: one stable code per cause, with
//! Chinese and English messages. A refusal changes no stored state unless it says so (a
//! platform refusal moves the sale to `rejected`, recorded in its history).

use super::sale::Failure;
use super::state::SaleState;
use crate::error::UserFacing;
use crate::store::{LimitKind, StoreError};
use crate::upstream::UpstreamError;

#[derive(Debug, thiserror::Error)]
pub enum SaleError {
    #[error("no sale {0}")]
    NotFound(String),
    #[error("bad sale request: {0}")]
    BadRequest(String),
    #[error("credential {0} is unknown or expired; read the card or scan the code again")]
    UnknownCredential(String),
    #[error("a {kind} sale cannot be stored offline")]
    NotStorable { kind: &'static str },
    #[error("the platform is unreachable and this sale must settle online")]
    OnlineRequired,
    #[error("the platform is unreachable; confirm the sale to store it offline")]
    Offline { can_store: bool, cause: String },
    #[error("a sale in state {state} cannot {action}")]
    WrongState {
        state: SaleState,
        action: &'static str,
    },
    #[error("the patient's card PIN is required")]
    PinRequired,
    #[error("the card in the reader is not the card this sale was made with")]
    OtherCard,
    #[error("offline limit reached ({limit:?}): {current} of {max} fen")]
    Limit {
        limit: LimitKind,
        current: i64,
        max: i64,
    },
    #[error("the terminal has no insurance platform configured")]
    NoPlatform,
    #[error("another operation on sale {0} is running")]
    Busy(String),
    #[error(
        "sale in state {state} is not in doubt: only a sale in doubt (settling, unknown, reversing, held, cancelling) can be resolved"
    )]
    NotInDoubt { state: SaleState },
    #[error(
        "the outcome of sale {id} is unknown and the platform refused its reversal ({refusal}): held for an operator (medsettle queue resolve); do not settle it again"
    )]
    Held { id: String, refusal: &'static str },
    #[error(
        "the previous settlement request {omsgid} of this sale was not proven reversed: no new settlement until it is (2601 answered, or an operator's resolution)"
    )]
    ReversalUnproven { omsgid: String },
    /// A money operation on the sale is still running (or was cut off and the forwarder is
    /// finishing it): the caller must not retry but look at the sale.
    #[error("{0} is still running; do not retry, its outcome: GET {path}", path = outcome_path(.0))]
    InProgress(String),
    /// The outcome an earlier run of this operation ended with, answered again to a retry.
    #[error("{}", .0.message_en)]
    Earlier(Failure),
    #[error(transparent)]
    Upstream(UpstreamError),
    #[error("card: {0}")]
    Card(String, &'static str, String),
    #[error(transparent)]
    Store(StoreError),
    #[error("insutype {chosen} is not one of the person's insurances ({})", offered.join(", "))]
    InsutypeNotOffered {
        chosen: String,
        offered: Vec<String>,
    },
    /// A field of a visit request breaks the contract's rule (length, format, code).
    #[error("field {field}: {problem}")]
    Invalid { field: String, problem: String },
    /// A trace code on an item line is refused (traceability.md): not a trace code (the box's
    /// 商品码 or 本位码, unprintable, too long), or the same box twice in one sale.
    #[error("{field}: {}", match .error { Some(e) => e.to_string(), None => "the same trace code twice in one sale (one code per box)".to_owned() })]
    Trace {
        field: String,
        /// `None`: a duplicate.
        error: Option<medsettle_nhsa::trace::TraceCodeError>,
    },
    /// A sale whose lines carry trace codes lacks what their 3505 reports need (a batch field
    /// of a line, the pharmacist, the operator): refused at consent, nothing sent.
    #[error(
        "the 3505 trace report cannot be made: {field}: {problem} (give it in the sale, or set the default in [trace])"
    )]
    TraceIncomplete { field: String, problem: String },
    /// 1101 offered several basic insurances and the request chose none.
    #[error("the person has several insurances ({}): choose one (insutype)", offered.join(", "))]
    InsutypeRequired { offered: Vec<String> },
    /// A visit route on a pharmacy sale, or the other way round.
    #[error("{id} is not {expected}")]
    WrongKind { id: String, expected: &'static str },
    /// A visit was recorded, then a later step of the same request failed: `cause` says why,
    /// the visit stays `state` (the answer names both; a retry goes on from there).
    #[error("{cause} (visit {id} is recorded, state {state})")]
    At {
        id: String,
        state: SaleState,
        cause: Box<SaleError>,
    },
    /// A settled visit is refunded (2208), not cancelled.
    #[error("visit {0} is settled: refund it (POST /v1/visits/{0}/refund)")]
    VisitSettled(String),
}

impl From<StoreError> for SaleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::OfflineLimit {
                limit,
                current,
                max,
                ..
            } => SaleError::Limit {
                limit,
                current,
                max,
            },
            other => SaleError::Store(other),
        }
    }
}

impl SaleError {
    /// The HTTP status for the API.
    pub fn http_status(&self) -> u16 {
        match self {
            SaleError::At { cause, .. } => cause.http_status(),
            SaleError::NotFound(_) => 404,
            SaleError::BadRequest(_)
            | SaleError::Invalid { .. }
            | SaleError::Trace { .. }
            | SaleError::TraceIncomplete { .. }
            | SaleError::UnknownCredential(_)
            | SaleError::PinRequired => 400,
            SaleError::NotStorable { .. }
            | SaleError::WrongState { .. }
            | SaleError::OtherCard
            | SaleError::Busy(_)
            | SaleError::InsutypeNotOffered { .. }
            | SaleError::InsutypeRequired { .. }
            | SaleError::WrongKind { .. }
            | SaleError::VisitSettled(_)
            | SaleError::NotInDoubt { .. }
            | SaleError::ReversalUnproven { .. } => 409,
            SaleError::Limit { .. } => 409,
            SaleError::OnlineRequired | SaleError::Offline { .. } | SaleError::NoPlatform => 503,
            SaleError::Held { .. } => 502,
            SaleError::InProgress(_) => 202,
            SaleError::Earlier(f) if f.code == "upstream.business" => 422,
            SaleError::Earlier(f) if f.code.starts_with("upstream.") => 502,
            SaleError::Earlier(_) => 409,
            SaleError::Upstream(UpstreamError::Business { .. }) => 422,
            SaleError::Upstream(_) => 502,
            SaleError::Card(..) => 422,
            SaleError::Store(_) => 500,
        }
    }
}

impl UserFacing for SaleError {
    fn code(&self) -> &'static str {
        match self {
            SaleError::At { cause, .. } => cause.code(),
            SaleError::NotFound(_) => "sale.not_found",
            SaleError::BadRequest(_) => "sale.bad_request",
            SaleError::UnknownCredential(_) => "sale.unknown_credential",
            SaleError::NotStorable { .. } => "sale.not_storable",
            SaleError::OnlineRequired => "sale.online_required",
            SaleError::Offline { .. } => "sale.offline",
            SaleError::WrongState { .. } => "sale.wrong_state",
            SaleError::PinRequired => "sale.pin_required",
            SaleError::OtherCard => "sale.other_card",
            SaleError::Limit { limit, .. } => match limit {
                LimitKind::PerSale => "sale.limit_per_sale",
                LimitKind::Total => "sale.limit_total",
                LimitKind::Count => "sale.limit_count",
            },
            SaleError::NoPlatform => "sale.no_platform",
            SaleError::Busy(_) => "sale.busy",
            SaleError::NotInDoubt { .. } => "sale.not_in_doubt",
            SaleError::ReversalUnproven { .. } => "sale.reversal_unproven",
            SaleError::Held { .. } => "sale.held",
            SaleError::InProgress(_) => "sale.in_progress",
            SaleError::Earlier(f) => known_code(&f.code),
            SaleError::Upstream(e) => e.code(),
            SaleError::Card(_, code, _) => code,
            SaleError::Store(e) => e.code(),
            SaleError::InsutypeNotOffered { .. } => "sale.insutype_not_offered",
            SaleError::Invalid { .. } => "visit.invalid_field",
            SaleError::InsutypeRequired { .. } => "visit.insutype_required",
            SaleError::WrongKind { .. } => "sale.wrong_kind",
            SaleError::VisitSettled(_) => "visit.settled",
            SaleError::Trace { error: Some(e), .. } => e.code(),
            SaleError::Trace { error: None, .. } => "trace.duplicate",
            SaleError::TraceIncomplete { .. } => "trace.incomplete",
        }
    }

    fn message_zh(&self) -> String {
        match self {
            SaleError::At { id, cause, .. } => {
                format!(
                    "{}（就诊记录 {id} 已保存，可继续操作或撤销。）",
                    cause.message_zh()
                )
            }
            SaleError::NotFound(_) => "未找到该笔交易。".into(),
            SaleError::BadRequest(d) => format!("交易请求有误：{d}"),
            SaleError::UnknownCredential(_) => "凭证已失效，请重新读卡或扫码。".into(),
            SaleError::NotStorable { kind } => match *kind {
                "evoucher" => "医保电子凭证交易必须联网结算，不能脱机保存。".into(),
                _ => "该凭证的交易不能脱机保存，请联网后结算。".into(),
            },
            SaleError::OnlineRequired => {
                "医保平台暂时无法连接，本笔交易须联网结算，请稍后重试。".into()
            }
            SaleError::Offline {
                can_store: true, ..
            } => "医保平台暂时无法连接。确认交易后将脱机保存，网络恢复后自动结算。".into(),
            SaleError::Offline { .. } => "医保平台暂时无法连接，请稍后重试。".into(),
            SaleError::WrongState { state, .. } => {
                format!("交易当前状态为“{}”，不能进行此操作。", state_zh(*state))
            }
            SaleError::PinRequired => "请患者在密码键盘输入社保卡密码。".into(),
            SaleError::OtherCard => "读卡器中的卡不是本笔交易使用的卡，请插入原卡。".into(),
            SaleError::Limit { limit, .. } => match limit {
                LimitKind::PerSale => "本笔金额超过脱机交易单笔上限，不能脱机保存。".into(),
                LimitKind::Total => "脱机交易累计金额已达上限，本笔未保存，请等待网络恢复。".into(),
                LimitKind::Count => "脱机交易笔数已达上限，本笔未保存，请等待网络恢复。".into(),
            },
            SaleError::NoPlatform => "本终端未配置医保平台，无法结算。".into(),
            SaleError::Busy(_) => "该笔交易正在处理中，请稍候。".into(),
            SaleError::NotInDoubt { state } => format!(
                "交易当前状态为“{}”，结果并非未知，不能人工处理（只有结算中、结果未知、冲正中、待人工处理、撤销中的交易可以）。",
                state_zh(*state)
            ),
            SaleError::Held { .. } => {
                "交易结果未知，医保平台拒绝冲正，已转运维人员核实处理，请勿重复结算。".into()
            }
            SaleError::ReversalUnproven { .. } => {
                "上一次结算请求未确认冲正成功，不能重新结算，请联系运维人员。".into()
            }
            SaleError::InProgress(id) => format!(
                "该笔交易仍在处理中，请勿重复操作；稍后查询结果（GET {}）。",
                outcome_path(id)
            ),
            SaleError::Earlier(f) => f.message_zh.clone(),
            SaleError::Upstream(e) => e.message_zh(),
            SaleError::Card(zh, _, _) => zh.clone(),
            SaleError::Store(e) => e.message_zh(),
            SaleError::InsutypeNotOffered { chosen, offered } => format!(
                "所选险种 {chosen} 不在该参保人的参保信息中，可选险种：{}。",
                offered.join("、")
            ),
            SaleError::Invalid { field, problem } => {
                format!("字段 {field} 不符合要求：{problem}")
            }
            SaleError::InsutypeRequired { offered } => format!(
                "参保人有多个基本医疗保险险种（{}），请选择本次就诊使用的险种。",
                offered.join("、")
            ),
            SaleError::WrongKind { expected, .. } => match *expected {
                "a visit" => "这不是门诊就诊记录，请使用药店交易接口。".into(),
                _ => "这是门诊就诊记录，请使用门诊接口（/v1/visits）。".into(),
            },
            SaleError::VisitSettled(_) => "该次就诊已结算，请使用退费（撤销结算）功能。".into(),
            SaleError::Trace {
                field,
                error: Some(e),
            } => format!("{}（{field}）", e.message_zh()),
            SaleError::Trace { field, error: None } => {
                format!("同一追溯码在本笔交易中出现两次，每盒药只扫一次（{field}）")
            }
            SaleError::TraceIncomplete { field, problem } => format!(
                "药品追溯码上报（3505）所需信息不全：{field}（{problem}）。请在交易中填写，或在配置 [trace] 中设置默认值。"
            ),
        }
    }

    fn message_en(&self) -> String {
        match self {
            SaleError::At { id, cause, .. } => format!(
                "{} (visit {id} is recorded: go on from where it stopped, or cancel it)",
                cause.message_en()
            ),
            SaleError::Upstream(e) => e.message_en(),
            SaleError::Earlier(f) => f.message_en.clone(),
            SaleError::Card(_, _, en) => en.clone(),
            SaleError::Store(e) => e.message_en(),
            SaleError::Trace {
                field,
                error: Some(e),
            } => format!("{field}: {}", e.message_en()),
            SaleError::Trace { error: None, .. } => self.to_string(),
            other => {
                let mut s = other.to_string();
                if let Some(first) = s.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                s
            }
        }
    }
}

/// The stable code a recorded failure carried, as the static code it was made from (codes
/// are a closed set); one this build does not know becomes `sale.failed`.
fn known_code(code: &str) -> &'static str {
    const KNOWN: [&str; 7] = [
        "upstream.unreachable",
        "upstream.timeout",
        "upstream.outcome_unknown",
        "upstream.business",
        "upstream.protocol",
        "upstream.gateway",
        "upstream.not_sent",
    ];
    KNOWN
        .into_iter()
        .find(|k| *k == code)
        .unwrap_or("sale.failed")
}

/// Where the outcome of sale or visit `id` is read (visit ids start with `V`).
fn outcome_path(id: &str) -> String {
    if id.starts_with('V') {
        format!("/v1/visits/{id}")
    } else {
        format!("/v1/sales/{id}")
    }
}

/// The state's name for a cashier.
pub fn state_zh(s: SaleState) -> &'static str {
    match s {
        SaleState::Captured => "已登记",
        SaleState::Identified => "已识别",
        SaleState::Presettled => "已预结算",
        SaleState::Confirmed => "已确认",
        SaleState::Queued => "脱机待上传",
        SaleState::Settling => "结算中",
        SaleState::Settled => "已结算",
        SaleState::Rejected => "被拒绝",
        SaleState::Unknown => "结果未知",
        SaleState::Reversing => "冲正中",
        SaleState::Reversed => "已冲正",
        SaleState::Cancelling => "撤销中",
        SaleState::Cancelled => "已撤销",
        SaleState::Expired => "已过期",
        SaleState::Abandoned => "已放弃",
        SaleState::Held => "待人工处理",
        SaleState::Registering => "挂号中",
        SaleState::Registered => "已挂号",
        SaleState::Uploaded => "费用已上传",
        SaleState::Undoing => "撤销挂号中",
        SaleState::Closing => "已退费，撤销挂号中",
    }
}

impl From<super::dispensing::TooLong> for SaleError {
    fn from(e: super::dispensing::TooLong) -> Self {
        SaleError::Invalid {
            field: e.field,
            problem: format!("at most {} characters", e.max),
        }
    }
}

//! 2601 冲正 reversal, 2103/2208 cancellation inputs, and 3201 对总账 daily reconciliation.
//!
//! A reversal names the request it undoes by its msgid and infno (`omsgid`, `oinfno`); only
//! money-moving requests are reversible (upstream.md: 2102, 2103, 2207, 2208). 3201 compares the
//! institution's totals of one clearing group with the platform's; `stmt_rslt = "0"` means
//! balanced.

use serde::{Deserialize, Serialize};

use crate::envelope::lenient_text;
use crate::money::Fen;
use crate::msgid::MsgId;
use medsettle_base::pii::PsnNo;

pub const REVERSAL: &str = "2601";
pub const PHARMACY_CANCEL: &str = "2103";
pub const OUTPATIENT_CANCEL: &str = "2208";
pub const RECONCILE: &str = "3201";

/// The transactions a 2601 may reverse.
pub const REVERSIBLE: [&str; 4] = ["2102", "2103", "2207", "2208"];

/// 2601 input: `{"data": {"psn_no", "omsgid", "oinfno"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReversalInput {
    pub data: Reversal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reversal {
    pub psn_no: PsnNo,
    pub omsgid: MsgId,
    pub oinfno: String,
}

impl ReversalInput {
    /// The reversal of request `omsgid` (`oinfno`), or `None` when that transaction cannot be
    /// reversed (nothing to undo, or not a money-moving request).
    pub fn of(psn_no: &str, omsgid: MsgId, oinfno: &str) -> Option<ReversalInput> {
        REVERSIBLE.contains(&oinfno).then(|| ReversalInput {
            data: Reversal {
                psn_no: PsnNo::new(psn_no),
                omsgid,
                oinfno: oinfno.to_owned(),
            },
        })
    }
}

/// 2103/2208 input: `{"data": {"setl_id", "mdtrt_id", "psn_no"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CancelInput {
    pub data: Cancel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cancel {
    pub setl_id: String,
    pub mdtrt_id: String,
    pub psn_no: PsnNo,
}

/// 3201 input: the institution's totals for one group (`insutype`, `clr_type`,
/// `setl_optins`) over a period of CST days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconcileInput {
    pub data: Statement,
}

/// 3201 `data` (upstream.md "Reconciliation").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub insutype: String,
    pub clr_type: String,
    /// The settlements' `clr_optins` (清算经办机构), not the terminal's region.
    pub setl_optins: String,
    /// `yyyy-MM-dd` (CST), by the platform's `setl_time`.
    pub stmt_begndate: String,
    pub stmt_enddate: String,
    pub medfee_sumamt: Fen,
    pub fund_pay_sumamt: Fen,
    pub acct_pay: Fen,
    /// Signed: how a cancellation counts is a deployment's choice (upstream.md "Uncertain"),
    /// and counting it −1 can make a day of refunds only negative.
    pub fixmedins_setl_cnt: i64,
    /// 退费结算标志: `0` totals exclude refunds, `1` include them. `None` leaves the key out
    /// (older transcriptions have none; the platform then includes refunds). Spelled in lower
    /// case as the contract's table writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refd_setl_flag: Option<String>,
}

/// 3201 output: `{"stmtinfo": {"setl_optins", "stmt_rslt", "stmt_rslt_dscr"}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ReconcileOutput {
    pub stmtinfo: StmtInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct StmtInfo {
    #[serde(deserialize_with = "lenient_text")]
    pub setl_optins: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub stmt_rslt: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub stmt_rslt_dscr: Option<String>,
}

impl StmtInfo {
    /// `stmt_rslt = "0"`: the platform's totals equal the terminal's.
    pub fn balanced(&self) -> bool {
        self.stmt_rslt.as_deref() == Some("0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_money_moving_requests_are_reversible() {
        let id = MsgId::parse("H11010500001202611231000000042").unwrap();
        let r = ReversalInput::of("P1", id.clone(), "2102").unwrap();
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["data"]["omsgid"], "H11010500001202611231000000042");
        assert_eq!(json["data"]["oinfno"], "2102");
        for infno in ["1101", "2101", "2206", "9001", "3201"] {
            assert!(
                ReversalInput::of("P1", id.clone(), infno).is_none(),
                "{infno}"
            );
        }
    }

    #[test]
    fn reconciliation_serialises_amounts_and_reads_the_result() {
        let input = ReconcileInput {
            data: Statement {
                insutype: "310".into(),
                clr_type: "41".into(),
                setl_optins: "110105".into(),
                stmt_begndate: "2026-11-23".into(),
                stmt_enddate: "2026-11-23".into(),
                medfee_sumamt: Fen(12_850),
                fund_pay_sumamt: Fen(8_030),
                acct_pay: Fen(3_000),
                fixmedins_setl_cnt: 1,
                refd_setl_flag: Some("1".into()),
            },
        };
        let json = serde_json::to_value(&input).unwrap();
        assert_eq!(json["data"]["medfee_sumamt"], "128.50");
        assert_eq!(json["data"]["refd_setl_flag"], "1");
        let mut omitted = input.clone();
        omitted.data.refd_setl_flag = None;
        let json = serde_json::to_value(&omitted).unwrap();
        assert!(json["data"].get("refd_setl_flag").is_none());
        assert!(json["data"].get("REFD_SETL_FLAG").is_none());
        let out: ReconcileOutput = serde_json::from_str(
            r#"{"stmtinfo":{"setl_optins":"110105","stmt_rslt":0,"stmt_rslt_dscr":"平"}}"#,
        )
        .unwrap();
        assert!(out.stmtinfo.balanced());
        let off: ReconcileOutput =
            serde_json::from_str(r#"{"stmtinfo":{"stmt_rslt":"1"}}"#).unwrap();
        assert!(!off.stmtinfo.balanced());
        assert!(!ReconcileOutput::default().stmtinfo.balanced());
    }
}

/// How a cancellation counts in 3201's `fixmedins_setl_cnt` when refunds are included
/// (upstream.md "Uncertain": not stated publicly). The terminal's `[settle]
/// reconcile_refund_count` and the sandbox's answer shapes both name one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundCount {
    /// −1: the count is of settlements still standing.
    Minus,
    /// +1: the count is of lines, a cancellation being a line of its own as in the 3202
    /// detail file (the default).
    Plus,
    /// 0: a cancellation moves the amounts only.
    Zero,
}

impl RefundCount {
    /// What one cancellation adds to the count.
    pub fn step(self) -> i64 {
        match self {
            RefundCount::Minus => -1,
            RefundCount::Plus => 1,
            RefundCount::Zero => 0,
        }
    }
}

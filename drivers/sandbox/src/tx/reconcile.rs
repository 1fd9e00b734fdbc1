//! 3201 对总账 (upstream.md "Reconciliation"): compares the institution's totals of one group
//! (`insutype`, `clr_type`, `setl_optins` = the settlements' `clr_optins`) over
//! [`stmt_begndate`, `stmt_enddate`] with the sandbox's books. A settlement counts on the CST
//! day of its `setl_time` unless 2601 reversed it (a cancelled settlement still happened on its
//! day); its cancellation counts on the cancellation's own day, with negated amounts and the
//! configured step in the count ([`AnswerShapes::reconcile_refund_count`](crate::shapes::AnswerShapes)),
//! unless `refd_setl_flag` is `0`. `stmt_rslt` `0` balanced, `1` not; the description then
//! names each total that differs, the institution's against the sandbox's.

use chrono::NaiveDate;
use medsettle_nhsa::money::Fen;
use serde_json::{Map, Value, json};

use super::{TxResult, amount, node, text};
use crate::envelope::{Req, field_text};
use crate::ledger::{SettlementRecord, SettlementStatus};
use crate::state::State;

/// The platform's totals of a group.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Sums {
    medfee: i64,
    fund: i64,
    acct: i64,
    count: i64,
}

impl Sums {
    fn add(&mut self, s: &SettlementRecord, sign: i64, count: i64) {
        self.medfee += sign * s.medfee_sumamt.0;
        self.fund += sign * s.fund_pay_sumamt.0;
        self.acct += sign * s.acct_pay.0;
        self.count += count;
    }
}

/// `refd_setl_flag` (either spelling the public clients use): whether refunds are included.
fn refunds_included(data: &Map<String, Value>) -> Result<bool, String> {
    let lower = field_text(data, "refd_setl_flag");
    let upper = field_text(data, "REFD_SETL_FLAG");
    if let (Some(a), Some(b)) = (&lower, &upper)
        && a != b
    {
        return Err(format!(
            "退费结算标志冲突 refd_setl_flag {a:?} and REFD_SETL_FLAG {b:?} differ"
        ));
    }
    match lower.or(upper).as_deref() {
        None | Some("" | "1") => Ok(true),
        Some("0") => Ok(false),
        Some(other) => Err(format!(
            "退费结算标志错误 refd_setl_flag {other:?} (0, 1, empty or absent)"
        )),
    }
}

pub fn reconcile(state: &mut State, req: &Req) -> TxResult {
    let data = node(req, "data")?;
    let insutype = text(data, "insutype")?;
    let clr_type = text(data, "clr_type")?;
    let setl_optins = text(data, "setl_optins")?;
    let date = |key: &str| {
        let t = text(data, key)?;
        NaiveDate::parse_from_str(&t, "%Y-%m-%d").map_err(|_| format!("日期格式错误 {key} {t}"))
    };
    let (begin, end) = (date("stmt_begndate")?, date("stmt_enddate")?);
    if end < begin {
        return Err(format!(
            "对账日期错误 stmt_enddate {end} is before stmt_begndate {begin}"
        ));
    }
    let medfee = amount(data, "medfee_sumamt")?;
    let fund = amount(data, "fund_pay_sumamt")?;
    let acct = amount(data, "acct_pay")?;
    let cnt: i64 = text(data, "fixmedins_setl_cnt")?
        .parse()
        .map_err(|_| "结算笔数格式错误 fixmedins_setl_cnt".to_owned())?;
    let include_refunds = refunds_included(data)?;
    let step = state.shapes.reconcile_refund_count.step();
    let within = |day: &str| {
        NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok_and(|d| begin <= d && d <= end)
    };
    let mut ours = Sums::default();
    for s in state.settlements.iter().filter(|s| {
        s.fixmedins_code == req.fixmedins_code
            && s.insutype == insutype
            && s.clr_type == clr_type
            && s.clr_optins == setl_optins
    }) {
        if s.status != SettlementStatus::Reversed && within(&s.day) {
            ours.add(s, 1, 1);
        }
        let cancelled_within =
            s.status == SettlementStatus::Cancelled && s.cancel_day.as_deref().is_some_and(within);
        if include_refunds && cancelled_within {
            ours.add(s, -1, step);
        }
    }
    let theirs = Sums {
        medfee: medfee.0,
        fund: fund.0,
        acct: acct.0,
        count: cnt,
    };
    let balanced = theirs == ours;
    let dscr = if balanced {
        "对账一致 balanced".to_owned()
    } else {
        let mut off = Vec::new();
        for (key, sent, booked) in [
            ("medfee_sumamt", theirs.medfee, ours.medfee),
            ("fund_pay_sumamt", theirs.fund, ours.fund),
            ("acct_pay", theirs.acct, ours.acct),
        ] {
            if sent != booked {
                off.push(format!(
                    "{key} 机构 sent {} ≠ 中心 sandbox {}",
                    Fen(sent),
                    Fen(booked)
                ));
            }
        }
        if theirs.count != ours.count {
            off.push(format!(
                "fixmedins_setl_cnt 机构 sent {} ≠ 中心 sandbox {}",
                theirs.count, ours.count
            ));
        }
        format!("对账不平 not balanced: {}", off.join("; "))
    };
    Ok(json!({"stmtinfo": {
        "setl_optins": setl_optins,
        "stmt_rslt": if balanced { "0" } else { "1" },
        "stmt_rslt_dscr": dscr,
    }}))
}

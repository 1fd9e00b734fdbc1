//! 3201 对总账: compares the institution's totals for an insurance type and a range of CST
//! days with the sandbox's effective settlements (settled, not cancelled, not reversed).
//! `stmt_rslt` `0` balanced, `1` not (the description then states the sandbox's totals).

use chrono::NaiveDate;
use medsettle_nhsa::money::Fen;
use serde_json::json;

use super::{TxResult, amount, node, opt_text, text};
use crate::envelope::Req;
use crate::state::State;

pub fn reconcile(state: &mut State, req: &Req) -> TxResult {
    let data = node(req, "data")?;
    let insutype = text(data, "insutype")?;
    let date = |key: &str| {
        let t = text(data, key)?;
        NaiveDate::parse_from_str(&t, "%Y-%m-%d").map_err(|_| format!("日期格式错误 {key} {t}"))
    };
    let (begin, end) = (date("stmt_begndate")?, date("stmt_enddate")?);
    let medfee = amount(data, "medfee_sumamt")?;
    let fund = amount(data, "fund_pay_sumamt")?;
    let acct = amount(data, "acct_pay")?;
    let cnt: u64 = text(data, "fixmedins_setl_cnt")?
        .parse()
        .map_err(|_| "结算笔数格式错误 fixmedins_setl_cnt".to_owned())?;
    let (mut s_medfee, mut s_fund, mut s_acct, mut s_cnt) = (0i64, 0i64, 0i64, 0u64);
    for s in state.settlements.iter().filter(|s| {
        s.status == crate::ledger::SettlementStatus::Effective
            && s.fixmedins_code == req.fixmedins_code
            && s.insutype == insutype
            && NaiveDate::parse_from_str(&s.day, "%Y-%m-%d").is_ok_and(|d| begin <= d && d <= end)
    }) {
        s_medfee += s.medfee_sumamt.0;
        s_fund += s.fund_pay_sumamt.0;
        s_acct += s.acct_pay.0;
        s_cnt += 1;
    }
    let balanced = (medfee.0, fund.0, acct.0, cnt) == (s_medfee, s_fund, s_acct, s_cnt);
    let dscr = if balanced {
        "对账一致 balanced".to_owned()
    } else {
        format!(
            "对账不平 not balanced: sandbox medfee_sumamt {} fund_pay_sumamt {} acct_pay {} setl_cnt {}",
            Fen(s_medfee),
            Fen(s_fund),
            Fen(s_acct),
            s_cnt
        )
    };
    Ok(json!({"stmtinfo": {
        "setl_optins": opt_text(data, "setl_optins"),
        "stmt_rslt": if balanced { "0" } else { "1" },
        "stmt_rslt_dscr": dscr,
    }}))
}

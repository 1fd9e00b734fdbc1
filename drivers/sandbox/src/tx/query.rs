//! 5203 结算信息查询: re-reads a settlement by its `setl_id` (upstream.md "Settlement query").
//! Strict like the platform: `psn_no` and `setl_id` are required (a msgid finds nothing), the
//! settlement must be this institution's and this person's, a reversed settlement no longer
//! exists. The answer has the settlement field set under cancellation-style names (`psn_pay`,
//! `cash_payamt`) with `refd_setl_flag` `1` once it was cancelled and `medins_setl_id` = the
//! settling request's msgid.

use medsettle_nhsa::money::Fen;
use serde_json::json;

use super::{TxResult, node, opt_text, text};
use crate::envelope::Req;
use crate::ledger::SettlementStatus;
use crate::state::State;

pub fn query(state: &mut State, req: &Req) -> TxResult {
    let data = node(req, "data")?;
    let psn_no = text(data, "psn_no")?;
    let setl_id = text(data, "setl_id")?;
    let mdtrt_id = opt_text(data, "mdtrt_id");
    let unknown = || format!("结算信息不存在 setl_id {setl_id} unknown");
    let index = state.settlement_index(&setl_id).ok_or_else(unknown)?;
    let r = &state.settlements[index];
    if r.psn_no != psn_no
        || r.fixmedins_code != req.fixmedins_code
        || (!mdtrt_id.is_empty() && r.mdtrt_id != mdtrt_id)
    {
        return Err(unknown());
    }
    if r.status == SettlementStatus::Reversed {
        return Err(format!(
            "结算信息不存在（已冲正） setl_id {setl_id} was reversed"
        ));
    }
    let refunded = r.status == SettlementStatus::Cancelled;
    let region = state
        .person(&r.psn_no)
        .map(|p| p.region().to_owned())
        .unwrap_or_default();
    let clr_type = if r.infno == "2102" { "41" } else { "11" };
    let dise_codg = state
        .visits
        .get(&r.mdtrt_id)
        .and_then(|v| v.info.as_ref())
        .map(|i| i.dise_codg.clone())
        .unwrap_or_default();
    Ok(json!({
        "setlinfo": {
            "setl_id": r.setl_id,
            "mdtrt_id": r.mdtrt_id,
            "psn_no": r.psn_no,
            "insutype": r.insutype,
            "setl_time": format!("{} 00:00:00", r.day),
            "clr_optins": region,
            "clr_way": "1",
            "clr_type": clr_type,
            "medins_setl_id": r.msgid,
            "refd_setl_flag": if refunded { "1" } else { "0" },
            "medfee_sumamt": r.medfee_sumamt,
            "fund_pay_sumamt": r.fund_pay_sumamt,
            "hifp_pay": r.cap_used,
            "acct_pay": r.acct_pay,
            "acct_mulaid_pay": r.acct_mulaid_pay,
            "psn_pay": Fen(r.acct_pay.0 + r.psn_cash_pay.0),
            "cash_payamt": r.psn_cash_pay,
            "hosp_part_amt": r.hosp_part_amt,
            "invono": "",
            "dise_codg": dise_codg,
            "opter_id": "",
            "opter_name": "",
            "opt_time": format!("{} 00:00:00", r.day),
        },
        "setldetail": [
            { "fund_pay_type": "310100", "fund_payamt": r.cap_used, "setl_proc_info": "统筹基金支出" }
        ],
    }))
}

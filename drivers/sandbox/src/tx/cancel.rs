//! 2103 (pharmacy) / 2208 (outpatient) 结算撤销: puts an effective settlement's money back and
//! marks it cancelled; the answer is the settlement's `setlinfo` with negated amounts and the
//! balance after. 2103 cancels only 2102 settlements, 2208 only 2207 ones, of the visit and
//! person named; the visit's fee lines of that batch stay uploaded and become unsettled.

use medsettle_nhsa::money::Fen;
use medsettle_nhsa::time;

use super::{TxResult, node, opt_text, settle, text};
use crate::envelope::Req;
use crate::ledger::SettlementStatus;
use crate::state::{Effect, State};

pub fn cancel(state: &mut State, req: &Req) -> TxResult {
    let data = node(req, "data")?;
    let setl_id = text(data, "setl_id")?;
    let psn_no = text(data, "psn_no")?;
    // outpatient.md: 2208 names the visit (`mdtrt_id` Req); 2103's is the sandbox's own.
    let mdtrt_id = if req.infno == "2208" {
        text(data, "mdtrt_id")?
    } else {
        opt_text(data, "mdtrt_id")
    };
    let index = state
        .settlement_index(&setl_id)
        .ok_or_else(|| format!("结算信息不存在 setl_id {setl_id} unknown"))?;
    let record = &state.settlements[index];
    let settled_by = if req.infno == "2103" { "2102" } else { "2207" };
    if record.psn_no != psn_no
        || (!mdtrt_id.is_empty() && record.mdtrt_id != mdtrt_id)
        || record.infno != settled_by
        || record.fixmedins_code != req.fixmedins_code
    {
        return Err("结算信息不符 setl_id does not match psn_no/mdtrt_id/transaction".to_owned());
    }
    if record.status != SettlementStatus::Effective {
        return Err(format!(
            "结算已撤销或已冲正 settlement is {:?}",
            record.status
        ));
    }
    state.unbook(index);
    // After 2208 the batch's lines stay uploaded, unsettled (upstream.md).
    state.mark_lines(index, false);
    // The cancellation is stamped at the request's time (CST) and counts on its own day.
    let cancel_time = time::format_inf_time(req.inf_time);
    let record = &mut state.settlements[index];
    record.status = SettlementStatus::Cancelled;
    record.cancel_msgid = Some(req.msgid.clone());
    record.cancel_day = Some(time::format_date(time::cst_day(req.inf_time)));
    record.cancel_time = Some(cancel_time.clone());
    let (bill, split) = settle::recorded(record);
    let mdtrt_id = record.mdtrt_id.clone();
    let key = (record.psn_no.clone(), record.insutype.clone());
    let balc = state.accounts.get(&key).map_or(Fen(0), |a| a.balc);
    state
        .effects
        .insert(req.msgid.clone(), Effect::Cancelled(setl_id.clone()));
    let output = settle::output(&setl_id, &mdtrt_id, &bill, &split, balc, &cancel_time, -1);
    Ok(state.shapes.cancellation(&req.infno, output))
}

//! 2601 冲正: undoes whatever the request `omsgid` did. A settlement is put back and marked
//! reversed; a cancellation is undone (the settlement is effective again). For a 2207 the
//! visit's lines follow: a reversed 2207 leaves them unsettled, a reversed 2208 settles the
//! lines of that settlement again. A msgid that never
//! reached the sandbox, or was refused, has nothing to undo: the answer is still success, and
//! the msgid is remembered as reversed so that, should it arrive later, it is refused
//! (`原交易已冲正`) without effect. Reversing twice answers success and undoes nothing more.

use serde_json::json;

use super::{TxResult, node, text};
use crate::envelope::Req;
use crate::ledger::SettlementStatus;
use crate::state::{Effect, State};

/// Transactions a 2601 may reverse.
pub const REVERSIBLE: [&str; 4] = ["2102", "2103", "2207", "2208"];

pub fn reverse(state: &mut State, req: &Req) -> TxResult {
    let data = node(req, "data")?;
    let psn_no = text(data, "psn_no")?;
    let omsgid = text(data, "omsgid")?;
    let oinfno = text(data, "oinfno")?;
    if !REVERSIBLE.contains(&oinfno.as_str()) {
        return Err(format!("原交易不可冲正 oinfno {oinfno} is not reversible"));
    }
    if state.reversed_set.contains(&omsgid) {
        return Ok(json!({}));
    }
    match state.effects.get(&omsgid).cloned() {
        Some(Effect::Settled(setl_id)) => {
            let index = check(state, &setl_id, &psn_no, &oinfno, false)?;
            match state.settlements[index].status {
                SettlementStatus::Effective => {
                    state.unbook(index);
                    state.mark_lines(index, false);
                    state.settlements[index].status = SettlementStatus::Reversed;
                }
                // The money went back with the cancellation; the settlement is void.
                SettlementStatus::Cancelled => {
                    state.settlements[index].status = SettlementStatus::Reversed;
                }
                SettlementStatus::Reversed => {}
            }
        }
        Some(Effect::Cancelled(setl_id)) => {
            let index = check(state, &setl_id, &psn_no, &oinfno, true)?;
            let record = &state.settlements[index];
            if record.status == SettlementStatus::Cancelled
                && record.cancel_msgid.as_deref() == Some(omsgid.as_str())
            {
                state.book(index);
                state.mark_lines(index, true);
                let record = &mut state.settlements[index];
                record.status = SettlementStatus::Effective;
                record.cancel_msgid = None;
            }
        }
        None => {}
    }
    state.mark_reversed(&omsgid);
    Ok(json!({}))
}

/// The settlement behind an effect, checked against the reversal's person and infno.
fn check(
    state: &State,
    setl_id: &str,
    psn_no: &str,
    oinfno: &str,
    cancellation: bool,
) -> Result<usize, String> {
    let index = state
        .settlement_index(setl_id)
        .ok_or("结算信息不存在 settlement missing")?;
    let record = &state.settlements[index];
    let expected = match (record.infno.as_str(), cancellation) {
        ("2102", false) => "2102",
        ("2102", true) => "2103",
        ("2207", false) => "2207",
        _ => "2208",
    };
    if oinfno != expected {
        return Err(format!(
            "原交易编号不符 omsgid was a {expected}, not {oinfno}"
        ));
    }
    if record.psn_no != psn_no {
        return Err("人员编号与原交易不符 psn_no does not match the original".to_owned());
    }
    Ok(index)
}

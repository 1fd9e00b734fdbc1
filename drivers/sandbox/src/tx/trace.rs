//! 3505 商品销售 and 3506 商品销售退货 (traceability.md): one item line per request under
//! `input.selinfo`, its boxes' trace codes in `drugtracinfo[]{drug_trac_codg}`.
//!
//! Strict where the contract is: the required fields, the capacities, the dates, the `0`/`1`
//! of `trdn_flag`; `setl_id`, when given, must be a settlement of this institution that is in
//! effect (a sale is reported after it settled); one code may not appear twice in a line. A
//! 3506 returns codes: each must have been reported sold by this institution and be still
//! sold (not already returned), so a client that reports a return it never sold is caught.
//!
//! The platform's history of each code is kept ([`TraceEvent`]): a code reported sold twice
//! without a return between (and not split, `trdn_flag=0`) stays visible there, which is how
//! the national platform finds a resold (回流) box. Whether it refuses such a sale is not
//! known, so the sandbox accepts it and records it.
//!
//! The answer is empty or `{retRslt, msgRslt}` ([`AnswerShapes::trace_result_object`](crate::shapes::AnswerShapes)),
//! and [`AnswerShapes::trace_strict_optional`](crate::shapes::AnswerShapes) also requires the four fields one
//! transcription marks required: the two shapes a client must both handle.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::fields::{self, Kind, Spec};
use super::{TxResult, node};
use crate::envelope::{Req, field_text};
use crate::ledger::SettlementStatus;
use crate::state::{State, TraceEvent};

const SELINFO: [Spec; 36] = [
    ("med_list_codg", Kind::C(50), true),
    ("fixmedins_hilist_id", Kind::C(30), true),
    ("fixmedins_hilist_name", Kind::C(200), true),
    ("fixmedins_bchno", Kind::C(30), true),
    ("prsc_dr_cert_type", Kind::C(6), false),
    ("prsc_dr_certno", Kind::C(50), false),
    ("prsc_dr_name", Kind::C(50), true),
    ("phar_cert_type", Kind::C(6), false),
    ("phar_certno", Kind::C(50), false),
    ("phar_name", Kind::C(50), true),
    ("phar_prac_cert_no", Kind::C(50), true),
    ("hi_feesetl_type", Kind::C(6), false),
    ("setl_id", Kind::C(30), false),
    ("mdtrt_sn", Kind::C(30), true),
    ("psn_no", Kind::C(30), false),
    ("psn_cert_type", Kind::C(6), false),
    ("certno", Kind::C(50), false),
    ("psn_name", Kind::C(50), false),
    ("manu_lotnum", Kind::C(30), true),
    ("manu_date", Kind::D, true),
    ("expy_end", Kind::D, false),
    ("rx_flag", Kind::C(3), true),
    ("trdn_flag", Kind::OneOf(&["0", "1"]), true),
    ("finl_trns_pric", Kind::C(24), false),
    ("rxno", Kind::C(40), false),
    ("rx_circ_flag", Kind::C(3), false),
    ("rtal_docno", Kind::C(40), true),
    ("stoout_no", Kind::C(40), false),
    ("bchno", Kind::C(30), false),
    ("drug_prod_barc", Kind::C(30), false),
    ("shelf_posi", Kind::C(20), false),
    ("sel_retn_cnt", Kind::C(24), true),
    ("sel_retn_time", Kind::Dt, true),
    ("sel_retn_opter_name", Kind::C(50), true),
    ("memo", Kind::C(500), false),
    ("mdtrt_setl_type", Kind::C(6), false),
];

/// Required only under [`AnswerShapes::trace_strict_optional`](crate::shapes::AnswerShapes).
const STRICT_OPTIONAL: [&str; 4] = [
    "hi_feesetl_type",
    "psn_cert_type",
    "expy_end",
    "rx_circ_flag",
];

/// 3505 (`returned` false) or 3506.
pub fn report(state: &mut State, req: &Req, returned: bool) -> TxResult {
    let infno = if returned { "3506" } else { "3505" };
    let sel = node(req, "selinfo")?;
    let f = fields::check(sel, &SELINFO)?;
    if state.shapes.trace_strict_optional {
        for key in STRICT_OPTIONAL {
            if f.get(key).is_empty() {
                return Err(format!("入参缺少字段 {key} missing"));
            }
        }
    }
    let cnt = f.get("sel_retn_cnt");
    match medsettle_nhsa::quantity::Qty::parse(&cnt) {
        Ok(q) if q.0 > 0 => {}
        _ => {
            return Err(format!(
                "数量错误 sel_retn_cnt {cnt:?} is not a positive number"
            ));
        }
    }
    let codes = codes(sel)?;
    let setl_id = f.get("setl_id");
    if !setl_id.is_empty() {
        let Some(index) = state.settlement_index(&setl_id) else {
            return Err(format!("结算信息不存在 setl_id {setl_id} unknown"));
        };
        let s = &state.settlements[index];
        if s.fixmedins_code != req.fixmedins_code {
            return Err(format!(
                "结算不属于本机构 setl_id {setl_id} belongs to another institution"
            ));
        }
        // A sale is reported while its settlement stands; a return may follow a refund.
        if !returned && s.status != SettlementStatus::Effective {
            return Err(format!("结算已撤销 setl_id {setl_id} is not in effect"));
        }
    }
    if returned {
        for code in &codes {
            if !state.trace_sold(&req.fixmedins_code, code) {
                return Err(format!(
                    "追溯码无销售记录 drug_trac_codg {code} was not reported sold (or is already returned)"
                ));
            }
        }
    }
    for code in codes {
        state.trace.push(TraceEvent {
            code,
            infno: infno.to_owned(),
            msgid: req.msgid.clone(),
            fixmedins_code: req.fixmedins_code.clone(),
            setl_id: setl_id.clone(),
            fixmedins_bchno: f.get("fixmedins_bchno"),
            rtal_docno: f.get("rtal_docno"),
            med_list_codg: f.get("med_list_codg"),
            trdn_flag: f.get("trdn_flag"),
            sel_retn_time: f.get("sel_retn_time"),
        });
    }
    Ok(taken(state))
}

/// The answer to a report the platform took: `{retRslt, msgRslt}` or nothing.
fn taken(state: &State) -> Value {
    if state.shapes.trace_result_object {
        json!({ "retRslt": "1", "msgRslt": "成功" })
    } else {
        Value::Null
    }
}

/// `drugtracinfo[]`: each `drug_trac_codg` present, at most 100 characters, once per line.
/// An empty or absent list is allowed (a line from the 无码库, stock bought before 2025-07).
fn codes(sel: &serde_json::Map<String, Value>) -> Result<Vec<String>, String> {
    let list = match sel.get("drugtracinfo") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("drugtracinfo 不是数组 drugtracinfo is not an array".to_owned()),
    };
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for entry in list {
        let obj = entry
            .as_object()
            .ok_or_else(|| "drugtracinfo 元素不是对象 entry is not an object".to_owned())?;
        let code = field_text(obj, "drug_trac_codg").unwrap_or_default();
        if code.is_empty() {
            return Err("入参缺少字段 drug_trac_codg missing".to_owned());
        }
        let n = code.chars().count();
        if n > 100 {
            return Err(format!(
                "字段超长 drug_trac_codg has {n} characters, at most 100 allowed"
            ));
        }
        if !seen.insert(code.clone()) {
            return Err(format!(
                "追溯码重复 drug_trac_codg {code} twice in one line"
            ));
        }
        out.push(code);
    }
    Ok(out)
}

/// Codes reported sold more than once with no return between (and not split): what the
/// platform's 回流药 check finds. Each code once, in first-sale order.
pub fn sold_twice(events: &[TraceEvent]) -> Vec<String> {
    let mut balance: std::collections::HashMap<&str, (i64, bool)> = Default::default();
    let mut flagged = Vec::new();
    for e in events {
        let entry = balance.entry(&e.code).or_insert((0, false));
        if e.infno == "3506" {
            entry.0 -= 1;
            continue;
        }
        if e.trdn_flag == "1" {
            continue;
        }
        entry.0 += 1;
        if entry.0 > 1 && !entry.1 {
            entry.1 = true;
            flagged.push(e.code.clone());
        }
    }
    flagged
}

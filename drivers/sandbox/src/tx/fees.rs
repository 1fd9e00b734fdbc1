//! Fee lines of an outpatient visit (outpatient.md): 2204 费用明细上传 stores lines under
//! (`mdtrt_id`, `chrg_bchno`) and answers the per-line `result[]`; 2205 费用明细撤销 deletes
//! a batch's unsettled lines (`chrg_bchno` `0000`: every unsettled line of the visit). Items
//! coded `Z…` are self-pay (自费): `selfpay_prop` 1, the whole amount `fulamt_ownpay_amt`.
//! Line totals are checked as `cnt × pric` to the fen in exact decimals.

use std::collections::{BTreeMap, HashSet};

use medsettle_nhsa::money::Fen;
use medsettle_nhsa::quantity::{Price, Qty, line_amount};
use serde_json::{Value, json};

use super::fields::{self, Kind, Spec};
use super::{TxResult, amount, list, node, object};
use crate::envelope::Req;
use crate::split::is_selfpay;
use crate::state::State;
use crate::visits::Line;

const FEE_LINE: [Spec; 25] = [
    ("feedetl_sn", Kind::C(30), true),
    ("mdtrt_id", Kind::C(30), true),
    ("psn_no", Kind::C(30), true),
    ("chrg_bchno", Kind::C(30), true),
    ("dise_codg", Kind::C(30), false),
    ("rxno", Kind::C(30), false),
    ("rx_circ_flag", Kind::OneOf(&["0", "1"]), true),
    ("fee_ocur_time", Kind::Dt, true),
    ("med_list_codg", Kind::C(50), true),
    ("medins_list_codg", Kind::C(150), true),
    ("det_item_fee_sumamt", Kind::C(20), true),
    ("cnt", Kind::C(20), true),
    ("pric", Kind::C(20), true),
    ("sin_dos_dscr", Kind::C(200), false),
    ("used_frqu_dscr", Kind::C(200), false),
    ("medc_way_dscr", Kind::C(200), false),
    ("bilg_dept_codg", Kind::C(30), true),
    ("bilg_dept_name", Kind::C(100), true),
    ("bilg_dr_codg", Kind::C(30), true),
    ("bilg_dr_name", Kind::C(50), true),
    ("hosp_appr_flag", Kind::C(3), true),
    ("tcmdrug_used_way", Kind::C(6), false),
    ("acord_dept_codg", Kind::C(30), false),
    ("orders_dr_code", Kind::C(30), false),
    ("prd_days", Kind::C(8), false),
];

/// 2204: every line is checked before any is stored.
pub fn upload(state: &mut State, req: &Req) -> TxResult {
    let reuse = state.shapes.reuse_deleted_feedetl_sn;
    let mut lines: Vec<(String, Line, Value)> = Vec::new();
    let mut seen = HashSet::new();
    // (mdtrt_id, chrg_bchno) → the dise_codg the batch carries.
    let mut batch_dise: BTreeMap<(String, String), String> = BTreeMap::new();
    for detail in list(req, "feedetail")? {
        let d = object(detail)?;
        let f = fields::check(d, &FEE_LINE)?;
        let (mdtrt_id, psn_no) = (f.get("mdtrt_id"), f.get("psn_no"));
        let line = Line {
            feedetl_sn: f.get("feedetl_sn"),
            chrg_bchno: f.get("chrg_bchno"),
            med_list_codg: f.get("med_list_codg"),
            dise_codg: f.get("dise_codg"),
            amount: amount(d, "det_item_fee_sumamt")?,
            setl_id: None,
            settled: false,
        };
        let sn = line.feedetl_sn.clone();
        let cnt = Qty::parse(&f.get("cnt")).map_err(|e| format!("数量格式错误 cnt: {e}"))?;
        let pric = Price::parse(&f.get("pric")).map_err(|e| format!("单价格式错误 pric: {e}"))?;
        if line.amount.0 < 0 {
            return Err("明细金额不能为负 negative detail amount".to_owned());
        }
        let expected = line_amount(cnt, pric).ok_or("金额溢出 cnt × pric out of range")?;
        if expected != line.amount {
            return Err(format!(
                "明细金额与数量单价不符 feedetl_sn {sn}: det_item_fee_sumamt {} ≠ cnt {cnt} × pric {pric} = {expected}",
                line.amount
            ));
        }
        let visit = state.open_visit(&mdtrt_id, &psn_no)?;
        if visit.info.is_none() {
            return Err(format!(
                "未上传就诊信息 visit info not uploaded (2203): mdtrt_id {mdtrt_id}"
            ));
        }
        if visit.batch_settled(&line.chrg_bchno) {
            return Err(format!(
                "收费批次已结算 chrg_bchno {} already settled",
                line.chrg_bchno
            ));
        }
        let duplicate = visit.lines.iter().any(|l| l.feedetl_sn == sn);
        if duplicate || !seen.insert((mdtrt_id.clone(), sn.clone())) {
            return Err(format!(
                "费用明细流水号重复 feedetl_sn {sn} already uploaded"
            ));
        }
        if !reuse && visit.deleted_sns.contains(&sn) {
            return Err(format!(
                "费用明细流水号重复 feedetl_sn {sn} was used by a revoked line"
            ));
        }
        let key = (mdtrt_id.clone(), line.chrg_bchno.clone());
        let on_platform = visit.batch(&line.chrg_bchno).next().map(|l| &l.dise_codg);
        let batch = batch_dise
            .entry(key)
            .or_insert_with(|| on_platform.unwrap_or(&line.dise_codg).clone());
        if *batch != line.dise_codg {
            return Err(format!(
                "同一收费批次病种编码不一致 chrg_bchno {}: dise_codg {:?} ≠ {:?} of the batch",
                line.chrg_bchno, line.dise_codg, batch
            ));
        }
        let result = answer(&line, d);
        lines.push((mdtrt_id, line, result));
    }
    let mut results = Vec::new();
    for (mdtrt_id, line, result) in lines {
        if let Some(v) = state.visits.get_mut(&mdtrt_id) {
            // The batch changed: its 2206 answer no longer stands.
            v.trials.remove(&line.chrg_bchno);
            v.lines.push(line);
        }
        results.push(result);
    }
    Ok(json!({"result": results}))
}

/// The platform's classification of one line.
fn answer(line: &Line, d: &serde_json::Map<String, Value>) -> Value {
    let selfpay = is_selfpay(&line.med_list_codg);
    let pric = d.get("pric").cloned().unwrap_or(Value::Null);
    json!({
        "feedetl_sn": line.feedetl_sn,
        "det_item_fee_sumamt": line.amount,
        "cnt": d.get("cnt").cloned().unwrap_or(Value::Null),
        "pric": pric,
        "pric_uplmt_amt": pric,
        "selfpay_prop": if selfpay { "1" } else { "0" },
        "fulamt_ownpay_amt": if selfpay { line.amount } else { Fen(0) },
        "overlmt_amt": Fen(0),
        "preselfpay_amt": Fen(0),
        "inscp_scp_amt": if selfpay { Fen(0) } else { line.amount },
        "chrgitm_lv": if selfpay { "03" } else { "01" },
        "med_chrgitm_type": d.get("med_chrgitm_type").cloned().unwrap_or(Value::Null),
        "bas_medn_flag": "0",
        "hi_nego_drug_flag": "0",
        "chld_medc_flag": "0",
        "list_sp_item_flag": "0",
        "lmt_used_flag": "0",
        "drt_reim_flag": "0",
        "memo": "",
    })
}

/// `chrg_bchno` of 2205 that revokes every unsettled line of the visit.
const ALL_BATCHES: &str = "0000";

/// 2205: deletes unsettled lines; a settled line in the way refuses the whole request.
pub fn revoke(state: &mut State, req: &Req) -> TxResult {
    let data = node(req, "data")?;
    let f = fields::check(
        data,
        &[
            ("mdtrt_id", Kind::C(30), true),
            ("chrg_bchno", Kind::C(30), true),
            ("psn_no", Kind::C(30), true),
        ],
    )?;
    let (mdtrt_id, chrg_bchno) = (f.get("mdtrt_id"), f.get("chrg_bchno"));
    let visit = state.open_visit(&mdtrt_id, &f.get("psn_no"))?;
    let all = chrg_bchno == ALL_BATCHES;
    let targeted: Vec<&Line> = visit
        .lines
        .iter()
        .filter(|l| all || l.chrg_bchno == chrg_bchno)
        .collect();
    let unsettled = targeted.iter().filter(|l| !l.settled).count();
    // `0000` leaves settled lines alone; a settled batch named itself is refused.
    if targeted.iter().any(|l| l.settled) && (!all || unsettled == 0) {
        return Err(format!(
            "已结算的费用明细不能撤销，请先撤销结算 fee details of chrg_bchno {chrg_bchno} are settled: cancel the settlement first (2208)"
        ));
    }
    if unsettled == 0 {
        return Err(format!(
            "费用明细不存在 no fee details to revoke (mdtrt_id {mdtrt_id}, chrg_bchno {chrg_bchno})"
        ));
    }
    if let Some(v) = state.visits.get_mut(&mdtrt_id) {
        let (gone, kept): (Vec<Line>, Vec<Line>) = std::mem::take(&mut v.lines)
            .into_iter()
            .partition(|l| !l.settled && (all || l.chrg_bchno == chrg_bchno));
        v.lines = kept;
        for l in gone {
            v.trials.remove(&l.chrg_bchno);
            v.deleted_sns.insert(l.feedetl_sn);
        }
    }
    Ok(json!({}))
}

//! 2201 门诊挂号 (registers a visit, answers its `mdtrt_id`) and 2204 费用明细上传 (stores fee
//! lines against a visit and batch, answers the per-line `result[]`). Items coded `Z…` are
//! self-pay (自费): `selfpay_prop` 1, the whole amount `fulamt_ownpay_amt`.

use std::collections::HashSet;

use medsettle_nhsa::money::Fen;
use serde_json::{Value, json};

use super::{TxResult, active_insurance, amount, check_cert, list, node, object, person, text};
use crate::envelope::Req;
use crate::split::is_selfpay;
use crate::state::{Fee, State, Visit};

pub fn register(state: &mut State, req: &Req) -> TxResult {
    let data = node(req, "data")?;
    let psn_no = text(data, "psn_no")?;
    let insutype = text(data, "insutype")?;
    let ipt_otp_no = text(data, "ipt_otp_no")?;
    text(data, "begntime")?;
    let p = person(state, &psn_no)?;
    active_insurance(p, &insutype)?;
    check_cert(state, data, p)?;
    let mdtrt_id = state.next_id("M", req.inf_time, 30);
    state.visits.insert(
        mdtrt_id.clone(),
        Visit {
            psn_no: psn_no.clone(),
            insutype,
            fees: Vec::new(),
        },
    );
    Ok(json!({"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "ipt_otp_no": ipt_otp_no}}))
}

pub fn upload(state: &mut State, req: &Req) -> TxResult {
    let mut lines: Vec<(String, Fee, Value)> = Vec::new();
    let mut seen = HashSet::new();
    for detail in list(req, "feedetail")? {
        let d = object(detail)?;
        let mdtrt_id = text(d, "mdtrt_id")?;
        let psn_no = text(d, "psn_no")?;
        let fee = Fee {
            feedetl_sn: text(d, "feedetl_sn")?,
            chrg_bchno: text(d, "chrg_bchno")?,
            med_list_codg: text(d, "med_list_codg")?,
            amount: amount(d, "det_item_fee_sumamt")?,
        };
        if fee.amount.0 < 0 {
            return Err("明细金额不能为负 negative detail amount".to_owned());
        }
        let visit = state
            .visits
            .get(&mdtrt_id)
            .filter(|v| v.psn_no == psn_no)
            .ok_or_else(|| format!("就诊信息不存在 mdtrt_id {mdtrt_id} unknown for this person"))?;
        if state.batch_settled(&req.fixmedins_code, &psn_no, &fee.chrg_bchno) {
            return Err(format!(
                "收费批次已结算 chrg_bchno {} already settled",
                fee.chrg_bchno
            ));
        }
        let duplicate = visit.fees.iter().any(|f| f.feedetl_sn == fee.feedetl_sn);
        if duplicate || !seen.insert((mdtrt_id.clone(), fee.feedetl_sn.clone())) {
            return Err(format!(
                "费用明细流水号重复 feedetl_sn {} already uploaded",
                fee.feedetl_sn
            ));
        }
        let selfpay = is_selfpay(&fee.med_list_codg);
        let pric = d.get("pric").cloned().unwrap_or(Value::Null);
        let result = json!({
            "feedetl_sn": fee.feedetl_sn,
            "det_item_fee_sumamt": fee.amount,
            "cnt": d.get("cnt").cloned().unwrap_or(Value::Null),
            "pric": pric,
            "pric_uplmt_amt": pric,
            "selfpay_prop": if selfpay { "1" } else { "0" },
            "fulamt_ownpay_amt": if selfpay { fee.amount } else { Fen(0) },
            "overlmt_amt": Fen(0),
            "preselfpay_amt": Fen(0),
            "inscp_scp_amt": if selfpay { Fen(0) } else { fee.amount },
            "chrgitm_lv": if selfpay { "03" } else { "01" },
            "med_chrgitm_type": d.get("med_chrgitm_type").cloned().unwrap_or(Value::Null),
            "bas_medn_flag": "0",
            "hi_nego_drug_flag": "0",
            "chld_medc_flag": "0",
            "list_sp_item_flag": "0",
            "lmt_used_flag": "0",
            "drt_reim_flag": "0",
            "memo": "",
        });
        lines.push((mdtrt_id, fee, result));
    }
    let mut results = Vec::new();
    for (mdtrt_id, fee, result) in lines {
        if let Some(v) = state.visits.get_mut(&mdtrt_id) {
            v.fees.push(fee);
        }
        results.push(result);
    }
    Ok(json!({"result": results}))
}

//! 2206 门诊预结算 and 2207 门诊结算 (outpatient.md): the bill is the unsettled fee lines of
//! (`mdtrt_id`, `chrg_bchno`) of an open visit whose info (2203/2203A) is uploaded. 2206
//! settles nothing (its `setl_id` is null) but is remembered per batch; 2207 is refused
//! unless it follows a 2206 of the same batch and total since the batch last changed and
//! echoes that answer's four amounts. A settled batch's lines are marked settled and the
//! settlement recorded on the visit.

use medsettle_nhsa::money::Fen;
use serde_json::Value;

use super::fields::{self, Kind, Spec};
use super::settle::{Bill, run};
use super::{TxResult, amount, check_cert, node, person};
use crate::envelope::Req;
use crate::split::Item;
use crate::state::{Effect, State};
use crate::visits::Trial;

const SETTLE: [Spec; 10] = [
    ("psn_no", Kind::C(30), true),
    ("mdtrt_cert_type", Kind::C(3), true),
    ("mdtrt_cert_no", Kind::C(50), true),
    ("med_type", Kind::C(6), true),
    ("medfee_sumamt", Kind::C(20), true),
    ("psn_setlway", Kind::OneOf(&["01", "02"]), true),
    ("mdtrt_id", Kind::C(30), true),
    ("chrg_bchno", Kind::C(30), true),
    ("acct_used_flag", Kind::OneOf(&["0", "1"]), true),
    ("insutype", Kind::C(6), true),
];

/// The 2206 answer's amounts a 2207 carries back.
const ECHOED: [&str; 4] = [
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
];

/// 2206 (`commit = false`) / 2207.
pub fn outpatient(state: &mut State, req: &Req, commit: bool) -> TxResult {
    let data = node(req, "data")?;
    let f = fields::check(data, &SETTLE)?;
    if commit {
        fields::check(data, &[("invono", Kind::C(20), false)])?;
        for key in ECHOED {
            fields::check(data, &[(key, Kind::C(20), true)])?;
        }
    }
    let medfee = amount(data, "medfee_sumamt")?;
    let (psn_no, mdtrt_id, chrg_bchno) = (f.get("psn_no"), f.get("mdtrt_id"), f.get("chrg_bchno"));
    let visit = state.open_visit(&mdtrt_id, &psn_no)?;
    let info = visit.info.as_ref().ok_or_else(|| {
        format!("未上传就诊信息 visit info not uploaded (2203): mdtrt_id {mdtrt_id}")
    })?;
    let med_type = f.get("med_type");
    if med_type != info.med_type {
        return Err(format!(
            "医疗类别与就诊信息不符 med_type {med_type} is not the visit's {}",
            info.med_type
        ));
    }
    let insutype = f.get("insutype");
    if insutype != visit.insutype {
        return Err(format!(
            "险种类型与挂号不符 insutype {insutype} is not the visit's {}",
            visit.insutype
        ));
    }
    if visit.batch_settled(&chrg_bchno) {
        return Err(format!(
            "收费批次已结算 chrg_bchno {chrg_bchno} already settled"
        ));
    }
    let items: Vec<Item> = visit
        .batch(&chrg_bchno)
        .map(|l| Item {
            med_list_codg: l.med_list_codg.clone(),
            amount: l.amount,
        })
        .collect();
    if items.is_empty() {
        return Err(format!(
            "费用明细不存在 no fees uploaded for chrg_bchno {chrg_bchno}"
        ));
    }
    // The checks `run` repeats, made before the 2206 lookup so a 2207 hears the real reason.
    let sum =
        Fen::checked_sum(items.iter().map(|i| i.amount)).ok_or("金额溢出 amounts overflow")?;
    if sum != medfee {
        return Err(format!(
            "医疗费总额与明细不符 medfee_sumamt {medfee} ≠ sum of details {sum}"
        ));
    }
    check_cert(state, data, person(state, &psn_no)?)?;
    if commit {
        let trial = visit
            .trials
            .get(&chrg_bchno)
            .filter(|t| t.medfee == medfee)
            .ok_or_else(|| {
                format!("未预结算 no pre-settlement (2206) for this batch: chrg_bchno {chrg_bchno}, medfee_sumamt {medfee}")
            })?;
        for (key, expected) in &trial.echoed {
            let sent = amount(data, key)?;
            if sent != *expected {
                return Err(format!(
                    "结算金额与预结算不符 {key} {sent} ≠ {expected} of the 2206 answer"
                ));
            }
        }
    }
    let bill = Bill {
        psn_no,
        insutype,
        mdtrt_id: Some(mdtrt_id.clone()),
        chrg_bchno: chrg_bchno.clone(),
        med_type,
        acct_used_flag: f.get("acct_used_flag"),
        items,
        clr_type: super::settle::OUTPATIENT_CLR_TYPE,
        clr_optins: String::new(),
    };
    let mut out = run(state, req, data, bill, commit, "2207")?;
    let Some(visit) = state.visits.get_mut(&mdtrt_id) else {
        return Ok(out);
    };
    if commit {
        if let Some(Effect::Settled(setl_id)) = state.effects.get(&req.msgid) {
            for l in visit
                .lines
                .iter_mut()
                .filter(|l| l.chrg_bchno == chrg_bchno)
            {
                l.setl_id = Some(setl_id.clone());
                l.settled = true;
            }
            visit.setl_ids.push(setl_id.clone());
        }
        visit.trials.remove(&chrg_bchno);
    } else {
        if let Some(info) = out.get_mut("setlinfo").and_then(Value::as_object_mut) {
            info.insert("setl_id".to_owned(), Value::Null);
        }
        let echoed = ECHOED
            .iter()
            .map(|key| {
                let v = out.pointer(&format!("/setlinfo/{key}")).cloned();
                let fen = v.and_then(|v| serde_json::from_value::<Fen>(v).ok());
                (*key, fen.unwrap_or(Fen(0)))
            })
            .collect();
        visit.trials.insert(chrg_bchno, Trial { medfee, echoed });
    }
    Ok(out)
}

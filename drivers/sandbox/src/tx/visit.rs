//! The visit itself (outpatient.md): 2201 门诊挂号 opens it and answers its `mdtrt_id`, 2202
//! 门诊挂号撤销 cancels it once nothing else of it stands, 2203/2203A 就诊信息上传 records its
//! `med_type`, 病种 and diagnoses, and 5201 就诊信息查询 lists a person's visits (how a
//! client finds a visit whose 2201 answer it lost). Each refuses whatever the contract says
//! the platform refuses, with no partial effect.

use chrono::{DateTime, Utc};
use medsettle_nhsa::time;
use serde_json::{Map, Value, json};

use super::fields::{self, Kind, Spec};
use super::{TxResult, active_insurance, check_cert, node, person};
use crate::envelope::Req;
use crate::ledger::SettlementStatus;
use crate::state::State;
use crate::visits::{Info, Visit};

const REGISTRATION: [Spec; 11] = [
    ("psn_no", Kind::C(30), true),
    ("insutype", Kind::C(6), true),
    ("begntime", Kind::Dt, true),
    ("mdtrt_cert_type", Kind::C(3), true),
    ("mdtrt_cert_no", Kind::C(50), true),
    ("ipt_otp_no", Kind::C(30), true),
    ("atddr_no", Kind::C(30), true),
    ("dr_name", Kind::C(50), true),
    ("dept_code", Kind::C(30), true),
    ("dept_name", Kind::C(100), true),
    ("caty", Kind::C(6), true),
];

/// 2201: opens a visit. `ipt_otp_no` must not name another open visit of the institution.
pub fn register(state: &mut State, req: &Req) -> TxResult {
    let data = node(req, "data")?;
    let f = fields::check(data, &REGISTRATION)?;
    let (psn_no, insutype, ipt_otp_no) = (f.get("psn_no"), f.get("insutype"), f.get("ipt_otp_no"));
    let p = person(state, &psn_no)?;
    active_insurance(p, &insutype)?;
    check_cert(state, data, p)?;
    let taken = state.visits.values().any(|v| {
        !v.cancelled && v.fixmedins_code == req.fixmedins_code && v.ipt_otp_no == ipt_otp_no
    });
    if taken {
        return Err(format!(
            "门诊号重复 ipt_otp_no {ipt_otp_no} already names an open visit of this institution"
        ));
    }
    let begntime = f.get("begntime");
    let begn = cst(&begntime);
    let mdtrt_id = state.next_id("M", req.inf_time, 30);
    state.visits.insert(
        mdtrt_id.clone(),
        Visit::new(
            psn_no.clone(),
            insutype,
            ipt_otp_no.clone(),
            req.fixmedins_code.clone(),
            begntime,
            begn,
        ),
    );
    Ok(json!({"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "ipt_otp_no": ipt_otp_no}}))
}

/// 2202: cancels an open visit without settlements standing or fee lines uploaded.
pub fn cancel(state: &mut State, req: &Req) -> TxResult {
    let data = node(req, "data")?;
    let f = fields::check(
        data,
        &[
            ("psn_no", Kind::C(30), true),
            ("mdtrt_id", Kind::C(30), true),
            ("ipt_otp_no", Kind::C(30), true),
        ],
    )?;
    let mdtrt_id = f.get("mdtrt_id");
    let visit = state
        .visits
        .get(&mdtrt_id)
        .filter(|v| v.psn_no == f.get("psn_no") && v.ipt_otp_no == f.get("ipt_otp_no"))
        .filter(|v| v.fixmedins_code == req.fixmedins_code)
        .ok_or_else(|| {
            format!("就诊信息不存在 visit not found: mdtrt_id {mdtrt_id} with this psn_no and ipt_otp_no")
        })?;
    if visit.cancelled {
        return Err(format!(
            "就诊已撤销 visit already cancelled: mdtrt_id {mdtrt_id}"
        ));
    }
    let standing = visit.setl_ids.iter().any(|id| {
        state
            .settlements
            .iter()
            .any(|s| &s.setl_id == id && s.status == SettlementStatus::Effective)
    });
    if standing {
        return Err(
            "已结算，请先撤销结算 a settlement of the visit stands: cancel it first (2208)"
                .to_owned(),
        );
    }
    if !visit.lines.is_empty() {
        return Err(
            "存在费用明细，请先撤销费用明细 fee details uploaded: revoke them first (2205)"
                .to_owned(),
        );
    }
    if let Some(v) = state.visits.get_mut(&mdtrt_id) {
        v.cancelled = true;
    }
    Ok(json!({}))
}

const VISIT_INFO: [Spec; 11] = [
    ("mdtrt_id", Kind::C(30), true),
    ("psn_no", Kind::C(30), true),
    ("med_type", Kind::C(6), true),
    ("begntime", Kind::Dt, true),
    ("main_cond_dscr", Kind::C(1000), false),
    ("dise_codg", Kind::C(30), false),
    ("dise_name", Kind::C(500), false),
    ("birctrl_type", Kind::C(6), false),
    ("birctrl_matn_date", Kind::D, false),
    ("matn_type", Kind::C(6), false),
    ("geso_val", Kind::N(2), false),
];

const DIAGNOSIS: [Spec; 9] = [
    ("diag_type", Kind::OneOf(&["1", "2", "3"]), true),
    ("diag_srt_no", Kind::N(2), true),
    ("diag_code", Kind::C(20), true),
    ("diag_name", Kind::C(100), true),
    ("diag_dept", Kind::C(50), true),
    ("dise_dor_no", Kind::C(30), true),
    ("dise_dor_name", Kind::C(50), true),
    ("diag_time", Kind::Dt, true),
    ("vali_flag", Kind::OneOf(&["0", "1"]), true),
];

/// 2203 / 2203A: records (or replaces) the visit's `med_type`, 病种 and diagnoses.
pub fn info(state: &mut State, req: &Req) -> TxResult {
    let m = node(req, "mdtrtinfo")?;
    let f = fields::check(m, &VISIT_INFO)?;
    let rows = diagnoses(req)?;
    for (i, row) in rows.iter().enumerate() {
        fields::check(row, &DIAGNOSIS).map_err(|e| format!("{e} (diseinfo[{i}])"))?;
    }
    let main = rows.iter().any(|r| {
        super::opt_text(r, "diag_srt_no")
            .parse::<u8>()
            .is_ok_and(|n| n == 1)
    });
    if !main {
        return Err("缺少主诊断 no main diagnosis (diseinfo with diag_srt_no 1)".to_owned());
    }
    let (med_type, dise_codg) = (f.get("med_type"), f.get("dise_codg"));
    if med_type == "14" && dise_codg.is_empty() {
        return Err("门诊慢特病须填写病种编码 med_type 14 requires dise_codg".to_owned());
    }
    let mdtrt_id = f.get("mdtrt_id");
    state.open_visit(&mdtrt_id, &f.get("psn_no"))?;
    if let Some(v) = state.visits.get_mut(&mdtrt_id) {
        v.info = Some(Info {
            med_type,
            dise_codg,
            diagnoses: rows.len(),
        });
    }
    Ok(json!({}))
}

/// `input.diseinfo`: an array of objects, or (one public client) a single object.
fn diagnoses(req: &Req) -> Result<Vec<&Map<String, Value>>, String> {
    let missing = || "入参缺少节点 input.diseinfo missing or empty".to_owned();
    match req.input.get("diseinfo") {
        Some(Value::Object(o)) => Ok(vec![o]),
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| {
                v.as_object()
                    .ok_or_else(|| "诊断信息不是对象 diseinfo row is not an object".to_owned())
            })
            .collect(),
        _ => Err(missing()),
    }
}

/// 5201: the person's visits at this institution that began within the window.
pub fn query(state: &mut State, req: &Req) -> TxResult {
    let data = node(req, "data")?;
    let f = fields::check(
        data,
        &[
            ("psn_no", Kind::C(30), true),
            ("begntime", Kind::Dt, true),
            ("endtime", Kind::Dt, true),
            ("med_type", Kind::C(6), true),
            ("mdtrt_id", Kind::C(30), false),
        ],
    )?;
    let psn_no = f.get("psn_no");
    person(state, &psn_no)?;
    let (from, to) = (cst(&f.get("begntime")), cst(&f.get("endtime")));
    let (med_type, wanted) = (f.get("med_type"), f.get("mdtrt_id"));
    let list_open = state.shapes.list_open_visits_in_5201;
    let rows: Vec<Value> = state
        .visits
        .iter()
        .filter(|(id, v)| {
            v.psn_no == psn_no
                && v.fixmedins_code == req.fixmedins_code
                && (wanted.is_empty() || **id == wanted)
                && from <= v.begn
                && v.begn <= to
                // A visit without 2203 has no med_type yet: it matches any.
                && v.info.as_ref().is_none_or(|i| i.med_type == med_type)
        })
        .filter(|(_, v)| {
            list_open
                || v.cancelled
                || v.setl_ids.iter().any(|id| {
                    state
                        .settlements
                        .iter()
                        .any(|s| &s.setl_id == id && s.status == SettlementStatus::Effective)
                })
        })
        .map(|(id, v)| {
            json!({
                "mdtrt_id": id,
                "psn_no": v.psn_no,
                "ipt_otp_no": v.ipt_otp_no,
                "med_type": v.info.as_ref().map_or("", |i| i.med_type.as_str()),
                "begntime": v.begntime,
                "insutype": v.insutype,
                "vali_flag": if v.cancelled { "0" } else { "1" },
            })
        })
        .collect();
    Ok(json!({"mdtrtinfo": rows}))
}

/// A `dt` text already checked by `fields::check`.
fn cst(text: &str) -> DateTime<Utc> {
    time::parse_inf_time(text).unwrap_or_default()
}

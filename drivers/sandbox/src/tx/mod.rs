//! The transactions, one file per family, and the helpers they share to read input nodes.
//! Every handler validates everything first and only then changes the state, so a refusal
//! (`Err(err_msg)`, answered as `infcode -1`) never leaves a partial effect.

mod cancel;
pub(crate) mod detail;
mod fees;
mod fields;
mod outpatient;
mod person;
mod query;
mod reconcile;
mod reverse;
mod settle;
mod sign;
pub(crate) mod trace;
mod visit;

use medsettle_nhsa::money::Fen;
use serde_json::{Map, Value};

use crate::config::SandboxConfig;
use crate::envelope::{Req, field_text};
use crate::persons::Person;
use crate::state::State;

/// `Ok(output)` or `Err(err_msg)`.
pub type TxResult = Result<Value, String>;

/// Runs the transaction `req.infno` (known, see `envelope::KNOWN_INFNOS`).
pub fn dispatch(state: &mut State, config: &SandboxConfig, req: &Req) -> TxResult {
    match req.infno.as_str() {
        "9001" => sign::sign_in(state, req),
        "9002" => sign::sign_out(state, req),
        "1101" => person::query(state, req),
        "2101" => settle::pharmacy(state, config, req, false),
        "2102" => settle::pharmacy(state, config, req, true),
        "2201" => visit::register(state, req),
        "2202" => visit::cancel(state, req),
        "2203" | "2203A" => visit::info(state, req),
        "2204" => fees::upload(state, req),
        "2205" => fees::revoke(state, req),
        "2206" => outpatient::outpatient(state, req, false),
        "2207" => outpatient::outpatient(state, req, true),
        "2103" | "2208" => cancel::cancel(state, req),
        "2601" => reverse::reverse(state, req),
        "3201" => reconcile::reconcile(state, req),
        "3505" => trace::report(state, req, false),
        "3506" => trace::report(state, req, true),
        "5201" => visit::query(state, req),
        "5203" => query::query(state, req),
        other => Err(format!("交易暂不支持 infno {other} not implemented")),
    }
}

/// The object node `input.<name>`.
fn node<'a>(req: &'a Req, name: &str) -> Result<&'a Map<String, Value>, String> {
    req.input
        .get(name)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("入参缺少节点 input.{name} missing or not an object"))
}

/// The array node `input.<name>` (non-empty).
fn list<'a>(req: &'a Req, name: &str) -> Result<&'a Vec<Value>, String> {
    req.input
        .get(name)
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| format!("入参缺少节点 input.{name} missing or empty"))
}

/// A required, non-empty text field.
fn text(obj: &Map<String, Value>, key: &str) -> Result<String, String> {
    field_text(obj, key)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("入参缺少字段 {key} missing"))
}

/// An optional text field (empty when absent).
fn opt_text(obj: &Map<String, Value>, key: &str) -> String {
    field_text(obj, key).unwrap_or_default()
}

/// A required amount.
fn amount(obj: &Map<String, Value>, key: &str) -> Result<Fen, String> {
    let value = obj
        .get(key)
        .ok_or_else(|| format!("入参缺少字段 {key} missing"))?;
    serde_json::from_value(value.clone()).map_err(|e| format!("金额格式错误 {key}: {e}"))
}

fn object(v: &Value) -> Result<&Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| "明细不是对象 detail is not an object".to_owned())
}

fn person<'a>(state: &'a State, psn_no: &str) -> Result<&'a Person, String> {
    state
        .person(psn_no)
        .ok_or_else(|| format!("人员编号不存在 psn_no {psn_no} unknown"))
}

/// The person's insurance of `insutype`, which must be active.
fn active_insurance(person: &Person, insutype: &str) -> Result<(), String> {
    let insurance = person
        .insurance(insutype)
        .ok_or_else(|| format!("未查询到参保信息 no insurance of type {insutype}"))?;
    if insurance.psn_insu_stas == "1" {
        Ok(())
    } else {
        Err("参保状态异常 insurance suspended (psn_insu_stas ≠ 1)".to_owned())
    }
}

/// The medical certificate (`mdtrt_cert_type`/`mdtrt_cert_no`) must identify `person`;
/// returns the certificate type.
fn check_cert(state: &State, data: &Map<String, Value>, person: &Person) -> Result<String, String> {
    let cert_type = text(data, "mdtrt_cert_type")?;
    let cert_no = text(data, "mdtrt_cert_no")?;
    let who = match cert_type.as_str() {
        "01" => state.person_by_token(&cert_no),
        "02" => state.person_by_certno(&cert_no),
        "03" => state.person_by_card(&cert_no),
        other => return Err(format!("就诊凭证类型错误 mdtrt_cert_type {other}")),
    };
    match who {
        Some(p) if p.psn_no == person.psn_no => Ok(cert_type),
        None if cert_type == "01" => {
            Err("电子凭证令牌无效或已过期 ecToken invalid or expired".to_owned())
        }
        _ => Err("就诊凭证与人员不符 mdtrt_cert_no does not identify psn_no".to_owned()),
    }
}

//! One protocol request from parsed JSON to response body, under the state lock: envelope
//! checks, refusal of a msgid reused for a different request, the remembered answer of a
//! repeated msgid, refusal of a msgid already reversed, signature, sign-in session, 参保地,
//! then the transaction. Pure with respect to I/O: the
//! HTTP layer (`server.rs`) decides about faults and writes the bytes.
//!
//! Remembered: every answer produced by a transaction (success or business refusal), byte for
//! byte, so a retry with the same msgid gets the same answer and no second effect. Not
//! remembered: refusals of the envelope, the signature or the session (`签到信息无效`), so a
//! client may sign in again and retry the same msgid.

use chrono::{DateTime, Utc};
use medsettle_nhsa::signing;
use serde_json::Value;

use crate::config::SandboxConfig;
use crate::envelope::{self, Req};
use crate::state::State;
use crate::tx;

/// The prefix of every refusal caused by the session (`sign_no`): a client signs in again.
pub const SIGN_IN_INVALID: &str = "签到信息无效";

/// Answers one request body.
pub fn process(
    state: &mut State,
    config: &SandboxConfig,
    body: &Value,
    received: DateTime<Utc>,
) -> String {
    let msgid = envelope::msgid_of(body);
    let (obj, msgid) = match envelope::check_msgid(body, config.fixmedins_code.as_deref()) {
        Ok(ok) => ok,
        Err(msg) => return envelope::respond(&msgid, received, Err(msg)),
    };
    if let Err(msg) = state.claim_msgid(&msgid, envelope::fingerprint_of(obj)) {
        return envelope::respond(&msgid, received, Err(msg));
    }
    if let Some(answer) = state.answers.get(&msgid) {
        // A trace report resent under its msgid (the answer was lost): some platforms refuse
        // the repeat upload instead of answering again (`AnswerShapes::trace_repeat_refused`).
        let infno = obj.get("infno").and_then(Value::as_str).unwrap_or("");
        if state.shapes.trace_repeat_refused && matches!(infno, "3505" | "3506") {
            return envelope::respond(
                &msgid,
                received,
                Err(format!(
                    "该销售记录已上传，请勿重复上传 msgid {msgid} already uploaded"
                )),
            );
        }
        return answer.clone();
    }
    if state.reversed_set.contains(&msgid) {
        return envelope::respond(
            &msgid,
            received,
            Err("原交易已冲正 already reversed".into()),
        );
    }
    let req = match envelope::finish(obj, msgid.clone()) {
        Ok(req) => req,
        Err(msg) => return envelope::respond(&msgid, received, Err(msg)),
    };
    if let Err(msg) = check_signature(&req, config) {
        return envelope::respond(&msgid, received, Err(msg));
    }
    if req.infno != "9001"
        && let Err(msg) = check_session(state, &req)
    {
        return envelope::respond(&msgid, received, Err(msg));
    }
    let result = check_region(state, &req).and_then(|()| tx::dispatch(state, config, &req));
    let answer = envelope::respond(&msgid, received, result);
    state.answers.insert(msgid, answer.clone());
    answer
}

fn check_signature(req: &Req, config: &SandboxConfig) -> Result<(), String> {
    let message = signing::signed_message(&req.infno, &req.msgid, &req.inf_time_text, &req.input);
    match req.signtype.as_str() {
        "MOCK" | "SM3" | "SM2" => {}
        other => return Err(format!("签名类型不支持 signtype {other}")),
    }
    if signing::verify(
        &req.signtype,
        &message,
        req.cainfo.sig.as_deref(),
        config.sm2_public_hex.as_deref(),
    ) {
        Ok(())
    } else {
        Err("签名验证失败 signature invalid".to_owned())
    }
}

fn check_session(state: &State, req: &Req) -> Result<(), String> {
    match state.sessions.get(&req.sign_no) {
        None => Err(format!(
            "{SIGN_IN_INVALID}: sign_no unknown, sign in again (9001)"
        )),
        Some(s) if !s.active => Err(format!(
            "{SIGN_IN_INVALID}: sign_no signed out, sign in again (9001)"
        )),
        Some(s) if s.day != req.day => Err(format!(
            "{SIGN_IN_INVALID}: sign_no is from {} (CST), sign in again (9001)",
            s.day
        )),
        Some(_) => Ok(()),
    }
}

/// A request about a person must name the person's 参保地 in `insuplc_admdvs`.
fn check_region(state: &State, req: &Req) -> Result<(), String> {
    let psn_no = req
        .input
        .pointer("/data/psn_no")
        .or_else(|| req.input.pointer("/feedetail/0/psn_no"))
        .or_else(|| req.input.pointer("/mdtrtinfo/psn_no"))
        .or_else(|| req.input.pointer("/druginfo/psn_no"))
        .or_else(|| req.input.pointer("/drugdetail/0/psn_no"))
        .and_then(Value::as_str);
    let Some(person) = psn_no.and_then(|p| state.person(p)) else {
        return Ok(());
    };
    // The region of the insurance the request names (`insutype`), else of any of the
    // person's insurances (1101 may answer several rows, each with its 参保地).
    let insutype = ["/data/insutype", "/druginfo/insutype"]
        .iter()
        .find_map(|p| req.input.pointer(p))
        .and_then(Value::as_str);
    let regions: Vec<&str> = person
        .insuinfo
        .iter()
        .filter(|i| insutype.is_none_or(|t| i.insutype == t))
        .map(|i| i.insuplc_admdvs.as_str())
        .collect();
    if regions.contains(&req.insuplc_admdvs.as_str())
        || (regions.is_empty() && person.region() == req.insuplc_admdvs)
    {
        Ok(())
    } else {
        Err(format!(
            "参保地区划错误 insuplc_admdvs {:?} is not the person's {}",
            req.insuplc_admdvs,
            regions.first().copied().unwrap_or(person.region())
        ))
    }
}

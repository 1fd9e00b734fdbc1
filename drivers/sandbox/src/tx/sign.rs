//! 9001 签到 and 9002 签退: issuing and retiring `sign_no`. A session belongs to the CST day
//! of the sign-in's `inf_time`; the session check itself lives in `protocol.rs`.

use serde_json::json;

use super::{TxResult, node, text};
use crate::envelope::Req;
use crate::state::{Session, State};

pub fn sign_in(state: &mut State, req: &Req) -> TxResult {
    let sign_in = node(req, "signIn")?;
    text(sign_in, "opter_no")?;
    let sign_no = state.next_id("", req.inf_time, 30);
    state.sessions.insert(
        sign_no.clone(),
        Session {
            day: req.day,
            active: true,
        },
    );
    Ok(json!({"signinoutb": {"sign_time": req.inf_time_text, "sign_no": sign_no}}))
}

pub fn sign_out(state: &mut State, req: &Req) -> TxResult {
    let sign_out = node(req, "signOut")?;
    let sign_no = text(sign_out, "sign_no")?;
    text(sign_out, "opter_no")?;
    let session = state
        .sessions
        .get_mut(&sign_no)
        .filter(|s| s.active)
        .ok_or("签退失败 sign_no unknown or already signed out")?;
    session.active = false;
    Ok(json!({"signoutoutb": {"sign_time": req.inf_time_text}}))
}

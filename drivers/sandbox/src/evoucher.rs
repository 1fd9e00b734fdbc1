//! The e-voucher service (`ec.query`): turns an `ecQrCode` this sandbox issued into a
//! short-lived 40-character `ecToken` for 1101/2102 with `mdtrt_cert_type=01`. Codes are 64
//! uppercase hex digits, opaque to the terminal, and may be queried again within their life;
//! each query issues a fresh token. Pure with respect to I/O.

use chrono::Duration;
use medsettle_nhsa::signing::sm3_hex;
use serde_json::{Value, json};

use crate::config::SandboxConfig;
use crate::state::{Expiring, State};

/// The refusal for an unknown or expired code.
pub const INVALID: &str = "电子凭证无效或已过期";

/// A fresh code for `psn_no`, valid `config.ec_code_ttl_secs`.
pub fn issue(state: &mut State, config: &SandboxConfig, psn_no: &str) -> String {
    let code = hex::encode_upper(rand::random::<[u8; 32]>());
    let expires = state.now() + secs(config.ec_code_ttl_secs);
    state.ec_codes.insert(
        code.clone(),
        Expiring {
            psn_no: psn_no.to_owned(),
            expires,
        },
    );
    code
}

fn secs(n: u64) -> Duration {
    Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX / 1000))
}

/// A failure answer.
pub fn refuse(message: &str) -> Value {
    json!({"code": -1, "message": message, "data": null})
}

/// Answers one `ec.query` body.
pub fn query(state: &mut State, config: &SandboxConfig, body: &Value) -> Value {
    if body.get("transType").and_then(Value::as_str) != Some("ec.query") {
        return refuse("transType 不支持 (expected ec.query)");
    }
    let Some(code) = body.pointer("/data/ecQrCode").and_then(Value::as_str) else {
        return refuse("缺少 data.ecQrCode");
    };
    let now = state.now();
    let Some(psn_no) = state
        .ec_codes
        .get(code)
        .filter(|c| now < c.expires)
        .map(|c| c.psn_no.clone())
    else {
        return refuse(INVALID);
    };
    let Some(p) = state.person(&psn_no).cloned() else {
        return refuse(INVALID);
    };
    let token = hex::encode_upper(rand::random::<[u8; 20]>());
    state.ec_tokens.insert(
        token.clone(),
        Expiring {
            psn_no,
            expires: now + secs(config.ec_token_ttl_secs),
        },
    );
    json!({
        "code": 0,
        "message": "成功",
        "data": {
            "idNo": p.certno,
            "idType": "01",
            "userName": p.psn_name,
            "ecToken": token,
            "insuOrg": p.region(),
            "ecIndexNo": sm3_hex(p.certno.as_bytes())[..32].to_uppercase(),
            "gender": p.gend,
            "birthday": p.brdy,
            "nationality": p.naty,
        }
    })
}

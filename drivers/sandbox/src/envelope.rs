//! The server side of the envelope: validating a request envelope into a [`Req`] and writing
//! response envelopes. Each refusal has its own `err_msg` (Chinese first, English after) so a
//! test, or a person reading a client log, sees which check failed.

use chrono::{DateTime, NaiveDate, Utc};
use medsettle_nhsa::msgid::MsgId;
use medsettle_nhsa::signing::Cainfo;
use medsettle_nhsa::time;
use serde_json::{Map, Value, json};

/// Transactions the sandbox answers.
pub const KNOWN_INFNOS: [&str; 21] = [
    "9001", "9002", "1101", "2101", "2102", "2103", "2201", "2202", "2203", "2203A", "2204",
    "2205", "2206", "2207", "2208", "2601", "3201", "3505", "3506", "5201", "5203",
];

/// Envelope fields that must be present (possibly empty).
const PRESENT: [&str; 17] = [
    "infno",
    "msgid",
    "mdtrtarea_admvs",
    "insuplc_admdvs",
    "recer_sys_code",
    "dev_no",
    "dev_safe_info",
    "cainfo",
    "signtype",
    "infver",
    "opter_type",
    "opter",
    "opter_name",
    "inf_time",
    "fixmedins_code",
    "fixmedins_name",
    "sign_no",
];

/// Envelope fields that must not be empty.
const NON_EMPTY: [&str; 5] = ["infno", "msgid", "inf_time", "fixmedins_code", "signtype"];

/// A validated request envelope.
#[derive(Debug, Clone)]
pub struct Req {
    pub infno: String,
    pub msgid: String,
    pub inf_time_text: String,
    pub inf_time: DateTime<Utc>,
    /// CST day of `inf_time`.
    pub day: NaiveDate,
    pub fixmedins_code: String,
    pub insuplc_admdvs: String,
    pub sign_no: String,
    pub signtype: String,
    pub cainfo: Cainfo,
    pub input: Value,
}

/// The text of field `key` (strings as they are, numbers written out).
pub fn field_text(obj: &Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// The msgid of a body, if it has a string one (for the answer's `inf_refmsgid`).
pub fn msgid_of(body: &Value) -> String {
    body.get("msgid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// Checks the envelope fields up to and including the msgid (enough to look up a remembered
/// answer). The rest is checked by [`finish`].
pub fn check_msgid<'a>(
    body: &'a Value,
    configured_code: Option<&str>,
) -> Result<(&'a Map<String, Value>, String), String> {
    let obj = body
        .as_object()
        .ok_or("请求报文不是JSON对象 body is not a JSON object")?;
    for key in PRESENT {
        if field_text(obj, key).is_none() {
            return Err(format!("报文缺少字段 {key} missing or not text"));
        }
    }
    for key in NON_EMPTY {
        if field_text(obj, key).is_some_and(|v| v.is_empty()) {
            return Err(format!("报文字段为空 {key} is empty"));
        }
    }
    if !obj.get("input").is_some_and(Value::is_object) {
        return Err("报文缺少字段 input missing or not an object".to_owned());
    }
    let msgid = field_text(obj, "msgid").unwrap_or_default();
    let code = field_text(obj, "fixmedins_code").unwrap_or_default();
    let parsed = MsgId::parse(&msgid).map_err(|e| format!("报文ID格式错误 msgid: {e}"))?;
    if parsed.fixmedins_code() != code {
        return Err("报文ID与定点机构编码不符 msgid does not start with fixmedins_code".into());
    }
    if let Some(expected) = configured_code
        && expected != code
    {
        return Err(format!(
            "定点机构编码无效 fixmedins_code {code} is not {expected}"
        ));
    }
    Ok((obj, msgid))
}

/// The rest of the envelope: `inf_time`, `infno` (one of [`KNOWN_INFNOS`]).
pub fn finish(obj: &Map<String, Value>, msgid: String) -> Result<Req, String> {
    let infno = field_text(obj, "infno").unwrap_or_default();
    if !KNOWN_INFNOS.contains(&infno.as_str()) {
        return Err(format!("交易编号不存在 unknown infno {infno}"));
    }
    request(obj, msgid)
}

/// The request's envelope fields, whatever its `infno` (the file transactions, 9101/3202/9102,
/// check theirs on their own path).
pub fn request(obj: &Map<String, Value>, msgid: String) -> Result<Req, String> {
    let text = |k: &str| field_text(obj, k).unwrap_or_default();
    let inf_time_text = text("inf_time");
    let inf_time = time::parse_inf_time(&inf_time_text)
        .map_err(|e| format!("交易时间格式错误 inf_time: {e}"))?;
    Ok(Req {
        infno: text("infno"),
        msgid,
        inf_time_text,
        inf_time,
        day: time::cst_day(inf_time),
        fixmedins_code: text("fixmedins_code"),
        insuplc_admdvs: text("insuplc_admdvs"),
        sign_no: text("sign_no"),
        signtype: text("signtype"),
        cainfo: Cainfo::parse(&text("cainfo")),
        input: obj.get("input").cloned().unwrap_or(Value::Null),
    })
}

/// What makes two requests "the same request" for msgid reuse: the transaction and its
/// `input`. A retry may differ in `sign_no` (after signing in again), `inf_time` and
/// `cainfo`, so those are left out. A 64-bit hash keeps the per-msgid record small; two
/// different requests sharing one is not a practical concern for a test double.
pub fn fingerprint(infno: &str, input: &Value) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    infno.hash(&mut h);
    input.to_string().hash(&mut h);
    h.finish()
}

/// [`fingerprint`] of a request envelope that passed [`check_msgid`].
pub fn fingerprint_of(obj: &Map<String, Value>) -> u64 {
    let infno = field_text(obj, "infno").unwrap_or_default();
    fingerprint(&infno, obj.get("input").unwrap_or(&Value::Null))
}

/// `yyyyMMddHHmmssSSS` in CST.
pub fn format_response_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&time::cst())
        .format("%Y%m%d%H%M%S%3f")
        .to_string()
}

/// A response envelope: `Ok(output)` → infcode 0, `Err(message)` → infcode -1.
pub fn respond(msgid: &str, received: DateTime<Utc>, result: Result<Value, String>) -> String {
    let (infcode, err_msg, output) = match result {
        Ok(output) => (0, String::new(), output),
        Err(msg) => (-1, msg, Value::Null),
    };
    json!({
        "infcode": infcode,
        "inf_refmsgid": msgid,
        "refmsg_time": format_response_time(received),
        "respond_time": format_response_time(Utc::now()),
        "err_msg": err_msg,
        "output": output,
    })
    .to_string()
}

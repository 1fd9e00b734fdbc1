//! The request and response envelopes of 《定点医药机构接口规范》 and the classification of an
//! HTTP answer into a [`Response`] or an [`UpstreamError`].
//!
//! [`Request`] serialises exactly the field names of upstream.md (empty strings for unused
//! fields, as the platform expects). [`Response`] parsing is tolerant: unknown fields are
//! ignored, optional fields may be missing or null, `infcode` may be a number or a string, and
//! `output` is kept as raw JSON for the transaction modules to type. No I/O happens here.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::{UnknownCause, UpstreamError};
use crate::msgid::MsgId;
use crate::time;

/// The envelope fields that come from the terminal's configuration, not from the request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terminal {
    pub mdtrtarea_admvs: String,
    pub recer_sys_code: String,
    pub dev_no: String,
    pub dev_safe_info: String,
    pub signtype: String,
    pub infver: String,
    /// `1` staff, `2` self-service terminal, `3` mobile.
    pub opter_type: String,
    pub opter: String,
    pub opter_name: String,
    pub fixmedins_code: String,
    pub fixmedins_name: String,
}

/// A request envelope carrying the transaction input `I` (usually one named node).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Request<I> {
    pub infno: String,
    pub msgid: MsgId,
    pub mdtrtarea_admvs: String,
    pub insuplc_admdvs: String,
    pub recer_sys_code: String,
    pub dev_no: String,
    pub dev_safe_info: String,
    pub cainfo: String,
    pub signtype: String,
    pub infver: String,
    pub opter_type: String,
    pub opter: String,
    pub opter_name: String,
    pub inf_time: String,
    pub fixmedins_code: String,
    pub fixmedins_name: String,
    pub sign_no: String,
    pub input: I,
}

impl<I> Request<I> {
    /// A request sent at `at` (written as CST `inf_time`). `insuplc_admdvs` and `cainfo` start
    /// empty; set them with the builders when the transaction needs them.
    pub fn new(
        t: &Terminal,
        infno: &str,
        msgid: MsgId,
        at: DateTime<Utc>,
        sign_no: &str,
        input: I,
    ) -> Self {
        Request {
            infno: infno.to_owned(),
            msgid,
            mdtrtarea_admvs: t.mdtrtarea_admvs.clone(),
            insuplc_admdvs: String::new(),
            recer_sys_code: t.recer_sys_code.clone(),
            dev_no: t.dev_no.clone(),
            dev_safe_info: t.dev_safe_info.clone(),
            cainfo: String::new(),
            signtype: t.signtype.clone(),
            infver: t.infver.clone(),
            opter_type: t.opter_type.clone(),
            opter: t.opter.clone(),
            opter_name: t.opter_name.clone(),
            inf_time: time::format_inf_time(at),
            fixmedins_code: t.fixmedins_code.clone(),
            fixmedins_name: t.fixmedins_name.clone(),
            sign_no: sign_no.to_owned(),
            input,
        }
    }

    /// The patient's 参保地, required whenever the input carries `psn_no`.
    pub fn with_insuplc_admdvs(mut self, region: &str) -> Self {
        region.clone_into(&mut self.insuplc_admdvs);
        self
    }

    /// Signature material (may carry the patient's password material for 2102/2207).
    pub fn with_cainfo(mut self, cainfo: &str) -> Self {
        cainfo.clone_into(&mut self.cainfo);
        self
    }
}

/// Only the identifying fields: `cainfo` and the input may carry secrets or personal data.
impl<I> fmt::Debug for Request<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("infno", &self.infno)
            .field("msgid", &self.msgid.as_str())
            .field("inf_time", &self.inf_time)
            .finish_non_exhaustive()
    }
}

/// A parsed response envelope.
#[derive(Clone, PartialEq, Deserialize)]
pub struct Response {
    #[serde(deserialize_with = "infcode")]
    pub infcode: i64,
    #[serde(default, deserialize_with = "lenient_text")]
    pub inf_refmsgid: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    pub refmsg_time: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    pub respond_time: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    pub err_msg: Option<String>,
    /// `Value::Null` when absent (2601 answers without output).
    #[serde(default)]
    pub output: Value,
}

impl Response {
    /// `respond_time` as an instant, when present and well-formed.
    pub fn respond_time_utc(&self) -> Option<DateTime<Utc>> {
        time::parse_response_time(self.respond_time.as_deref()?).ok()
    }

    /// Types `output`; a mismatch is a [`UpstreamError::Protocol`] naming the JSON path.
    pub fn output_as<T: DeserializeOwned>(&self) -> Result<T, UpstreamError> {
        serde_path_to_error::deserialize(&self.output)
            .map_err(|e| UpstreamError::protocol(&format!("output.{}", e.path()), e.inner()))
    }
}

/// The envelope without `output`, which may hold personal data.
impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("infcode", &self.infcode)
            .field("inf_refmsgid", &self.inf_refmsgid)
            .field("respond_time", &self.respond_time)
            .finish_non_exhaustive()
    }
}

/// Turns an HTTP status and body into a successful envelope (`infcode=0`) or an error.
///
/// 5xx and a body that is not JSON leave the outcome unknown; an envelope with `infcode=-1`
/// (also under a 4xx) is a business rejection; JSON that is not an envelope, or an unexpected
/// `infcode`, is a protocol error; a 4xx without an envelope is a gateway refusal.
pub fn classify(http_status: u16, body: &[u8]) -> Result<Response, UpstreamError> {
    let response: Response = decode_answer(http_status, body, "envelope")?;
    match response.infcode {
        -1 => Err(UpstreamError::business(
            -1,
            response.err_msg.as_deref().unwrap_or(""),
        )),
        0 if (200..300).contains(&http_status) => Ok(response),
        code => Err(UpstreamError::Protocol {
            detail: format!("infcode {code} with HTTP {http_status}"),
        }),
    }
}

/// The steps every platform answer shares, up to its typed shape: HTTP 5xx or a body that is not
/// JSON leave the outcome unknown; under a 4xx anything unreadable is a gateway refusal; JSON
/// that is not a `T` is a protocol error naming the path below `what`.
pub fn decode_answer<T: DeserializeOwned>(
    http_status: u16,
    body: &[u8],
    what: &str,
) -> Result<T, UpstreamError> {
    if http_status >= 500 {
        return Err(UpstreamError::OutcomeUnknown {
            cause: UnknownCause::ServerError(http_status),
        });
    }
    let client_error = (400..500).contains(&http_status);
    let gateway = || UpstreamError::Gateway {
        status: http_status,
    };
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) if client_error => return Err(gateway()),
        Err(e) => {
            return Err(UpstreamError::OutcomeUnknown {
                cause: UnknownCause::Unparsable(format!("{:?} at line {}", e.classify(), e.line())),
            });
        }
    };
    match serde_path_to_error::deserialize(&value) {
        Ok(t) => Ok(t),
        Err(_) if client_error => Err(gateway()),
        Err(e) => Err(UpstreamError::protocol(
            &format!("{what}.{}", e.path()),
            e.inner(),
        )),
    }
}

fn infcode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    match Value::deserialize(deserializer)? {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| D::Error::custom("infcode is not an integer")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom("infcode is not an integer")),
        _ => Err(D::Error::custom("infcode is not a number or a string")),
    }
}

/// Text that the platform sends as a string, a number or null; empty text reads as `None`.
pub fn lenient_text<'de, D: Deserializer<'de>, T: From<String>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    use serde::de::Error;
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.into())),
        Value::Number(n) => Ok(Some(n.to_string().into())),
        Value::Bool(b) => Ok(Some(b.to_string().into())),
        _ => Err(D::Error::custom("expected text, a number or null")),
    }
}

#[cfg(test)]
mod tests;

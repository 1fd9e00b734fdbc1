//! 9001 签到 sign-in and 9002 签退 sign-out: the session (`sign_no`) every other request carries.
//!
//! The terminal caches `sign_no` and signs in again when the platform rejects it or when the
//! CST day changes (the lifecycle lives in the daemon's client); this file only has the shapes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::envelope::lenient_text;
use crate::error::UpstreamError;
use crate::time;

pub const SIGN_IN: &str = "9001";
pub const SIGN_OUT: &str = "9002";

/// 9001 input: `{"signIn": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInInput {
    #[serde(rename = "signIn")]
    pub sign_in: SignIn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    pub opter_no: String,
    pub mac: String,
    pub ip: String,
}

/// 9002 input: `{"signOut": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOutInput {
    #[serde(rename = "signOut")]
    pub sign_out: SignOut,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOut {
    pub sign_no: String,
    pub opter_no: String,
}

/// 9001 output.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SignInOutput {
    pub signinoutb: SignInOutB,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SignInOutB {
    #[serde(deserialize_with = "lenient_text")]
    pub sign_time: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub sign_no: Option<String>,
}

impl SignInOutput {
    /// The session number; a sign-in answer without one is a protocol error.
    pub fn sign_no(&self) -> Result<&str, UpstreamError> {
        self.signinoutb
            .sign_no
            .as_deref()
            .ok_or_else(|| UpstreamError::Protocol {
                detail: "output.signinoutb.sign_no: missing".to_owned(),
            })
    }

    /// `sign_time` (CST) as an instant, when present and well-formed.
    pub fn sign_time(&self) -> Option<DateTime<Utc>> {
        time::parse_inf_time(self.signinoutb.sign_time.as_deref()?).ok()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::envelope::{Request, Terminal, classify};
    use crate::msgid::MsgId;

    const REQUEST: &str = include_str!("../../../../fixtures/upstream/9001_request.json");
    const RESPONSE: &str = include_str!("../../../../fixtures/upstream/9001_response.json");
    const INFCODE_STRING: &str = include_str!("../../../../fixtures/upstream/infcode_string.json");

    pub(crate) fn terminal() -> Terminal {
        Terminal {
            mdtrtarea_admvs: "110105".into(),
            recer_sys_code: "YBXT".into(),
            dev_no: "KIOSK-0001".into(),
            dev_safe_info: String::new(),
            signtype: "MOCK".into(),
            infver: "V1.0".into(),
            opter_type: "2".into(),
            opter: "KIOSK-0001".into(),
            opter_name: "自助终端1号".into(),
            fixmedins_code: "P11010500123".into(),
            fixmedins_name: "朝阳示例大药房".into(),
        }
    }

    #[test]
    fn request_serialises_exactly_as_the_fixture() {
        let at = DateTime::parse_from_rfc3339("2025-03-09T01:02:03Z")
            .unwrap()
            .with_timezone(&Utc);
        let msgid = MsgId::new("P11010500123", at, 1).unwrap();
        let input = SignInInput {
            sign_in: SignIn {
                opter_no: "KIOSK-0001".into(),
                mac: "02:00:00:00:00:01".into(),
                ip: "192.0.2.10".into(),
            },
        };
        let request = Request::new(&terminal(), SIGN_IN, msgid, at, "", input);
        let expected: serde_json::Value = serde_json::from_str(REQUEST).unwrap();
        assert_eq!(serde_json::to_value(&request).unwrap(), expected);
        // Field order as in the contract, `input` last.
        let text = serde_json::to_string(&request).unwrap();
        assert!(
            text.starts_with(r#"{"infno":"9001","msgid":"#)
                && text.contains(r#""sign_no":"","input":"#)
        );
    }

    #[test]
    fn output_decodes_from_the_fixtures() {
        let out: SignInOutput = classify(200, RESPONSE.as_bytes())
            .unwrap()
            .output_as()
            .unwrap();
        assert_eq!(out.sign_no().unwrap(), "110000000000000000001234567890");
        assert_eq!(
            out.sign_time().unwrap().to_rfc3339(),
            "2025-03-09T01:02:03+00:00"
        );
        let out: SignInOutput = classify(200, INFCODE_STRING.as_bytes())
            .unwrap()
            .output_as()
            .unwrap();
        assert_eq!(out.sign_no().unwrap(), "110000000000000000001234567893");
    }

    #[test]
    fn missing_sign_no_or_node_is_a_protocol_error() {
        let r = classify(200, br#"{"infcode":0,"output":{"signinoutb":{}}}"#).unwrap();
        let out: SignInOutput = r.output_as().unwrap();
        assert!(matches!(out.sign_no(), Err(UpstreamError::Protocol { .. })));
        let r = classify(200, br#"{"infcode":0,"output":{}}"#).unwrap();
        let e = r.output_as::<SignInOutput>().unwrap_err();
        assert!(matches!(e, UpstreamError::Protocol { .. }), "{e:?}");
    }

    #[test]
    fn sign_out_input_shape() {
        let input = SignOutInput {
            sign_out: SignOut {
                sign_no: "1".into(),
                opter_no: "K".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&input).unwrap(),
            r#"{"signOut":{"sign_no":"1","opter_no":"K"}}"#
        );
    }
}

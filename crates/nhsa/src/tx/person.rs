//! 1101 人员信息获取 person info: who the patient is and which insurances they hold.
//!
//! The output carries personal data (`certno`, `psn_name`): `Debug` masks them, and nothing
//! here logs. `insuinfo[].insuplc_admdvs` becomes the envelope's `insuplc_admdvs` for every
//! later request carrying `psn_no`; `balc` is the personal account balance in [`Fen`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::envelope::lenient_text;
use crate::money::Fen;
use medsettle_base::pii::PsnNo;
use medsettle_base::pii::{mask_id, mask_name};

pub const PERSON_INFO: &str = "1101";

/// `mdtrt_cert_type`: `01` e-voucher token, `02` ID number, `03` social security card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CertType {
    #[serde(rename = "01")]
    EVoucher,
    #[serde(rename = "02")]
    IdNumber,
    #[serde(rename = "03")]
    SocialSecurityCard,
}

/// 1101 input: `{"data": {...}}`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PersonQueryInput {
    pub data: PersonQuery,
}

#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PersonQuery {
    pub mdtrt_cert_type: CertType,
    pub mdtrt_cert_no: String,
    /// 卡识别码, required with [`CertType::SocialSecurityCard`].
    pub card_sn: String,
    /// `yyyy-MM-dd HH:mm:ss` CST.
    pub begntime: String,
    pub psn_cert_type: String,
    pub certno: String,
    pub psn_name: String,
}

impl fmt::Debug for PersonQueryInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersonQuery")
            .field("mdtrt_cert_type", &self.data.mdtrt_cert_type)
            .field("certno", &mask_id(&self.data.certno))
            .finish_non_exhaustive()
    }
}

/// 1101 output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PersonInfo {
    pub baseinfo: BaseInfo,
    pub insuinfo: Vec<InsuInfo>,
    pub idetinfo: Vec<IdetInfo>,
}

#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BaseInfo {
    #[serde(deserialize_with = "lenient_text")]
    pub psn_no: Option<PsnNo>,
    #[serde(deserialize_with = "lenient_text")]
    pub psn_cert_type: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub certno: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub psn_name: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub gend: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub naty: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub brdy: Option<String>,
    /// As the platform writes it (`75`, `75.2`): text, never a float.
    #[serde(deserialize_with = "lenient_text")]
    pub age: Option<String>,
}

impl fmt::Debug for BaseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaseInfo")
            .field("psn_no", &self.psn_no)
            .field("certno", &self.certno.as_deref().map(mask_id))
            .field("psn_name", &self.psn_name.as_deref().map(mask_name))
            .field("gend", &self.gend)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct InsuInfo {
    pub balc: Fen,
    #[serde(deserialize_with = "lenient_text")]
    pub insutype: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub psn_type: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub psn_insu_stas: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub psn_insu_date: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub paus_insu_date: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub insuplc_admdvs: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub emp_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct IdetInfo {
    #[serde(deserialize_with = "lenient_text")]
    pub psn_idet_type: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub psn_type_lv: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub memo: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub begntime: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub endtime: Option<String>,
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::envelope::{Request, classify};
    use crate::error::UpstreamError;
    use crate::msgid::MsgId;
    use crate::tx::sign::tests::terminal;

    const REQUEST: &str = include_str!("../../../../fixtures/upstream/1101_request.json");
    const RESPONSE: &str = include_str!("../../../../fixtures/upstream/1101_response.json");

    #[test]
    fn request_serialises_exactly_as_the_fixture() {
        let at = DateTime::parse_from_rfc3339("2025-03-09T01:05:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let input = PersonQueryInput {
            data: PersonQuery {
                mdtrt_cert_type: CertType::IdNumber,
                mdtrt_cert_no: "11010519491231002X".into(),
                card_sn: String::new(),
                begntime: crate::time::format_inf_time(at),
                psn_cert_type: "01".into(),
                certno: "11010519491231002X".into(),
                psn_name: "张三".into(),
            },
        };
        let msgid = MsgId::new("P11010500123", at, 2).unwrap();
        let sign_no = "110000000000000000001234567890";
        let request = Request::new(&terminal(), PERSON_INFO, msgid, at, sign_no, input);
        let expected: serde_json::Value = serde_json::from_str(REQUEST).unwrap();
        assert_eq!(serde_json::to_value(&request).unwrap(), expected);
        assert!(!format!("{request:?}").contains("11010519491231002X"));
    }

    #[test]
    fn output_decodes_tolerantly() {
        let info: PersonInfo = classify(200, RESPONSE.as_bytes())
            .unwrap()
            .output_as()
            .unwrap();
        assert_eq!(info.baseinfo.psn_name.as_deref(), Some("张三"));
        assert_eq!(info.baseinfo.age.as_deref(), Some("75.2"));
        assert_eq!(info.insuinfo.len(), 2);
        assert_eq!(info.insuinfo[0].balc, Fen(123_450));
        assert_eq!(info.insuinfo[0].insuplc_admdvs.as_deref(), Some("110105"));
        assert_eq!(info.insuinfo[0].paus_insu_date, None);
        assert_eq!(info.insuinfo[1].balc, Fen::ZERO);
        assert_eq!(info.insuinfo[1].psn_type.as_deref(), Some("1102"));
        assert_eq!(info.idetinfo[0].psn_idet_type.as_deref(), Some("2201"));
        let shown = format!("{info:?}");
        assert!(
            !shown.contains("11010519491231002X") && !shown.contains("张三"),
            "{shown}"
        );
    }

    #[test]
    fn missing_nodes_default_and_bad_amounts_are_protocol_errors() {
        let r = classify(
            200,
            br#"{"infcode":0,"output":{"baseinfo":{"psn_no":"1"}}}"#,
        )
        .unwrap();
        let info: PersonInfo = r.output_as().unwrap();
        assert!(info.insuinfo.is_empty() && info.idetinfo.is_empty());
        let r = classify(
            200,
            br#"{"infcode":0,"output":{"insuinfo":[{"balc":"1.234"}]}}"#,
        )
        .unwrap();
        let e = r.output_as::<PersonInfo>().unwrap_err();
        assert_eq!(
            e,
            UpstreamError::Protocol {
                detail: "output.insuinfo[0].balc: unexpected type or value".into()
            }
        );
    }
}

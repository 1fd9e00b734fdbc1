//! The outpatient visit's bookkeeping requests, which move no money but change what the
//! platform holds for a visit (outpatient.md): 2203/2203A 就诊信息上传 (the visit's med_type,
//! 病种 and diagnoses), 2205 费用明细撤销 (deletes a batch's unsettled fee lines), 2202 挂号撤销
//! (closes the visit), and 5201 就诊信息查询 (finds a visit whose 2201 answer was lost).
//!
//! Only types and the field checks the contract's lengths imply; nothing here sends or logs.

use serde::{Deserialize, Deserializer, Serialize};

use crate::envelope::lenient_text;
use medsettle_base::pii::PsnNo;

pub const REGISTRATION_CANCEL: &str = "2202";
pub const VISIT_INFO: &str = "2203";
pub const VISIT_INFO_A: &str = "2203A";
pub const FEE_REVOKE: &str = "2205";
pub const VISIT_QUERY: &str = "5201";
/// The `chrg_bchno` of a 2205 that deletes every unsettled line of the visit.
pub const ALL_BATCHES: &str = "0000";

/// 2202 input: `{"data": {psn_no, mdtrt_id, ipt_otp_no}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistrationCancelInput {
    pub data: RegistrationCancel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistrationCancel {
    pub psn_no: PsnNo,
    pub mdtrt_id: String,
    pub ipt_otp_no: String,
}

/// 2203/2203A input: `{"mdtrtinfo": {...}, "diseinfo": [...]}` (both infnos take the same
/// nodes; which one a province expects is configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisitInfoInput {
    pub mdtrtinfo: VisitInfo,
    pub diseinfo: Vec<Diagnosis>,
}

/// `mdtrtinfo` of 2203/2203A. Optional fields the visit does not use are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VisitInfo {
    pub mdtrt_id: String,
    pub psn_no: PsnNo,
    pub med_type: String,
    /// `yyyy-MM-dd HH:mm:ss` CST.
    pub begntime: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub main_cond_dscr: String,
    /// 病种编码: 门诊慢特病 code for med_type 14; empty for an ordinary visit.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dise_codg: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dise_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub birctrl_type: String,
    /// `yyyy-MM-dd`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub birctrl_matn_date: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub matn_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geso_val: Option<u8>,
}

/// One `diseinfo` row: a diagnosis of the visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// `1` 西医诊断, `2` 中医主病诊断, `3` 中医主证诊断.
    pub diag_type: String,
    /// 1 = the main diagnosis.
    pub diag_srt_no: u8,
    pub diag_code: String,
    pub diag_name: String,
    pub diag_dept: String,
    pub dise_dor_no: String,
    pub dise_dor_name: String,
    /// `yyyy-MM-dd HH:mm:ss` CST.
    pub diag_time: String,
    /// `1` valid.
    pub vali_flag: String,
}

/// 2205 input: `{"data": {mdtrt_id, chrg_bchno, psn_no}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeeRevokeInput {
    pub data: FeeRevoke,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeeRevoke {
    pub mdtrt_id: String,
    /// The batch, or [`ALL_BATCHES`] for every unsettled line.
    pub chrg_bchno: String,
    pub psn_no: PsnNo,
}

/// 5201 input: `{"data": {psn_no, begntime, endtime, med_type, mdtrt_id?}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisitQueryInput {
    pub data: VisitQuery,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisitQuery {
    pub psn_no: PsnNo,
    pub begntime: String,
    pub endtime: String,
    pub med_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mdtrt_id: Option<String>,
}

/// 5201 output: `{"mdtrtinfo": [...]}`; a single object or nothing is tolerated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct VisitQueryOutput {
    #[serde(deserialize_with = "one_or_many")]
    pub mdtrtinfo: Vec<VisitRow>,
}

/// One visit the platform holds for the person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct VisitRow {
    #[serde(deserialize_with = "lenient_text")]
    pub mdtrt_id: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub ipt_otp_no: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub med_type: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub begntime: Option<String>,
    /// `0` for a cancelled visit, where the platform says so.
    #[serde(deserialize_with = "lenient_text")]
    pub vali_flag: Option<String>,
}

impl VisitQueryOutput {
    /// The still valid visit numbered `ipt_otp_no`, if the platform lists one (a row without
    /// `vali_flag` counts as valid).
    pub fn ours(&self, ipt_otp_no: &str) -> Option<&VisitRow> {
        self.mdtrtinfo.iter().find(|r| {
            r.ipt_otp_no.as_deref() == Some(ipt_otp_no)
                && r.mdtrt_id.as_deref().is_some_and(|m| !m.is_empty())
                && r.vali_flag.as_deref().is_none_or(|f| f.trim() != "0")
        })
    }
}

/// An array, a single object (one public client met it), or null/absent.
fn one_or_many<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    match value {
        serde_json::Value::Null => Ok(Vec::new()),
        serde_json::Value::Array(_) => {
            serde_json::from_value(value).map_err(serde::de::Error::custom)
        }
        other => serde_json::from_value::<T>(other)
            .map(|one| vec![one])
            .map_err(serde::de::Error::custom),
    }
}

/// An answer to 2202 or 2205 that says there is nothing left to undo: the visit or the lines
/// no longer exist, or the visit is already cancelled. outpatient.md: such an answer counts as
/// done (a resent undo whose first copy took effect gets it).
pub fn nothing_left(err_msg: &str) -> bool {
    const GONE: [&str; 10] = [
        "不存在",
        "已撤销",
        "已取消",
        "已作废",
        "无可撤销",
        "未找到",
        "not found",
        "no longer exist",
        "already cancelled",
        "nothing to revoke",
    ];
    let lower = err_msg.to_lowercase();
    GONE.iter().any(|g| lower.contains(g)) || lower.contains("no fee details to revoke")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_5201_answer_finds_our_valid_visit_whatever_its_shape() {
        let many: VisitQueryOutput = serde_json::from_value(serde_json::json!({
            "mdtrtinfo": [
                {"mdtrt_id": "M1", "ipt_otp_no": "V1", "vali_flag": "0"},
                {"mdtrt_id": "M2", "ipt_otp_no": "V1", "med_type": 11},
                {"mdtrt_id": "M3", "ipt_otp_no": "V2"}
            ]
        }))
        .unwrap();
        assert_eq!(many.ours("V1").unwrap().mdtrt_id.as_deref(), Some("M2"));
        assert_eq!(many.ours("V9"), None);
        let one: VisitQueryOutput = serde_json::from_value(serde_json::json!({
            "mdtrtinfo": {"mdtrt_id": "M4", "ipt_otp_no": "V4"}
        }))
        .unwrap();
        assert_eq!(one.ours("V4").unwrap().mdtrt_id.as_deref(), Some("M4"));
        let none: VisitQueryOutput =
            serde_json::from_value(serde_json::json!({"mdtrtinfo": null})).unwrap();
        assert!(none.mdtrtinfo.is_empty());
        let absent: VisitQueryOutput = serde_json::from_value(serde_json::json!({})).unwrap();
        assert!(absent.ours("V1").is_none());
    }

    #[test]
    fn an_undo_refused_because_nothing_is_left_counts_as_done() {
        for gone in [
            "就诊信息不存在 visit not found",
            "费用明细不存在 no fee details to revoke",
            "就诊已撤销 visit already cancelled",
            "该就诊记录已作废",
        ] {
            assert!(nothing_left(gone), "{gone}");
        }
        for other in [
            "存在费用明细，请先撤销费用明细",
            "已结算的费用明细不能撤销，请先撤销结算",
            "系统繁忙",
        ] {
            assert!(!nothing_left(other), "{other}");
        }
    }

    #[test]
    fn the_undo_inputs_have_the_contract_shapes() {
        let revoke = FeeRevokeInput {
            data: FeeRevoke {
                mdtrt_id: "M1".into(),
                chrg_bchno: ALL_BATCHES.into(),
                psn_no: "P1".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&revoke).unwrap(),
            serde_json::json!({"data": {"mdtrt_id": "M1", "chrg_bchno": "0000", "psn_no": "P1"}})
        );
        let info = VisitInfoInput {
            mdtrtinfo: VisitInfo {
                mdtrt_id: "M1".into(),
                psn_no: "P1".into(),
                med_type: "11".into(),
                begntime: "2026-12-03 10:00:00".into(),
                ..VisitInfo::default()
            },
            diseinfo: vec![],
        };
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(v["mdtrtinfo"]["med_type"], "11");
        assert!(v["mdtrtinfo"].get("dise_codg").is_none(), "{v}");
        assert_eq!(v["diseinfo"], serde_json::json!([]));
    }
}

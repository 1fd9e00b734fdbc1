//! The outpatient family: 2201 门诊挂号 registration, 2204 门诊费用明细上传 fee upload,
//! 2206 门诊预结算 pre-settlement and 2207 门诊结算 settlement.
//!
//! 2201 opens a visit and answers its `mdtrt_id`, which every later step carries; 2204 uploads
//! the checked fee lines (see [`fee`](super::fee)) and answers the platform's view of each;
//! 2206 and 2207 answer a [`Settlement`], and [`OutpatientInput::into_settle`] builds the 2207
//! request from the 2206 one and its answer. `Debug` masks the certificate number; nothing here
//! sends or logs.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::fee::{FeeDetail, FeeError, check_lines};
use super::person::CertType;
use super::pharmacy::flag;
use super::settle::Settlement;
use crate::envelope::lenient_text;
use crate::error::UpstreamError;
use crate::money::Fen;
use crate::quantity::{Price, Qty};
use medsettle_base::pii::PsnNo;
use medsettle_base::pii::mask_id;

pub const OUTPATIENT_REGISTER: &str = "2201";
pub const OUTPATIENT_FEE_UPLOAD: &str = "2204";
pub const OUTPATIENT_PRESETTLE: &str = "2206";
pub const OUTPATIENT_SETTLE: &str = "2207";

/// 2201 input: `{"data": {...}}`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct RegistrationInput {
    pub data: Registration,
}

#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    pub psn_no: PsnNo,
    pub insutype: String,
    /// `yyyy-MM-dd HH:mm:ss` CST.
    pub begntime: String,
    pub mdtrt_cert_type: CertType,
    pub mdtrt_cert_no: String,
    pub ipt_otp_no: String,
    pub atddr_no: String,
    pub dr_name: String,
    pub dept_code: String,
    pub dept_name: String,
    pub caty: String,
}

impl fmt::Debug for RegistrationInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("psn_no", &self.data.psn_no)
            .field("mdtrt_cert_no", &mask_id(&self.data.mdtrt_cert_no))
            .field("ipt_otp_no", &self.data.ipt_otp_no)
            .finish_non_exhaustive()
    }
}

/// 2201 output: `{"data": {"mdtrt_id", "psn_no", "ipt_otp_no"}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RegistrationOutput {
    pub data: Registered,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Registered {
    #[serde(deserialize_with = "lenient_text")]
    pub mdtrt_id: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub psn_no: Option<PsnNo>,
    #[serde(deserialize_with = "lenient_text")]
    pub ipt_otp_no: Option<String>,
}

impl RegistrationOutput {
    /// The visit id; an answer without one is a protocol error.
    pub fn mdtrt_id(&self) -> Result<&str, UpstreamError> {
        self.data
            .mdtrt_id
            .as_deref()
            .ok_or_else(|| UpstreamError::Protocol {
                detail: "output.data.mdtrt_id: missing".to_owned(),
            })
    }
}

/// 2204 input: `{"feedetail": [...]}`, every line checked and tied to a visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeeUploadInput {
    feedetail: Vec<FeeDetail>,
    #[serde(skip)]
    total: Fen,
}

impl FeeUploadInput {
    /// Checks the lines (see [`check_lines`]) and that each carries its `mdtrt_id`.
    pub fn new(feedetail: Vec<FeeDetail>) -> Result<FeeUploadInput, FeeError> {
        let total = check_lines(&feedetail)?;
        if let Some(line) = feedetail.iter().find(|l| l.mdtrt_id.is_empty()) {
            return Err(FeeError::MissingField {
                feedetl_sn: line.feedetl_sn.clone(),
                field: "mdtrt_id",
            });
        }
        Ok(FeeUploadInput { feedetail, total })
    }

    pub fn lines(&self) -> &[FeeDetail] {
        &self.feedetail
    }

    /// The sum of the uploaded lines: the `medfee_sumamt` of the 2206 that follows.
    pub fn total(&self) -> Fen {
        self.total
    }
}

/// 2204 output: `{"result": [...]}`, one entry per accepted line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct FeeUploadOutput {
    pub result: Vec<FeeResult>,
}

/// The platform's classification of one uploaded line; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct FeeResult {
    #[serde(deserialize_with = "lenient_text")]
    pub feedetl_sn: Option<String>,
    pub det_item_fee_sumamt: Option<Fen>,
    pub cnt: Option<Qty>,
    pub pric: Option<Price>,
    /// 定价上限金额.
    pub pric_uplmt_amt: Option<Price>,
    /// 自付比例, a ratio such as `"0.1"`: kept as the platform's text, never a float.
    #[serde(deserialize_with = "lenient_text")]
    pub selfpay_prop: Option<String>,
    pub fulamt_ownpay_amt: Option<Fen>,
    pub overlmt_amt: Option<Fen>,
    pub preselfpay_amt: Option<Fen>,
    pub inscp_scp_amt: Option<Fen>,
    /// 收费项目等级 (甲/乙/丙类).
    #[serde(deserialize_with = "lenient_text")]
    pub chrgitm_lv: Option<String>,
    /// 医疗收费项目类别.
    #[serde(deserialize_with = "lenient_text")]
    pub med_chrgitm_type: Option<String>,
}

/// 2206/2207 input: `{"data": {...}}`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct OutpatientInput {
    pub data: OutpatientSettle,
}

#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct OutpatientSettle {
    pub psn_no: PsnNo,
    pub mdtrt_cert_type: CertType,
    pub mdtrt_cert_no: String,
    pub med_type: String,
    pub medfee_sumamt: Fen,
    pub psn_setlway: String,
    pub mdtrt_id: String,
    pub chrg_bchno: String,
    /// `"1"` when the personal account pays, `"0"` otherwise.
    #[serde(serialize_with = "flag")]
    pub acct_used_flag: bool,
    pub insutype: String,
    /// 2207 only, like the amounts below (taken from the 2206 answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invono: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fulamt_ownpay_amt: Option<Fen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlmt_selfpay: Option<Fen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preselfpay_amt: Option<Fen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inscp_scp_amt: Option<Fen>,
    /// The trace-code counts (2206 and 2207), only when the visit's lines carry codes.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub trace_counts: Option<super::trace::TraceCounts>,
}

impl OutpatientInput {
    /// The 2207 input: this 2206 input plus the invoice number and the amounts the 2206 answer
    /// gave. An answer for another visit or another total is refused as a protocol error.
    pub fn into_settle(
        mut self,
        invono: &str,
        presettled: &Settlement,
    ) -> Result<OutpatientInput, UpstreamError> {
        let s = &presettled.setlinfo;
        if s.medfee_sumamt != self.data.medfee_sumamt
            || s.mdtrt_id
                .as_deref()
                .is_some_and(|m| m != self.data.mdtrt_id)
        {
            return Err(UpstreamError::Protocol {
                detail: "2206 answer is for another visit or total".to_owned(),
            });
        }
        let d = &mut self.data;
        d.invono = Some(invono.to_owned());
        d.fulamt_ownpay_amt = s.fulamt_ownpay_amt;
        d.overlmt_selfpay = s.overlmt_selfpay;
        d.preselfpay_amt = s.preselfpay_amt;
        d.inscp_scp_amt = s.inscp_scp_amt;
        Ok(self)
    }

    /// [`OUTPATIENT_SETTLE`] once an invoice number is set, else [`OUTPATIENT_PRESETTLE`].
    pub fn infno(&self) -> &'static str {
        if self.data.invono.is_some() {
            OUTPATIENT_SETTLE
        } else {
            OUTPATIENT_PRESETTLE
        }
    }
}

impl fmt::Debug for OutpatientInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutpatientSettle")
            .field("infno", &self.infno())
            .field("psn_no", &self.data.psn_no)
            .field("mdtrt_cert_no", &mask_id(&self.data.mdtrt_cert_no))
            .field("mdtrt_id", &self.data.mdtrt_id)
            .field("medfee_sumamt", &self.data.medfee_sumamt)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;

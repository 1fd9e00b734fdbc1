//! An outpatient visit as the sale document keeps it ([`Visit`]: what the HIS described and
//! what the platform holds of it, batch by batch). Pure data; what the HIS sends to open or
//! price a visit, and its checks, is `visit_intake`.

use serde::{Deserialize, Serialize};

use crate::upstream::Fen;
use crate::upstream::tx::visit::Diagnosis;

/// What a visit is and what the platform holds of it (outpatient.md "Order").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    /// 门诊号, unique per visit inside the institution (2201, 2202).
    pub ipt_otp_no: String,
    /// 医疗类别 (2203, 2206, 2207).
    pub med_type: String,
    /// 挂号/就诊时间, `yyyy-MM-dd HH:mm:ss` CST.
    pub begntime: String,
    pub dept_code: String,
    pub dept_name: String,
    /// 科别 (dict).
    pub caty: String,
    /// 医师编码 and name.
    pub atddr_no: String,
    pub dr_name: String,
    /// 病种 (med_type 14: the patient's registered 慢特病 code); the same in every fee line.
    #[serde(default)]
    pub dise_codg: String,
    #[serde(default)]
    pub dise_name: String,
    #[serde(default)]
    pub main_cond_dscr: String,
    #[serde(default)]
    pub birctrl_type: String,
    #[serde(default)]
    pub matn_type: String,
    pub diagnoses: Vec<Diagnosis>,
    /// 个人结算方式 `01`/`02`.
    pub psn_setlway: String,
    /// The platform's visit id (2201 answer, or found by 5201).
    #[serde(default)]
    pub mdtrt_id: Option<String>,
    /// The platform holds the registration (2201 answered, no 2202 yet).
    #[serde(default)]
    pub registration_open: bool,
    /// 2203/2203A answered.
    #[serde(default)]
    pub info_uploaded: bool,
    /// The fee lines on the platform, or being put there.
    #[serde(default)]
    pub batch: Option<Batch>,
    /// Batches numbered so far (a re-priced visit uploads under a new `chrg_bchno`).
    #[serde(default)]
    pub batches: u32,
    /// The bookkeeping request in flight (2201, 2203A, 2204, 2205, 2202, 5201): recorded on
    /// the document before it is sent, cleared with its effect.
    #[serde(default)]
    pub step: Option<Step>,
    /// Undo requests the platform refused (not "nothing left"): the visit waits for an
    /// operator or a later retry, and the in-doubt alarm names it.
    #[serde(default)]
    pub undo_refusals: u32,
}

/// A bookkeeping request of the visit, recorded before it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub msgid: String,
    pub infno: String,
    pub at_ms: i64,
}

/// Fee lines under one `chrg_bchno`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub chrg_bchno: String,
    pub state: BatchState,
    /// The sum of the lines: the batch's `medfee_sumamt`.
    pub total: Fen,
    /// The platform's classification of each line from the 2204 answer, for display:
    /// `[feedetl_sn, chrgitm_lv, selfpay_prop]` (the whole answer is in the audit table; the
    /// document stays small because it is rewritten at every step).
    #[serde(default)]
    pub result: Vec<[String; 3]>,
    /// The amounts of the last 2206 answer, echoed in 2207.
    #[serde(default)]
    pub echo: Option<Echo>,
}

/// Where a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// 2204 recorded and sent, not answered: the lines may be on the platform (a 2205 for
    /// this batch comes before anything else).
    Sending,
    /// 2204 answered.
    Uploaded,
    /// 2207 answered for this batch.
    Settled,
}

/// The 2206 answer's amounts 2207 carries back (outpatient.md 2207).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Echo {
    pub fulamt_ownpay_amt: Fen,
    pub overlmt_selfpay: Fen,
    pub preselfpay_amt: Fen,
    pub inscp_scp_amt: Fen,
}

impl Visit {
    /// The platform may hold fee lines of this visit that are not settled.
    pub fn lines_held(&self) -> bool {
        self.batch
            .as_ref()
            .is_some_and(|b| b.state != BatchState::Settled)
    }

    /// The platform holds (or may hold) anything of the visit: a registration whose 2201
    /// was sent, or fee lines.
    pub fn holds_anything(&self) -> bool {
        self.registration_open
            || self.lines_held()
            || self
                .step
                .as_ref()
                .is_some_and(|s| s.infno == crate::upstream::tx::outpatient::OUTPATIENT_REGISTER)
    }

    /// The view for the API and events (no personal data: the person is in the sale's).
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "ipt_otp_no": self.ipt_otp_no,
            "med_type": self.med_type,
            "begntime": self.begntime,
            "dept_code": self.dept_code,
            "dept_name": self.dept_name,
            "caty": self.caty,
            "atddr_no": self.atddr_no,
            "dr_name": self.dr_name,
            "dise_codg": self.dise_codg,
            "diagnoses": self.diagnoses,
            "psn_setlway": self.psn_setlway,
            "mdtrt_id": self.mdtrt_id,
            "registration_open": self.registration_open,
            "info_uploaded": self.info_uploaded,
            "batch": self.batch,
            "step": self.step.as_ref().map(|s| serde_json::json!({ "infno": s.infno, "msgid": s.msgid })),
            "holds": self.holds_anything(),
            "undo_refusals": self.undo_refusals,
        })
    }

    /// The next batch number: the visit id for the first, `<id>B<n>` after.
    pub fn next_batch(&mut self, id: &str) -> String {
        self.batches += 1;
        if self.batches == 1 {
            id.to_owned()
        } else {
            format!("{id}B{}", self.batches)
        }
    }
}

/// Extra fields of a visit's fee line (2204), kept on the [`Item`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineExtra {
    /// 处方号.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rxno: String,
    /// 外购处方标志 `0`/`1` (empty: `0`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rx_circ_flag: String,
    /// `yyyy-MM-dd HH:mm:ss` CST (empty: the visit's begntime).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fee_ocur_time: String,
    /// 开单科室 and doctor (empty: the visit's department and doctor).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bilg_dept_codg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bilg_dept_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bilg_dr_codg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bilg_dr_name: String,
    /// 医院审批标志 (empty: `1`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hosp_appr_flag: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sin_dos_dscr: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub used_frqu_dscr: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub medc_way_dscr: String,
}

impl LineExtra {
    /// The line's fields with the visit's defaults filled in (the document keeps only what
    /// differs from them: it is rewritten at every step of the visit).
    pub fn resolved(&self, visit: &Visit) -> LineExtra {
        let or = |v: &str, d: &str| {
            if v.is_empty() {
                d.to_owned()
            } else {
                v.to_owned()
            }
        };
        LineExtra {
            rxno: self.rxno.clone(),
            rx_circ_flag: or(&self.rx_circ_flag, "0"),
            fee_ocur_time: or(&self.fee_ocur_time, &visit.begntime),
            bilg_dept_codg: or(&self.bilg_dept_codg, &visit.dept_code),
            bilg_dept_name: or(&self.bilg_dept_name, &visit.dept_name),
            bilg_dr_codg: or(&self.bilg_dr_codg, &visit.atddr_no),
            bilg_dr_name: or(&self.bilg_dr_name, &visit.dr_name),
            hosp_appr_flag: or(&self.hosp_appr_flag, "1"),
            sin_dos_dscr: self.sin_dos_dscr.clone(),
            used_frqu_dscr: self.used_frqu_dscr.clone(),
            medc_way_dscr: self.medc_way_dscr.clone(),
        }
    }

    /// Only what differs from the visit's defaults.
    pub fn compact(mut self, visit: &Visit) -> LineExtra {
        let clear = |v: &mut String, d: &str| {
            if v == d {
                v.clear();
            }
        };
        clear(&mut self.rx_circ_flag, "0");
        clear(&mut self.fee_ocur_time, &visit.begntime);
        clear(&mut self.bilg_dept_codg, &visit.dept_code);
        clear(&mut self.bilg_dept_name, &visit.dept_name);
        clear(&mut self.bilg_dr_codg, &visit.atddr_no);
        clear(&mut self.bilg_dr_name, &visit.dr_name);
        clear(&mut self.hosp_appr_flag, "1");
        self
    }
}

//! What the HIS sends to open an outpatient visit or to price it ([`NewVisit`],
//! [`NewVisitLine`], [`NewDetails`]) and the checks of outpatient.md's field lengths and codes
//! that turn it into a [`Visit`] and priced items. Pure: a refusal here creates nothing and
//! sends nothing.

use serde::Deserialize;

use super::error::SaleError;
use super::sale::Item;
use super::visit::{LineExtra, Visit};
use crate::upstream::tx::visit::Diagnosis;
use crate::upstream::{Fen, Price, Qty};

/// A new visit as the HIS describes it (`POST /v1/visits`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVisit {
    /// From `POST /v1/card/read` or `POST /v1/qr/scan`.
    pub credential_id: String,
    /// The insurance to use among the 1101 rows (default: the configured rule).
    #[serde(default)]
    pub insutype: Option<String>,
    /// 门诊号 (default: the visit id).
    #[serde(default)]
    pub ipt_otp_no: Option<String>,
    /// 医疗类别 (default `11` 普通门诊).
    #[serde(default)]
    pub med_type: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss` (default: now).
    #[serde(default)]
    pub begntime: Option<String>,
    pub dept_code: String,
    pub dept_name: String,
    pub caty: String,
    pub atddr_no: String,
    pub dr_name: String,
    #[serde(default)]
    pub dise_codg: Option<String>,
    #[serde(default)]
    pub dise_name: Option<String>,
    #[serde(default)]
    pub main_cond_dscr: Option<String>,
    #[serde(default)]
    pub birctrl_type: Option<String>,
    #[serde(default)]
    pub matn_type: Option<String>,
    pub diagnoses: Vec<NewDiagnosis>,
    /// `01` (default) or `02`.
    #[serde(default)]
    pub psn_setlway: Option<String>,
    /// The personal account may pay (`acct_used_flag`). Default true.
    #[serde(default)]
    pub use_account: Option<bool>,
    /// Fee lines to upload at once (or later with `PUT /v1/visits/{id}/details`).
    #[serde(default)]
    pub items: Vec<NewVisitLine>,
    /// Who dispensed (and prescribed: default the visit's doctor), for the trace reports of
    /// lines with codes (default `[trace]`).
    #[serde(default)]
    pub dispensing: Option<super::dispensing::Dispensing>,
}

/// A diagnosis (2203 `diseinfo`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDiagnosis {
    /// `1` 西医, `2` 中医主病, `3` 中医主证 (default `1`).
    #[serde(default)]
    pub diag_type: Option<String>,
    /// 1 = the main diagnosis.
    pub diag_srt_no: u8,
    pub diag_code: String,
    pub diag_name: String,
    /// Default: the visit's department name.
    #[serde(default)]
    pub diag_dept: Option<String>,
    /// Default: the visit's doctor.
    #[serde(default)]
    pub dise_dor_no: Option<String>,
    #[serde(default)]
    pub dise_dor_name: Option<String>,
    /// Default: the visit's begntime.
    #[serde(default)]
    pub diag_time: Option<String>,
}

/// A fee line as the HIS sends it: the catalogue codes it maps, quantity and price as exact
/// decimals, and the 2204 fields (defaults from the visit).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVisitLine {
    /// 医疗目录编码 (`med_list_codg`).
    pub code: String,
    /// 医药机构目录编码 (`medins_list_codg`); default `code`.
    #[serde(default)]
    pub local_code: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub cnt: Qty,
    pub pric: Price,
    #[serde(default)]
    pub rxno: Option<String>,
    /// `0` (default) or `1` (an outside prescription: `rxno` required).
    #[serde(default)]
    pub rx_circ_flag: Option<String>,
    #[serde(default)]
    pub fee_ocur_time: Option<String>,
    #[serde(default)]
    pub bilg_dept_codg: Option<String>,
    #[serde(default)]
    pub bilg_dept_name: Option<String>,
    #[serde(default)]
    pub bilg_dr_codg: Option<String>,
    #[serde(default)]
    pub bilg_dr_name: Option<String>,
    /// Default `1`.
    #[serde(default)]
    pub hosp_appr_flag: Option<String>,
    #[serde(default)]
    pub sin_dos_dscr: Option<String>,
    #[serde(default)]
    pub used_frqu_dscr: Option<String>,
    #[serde(default)]
    pub medc_way_dscr: Option<String>,
    /// The boxes' traceability codes (药品追溯码) and batch data of a drug line dispensed by
    /// the hospital pharmacy: reported with 3505 once the visit settles.
    #[serde(default)]
    pub trace: Option<super::trace::NewLineTrace>,
}

/// The replacement of a visit's fee lines (`PUT /v1/visits/{id}/details`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDetails {
    pub items: Vec<NewVisitLine>,
}

/// A field that fails the contract's rule.
fn invalid(field: impl Into<String>, problem: impl Into<String>) -> SaleError {
    SaleError::Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

/// `text` (trimmed) of at most `max` characters; `required` refuses an empty one.
fn text(field: &str, text: &str, max: usize, required: bool) -> Result<String, SaleError> {
    let t = text.trim();
    if required && t.is_empty() {
        return Err(invalid(field, "required"));
    }
    let n = t.chars().count();
    if n > max {
        return Err(invalid(field, format!("at most {max} characters, got {n}")));
    }
    if t.chars().any(char::is_control) {
        return Err(invalid(field, "control characters are not allowed"));
    }
    Ok(t.to_owned())
}

fn opt(field: &str, value: &Option<String>, max: usize) -> Result<String, SaleError> {
    text(field, value.as_deref().unwrap_or(""), max, false)
}

/// A `yyyy-MM-dd HH:mm:ss` time.
fn datetime(field: &str, value: &str) -> Result<String, SaleError> {
    chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S")
        .map(|_| value.to_owned())
        .map_err(|_| invalid(field, "a time as yyyy-MM-dd HH:mm:ss"))
}

/// A dictionary code of digits, `min..=max` long.
fn code(field: &str, value: &str, min: usize, max: usize) -> Result<String, SaleError> {
    if (min..=max).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(invalid(field, format!("{min}–{max} digits")))
    }
}

/// med_type codes outpatient.md names; other 2–6 digit codes are provincial and pass through.
pub const MED_TYPES: [(&str, &str); 5] = [
    ("11", "普通门诊"),
    ("12", "门诊挂号"),
    ("13", "急诊"),
    ("14", "门诊慢特病"),
    ("51", "生育门诊"),
];

impl NewVisit {
    /// The checked visit (nothing registered yet); `id` is the visit's id, `now` the time
    /// defaults take.
    pub fn check(&self, id: &str, now: &str) -> Result<Visit, SaleError> {
        let med_type = code("med_type", self.med_type.as_deref().unwrap_or("11"), 2, 6)?;
        let begntime = datetime("begntime", self.begntime.as_deref().unwrap_or(now))?;
        let dise_codg = opt("dise_codg", &self.dise_codg, 30)?;
        if med_type == "14" && dise_codg.is_empty() {
            return Err(invalid(
                "dise_codg",
                "med_type 14 (门诊慢特病) needs the patient's registered disease code",
            ));
        }
        let birctrl_type = opt("birctrl_type", &self.birctrl_type, 6)?;
        let matn_type = opt("matn_type", &self.matn_type, 6)?;
        if med_type == "51" && birctrl_type.is_empty() && matn_type.is_empty() {
            return Err(invalid(
                "matn_type",
                "med_type 51 (生育门诊) needs matn_type or birctrl_type",
            ));
        }
        let psn_setlway = self.psn_setlway.as_deref().unwrap_or("01");
        if !matches!(psn_setlway, "01" | "02") {
            return Err(invalid("psn_setlway", "01 (按项目) or 02 (按定额)"));
        }
        let ipt_otp_no = match &self.ipt_otp_no {
            Some(n) => text("ipt_otp_no", n, 30, true)?,
            None => id.to_owned(),
        };
        let dept_name = text("dept_name", &self.dept_name, 100, true)?;
        let atddr_no = text("atddr_no", &self.atddr_no, 30, true)?;
        let dr_name = text("dr_name", &self.dr_name, 50, true)?;
        let diagnoses = self.diagnoses(&begntime, &dept_name, &atddr_no, &dr_name)?;
        Ok(Visit {
            ipt_otp_no,
            med_type,
            dept_code: text("dept_code", &self.dept_code, 30, true)?,
            dept_name,
            caty: text("caty", &self.caty, 6, true)?,
            atddr_no,
            dr_name,
            dise_name: opt("dise_name", &self.dise_name, 500)?,
            dise_codg,
            main_cond_dscr: opt("main_cond_dscr", &self.main_cond_dscr, 1000)?,
            birctrl_type,
            matn_type,
            diagnoses,
            psn_setlway: psn_setlway.to_owned(),
            begntime,
            mdtrt_id: None,
            registration_open: false,
            info_uploaded: false,
            batch: None,
            batches: 0,
            step: None,
            undo_refusals: 0,
        })
    }

    fn diagnoses(
        &self,
        begntime: &str,
        dept: &str,
        dor_no: &str,
        dor_name: &str,
    ) -> Result<Vec<Diagnosis>, SaleError> {
        if self.diagnoses.is_empty() {
            return Err(invalid(
                "diagnoses",
                "at least the main diagnosis (diag_srt_no 1)",
            ));
        }
        if self.diagnoses.len() > 50 {
            return Err(invalid("diagnoses", "at most 50"));
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (i, d) in self.diagnoses.iter().enumerate() {
            let f = |name: &str| format!("diagnoses[{i}].{name}");
            let diag_type = d.diag_type.as_deref().unwrap_or("1");
            if !matches!(diag_type, "1" | "2" | "3") {
                return Err(invalid(f("diag_type"), "1 西医, 2 中医主病 or 3 中医主证"));
            }
            if !(1..=99).contains(&d.diag_srt_no) || !seen.insert(d.diag_srt_no) {
                return Err(invalid(f("diag_srt_no"), "1–99, each number once"));
            }
            let diag_time = match &d.diag_time {
                Some(t) => datetime(&f("diag_time"), t)?,
                None => begntime.to_owned(),
            };
            out.push(Diagnosis {
                diag_type: diag_type.to_owned(),
                diag_srt_no: d.diag_srt_no,
                diag_code: text(&f("diag_code"), &d.diag_code, 20, true)?,
                diag_name: text(&f("diag_name"), &d.diag_name, 100, true)?,
                diag_dept: text(
                    &f("diag_dept"),
                    d.diag_dept.as_deref().unwrap_or(dept),
                    50,
                    true,
                )?,
                dise_dor_no: text(
                    &f("dise_dor_no"),
                    d.dise_dor_no.as_deref().unwrap_or(dor_no),
                    30,
                    true,
                )?,
                dise_dor_name: text(
                    &f("dise_dor_name"),
                    d.dise_dor_name.as_deref().unwrap_or(dor_name),
                    50,
                    true,
                )?,
                diag_time,
                vali_flag: "1".to_owned(),
            });
        }
        if !seen.contains(&1) {
            return Err(invalid(
                "diagnoses",
                "the main diagnosis (diag_srt_no 1) is missing",
            ));
        }
        Ok(out)
    }
}

/// The checked fee lines of a visit as items, and their positive total.
pub fn lines_of(visit: &Visit, lines: &[NewVisitLine]) -> Result<(Vec<Item>, Fen), SaleError> {
    if lines.is_empty() {
        return Err(invalid("items", "at least one fee line"));
    }
    if lines.len() > 500 {
        return Err(invalid("items", "at most 500 fee lines per batch"));
    }
    let mut items = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let f = |name: &str| format!("items[{i}].{name}");
        let code_ = text(&f("code"), &l.code, 50, true)?;
        let local = match &l.local_code {
            Some(c) => text(&f("local_code"), c, 150, true)?,
            None => code_.clone(),
        };
        if l.cnt.0 <= 0 {
            return Err(invalid(f("cnt"), "must be positive"));
        }
        if l.pric.0 < 0 {
            return Err(invalid(f("pric"), "must not be negative"));
        }
        let rx_circ_flag = l.rx_circ_flag.as_deref().unwrap_or("0");
        if !matches!(rx_circ_flag, "0" | "1") {
            return Err(invalid(f("rx_circ_flag"), "0 or 1"));
        }
        let rxno = opt(&f("rxno"), &l.rxno, 30)?;
        if rx_circ_flag == "1" && rxno.is_empty() {
            return Err(invalid(
                f("rxno"),
                "an outside prescription (rx_circ_flag 1) needs its number",
            ));
        }
        let hosp_appr_flag = code(
            &f("hosp_appr_flag"),
            l.hosp_appr_flag.as_deref().unwrap_or("1"),
            1,
            3,
        )?;
        let fee_ocur_time = match &l.fee_ocur_time {
            Some(t) => datetime(&f("fee_ocur_time"), t)?,
            None => visit.begntime.clone(),
        };
        let or = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_owned());
        let amount = crate::upstream::quantity::line_amount(l.cnt, l.pric)
            .ok_or_else(|| invalid(f("pric"), "the line amount overflows"))?;
        items.push(Item {
            code: code_,
            local_code: local,
            name: opt(&f("name"), &l.name, 200)?,
            cnt: l.cnt,
            pric: l.pric,
            amount,
            trace: l
                .trace
                .clone()
                .map(|t| super::trace::line(i, t))
                .transpose()?,
            visit: Some(
                LineExtra {
                    rxno,
                    rx_circ_flag: rx_circ_flag.to_owned(),
                    fee_ocur_time,
                    bilg_dept_codg: text(
                        &f("bilg_dept_codg"),
                        &or(&l.bilg_dept_codg, &visit.dept_code),
                        30,
                        true,
                    )?,
                    bilg_dept_name: text(
                        &f("bilg_dept_name"),
                        &or(&l.bilg_dept_name, &visit.dept_name),
                        100,
                        true,
                    )?,
                    bilg_dr_codg: text(
                        &f("bilg_dr_codg"),
                        &or(&l.bilg_dr_codg, &visit.atddr_no),
                        30,
                        true,
                    )?,
                    bilg_dr_name: text(
                        &f("bilg_dr_name"),
                        &or(&l.bilg_dr_name, &visit.dr_name),
                        50,
                        true,
                    )?,
                    hosp_appr_flag,
                    sin_dos_dscr: opt(&f("sin_dos_dscr"), &l.sin_dos_dscr, 200)?,
                    used_frqu_dscr: opt(&f("used_frqu_dscr"), &l.used_frqu_dscr, 200)?,
                    medc_way_dscr: opt(&f("medc_way_dscr"), &l.medc_way_dscr, 200)?,
                }
                .compact(visit),
            ),
        });
    }
    super::trace::check_sale(&items)?;
    let total = Fen::checked_sum(items.iter().map(|i| i.amount))
        .filter(|a| a.0 > 0)
        .ok_or_else(|| invalid("items", "the total must be positive"))?;
    Ok((items, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn new_visit() -> NewVisit {
        serde_json::from_value(serde_json::json!({
            "credential_id": "c1",
            "dept_code": "A03", "dept_name": "内科", "caty": "A03",
            "atddr_no": "D110105000001", "dr_name": "李医生",
            "diagnoses": [{"diag_srt_no": 1, "diag_code": "J06.900", "diag_name": "急性上呼吸道感染"}]
        }))
        .unwrap()
    }

    fn line(v: serde_json::Value) -> NewVisitLine {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_visit_takes_the_defaults_the_contract_names() {
        let v = new_visit().check("V1", "2026-12-03 10:00:00").unwrap();
        assert_eq!(v.med_type, "11");
        assert_eq!(v.psn_setlway, "01");
        assert_eq!(v.ipt_otp_no, "V1");
        assert_eq!(v.diagnoses[0].diag_type, "1");
        assert_eq!(v.diagnoses[0].diag_dept, "内科");
        assert_eq!(v.diagnoses[0].dise_dor_no, "D110105000001");
        assert_eq!(v.diagnoses[0].diag_time, "2026-12-03 10:00:00");
        assert!(!v.holds_anything());
    }

    #[test]
    fn each_field_is_refused_by_name() {
        let field = |edit: &dyn Fn(&mut NewVisit)| {
            let mut n = new_visit();
            edit(&mut n);
            match n.check("V1", "2026-12-03 10:00:00") {
                Err(SaleError::Invalid { field, .. }) => field,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(field(&|n| n.med_type = Some("1x".into())), "med_type");
        assert_eq!(field(&|n| n.med_type = Some("14".into())), "dise_codg");
        assert_eq!(field(&|n| n.med_type = Some("51".into())), "matn_type");
        assert_eq!(
            field(&|n| n.begntime = Some("2026-12-03".into())),
            "begntime"
        );
        assert_eq!(field(&|n| n.dept_code = "X".repeat(31)), "dept_code");
        assert_eq!(field(&|n| n.dr_name = " ".into()), "dr_name");
        assert_eq!(field(&|n| n.caty = "1234567".into()), "caty");
        assert_eq!(field(&|n| n.psn_setlway = Some("03".into())), "psn_setlway");
        assert_eq!(field(&|n| n.diagnoses.clear()), "diagnoses");
        assert_eq!(
            field(&|n| n.diagnoses[0].diag_srt_no = 2),
            "diagnoses",
            "no main diagnosis"
        );
        assert_eq!(
            field(&|n| n.diagnoses[0].diag_code = "X".repeat(21)),
            "diagnoses[0].diag_code"
        );
        assert_eq!(
            field(&|n| n.diagnoses[0].diag_type = Some("4".into())),
            "diagnoses[0].diag_type"
        );
        // 门诊慢特病 with its disease code passes.
        let mut n = new_visit();
        n.med_type = Some("14".into());
        n.dise_codg = Some("M03900".into());
        assert_eq!(
            n.check("V1", "2026-12-03 10:00:00").unwrap().dise_codg,
            "M03900"
        );
    }

    #[test]
    fn fee_lines_are_exact_and_checked_field_by_field() {
        let v = new_visit().check("V1", "2026-12-03 10:00:00").unwrap();
        let (items, total) = lines_of(
            &v,
            &[
                line(serde_json::json!({"code": "X1", "cnt": "3", "pric": "12.345"})),
                line(serde_json::json!({"code": "X2", "local_code": "L2", "cnt": "0.5", "pric": "10"})),
            ],
        )
        .unwrap();
        assert_eq!(items[0].amount, Fen(3_704), "3 × 12.345 = 37.035 → 37.04");
        assert_eq!(total, Fen(3_704 + 500));
        // The document keeps only what differs from the visit's defaults.
        assert_eq!(items[1].visit, Some(LineExtra::default()));
        let extra = items[1].visit.as_ref().unwrap().resolved(&v);
        assert_eq!(extra.bilg_dept_codg, "A03");
        assert_eq!(extra.bilg_dr_name, "李医生");
        assert_eq!(extra.fee_ocur_time, "2026-12-03 10:00:00");
        assert_eq!(items[1].local_code, "L2");
        let refused = |l: serde_json::Value| match lines_of(&v, &[line(l)]) {
            Err(SaleError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refused(serde_json::json!({"code": "X", "cnt": "0", "pric": "1"})),
            "items[0].cnt"
        );
        assert_eq!(
            refused(serde_json::json!({"code": "X", "cnt": "1", "pric": "1", "rx_circ_flag": "1"})),
            "items[0].rxno"
        );
        assert_eq!(
            refused(serde_json::json!({"code": "X".repeat(51), "cnt": "1", "pric": "1"})),
            "items[0].code"
        );
        assert_eq!(
            refused(
                serde_json::json!({"code": "X", "cnt": "1", "pric": "1", "fee_ocur_time": "now"})
            ),
            "items[0].fee_ocur_time"
        );
        assert!(matches!(
            lines_of(&v, &[]),
            Err(SaleError::Invalid { field, .. }) if field == "items"
        ));
    }

    #[test]
    fn batches_are_numbered_from_the_visit_id() {
        let mut v = new_visit().check("V1", "2026-12-03 10:00:00").unwrap();
        assert_eq!(v.next_batch("V1"), "V1");
        assert_eq!(v.next_batch("V1"), "V1B2");
    }
}

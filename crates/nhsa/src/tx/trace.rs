//! 3505 商品销售 and 3506 商品销售退货: the trace codes of what was sold (or returned), one
//! request per item line, node `selinfo`, the codes nested in `drugtracinfo[]` one per box
//! (traceability.md).
//!
//! Not part of the money path: 3505 goes after the settlement it names (`setl_id`) and a
//! failure is retried from an outbox, never a reason to reverse the sale. [`SaleTrace::check`]
//! refuses a row the platform would refuse (a required field empty, a field longer than the
//! contract's capacity, a date in the wrong shape) before it is queued, so the outbox only
//! holds rows worth retrying. The answer is empty or `{retRslt, msgRslt}`; both are accepted
//! (`infcode=0` is what counts) and `msgRslt` is kept for the operator.

use serde::{Deserialize, Serialize};

use crate::quantity::{Price, Qty};
use crate::trace::TraceCode;
use medsettle_base::pii::PsnNo;

pub const TRACE_SALE: &str = "3505";
pub const TRACE_RETURN: &str = "3506";

/// 3505 / 3506 input: `{"selinfo": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceInput {
    pub selinfo: SaleTrace,
}

/// One sold (or returned) item line with its boxes' trace codes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SaleTrace {
    /// 医疗目录编码.
    pub med_list_codg: String,
    /// The institution's own catalogue item id and name.
    pub fixmedins_hilist_id: String,
    pub fixmedins_hilist_name: String,
    /// 定点医药机构批次流水号.
    pub fixmedins_bchno: String,
    pub prsc_dr_cert_type: String,
    pub prsc_dr_certno: String,
    pub prsc_dr_name: String,
    pub phar_cert_type: String,
    pub phar_certno: String,
    pub phar_name: String,
    /// 药师执业资格证号.
    pub phar_prac_cert_no: String,
    /// 医保费用结算类型. Optional in most transcriptions, required in one: always sent.
    pub hi_feesetl_type: String,
    /// The settlement (2102 / 2207) the line was sold under.
    pub setl_id: String,
    /// 就医流水号: the settlement's `mdtrt_id` for an insured sale.
    pub mdtrt_sn: String,
    pub psn_no: PsnNo,
    pub psn_cert_type: String,
    pub certno: String,
    pub psn_name: String,
    /// 生产批号.
    pub manu_lotnum: String,
    /// `yyyy-MM-dd`.
    pub manu_date: String,
    /// 有效期止 `yyyy-MM-dd`, empty when unknown.
    pub expy_end: String,
    /// 处方药标志.
    pub rx_flag: String,
    /// 拆零标志 `0` / `1`.
    pub trdn_flag: String,
    /// 最终成交单价.
    pub finl_trns_pric: Price,
    pub rxno: String,
    pub rx_circ_flag: String,
    /// 零售单据号 (the receipt).
    pub rtal_docno: String,
    pub stoout_no: String,
    pub bchno: String,
    pub drug_prod_barc: String,
    pub shelf_posi: String,
    /// Quantity sold or returned.
    pub sel_retn_cnt: Qty,
    /// `yyyy-MM-dd HH:mm:ss` CST.
    pub sel_retn_time: String,
    pub sel_retn_opter_name: String,
    pub memo: String,
    /// 就诊结算类型: `1` insured.
    pub mdtrt_setl_type: String,
    pub drugtracinfo: Vec<TraceEntry>,
}

/// The trace-code counts a settlement announces (traceability.md, "In the settlement itself":
/// 2207, and 2101/2102's `druginfo` in one pharmacy client): how many codes the 3505 reports of
/// the sale will carry. Sent only by a sale that has codes, so a sale without is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceCounts {
    /// 本次结算应上传最小包装药品追溯码数量: codes of drug boxes.
    pub minpacunt_drug_trac_cnt: u32,
    /// 耗材追溯码数量: codes of medical consumables.
    pub mcs_trac_cnt: u32,
}

/// One box: `{"drug_trac_codg": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEntry {
    pub drug_trac_codg: TraceCode,
}

/// Why a row was refused before it was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceRowError {
    #[error("{field} is required")]
    Missing { field: &'static str },
    #[error("{field} is {len} characters, at most {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field} {value:?} is not {shape}")]
    Shape {
        field: &'static str,
        value: String,
        shape: &'static str,
    },
    #[error("sel_retn_cnt must be positive")]
    Quantity,
    #[error("the same trace code twice in one line: {0}")]
    Duplicate(String),
}

impl SaleTrace {
    /// The contract's capacities and required fields, checked before the row is queued.
    pub fn check(&self) -> Result<(), TraceRowError> {
        let required: [(&'static str, &str, usize); 15] = [
            ("med_list_codg", &self.med_list_codg, 50),
            ("fixmedins_hilist_id", &self.fixmedins_hilist_id, 30),
            ("fixmedins_hilist_name", &self.fixmedins_hilist_name, 200),
            ("fixmedins_bchno", &self.fixmedins_bchno, 30),
            ("prsc_dr_name", &self.prsc_dr_name, 50),
            ("phar_name", &self.phar_name, 50),
            ("phar_prac_cert_no", &self.phar_prac_cert_no, 50),
            ("mdtrt_sn", &self.mdtrt_sn, 30),
            ("manu_lotnum", &self.manu_lotnum, 30),
            ("manu_date", &self.manu_date, 10),
            ("rx_flag", &self.rx_flag, 3),
            ("trdn_flag", &self.trdn_flag, 3),
            ("rtal_docno", &self.rtal_docno, 40),
            ("sel_retn_time", &self.sel_retn_time, 19),
            ("sel_retn_opter_name", &self.sel_retn_opter_name, 50),
        ];
        for (field, value, max) in required {
            if value.trim().is_empty() {
                return Err(TraceRowError::Missing { field });
            }
            capacity(field, value, max)?;
        }
        let optional: [(&'static str, &str, usize); 15] = [
            ("prsc_dr_cert_type", &self.prsc_dr_cert_type, 6),
            ("prsc_dr_certno", &self.prsc_dr_certno, 50),
            ("phar_cert_type", &self.phar_cert_type, 6),
            ("phar_certno", &self.phar_certno, 50),
            ("hi_feesetl_type", &self.hi_feesetl_type, 6),
            ("setl_id", &self.setl_id, 30),
            ("expy_end", &self.expy_end, 10),
            ("rxno", &self.rxno, 40),
            ("rx_circ_flag", &self.rx_circ_flag, 3),
            ("stoout_no", &self.stoout_no, 40),
            ("bchno", &self.bchno, 30),
            ("drug_prod_barc", &self.drug_prod_barc, 30),
            ("shelf_posi", &self.shelf_posi, 20),
            ("memo", &self.memo, 500),
            ("mdtrt_setl_type", &self.mdtrt_setl_type, 6),
        ];
        for (field, value, max) in optional {
            capacity(field, value, max)?;
        }
        date("manu_date", &self.manu_date)?;
        if !self.expy_end.is_empty() {
            date("expy_end", &self.expy_end)?;
        }
        date_time("sel_retn_time", &self.sel_retn_time)?;
        if !matches!(self.trdn_flag.as_str(), "0" | "1") {
            return Err(TraceRowError::Shape {
                field: "trdn_flag",
                value: self.trdn_flag.clone(),
                shape: "0 or 1",
            });
        }
        if self.sel_retn_cnt.0 <= 0 {
            return Err(TraceRowError::Quantity);
        }
        let mut seen = std::collections::HashSet::new();
        for entry in &self.drugtracinfo {
            if !seen.insert(entry.drug_trac_codg.as_str()) {
                return Err(TraceRowError::Duplicate(entry.drug_trac_codg.to_string()));
            }
        }
        Ok(())
    }
}

/// Capacity in characters (the platform counts characters, not bytes).
fn capacity(field: &'static str, value: &str, max: usize) -> Result<(), TraceRowError> {
    let len = value.chars().count();
    if len > max {
        return Err(TraceRowError::TooLong { field, len, max });
    }
    Ok(())
}

fn date(field: &'static str, value: &str) -> Result<(), TraceRowError> {
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|_| value.len() == 10)
        .map(|_| ())
        .ok_or_else(|| TraceRowError::Shape {
            field,
            value: value.to_owned(),
            shape: "yyyy-MM-dd",
        })
}

fn date_time(field: &'static str, value: &str) -> Result<(), TraceRowError> {
    chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S")
        .ok()
        .filter(|_| value.len() == 19)
        .map(|_| ())
        .ok_or_else(|| TraceRowError::Shape {
            field,
            value: value.to_owned(),
            shape: "yyyy-MM-dd HH:mm:ss",
        })
}

/// The 3505 / 3506 answer: nothing, or `{retRslt, msgRslt}`. Any other object is tolerated
/// (the envelope's `infcode` already said whether the platform took the row).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TraceAnswer {
    #[serde(
        rename = "retRslt",
        default,
        deserialize_with = "crate::envelope::lenient_text"
    )]
    pub ret_rslt: Option<String>,
    #[serde(
        rename = "msgRslt",
        default,
        deserialize_with = "crate::envelope::lenient_text"
    )]
    pub msg_rslt: Option<String>,
}

impl TraceAnswer {
    /// From the envelope's `output`: null, empty string, `{}` or the result object.
    pub fn from_output(output: &serde_json::Value) -> TraceAnswer {
        match output {
            serde_json::Value::Object(_) => {
                serde_json::from_value(output.clone()).unwrap_or_default()
            }
            _ => TraceAnswer::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> TraceEntry {
        TraceEntry {
            drug_trac_codg: TraceCode::parse(s.as_bytes()).unwrap().0,
        }
    }

    fn row() -> SaleTrace {
        SaleTrace {
            med_list_codg: "XA01ABC123B001010100000".into(),
            fixmedins_hilist_id: "YP0001".into(),
            fixmedins_hilist_name: "阿莫西林胶囊".into(),
            fixmedins_bchno: "B20261203-0001".into(),
            prsc_dr_name: "李医生".into(),
            phar_name: "王药师".into(),
            phar_prac_cert_no: "YS2020001".into(),
            hi_feesetl_type: "1".into(),
            setl_id: "S1".into(),
            mdtrt_sn: "M1".into(),
            psn_no: PsnNo::new("P1"),
            manu_lotnum: "L2026".into(),
            manu_date: "2026-01-05".into(),
            rx_flag: "1".into(),
            trdn_flag: "0".into(),
            finl_trns_pric: Price::parse("12.5").unwrap(),
            rtal_docno: "R1".into(),
            sel_retn_cnt: Qty::parse("2").unwrap(),
            sel_retn_time: "2026-12-03 10:00:00".into(),
            sel_retn_opter_name: "收银员".into(),
            mdtrt_setl_type: "1".into(),
            drugtracinfo: vec![code("81234567890123456789"), code("81234567890123456790")],
            ..SaleTrace::default()
        }
    }

    #[test]
    fn a_complete_row_passes_and_nests_the_codes() {
        let r = row();
        r.check().unwrap();
        let json = serde_json::to_value(TraceInput { selinfo: r }).unwrap();
        assert_eq!(
            json["selinfo"]["drugtracinfo"],
            serde_json::json!([
                { "drug_trac_codg": "81234567890123456789" },
                { "drug_trac_codg": "81234567890123456790" }
            ])
        );
        assert_eq!(json["selinfo"]["sel_retn_cnt"], "2.0000");
        // Fields some transcriptions require are always present, empty when unknown.
        assert_eq!(json["selinfo"]["expy_end"], "");
        assert_eq!(json["selinfo"]["rx_circ_flag"], "");
    }

    #[test]
    fn refuses_what_the_platform_refuses() {
        let mut r = row();
        r.phar_prac_cert_no.clear();
        assert_eq!(
            r.check(),
            Err(TraceRowError::Missing {
                field: "phar_prac_cert_no"
            })
        );
        let mut r = row();
        r.fixmedins_bchno = "x".repeat(31);
        assert!(matches!(
            r.check(),
            Err(TraceRowError::TooLong {
                field: "fixmedins_bchno",
                len: 31,
                max: 30
            })
        ));
        // Capacities count characters: 200 Chinese characters fit c200.
        let mut r = row();
        r.fixmedins_hilist_name = "药".repeat(200);
        r.check().unwrap();
        let mut r = row();
        r.manu_date = "2026/01/05".into();
        assert!(matches!(
            r.check(),
            Err(TraceRowError::Shape {
                field: "manu_date",
                ..
            })
        ));
        let mut r = row();
        r.sel_retn_time = "2026-12-03T10:00:00".into();
        assert!(matches!(
            r.check(),
            Err(TraceRowError::Shape {
                field: "sel_retn_time",
                ..
            })
        ));
        let mut r = row();
        r.trdn_flag = "2".into();
        assert!(matches!(
            r.check(),
            Err(TraceRowError::Shape {
                field: "trdn_flag",
                ..
            })
        ));
        let mut r = row();
        r.sel_retn_cnt = Qty::parse("0").unwrap();
        assert_eq!(r.check(), Err(TraceRowError::Quantity));
        let mut r = row();
        r.drugtracinfo.push(code("81234567890123456789"));
        assert!(matches!(r.check(), Err(TraceRowError::Duplicate(_))));
    }

    #[test]
    fn every_answer_shape_is_accepted() {
        assert_eq!(
            TraceAnswer::from_output(&serde_json::Value::Null),
            TraceAnswer::default()
        );
        assert_eq!(
            TraceAnswer::from_output(&serde_json::json!("")),
            TraceAnswer::default()
        );
        assert_eq!(
            TraceAnswer::from_output(&serde_json::json!({})),
            TraceAnswer::default()
        );
        let a = TraceAnswer::from_output(&serde_json::json!({"retRslt": 1, "msgRslt": "成功"}));
        assert_eq!(a.ret_rslt.as_deref(), Some("1"));
        assert_eq!(a.msg_rslt.as_deref(), Some("成功"));
        let a =
            TraceAnswer::from_output(&serde_json::json!({"retRslt": "0", "msgRslt": "追溯码重复"}));
        assert_eq!(a.msg_rslt.as_deref(), Some("追溯码重复"));
    }
}

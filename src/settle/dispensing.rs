//! Who dispensed and prescribed a sale's drugs ([`Dispensing`], from the sale request) and the
//! counter's `[trace]` section ([`TraceConfig`]: reporting, retries, and the defaults for what
//! a request leaves out), with the contract's capacities (traceability.md, "3505"). Data and
//! checks only: it imports nothing of the engine, which builds the reports from it
//! (`report.rs`).

use serde::{Deserialize, Serialize};

/// A field longer than the contract's capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLong {
    /// Where, e.g. `dispensing.phar_name`.
    pub field: String,
    /// The capacity, in characters.
    pub max: usize,
}

/// Who dispensed and prescribed (and the counter's receipt), for the 3505 rows of one sale.
/// Every field may be left empty: the `[trace]` default is used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dispensing {
    /// 药师姓名 (c50).
    pub phar_name: String,
    /// 药师证件类型 (c6 dictionary) and number (c50).
    pub phar_cert_type: String,
    pub phar_certno: String,
    /// 药师执业资格证号 (c50).
    pub phar_prac_cert_no: String,
    /// 开方医师姓名 (c50); a visit's default is its doctor.
    pub prsc_dr_name: String,
    pub prsc_dr_cert_type: String,
    pub prsc_dr_certno: String,
    /// 处方号 (c40).
    pub rxno: String,
    /// 外购处方标志 (c3).
    pub rx_circ_flag: String,
    /// 零售单据号 (c40); default the sale id.
    pub rtal_docno: String,
    /// `sel_retn_opter_name` (c50); default `[trace] opter_name`, else `[upstream] opter_name`.
    pub opter_name: String,
}

/// `[trace]`: reporting of the trace codes sold (3505/3506) and the counter's defaults for
/// what a sale request does not say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceConfig {
    /// Send the reports. Off: codes are still checked and counted in the settlement, and the
    /// reports wait in the outbox until it is turned on again.
    pub report: bool,
    /// First retry of a report without an answer, then doubling up to `retry_max_ms`.
    pub retry_first_ms: u64,
    pub retry_max_ms: u64,
    pub phar_name: String,
    pub phar_cert_type: String,
    pub phar_certno: String,
    pub phar_prac_cert_no: String,
    /// Default prescriber of pharmacy sales (e.g. the pharmacy's own for OTC drugs).
    pub prsc_dr_name: String,
    pub prsc_dr_cert_type: String,
    pub prsc_dr_certno: String,
    /// Default operator; empty: `[upstream] opter_name` (filled in by the daemon).
    pub opter_name: String,
    /// 医保费用结算类型 (c6 dictionary); empty leaves it out.
    pub hi_feesetl_type: String,
    /// 就诊结算类型 of an insured sale (c6; `1` in the one public source).
    pub mdtrt_setl_type: String,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            report: true,
            retry_first_ms: 5_000,
            retry_max_ms: 600_000,
            phar_name: String::new(),
            phar_cert_type: String::new(),
            phar_certno: String::new(),
            phar_prac_cert_no: String::new(),
            prsc_dr_name: String::new(),
            prsc_dr_cert_type: String::new(),
            prsc_dr_certno: String::new(),
            opter_name: String::new(),
            hi_feesetl_type: String::new(),
            mdtrt_setl_type: "1".into(),
        }
    }
}

/// The contract's capacities of the [`Dispensing`] fields (c = characters).
const DISPENSING_CAPACITY: [(&str, usize); 11] = [
    ("phar_name", 50),
    ("phar_cert_type", 6),
    ("phar_certno", 50),
    ("phar_prac_cert_no", 50),
    ("prsc_dr_name", 50),
    ("prsc_dr_cert_type", 6),
    ("prsc_dr_certno", 50),
    ("rxno", 40),
    ("rx_circ_flag", 3),
    ("rtal_docno", 40),
    ("opter_name", 50),
];

impl Dispensing {
    fn fields(&self) -> [&str; 11] {
        [
            &self.phar_name,
            &self.phar_cert_type,
            &self.phar_certno,
            &self.phar_prac_cert_no,
            &self.prsc_dr_name,
            &self.prsc_dr_cert_type,
            &self.prsc_dr_certno,
            &self.rxno,
            &self.rx_circ_flag,
            &self.rtal_docno,
            &self.opter_name,
        ]
    }

    /// The capacities, checked when the request comes in (`dispensing.<field>`).
    pub fn check(&self) -> Result<(), TooLong> {
        for ((field, max), value) in DISPENSING_CAPACITY.iter().zip(self.fields()) {
            if value.chars().count() > *max {
                return Err(TooLong {
                    field: format!("dispensing.{field}"),
                    max: *max,
                });
            }
        }
        Ok(())
    }

    /// This sale's values, each empty one filled from `config` (whose operator the daemon
    /// already defaulted to `[upstream] opter_name`).
    pub fn merged(&self, config: &TraceConfig) -> Dispensing {
        let pick = |own: &str, default: &str| {
            if own.trim().is_empty() {
                default.to_owned()
            } else {
                own.to_owned()
            }
        };
        Dispensing {
            phar_name: pick(&self.phar_name, &config.phar_name),
            phar_cert_type: pick(&self.phar_cert_type, &config.phar_cert_type),
            phar_certno: pick(&self.phar_certno, &config.phar_certno),
            phar_prac_cert_no: pick(&self.phar_prac_cert_no, &config.phar_prac_cert_no),
            prsc_dr_name: pick(&self.prsc_dr_name, &config.prsc_dr_name),
            prsc_dr_cert_type: pick(&self.prsc_dr_cert_type, &config.prsc_dr_cert_type),
            prsc_dr_certno: pick(&self.prsc_dr_certno, &config.prsc_dr_certno),
            rxno: self.rxno.clone(),
            rx_circ_flag: self.rx_circ_flag.clone(),
            rtal_docno: self.rtal_docno.clone(),
            opter_name: pick(&self.opter_name, &config.opter_name),
        }
    }
}

impl TraceConfig {
    /// Values serde accepts but the reporter cannot use: (key under `trace.`, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !(100..=3_600_000).contains(&self.retry_first_ms) {
            out.push((
                "retry_first_ms".into(),
                "must be between 100 and 3600000".into(),
            ));
        }
        if self.retry_max_ms < self.retry_first_ms || self.retry_max_ms > 86_400_000 {
            out.push((
                "retry_max_ms".into(),
                "must be at least retry_first_ms and at most 86400000".into(),
            ));
        }
        let defaults = Dispensing {
            phar_name: self.phar_name.clone(),
            phar_cert_type: self.phar_cert_type.clone(),
            phar_certno: self.phar_certno.clone(),
            phar_prac_cert_no: self.phar_prac_cert_no.clone(),
            prsc_dr_name: self.prsc_dr_name.clone(),
            prsc_dr_cert_type: self.prsc_dr_cert_type.clone(),
            prsc_dr_certno: self.prsc_dr_certno.clone(),
            opter_name: self.opter_name.clone(),
            ..Dispensing::default()
        };
        for ((field, max), value) in DISPENSING_CAPACITY.iter().zip(defaults.fields()) {
            if value.chars().count() > *max {
                out.push((
                    (*field).to_owned(),
                    format!("must be at most {max} characters"),
                ));
            }
        }
        for (field, value) in [
            ("hi_feesetl_type", &self.hi_feesetl_type),
            ("mdtrt_setl_type", &self.mdtrt_setl_type),
        ] {
            if value.chars().count() > 6 {
                out.push((field.to_owned(), "must be at most 6 characters".into()));
            }
        }
        out
    }

    /// The wait before attempt `tries + 1` of a report without an answer.
    pub fn backoff_ms(&self, tries: u32) -> i64 {
        let factor = 1u64 << tries.min(20);
        let ms = self
            .retry_first_ms
            .saturating_mul(factor)
            .min(self.retry_max_ms);
        i64::try_from(ms).unwrap_or(i64::MAX)
    }
}

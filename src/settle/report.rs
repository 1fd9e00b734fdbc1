//! What a trace report (3505 商品销售 / 3506 退货) of a sale's item line says, and where each
//! field comes from (traceability.md, "3505"): the line itself (catalogue codes, quantity,
//! price, its boxes' codes and batch data), the settlement (`setl_id`, `mdtrt_id`, time),
//! the patient (from the sale's credential and 1101), and who dispensed and prescribed —
//! [`Dispensing`], from the sale request, else the counter's `[trace]` defaults
//! ([`TraceConfig`]). Pure: no store, no platform.
//!
//! [`check_ready`] is the gate at consent: a sale whose lines carry codes is confirmed only
//! when every one of its rows would pass [`SaleTrace::check`] once the settlement fills in
//! its part, so the outbox never holds a row the platform must refuse for a missing field.

use medsettle_nhsa::tx::trace::{SaleTrace, TraceEntry, TraceRowError};
use serde::{Deserialize, Serialize};

use super::error::SaleError;
use super::sale::Sale;

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
    pub fn check(&self) -> Result<(), SaleError> {
        for ((field, max), value) in DISPENSING_CAPACITY.iter().zip(self.fields()) {
            if value.chars().count() > *max {
                return Err(SaleError::Invalid {
                    field: format!("dispensing.{field}"),
                    problem: format!("at most {max} characters"),
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

/// The settlement's part of a row: which settlement, which visit, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub setl_id: String,
    pub mdtrt_id: String,
    /// `yyyy-MM-dd HH:mm:ss` CST.
    pub time: String,
}

/// The 3505/3506 row of line `line` of `sale`, settled as `settled`, with `who` (already
/// merged with the defaults). `None` when the line carries no codes.
pub fn row(
    sale: &Sale,
    line: usize,
    who: &Dispensing,
    config: &TraceConfig,
    settled: &Settled,
) -> Option<SaleTrace> {
    let item = sale.items.get(line)?;
    let trace = item.trace.as_ref().filter(|t| !t.codes.is_empty())?;
    let visit_line = item.visit.as_ref();
    let prsc_dr_name = if who.prsc_dr_name.is_empty() {
        sale.visit
            .as_ref()
            .map(|v| v.dr_name.clone())
            .unwrap_or_default()
    } else {
        who.prsc_dr_name.clone()
    };
    let rxno = match visit_line.map(|l| l.rxno.clone()) {
        Some(r) if !r.is_empty() => r,
        _ => who.rxno.clone(),
    };
    let rx_circ_flag = match visit_line.map(|l| l.rx_circ_flag.clone()) {
        Some(r) if !r.is_empty() => r,
        _ => who.rx_circ_flag.clone(),
    };
    let id_number = sale.credential.id_number().expose().to_owned();
    let name = sale.credential.name().expose().to_owned();
    Some(SaleTrace {
        med_list_codg: item.code.clone(),
        fixmedins_hilist_id: if item.local_code.is_empty() {
            item.code.clone()
        } else {
            item.local_code.clone()
        },
        fixmedins_hilist_name: if item.name.is_empty() {
            item.code.clone()
        } else {
            item.name.clone()
        },
        fixmedins_bchno: trace.fixmedins_bchno.clone(),
        prsc_dr_cert_type: who.prsc_dr_cert_type.clone(),
        prsc_dr_certno: who.prsc_dr_certno.clone(),
        prsc_dr_name,
        phar_cert_type: who.phar_cert_type.clone(),
        phar_certno: who.phar_certno.clone(),
        phar_name: who.phar_name.clone(),
        phar_prac_cert_no: who.phar_prac_cert_no.clone(),
        hi_feesetl_type: config.hi_feesetl_type.clone(),
        setl_id: settled.setl_id.clone(),
        mdtrt_sn: settled.mdtrt_id.clone(),
        psn_no: sale
            .person
            .as_ref()
            .map(|p| p.psn_no.clone())
            .unwrap_or_default(),
        psn_cert_type: if id_number.is_empty() {
            String::new()
        } else {
            "01".into()
        },
        certno: id_number,
        psn_name: name,
        manu_lotnum: trace.manu_lotnum.clone(),
        manu_date: trace.manu_date.clone(),
        expy_end: trace.expy_end.clone(),
        rx_flag: trace.rx_flag.clone(),
        trdn_flag: if trace.trdn_flag { "1" } else { "0" }.into(),
        finl_trns_pric: item.pric,
        rxno,
        rx_circ_flag,
        rtal_docno: if who.rtal_docno.is_empty() {
            sale.id.clone()
        } else {
            who.rtal_docno.clone()
        },
        stoout_no: String::new(),
        bchno: String::new(),
        drug_prod_barc: String::new(),
        shelf_posi: String::new(),
        sel_retn_cnt: item.cnt,
        sel_retn_time: settled.time.clone(),
        sel_retn_opter_name: who.opter_name.clone(),
        memo: String::new(),
        mdtrt_setl_type: config.mdtrt_setl_type.clone(),
        drugtracinfo: trace
            .codes
            .iter()
            .map(|c| TraceEntry {
                drug_trac_codg: c.clone(),
            })
            .collect(),
    })
}

/// The consent gate: every line with codes makes a row the platform can take (the settlement's
/// fields stand in as placeholders). The error names the field and where to set it.
pub fn check_ready(sale: &Sale, config: &TraceConfig) -> Result<(), SaleError> {
    let who = sale.dispensing.clone().unwrap_or_default().merged(config);
    let placeholder = Settled {
        setl_id: "S".into(),
        mdtrt_id: "M".into(),
        time: "2026-01-01 00:00:00".into(),
    };
    for line in 0..sale.items.len() {
        let Some(row) = row(sale, line, &who, config, &placeholder) else {
            continue;
        };
        row.check().map_err(|e| incomplete(line, &e))?;
    }
    Ok(())
}

/// Where a missing or bad field is set: on the line, in the sale's `dispensing`, or `[trace]`.
fn incomplete(line: usize, e: &TraceRowError) -> SaleError {
    let field = match e {
        TraceRowError::Missing { field }
        | TraceRowError::TooLong { field, .. }
        | TraceRowError::Shape { field, .. } => *field,
        TraceRowError::Quantity => "sel_retn_cnt",
        TraceRowError::Duplicate(_) => "drugtracinfo",
    };
    let place = match field {
        "fixmedins_bchno" | "manu_lotnum" | "manu_date" | "expy_end" | "rx_flag" | "trdn_flag" => {
            format!("items[{line}].trace.{field}")
        }
        "med_list_codg" | "fixmedins_hilist_id" | "fixmedins_hilist_name" | "sel_retn_cnt" => {
            format!("items[{line}].{field}")
        }
        "sel_retn_opter_name" => "dispensing.opter_name (or [trace] opter_name)".into(),
        "phar_name" | "phar_prac_cert_no" | "prsc_dr_name" | "phar_cert_type" | "phar_certno"
        | "prsc_dr_cert_type" | "prsc_dr_certno" => {
            format!("dispensing.{field} (or [trace] {field})")
        }
        other => format!("items[{line}]: {other}"),
    };
    SaleError::TraceIncomplete {
        field: place,
        problem: e.to_string(),
    }
}

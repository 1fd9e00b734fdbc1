//! What a trace report (3505 商品销售 / 3506 退货) of a sale's item line says, and where each
//! field comes from (traceability.md, "3505"): the line itself (catalogue codes, quantity,
//! price, its boxes' codes and batch data), the settlement (`setl_id`, `mdtrt_id`, time),
//! the patient (from the sale's credential and 1101), and who dispensed and prescribed —
//! [`Dispensing`], from the sale request, else the counter's `[trace]` defaults
//! ([`TraceConfig`]; both in `dispensing.rs`). Pure: no store, no platform.
//!
//! [`check_ready`] is the gate at consent: a sale whose lines carry codes is confirmed only
//! when every one of its rows would pass [`SaleTrace::check`] once the settlement fills in
//! its part, so the outbox never holds a row the platform must refuse for a missing field.

use medsettle_nhsa::tx::trace::{SaleTrace, TraceEntry, TraceRowError};

pub use super::dispensing::{Dispensing, TraceConfig};
use super::error::SaleError;
use super::sale::Sale;

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

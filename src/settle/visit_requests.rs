//! The platform requests of an outpatient visit, built from the stored visit alone
//! (outpatient.md): 2201, 2203/2203A, 2204, 2205, 2202, 5201, 2206/2207, and the insurance
//! choice among the 1101 rows. Pure: no I/O, nothing sent; a visit missing what a request
//! needs is a [`SaleError::WrongState`].

use super::error::SaleError;
use super::sale::{Person, Sale};
use super::visit::{Batch, Echo, Visit};
use crate::upstream::tx::fee::FeeDetail;
use crate::upstream::tx::outpatient::{
    FeeUploadInput, OutpatientInput, OutpatientSettle, Registration, RegistrationInput,
};
use crate::upstream::tx::settle::Settlement;
use crate::upstream::tx::visit::{
    FeeRevoke, FeeRevokeInput, RegistrationCancel, RegistrationCancelInput, VisitInfo,
    VisitInfoInput, VisitQuery, VisitQueryInput,
};

fn missing(sale: &Sale, what: &'static str) -> SaleError {
    SaleError::WrongState {
        state: sale.state,
        action: what,
    }
}

/// The visit and the person of a visit sale.
pub(super) fn parts(sale: &Sale) -> Result<(&Visit, &Person), SaleError> {
    let visit = sale.visit.as_ref().ok_or(SaleError::WrongKind {
        id: sale.id.clone(),
        expected: "a visit",
    })?;
    let person = sale
        .person
        .as_ref()
        .ok_or_else(|| missing(sale, "go on before the person is identified"))?;
    Ok((visit, person))
}

fn mdtrt_id<'a>(sale: &Sale, visit: &'a Visit) -> Result<&'a str, SaleError> {
    visit
        .mdtrt_id
        .as_deref()
        .ok_or_else(|| missing(sale, "go on before the visit is registered"))
}

/// 2201.
pub(super) fn registration(sale: &Sale) -> Result<RegistrationInput, SaleError> {
    let (v, p) = parts(sale)?;
    Ok(RegistrationInput {
        data: Registration {
            psn_no: p.psn_no.clone(),
            insutype: p.insutype.clone(),
            begntime: v.begntime.clone(),
            mdtrt_cert_type: sale.credential.cert_type(),
            mdtrt_cert_no: sale.credential.cert_no().to_owned(),
            ipt_otp_no: v.ipt_otp_no.clone(),
            atddr_no: v.atddr_no.clone(),
            dr_name: v.dr_name.clone(),
            dept_code: v.dept_code.clone(),
            dept_name: v.dept_name.clone(),
            caty: v.caty.clone(),
        },
    })
}

/// 2203/2203A.
pub(super) fn visit_info(sale: &Sale) -> Result<VisitInfoInput, SaleError> {
    let (v, p) = parts(sale)?;
    Ok(VisitInfoInput {
        mdtrtinfo: VisitInfo {
            mdtrt_id: mdtrt_id(sale, v)?.to_owned(),
            psn_no: p.psn_no.clone(),
            med_type: v.med_type.clone(),
            begntime: v.begntime.clone(),
            main_cond_dscr: v.main_cond_dscr.clone(),
            dise_codg: v.dise_codg.clone(),
            dise_name: v.dise_name.clone(),
            birctrl_type: v.birctrl_type.clone(),
            matn_type: v.matn_type.clone(),
            ..VisitInfo::default()
        },
        diseinfo: v.diagnoses.clone(),
    })
}

/// 2204 of the sale's items under `chrg_bchno`; line serial numbers are unique within the
/// visit across batches (`<batch>-<n>`).
pub(super) fn fee_upload(sale: &Sale, chrg_bchno: &str) -> Result<FeeUploadInput, SaleError> {
    let (v, p) = parts(sale)?;
    let mdtrt_id = mdtrt_id(sale, v)?;
    let lines = sale
        .items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let x = it.visit.clone().unwrap_or_default().resolved(v);
            FeeDetail {
                feedetl_sn: format!("{chrg_bchno}-{}", i + 1),
                mdtrt_id: mdtrt_id.to_owned(),
                psn_no: p.psn_no.clone(),
                chrg_bchno: chrg_bchno.to_owned(),
                rxno: x.rxno,
                rx_circ_flag: x.rx_circ_flag,
                fee_ocur_time: x.fee_ocur_time,
                med_list_codg: it.code.clone(),
                medins_list_codg: it.local_code.clone(),
                det_item_fee_sumamt: it.amount,
                cnt: it.cnt,
                pric: it.pric,
                bilg_dept_codg: x.bilg_dept_codg,
                bilg_dept_name: x.bilg_dept_name,
                bilg_dr_codg: x.bilg_dr_codg,
                bilg_dr_name: x.bilg_dr_name,
                hosp_appr_flag: x.hosp_appr_flag,
                dise_codg: v.dise_codg.clone(),
                sin_dos_dscr: x.sin_dos_dscr,
                used_frqu_dscr: x.used_frqu_dscr,
                medc_way_dscr: x.medc_way_dscr,
            }
        })
        .collect();
    FeeUploadInput::new(lines).map_err(|e| SaleError::BadRequest(e.to_string()))
}

/// 2205 of one batch.
pub(super) fn fee_revoke(sale: &Sale, chrg_bchno: &str) -> Result<FeeRevokeInput, SaleError> {
    let (v, p) = parts(sale)?;
    Ok(FeeRevokeInput {
        data: FeeRevoke {
            mdtrt_id: mdtrt_id(sale, v)?.to_owned(),
            chrg_bchno: chrg_bchno.to_owned(),
            psn_no: p.psn_no.clone(),
        },
    })
}

/// 2202.
pub(super) fn registration_cancel(sale: &Sale) -> Result<RegistrationCancelInput, SaleError> {
    let (v, p) = parts(sale)?;
    Ok(RegistrationCancelInput {
        data: RegistrationCancel {
            psn_no: p.psn_no.clone(),
            mdtrt_id: mdtrt_id(sale, v)?.to_owned(),
            ipt_otp_no: v.ipt_otp_no.clone(),
        },
    })
}

/// 5201 over the day of the visit's begntime (00:00:00 to 23:59:59).
pub(super) fn visit_query(sale: &Sale) -> Result<VisitQueryInput, SaleError> {
    let (v, p) = parts(sale)?;
    let day = v.begntime.get(..10).unwrap_or_default();
    Ok(VisitQueryInput {
        data: VisitQuery {
            psn_no: p.psn_no.clone(),
            begntime: format!("{day} 00:00:00"),
            endtime: format!("{day} 23:59:59"),
            med_type: v.med_type.clone(),
            mdtrt_id: None,
        },
    })
}

/// 2206 for the current batch, or 2207 (with `invono` and the 2206 answer's amounts).
pub(super) fn outpatient_input(
    sale: &Sale,
    invono: Option<&str>,
) -> Result<OutpatientInput, SaleError> {
    let (v, p) = parts(sale)?;
    let batch: &Batch = v
        .batch
        .as_ref()
        .ok_or_else(|| missing(sale, "settle without uploaded fee lines"))?;
    let mut input = OutpatientInput {
        data: OutpatientSettle {
            psn_no: p.psn_no.clone(),
            mdtrt_cert_type: sale.credential.cert_type(),
            mdtrt_cert_no: sale.credential.cert_no().to_owned(),
            med_type: v.med_type.clone(),
            medfee_sumamt: batch.total,
            psn_setlway: v.psn_setlway.clone(),
            mdtrt_id: mdtrt_id(sale, v)?.to_owned(),
            chrg_bchno: batch.chrg_bchno.clone(),
            acct_used_flag: sale.use_account,
            insutype: p.insutype.clone(),
            invono: None,
            fulamt_ownpay_amt: None,
            overlmt_selfpay: None,
            preselfpay_amt: None,
            inscp_scp_amt: None,
            trace_counts: super::trace::counts(&sale.items),
        },
    };
    if let Some(invono) = invono {
        let echo = batch
            .echo
            .ok_or_else(|| missing(sale, "settle before the pre-settlement (2206)"))?;
        let d = &mut input.data;
        d.invono = Some(invono.to_owned());
        d.fulamt_ownpay_amt = Some(echo.fulamt_ownpay_amt);
        d.overlmt_selfpay = Some(echo.overlmt_selfpay);
        d.preselfpay_amt = Some(echo.preselfpay_amt);
        d.inscp_scp_amt = Some(echo.inscp_scp_amt);
    }
    Ok(input)
}

/// The amounts of a 2206 answer 2207 echoes (a missing one is 0, as public clients send).
pub(super) fn echo_of(s: &Settlement) -> Echo {
    let i = &s.setlinfo;
    let z = crate::upstream::Fen(0);
    Echo {
        fulamt_ownpay_amt: i.fulamt_ownpay_amt.unwrap_or(z),
        overlmt_selfpay: i.overlmt_selfpay.unwrap_or(z),
        preselfpay_amt: i.preselfpay_amt.unwrap_or(z),
        inscp_scp_amt: i.inscp_scp_amt.unwrap_or(z),
    }
}

/// The insurance of a visit (outpatient.md "insutype — choosing"): the cashier's `chosen`
/// (one 1101 offered), else the only basic insurance (310, 390) in force, else the first of
/// `preference` among those, else none: the cashier must choose ([`SaleError::InsutypeRequired`]
/// with the rows to choose from).
pub(super) fn choose_insurance(
    person: &mut Person,
    chosen: Option<&str>,
    preference: &[String],
) -> Result<(), SaleError> {
    if let Some(t) = chosen {
        return super::requests::choose_insutype(person, t);
    }
    let basic: Vec<String> = person
        .insurances
        .iter()
        .filter(|r| r.active && matches!(r.insutype.as_str(), "310" | "390"))
        .map(|r| r.insutype.clone())
        .collect();
    let pick = match basic.as_slice() {
        [one] => Some(one.clone()),
        _ => preference.iter().find(|t| basic.contains(t)).cloned(),
    };
    match pick {
        Some(t) => super::requests::choose_insutype(person, &t),
        None => {
            let offered = if basic.is_empty() {
                person
                    .insurances
                    .iter()
                    .map(|r| r.insutype.clone())
                    .collect()
            } else {
                basic
            };
            Err(SaleError::InsutypeRequired { offered })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settle::sale::Insurance;
    use crate::upstream::Fen;

    fn person(rows: &[(&str, bool)]) -> Person {
        Person {
            psn_no: "P1".into(),
            insuplc_admdvs: String::new(),
            insutype: String::new(),
            balance: Fen(0),
            insurances: rows
                .iter()
                .enumerate()
                .map(|(i, (t, active))| Insurance {
                    insutype: (*t).to_owned(),
                    insuplc_admdvs: format!("11010{i}"),
                    psn_type: String::new(),
                    active: *active,
                    balance: Fen(0),
                })
                .collect(),
        }
    }

    #[test]
    fn one_basic_insurance_is_taken_several_are_asked() {
        let mut p = person(&[("310", true), ("320", true), ("510", true)]);
        choose_insurance(&mut p, None, &[]).unwrap();
        assert_eq!(
            (p.insutype.as_str(), p.insuplc_admdvs.as_str()),
            ("310", "110100")
        );
        let mut p = person(&[("310", true), ("390", true)]);
        match choose_insurance(&mut p, None, &[]) {
            Err(SaleError::InsutypeRequired { offered }) => assert_eq!(offered, ["310", "390"]),
            other => panic!("{other:?}"),
        }
        // The configured rule, then the cashier's choice with its region.
        choose_insurance(&mut p, None, &["390".into()]).unwrap();
        assert_eq!(
            (p.insutype.as_str(), p.insuplc_admdvs.as_str()),
            ("390", "110101")
        );
        choose_insurance(&mut p, Some("310"), &["390".into()]).unwrap();
        assert_eq!(p.insutype, "310");
        assert!(matches!(
            choose_insurance(&mut p, Some("330"), &[]),
            Err(SaleError::InsutypeNotOffered { .. })
        ));
        // A paused basic row is not chosen silently; nothing basic in force: all rows offered.
        let mut p = person(&[("310", false), ("510", true)]);
        match choose_insurance(&mut p, None, &[]) {
            Err(SaleError::InsutypeRequired { offered }) => assert_eq!(offered, ["310", "510"]),
            other => panic!("{other:?}"),
        }
    }
}

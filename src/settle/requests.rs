//! The platform requests of a sale, built from the stored sale alone: the 1101 query for its
//! credential, the person taken from the 1101 answer, the 2101/2102 input and the envelope
//! options. Pure: no I/O, no clock of its own (the caller passes `now`), nothing sent.

use chrono::{DateTime, Utc};

use super::error::SaleError;
use super::options::SettleConfig;
use super::sale::{Person, Sale};
use crate::credential::Credential;
use crate::terminal::TerminalConfig;
use crate::upstream::client::CallOptions;
use crate::upstream::tx::fee::FeeDetail;
use crate::upstream::tx::identify;
use crate::upstream::tx::person::{PersonInfo, PersonQueryInput};
use crate::upstream::tx::pharmacy::{FeeNode, PharmacyInput, PharmacySale};
use crate::upstream::{UpstreamError, time};

/// The 1101 query for the sale's credential, and the 参保地 when the credential names it.
pub(super) fn person_query(sale: &Sale, now: DateTime<Utc>) -> (PersonQueryInput, Option<String>) {
    match &sale.credential {
        Credential::Card {
            card_no,
            card_sn,
            id_number,
            name,
        } => {
            let mut q = identify::for_id_number(id_number.expose(), name.expose(), now);
            q.data.mdtrt_cert_type = crate::upstream::tx::person::CertType::SocialSecurityCard;
            q.data.mdtrt_cert_no = card_no.expose().to_owned();
            q.data.card_sn.clone_from(card_sn);
            if id_number.is_empty() {
                q.data.psn_cert_type.clear();
            }
            (q, None)
        }
        Credential::Essc {
            id_number, name, ..
        } => (
            identify::for_id_number(id_number.expose(), name.expose(), now),
            None,
        ),
        Credential::EVoucher {
            ec_token, insu_org, ..
        } => (
            identify::for_ec_token(ec_token.expose(), now),
            Some(insu_org.clone()),
        ),
    }
}

/// The person of a 1101 answer: `psn_no` and the active insurance (the first in force,
/// `psn_insu_stas` 1, else the first).
pub(super) fn person_of(info: &PersonInfo) -> Result<Person, UpstreamError> {
    let psn_no = info
        .baseinfo
        .psn_no
        .clone()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| UpstreamError::Protocol {
            detail: "1101 answer without baseinfo.psn_no".into(),
        })?;
    let insu = info
        .insuinfo
        .iter()
        .find(|i| i.psn_insu_stas.as_deref() == Some("1"))
        .or(info.insuinfo.first())
        .ok_or_else(|| UpstreamError::Protocol {
            detail: "1101 answer without insuinfo".into(),
        })?;
    Ok(Person {
        psn_no,
        insuplc_admdvs: insu.insuplc_admdvs.clone().unwrap_or_default(),
        insutype: insu.insutype.clone().unwrap_or_else(|| "310".into()),
        balance: insu.balc,
    })
}

/// The 2101/2102 input of the sale (`invono` set for 2102).
pub(super) fn pharmacy_input(
    sale: &Sale,
    invono: Option<&str>,
    config: &SettleConfig,
    terminal: &TerminalConfig,
    now: DateTime<Utc>,
) -> Result<PharmacyInput, SaleError> {
    let person = sale.person.as_ref().ok_or(SaleError::WrongState {
        state: sale.state,
        action: "settle before the person is identified",
    })?;
    let begntime = time::format_inf_time(
        chrono::DateTime::from_timestamp_millis(sale.created_at_ms).unwrap_or(now),
    );
    let lines = sale
        .items
        .iter()
        .enumerate()
        .map(|(i, it)| FeeDetail {
            feedetl_sn: format!("{}", i + 1),
            psn_no: person.psn_no.clone(),
            chrg_bchno: sale.chrg_bchno.clone(),
            fee_ocur_time: begntime.clone(),
            med_list_codg: it.code.clone(),
            medins_list_codg: it.local_code.clone(),
            det_item_fee_sumamt: it.amount,
            cnt: it.cnt,
            pric: it.pric,
            ..FeeDetail::default()
        })
        .collect();
    let input = PharmacyInput::presettle(
        PharmacySale {
            psn_no: person.psn_no.clone(),
            mdtrt_cert_type: sale.credential.cert_type(),
            mdtrt_cert_no: sale.credential.cert_no().to_owned(),
            begntime,
            medfee_sumamt: sale.amount,
            ipt_otp_no: sale.chrg_bchno.clone(),
            atddr_no: String::new(),
            dr_name: String::new(),
            fixmedins_code: terminal.fixmedins_code.clone(),
            fixmedins_name: terminal.fixmedins_name.clone(),
            insutype: person.insutype.clone(),
            med_type: config.med_type.clone(),
            acct_used_flag: sale.use_account,
            psn_setlway: config.psn_setlway.clone(),
            chrg_bchno: sale.chrg_bchno.clone(),
            invono: None,
        },
        lines,
        FeeNode::Feedetail,
    )
    .map_err(|e| SaleError::BadRequest(e.to_string()))?;
    Ok(match invono {
        Some(inv) => input.into_settle(inv),
        None => input,
    })
}

/// The envelope options of the sale's requests: its 参保地. Nothing of the patient's consent
/// goes in `cainfo` (upstream.md "Patient consent": only a configured provincial practice
/// would put password material there, and `upstream.consent = "none"` is the only practice
/// this build has); the consent stays on the terminal (`consent.rs`).
pub(super) fn options(sale: &Sale, _with_consent: bool) -> CallOptions {
    CallOptions {
        insuplc_admdvs: sale.person.as_ref().map(|p| p.insuplc_admdvs.clone()),
        password_proof: None,
    }
}

/// The patient's `psn_no`, empty before 1101.
pub(super) fn psn_no(sale: &Sale) -> String {
    sale.person
        .as_ref()
        .map(|p| p.psn_no.expose().to_owned())
        .unwrap_or_default()
}

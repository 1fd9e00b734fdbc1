//! The platform requests of a sale, built from the stored sale alone: the 1101 query for its
//! credential, the person taken from the 1101 answer, the 2101/2102 input and the envelope
//! options. Pure: no I/O, no clock of its own (the caller passes `now`), nothing sent.

use chrono::{DateTime, Utc};

use super::error::SaleError;
use super::options::SettleConfig;
use super::sale::{Insurance, Person, Sale};
use crate::credential::Credential;
use crate::terminal::TerminalConfig;
use crate::upstream::client::CallOptions;
use crate::upstream::tx::fee::FeeDetail;
use crate::upstream::tx::identify;
use crate::upstream::tx::person::{PersonInfo, PersonQueryInput};
use crate::upstream::tx::pharmacy::{PharmacyInput, PharmacySale};
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

/// The person of a 1101 answer: `psn_no`, every `insuinfo` row, and the default choice among
/// them: the first row in force (`psn_insu_stas` 1) whose `insutype` comes first in
/// `preference`, else the first in force, else the first.
pub(super) fn person_of(info: &PersonInfo, preference: &[String]) -> Result<Person, UpstreamError> {
    let psn_no = info
        .baseinfo
        .psn_no
        .clone()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| UpstreamError::Protocol {
            detail: "1101 answer without baseinfo.psn_no".into(),
        })?;
    let active =
        |i: &&crate::upstream::tx::person::InsuInfo| i.psn_insu_stas.as_deref() == Some("1");
    let preferred = preference.iter().find_map(|t| {
        info.insuinfo
            .iter()
            .filter(active)
            .find(|i| i.insutype.as_deref() == Some(t.as_str()))
    });
    let insu = preferred
        .or_else(|| info.insuinfo.iter().find(active))
        .or(info.insuinfo.first())
        .ok_or_else(|| UpstreamError::Protocol {
            detail: "1101 answer without insuinfo".into(),
        })?;
    let insurances = info
        .insuinfo
        .iter()
        .map(|i| Insurance {
            insutype: i.insutype.clone().unwrap_or_else(|| "310".into()),
            insuplc_admdvs: i.insuplc_admdvs.clone().unwrap_or_default(),
            psn_type: i.psn_type.clone().unwrap_or_default(),
            active: i.psn_insu_stas.as_deref() == Some("1"),
            balance: i.balc,
        })
        .collect();
    Ok(Person {
        psn_no,
        insuplc_admdvs: insu.insuplc_admdvs.clone().unwrap_or_default(),
        insutype: insu.insutype.clone().unwrap_or_else(|| "310".into()),
        balance: insu.balc,
        insurances,
    })
}

/// A cashier's `insutype` choice is 1–6 digits (checked before anything is sent or stored).
pub(super) fn check_insutype(insutype: &str) -> Result<(), SaleError> {
    if (1..=6).contains(&insutype.len()) && insutype.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(SaleError::BadRequest(format!(
            "insutype {insutype:?} is not an insurance type (1–6 digits, e.g. \"310\")"
        )))
    }
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
            trace_counts: super::trace::counts(&sale.items),
        },
        lines,
        config.fee_node(),
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

/// The 2102 `invono` (at most 20 characters, upstream.md): the sale's `chrg_bchno` in letters
/// and digits, its last 20 when longer (a sale id's unique part is its tail). Deterministic, so
/// every attempt of a sale sends the same invoice number.
pub(super) fn invono(chrg_bchno: &str) -> String {
    let chars: Vec<char> = chrg_bchno
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let skip = chars.len().saturating_sub(INVONO_MAX);
    chars[skip..].iter().collect()
}

/// `invono`'s length in the contract.
pub(super) const INVONO_MAX: usize = 20;

/// Makes `insutype` the sale's insurance; a type 1101 did not offer is
/// [`SaleError::InsutypeNotOffered`].
pub(super) fn choose_insutype(person: &mut Person, insutype: &str) -> Result<(), SaleError> {
    person
        .choose(insutype)
        .map_err(|offered| SaleError::InsutypeNotOffered {
            chosen: insutype.to_owned(),
            offered,
        })
}

#[cfg(test)]
mod invono_tests {
    use super::*;

    #[test]
    fn invono_fits_in_20_characters_and_is_stable() {
        let id = "S261203101500a1b2c3d4";
        assert_eq!(id.len(), 21);
        let inv = invono(id);
        assert_eq!(inv.len(), INVONO_MAX);
        assert_eq!(inv, "261203101500a1b2c3d4");
        assert_eq!(invono(id), inv, "the same sale, the same invoice number");
        assert_ne!(invono("S261203101500a1b2c3d5"), inv);
        assert_eq!(invono("CB-2026"), "CB2026");
        let long = "X".repeat(64) + "1234";
        assert_eq!(invono(&long).len(), INVONO_MAX);
        assert!(invono(&long).ends_with("1234"));
    }
}

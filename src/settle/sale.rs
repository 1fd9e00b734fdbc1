//! A sale as it is stored (`sales.doc`, JSON) and shown: the items and amount captured at the
//! counter, the credential, what the platform said at each step, the money-moving request in
//! flight (its msgid and infno), and the outcome. Pure data with the derived views the cashier
//! needs (patient share, refund or extra due). Personal data stays in the document on this
//! machine, held in the `medsettle_base::pii` newtypes (so `{:?}` is masked); [`Sale::view`]
//! masks it for anything shown or published. The [`Credential`] is `crate::credential`'s.

use serde::{Deserialize, Serialize};

use super::options::SaleMode;
use super::state::SaleState;
pub use crate::credential::Credential;
use crate::upstream::tx::settle::Settlement;
use crate::upstream::{Fen, Price, Qty};
use medsettle_base::pii::PsnNo;

/// One line of the sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// 医保目录编码 (`med_list_codg`).
    pub code: String,
    /// 医药机构目录编码 (`medins_list_codg`); defaults to `code`.
    #[serde(default)]
    pub local_code: String,
    #[serde(default)]
    pub name: String,
    pub cnt: Qty,
    pub pric: Price,
    /// `cnt × pric` to the fen.
    pub amount: Fen,
}

/// What 1101 told us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub psn_no: PsnNo,
    /// 参保地: the envelope's `insuplc_admdvs`.
    pub insuplc_admdvs: String,
    pub insutype: String,
    /// Personal account balance before the sale.
    pub balance: Fen,
}

/// The platform's split of a sale (from 2101/2102).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub setl_id: Option<String>,
    pub mdtrt_id: Option<String>,
    pub medfee: Fen,
    pub fund: Fen,
    pub account: Fen,
    /// What the patient pays in cash.
    pub cash: Fen,
    /// Account balance after.
    pub balance_after: Option<Fen>,
    /// The settlement day, CST `yyyy-MM-dd` (reconciliation).
    #[serde(default)]
    pub day: String,
    pub funds: Vec<(String, Fen)>,
}

impl Split {
    pub fn from_settlement(s: &Settlement, day: &str) -> Split {
        Split {
            setl_id: s.setlinfo.setl_id.clone(),
            mdtrt_id: s.setlinfo.mdtrt_id.clone(),
            medfee: s.setlinfo.medfee_sumamt,
            fund: s.setlinfo.fund_pay_sumamt,
            account: s.setlinfo.acct_pay,
            cash: s.setlinfo.psn_cash_pay,
            balance_after: s.setlinfo.balc,
            day: day.to_owned(),
            funds: s
                .setldetail
                .iter()
                .map(|d| (d.fund_pay_type.clone().unwrap_or_default(), d.fund_payamt))
                .collect(),
        }
    }
}

/// The patient's consent to settle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Consent {
    /// The patient gave the PIN for this sale (verified by the card in the reader, or entered
    /// for an e-SSC); `seal` binds that fact to the sale's `chrg_bchno` and amount under the
    /// database's key (`settle::consent`). Nothing in it is derived from the PIN. A document
    /// written before the seal held an unsalted PIN hash as `proof`: it is ignored when read,
    /// so the next write of the sale drops it.
    Pin {
        #[serde(default)]
        seal: String,
    },
    /// The e-voucher token authorises (the patient confirmed on the phone).
    EVoucher,
    /// No PIN asked: `settle.skip_pin_consent` (sandbox and demo builds only).
    None,
}

/// A money-moving request: recorded in the audit table before it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub msgid: String,
    pub infno: String,
    pub at_ms: i64,
}

/// The last failure, as the cashier or operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message_zh: String,
    pub message_en: String,
    pub at_ms: i64,
}

/// A sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub id: String,
    pub created_at_ms: i64,
    pub state: SaleState,
    pub mode: SaleMode,
    pub credential: Credential,
    pub items: Vec<Item>,
    /// Sum of the items.
    pub amount: Fen,
    /// The personal account may pay (`acct_used_flag`).
    pub use_account: bool,
    /// What the patient paid at the counter when the sale was stored offline.
    pub collected: Option<Fen>,
    /// 收费批次号 (`chrg_bchno`): this sale's id, stable across every attempt.
    pub chrg_bchno: String,
    pub person: Option<Person>,
    /// The 2101 estimate.
    pub estimate: Option<Split>,
    pub consent: Option<Consent>,
    /// The money-moving request in flight or last sent (2102, 2103).
    pub attempt: Option<Attempt>,
    /// Earlier 2102 attempts that were reversed.
    #[serde(default)]
    pub reversed_attempts: Vec<Attempt>,
    /// The 2601 in flight.
    pub reversal: Option<Attempt>,
    /// The settlement.
    pub settlement: Option<Split>,
    /// Forwarder bookkeeping: attempts so far.
    #[serde(default)]
    pub tries: u32,
    pub last_error: Option<Failure>,
    /// Stored offline (owned by the forwarder).
    #[serde(default)]
    pub stored: bool,
    /// An operator requeued it past its maximum age: send it anyway.
    #[serde(default)]
    pub age_waived: bool,
}

impl Sale {
    /// What the patient owes in cash now: the settlement's cash share, else the estimate's.
    pub fn patient_share(&self) -> Option<Fen> {
        self.settlement
            .as_ref()
            .or(self.estimate.as_ref())
            .map(|s| s.cash)
    }

    /// For a stored sale that settled: what the patient gets back (positive) or still owes
    /// (negative) against what was collected at the counter.
    pub fn refund_due(&self) -> Option<Fen> {
        let collected = self.collected?;
        let cash = self.settlement.as_ref()?.cash;
        Some(Fen(collected.0 - cash.0))
    }

    /// The view for the API and events: personal data masked.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "state": self.state,
            "mode": self.mode,
            "stored": self.stored,
            "created_at_ms": self.created_at_ms,
            "credential": self.credential.masked(),
            "items": self.items,
            "amount": self.amount,
            "collected": self.collected,
            "psn_no": self.person.as_ref().map(|p| &p.psn_no),
            "insutype": self.person.as_ref().map(|p| &p.insutype),
            "estimate": self.estimate,
            "settlement": self.settlement,
            "patient_share": self.patient_share(),
            "refund_due": self.refund_due(),
            "msgid": self.attempt.as_ref().map(|a| &a.msgid),
            "tries": self.tries,
            "last_error": self.last_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale() -> Sale {
        Sale {
            id: "S1".into(),
            created_at_ms: 1,
            state: SaleState::Captured,
            mode: SaleMode::PreferOnline,
            credential: Credential::Card {
                card_no: "M12345678".into(),
                card_sn: "110105D15600000500A1B2C3D4E5F601".into(),
                id_number: "110105199003071239".into(),
                name: "测试张三".into(),
            },
            items: vec![],
            amount: Fen(12_850),
            use_account: true,
            collected: Some(Fen(12_850)),
            chrg_bchno: "S1".into(),
            person: None,
            estimate: None,
            consent: None,
            attempt: None,
            reversed_attempts: vec![],
            reversal: None,
            settlement: None,
            tries: 0,
            last_error: None,
            stored: true,
            age_waived: false,
        }
    }

    #[test]
    fn the_view_masks_personal_data_and_round_trips() {
        let s = sale();
        let v = s.view().to_string();
        assert!(
            !v.contains("110105199003071239") && !v.contains("测试张三"),
            "{v}"
        );
        assert!(!v.contains("M12345678"), "{v}");
        assert_eq!(s.view()["credential"]["card_no"], "M*****678");
        let back: Sale = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn debug_of_a_sale_shows_no_personal_data() {
        let mut s = sale();
        s.person = Some(Person {
            psn_no: "43000000000000000012345678".into(),
            insuplc_admdvs: "110105".into(),
            insutype: "310".into(),
            balance: Fen(0),
        });
        let text = format!("{s:?} {s:#?} {:?}", s.credential);
        for secret in [
            "110105199003071239",
            "测试张三",
            "M12345678",
            "43000000000000000012345678",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        // The stored document keeps them in clear (sealed by the store).
        let doc = serde_json::to_string(&s).unwrap();
        assert!(doc.contains("110105199003071239") && doc.contains("测试张三"));
        assert!(doc.contains("\"psn_no\":\"43000000000000000012345678\""));
    }

    #[test]
    fn refund_is_collected_minus_the_cash_share() {
        let mut s = sale();
        assert_eq!(s.refund_due(), None);
        s.settlement = Some(Split {
            setl_id: Some("X".into()),
            mdtrt_id: None,
            medfee: Fen(12_850),
            fund: Fen(8_030),
            account: Fen(3_000),
            cash: Fen(1_820),
            balance_after: None,
            day: "2026-11-23".into(),
            funds: vec![],
        });
        assert_eq!(s.refund_due(), Some(Fen(11_030)));
        assert_eq!(s.patient_share(), Some(Fen(1_820)));
    }
}

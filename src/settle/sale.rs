//! A sale as it is stored (`sales.doc`, JSON) and shown: the items and amount captured at the
//! counter, the credential, what the platform said at each step, the money-moving request in
//! flight (its msgid and infno), and the outcome. Pure data with the derived views the cashier
//! needs (patient share, refund or extra due). Personal data stays in the document on this
//! machine, held in the `medsettle_base::pii` newtypes (so `{:?}` is masked); [`Sale::view`]
//! masks it for anything shown or published. The [`Credential`] is `crate::credential`'s.

use serde::{Deserialize, Serialize};

use super::options::SaleMode;
use super::state::{SaleKind, SaleState};
pub use crate::credential::Credential;
use crate::upstream::tx::settle::{Mismatch, Settlement};
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
    /// A visit's fee line: the 2204 fields (outpatient only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit: Option<super::visit::LineExtra>,
    /// The boxes' traceability codes and batch data (药品追溯码), when the line has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<LineTrace>,
}

/// A line's drug traceability data (药品追溯码) as the sale keeps it: one code per box sold,
/// whether it was sold split (拆零), and the batch data its 3505 report needs. Checked on the
/// way in by `trace::line`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineTrace {
    pub codes: Vec<medsettle_nhsa::trace::TraceCode>,
    pub trdn_flag: bool,
    #[serde(default)]
    pub consumable: bool,
    pub fixmedins_bchno: String,
    pub manu_lotnum: String,
    pub manu_date: String,
    pub expy_end: String,
    pub rx_flag: String,
    /// What the operator should look at (the sale goes on): a code this terminal already sold
    /// (`trace.sold_before`), a 20-digit code not starting with 8 (`trace.unusual_prefix`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<TraceNote>,
}

/// A warning about one of a line's codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceNote {
    /// `trace.sold_before` or `trace.unusual_prefix`.
    pub code: String,
    pub trace_code: medsettle_nhsa::trace::TraceCode,
    /// The sale that sold it before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_id: Option<String>,
    pub message_zh: String,
    pub message_en: String,
}

/// What 1101 told us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub psn_no: PsnNo,
    /// 参保地 of the chosen insurance: the envelope's `insuplc_admdvs`.
    pub insuplc_admdvs: String,
    /// The chosen insurance (险种), sent as `insutype`.
    pub insutype: String,
    /// Personal account balance before the sale.
    pub balance: Fen,
    /// Every `insuinfo` row 1101 answered, in its order: the cashier may choose another.
    #[serde(default)]
    pub insurances: Vec<Insurance>,
}

/// One `insuinfo` row of 1101 (no personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Insurance {
    pub insutype: String,
    pub insuplc_admdvs: String,
    #[serde(default)]
    pub psn_type: String,
    /// `psn_insu_stas` 1: in force.
    pub active: bool,
    pub balance: Fen,
}

impl Person {
    /// Makes `insutype` the chosen insurance; it must be one of the rows 1101 answered (else
    /// the insutypes that were offered).
    pub fn choose(&mut self, insutype: &str) -> Result<(), Vec<String>> {
        let row = self
            .insurances
            .iter()
            .find(|r| r.insutype == insutype)
            .ok_or_else(|| {
                self.insurances
                    .iter()
                    .map(|r| r.insutype.clone())
                    .collect::<Vec<_>>()
            })?;
        self.insutype.clone_from(&row.insutype);
        self.insuplc_admdvs.clone_from(&row.insuplc_admdvs);
        self.balance = row.balance;
        Ok(())
    }
}

/// The platform's split of a sale (from 2101/2102), as the platform gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub setl_id: Option<String>,
    pub mdtrt_id: Option<String>,
    pub medfee: Fen,
    pub fund: Fen,
    pub account: Fen,
    /// What the patient pays in cash: `psn_cash_pay` as given, never recomputed. `None` when
    /// the answer had none: the operator decides.
    pub cash: Option<Fen>,
    /// 医院负担金额, when the answer carried it.
    #[serde(default)]
    pub hosp_part: Option<Fen>,
    /// Account balance after.
    pub balance_after: Option<Fen>,
    /// The settlement day, CST `yyyy-MM-dd` (reconciliation).
    #[serde(default)]
    pub day: String,
    /// `setldetail[]` (display and receipts only).
    pub funds: Vec<(String, Fen)>,
    /// The answer's `setlinfo` as received, every amount field included (personal fields
    /// removed: they are in [`Person`]).
    #[serde(default)]
    pub answer: serde_json::Value,
    /// Advisory checks the answer failed (upstream.md "Settlement answers", rule 3): shown
    /// and alarmed, never a reason to reverse.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<Mismatch>,
    /// An operator's acknowledgement of those mismatches (`medsettle queue ack`): the sale
    /// leaves the `sale.answer_mismatch` alarm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatches_acknowledged: Option<Acknowledgement>,
    /// The msgid of the request this settlement answered (2102/2207); `None` for an estimate
    /// and in documents written before it was kept (the answer's `medins_setl_id` may say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgid: Option<String>,
}

/// An operator's acknowledgement (who, why, when), kept on the sale and in its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// Who acknowledged (as the operator gave it; the CLI sends the login name).
    #[serde(default)]
    pub by: Option<String>,
    /// Why: what was verified, a ticket number.
    #[serde(default)]
    pub note: Option<String>,
    pub at_ms: i64,
}

impl Split {
    /// Mismatches no operator acknowledged yet: the sale belongs in the alarm.
    pub fn unacknowledged_mismatch(&self) -> bool {
        !self.mismatches.is_empty() && self.mismatches_acknowledged.is_none()
    }
}

impl Split {
    pub fn from_settlement(s: &Settlement, day: &str) -> Split {
        Split {
            setl_id: s.setl_id().map(str::to_owned),
            mdtrt_id: s.setlinfo.mdtrt_id.clone(),
            medfee: s.setlinfo.medfee_sumamt,
            fund: s.setlinfo.fund_pay_sumamt,
            account: s.setlinfo.acct_pay,
            cash: s.setlinfo.psn_cash_pay,
            hosp_part: s.setlinfo.hosp_part_amt,
            balance_after: s.setlinfo.balc,
            day: day.to_owned(),
            funds: s
                .setldetail
                .iter()
                .map(|d| (d.fund_pay_type.clone().unwrap_or_default(), d.fund_payamt))
                .collect(),
            answer: s.answer.clone(),
            mismatches: Vec::new(),
            mismatches_acknowledged: None,
            msgid: None,
        }
    }
}

/// A 2103 answer, kept as given (upstream.md "Cancellation answers": informational).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    /// The answer's `setl_id`: the cancellation's own id.
    pub setl_id: Option<String>,
    /// The `setl_id` of the settlement it cancelled.
    pub original_setl_id: Option<String>,
    /// Cash refunded to the patient: the answer's `psn_cash_pay`, `pdn_cash_pay`,
    /// `cash_payamt` or `cashPayamt` (sign ignored), else the settlement's `psn_cash_pay`.
    pub cash_refunded: Option<Fen>,
    /// `answer` when the answer named the cash, `settlement` when it came from the original.
    pub cash_from: String,
    /// The answer's `setlinfo` as received (personal fields removed).
    pub answer: serde_json::Value,
    /// The msgid of the 2103/2208 that cancelled (absent in older documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgid: Option<String>,
    /// The CST day the answer was applied (`yyyy-MM-dd`): the reconciliation day when the
    /// answer gave no `setl_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
}

/// The patient's consent to settle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Consent {
    /// The patient gave the PIN for this sale (verified by the card in the reader, or entered
    /// for an e-SSC); `seal` binds that fact to the sale's `chrg_bchno` and amount under the
    /// database's key (`settle::consent`). Nothing in it is derived from the PIN. A document
    /// written before the seal held an unsalted PIN hash as `proof`: the store drops that
    /// consent record once, when it opens the older file (`store/scrub.rs`); one read before
    /// that would ignore the `proof`.
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
    /// For a reversed attempt: the proof it was reversed (the 2601's answer, or an operator's
    /// resolution). A sale settles afresh only after its last attempt has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversed_by: Option<Evidence>,
}

impl Attempt {
    /// A new request, not reversed.
    pub fn new(msgid: &str, infno: &str, at_ms: i64) -> Attempt {
        Attempt {
            msgid: msgid.to_owned(),
            infno: infno.to_owned(),
            at_ms,
            reversed_by: None,
        }
    }

    /// The platform answered the 2601 for it with success, or an operator resolved it as not
    /// having happened.
    pub fn reversal_proven(&self) -> bool {
        self.reversed_by.as_ref().is_some_and(|e| match e.source {
            EvidenceSource::Reversal => e.infcode == Some(0),
            EvidenceSource::Operator => true,
            EvidenceSource::SettlementQuery => false,
        })
    }
}

/// Where a piece of evidence about a request in doubt comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceSource {
    /// The platform's answer to a 2601 (冲正).
    Reversal,
    /// The platform's answer to a 5203 settlement query.
    SettlementQuery,
    /// An operator's decision (`medsettle queue resolve`).
    Operator,
}

/// What the platform (or an operator) said about a request in doubt, kept on the sale and in
/// its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub source: EvidenceSource,
    /// The request that was answered (the 2601's or 5203's msgid); none for an operator.
    #[serde(default)]
    pub msgid: Option<String>,
    /// The request in doubt it is about.
    #[serde(default)]
    pub omsgid: Option<String>,
    #[serde(default)]
    pub infcode: Option<i64>,
    /// The platform's message (scrubbed of ID numbers), or the operator's note.
    #[serde(default)]
    pub message: Option<String>,
    /// How a refused 2601 was read (`not_found`, `already_reversed`, `other`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The platform's answer as received (`inf_refmsgid`, `respond_time`, `output`); may hold
    /// personal data (5203), so it stays in the sealed document and is not in the view.
    #[serde(default)]
    pub answer: serde_json::Value,
    pub at_ms: i64,
}

impl Evidence {
    /// The evidence without the raw answer, for views and history rows shown to operators.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "source": self.source,
            "msgid": self.msgid,
            "omsgid": self.omsgid,
            "infcode": self.infcode,
            "message": self.message,
            "refusal": self.refusal,
            "at_ms": self.at_ms,
        })
    }
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
    /// A pharmacy sale or an outpatient visit (older documents: pharmacy).
    #[serde(default)]
    pub kind: SaleKind,
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
    /// Earlier money-moving attempts (2102, or a 2103 whose cancellation was reversed) that
    /// were reversed, each with its proof (`reversed_by`).
    #[serde(default)]
    pub reversed_attempts: Vec<Attempt>,
    /// The 2601 in flight.
    pub reversal: Option<Attempt>,
    /// What the platform or an operator said about this sale's requests in doubt (refused
    /// 2601s, 5203 answers, resolutions), oldest first.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// The settlement.
    pub settlement: Option<Split>,
    /// The cancellation of the settlement (2103 answered).
    #[serde(default)]
    pub cancellation: Option<Cancellation>,
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
    /// An outpatient visit: what the HIS described and what the platform holds of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit: Option<super::visit::Visit>,
    /// Who dispensed and prescribed, as the request said (the trace reports' defaults fill in
    /// the rest when they are sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispensing: Option<super::dispensing::Dispensing>,
}

impl Sale {
    /// A new pharmacy sale in `captured`, nothing sent yet: no items, nothing from the
    /// platform (the caller fills in what it has, `..Sale::captured(…)`).
    pub fn captured(
        id: String,
        created_at_ms: i64,
        mode: SaleMode,
        credential: Credential,
    ) -> Sale {
        Sale {
            chrg_bchno: id.clone(),
            id,
            kind: SaleKind::Pharmacy,
            created_at_ms,
            state: SaleState::Captured,
            mode,
            credential,
            items: Vec::new(),
            amount: Fen(0),
            use_account: true,
            collected: None,
            person: None,
            estimate: None,
            consent: None,
            attempt: None,
            reversed_attempts: Vec::new(),
            reversal: None,
            evidence: Vec::new(),
            settlement: None,
            cancellation: None,
            tries: 0,
            last_error: None,
            stored: false,
            age_waived: false,
            visit: None,
            dispensing: None,
        }
    }

    /// What the patient owes in cash now: the settlement's cash share, else the estimate's.
    pub fn patient_share(&self) -> Option<Fen> {
        self.settlement
            .as_ref()
            .or(self.estimate.as_ref())
            .and_then(|s| s.cash)
    }

    /// For a stored sale that settled: what the patient gets back (positive) or still owes
    /// (negative) against what was collected at the counter.
    pub fn refund_due(&self) -> Option<Fen> {
        let collected = self.collected?;
        let cash = self.settlement.as_ref()?.cash?;
        Some(Fen(collected.0 - cash.0))
    }

    /// The view for the API and events: personal data masked.
    pub fn view(&self) -> serde_json::Value {
        let mut view = serde_json::json!({
            "id": self.id,
            "kind": self.kind,
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
            "insurances": self.person.as_ref().map(|p| &p.insurances),
            "estimate": self.estimate,
            "settlement": self.settlement,
            "cancellation": self.cancellation,
            "mismatches": self.settlement.as_ref().map(|s| &s.mismatches),
            "patient_share": self.patient_share(),
            "refund_due": self.refund_due(),
            "msgid": self.attempt.as_ref().map(|a| &a.msgid),
            "tries": self.tries,
            "last_error": self.last_error,
            "reversed": self
                .reversed_attempts
                .iter()
                .map(|a| serde_json::json!({
                    "msgid": a.msgid,
                    "infno": a.infno,
                    "reversed_by": a.reversed_by.as_ref().map(Evidence::summary),
                }))
                .collect::<Vec<_>>(),
            "evidence": self.evidence.iter().map(Evidence::summary).collect::<Vec<_>>(),
        });
        if let Some(v) = &self.visit {
            view["visit"] = v.view();
        }
        view
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
            evidence: vec![],
            settlement: None,
            cancellation: None,
            tries: 0,
            last_error: None,
            stored: true,
            age_waived: false,
            kind: SaleKind::Pharmacy,
            visit: None,
            dispensing: None,
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
            insurances: vec![],
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
            cash: Some(Fen(1_820)),
            hosp_part: None,
            balance_after: None,
            day: "2026-11-23".into(),
            funds: vec![],
            answer: serde_json::Value::Null,
            mismatches: vec![],
            mismatches_acknowledged: None,
            msgid: None,
        });
        assert_eq!(s.refund_due(), Some(Fen(11_030)));
        assert_eq!(s.patient_share(), Some(Fen(1_820)));
        // No psn_cash_pay in the answer: nothing is computed, the operator decides.
        s.settlement.as_mut().unwrap().cash = None;
        assert_eq!(s.refund_due(), None);
        assert_eq!(s.patient_share(), None);
    }
}

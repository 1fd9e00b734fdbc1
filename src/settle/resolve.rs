//! The operator's exit for a sale in doubt (`medsettle queue resolve ID --settled SETL_ID |
//! --not-settled`, `POST /v1/queue/{id}/resolve`): after checking with the platform's staff or
//! the day's reconciliation, an operator states what happened to the request in doubt, and the
//! decision is recorded in the sale's history next to the evidence the terminal holds (the
//! refused 2601's answer, and a 5203 answer when the platform can be asked).
//!
//! Mapping: a settlement (2102) in doubt resolved `settled` → `settled` (with the operator's
//! setl_id), `not settled` → `reversed` (a stored sale is then settled afresh by the forwarder
//! under a new msgid; an online one waits for its cashier). A cancellation (2103) in doubt
//! resolved `settled` → the settlement still stands (`settled`), `not settled` → it was
//! cancelled (`cancelled`). Only a sale in doubt can be resolved.
//!
//! Next to it, the operator's acknowledgement of a settlement answer that failed an advisory
//! check ([`MismatchAck`]): recorded in the history, the sale leaves `sale.answer_mismatch`.

use std::sync::Arc;

use super::book::SaleBook;
use super::error::SaleError;
use super::forwarder::Forwarder;
use super::sale::{Acknowledgement, Evidence, EvidenceSource, Sale, Split};
use super::settler::Settler;
use super::state::{SaleEvent, SaleState};

/// What the operator states about the request in doubt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The platform holds the settlement under this `setl_id`.
    Settled { setl_id: String },
    /// The platform does not hold it (for a cancellation in doubt: the cancellation happened).
    NotSettled,
}

/// An operator's resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub decision: Decision,
    /// Why (a ticket number, who at the bureau confirmed it), kept in the history.
    pub note: Option<String>,
}

impl Resolution {
    /// Checks the operator's input; nothing is stored when it is refused.
    pub fn check(&self) -> Result<(), SaleError> {
        if let Decision::Settled { setl_id } = &self.decision {
            let ok = (1..=30).contains(&setl_id.len())
                && setl_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(SaleError::BadRequest(
                    "setl_id must be 1-30 letters, digits, '-' or '_'".into(),
                ));
            }
        }
        if self.note.as_ref().is_some_and(|n| n.chars().count() > 200) {
            return Err(SaleError::BadRequest(
                "note must be at most 200 characters".into(),
            ));
        }
        Ok(())
    }
}

/// An operator's acknowledgement of a settlement answer that failed an advisory check
/// (`medsettle queue ack ID`, `POST /v1/queue/{id}/ack`): the sale settled anyway; the
/// operator verified it and takes it off the `sale.answer_mismatch` alarm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MismatchAck {
    /// Who (the CLI sends the operator's login name).
    pub by: Option<String>,
    /// What was verified, a ticket number.
    pub note: Option<String>,
}

impl MismatchAck {
    /// Checks the operator's input; nothing is stored when it is refused.
    pub fn check(&self) -> Result<(), SaleError> {
        if self.by.as_ref().is_some_and(|b| b.chars().count() > 64) {
            return Err(SaleError::BadRequest(
                "by must be at most 64 characters".into(),
            ));
        }
        if self.note.as_ref().is_some_and(|n| n.chars().count() > 200) {
            return Err(SaleError::BadRequest(
                "note must be at most 200 characters".into(),
            ));
        }
        Ok(())
    }
}

/// Resolves sales in doubt.
pub(super) struct Resolver {
    book: Arc<SaleBook>,
    settler: Arc<Settler>,
    forwarder: Arc<Forwarder>,
}

impl Resolver {
    pub(super) fn new(
        book: Arc<SaleBook>,
        settler: Arc<Settler>,
        forwarder: Arc<Forwarder>,
    ) -> Resolver {
        Resolver {
            book,
            settler,
            forwarder,
        }
    }

    /// An operator's word on a visit whose undo chain the platform refuses (`undoing`,
    /// `closing`): the platform holds nothing of it any more (`not_settled`; e.g. the bureau
    /// removed it by hand). The visit ends `abandoned` or `cancelled`.
    async fn resolve_undone(&self, mut sale: Sale, r: Resolution) -> Result<Sale, SaleError> {
        if r.decision != Decision::NotSettled {
            return Err(SaleError::BadRequest(
                "a visit being undone is resolved as not_settled (the platform holds nothing of it)"
                    .into(),
            ));
        }
        let at_ms = self.book.now().timestamp_millis();
        let evidence = Evidence {
            source: EvidenceSource::Operator,
            msgid: None,
            omsgid: sale
                .visit
                .as_ref()
                .and_then(|v| v.step.as_ref())
                .map(|s| s.msgid.clone()),
            infcode: None,
            message: r.note.clone(),
            refusal: None,
            answer: serde_json::json!({ "decision": "undone" }),
            at_ms,
        };
        let detail = serde_json::json!({
            "decision": "undone",
            "note": r.note,
            "from": sale.state,
            "visit": sale.visit.as_ref().map(super::visit::Visit::view),
        });
        self.book
            .transition(&mut sale, SaleEvent::ResolveUndone, detail, None, |s| {
                s.evidence.push(evidence.clone());
                s.last_error = None;
                if let Some(v) = s.visit.as_mut() {
                    v.step = None;
                    v.batch = None;
                    v.registration_open = false;
                }
            })
            .await?;
        self.settler.doubts().show().await;
        Ok(sale)
    }

    /// Records the operator's resolution of sale `id` (lock taken: a request in flight for it
    /// finishes first).
    pub(super) async fn resolve(&self, id: &str, r: Resolution) -> Result<Sale, SaleError> {
        r.check()?;
        let _guard = self.book.lock(id).await;
        let mut sale = self.book.get(id).await?;
        if matches!(sale.state, SaleState::Undoing | SaleState::Closing) {
            return self.resolve_undone(sale, r).await;
        }
        if !sale.state.in_doubt() {
            return Err(SaleError::NotInDoubt { state: sale.state });
        }
        let cancellation = sale.state == SaleState::Cancelling
            || sale
                .attempt
                .as_ref()
                .is_some_and(|a| !super::settler::is_settlement(&a.infno));
        if let (true, Decision::Settled { setl_id }) = (cancellation, &r.decision) {
            let known = sale.settlement.as_ref().and_then(|s| s.setl_id.as_deref());
            if known.is_some_and(|k| k != setl_id) {
                return Err(SaleError::BadRequest(format!(
                    "the sale was settled as {}, not {setl_id}",
                    known.unwrap_or_default()
                )));
            }
        }
        let setl_id = match &r.decision {
            Decision::Settled { setl_id } => Some(setl_id.clone()),
            Decision::NotSettled => None,
        };
        // 5203 re-reads a settlement whose setl_id is known (upstream.md): asked when it can be.
        let query = match &setl_id {
            Some(s) => self.settler.query_settlement(&sale, s).await,
            None => None,
        };
        let at_ms = self.book.now().timestamp_millis();
        let omsgid = sale.attempt.as_ref().map(|a| a.msgid.clone());
        let decision = match (&r.decision, cancellation) {
            (Decision::Settled { .. }, false) => "settled",
            (Decision::NotSettled, false) => "not_settled",
            (Decision::Settled { .. }, true) => "cancellation_not_made",
            (Decision::NotSettled, true) => "cancelled",
        };
        let evidence = Evidence {
            source: EvidenceSource::Operator,
            msgid: None,
            omsgid: omsgid.clone(),
            infcode: None,
            message: r.note.clone(),
            refusal: None,
            answer: serde_json::json!({
                "decision": decision,
                "setl_id": setl_id,
                "settlement_query": query.as_ref().map(Evidence::summary),
            }),
            at_ms,
        };
        let detail = serde_json::json!({
            "decision": decision,
            "setl_id": setl_id,
            "note": r.note,
            "omsgid": omsgid,
            "infno": sale.attempt.as_ref().map(|a| &a.infno),
            "from": sale.state,
            // What the terminal held when the operator decided: refused 2601s and any 5203.
            "evidence": sale.evidence.iter().chain(query.iter()).cloned().collect::<Vec<_>>(),
            "settlement_query": query.as_ref().map_or(
                serde_json::json!("unavailable"),
                |q| serde_json::json!(q.summary()),
            ),
        });
        let today = self.settler.today();
        let event = match (&r.decision, cancellation) {
            (Decision::Settled { .. }, _) => SaleEvent::ResolveSettled,
            (Decision::NotSettled, false) => SaleEvent::ResolveUnsettled,
            (Decision::NotSettled, true) => SaleEvent::ResolveCancelled,
        };
        let ev = evidence.clone();
        self.book
            .transition(&mut sale, event, detail, None, move |s| {
                if let Some(q) = query.clone() {
                    s.evidence.push(q);
                }
                s.evidence.push(ev.clone());
                s.reversal = None;
                s.last_error = None;
                match (event, setl_id) {
                    (SaleEvent::ResolveSettled, Some(id)) if !cancellation => {
                        // The split: the 5203 answer when the platform gave one, else
                        // the 2101 estimate (marked as such), else the amount as cash.
                        let answered = query
                            .as_ref()
                            .filter(|q| q.infcode == Some(0))
                            .map(|q| &q.answer["output"]);
                        let mut split = match (answered, s.estimate.clone()) {
                            (Some(output), _) => Split::from_settlement(
                                &crate::upstream::tx::settle::Settlement::from_output(output),
                                &today,
                            ),
                            (None, Some(estimate)) => estimate,
                            (None, None) => Split {
                                setl_id: None,
                                mdtrt_id: None,
                                medfee: s.amount,
                                fund: crate::upstream::Fen(0),
                                account: crate::upstream::Fen(0),
                                cash: Some(s.amount),
                                hosp_part: None,
                                balance_after: None,
                                day: String::new(),
                                funds: Vec::new(),
                                answer: serde_json::Value::Null,
                                mismatches: Vec::new(),
                                mismatches_acknowledged: None,
                                msgid: None,
                            },
                        };
                        split.setl_id = Some(id);
                        split.day = today.clone();
                        split.msgid = s.attempt.as_ref().map(|a| a.msgid.clone());
                        s.settlement = Some(split);
                    }
                    (SaleEvent::ResolveSettled, _) => {
                        // A cancellation that did not happen: the settlement stands.
                        s.attempt = None;
                    }
                    (SaleEvent::ResolveUnsettled, _) => {
                        if let Some(mut a) = s.attempt.take() {
                            a.reversed_by = Some(ev);
                            s.reversed_attempts.push(a);
                        }
                    }
                    _ => {}
                }
            })
            .await?;
        tracing::warn!(sale = %sale.id, decision, "an operator resolved a sale in doubt");
        self.settler.doubts().show().await;
        if sale.stored && sale.state == SaleState::Reversed {
            self.forwarder.wake();
        }
        Ok(sale)
    }

    /// Records the operator's acknowledgement of sale `id`'s answer mismatches (history row
    /// `ack_mismatch`: who, why, the mismatches) and takes it off the alarm. A repeat answers
    /// the sale as acknowledged the first time; a sale without mismatches is refused.
    pub(super) async fn acknowledge(&self, id: &str, ack: MismatchAck) -> Result<Sale, SaleError> {
        ack.check()?;
        let _guard = self.book.lock(id).await;
        let mut sale = self.book.get(id).await?;
        let Some(split) = sale
            .settlement
            .as_ref()
            .filter(|s| !s.mismatches.is_empty())
        else {
            return Err(SaleError::WrongState {
                state: sale.state,
                action: "acknowledge an answer mismatch (its settlement has none)",
            });
        };
        if split.mismatches_acknowledged.is_some() {
            return Ok(sale);
        }
        let at_ms = self.book.now().timestamp_millis();
        let detail = serde_json::json!({
            "by": ack.by,
            "note": ack.note,
            "setl_id": split.setl_id,
            "mismatches": split.mismatches,
        });
        let acknowledged = Acknowledgement {
            by: ack.by,
            note: ack.note,
            at_ms,
        };
        self.book
            .annotate(&mut sale, "ack_mismatch", detail, |s| {
                if let Some(split) = s.settlement.as_mut() {
                    split.mismatches_acknowledged = Some(acknowledged);
                }
            })
            .await?;
        tracing::warn!(sale = %sale.id, "an operator acknowledged a settlement answer mismatch");
        self.settler.acknowledged_mismatch(&sale.id).await?;
        Ok(sale)
    }
}

//! The settler: the money-moving requests of a sale, shared by the cashier's calls, the
//! forwarder and crash recovery — 1101 + 2101 (the estimate, no money), 2102 (settle), 2103
//! (cancel) and 2601 (reverse). The rule everywhere (upstream.md 冲正 rules, offline.md rule
//! 1): the request is recorded (msgid + full body in the audit table) and the sale moved to
//! `settling` / `cancelling` / `reversing` with that msgid BEFORE anything is sent; an answer
//! that does not prove what happened moves the sale to `unknown`, whose only way out is 2601;
//! after a reversal the sale settles afresh under a new msgid, never the same sale twice.
//!
//! It holds no lock itself (callers hold the sale's) and never chooses when to retry (the
//! forwarder and the cashier do).

use std::sync::Arc;

use super::book::{SaleBook, failure};
use super::doubt::{Doubts, Refusal};
use super::error::SaleError;
use super::options::SettleConfig;
use super::requests;
use super::sale::{Attempt, Cancellation, Evidence, EvidenceSource, Person, Sale, Split};
use super::state::{SaleEvent, SaleKind, SaleState};
use super::visit::BatchState;
use crate::status::StatusBoard;
use crate::terminal::TerminalConfig;
use crate::upstream::calls::{cancellation, settlement};
use crate::upstream::client::{CallOptions, Exchange, Prepared};
use crate::upstream::platform::Platform;
use crate::upstream::tx::query::SettlementQueryInput;
use crate::upstream::tx::reverse::{Cancel, CancelInput, ReversalInput};
use crate::upstream::tx::settle::{Sent, Settlement};
use crate::upstream::{MsgId, UpstreamError, time};

/// The settler. One per engine.
pub(super) struct Settler {
    book: Arc<SaleBook>,
    platform: Option<Arc<dyn Platform>>,
    config: SettleConfig,
    terminal: TerminalConfig,
    /// Where a settlement answer that fails an advisory check is shown.
    status: Option<Arc<StatusBoard>>,
    /// The `sale.in_doubt` alarm, re-evaluated when a sale is held.
    doubts: Arc<Doubts>,
}

/// The alarm of settlement answers that failed an advisory check.
pub const ANSWER_MISMATCH: &str = "sale.answer_mismatch";

impl Settler {
    pub(super) fn new(
        book: Arc<SaleBook>,
        platform: Option<Arc<dyn Platform>>,
        config: SettleConfig,
        terminal: TerminalConfig,
        status: Option<Arc<StatusBoard>>,
        doubts: Arc<Doubts>,
    ) -> Settler {
        Settler {
            book,
            platform,
            config,
            terminal,
            status,
            doubts,
        }
    }

    /// The `sale.in_doubt` alarm.
    pub(super) fn doubts(&self) -> &Arc<Doubts> {
        &self.doubts
    }

    /// The platform, or [`SaleError::NoPlatform`].
    pub(super) fn platform(&self) -> Result<Arc<dyn Platform>, SaleError> {
        self.platform.clone().ok_or(SaleError::NoPlatform)
    }

    /// The platform, if the terminal has one.
    pub(super) fn platform_if_any(&self) -> Option<&Arc<dyn Platform>> {
        self.platform.as_ref()
    }

    /// 1101 for the sale's credential.
    pub(super) async fn identify(
        &self,
        platform: &dyn Platform,
        sale: &Sale,
    ) -> Result<Person, UpstreamError> {
        let (query, region) = requests::person_query(sale, self.book.now());
        let options = CallOptions {
            insuplc_admdvs: region,
            password_proof: None,
        };
        let info = platform.person_info(&query, &options).await?;
        requests::person_of(&info, &self.config.insutype_preference)
    }

    /// 2101: the estimate.
    pub(super) async fn estimate(
        &self,
        platform: &dyn Platform,
        sale: &Sale,
    ) -> Result<Split, UpstreamError> {
        let input =
            requests::pharmacy_input(sale, None, &self.config, &self.terminal, self.book.now())
                .map_err(|e| UpstreamError::NotSent {
                    detail: e.to_string(),
                })?;
        let region = sale
            .person
            .as_ref()
            .map(|p| p.insuplc_admdvs.clone())
            .unwrap_or_default();
        let s = platform.presettle_pharmacy(&input, &region).await?;
        Ok(Split::from_settlement(&s, &self.today()))
    }

    /// 5203 for settlement `setl_id` of the sale (upstream.md "Settlement query": it re-reads a
    /// settlement whose id the terminal holds). `None` when the platform cannot be asked (no
    /// platform, no psn_no, the link down): callers go on with the evidence they hold. A
    /// refusal is evidence too (infcode -1 and its message).
    pub(super) async fn query_settlement(&self, sale: &Sale, setl_id: &str) -> Option<Evidence> {
        let platform = self.platform_if_any()?;
        let mdtrt_id = sale.settlement.as_ref().and_then(|s| s.mdtrt_id.clone());
        let input =
            SettlementQueryInput::new(&requests::psn_no(sale), setl_id, mdtrt_id.as_deref())
                .ok()?;
        let region = sale
            .person
            .as_ref()
            .map(|p| p.insuplc_admdvs.clone())
            .unwrap_or_default();
        let at_ms = self.book.now().timestamp_millis();
        let evidence =
            |infcode: i64, message: Option<String>, answer: serde_json::Value| Evidence {
                source: EvidenceSource::SettlementQuery,
                msgid: None,
                omsgid: sale.attempt.as_ref().map(|a| a.msgid.clone()),
                infcode: Some(infcode),
                message,
                refusal: None,
                answer,
                at_ms,
            };
        match platform.settlement_query(&input, &region).await {
            Ok(q) => Some(evidence(
                0,
                None,
                serde_json::json!({ "output": { "setlinfo": q.settlement.answer } }),
            )),
            Err(UpstreamError::Business { infcode, err_msg }) => {
                Some(evidence(infcode, Some(err_msg), serde_json::Value::Null))
            }
            Err(e) => {
                tracing::warn!(sale = %sale.id, error = %e, "5203 settlement query failed");
                None
            }
        }
    }

    /// The CST day now, `yyyy-MM-dd`.
    pub(super) fn today(&self) -> String {
        time::format_date(time::cst_day(self.book.now()))
    }

    /// Settles a sale now (lock held): `confirmed`, `queued` (with person and estimate filled
    /// in by the caller) or `reversed`. Ends `settled`, `rejected`, or — when the outcome is
    /// unknown — `reversed` after an inline 2601 (or `unknown`/`reversing`/`held` for the
    /// forwarder or an operator); a request that never left puts the sale back where it was
    /// (`confirmed`, or `queued` with a backoff) and answers the link failure.
    pub(super) async fn settle_now(&self, sale: &mut Sale) -> Result<(), SaleError> {
        let platform = self.platform()?;
        let event = match sale.state {
            SaleState::Reversed => SaleEvent::Retry,
            _ => SaleEvent::Send,
        };
        // Fail before recording anything when the move is not allowed.
        sale.state
            .next_for(sale.kind, event)
            .map_err(|e| SaleError::WrongState {
                state: e.from,
                action: "settle",
            })?;
        may_settle_afresh(sale)?;
        let prepared = match sale.kind {
            SaleKind::Pharmacy => {
                let invono = requests::invono(&sale.chrg_bchno);
                let input = requests::pharmacy_input(
                    sale,
                    Some(&invono),
                    &self.config,
                    &self.terminal,
                    self.book.now(),
                )?;
                platform
                    .prepare_input(input.infno(), &input, &requests::options(sale, true))
                    .await
            }
            SaleKind::Outpatient => {
                // The batch's own number as the invoice: each batch settles once.
                let chrg_bchno = sale
                    .visit
                    .as_ref()
                    .and_then(|v| v.batch.as_ref())
                    .map_or(sale.chrg_bchno.clone(), |b| b.chrg_bchno.clone());
                let invono = requests::invono(&chrg_bchno);
                let input = super::visit_requests::outpatient_input(sale, Some(&invono))?;
                platform
                    .prepare_input(input.infno(), &input, &requests::options(sale, true))
                    .await
            }
        }
        .map_err(SaleError::Upstream)?;
        let attempt = attempt_of(&prepared);
        let detail = serde_json::json!({ "msgid": attempt.msgid, "infno": attempt.infno });
        self.book
            .transition(sale, event, detail, None, |s| {
                s.tries += 1;
                s.attempt = Some(attempt);
            })
            .await?;
        let checked = platform.send(&prepared).await.and_then(|x| settlement(&x));
        self.apply_settlement(sale, checked).await
    }

    /// Applies a 2102 answer (`settling`): settled, rejected, or unknown and reversed. An
    /// answer with a `setl_id` settles the sale whatever its amounts say; the advisory checks
    /// it fails are recorded on the settlement and raise [`ANSWER_MISMATCH`].
    pub(super) async fn apply_settlement(
        &self,
        sale: &mut Sale,
        checked: Result<Settlement, UpstreamError>,
    ) -> Result<(), SaleError> {
        match checked {
            Ok(s) => {
                let psn_no = requests::psn_no(sale);
                let sent = Sent {
                    medfee_sumamt: sale.amount,
                    psn_no: Some(psn_no.as_str()).filter(|p| !p.is_empty()),
                };
                let mut split = Split::from_settlement(&s, &self.today());
                split.mismatches = s.advisories(&sent, &self.config.answer_checks);
                split.msgid = sale.attempt.as_ref().map(|a| a.msgid.clone());
                let detail = serde_json::json!({
                    "setl_id": split.setl_id,
                    "cash": split.cash,
                    "mismatches": split.mismatches,
                });
                let mismatches = split.mismatches.clone();
                self.book
                    .transition(sale, SaleEvent::Settled, detail, None, |x| {
                        x.settlement = Some(split);
                        x.last_error = None;
                        if let Some(b) = x.visit.as_mut().and_then(|v| v.batch.as_mut()) {
                            b.state = BatchState::Settled;
                        }
                    })
                    .await?;
                if !mismatches.is_empty() {
                    tracing::warn!(sale = %sale.id, ?mismatches, "settled; the answer failed an advisory check");
                    self.raise_mismatch(&sale.id, &mismatches);
                }
                Ok(())
            }
            Err(e) => self.not_applied(sale, e, false).await,
        }
    }

    /// The sales [`ANSWER_MISMATCH`] lists now.
    fn mismatch_alarm_sales(&self) -> Vec<serde_json::Value> {
        let Some(status) = &self.status else {
            return Vec::new();
        };
        status
            .snapshot()
            .alarms
            .iter()
            .find(|a| a.code == ANSWER_MISMATCH)
            .and_then(|a| a.details.get("sales").and_then(|s| s.as_array()).cloned())
            .unwrap_or_default()
    }

    /// Adds the sale to [`ANSWER_MISMATCH`] (the last 50 sales are listed).
    fn raise_mismatch(&self, id: &str, mismatches: &[crate::upstream::tx::settle::Mismatch]) {
        let mut sales = self.mismatch_alarm_sales();
        sales.retain(|s| s["id"] != id);
        sales.push(serde_json::json!({ "id": id, "mismatches": mismatches }));
        self.show_mismatches(sales);
    }

    /// An operator acknowledged the sale's mismatches: it leaves [`ANSWER_MISMATCH`]; when the
    /// list runs empty, the store says whether any other sale is still unacknowledged (the
    /// list holds the last 50 only) and the alarm is cleared when none is.
    pub(super) async fn acknowledged_mismatch(&self, id: &str) -> Result<(), SaleError> {
        let mut sales = self.mismatch_alarm_sales();
        sales.retain(|s| s["id"] != id);
        if sales.is_empty() {
            self.rebuild_mismatch_alarm().await?;
        } else {
            self.show_mismatches(sales);
        }
        Ok(())
    }

    /// Rebuilds [`ANSWER_MISMATCH`] from the store (at start, so it survives a restart): every
    /// settled sale whose answer failed a check no operator acknowledged. Answers how many.
    pub(super) async fn rebuild_mismatch_alarm(&self) -> Result<usize, SaleError> {
        if self.status.is_none() {
            return Ok(0);
        }
        let store = self.book.store();
        let mut sales = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let rows = store
                .sales_of(&["settled"], false, None, after.as_deref(), 500)
                .await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.id.clone());
            for row in &rows {
                let Ok(sale) = serde_json::from_str::<Sale>(&row.doc) else {
                    continue;
                };
                if let Some(split) = sale
                    .settlement
                    .as_ref()
                    .filter(|s| s.unacknowledged_mismatch())
                {
                    sales
                        .push(serde_json::json!({ "id": sale.id, "mismatches": split.mismatches }));
                }
            }
        }
        let n = sales.len();
        self.show_mismatches(sales);
        Ok(n)
    }

    /// Shows `sales` (oldest first) as [`ANSWER_MISMATCH`], the last 50 listed; none: cleared.
    fn show_mismatches(&self, sales: Vec<serde_json::Value>) {
        let Some(status) = &self.status else { return };
        if sales.is_empty() {
            status.clear(ANSWER_MISMATCH);
            return;
        }
        let skip = sales.len().saturating_sub(50);
        let sales: Vec<_> = sales.into_iter().skip(skip).collect();
        status.raise(
            ANSWER_MISMATCH,
            format!(
                "{} 笔交易已结算，但平台应答未通过核对（金额或人员不符），请运维人员核实后用 medsettle queue ack 确认。",
                sales.len()
            ),
            format!(
                "{} sale(s) settled with a platform answer that failed a check (amount or person); an operator should verify them, then acknowledge each with `medsettle queue ack ID`.",
                sales.len()
            ),
            serde_json::json!({ "sales": sales }),
        );
    }

    /// 2601 for the sale's request in doubt (`unknown` → `reversing` → `reversed`, or back to
    /// `settled` for a reversed cancellation). Retried under the same msgid until answered.
    pub(super) async fn reverse(&self, sale: &mut Sale) -> Result<(), SaleError> {
        let platform = self.platform()?;
        let attempt = sale.attempt.clone().ok_or(SaleError::WrongState {
            state: sale.state,
            action: "reverse without a recorded request",
        })?;
        let omsgid =
            MsgId::parse(&attempt.msgid).map_err(|e| SaleError::BadRequest(e.to_string()))?;
        let input = ReversalInput::of(&requests::psn_no(sale), omsgid, &attempt.infno).ok_or(
            SaleError::WrongState {
                state: sale.state,
                action: "reverse a request that moves no money",
            },
        )?;
        let options = requests::options(sale, false);
        let prepared = match (&sale.state, &sale.reversal) {
            (SaleState::Reversing, Some(r)) => {
                let msgid =
                    MsgId::parse(&r.msgid).map_err(|e| SaleError::BadRequest(e.to_string()))?;
                let at = chrono::DateTime::from_timestamp_millis(r.at_ms)
                    .unwrap_or_else(|| self.book.now());
                Prepared::resume(&r.infno, msgid, at, &input, &options)
                    .map_err(SaleError::Upstream)?
            }
            (SaleState::Unknown, _) => {
                let p = platform
                    .prepare_input(crate::upstream::tx::reverse::REVERSAL, &input, &options)
                    .await
                    .map_err(SaleError::Upstream)?;
                let r = attempt_of(&p);
                let detail = serde_json::json!({ "msgid": r.msgid, "omsgid": attempt.msgid });
                self.book
                    .transition(sale, SaleEvent::Reverse, detail, None, |s| {
                        s.reversal = Some(r)
                    })
                    .await?;
                p
            }
            (state, _) => {
                return Err(SaleError::WrongState {
                    state: *state,
                    action: "reverse",
                });
            }
        };
        let result = platform.send(&prepared).await;
        let at_ms = self.book.now().timestamp_millis();
        match result {
            Ok(x) => {
                // The platform's answer to the 2601 is the evidence that this msgid can no
                // longer settle (or cancel): kept on the reversed attempt and in the history.
                let proof = reversal_proof(&x, &attempt.msgid, at_ms);
                let detail = serde_json::json!({
                    "omsgid": attempt.msgid,
                    "oinfno": attempt.infno,
                    "evidence": proof,
                });
                let settlement = is_settlement(&attempt.infno);
                // A reversed cancellation: the settlement stands.
                let event = if settlement {
                    SaleEvent::Reversed
                } else {
                    SaleEvent::Restored
                };
                self.book
                    .transition(sale, event, detail, None, |s| {
                        if let Some(mut a) = s.attempt.take() {
                            a.reversed_by = Some(proof.clone());
                            s.reversed_attempts.push(a);
                        }
                        s.reversal = None;
                    })
                    .await
            }
            Err(UpstreamError::Business { infcode, err_msg }) => {
                let e = UpstreamError::Business { infcode, err_msg };
                self.hold(sale, &attempt, &prepared, e, at_ms).await
            }
            Err(e) => {
                // Not answered: the same 2601 again later, each time a little later.
                let f = failure(&e, self.book.now());
                sale.tries = sale.tries.saturating_add(1);
                let next = at_ms + self.backoff_ms(sale.tries);
                self.book
                    .note(sale, "reversal_failed", Some(f), Some(next))
                    .await?;
                Err(SaleError::Upstream(e))
            }
        }
    }

    /// The platform refused the 2601 (`infcode=-1`): the outcome of the original request stays
    /// unknown and repeating the 2601 would get the same answer. The refusal is recorded as
    /// evidence, the sale is `held` (no automatic retry) and the `sale.in_doubt` alarm names it;
    /// an operator resolves it (`medsettle queue resolve`).
    async fn hold(
        &self,
        sale: &mut Sale,
        attempt: &Attempt,
        prepared: &Prepared,
        e: UpstreamError,
        at_ms: i64,
    ) -> Result<(), SaleError> {
        let UpstreamError::Business { infcode, err_msg } = &e else {
            return Err(SaleError::Upstream(e));
        };
        let refusal = Refusal::of(err_msg);
        // The platform's answer as the audit table recorded it (the envelope; a 2601 answer
        // carries no personal data), else what the error kept of it.
        let recorded = self
            .book
            .store()
            .audit(prepared.msgid.as_str())
            .await
            .ok()
            .flatten()
            .and_then(|r| r.response)
            .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok());
        let answer = recorded
            .unwrap_or_else(|| serde_json::json!({ "infcode": infcode, "err_msg": err_msg }));
        let evidence = Evidence {
            source: EvidenceSource::Reversal,
            msgid: Some(prepared.msgid.as_str().to_owned()),
            omsgid: Some(attempt.msgid.clone()),
            infcode: Some(*infcode),
            message: Some(err_msg.clone()),
            refusal: Some(refusal.as_str().to_owned()),
            answer,
            at_ms,
        };
        tracing::error!(sale = %sale.id, omsgid = %attempt.msgid, refusal = refusal.as_str(), "the platform refused the reversal; the sale is held for an operator");
        let f = failure(&e, self.book.now());
        let detail = serde_json::json!({ "error": f, "evidence": evidence });
        self.book
            .transition(sale, SaleEvent::Hold, detail, None, |s| {
                s.evidence.push(evidence.clone());
                s.last_error = Some(f.clone());
            })
            .await?;
        self.doubts.show().await;
        Err(SaleError::Held {
            id: sale.id.clone(),
            refusal: refusal.as_str(),
        })
    }

    /// 2103 for a settled sale (lock held).
    pub(super) async fn cancel_settled(&self, sale: &mut Sale) -> Result<(), SaleError> {
        let platform = self.platform()?;
        let settled = sale.settlement.clone().ok_or(SaleError::WrongState {
            state: sale.state,
            action: "cancel without a settlement",
        })?;
        // A cancellation of this sale was in doubt before (its 2103 was reversed): the
        // settlement's setl_id is known, so 5203 reads its state first. If the platform reports
        // it refunded, the sale is cancelled without another 2103.
        let cancel_infno = match sale.kind {
            SaleKind::Pharmacy => crate::upstream::tx::reverse::PHARMACY_CANCEL,
            SaleKind::Outpatient => crate::upstream::tx::reverse::OUTPATIENT_CANCEL,
        };
        let cancelled_before = sale
            .reversed_attempts
            .iter()
            .any(|a| a.infno == cancel_infno);
        if let (true, Some(setl_id)) = (cancelled_before, settled.setl_id.as_deref()) {
            if let Some(evidence) = self.query_settlement(sale, setl_id).await {
                if refunded(&evidence) {
                    let detail = serde_json::json!({ "evidence": evidence });
                    return self
                        .book
                        .transition(sale, SaleEvent::Refunded, detail, None, |s| {
                            s.evidence.push(evidence.clone());
                        })
                        .await;
                }
            }
        }
        let input = CancelInput {
            data: Cancel {
                setl_id: settled.setl_id.clone().unwrap_or_default(),
                mdtrt_id: settled.mdtrt_id.clone().unwrap_or_default(),
                psn_no: requests::psn_no(sale).into(),
            },
        };
        let prepared = platform
            .prepare_input(cancel_infno, &input, &requests::options(sale, false))
            .await
            .map_err(SaleError::Upstream)?;
        let attempt = attempt_of(&prepared);
        let detail = serde_json::json!({ "msgid": attempt.msgid });
        self.book
            .transition(sale, SaleEvent::Cancel, detail, None, |s| {
                s.attempt = Some(attempt)
            })
            .await?;
        let result = platform
            .send(&prepared)
            .await
            .and_then(|x| cancellation(&x));
        self.apply_cancellation(sale, result).await
    }

    /// Applies a 2103 answer (`cancelling`): cancelled, settled again, or unknown and reversed.
    /// A success (infcode 0) cancels whatever the answer's shape; it is stored as given.
    pub(super) async fn apply_cancellation(
        &self,
        sale: &mut Sale,
        result: Result<Settlement, UpstreamError>,
    ) -> Result<(), SaleError> {
        match result {
            Ok(answer) => {
                let original = sale.settlement.as_ref();
                let (cash_refunded, cash_from) = match answer.cash_refunded() {
                    Some(c) => (Some(c), "answer"),
                    None => (original.and_then(|s| s.cash), "settlement"),
                };
                let record = Cancellation {
                    setl_id: answer.setl_id().map(str::to_owned),
                    original_setl_id: original.and_then(|s| s.setl_id.clone()),
                    cash_refunded,
                    cash_from: cash_from.to_owned(),
                    answer: answer.answer,
                    msgid: sale.attempt.as_ref().map(|a| a.msgid.clone()),
                    day: Some(self.today()),
                };
                let detail = serde_json::json!({
                    "setl_id": record.setl_id,
                    "original_setl_id": record.original_setl_id,
                    "cash_refunded": record.cash_refunded,
                });
                self.book
                    .transition(sale, SaleEvent::Cancelled, detail, None, |x| {
                        x.cancellation = Some(record);
                        // A refunded visit's lines stay on the platform, unsettled.
                        if let Some(b) = x.visit.as_mut().and_then(|v| v.batch.as_mut()) {
                            b.state = BatchState::Uploaded;
                        }
                    })
                    .await
            }
            Err(e) => self.not_applied(sale, e, true).await,
        }
    }

    /// A 2102 or 2103 that did not take effect as asked. A business refusal is recorded
    /// (`clear_refused` drops the refused request from the sale) and returned; a request that
    /// provably never reached the platform (no connection, a local failure before sending, a
    /// gateway refusal) goes back to where it can be tried again under a new msgid, and the
    /// failure is returned; anything else ([`UpstreamError::outcome_unknown`]) proves nothing
    /// — the platform may have acted — so the request is reversed.
    async fn not_applied(
        &self,
        sale: &mut Sale,
        e: UpstreamError,
        clear_refused: bool,
    ) -> Result<(), SaleError> {
        let null = serde_json::Value::Null;
        if matches!(e, UpstreamError::Business { .. }) {
            self.book
                .record_failure(sale, SaleEvent::Refused, &e, null, clear_refused)
                .await?;
            return Err(SaleError::Upstream(e));
        }
        if !e.outcome_unknown() {
            self.unsent(sale, &e).await?;
            return Err(SaleError::Upstream(e));
        }
        self.book
            .record_failure(sale, SaleEvent::Lost, &e, null, false)
            .await?;
        self.reverse(sale).await
    }

    /// A 2102/2103 that never left: `settling` → `confirmed` (online; the cashier retries or
    /// stores it) or `queued` (stored; the forwarder retries after a backoff), `cancelling` →
    /// `settled`. The request is dropped from the sale (its msgid is dead: a retry gets a new
    /// one) and named in the history.
    async fn unsent(&self, sale: &mut Sale, e: &UpstreamError) -> Result<(), SaleError> {
        let (event, next) = match sale.state {
            SaleState::Settling if sale.stored => (
                SaleEvent::Requeue,
                Some(self.book.now().timestamp_millis() + self.backoff_ms(sale.tries)),
            ),
            _ => (SaleEvent::Unsent, None),
        };
        let f = failure(e, self.book.now());
        let detail = serde_json::json!({
            "error": f,
            "msgid": sale.attempt.as_ref().map(|a| &a.msgid),
            "infno": sale.attempt.as_ref().map(|a| &a.infno),
            "never_sent": true,
            "next_attempt_at_ms": next,
        });
        tracing::warn!(sale = %sale.id, error = %e, "the request never reached the platform; it will be tried again under a new msgid");
        self.book
            .transition_due(sale, event, detail, None, next, |s| {
                s.attempt = None;
                s.last_error = Some(f.clone());
            })
            .await
    }

    /// Capped exponential backoff with ±50 % jitter, in ms.
    pub(super) fn backoff_ms(&self, tries: u32) -> i64 {
        backoff(&self.config, tries)
    }
}

/// Capped exponential backoff with ±50 % jitter, in ms: `retry_first_ms × 2^tries`, at most
/// `retry_max_ms` before the jitter.
pub(super) fn backoff(config: &SettleConfig, tries: u32) -> i64 {
    let base = config
        .retry_first_ms
        .saturating_mul(1u64 << tries.min(20))
        .min(config.retry_max_ms);
    let jitter = rand::random_range(0.5..1.5);
    (base as f64 * jitter) as i64
}

fn attempt_of(p: &Prepared) -> Attempt {
    Attempt::new(p.msgid.as_str(), &p.infno, p.at.timestamp_millis())
}

/// The evidence of a 2601 the platform answered `infcode=0` for `omsgid`.
fn reversal_proof(x: &Exchange, omsgid: &str, at_ms: i64) -> Evidence {
    let r = &x.response;
    Evidence {
        source: EvidenceSource::Reversal,
        msgid: Some(x.msgid.as_str().to_owned()),
        omsgid: Some(omsgid.to_owned()),
        infcode: Some(r.infcode),
        message: r.err_msg.clone().filter(|m| !m.is_empty()),
        refusal: None,
        answer: serde_json::json!({
            "infcode": r.infcode,
            "inf_refmsgid": r.inf_refmsgid,
            "refmsg_time": r.refmsg_time,
            "respond_time": r.respond_time,
            "err_msg": r.err_msg,
            "output": r.output,
        }),
        at_ms,
    }
}

/// A 5203 answer says the settlement was refunded (cancelled): `refd_setl_flag` "1" in its
/// `setlinfo` (upstream.md "Settlement query"; a number or a string, surrounding blanks ignored).
pub(super) fn refunded(evidence: &Evidence) -> bool {
    if evidence.source != EvidenceSource::SettlementQuery || evidence.infcode != Some(0) {
        return false;
    }
    let flag = &evidence.answer["output"]["setlinfo"]["refd_setl_flag"];
    match flag {
        serde_json::Value::String(s) => s.trim() == "1",
        serde_json::Value::Number(n) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// A sale settles afresh (a new msgid) only when no earlier settlement request of it can still
/// take effect: a `reversed` sale's last reversed 2102 must carry the proof that it was reversed
/// (the platform answered its 2601 with success, or an operator resolved it as not settled).
/// Upstream.md 冲正 rule 2; the guard against a late original settling the sale twice.
pub(super) fn may_settle_afresh(sale: &Sale) -> Result<(), SaleError> {
    if sale.state != SaleState::Reversed {
        return Ok(());
    }
    let last = sale
        .reversed_attempts
        .iter()
        .rev()
        .find(|a| is_settlement(&a.infno));
    match last {
        Some(a) if a.reversal_proven() => Ok(()),
        Some(a) => Err(SaleError::ReversalUnproven {
            omsgid: a.msgid.clone(),
        }),
        None => Err(SaleError::ReversalUnproven {
            omsgid: String::new(),
        }),
    }
}

/// A settlement request (2102 or 2207), as against a cancellation (2103, 2208).
pub(super) fn is_settlement(infno: &str) -> bool {
    infno == crate::upstream::tx::pharmacy::PHARMACY_SETTLE
        || infno == crate::upstream::tx::outpatient::OUTPATIENT_SETTLE
}

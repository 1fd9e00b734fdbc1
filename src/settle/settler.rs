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
use super::error::SaleError;
use super::options::SettleConfig;
use super::requests;
use super::sale::{Attempt, Cancellation, Person, Sale, Split};
use super::state::{SaleEvent, SaleState};
use crate::status::StatusBoard;
use crate::terminal::TerminalConfig;
use crate::upstream::calls::{cancellation, settlement};
use crate::upstream::client::{CallOptions, Prepared};
use crate::upstream::platform::Platform;
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
    ) -> Settler {
        Settler {
            book,
            platform,
            config,
            terminal,
            status,
        }
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

    /// The CST day now, `yyyy-MM-dd`.
    pub(super) fn today(&self) -> String {
        time::format_date(time::cst_day(self.book.now()))
    }

    /// Settles a sale now (lock held): `confirmed`, `queued` (with person and estimate filled
    /// in by the caller) or `reversed`. Ends `settled`, `rejected`, or — when the outcome is
    /// unknown — `reversed` after an inline 2601 (or `unknown`/`reversing` for the forwarder).
    pub(super) async fn settle_now(&self, sale: &mut Sale) -> Result<(), SaleError> {
        let platform = self.platform()?;
        let event = match sale.state {
            SaleState::Reversed => SaleEvent::Retry,
            _ => SaleEvent::Send,
        };
        // Fail before recording anything when the move is not allowed.
        sale.state.next(event).map_err(|e| SaleError::WrongState {
            state: e.from,
            action: "settle",
        })?;
        let invono = requests::invono(&sale.chrg_bchno);
        let input = requests::pharmacy_input(
            sale,
            Some(&invono),
            &self.config,
            &self.terminal,
            self.book.now(),
        )?;
        let prepared = platform
            .prepare_input(input.infno(), &input, &requests::options(sale, true))
            .await
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

    /// Adds the sale to [`ANSWER_MISMATCH`] (the last 50 sales are listed).
    fn raise_mismatch(&self, id: &str, mismatches: &[crate::upstream::tx::settle::Mismatch]) {
        let Some(status) = &self.status else { return };
        let mut sales: Vec<serde_json::Value> = status
            .snapshot()
            .alarms
            .iter()
            .find(|a| a.code == ANSWER_MISMATCH)
            .and_then(|a| a.details.get("sales").and_then(|s| s.as_array()).cloned())
            .unwrap_or_default();
        sales.retain(|s| s["id"] != id);
        sales.push(serde_json::json!({ "id": id, "mismatches": mismatches }));
        let skip = sales.len().saturating_sub(50);
        let sales: Vec<_> = sales.into_iter().skip(skip).collect();
        status.raise(
            ANSWER_MISMATCH,
            format!(
                "{} 笔交易已结算，但平台应答未通过核对（金额或人员不符），请运维人员核实。",
                sales.len()
            ),
            format!(
                "{} sale(s) settled with a platform answer that failed a check (amount or person); an operator should verify them.",
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
        match platform.send(&prepared).await {
            Ok(_) if attempt.infno == crate::upstream::tx::pharmacy::PHARMACY_SETTLE => {
                let none = serde_json::json!({});
                self.book
                    .transition(sale, SaleEvent::Reversed, none, None, |s| {
                        if let Some(a) = s.attempt.take() {
                            s.reversed_attempts.push(a);
                        }
                        s.reversal = None;
                    })
                    .await
            }
            Ok(_) => {
                // A cancellation was reversed: the settlement stands.
                let none = serde_json::json!({});
                self.book
                    .transition(sale, SaleEvent::Restored, none, None, |s| {
                        s.attempt = None;
                        s.reversal = None;
                    })
                    .await
            }
            Err(e) => {
                let f = failure(&e, self.book.now());
                let next = self.book.now().timestamp_millis() + self.backoff_ms(sale.tries);
                self.book
                    .note(sale, "reversal_failed", Some(f), Some(next))
                    .await?;
                Err(SaleError::Upstream(e))
            }
        }
    }

    /// 2103 for a settled sale (lock held).
    pub(super) async fn cancel_settled(&self, sale: &mut Sale) -> Result<(), SaleError> {
        let platform = self.platform()?;
        let settled = sale.settlement.clone().ok_or(SaleError::WrongState {
            state: sale.state,
            action: "cancel without a settlement",
        })?;
        let input = CancelInput {
            data: Cancel {
                setl_id: settled.setl_id.clone().unwrap_or_default(),
                mdtrt_id: settled.mdtrt_id.clone().unwrap_or_default(),
                psn_no: requests::psn_no(sale).into(),
            },
        };
        let prepared = platform
            .prepare_input(
                crate::upstream::tx::reverse::PHARMACY_CANCEL,
                &input,
                &requests::options(sale, false),
            )
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
                };
                let detail = serde_json::json!({
                    "setl_id": record.setl_id,
                    "original_setl_id": record.original_setl_id,
                    "cash_refunded": record.cash_refunded,
                });
                self.book
                    .transition(sale, SaleEvent::Cancelled, detail, None, |x| {
                        x.cancellation = Some(record);
                    })
                    .await
            }
            Err(e) => self.not_applied(sale, e, true).await,
        }
    }

    /// A 2102 or 2103 that did not take effect as asked. A business refusal is recorded
    /// (`clear_refused` drops the refused request from the sale) and returned; anything else
    /// proves nothing — the platform may have acted — so the request is reversed.
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
        self.book
            .record_failure(sale, SaleEvent::Lost, &e, null, false)
            .await?;
        self.reverse(sale).await
    }

    /// Capped exponential backoff with ±50 % jitter, in ms.
    pub(super) fn backoff_ms(&self, tries: u32) -> i64 {
        let base = self
            .config
            .retry_first_ms
            .saturating_mul(1u64 << tries.min(20))
            .min(self.config.retry_max_ms);
        let jitter = rand::random_range(0.5..1.5);
        (base as f64 * jitter) as i64
    }
}

fn attempt_of(p: &Prepared) -> Attempt {
    Attempt {
        msgid: p.msgid.as_str().to_owned(),
        infno: p.infno.clone(),
        at_ms: p.at.timestamp_millis(),
    }
}

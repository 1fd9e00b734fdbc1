//! The trace reporter: sends the outbox's due reports (3505 after a settlement, 3506 after a
//! refund; `store::trace`), oldest first, and never touches the settlement.
//!
//! Each attempt's msgid is recorded before it leaves, so the resend after a lost answer or a
//! crash goes under the same msgid (a platform that deduplicates by msgid sees one report). An
//! answer `infcode=0` is sent; a refusal is `failed` (the `trace.report_failed` alarm, an
//! operator retries it once the cause is fixed) — except a refusal saying the row is already
//! there after an earlier attempt whose answer was lost, which is sent. No answer, or a
//! passing error, is tried again with capped doubling backoff (`[trace] retry_first_ms`,
//! `retry_max_ms`). A 3506 waits while its line's 3505 is still pending and is cancelled when
//! the platform refused that 3505 (it holds nothing to return).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::book::SaleBook;
use super::error::SaleError;
use super::report::{self, Settled, TraceConfig};
use super::sale::Sale;
use super::settler::Settler;
use crate::store::{TraceChange, TraceReport, TraceState};
use crate::upstream::client::Prepared;
use crate::upstream::{MsgId, UpstreamError};
use medsettle_nhsa::tx::trace::{TRACE_SALE, TraceAnswer, TraceInput};

/// The status board alarm while reports wait for an operator.
pub const ALARM: &str = "trace.report_failed";

/// Reports sent in one pass at most (then the next pass, after a look at `stop`).
const PASS: u32 = 50;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportPass {
    pub sent: u32,
    pub failed: u32,
    pub later: u32,
    pub cancelled: u32,
}

pub(super) struct Reporter {
    book: Arc<SaleBook>,
    settler: Arc<Settler>,
    config: TraceConfig,
    status: Option<Arc<crate::status::StatusBoard>>,
}

/// How one report ended this time.
enum Outcome {
    Sent,
    Failed,
    Later,
    Cancelled,
}

impl Reporter {
    pub(super) fn new(
        book: Arc<SaleBook>,
        settler: Arc<Settler>,
        config: TraceConfig,
        status: Option<Arc<crate::status::StatusBoard>>,
    ) -> Reporter {
        Reporter {
            book,
            settler,
            config,
            status,
        }
    }

    /// Runs passes until `stop`: after each, waits for a write that may have added a report,
    /// the next report falling due, or a minute.
    pub(super) async fn run(&self, stop: CancellationToken) {
        if !self.config.report {
            tracing::warn!("[trace] report = false: trace reports wait in the outbox");
            return;
        }
        // Reports an earlier run left refused keep their alarm.
        self.show().await;
        loop {
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %e, "trace report pass failed");
            }
            let now = self.book.now().timestamp_millis();
            let wait_ms = match self.book.store().trace_next_due().await {
                Ok(Some(at)) => (at - now).clamp(0, 60_000),
                _ => 60_000,
            };
            let wait = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0));
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.book.store().trace_wake() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One pass over the due reports, oldest first.
    pub(super) async fn pass(&self) -> Result<ReportPass, SaleError> {
        let mut done = ReportPass::default();
        if self.settler.platform_if_any().is_none() {
            return Ok(done);
        }
        let now = self.book.now().timestamp_millis();
        for row in self.book.store().trace_due(now, PASS).await? {
            let outcome = match self.one(&row).await {
                Ok(o) => o,
                Err(e) => {
                    // This row cannot be worked on now (its sale unreadable, the store
                    // busy): later, without holding up the rows behind it.
                    tracing::warn!(report = row.id, sale = %row.sale_id, error = %e, "trace report postponed");
                    let later = TraceChange::Later {
                        next_at_ms: now + self.config.backoff_ms(row.tries),
                        error: e.to_string(),
                    };
                    self.book.store().trace_update(row.id, later, now).await?;
                    Outcome::Later
                }
            };
            let (state, count) = match outcome {
                Outcome::Sent => ("sent", &mut done.sent),
                Outcome::Failed => ("failed", &mut done.failed),
                Outcome::Later => ("pending", &mut done.later),
                Outcome::Cancelled => ("cancelled", &mut done.cancelled),
            };
            *count += 1;
            // The alarm follows before anyone hears of the outcome.
            if matches!(state, "sent" | "failed") {
                self.show().await;
            }
            self.book.events().publish(
                "trace.report",
                serde_json::json!({ "report": row.id, "sale_id": row.sale_id, "line": row.line,
                                     "infno": row.infno, "state": state,
                                     "tries": row.tries + u32::from(state != "cancelled") }),
            );
        }
        Ok(done)
    }

    /// Raises the alarm while reports are failed, clears it otherwise.
    pub(super) async fn show(&self) {
        let Some(status) = &self.status else {
            return;
        };
        match self.book.store().trace_stats().await {
            Ok(s) if s.failed > 0 => status.raise(
                ALARM,
                format!(
                    "{} 条药品追溯码上报被医保平台拒绝，请核对后重试（medsettle trace ls --state failed）",
                    s.failed
                ),
                format!(
                    "{} drug trace report(s) refused by the platform: check and retry them \
                     (medsettle trace ls --state failed)",
                    s.failed
                ),
                serde_json::json!({ "failed": s.failed, "pending": s.pending }),
            ),
            Ok(_) => {
                status.clear(ALARM);
            }
            Err(e) => tracing::warn!(error = %e, "trace report stats unavailable"),
        }
    }

    async fn one(&self, row: &TraceReport) -> Result<Outcome, SaleError> {
        let store = self.book.store();
        let now = self.book.now().timestamp_millis();
        if row.infno != TRACE_SALE {
            // A return waits for its sale; the platform refused the sale: nothing to return.
            let sale_row = store
                .trace_list(vec![], Some(row.sale_id.clone()), 10_000)
                .await?
                .into_iter()
                .find(|r| r.line == row.line && r.infno == TRACE_SALE);
            if let Some(s) =
                sale_row.filter(|s| matches!(s.state, TraceState::Failed | TraceState::Cancelled))
            {
                let answer = format!("its 3505 (report {}) was never taken by the platform", s.id);
                store
                    .trace_update(row.id, TraceChange::Cancel { answer }, now)
                    .await?;
                return Ok(Outcome::Cancelled);
            }
        }
        let sale = self.book.get(&row.sale_id).await?;
        let input = match self.input(&sale, row) {
            Ok(i) => i,
            Err(problem) => {
                tracing::warn!(report = row.id, sale = %row.sale_id, %problem, "trace report cannot be made");
                store
                    .trace_update(row.id, TraceChange::Failed { answer: problem }, now)
                    .await?;
                return Ok(Outcome::Failed);
            }
        };
        let platform = self.settler.platform()?;
        let options = super::requests::options(&sale, false);
        let prepared = match (&row.msgid, row.msg_at_ms) {
            (Some(msgid), Some(at_ms)) => {
                let msgid =
                    MsgId::parse(msgid).map_err(|e| SaleError::BadRequest(e.to_string()))?;
                let at = chrono::DateTime::from_timestamp_millis(at_ms)
                    .unwrap_or_else(|| self.book.now());
                Prepared::resume(&row.infno, msgid, at, &input, &options)
                    .map_err(SaleError::Upstream)?
            }
            _ => {
                let p = match platform.prepare_input(&row.infno, &input, &options).await {
                    Ok(p) => p,
                    Err(e) => return self.later(row, &e).await,
                };
                let attempt = TraceChange::Attempt {
                    msgid: p.msgid.as_str().to_owned(),
                    msg_at_ms: p.at.timestamp_millis(),
                };
                if !store.trace_update(row.id, attempt, now).await? {
                    // Cancelled meanwhile (the sale was refunded before anything left).
                    return Ok(Outcome::Cancelled);
                }
                p
            }
        };
        let answer = platform.send(&prepared).await;
        let now = self.book.now().timestamp_millis();
        match answer {
            Ok(x) => {
                let said = TraceAnswer::from_output(&x.response.output);
                let answer = said.msg_rslt.filter(|m| !m.is_empty());
                store
                    .trace_update(row.id, TraceChange::Sent { answer }, now)
                    .await?;
                tracing::info!(report = row.id, sale = %row.sale_id, infno = %row.infno, "trace report sent");
                Ok(Outcome::Sent)
            }
            Err(UpstreamError::Business { err_msg, .. })
                if row.tries > 0 && already_there(&err_msg) =>
            {
                let answer = Some(format!("already there: {err_msg}"));
                store
                    .trace_update(row.id, TraceChange::Sent { answer }, now)
                    .await?;
                Ok(Outcome::Sent)
            }
            Err(UpstreamError::Business { err_msg, .. }) => {
                tracing::warn!(report = row.id, sale = %row.sale_id, infno = %row.infno, "trace report refused");
                let failed = TraceChange::Failed {
                    answer: err_msg.clone(),
                };
                store.trace_update(row.id, failed, now).await?;
                Ok(Outcome::Failed)
            }
            Err(e) => self.later(row, &e).await,
        }
    }

    /// No answer (or a passing error): the next attempt after the backoff, same msgid.
    async fn later(&self, row: &TraceReport, e: &UpstreamError) -> Result<Outcome, SaleError> {
        let now = self.book.now().timestamp_millis();
        let next_at_ms = now + self.config.backoff_ms(row.tries);
        let later = TraceChange::Later {
            next_at_ms,
            error: e.to_string(),
        };
        self.book.store().trace_update(row.id, later, now).await?;
        Ok(Outcome::Later)
    }

    /// The request of report `row` of `sale`, or why it cannot be made.
    fn input(&self, sale: &Sale, row: &TraceReport) -> Result<TraceInput, String> {
        let settlement = sale
            .settlement
            .as_ref()
            .ok_or("the sale has no settlement")?;
        let setl_id = settlement.setl_id.clone().unwrap_or_default();
        let mdtrt_id = settlement
            .mdtrt_id
            .clone()
            .or_else(|| sale.visit.as_ref().and_then(|v| v.mdtrt_id.clone()))
            .unwrap_or_default();
        let time = if row.infno == TRACE_SALE {
            settlement
                .answer
                .get("setl_time")
                .and_then(|t| t.as_str())
                .filter(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").is_ok())
                .map_or_else(|| cst(row.created_at_ms), str::to_owned)
        } else {
            cst(row.created_at_ms)
        };
        let settled = Settled {
            setl_id,
            mdtrt_id,
            time,
        };
        let who = sale
            .dispensing
            .clone()
            .unwrap_or_default()
            .merged(&self.config);
        let line = usize::try_from(row.line).unwrap_or(usize::MAX);
        let selinfo = report::row(sale, line, &who, &self.config, &settled)
            .ok_or_else(|| format!("line {} of the sale has no trace codes", row.line))?;
        selinfo.check().map_err(|e| e.to_string())?;
        Ok(TraceInput { selinfo })
    }
}

/// `yyyy-MM-dd HH:mm:ss` in CST of a unix-ms time.
fn cst(at_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at_ms)
        .unwrap_or_default()
        .with_timezone(&crate::upstream::time::cst())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A refusal that says the row is already on the platform (after an earlier attempt whose
/// answer was lost): the public clients show these words; the contract names none.
fn already_there(message: &str) -> bool {
    [
        "重复",
        "已上传",
        "已存在",
        "已经上传",
        "duplicate",
        "already",
    ]
    .iter()
    .any(|w| message.to_lowercase().contains(w))
}

#[cfg(test)]
mod tests {
    use super::already_there;

    #[test]
    fn only_a_duplicate_refusal_counts_as_already_there() {
        assert!(already_there("该追溯码销售信息已上传"));
        assert!(already_there("数据重复"));
        assert!(already_there("Duplicate record"));
        assert!(!already_there("药师执业资格证号不能为空"));
    }
}

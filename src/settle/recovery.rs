//! Crash recovery, once at start and before the forwarder: every sale a crash left in
//! `settling` or `cancelling` is finished from the answer the audit table recorded, or — when
//! no answer was recorded — declared `unknown` (the forwarder then reverses it with 2601).
//! While the daemon runs the forwarder applies the same step ([`Recovery::one`]) to a sale in
//! flight whose lock is free (its operation was cut off).
//!
//! It sends nothing itself and never guesses an outcome: only a recorded `ok` or `business`
//! answer finishes a sale, and only a request recorded as never sent (outcome `unsent`: no
//! connection, a local failure before sending, a gateway's refusal; or an older row holding a
//! gateway's 4xx without an envelope) puts it back to be tried again under a new msgid.

use std::sync::Arc;

use super::book::SaleBook;
use super::error::SaleError;
use super::sale::Sale;
use super::settler::Settler;
use super::state::{SaleEvent, SaleState};
use crate::store::AuditOutcome;
use crate::upstream::UpstreamError;
use crate::upstream::tx::settle::Settlement;

/// Crash recovery over the sale book and the settler.
pub(super) struct Recovery {
    book: Arc<SaleBook>,
    settler: Arc<Settler>,
}

impl Recovery {
    pub(super) fn new(book: Arc<SaleBook>, settler: Arc<Settler>) -> Recovery {
        Recovery { book, settler }
    }

    /// Resolves every `settling`/`cancelling` sale; returns how many there were.
    pub(super) async fn run(&self) -> Result<u32, SaleError> {
        let rows = self
            .book
            .store()
            .sales_in(&["settling", "cancelling"], false, None, 10_000)
            .await?;
        let mut n = 0;
        for row in rows {
            let _guard = self.book.lock(&row.id).await;
            let mut sale = self.book.get(&row.id).await?;
            if let Err(e) = self.one(&mut sale).await {
                tracing::warn!(sale = %sale.id, error = %e, "recovery left the sale in doubt");
            }
            n += 1;
        }
        Ok(n)
    }

    /// One sale left in flight (lock held): at start, and by the forwarder for a sale whose
    /// operation was cut off while the daemon runs.
    pub(super) async fn one(&self, sale: &mut Sale) -> Result<(), SaleError> {
        let Some(attempt) = sale.attempt.clone() else {
            return Ok(());
        };
        let row = self.book.store().audit(&attempt.msgid).await?;
        let answer = row.as_ref().and_then(|r| {
            let outcome = r.outcome.as_deref()?;
            let body = r.response.as_deref()?;
            Some((
                outcome.to_owned(),
                r.http_status.unwrap_or(200),
                body.to_owned(),
            ))
        });
        let unsent = row.as_ref().and_then(|r| r.outcome.as_deref())
            == Some(outcome_str(AuditOutcome::Unsent));
        let classified = match answer {
            // Recorded as never sent (no connection, a local failure before sending, a
            // gateway's refusal): the same never-sent path as when the settler saw it.
            _ if unsent => Err(recorded_unsent(row.as_ref())),
            // A recorded answer is read again as the client read it; a `protocol` row may be a
            // gateway's 4xx, which never reached the platform.
            Some((outcome, status, body))
                if outcome == outcome_str(AuditOutcome::Ok)
                    || outcome == outcome_str(AuditOutcome::Business)
                    || outcome == outcome_str(AuditOutcome::Protocol) =>
            {
                crate::upstream::classify(status, body.as_bytes())
            }
            _ => Err(UpstreamError::OutcomeUnknown {
                cause: crate::upstream::UnknownCause::Interrupted(
                    "the daemon stopped before the answer was recorded".into(),
                ),
            }),
        };
        tracing::warn!(sale = %sale.id, state = %sale.state, msgid = %attempt.msgid, "recovering a sale left in flight");
        let checked = match sale.state {
            SaleState::Settling => classified.and_then(|r| {
                let s: Settlement = r.output_as()?;
                s.check()?;
                Ok(s)
            }),
            // A cancellation answer is informational: infcode 0 cancelled, whatever its shape.
            SaleState::Cancelling => classified.and_then(|r| r.output_as::<Settlement>()),
            _ => return Ok(()),
        };
        match checked {
            Ok(_) | Err(UpstreamError::Business { .. }) if sale.state == SaleState::Settling => {
                self.settler.apply_settlement(sale, checked).await
            }
            Ok(_) | Err(UpstreamError::Business { .. }) => {
                self.settler.apply_cancellation(sale, checked).await
            }
            // The request provably never reached the platform (a gateway refused it): the
            // settler puts the sale back where it can be tried again under a new msgid.
            Err(e) if !e.outcome_unknown() && sale.state == SaleState::Settling => {
                let result = self.settler.apply_settlement(sale, Err(e)).await;
                never_sent(result)
            }
            Err(e) if !e.outcome_unknown() => {
                let result = self.settler.apply_cancellation(sale, Err(e)).await;
                never_sent(result)
            }
            Err(e) => {
                // Not proven either way: `unknown`; the forwarder reverses it.
                let recovered = serde_json::json!({ "recovered": true });
                self.book
                    .record_failure(sale, SaleEvent::Lost, &e, recovered, false)
                    .await
            }
        }
    }
}

/// The settler answers a never-sent request with its failure after moving the sale back: for
/// recovery that is the sale resolved.
fn never_sent(result: Result<(), SaleError>) -> Result<(), SaleError> {
    match result {
        Err(SaleError::Upstream(e)) if !e.outcome_unknown() => Ok(()),
        other => other,
    }
}

fn outcome_str(o: AuditOutcome) -> &'static str {
    match o {
        AuditOutcome::Ok => "ok",
        AuditOutcome::Business => "business",
        AuditOutcome::Unknown => "unknown",
        AuditOutcome::Protocol => "protocol",
        AuditOutcome::Unsent => "unsent",
    }
}

/// The never-sent failure an `unsent` audit row records: the gateway's refusal read again
/// when its answer was kept, else a failure before sending. Never an unknown outcome.
fn recorded_unsent(row: Option<&crate::store::AuditRow>) -> UpstreamError {
    let kept = row.and_then(|r| Some((r.http_status?, r.response.as_deref()?)));
    if let Some((status, body)) = kept {
        if let Err(e) = crate::upstream::classify(status, body.as_bytes()) {
            if !e.outcome_unknown() && !matches!(e, UpstreamError::Business { .. }) {
                return e;
            }
        }
    }
    UpstreamError::NotSent {
        detail: "the audit table records that the request never reached the platform".into(),
    }
}

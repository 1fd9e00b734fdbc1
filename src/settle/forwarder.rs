//! The forwarder: settles stored sales when the platform is reachable, and drives every sale in
//! doubt (`unknown`, `reversing`, and `reversed` stored sales) to an end. Oldest first; one
//! attempt per sale at a time (the sale book's per-sale lock); capped exponential backoff with
//! jitter per sale and for the link; new sales keep flowing meanwhile because each step holds
//! only its own sale. A stored sale past its maximum age is not sent but moved to `expired`.
//!
//! It decides when to try, never what an answer means (the settler does), and it sends no
//! request for a sale another operation holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::book::{SaleBook, failure};
use super::error::SaleError;
use super::options::SettleConfig;
use super::sale::Sale;
use super::settler::Settler;
use super::state::{SaleEvent, SaleState};
use crate::status::StatusBoard;

/// States the forwarder works on.
const WORK: [SaleState; 4] = [
    SaleState::Queued,
    SaleState::Unknown,
    SaleState::Reversing,
    SaleState::Reversed,
];

/// The alarm shown while stored sales wait for an operator (rejected or expired).
pub const ATTENTION: &str = "queue.attention";

/// How often the queue is looked at when nothing wakes the forwarder.
const IDLE_CHECK: Duration = Duration::from_secs(15);
/// Sales looked at per pass.
const BATCH: u32 = 64;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Sales moved on.
    pub progressed: u32,
    /// The platform could not be reached (the pass stopped early).
    pub link_down: bool,
    /// Sales due later.
    pub waiting: u32,
}

/// The forwarder. One per engine.
pub(super) struct Forwarder {
    book: Arc<SaleBook>,
    settler: Arc<Settler>,
    config: SettleConfig,
    /// Wakes the forwarder (a sale was stored, an operator asked for a flush).
    wake: Notify,
    /// An operator asked for a flush: the next pass ignores per-sale backoff.
    flush_requested: AtomicBool,
    /// Where stored sales that need an operator are shown as an alarm.
    status: Option<Arc<StatusBoard>>,
}

impl Forwarder {
    pub(super) fn new(
        book: Arc<SaleBook>,
        settler: Arc<Settler>,
        config: SettleConfig,
        status: Option<Arc<StatusBoard>>,
    ) -> Forwarder {
        Forwarder {
            book,
            settler,
            config,
            wake: Notify::new(),
            flush_requested: AtomicBool::new(false),
            status,
        }
    }

    /// An operator's flush: the next pass tries every waiting sale now, backoff or not.
    pub(super) fn flush(&self) {
        self.flush_requested.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Asks the forwarder to look at the queue now.
    pub(super) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs the forwarder until `stop`.
    pub(super) async fn run(&self, stop: CancellationToken) {
        let mut link_backoff = 0u32;
        loop {
            let pass = tokio::select! {
                () = stop.cancelled() => return,
                p = self.pass() => p,
            };
            let wait = match pass {
                Ok(p) if p.link_down => {
                    link_backoff = link_backoff.saturating_add(1);
                    Duration::from_millis(self.settler.backoff_ms(link_backoff) as u64)
                }
                Ok(p) if p.progressed > 0 => {
                    link_backoff = 0;
                    continue;
                }
                Ok(p) => {
                    link_backoff = 0;
                    if p.waiting > 0 {
                        Duration::from_millis(self.config.retry_first_ms)
                    } else {
                        IDLE_CHECK
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "forwarder pass failed");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One pass over the due sales, oldest first.
    pub(super) async fn pass(&self) -> Result<Pass, SaleError> {
        let states: Vec<&str> = WORK.iter().map(|s| s.as_str()).collect();
        let rows = self
            .book
            .store()
            .sales_in(&states, false, None, BATCH)
            .await?;
        let now_ms = self.book.now().timestamp_millis();
        let max_age_ms = i64::from(self.config.offline_max_age_hours) * 3_600_000;
        let mut pass = Pass::default();
        let flush = self.flush_requested.swap(false, Ordering::SeqCst);
        for row in rows {
            // A reversed online sale waits for its cashier; only stored ones retry by themselves.
            if row.state == SaleState::Reversed.as_str() && !row.stored {
                continue;
            }
            if !flush && row.next_attempt_at_ms.is_some_and(|t| t > now_ms) {
                pass.waiting += 1;
                continue;
            }
            let Some(_guard) = self.book.try_lock(&row.id) else {
                continue;
            };
            let mut sale = self.book.get(&row.id).await?;
            if sale.state == SaleState::Queued
                && !sale.age_waived
                && now_ms - sale.created_at_ms > max_age_ms
            {
                self.book
                    .transition(
                        &mut sale,
                        SaleEvent::Expire,
                        serde_json::json!({ "max_age_hours": self.config.offline_max_age_hours }),
                        None,
                        |_| {},
                    )
                    .await?;
                self.show_attention().await;
                pass.progressed += 1;
                continue;
            }
            let step = self.forward_one(&mut sale).await;
            // Put back to wait (a request that never left, a 2601 not answered): due again
            // after its own short backoff, so the next pass comes soon, not after IDLE_CHECK.
            if step.is_err() && WORK.contains(&sale.state) {
                pass.waiting += 1;
            }
            if matches!(sale.state, SaleState::Rejected | SaleState::Expired) {
                self.show_attention().await;
            }
            match step {
                Ok(()) => pass.progressed += 1,
                Err(SaleError::Offline { .. }) => {
                    pass.link_down = true;
                    break;
                }
                Err(SaleError::Upstream(e))
                    if !matches!(e, crate::upstream::UpstreamError::Business { .. }) =>
                {
                    // The sale carries its own backoff (set where it failed).
                    if e.is_retryable() {
                        pass.link_down = true;
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(sale = %sale.id, error = %e, "forwarding step failed");
                }
            }
        }
        Ok(pass)
    }

    /// Raises [`ATTENTION`] while stored sales are rejected or expired, clears it otherwise.
    pub(super) async fn show_attention(&self) {
        let Some(status) = &self.status else { return };
        let Ok(rows) = self
            .book
            .store()
            .sales_in(&["rejected", "expired"], true, None, 1_000)
            .await
        else {
            return;
        };
        if rows.is_empty() {
            status.clear(ATTENTION);
            return;
        }
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        status.raise(
            ATTENTION,
            format!(
                "有 {} 笔脱机交易被拒绝或已过期，需运维人员处理（medsettle queue ls）。",
                rows.len()
            ),
            format!(
                "{} stored sale(s) were refused or expired and need an operator (medsettle queue ls).",
                rows.len()
            ),
            serde_json::json!({ "sales": ids }),
        );
    }

    /// One step for one sale (lock held).
    async fn forward_one(&self, sale: &mut Sale) -> Result<(), SaleError> {
        match sale.state {
            SaleState::Queued => {
                let client = self.settler.platform()?;
                // 1101 and 2101 move no money: repeating them after a crash is harmless, so
                // they are folded into the `send` transition rather than recorded apart.
                if sale.person.is_none() {
                    match self.settler.identify(client.as_ref(), sale).await {
                        Ok(p) => sale.person = Some(p),
                        Err(e) => return self.step_failed(sale, e).await,
                    }
                }
                match self.settler.estimate(client.as_ref(), sale).await {
                    Ok(split) => sale.estimate = Some(split),
                    Err(e) => return self.step_failed(sale, e).await,
                }
                self.settler.settle_now(sale).await.or_else(ignore_business)
            }
            SaleState::Reversed => self.settler.settle_now(sale).await.or_else(ignore_business),
            SaleState::Unknown | SaleState::Reversing => self.settler.reverse(sale).await,
            _ => Ok(()),
        }
    }

    /// A 1101/2101 failure of a stored sale: a refusal rejects it (an operator decides), a
    /// link failure schedules the next attempt.
    async fn step_failed(
        &self,
        sale: &mut Sale,
        e: crate::upstream::UpstreamError,
    ) -> Result<(), SaleError> {
        if matches!(e, crate::upstream::UpstreamError::Business { .. }) {
            let f = failure(&e, self.book.now());
            self.book
                .transition(
                    sale,
                    SaleEvent::Refused,
                    serde_json::json!({ "error": f }),
                    None,
                    |s| {
                        s.last_error = Some(f.clone());
                    },
                )
                .await?;
            return Ok(());
        }
        let next = self.book.now().timestamp_millis() + self.settler.backoff_ms(sale.tries);
        let f = failure(&e, self.book.now());
        // The person/estimate filled in memory are not kept: the note writes the stored doc.
        let mut stored = self.book.get(&sale.id).await?;
        stored.tries += 1;
        self.book
            .note(&mut stored, "attempt_failed", Some(f), Some(next))
            .await?;
        *sale = stored;
        Err(SaleError::Offline {
            can_store: true,
            cause: crate::error::UserFacing::code(&e).to_owned(),
        })
    }
}

/// A refusal already moved the sale to `rejected`: for the forwarder that is progress.
fn ignore_business(e: SaleError) -> Result<(), SaleError> {
    match e {
        SaleError::Upstream(crate::upstream::UpstreamError::Business { .. }) => Ok(()),
        other => Err(other),
    }
}

//! The forwarder: settles stored sales when the platform is reachable, and drives every sale in
//! doubt (`unknown`, `reversing`, `reversed` stored sales, and `settling`/`cancelling` sales
//! whose operation was cut off) to an end. Due work is selected in SQL, oldest first, paged by
//! a keyset cursor; several sales at once (`settle.forward_concurrency`), one attempt per sale
//! at a time (the sale book's per-sale lock), its steps in order; capped exponential backoff
//! with jitter per sale, and for the link the whole pass backs off together. A stored sale past
//! its maximum age is not sent but moved to `expired`; housekeeping abandons online sales left
//! unattended (`settle.unattended_sale_minutes`).
//!
//! It decides when to try, never what an answer means (the settler does), and it sends no
//! request for a sale another operation holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::book::{SaleBook, failure};
use super::error::SaleError;
use super::options::SettleConfig;
use super::recovery::Recovery;
use super::sale::Sale;
use super::settler::Settler;
use super::state::{SaleEvent, SaleState};
use crate::status::StatusBoard;

/// States the forwarder works on. `settling`/`cancelling` only when their operation was cut
/// off: every money operation holds its sale's lock from its first transition to its last, so
/// such a sale whose lock is free is stranded, and is recovered from the audit table.
const WORK: [SaleState; 9] = [
    SaleState::Queued,
    SaleState::Unknown,
    SaleState::Reversing,
    SaleState::Reversed,
    SaleState::Settling,
    SaleState::Cancelling,
    SaleState::Registering,
    SaleState::Undoing,
    SaleState::Closing,
];

/// Online sales abandoned once left unattended longer than `settle.unattended_sale_minutes`:
/// nothing was sent for them (a `confirmed` sale is moved to `settling` before its 2102 leaves)
/// or what was sent is reversed. Stored sales never are: the forwarder keeps them.
const UNATTENDED: [SaleState; 5] = [
    SaleState::Captured,
    SaleState::Identified,
    SaleState::Presettled,
    SaleState::Confirmed,
    SaleState::Reversed,
];

/// States only a visit is left in unattended (a rejected visit may hold a registration and
/// fee lines: they are undone).
const UNATTENDED_VISITS: [SaleState; 3] = [
    SaleState::Registered,
    SaleState::Uploaded,
    SaleState::Rejected,
];

/// The alarm shown while stored sales wait for an operator (rejected or expired).
/// The visits' work the forwarder drives on (the clinic does it): a registration whose answer
/// was lost, an undo chain, the abandonment of a visit left unattended. A trait, so the
/// forwarder needs nothing of the clinic's own parts.
pub(super) trait VisitWork: Send + Sync {
    fn recover_registration<'a>(
        &'a self,
        sale: &'a mut Sale,
    ) -> futures_util::future::BoxFuture<'a, Result<(), SaleError>>;
    fn unwind<'a>(
        &'a self,
        sale: &'a mut Sale,
    ) -> futures_util::future::BoxFuture<'a, Result<(), SaleError>>;
    fn abandon<'a>(
        &'a self,
        sale: &'a mut Sale,
        detail: serde_json::Value,
    ) -> futures_util::future::BoxFuture<'a, Result<(), SaleError>>;
}

pub const ATTENTION: &str = "queue.attention";

/// How often the queue is looked at when nothing wakes the forwarder.
const IDLE_CHECK: Duration = Duration::from_secs(15);
/// Sales read per page of a pass (a pass pages through everything due).
const PAGE: u32 = 64;
/// Unattended sales abandoned per pass.
const UNATTENDED_BATCH: u32 = 100;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Sales moved on.
    pub progressed: u32,
    /// The platform could not be reached (the pass stopped early).
    pub link_down: bool,
    /// Sales due later.
    pub waiting: u32,
    /// When the earliest of them is due (ms since the epoch).
    pub next_due_at_ms: Option<i64>,
}

/// The forwarder. One per engine.
pub(super) struct Forwarder {
    book: Arc<SaleBook>,
    settler: Arc<Settler>,
    /// Finishes a sale whose money operation was cut off (the audit table's answer).
    recovery: Recovery,
    config: SettleConfig,
    /// Wakes the forwarder (a sale was stored, an operator asked for a flush).
    wake: Notify,
    /// An operator asked for a flush: the next pass ignores per-sale backoff.
    flush_requested: AtomicBool,
    /// Where stored sales that need an operator are shown as an alarm.
    status: Option<Arc<StatusBoard>>,
    /// The visits' undo chains and lost registrations (set once the clinic exists).
    clinic: std::sync::OnceLock<Arc<dyn VisitWork>>,
}

impl Forwarder {
    pub(super) fn new(
        book: Arc<SaleBook>,
        settler: Arc<Settler>,
        config: SettleConfig,
        status: Option<Arc<StatusBoard>>,
    ) -> Forwarder {
        Forwarder {
            recovery: Recovery::new(Arc::clone(&book), Arc::clone(&settler)),
            book,
            settler,
            config,
            wake: Notify::new(),
            flush_requested: AtomicBool::new(false),
            status,
            clinic: std::sync::OnceLock::new(),
        }
    }

    /// The clinic whose visits the forwarder drives on (undo chains, lost registrations).
    pub(super) fn set_clinic(&self, clinic: Arc<dyn VisitWork>) {
        let _ = self.clinic.set(clinic);
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
    pub(super) async fn run(self: &Arc<Self>, stop: CancellationToken) {
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
                    // Until the earliest sale in backoff is due (at least `retry_first_ms`),
                    // at most the idle check.
                    let now_ms = self.book.now().timestamp_millis();
                    let due_in = p
                        .next_due_at_ms
                        .filter(|_| p.waiting > 0)
                        .map(|t| u64::try_from(t - now_ms).unwrap_or(0));
                    match due_in {
                        Some(ms) => Duration::from_millis(ms.max(self.config.retry_first_ms))
                            .min(IDLE_CHECK),
                        None => IDLE_CHECK,
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

    /// One pass over the due sales, oldest first, up to `settle.forward_concurrency` sales at
    /// once (each under its own lock, its steps in order), then housekeeping. Due work is
    /// selected in SQL page by page, so sales in backoff never hide a due one. When a step
    /// finds the platform unreachable or overloaded (429, 5xx) no further sale is started:
    /// the whole pass backs off together.
    pub(super) async fn pass(self: &Arc<Self>) -> Result<Pass, SaleError> {
        let now_ms = self.book.now().timestamp_millis();
        let flush = self.flush_requested.swap(false, Ordering::SeqCst);
        let due_at = (!flush).then_some(now_ms);
        let width = self.config.forward_concurrency.max(1) as usize;
        let states: Vec<&str> = WORK.iter().map(|s| s.as_str()).collect();
        let mut pass = Pass::default();
        let mut running: JoinSet<Result<bool, SaleError>> = JoinSet::new();
        let mut cursor: Option<(i64, String)> = None;
        'pages: loop {
            let rows = self
                .book
                .store()
                .sales_due(&states, due_at, cursor.take(), PAGE)
                .await?;
            let full = rows.len() == PAGE as usize;
            cursor = rows.last().map(|r| (r.created_at_ms, r.id.clone()));
            for row in rows {
                while running.len() >= width {
                    self.absorb(running.join_next().await, &mut pass);
                }
                if pass.link_down {
                    break 'pages;
                }
                // Held by an operation in progress: that operation finishes it.
                let Some(guard) = self.book.try_lock(&row.id) else {
                    continue;
                };
                let me = Arc::clone(self);
                running.spawn(async move {
                    let _guard = guard;
                    me.step(&row.id, now_ms).await
                });
            }
            if !full {
                break;
            }
        }
        while !running.is_empty() {
            self.absorb(running.join_next().await, &mut pass);
        }
        pass.progressed += self.abandon_unattended(now_ms).await?;
        let (waiting, next_due) = self
            .book
            .store()
            .sales_waiting(&states, self.book.now().timestamp_millis())
            .await?;
        pass.waiting = u32::try_from(waiting).unwrap_or(u32::MAX);
        pass.next_due_at_ms = next_due;
        Ok(pass)
    }

    /// Counts one finished step into the pass.
    fn absorb(
        &self,
        joined: Option<Result<Result<bool, SaleError>, tokio::task::JoinError>>,
        pass: &mut Pass,
    ) {
        match joined {
            None | Some(Ok(Ok(false))) => {}
            Some(Ok(Ok(true))) => pass.progressed += 1,
            Some(Ok(Err(SaleError::Offline { .. }))) => pass.link_down = true,
            Some(Ok(Err(SaleError::Upstream(e)))) if link_trouble(&e) => pass.link_down = true,
            // The sale carries its own backoff (set where it failed).
            Some(Ok(Err(SaleError::Upstream(_)))) => {}
            Some(Ok(Err(e))) => tracing::warn!(error = %e, "forwarding step failed"),
            Some(Err(e)) => tracing::error!(error = %e, "a forwarding step ended abnormally"),
        }
    }

    /// One sale's step (its lock held by the caller): re-read under the lock, then expire,
    /// recover, settle or reverse it. `Ok(true)` when the sale moved on.
    async fn step(&self, id: &str, now_ms: i64) -> Result<bool, SaleError> {
        let mut sale = self.book.get(id).await?;
        let max_age_ms = i64::from(self.config.offline_max_age_hours) * 3_600_000;
        let step = match sale.state {
            SaleState::Queued if !sale.age_waived && now_ms - sale.created_at_ms > max_age_ms => {
                self.book
                    .transition(
                        &mut sale,
                        SaleEvent::Expire,
                        serde_json::json!({ "max_age_hours": self.config.offline_max_age_hours }),
                        None,
                        |_| {},
                    )
                    .await
            }
            // The lock is free and the sale is still in flight: its operation was cut off
            // (a panic, or the daemon's own recovery found it busy). Finish it as recovery
            // at start does: the recorded answer, else unknown → 2601.
            SaleState::Settling | SaleState::Cancelling => {
                tracing::warn!(sale = %sale.id, state = %sale.state, "recovering a stranded sale");
                self.recovery.one(&mut sale).await
            }
            SaleState::Registering | SaleState::Undoing | SaleState::Closing => {
                let Some(clinic) = self.clinic.get() else {
                    return Ok(false);
                };
                let before = sale.state;
                let r = if before == SaleState::Registering {
                    clinic.recover_registration(&mut sale).await
                } else {
                    clinic.unwind(&mut sale).await
                };
                return r.map(|()| sale.state != before);
            }
            SaleState::Reversed if !sale.stored => return Ok(false),
            state if WORK.contains(&state) => self.forward_one(&mut sale).await,
            // Moved on since the page was read.
            _ => return Ok(false),
        };
        if matches!(sale.state, SaleState::Rejected | SaleState::Expired) {
            self.show_attention().await;
        }
        step.map(|()| true)
    }

    /// Housekeeping: abandons online sales nobody has touched for
    /// `settle.unattended_sale_minutes` (their lock free), recording why. Returns how many.
    async fn abandon_unattended(&self, now_ms: i64) -> Result<u32, SaleError> {
        let window_ms = i64::from(self.config.unattended_sale_minutes) * 60_000;
        let before_ms = now_ms - window_ms;
        let states: Vec<&str> = UNATTENDED.iter().map(|s| s.as_str()).collect();
        let mut rows = self
            .book
            .store()
            .sales_unattended(&states, before_ms, UNATTENDED_BATCH, false)
            .await?;
        let visits: Vec<&str> = UNATTENDED_VISITS.iter().map(|s| s.as_str()).collect();
        rows.extend(
            self.book
                .store()
                .sales_unattended(&visits, before_ms, UNATTENDED_BATCH, true)
                .await?,
        );
        let mut n = 0;
        for row in rows {
            let Some(_guard) = self.book.try_lock(&row.id) else {
                continue;
            };
            // Re-read under the lock: touched since, or stored, it stays.
            let Some(now) = self.book.store().sale(&row.id).await? else {
                continue;
            };
            if now.stored || now.updated_at_ms >= before_ms || now.state != row.state {
                continue;
            }
            let mut sale = self.book.get(&row.id).await?;
            let from = sale.state;
            let detail = serde_json::json!({
                "reason": "unattended",
                "state": from,
                "idle_minutes": (now_ms - now.updated_at_ms) / 60_000,
                "unattended_sale_minutes": self.config.unattended_sale_minutes,
            });
            let outcome = match (sale.kind, self.clinic.get()) {
                // A visit gives the platform back what it holds (the undo chain runs on the
                // next pass).
                (super::state::SaleKind::Outpatient, Some(clinic)) => {
                    clinic.abandon(&mut sale, detail).await
                }
                (super::state::SaleKind::Outpatient, None) => continue,
                _ => {
                    self.book
                        .transition(&mut sale, SaleEvent::Abandon, detail, None, |_| {})
                        .await
                }
            };
            match outcome {
                Ok(()) => {
                    tracing::info!(sale = %sale.id, from = %from, "unattended sale abandoned");
                    n += 1;
                }
                Err(e) => tracing::warn!(sale = %sale.id, error = %e, "could not abandon"),
            }
        }
        Ok(n)
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

/// The platform cannot be reached or asks the terminal to slow down (429, 5xx): every
/// forwarding step backs off together.
fn link_trouble(e: &crate::upstream::UpstreamError) -> bool {
    e.is_retryable()
        || matches!(e, crate::upstream::UpstreamError::Gateway { status } if *status == 429 || *status >= 500)
}

/// A refusal already moved the sale to `rejected`: for the forwarder that is progress.
fn ignore_business(e: SaleError) -> Result<(), SaleError> {
    match e {
        SaleError::Upstream(crate::upstream::UpstreamError::Business { .. }) => Ok(()),
        other => Err(other),
    }
}

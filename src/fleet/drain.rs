//! The drain: the daemon task that empties the store's outbox into the fleet ledger, in
//! enqueue order, and beats the terminal's heartbeat.
//!
//! Semantics: at least once, landing exactly once. A page of outbox rows is read; each sale
//! it names (once per page, in order of first appearance) is loaded through the store's
//! ordinary read path at its CURRENT version and turned into ledger rows; the page is written
//! in one PostgreSQL transaction; only after PostgreSQL committed are the page's rows deleted.
//! A crash between the commit and the delete sends the same sale again, which the ledger's
//! version guard turns into nothing. A row enqueued after the page was read stays for the next
//! page. PostgreSQL down: the attempt fails, the drain waits (doubling from
//! `retry_first` up to `retry_max`) and tries again; sales go on meanwhile and their rows pile
//! up in SQLite, never blocking a sale. New rows wake the drain at once (the writer signals
//! after its commit), so there is no polling when all is well.
//!
//! It writes nothing to SQLite but the outbox switch and the deletes; it never holds a sale.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ledger::{Ledger, TerminalBeat};
use super::rows::{PsnHasher, sale_facts};
use super::{FleetError, FleetOptions};
use crate::secret::Secret;
use crate::settle::SaleState;
use crate::status::{Health, StatusBoard, now_ms};
use crate::store::{OutboxSwitch, Store};

/// The status board component of the fleet ledger.
pub const COMPONENT: &str = "fleet";

/// Terminals shown on the status page (those needing attention first).
const PAGE_TERMINALS: u32 = 50;
/// Days of reconciliation results shown.
const VIEW_DAYS: u32 = 7;

/// What the drain did so far (for tests and diagnostics).
#[derive(Debug, Default)]
pub struct DrainStats {
    /// Sales written to the ledger (a sale sent twice counts twice).
    pub sent: AtomicU64,
    /// Attempts that failed (PostgreSQL down, a statement refused).
    pub failures: AtomicU64,
    /// Outbox rows dropped because their sale's document could not be read (a bug: logged).
    pub unreadable: AtomicU64,
    /// Heartbeats written.
    pub beats: AtomicU64,
}

/// The outbox drain of one terminal.
pub struct Drain {
    store: Store,
    options: FleetOptions,
    credentials_dir: Option<PathBuf>,
    hasher: PsnHasher,
    status: Option<Arc<StatusBoard>>,
    ledger: Option<Ledger>,
    stats: Arc<DrainStats>,
}

impl Drain {
    /// A drain over `store` for the ledger of `options`; loads the psn key now (a key that
    /// cannot be loaded is a configuration error, not something to retry).
    pub fn new(
        store: Store,
        options: FleetOptions,
        credentials_dir: Option<PathBuf>,
        status: Option<Arc<StatusBoard>>,
    ) -> Result<Drain, FleetError> {
        let key = Secret::load(&options.psn_key, credentials_dir.as_deref()).map_err(|source| {
            FleetError::Secret {
                key: "psn_key",
                source,
            }
        })?;
        let hasher = PsnHasher::new(key.expose().as_bytes())?;
        Ok(Drain {
            store,
            options,
            credentials_dir,
            hasher,
            status,
            ledger: None,
            stats: Arc::default(),
        })
    }

    /// The counters, shared.
    pub fn stats(&self) -> Arc<DrainStats> {
        Arc::clone(&self.stats)
    }

    /// The connected ledger, connecting (and migrating) first if there is none or it broke.
    async fn ledger(&mut self) -> Result<&mut Ledger, FleetError> {
        if self.ledger.as_ref().is_none_or(Ledger::is_closed) {
            self.ledger = None;
            let ledger = Ledger::connect(&self.options, self.credentials_dir.as_deref()).await?;
            self.ledger = Some(ledger);
        }
        Ok(self.ledger.as_mut().expect("just connected"))
    }

    /// Sends outbox pages until the outbox is empty; answers how many sales were written.
    pub async fn drain_once(&mut self) -> Result<u64, FleetError> {
        let mut sent = 0;
        loop {
            let page = self.store.outbox_page(self.options.batch.max(1)).await?;
            if page.is_empty() {
                return Ok(sent);
            }
            let mut ids = Vec::with_capacity(page.len());
            let mut seen = HashSet::new();
            let mut facts = Vec::new();
            for row in &page {
                ids.push(row.id);
                if !seen.insert(row.sale_id.as_str()) {
                    continue;
                }
                let Some(sale) = self.store.sale_versioned(&row.sale_id).await? else {
                    tracing::warn!(sale = %row.sale_id, "outbox row of a sale the store does not have: dropped");
                    continue;
                };
                match sale_facts(
                    &sale.row.id,
                    &sale.row.doc,
                    sale.version,
                    sale.row.updated_at_ms,
                    &self.hasher,
                ) {
                    Ok(f) => facts.push(f),
                    Err(e) => {
                        // Never sendable: keeping it would stop the outbox for good.
                        tracing::error!(error = %e, "outbox row dropped: its sale cannot be read");
                        self.stats.unreadable.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            let written = self.ledger().await?.upsert(&facts).await;
            if let Err(e) = written {
                self.ledger = None;
                return Err(e);
            }
            // PostgreSQL committed: the rows may go.
            self.store.outbox_remove(ids).await?;
            let n = facts.len() as u64;
            self.stats.sent.fetch_add(n, Ordering::Relaxed);
            sent += n;
        }
    }

    /// Writes this terminal's heartbeat and, with a status board, refreshes the fleet section
    /// of the status page.
    pub async fn beat(&mut self) -> Result<(), FleetError> {
        let outbox = self.store.outbox_stats().await?;
        let queued = self.store.offline_totals().await?;
        let doubt: Vec<&str> = SaleState::IN_DOUBT.iter().map(|s| s.as_str()).collect();
        let in_doubt = self.store.count_sales(&doubt, false).await?;
        let beat = TerminalBeat {
            queue_depth: u64::from(queued.count),
            in_doubt,
            outbox_rows: outbox.rows,
            outbox_lag_ms: outbox.lag_ms(now_ms()),
        };
        let stale_after = self.options.heartbeat * 3;
        let status = self.status.clone();
        let ledger = self.ledger().await?;
        let result = async {
            ledger.beat(&beat).await?;
            if let Some(status) = &status {
                let view = ledger.view(PAGE_TERMINALS, VIEW_DAYS, stale_after).await?;
                status.set_fleet(serde_json::to_value(&view).unwrap_or_default());
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            self.ledger = None;
        } else {
            self.stats.beats.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Runs until `stop`: turns the outbox on, then drains and beats, waiting for new rows,
    /// the next heartbeat or (after a failure) the backoff.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut wait = self.options.retry_first;
        let mut next_beat = Instant::now();
        let mut outbox_on = false;
        loop {
            let result = async {
                if !outbox_on {
                    outbox_on = self.switch_on().await?;
                }
                self.drain_once().await?;
                if Instant::now() >= next_beat {
                    self.beat().await?;
                    next_beat = Instant::now() + self.options.heartbeat;
                }
                Ok::<(), FleetError>(())
            }
            .await;
            match result {
                Ok(()) => {
                    wait = self.options.retry_first;
                    self.report(Health::Ok, "connected to the fleet ledger".to_owned());
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = self.store.outbox_wake() => {}
                        () = tokio::time::sleep_until(next_beat) => {}
                    }
                }
                Err(e) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64,
                        "fleet ledger unavailable; sales go on, the outbox waits");
                    let health = if e.is_retryable() {
                        Health::Degraded
                    } else {
                        Health::Down
                    };
                    self.report(
                        health,
                        format!("{e}; sales go on, the outbox catches up when it is back"),
                    );
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(wait) => {}
                    }
                    wait = next_wait(wait, self.options.retry_max);
                }
            }
        }
    }

    /// Turns the store's outbox on (once per run; the switch enqueues what the ledger may
    /// lack).
    async fn switch_on(&self) -> Result<bool, FleetError> {
        if let OutboxSwitch::On { backfilled } = self.store.set_outbox(true, now_ms()).await? {
            tracing::info!(
                sales = backfilled,
                "fleet outbox turned on: sales with settlements enqueued for the ledger"
            );
        }
        Ok(true)
    }

    fn report(&self, health: Health, detail: String) {
        if let Some(status) = &self.status {
            status.set(COMPONENT, health, detail);
        }
    }
}

/// The wait after one more failure: doubled, at most `max`.
fn next_wait(wait: Duration, max: Duration) -> Duration {
    (wait * 2).min(max).max(Duration::from_millis(1))
}

/// The daemon's drain task: builds the drain (a bad `[fleet]` secret shows on the status
/// board and stops only this task) and runs it until `stop`.
pub async fn run_drain(
    store: Store,
    options: FleetOptions,
    credentials_dir: Option<PathBuf>,
    status: Arc<StatusBoard>,
    stop: CancellationToken,
) {
    status.set(
        COMPONENT,
        Health::Starting,
        "connecting to the fleet ledger",
    );
    match Drain::new(store, options, credentials_dir, Some(Arc::clone(&status))) {
        Ok(drain) => drain.run(stop).await,
        Err(e) => {
            tracing::error!(error = %e, "fleet ledger not started");
            status.set(COMPONENT, Health::Down, e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_its_bound() {
        let max = Duration::from_secs(60);
        let mut w = Duration::from_secs(1);
        let mut seen = vec![];
        for _ in 0..8 {
            seen.push(w.as_secs());
            w = next_wait(w, max);
        }
        assert_eq!(seen, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(next_wait(Duration::ZERO, max), Duration::from_millis(1));
    }
}

//! What the reader thread publishes: reader snapshots, events and counters. Plain data shared
//! between the reader threads and the handle; no PC/SC calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, RwLock};

use tokio::sync::broadcast;

use crate::config::{ReaderConfig, SlotKind};

/// One reader slot as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    pub name: String,
    pub slot: SlotKind,
    pub card_present: bool,
    /// The card's ATR while a card is present.
    pub atr: Option<Vec<u8>>,
}

/// A change seen by the reader thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    ReaderAdded {
        name: String,
        slot: SlotKind,
    },
    ReaderRemoved {
        name: String,
    },
    CardInserted {
        reader: String,
        slot: SlotKind,
        atr: Vec<u8>,
    },
    CardRemoved {
        reader: String,
    },
    /// pcscd went away; readers are unknown until `ServiceRestored`.
    ServiceLost,
    /// pcscd answers again; `ReaderAdded`/`CardInserted` follow for what it reports.
    ServiceRestored,
}

/// Counters since `spawn`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// `with_card` closures that ran on a connected card.
    pub jobs_run: u64,
    /// `with_card` requests that ended in an error before the closure ran.
    pub jobs_failed: u64,
    /// APDUs transmitted (successfully or not).
    pub apdus: u64,
    /// Times pcscd was lost.
    pub service_losses: u64,
    /// Events published.
    pub events: u64,
}

/// State shared by the handle, the monitor thread and the worker thread.
pub(crate) struct Shared {
    pub config: ReaderConfig,
    pub readers: RwLock<BTreeMap<String, ReaderInfo>>,
    pub events: broadcast::Sender<ReaderEvent>,
    pub service_up: AtomicBool,
    pub stopping: AtomicBool,
    /// The monitor's current context, so `shutdown` can cancel its wait.
    pub monitor_ctx: Mutex<Option<pcsc::Context>>,
    /// Wakes the monitor's retry waits on shutdown.
    pub stop_lock: Mutex<()>,
    pub stop_cv: Condvar,
    pub jobs_run: AtomicU64,
    pub jobs_failed: AtomicU64,
    pub apdus: AtomicU64,
    pub service_losses: AtomicU64,
    pub event_count: AtomicU64,
}

impl Shared {
    pub fn new(config: ReaderConfig) -> Shared {
        Shared {
            config,
            readers: RwLock::new(BTreeMap::new()),
            events: broadcast::channel(256).0,
            service_up: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            monitor_ctx: Mutex::new(None),
            stop_lock: Mutex::new(()),
            stop_cv: Condvar::new(),
            jobs_run: AtomicU64::new(0),
            jobs_failed: AtomicU64::new(0),
            apdus: AtomicU64::new(0),
            service_losses: AtomicU64::new(0),
            event_count: AtomicU64::new(0),
        }
    }

    pub fn emit(&self, event: ReaderEvent) {
        tracing::debug!(?event, "reader event");
        self.event_count.fetch_add(1, Ordering::Relaxed);
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Waits up to `d` unless shutdown starts.
    pub fn pause(&self, d: std::time::Duration) {
        let guard = self.stop_lock.lock().unwrap_or_else(|p| p.into_inner());
        if !self.stopping() {
            let _ = self.stop_cv.wait_timeout(guard, d);
        }
    }

    pub fn snapshot(&self) -> Vec<ReaderInfo> {
        self.readers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn stats(&self) -> ReaderStats {
        ReaderStats {
            jobs_run: self.jobs_run.load(Ordering::Relaxed),
            jobs_failed: self.jobs_failed.load(Ordering::Relaxed),
            apdus: self.apdus.load(Ordering::Relaxed),
            service_losses: self.service_losses.load(Ordering::Relaxed),
            events: self.event_count.load(Ordering::Relaxed),
        }
    }
}

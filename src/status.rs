//! The status board: the health of each component (store, API, readers, camera,
//! upstream, queue) and the alarms an operator must see, shared by everything that reports and
//! everything that shows (`/v1/status`, `/metrics`, systemd STATUS lines, the status page),
//! and the fleet section the fleet ledger's heartbeat leaves for the status page.
//!
//! Components overwrite their own entry; alarms are raised and cleared by code. Every change
//! bumps a version on a watch channel so live views can follow. Holds no personal data.

use std::collections::BTreeMap;
use std::sync::RwLock;

use serde::Serialize;
use tokio::sync::watch;

/// How a component is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Working.
    Ok,
    /// Coming up.
    Starting,
    /// Working with reduced function (e.g. platform unreachable, sales stored offline).
    Degraded,
    /// Not working.
    Down,
    /// Not configured on this terminal.
    Disabled,
}

/// One component's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    /// Current health.
    pub health: Health,
    /// One line for an operator (no personal data).
    pub detail: String,
    /// When the health last changed, unix milliseconds.
    pub since_ms: i64,
}

/// Something an operator must act on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    /// Stable code, e.g. `store.quarantined`.
    pub code: String,
    /// Chinese message.
    pub message_zh: String,
    /// English message.
    pub message_en: String,
    /// When it was raised, unix milliseconds.
    pub since_ms: i64,
    /// Machine-readable details (paths, counts; never personal data).
    pub details: serde_json::Value,
}

/// The daemon's phase as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Opening the database and binding the API.
    Starting,
    /// Serving.
    Running,
    /// Draining after SIGTERM/SIGINT; new work is refused.
    Stopping,
}

#[derive(Debug, Default)]
struct Inner {
    components: BTreeMap<String, Component>,
    alarms: BTreeMap<String, Alarm>,
    fleet: Option<serde_json::Value>,
    reconcile: Option<serde_json::Value>,
}

/// Shared status of the whole daemon.
#[derive(Debug)]
pub struct StatusBoard {
    inner: RwLock<Inner>,
    phase: watch::Sender<Phase>,
    version: watch::Sender<u64>,
}

impl Default for StatusBoard {
    fn default() -> Self {
        StatusBoard {
            inner: RwLock::default(),
            phase: watch::Sender::new(Phase::Starting),
            version: watch::Sender::new(0),
        }
    }
}

/// A consistent copy of the board, as `/v1/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// The daemon's phase.
    pub phase: Phase,
    /// Components by name.
    pub components: BTreeMap<String, Component>,
    /// Active alarms, oldest first.
    pub alarms: Vec<Alarm>,
    /// The fleet as the ledger last showed it (terminals, outbox lag, reconciliations), when
    /// `[fleet]` is configured and the ledger answered at least once (`fleet::FleetView`).
    pub fleet: Option<serde_json::Value>,
    /// The last reconciliation this daemon ran (3201 and its 3202s), summarised
    /// (`settle::reconcile::summary`); `None` until one ran.
    pub reconcile: Option<serde_json::Value>,
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl StatusBoard {
    /// Sets a component's health and detail; `since_ms` moves only when the health changes.
    pub fn set(&self, name: &str, health: Health, detail: impl Into<String>) {
        let detail = detail.into();
        if let Ok(mut inner) = self.inner.write() {
            let since_ms = match inner.components.get(name) {
                Some(c) if c.health == health => c.since_ms,
                _ => now_ms(),
            };
            let new = Component {
                health,
                detail,
                since_ms,
            };
            if inner.components.get(name) == Some(&new) {
                return;
            }
            inner.components.insert(name.to_owned(), new);
        }
        self.version.send_modify(|v| *v += 1);
    }

    /// Raises (or refreshes the text of) an alarm.
    pub fn raise(
        &self,
        code: &str,
        zh: impl Into<String>,
        en: impl Into<String>,
        details: serde_json::Value,
    ) {
        if let Ok(mut inner) = self.inner.write() {
            let since_ms = inner.alarms.get(code).map_or_else(now_ms, |a| a.since_ms);
            let alarm = Alarm {
                code: code.to_owned(),
                message_zh: zh.into(),
                message_en: en.into(),
                since_ms,
                details,
            };
            inner.alarms.insert(code.to_owned(), alarm);
        }
        self.version.send_modify(|v| *v += 1);
    }

    /// Clears an alarm; returns whether it was active.
    pub fn clear(&self, code: &str) -> bool {
        let removed = self
            .inner
            .write()
            .map(|mut i| i.alarms.remove(code).is_some())
            .unwrap_or(false);
        if removed {
            self.version.send_modify(|v| *v += 1);
        }
        removed
    }

    /// Replaces the fleet section (the drain's heartbeat refreshes it).
    pub fn set_fleet(&self, view: serde_json::Value) {
        if let Ok(mut inner) = self.inner.write() {
            if inner.fleet.as_ref() == Some(&view) {
                return;
            }
            inner.fleet = Some(view);
        }
        self.version.send_modify(|v| *v += 1);
    }

    /// Replaces the last reconciliation's summary.
    pub fn set_reconcile(&self, summary: serde_json::Value) {
        if let Ok(mut inner) = self.inner.write() {
            inner.reconcile = Some(summary);
        }
        self.version.send_modify(|v| *v += 1);
    }

    /// Moves the daemon to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.send_replace(phase);
        self.version.send_modify(|v| *v += 1);
    }

    /// The daemon's current phase.
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Follows changes (any component, alarm or phase).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// A consistent copy for display.
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let mut alarms: Vec<Alarm> = inner.alarms.values().cloned().collect();
        alarms.sort_by_key(|a| a.since_ms);
        Snapshot {
            phase: self.phase(),
            components: inner.components.clone(),
            alarms,
            fleet: inner.fleet.clone(),
            reconcile: inner.reconcile.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_moves_only_on_health_change() {
        let b = StatusBoard::default();
        b.set("store", Health::Starting, "opening");
        let first = b.snapshot().components["store"].since_ms;
        b.set("store", Health::Starting, "migrating");
        let s = b.snapshot();
        assert_eq!(s.components["store"].since_ms, first);
        assert_eq!(s.components["store"].detail, "migrating");
    }

    #[test]
    fn the_fleet_section_is_kept_and_an_unchanged_one_bumps_nothing() {
        let b = StatusBoard::default();
        assert!(b.snapshot().fleet.is_none());
        let mut rx = b.subscribe();
        b.set_fleet(serde_json::json!({"summary": {"terminals": 2}}));
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        b.set_fleet(serde_json::json!({"summary": {"terminals": 2}}));
        assert!(!rx.has_changed().unwrap());
        assert_eq!(b.snapshot().fleet.unwrap()["summary"]["terminals"], 2);
    }

    #[test]
    fn alarms_raise_and_clear_and_bump_the_version() {
        let b = StatusBoard::default();
        let rx = b.subscribe();
        b.raise(
            "store.quarantined",
            "数据库已隔离",
            "database quarantined",
            serde_json::json!({}),
        );
        assert!(rx.has_changed().unwrap());
        assert_eq!(b.snapshot().alarms.len(), 1);
        assert!(b.clear("store.quarantined"));
        assert!(!b.clear("store.quarantined"));
        assert!(b.snapshot().alarms.is_empty());
    }
}

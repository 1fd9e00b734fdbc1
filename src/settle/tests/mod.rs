//! Unit tests of the money engine: every money path (presettle, confirm online, store offline,
//! forward, refusal, lost answer, reversal, cancel, crash recovery, reconciliation) driven
//! through the [`Engine`] facade against the strict
//! [`ScriptedPlatform`](crate::upstream::scripted::ScriptedPlatform) and a real store in a
//! temporary file. Each file is one family of paths; this one holds the rig. Tests assert the
//! exact requests in order, msgid reuse, amounts in fen and the final state; none sleeps.

mod cancel;
mod confirm;
mod detail;
mod doubt;
mod mismatch;
mod offline;
mod presettle;
mod reconcile;
mod recovery;
mod report;
mod requests;
mod running;
mod visit;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use tempfile::TempDir;

use super::options::SettleConfig;
use super::{Engine, EngineParts, NewSale, Sale};
use crate::credential::{Credentials, Fresh};
use crate::store::Store;
use crate::terminal::TerminalConfig;
use crate::upstream::platform::Platform;
use crate::upstream::scripted::{Answer, ScriptedPlatform, Sent};

/// The institution of `TerminalConfig::demo`.
const FIXMEDINS: &str = "H11010500001";
/// 2026-11-23 10:00:00 CST.
const T0_UTC: (i32, u32, u32, u32) = (2026, 11, 23, 2);

/// An engine over a scripted platform and a store in a temporary directory.
struct Rig {
    _dir: TempDir,
    store: Store,
    engine: Arc<Engine>,
    platform: Arc<ScriptedPlatform>,
    credentials: Arc<Credentials>,
    /// Seconds added to the clock.
    offset: Arc<AtomicI64>,
    /// The status board the engine raises its alarms on.
    status: Arc<crate::status::StatusBoard>,
}

fn t0() -> DateTime<Utc> {
    let (y, m, d, h) = T0_UTC;
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

impl Rig {
    /// A fresh store and `platform` (its script); the sandbox's `settle.skip_pin_consent`,
    /// so sales confirm without a PIN unless a test asks for one ([`pin_settle`]).
    fn new(platform: ScriptedPlatform) -> Rig {
        Rig::with_settle(platform, pin_settle(false))
    }

    /// Like [`Rig::new`] with other `[settle]` options.
    fn with_settle(platform: ScriptedPlatform, settle: SettleConfig) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) =
            Store::open(&dir.path().join("medsettle.db"), Duration::from_secs(5)).unwrap();
        Rig::on(dir, store, Arc::new(AtomicI64::new(0)), platform, settle)
    }

    fn on(
        dir: TempDir,
        store: Store,
        offset: Arc<AtomicI64>,
        platform: ScriptedPlatform,
        settle: SettleConfig,
    ) -> Rig {
        let o = Arc::clone(&offset);
        let clock: crate::upstream::client::Clock =
            Arc::new(move || t0() + chrono::Duration::seconds(o.load(Ordering::SeqCst)));
        let platform = Arc::new(
            platform
                .recording_into(store.clone())
                .with_clock(Arc::clone(&clock)),
        );
        let credentials = Arc::new(Credentials::default());
        let status = Arc::new(crate::status::StatusBoard::default());
        let engine = Arc::new(Engine::new(EngineParts {
            store: store.clone(),
            platform: Some(Arc::clone(&platform) as Arc<dyn Platform>),
            card: None,
            events: crate::events::EventBus::default(),
            config: settle,
            terminal: TerminalConfig::demo(),
            credentials: Arc::clone(&credentials),
            clock: Some(clock),
            status: Some(Arc::clone(&status)),
        }));
        Rig {
            _dir: dir,
            store,
            engine,
            platform,
            credentials,
            offset,
            status,
        }
    }

    /// The daemon restarts on the same store with a new script (the old engine is gone).
    fn restart(self, platform: ScriptedPlatform) -> Rig {
        let Rig {
            _dir,
            store,
            engine,
            platform: old,
            offset,
            ..
        } = self;
        drop(engine);
        old.finish();
        Rig::on(_dir, store, offset, platform, pin_settle(false))
    }

    /// Moves the clock on.
    fn advance_hours(&self, hours: i64) {
        self.offset.fetch_add(hours * 3_600, Ordering::SeqCst);
    }

    /// Moves the clock on by minutes.
    fn advance_minutes(&self, minutes: i64) {
        self.offset.fetch_add(minutes * 60, Ordering::SeqCst);
    }

    /// The active alarm `code`, if raised.
    fn alarm(&self, code: &str) -> Option<crate::status::Alarm> {
        self.status
            .snapshot()
            .alarms
            .into_iter()
            .find(|a| a.code == code)
    }

    /// A card sale of 128.50 yuan (the amount the answer fixtures settle).
    /// The cashier confirms sale `id` with no PIN or cash given.
    async fn confirm(&self, id: &str) -> Result<Sale, crate::settle::SaleError> {
        self.engine
            .confirm(id, crate::settle::Confirmation::default())
            .await
    }

    async fn card_sale(&self, mode: &str) -> Sale {
        let record = crate::card::record::sample::sample();
        let id = self.credentials.insert(Fresh::Card(record));
        self.engine.create(new_sale(&id, mode)).await.unwrap()
    }

    /// Requests sent so far, checked against the script's end.
    fn finish(&self) -> Vec<Sent> {
        self.platform.finish()
    }
}

/// `POST /v1/sales` for one line of 1 × 128.50.
fn new_sale(credential_id: &str, mode: &str) -> NewSale {
    serde_json::from_value(json!({
        "credential_id": credential_id,
        "items": [{ "code": "XA01AAA0000000001", "name": "测试药品", "cnt": "1", "pric": "128.50" }],
        "mode": mode,
    }))
    .unwrap()
}

/// The script of a presettlement: 1101 then 2101, from the fixtures.
fn presettle_script(p: ScriptedPlatform) -> ScriptedPlatform {
    p.expect("1101", Answer::fixture("1101_response.json"))
        .expect("2101", Answer::fixture("2101_response.json"))
}

/// `[settle]` defaults, asking the patient's PIN or not.
fn pin_settle(ask: bool) -> SettleConfig {
    SettleConfig {
        skip_pin_consent: !ask,
        ..SettleConfig::default()
    }
}

fn platform() -> ScriptedPlatform {
    ScriptedPlatform::new(FIXMEDINS)
}

/// The msgid of a request that must have one.
fn msgid(s: &Sent) -> &str {
    s.msgid.as_deref().expect("a platform request has a msgid")
}

/// The sale as stored.
async fn stored(rig: &Rig, id: &str) -> Sale {
    rig.engine.get(id).await.unwrap()
}

/// The events of a sale's history, oldest first.
async fn history(rig: &Rig, id: &str) -> Vec<String> {
    rig.store
        .sale_events(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect()
}

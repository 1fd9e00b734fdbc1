//! The engine's options, `[settle]` in the config file: how sales are settled — the default
//! mode per credential, what may be stored offline and the offline limits (offline.md), the
//! forwarder's backoff, and the daily reconciliation time. Every value has a default a pharmacy
//! counter can run on. Defined here, below `config` (which reads them), so the engine never
//! imports the config.

use serde::{Deserialize, Serialize};

/// When a sale needs the platform (offline.md rule 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleMode {
    /// Settle online or refuse.
    RequireOnline,
    /// Settle online; store the sale offline when the platform is unreachable.
    PreferOnline,
    /// Store without trying the platform (maintenance windows); the forwarder settles it.
    ForceOffline,
}

/// `[settle]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SettleConfig {
    /// Default mode of card sales.
    pub card_mode: SaleMode,
    /// Default mode of QR (e-SSC, e-voucher) sales.
    pub qr_mode: SaleMode,
    /// Signed e-SSC sales may be stored offline (e-voucher sales never are).
    pub store_essc_offline: bool,
    /// Largest single sale stored offline, in yuan (decimal text).
    pub offline_max_sale: String,
    /// Largest total of open stored sales, in yuan.
    pub offline_max_total: String,
    /// Most open stored sales.
    pub offline_max_count: u32,
    /// A stored sale older than this is not sent but flagged for an operator, in hours.
    pub offline_max_age_hours: u32,
    /// Forwarder backoff: first retry delay and cap, in milliseconds (jittered).
    pub retry_first_ms: u64,
    pub retry_max_ms: u64,
    /// Daily 3201 reconciliation of the CST day, at this CST time (`HH:MM`); empty = off.
    pub reconcile_at: String,
    /// `insutype`s reconciled (one 3201 each).
    pub reconcile_insutypes: Vec<String>,
    /// `clr_type` of the 3201 statements.
    pub clr_type: String,
    /// `med_type` of pharmacy sales (41 = 定点药店购药).
    pub med_type: String,
    /// `psn_setlway` (01 = 按项目结算).
    pub psn_setlway: String,
    /// Kiosk mode: how long each step waits for the patient (card or code, consent), in ms.
    pub kiosk_step_timeout_ms: u64,
    /// Card and e-SSC sales settle without the patient's PIN. For the sandbox insurer and the
    /// demo only: refused by builds without the `demo` feature (the package). Default false.
    /// The platform's `signtype` (even `MOCK`) never skips the PIN.
    pub skip_pin_consent: bool,
}

impl Default for SettleConfig {
    fn default() -> Self {
        SettleConfig {
            card_mode: SaleMode::PreferOnline,
            qr_mode: SaleMode::RequireOnline,
            store_essc_offline: false,
            offline_max_sale: "500.00".to_owned(),
            offline_max_total: "5000.00".to_owned(),
            offline_max_count: 100,
            offline_max_age_hours: 72,
            retry_first_ms: 1_000,
            retry_max_ms: 60_000,
            reconcile_at: "23:30".to_owned(),
            reconcile_insutypes: vec!["310".to_owned(), "390".to_owned()],
            clr_type: "41".to_owned(),
            med_type: "41".to_owned(),
            psn_setlway: "01".to_owned(),
            kiosk_step_timeout_ms: 60_000,
            skip_pin_consent: false,
        }
    }
}

impl SettleConfig {
    /// Semantic checks; each finding is (key, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |k: &str, m: &str| out.push((format!("settle.{k}"), m.to_owned()));
        for (key, text) in [
            ("offline_max_sale", &self.offline_max_sale),
            ("offline_max_total", &self.offline_max_total),
        ] {
            match medsettle_base::Fen::parse_yuan(text) {
                Ok(f) if f.0 >= 0 => {}
                _ => bad(
                    key,
                    "must be an amount in yuan with at most 2 decimals, e.g. \"500.00\"",
                ),
            }
        }
        if self.offline_max_count > 100_000 {
            bad("offline_max_count", "must be at most 100000");
        }
        if !(1..=24 * 30).contains(&self.offline_max_age_hours) {
            bad("offline_max_age_hours", "must be between 1 and 720");
        }
        if self.retry_first_ms < 100 || self.retry_max_ms < self.retry_first_ms {
            bad(
                "retry_max_ms",
                "retry_first_ms must be ≥ 100 and retry_max_ms ≥ retry_first_ms",
            );
        }
        if self.skip_pin_consent && !cfg!(feature = "demo") {
            bad(
                "skip_pin_consent",
                "is for the sandbox insurer and the demo only; this build (no `demo` feature) \
                 always asks the patient's PIN",
            );
        }
        if !(1_000..=600_000).contains(&self.kiosk_step_timeout_ms) {
            bad("kiosk_step_timeout_ms", "must be between 1000 and 600000");
        }
        if !self.reconcile_at.is_empty() && self.reconcile_time().is_none() {
            bad(
                "reconcile_at",
                "must be HH:MM (China Standard Time) or empty",
            );
        }
        out
    }

    /// Offline limits in fen (valid after [`SettleConfig::problems`] found nothing).
    pub fn limits(&self) -> crate::store::OfflineLimits {
        let fen = |t: &str| medsettle_base::Fen::parse_yuan(t).map_or(0, |f| f.0);
        crate::store::OfflineLimits {
            per_sale_fen: fen(&self.offline_max_sale),
            total_fen: fen(&self.offline_max_total),
            count: self.offline_max_count,
        }
    }

    /// The daily reconciliation time, CST.
    pub fn reconcile_time(&self) -> Option<chrono::NaiveTime> {
        chrono::NaiveTime::parse_from_str(&self.reconcile_at, "%H:%M").ok()
    }
}

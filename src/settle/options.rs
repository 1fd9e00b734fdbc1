//! The engine's options, `[settle]` in the config file: how sales are settled — the default
//! mode per credential, what may be stored offline and the offline limits (offline.md), the
//! forwarder's backoff, and the daily reconciliation time. Every value has a default a pharmacy
//! counter can run on. Defined here, below `config` (which reads them), so the engine never
//! imports the config.

use serde::{Deserialize, Serialize};

use crate::upstream::tx::settle::AdvisoryChecks;

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

pub use crate::upstream::tx::reverse::RefundCount;

/// Which clearing groups get a 3202 detail reconciliation after 3201.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailScope {
    /// None.
    Off,
    /// Those with an unbalanced 3201 line (the default, `[settle] reconcile_detail`).
    Unbalanced,
    /// Every group of the day (`medsettle reconcile --detail`).
    All,
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
    /// Daily 3201 reconciliation of the PREVIOUS CST day, run at this CST time (`HH:MM`, e.g.
    /// "00:30" reconciles yesterday half an hour after midnight, so the last settlements of
    /// the day are in); empty = off.
    pub reconcile_at: String,
    /// `insutype`s whose home group (the insutype, `clr_type` below, the terminal's region as
    /// `setl_optins`) gets a 3201 even on a day this terminal settled none of it, so a
    /// settlement only the platform knows is still found. The other groups are those of the
    /// day's settlements, named by the platform's answers.
    pub reconcile_insutypes: Vec<String>,
    /// `clr_type` of the home groups above (41 药店购药, 11 门诊).
    pub clr_type: String,
    /// 3201 `refd_setl_flag`: `"1"` (send 1; the totals include cancellations with negative
    /// amounts, as the platform counts by default), `"0"` (send 0; settlements only) or `""`
    /// (leave the key out, for a platform whose transcription has none; the platform then
    /// includes refunds, so the totals do too).
    pub reconcile_refd_setl_flag: String,
    /// How a cancellation counts in 3201's `fixmedins_setl_cnt` when refunds are included:
    /// `"plus"` (default), `"minus"` or `"zero"`.
    pub reconcile_refund_count: RefundCount,
    /// 3202 detail reconciliation after 3201: `"unbalanced"` (default: every clearing group
    /// with an unbalanced 3201 line) or `"off"`.
    pub reconcile_detail: String,
    /// The platform's 3202 result file lists every settlement of the group (default), so a
    /// local settlement it leaves out is not on the platform; `false` for a platform that
    /// lists only the differences.
    pub reconcile_result_lists_all: bool,
    /// `med_type` of pharmacy sales (41 = 定点药店购药).
    pub med_type: String,
    /// `psn_setlway` (01 = 按项目结算).
    pub psn_setlway: String,
    /// Kiosk mode: how long each step waits for the patient (card or code, consent), in ms.
    pub kiosk_step_timeout_ms: u64,
    /// An online sale left unattended this long is abandoned by the forwarder's housekeeping:
    /// `captured`/`identified`/`presettled`, a `confirmed` one nothing was sent for (a crash
    /// between consent and sending), a `reversed` one waiting for its cashier. In minutes.
    pub unattended_sale_minutes: u32,
    /// Stored sales the forwarder settles at once (each its own sale, in order); 1 = one at
    /// a time.
    pub forward_concurrency: u32,
    /// Advisory checks of settlement answers (`[settle.answer_checks]`, upstream.md
    /// "Settlement answers" rule 3): a failure settles the sale anyway, records the check on
    /// it and raises `sale.answer_mismatch`. All on by default; turn `medfee_parts` off where
    /// the platform's `fund_pay_sumamt` includes the account payment.
    pub answer_checks: AdvisoryChecks,
    /// 2101/2102 header node name (upstream.md "Pharmacy settlement": `druginfo` as public
    /// pharmacy clients send, or `data`).
    pub pharmacy_input_node: String,
    /// 2101/2102 fee lines node name (`drugdetail`, or `feedetail`).
    pub pharmacy_detail_node: String,
    /// When 1101 answers several `insuinfo` rows and the cashier chose none: the first active
    /// row whose `insutype` comes first in this list, else the first active row, else the first.
    pub insutype_preference: Vec<String>,
    /// A sale in doubt (settling, unknown, reversing, cancelling) for longer than this raises
    /// the `sale.in_doubt` alarm, in minutes (a `held` sale raises it at once).
    pub in_doubt_alarm_minutes: u32,
    /// Card and e-SSC sales settle without the patient's PIN. For the sandbox insurer and the
    /// demo only: refused by builds without the `demo` feature (the package). Default false.
    /// The platform's `signtype` (even `MOCK`) never skips the PIN.
    pub skip_pin_consent: bool,
    /// How an outpatient visit settles: `"require_online"` (the only mode: a visit is
    /// registered, priced and settled with the platform while the patient waits; nothing of it
    /// is stored offline, and what the platform holds of an abandoned visit is undone when the
    /// link is back).
    pub outpatient_mode: String,
    /// The visit-information upload a province expects after 2201 (outpatient.md): `"2203A"`
    /// (default) or `"2203"`; both carry the same nodes.
    pub visit_info_infno: String,
    /// The `[trace]` section (a section of its own in the file; the daemon puts it here, its
    /// operator defaulted to `[upstream] opter_name`, so every part of the engine has it).
    #[serde(skip)]
    pub trace: super::dispensing::TraceConfig,
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
            reconcile_at: "00:30".to_owned(),
            reconcile_insutypes: vec!["310".to_owned(), "390".to_owned()],
            clr_type: "41".to_owned(),
            reconcile_refd_setl_flag: "1".to_owned(),
            reconcile_refund_count: RefundCount::Plus,
            reconcile_detail: "unbalanced".to_owned(),
            reconcile_result_lists_all: true,
            med_type: "41".to_owned(),
            psn_setlway: "01".to_owned(),
            kiosk_step_timeout_ms: 60_000,
            unattended_sale_minutes: 30,
            forward_concurrency: 8,
            answer_checks: AdvisoryChecks::default(),
            pharmacy_input_node: "druginfo".to_owned(),
            pharmacy_detail_node: "drugdetail".to_owned(),
            insutype_preference: Vec::new(),
            in_doubt_alarm_minutes: 10,
            skip_pin_consent: false,
            outpatient_mode: "require_online".to_owned(),
            visit_info_infno: "2203A".to_owned(),
            trace: super::dispensing::TraceConfig::default(),
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
        if !(1..=7 * 24 * 60).contains(&self.unattended_sale_minutes) {
            bad("unattended_sale_minutes", "must be between 1 and 10080");
        }
        if !(1..=32).contains(&self.forward_concurrency) {
            bad("forward_concurrency", "must be between 1 and 32");
        }
        for (key, name) in [
            ("pharmacy_input_node", &self.pharmacy_input_node),
            ("pharmacy_detail_node", &self.pharmacy_detail_node),
        ] {
            if !node_name(name) {
                bad(
                    key,
                    "must be a JSON node name of ASCII letters, digits and `_` (1–32), e.g. \"druginfo\"",
                );
            }
        }
        if self.pharmacy_input_node == self.pharmacy_detail_node {
            bad(
                "pharmacy_detail_node",
                "must differ from pharmacy_input_node",
            );
        }
        if let Some(bad_type) = self
            .insutype_preference
            .iter()
            .find(|t| t.is_empty() || t.len() > 6 || !t.bytes().all(|b| b.is_ascii_digit()))
        {
            let message = format!("{bad_type:?} is not an insutype (1–6 digits, e.g. \"310\")");
            bad("insutype_preference", &message);
        }
        if !(1..=24 * 60).contains(&self.in_doubt_alarm_minutes) {
            bad("in_doubt_alarm_minutes", "must be between 1 and 1440");
        }
        if self.outpatient_mode != "require_online" {
            bad(
                "outpatient_mode",
                "must be \"require_online\": an outpatient visit is registered and settled with \
                 the platform while the patient waits; this build stores no visit offline",
            );
        }
        if !matches!(self.visit_info_infno.as_str(), "2203A" | "2203") {
            bad("visit_info_infno", "must be \"2203A\" or \"2203\"");
        }
        if !self.reconcile_at.is_empty() && self.reconcile_time().is_none() {
            bad(
                "reconcile_at",
                "must be HH:MM (China Standard Time) or empty",
            );
        }
        if !matches!(self.reconcile_refd_setl_flag.as_str(), "0" | "1" | "") {
            bad(
                "reconcile_refd_setl_flag",
                "must be \"1\" (refunds included), \"0\" (excluded) or \"\" (key left out)",
            );
        }
        if !matches!(self.reconcile_detail.as_str(), "unbalanced" | "off") {
            bad(
                "reconcile_detail",
                "must be \"unbalanced\" (3202 for each unbalanced group) or \"off\"",
            );
        }
        if self.clr_type.is_empty()
            || self.clr_type.len() > 6
            || !self.clr_type.bytes().all(|b| b.is_ascii_digit())
        {
            bad(
                "clr_type",
                "must be a clr_type code of 1–6 digits, e.g. \"41\"",
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

    /// The 2101/2102 node names.
    pub fn fee_node(&self) -> crate::upstream::tx::pharmacy::FeeNode {
        crate::upstream::tx::pharmacy::FeeNode::named(
            &self.pharmacy_input_node,
            &self.pharmacy_detail_node,
        )
    }

    /// Whether 3201 totals include cancellations (`refd_setl_flag` 1, empty or absent).
    pub fn reconcile_includes_refunds(&self) -> bool {
        self.reconcile_refd_setl_flag != "0"
    }

    /// The `refd_setl_flag` sent, `None` to leave the key out.
    pub fn reconcile_flag(&self) -> Option<String> {
        (!self.reconcile_refd_setl_flag.is_empty()).then(|| self.reconcile_refd_setl_flag.clone())
    }

    /// Which groups get a 3202 after the scheduled or API 3201 (`reconcile_detail`).
    pub fn detail_scope(&self) -> DetailScope {
        match self.reconcile_detail.as_str() {
            "off" => DetailScope::Off,
            _ => DetailScope::Unbalanced,
        }
    }

    /// The daily reconciliation time, CST (it reconciles the day before).
    pub fn reconcile_time(&self) -> Option<chrono::NaiveTime> {
        chrono::NaiveTime::parse_from_str(&self.reconcile_at, "%H:%M").ok()
    }
}

/// A JSON node name the platform could use: ASCII letters, digits and `_`, 1–32 long, not
/// starting with a digit.
fn node_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconcile_keys_default_to_refunds_included_and_are_checked() {
        let d = SettleConfig::default();
        assert!(d.problems().is_empty(), "{:?}", d.problems());
        assert_eq!(d.reconcile_at, "00:30");
        assert_eq!(d.reconcile_flag().as_deref(), Some("1"));
        assert!(d.reconcile_includes_refunds());
        assert_eq!(d.reconcile_refund_count, RefundCount::Plus);
        for (flag, sent, includes) in [("0", Some("0"), false), ("", None, true)] {
            let c = SettleConfig {
                reconcile_refd_setl_flag: flag.to_owned(),
                ..SettleConfig::default()
            };
            assert!(c.problems().is_empty());
            assert_eq!(c.reconcile_flag().as_deref(), sent);
            assert_eq!(c.reconcile_includes_refunds(), includes);
        }
        let bad = SettleConfig {
            reconcile_refd_setl_flag: "Y".to_owned(),
            clr_type: "4a".to_owned(),
            ..SettleConfig::default()
        };
        let keys: Vec<String> = bad.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["settle.reconcile_refd_setl_flag", "settle.clr_type"]);
        let minus: SettleConfig = toml::from_str("reconcile_refund_count = \"minus\"").unwrap();
        assert_eq!(minus.reconcile_refund_count, RefundCount::Minus);
        assert_eq!(
            (
                RefundCount::Minus.step(),
                RefundCount::Plus.step(),
                RefundCount::Zero.step()
            ),
            (-1, 1, 0)
        );
        assert!(toml::from_str::<SettleConfig>("reconcile_refund_count = \"negative\"").is_err());
    }
}

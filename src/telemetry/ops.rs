//! The operator's counters: sales and visits by outcome, platform requests by transaction and
//! result (with latency), card reads and QR scans by result. One registry per process
//! ([`ops`]), fed by one-line calls at the places those things happen (the sale book, the
//! platform client, the card and QR services), so no service needs a handle passed down.
//!
//! Label values are closed sets chosen by the code (state names, infnos, stable error codes),
//! never text from a request or a card: nothing here can carry personal data.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::metrics::{Exposition, Histogram};

/// Upper bounds of the platform latency histogram, in seconds: the platform answers in tens
/// of milliseconds to tens of seconds (a request times out after 30 s by default).
const UPSTREAM_BUCKETS: [f64; 12] = [
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];

/// The states a sale's outcome is counted in: where it ends, or stops to wait for someone.
pub const OUTCOMES: [&str; 9] = [
    "queued",
    "settled",
    "rejected",
    "unknown",
    "reversed",
    "cancelled",
    "expired",
    "abandoned",
    "held",
];

/// Counters kept for the life of the process.
#[derive(Default)]
pub struct Ops {
    sales: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    upstream: Mutex<BTreeMap<(String, &'static str), u64>>,
    upstream_latency: Mutex<BTreeMap<(String, &'static str), Histogram>>,
    card_reads: Mutex<BTreeMap<String, u64>>,
    qr_scans: Mutex<BTreeMap<(&'static str, String), u64>>,
}

/// This process's counters.
pub fn ops() -> &'static Ops {
    static OPS: OnceLock<Ops> = OnceLock::new();
    OPS.get_or_init(Ops::default)
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_default() += 1;
    }
}

impl Ops {
    /// A sale (`kind` `pharmacy`) or visit (`outpatient`) entered `state`; counted when the
    /// state is one of [`OUTCOMES`].
    pub fn sale_entered(&self, kind: &'static str, state: &'static str) {
        if OUTCOMES.contains(&state) {
            bump(&self.sales, (kind, state));
        }
    }

    /// A platform request of `infno` ended with `result` (the audit outcome: `ok`,
    /// `business`, `protocol`, `unsent`, `unknown`); `took` when an answer arrived.
    pub fn upstream(&self, infno: &str, result: &'static str, took: Option<Duration>) {
        bump(&self.upstream, (infno.to_owned(), result));
        if let (Some(took), Ok(mut h)) = (took, self.upstream_latency.lock()) {
            h.entry((infno.to_owned(), result))
                .or_insert_with(|| Histogram::new(&UPSTREAM_BUCKETS))
                .observe(took);
        }
    }

    /// A card read ended: `ok`, or the stable code of its error.
    pub fn card_read(&self, result: &str) {
        bump(&self.card_reads, result.to_owned());
    }

    /// A QR code was processed: its `kind` (`e-ssc`, `e-voucher`, `unknown`) and `valid` or
    /// the stable code of its refusal.
    pub fn qr_scan(&self, kind: &'static str, result: &str) {
        bump(&self.qr_scans, (kind, result.to_owned()));
    }

    /// Renders every family, with a zero sample for each outcome never seen so that a rate
    /// query has a series from the start.
    pub fn render_into(&self, out: &mut Exposition) {
        let sales = self.sales.lock().map(|m| m.clone()).unwrap_or_default();
        for (family, kind, help) in [
            (
                "medsettle_sales_total",
                "pharmacy",
                "Pharmacy sales that reached each outcome state (a sale queued and later settled counts in both).",
            ),
            (
                "medsettle_visits_total",
                "outpatient",
                "Outpatient visits that reached each outcome state.",
            ),
        ] {
            out.header(family, help, "counter");
            for outcome in OUTCOMES {
                let n = sales.get(&(kind, outcome)).copied().unwrap_or(0);
                out.sample(family, &[("outcome", outcome)], n as f64);
            }
        }
        let name = "medsettle_upstream_requests_total";
        out.header(
            name,
            "Platform requests by transaction (infno) and result (ok, business, protocol, unsent, unknown).",
            "counter",
        );
        if let Ok(m) = self.upstream.lock() {
            for ((infno, result), n) in m.iter() {
                out.sample(name, &[("infno", infno), ("result", result)], *n as f64);
            }
        }
        let name = "medsettle_upstream_request_duration_seconds";
        out.header(
            name,
            "Time from sending a platform request to its answer, by transaction and result (requests without an answer are not observed).",
            "histogram",
        );
        if let Ok(m) = self.upstream_latency.lock() {
            for ((infno, result), h) in m.iter() {
                h.render(out, name, &[("infno", infno), ("result", result)]);
            }
        }
        let name = "medsettle_card_reads_total";
        out.header(
            name,
            "Card reads by result: ok, or the error's stable code (failed PIN checks count here too).",
            "counter",
        );
        if let Ok(m) = self.card_reads.lock() {
            for (result, n) in m.iter() {
                out.sample(name, &[("result", result)], *n as f64);
            }
        }
        let name = "medsettle_qr_scans_total";
        out.header(
            name,
            "QR codes processed, by kind and result: valid, or the refusal's stable code.",
            "counter",
        );
        if let Ok(m) = self.qr_scans.lock() {
            for ((kind, result), n) in m.iter() {
                out.sample(name, &[("kind", kind), ("result", result)], *n as f64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_outcomes_requests_reads_and_scans() {
        let o = Ops::default();
        o.sale_entered("pharmacy", "settled");
        o.sale_entered("pharmacy", "settled");
        o.sale_entered("pharmacy", "settling");
        o.sale_entered("outpatient", "held");
        o.upstream("2102", "ok", Some(Duration::from_millis(80)));
        o.upstream("2102", "unknown", None);
        o.card_read("ok");
        o.card_read("card.blacklisted");
        o.qr_scan("e-ssc", "qr.expired");
        let mut e = Exposition::default();
        o.render_into(&mut e);
        let text = e.finish();
        for line in [
            "medsettle_sales_total{outcome=\"settled\"} 2\n",
            "medsettle_sales_total{outcome=\"held\"} 0\n",
            "medsettle_visits_total{outcome=\"held\"} 1\n",
            "medsettle_upstream_requests_total{infno=\"2102\",result=\"unknown\"} 1\n",
            "medsettle_upstream_request_duration_seconds_bucket{infno=\"2102\",result=\"ok\",le=\"0.05\"} 0\n",
            "medsettle_upstream_request_duration_seconds_bucket{infno=\"2102\",result=\"ok\",le=\"0.1\"} 1\n",
            "medsettle_upstream_request_duration_seconds_sum{infno=\"2102\",result=\"ok\"} 0.08\n",
            "medsettle_card_reads_total{result=\"card.blacklisted\"} 1\n",
            "medsettle_qr_scans_total{kind=\"e-ssc\",result=\"qr.expired\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        // A transient state is not an outcome; an unanswered request has no latency.
        assert!(!text.contains("settling"), "{text}");
        assert!(!text.contains("duration_seconds_count{infno=\"2102\",result=\"unknown\"}"));
    }
}

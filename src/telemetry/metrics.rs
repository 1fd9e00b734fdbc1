//! A small Prometheus registry: counters and a latency histogram kept in memory, rendered in
//! the text exposition format (version 0.0.4) for `/metrics`.
//!
//! Gauges that describe current state (uptime, queue depth, component health) are not stored
//! here; their owners hand them to [`Exposition`] when a scrape renders. Nothing here does I/O.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the request latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0];

/// One histogram series: cumulative counts per upper bound (`bounds`, seconds, ascending),
/// the count and the sum (kept in whole microseconds so adding never rounds).
pub(super) struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    count: u64,
    sum_us: u64,
}

impl Histogram {
    pub(super) fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            count: 0,
            sum_us: 0,
        }
    }

    pub(super) fn observe(&mut self, took: Duration) {
        let secs = took.as_secs_f64();
        for (i, bound) in self.bounds.iter().enumerate() {
            if secs <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum_us = self
            .sum_us
            .saturating_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }

    /// The `_bucket` (with `le`), `_sum` and `_count` samples of this series of `name`.
    pub(super) fn render(&self, out: &mut Exposition, name: &str, labels: &[(&str, &str)]) {
        let bucket = format!("{name}_bucket");
        let with_le = |le: &str| {
            let mut l = labels.to_vec();
            l.push(("le", le));
            l.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        for (i, bound) in self.bounds.iter().enumerate() {
            out.sample_owned(&bucket, &with_le(&bound.to_string()), self.counts[i] as f64);
        }
        out.sample_owned(&bucket, &with_le("+Inf"), self.count as f64);
        out.sample(&format!("{name}_sum"), labels, self.sum_us as f64 / 1e6);
        out.sample(&format!("{name}_count"), labels, self.count as f64);
    }
}

/// Counters and histograms the daemon accumulates.
#[derive(Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(String, &'static str, u16), u64>>,
    http_latency: Mutex<BTreeMap<String, Histogram>>,
}

impl Metrics {
    /// Records one answered API request. `route` is the route template (never the raw URI, which
    /// could carry personal data).
    pub fn observe_http(&self, route: &str, method: &'static str, status: u16, took: Duration) {
        if let Ok(mut m) = self.http.lock() {
            *m.entry((route.to_owned(), method, status)).or_default() += 1;
        }
        if let Ok(mut h) = self.http_latency.lock() {
            h.entry(route.to_owned())
                .or_insert_with(|| Histogram::new(&BUCKETS))
                .observe(took);
        }
    }

    /// Renders the stored series into `out`.
    pub fn render_into(&self, out: &mut Exposition) {
        out.header(
            "medsettle_http_requests_total",
            "API requests answered, by route template, method and status.",
            "counter",
        );
        if let Ok(m) = self.http.lock() {
            for ((route, method, status), n) in m.iter() {
                let labels = [
                    ("route", route.as_str()),
                    ("method", method),
                    ("status", &status.to_string()),
                ];
                out.sample("medsettle_http_requests_total", &labels, *n as f64);
            }
        }
        let name = "medsettle_http_request_duration_seconds";
        out.header(name, "API request latency by route template.", "histogram");
        if let Ok(h) = self.http_latency.lock() {
            for (route, h) in h.iter() {
                h.render(out, name, &[("route", route)]);
            }
        }
    }
}

/// The text being rendered for one scrape.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// `# HELP` and `# TYPE` lines for a metric family.
    pub fn header(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// One sample line with escaped label values.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let escaped = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.text, "{k}=\"{escaped}\"");
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// [`Exposition::sample`] with owned label pairs.
    pub fn sample_owned(&mut self, name: &str, labels: &[(String, String)], value: f64) {
        let borrowed: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.sample(name, &borrowed, value);
    }

    /// A whole single-sample counter family.
    pub fn counter(&mut self, name: &str, help: &str, value: f64) {
        self.header(name, help, "counter");
        self.sample(name, &[], value);
    }

    /// A whole single-sample gauge family.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.header(name, help, "gauge");
        self.sample(name, &[], value);
    }

    /// A single-sample gauge family whose value is written as given: an exact decimal such as
    /// an amount of money (never through `f64`).
    pub fn gauge_exact(&mut self, name: &str, help: &str, value: &dyn std::fmt::Display) {
        self.header(name, help, "gauge");
        let _ = writeln!(self.text, "{name} {value}");
    }

    /// The finished text.
    pub fn finish(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.observe_http("/v1/status", "GET", 200, Duration::from_micros(1500));
        m.observe_http("/v1/status", "GET", 200, Duration::from_millis(30));
        let mut e = Exposition::default();
        m.render_into(&mut e);
        let text = e.finish();
        assert!(text.contains(
            "medsettle_http_requests_total{route=\"/v1/status\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "medsettle_http_request_duration_seconds_bucket{route=\"/v1/status\",le=\"0.002\"} 1"
        ));
        assert!(text.contains(
            "medsettle_http_request_duration_seconds_bucket{route=\"/v1/status\",le=\"0.05\"} 2"
        ));
        assert!(
            text.contains("medsettle_http_request_duration_seconds_count{route=\"/v1/status\"} 2")
        );
    }

    #[test]
    fn an_amount_is_exposed_exactly() {
        let mut e = Exposition::default();
        // 2^53 + 1 fen has no exact f64; fen divided by 100.0 rounds in binary.
        e.gauge_exact("a", "amount", &medsettle_base::money::Fen(30));
        e.gauge_exact(
            "b",
            "amount",
            &medsettle_base::money::Fen(9_007_199_254_740_993),
        );
        let text = e.finish();
        assert!(text.contains("\na 0.30\n"), "{text}");
        assert!(text.contains("\nb 90071992547409.93\n"), "{text}");
        assert!(text.contains("# TYPE a gauge"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut e = Exposition::default();
        e.sample("x", &[("a", "q\"b\\\n")], 1.0);
        assert_eq!(e.finish(), "x{a=\"q\\\"b\\\\\\n\"} 1\n");
    }
}

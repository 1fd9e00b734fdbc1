//! `/metrics` on the real binary: the exposition parsed and held to Prometheus's naming and
//! format rules (a parser here, no promtool needed), the operator's families present and
//! counting, the `process_*` families, and the read-only metrics token that opens `/metrics`
//! and nothing else.

use std::collections::{BTreeMap, BTreeSet};

use medsettle::config::SecretRef;
use serde_json::json;

use crate::support::process::Process;
use crate::support::{self, TOKEN, Terminal};

const METRICS_TOKEN: &str = "metrics-only-0123456789abcdef";

/// One parsed sample: name, labels (sorted), value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses an exposition and checks the rules; returns the samples, or every broken rule.
fn check(text: &str) -> Result<Vec<Sample>, Vec<String>> {
    let mut problems = Vec::new();
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    let mut helped = BTreeSet::new();
    let mut finished = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut series = BTreeSet::new();
    let mut samples = Vec::new();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && n.starts_with(|c: char| c.is_ascii_lowercase())
    };
    // Base units only (seconds, bytes), and no unit spelled out in a non-base form.
    let bad_units = [
        "ms",
        "millis",
        "milliseconds",
        "us",
        "microseconds",
        "minutes",
        "hours",
        "days",
        "kb",
        "kib",
        "mb",
        "mib",
    ];
    if !text.ends_with('\n') {
        problems.push("the exposition does not end with a newline".to_owned());
    }
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            if !helped.insert(name.to_owned()) {
                problems.push(format!("HELP twice for {name}"));
            }
            if rest.len() <= name.len() + 1 {
                problems.push(format!("empty HELP for {name}"));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if !helped.contains(name) {
                problems.push(format!("TYPE before HELP for {name}"));
            }
            if kinds.insert(name.to_owned(), kind.to_owned()).is_some() {
                problems.push(format!("TYPE twice for {name}"));
            }
            if !["counter", "gauge", "histogram", "summary"].contains(&kind) {
                problems.push(format!("{name}: unknown type {kind}"));
            }
            if !name_ok(name) {
                problems.push(format!("{name}: not a lower-case snake_case metric name"));
            }
            if !(name.starts_with("medsettle_") || name.starts_with("process_")) {
                problems.push(format!("{name}: neither medsettle_ nor process_"));
            }
            if name.split('_').any(|part| bad_units.contains(&part)) {
                problems.push(format!("{name}: not in base units (seconds, bytes)"));
            }
            let ends_total = name.ends_with("_total");
            if (kind == "counter") != ends_total {
                problems.push(format!(
                    "{name}: a {kind} {} end in _total",
                    if ends_total { "must not" } else { "must" }
                ));
            }
            for suffix in ["_sum", "_count", "_bucket"] {
                if name.ends_with(suffix) {
                    problems.push(format!("{name}: ends with the reserved {suffix}"));
                }
            }
            if let Some(prev) = current.replace(name.to_owned()) {
                finished.insert(prev);
            }
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            problems.push(format!("unexpected line {line:?}"));
            continue;
        }
        // A sample: name, optional {labels}, value.
        let (head, value) = match line.rsplit_once(' ') {
            Some(p) => p,
            None => {
                problems.push(format!("no value: {line:?}"));
                continue;
            }
        };
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => match v.parse() {
                Ok(x) => x,
                Err(_) => {
                    problems.push(format!("bad value: {line:?}"));
                    continue;
                }
            },
        };
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => match rest.strip_suffix('}') {
                Some(l) => (
                    n,
                    parse_labels(l).unwrap_or_else(|e| {
                        problems.push(format!("{line:?}: {e}"));
                        BTreeMap::new()
                    }),
                ),
                None => {
                    problems.push(format!("unclosed labels: {line:?}"));
                    continue;
                }
            },
            None => (head, BTreeMap::new()),
        };
        let family = kinds
            .keys()
            .filter(|f| {
                name == f.as_str()
                    || ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| name == format!("{f}{s}"))
            })
            .max_by_key(|f| f.len())
            .cloned();
        let Some(family) = family else {
            problems.push(format!("{name}: a sample without HELP/TYPE"));
            continue;
        };
        if current.as_deref() != Some(family.as_str()) || finished.contains(&family) {
            problems.push(format!("{name}: its family's samples are not together"));
        }
        let kind = kinds[&family].as_str();
        let allowed: Vec<String> = match kind {
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{family}{s}"))
                .collect(),
            "summary" => ["_sum", "_count"]
                .iter()
                .map(|s| format!("{family}{s}"))
                .collect(),
            _ => vec![family.clone()],
        };
        if !allowed.iter().any(|a| a == name) {
            problems.push(format!("{name}: not a sample name of {kind} {family}"));
        }
        if labels.contains_key("le") != name.ends_with("_bucket") {
            problems.push(format!("{name}: `le` belongs on histogram buckets only"));
        }
        if kind == "counter" && (value.is_nan() || value < 0.0) {
            problems.push(format!("{name}: a counter below 0"));
        }
        if !series.insert((name.to_owned(), labels.clone())) {
            problems.push(format!("{name}{labels:?}: the same series twice"));
        }
        samples.push((name.to_owned(), labels, value));
    }
    // Histograms: cumulative buckets in ascending `le`, ending at +Inf = _count, with a _sum.
    for (family, kind) in &kinds {
        if kind != "histogram" {
            continue;
        }
        let mut by_series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for (name, labels, value) in &samples {
            if *name == format!("{family}_bucket") {
                let mut rest = labels.clone();
                let le = rest.remove("le").unwrap();
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::NAN)
                };
                by_series.entry(rest).or_default().push((le, *value));
            }
        }
        for (labels, buckets) in by_series {
            let ascending = buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
            if !ascending {
                problems.push(format!(
                    "{family}{labels:?}: buckets not cumulative in ascending le"
                ));
            }
            let find = |suffix: &str| {
                samples
                    .iter()
                    .find(|(n, l, _)| *n == format!("{family}{suffix}") && *l == labels)
                    .map(|s| s.2)
            };
            let inf = buckets.last().filter(|b| b.0.is_infinite()).map(|b| b.1);
            if inf.is_none() || inf != find("_count") || find("_sum").is_none() {
                problems.push(format!(
                    "{family}{labels:?}: +Inf bucket, _count and _sum disagree or are missing"
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(samples)
    } else {
        Err(problems)
    }
}

/// `a="x",b="y\"z"` into a map; label names checked.
fn parse_labels(mut s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    while !s.is_empty() {
        let (name, rest) = s.split_once("=\"").ok_or("a label without =\"")?;
        let name_ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && !name.starts_with("__")
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    _ => return Err("a bad escape".into()),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err("an unterminated label value".into()),
            }
        };
        if out.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        s = &rest[end + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
    Ok(out)
}

#[test]
fn the_rule_checker_catches_broken_expositions() {
    let good = "# HELP medsettle_a_total A.\n# TYPE medsettle_a_total counter\nmedsettle_a_total{x=\"1\"} 2\n";
    assert!(check(good).is_ok(), "{:?}", check(good));
    for (bad, why) in [
        (
            "# HELP medsettle_a A.\n# TYPE medsettle_a counter\nmedsettle_a 1\n",
            "must end in _total",
        ),
        (
            "# HELP medsettle_a_total A.\n# TYPE medsettle_a_total gauge\nmedsettle_a_total 1\n",
            "must not end in _total",
        ),
        ("medsettle_a_total 1\n", "without HELP/TYPE"),
        (
            "# HELP medsettle_b_seconds_sum B.\n# TYPE medsettle_b_seconds_sum counter\nmedsettle_b_seconds_sum 1\n",
            "_total",
        ),
        (
            "# HELP medsettle_c_ms C.\n# TYPE medsettle_c_ms gauge\nmedsettle_c_ms 1\n",
            "base units",
        ),
        (
            "# HELP medsettle_d_total D.\n# TYPE medsettle_d_total counter\nmedsettle_d_total 1\nmedsettle_d_total 2\n",
            "twice",
        ),
        (
            "# HELP medsettle_h H.\n# TYPE medsettle_h histogram\nmedsettle_h_bucket{le=\"1\"} 3\nmedsettle_h_bucket{le=\"+Inf\"} 2\nmedsettle_h_sum 1\nmedsettle_h_count 2\n",
            "cumulative",
        ),
        (
            "# HELP medsettle_e E.\n# TYPE medsettle_e gauge\nmedsettle_e{__x=\"1\"} 1\n",
            "label name",
        ),
        (
            "# HELP medsettle_f F.\n# TYPE medsettle_f gauge\n# HELP medsettle_g G.\n# TYPE medsettle_g gauge\nmedsettle_g 1\nmedsettle_f 1\n",
            "together",
        ),
    ] {
        let problems = check(bad).expect_err(bad);
        assert!(
            problems.iter().any(|p| p.contains(why)),
            "{bad:?}: expected {why:?}, got {problems:?}"
        );
    }
}

async fn scrape(p: &Process, token: &str) -> (u16, String) {
    let r = support::client()
        .get(p.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.2)
}

#[tokio::test]
async fn metrics_follow_the_rules_count_what_happened_and_take_the_metrics_token() {
    let t = Terminal::new();
    let token_file = t.path().join("metrics-token");
    std::fs::write(&token_file, format!("{METRICS_TOKEN}\n")).unwrap();
    let text = t.config_with(|c| c.api.metrics_token = Some(SecretRef::File(token_file)));
    let p = Process::start_config(t.path(), &text, |_| {}).await;
    let c = support::client();

    // Something to count: two codes typed in by hand.
    for _ in 0..2 {
        let r = c
            .post(p.url("/v1/qr/submit"))
            .bearer_auth(TOKEN)
            .json(&json!({ "text": "not a credential" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    let (status, text) = scrape(&p, METRICS_TOKEN).await;
    assert_eq!(status, 200, "{text}");
    let samples = check(&text).unwrap_or_else(|problems| {
        panic!(
            "/metrics breaks the rules:\n{}\n\n{text}",
            problems.join("\n")
        )
    });
    let scans: f64 = samples
        .iter()
        .filter(|(n, _, _)| n == "medsettle_qr_scans_total")
        .map(|s| s.2)
        .sum();
    assert_eq!(scans, 2.0, "{text}");
    assert_eq!(
        value(&samples, "medsettle_sales_total", &[("outcome", "settled")]),
        Some(0.0)
    );
    assert_eq!(
        value(&samples, "medsettle_visits_total", &[("outcome", "held")]),
        Some(0.0)
    );
    assert_eq!(value(&samples, "medsettle_sales_in_doubt", &[]), Some(0.0));
    assert_eq!(value(&samples, "medsettle_offline_sales", &[]), Some(0.0));
    assert!(value(&samples, "medsettle_qr_decoder_panics_total", &[]).is_some());
    let count = value(
        &samples,
        "medsettle_store_write_duration_seconds_count",
        &[],
    )
    .unwrap();
    assert!(count >= 1.0, "the start-up wrote to the store: {text}");
    // The process families describe the daemon, not this test.
    let rss = value(&samples, "process_resident_memory_bytes", &[]).unwrap();
    let (rss_kib, peak_kib) = support::memory(p.pid());
    assert!(
        rss as u64 >= rss_kib * 1024 / 2 && rss as u64 <= peak_kib * 1024,
        "{rss} bytes vs VmRSS {rss_kib} KiB, VmHWM {peak_kib} KiB"
    );
    assert!(value(&samples, "process_open_fds", &[]).unwrap() >= 4.0);
    let start = value(&samples, "process_start_time_seconds", &[]).unwrap();
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(
        start <= now + 1.0 && start > now - 600.0,
        "{start} vs {now}"
    );
    assert!(value(&samples, "process_cpu_seconds_total", &[]).unwrap() > 0.0);

    // The API token opens /metrics too; the metrics token opens nothing else.
    assert_eq!(scrape(&p, TOKEN).await.0, 200);
    assert_eq!(scrape(&p, "wrong").await.0, 401);
    for (method, path) in [
        ("GET", "/v1/status"),
        ("GET", "/v1/queue"),
        ("POST", "/v1/sales"),
    ] {
        let r = c
            .request(method.parse().unwrap(), p.url(path))
            .bearer_auth(METRICS_TOKEN)
            .header("Idempotency-Key", "k-metrics-1")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {path} took the metrics token");
    }
    p.signal(15);
    assert!(p.wait().0.success());
}

/// A card sale settled through the real binary against the sandbox insurer shows in the
/// operator's families with exact counts (the process is the test's own).
#[tokio::test]
async fn a_settled_card_sale_is_counted_by_outcome_infno_and_read_result() {
    use crate::support::{Api, NORMAL_CARD, Timeouts};
    let sandbox = medsettle_sandbox::start(medsettle_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    let t = Terminal::against_sandbox(&sandbox.base_url(), Timeouts(300, 2000, 3000), "");
    let text = t.config_with_virtual_card(NORMAL_CARD);
    let run = t.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let p = Process::start_config(&run, &text, |c| {
        c.env("RUST_LOG", "warn");
    })
    .await;
    let api = Api::new(&p);
    let v = api.online_sale("25.00", json!({})).await;
    assert_eq!(v["state"], "settled", "{v}");

    let (status, text) = scrape(&p, TOKEN).await;
    assert_eq!(status, 200);
    let samples = check(&text).unwrap_or_else(|problems| {
        panic!(
            "/metrics breaks the rules:\n{}\n\n{text}",
            problems.join("\n")
        )
    });
    let v = |name: &str, labels: &[(&str, &str)]| value(&samples, name, labels).unwrap_or(0.0);
    assert_eq!(
        v("medsettle_sales_total", &[("outcome", "settled")]),
        1.0,
        "{text}"
    );
    assert_eq!(v("medsettle_sales_total", &[("outcome", "unknown")]), 0.0);
    assert_eq!(
        v("medsettle_card_reads_total", &[("result", "ok")]),
        1.0,
        "{text}"
    );
    let ok_2102 = [("infno", "2102"), ("result", "ok")];
    assert_eq!(
        v("medsettle_upstream_requests_total", &ok_2102),
        1.0,
        "{text}"
    );
    assert_eq!(
        v(
            "medsettle_upstream_request_duration_seconds_count",
            &ok_2102
        ),
        1.0,
        "{text}"
    );
    assert!(v("medsettle_upstream_request_duration_seconds_sum", &ok_2102) > 0.0);
    assert_eq!(v("medsettle_sales_in_doubt", &[]), 0.0);
    p.signal(15);
    assert!(p.wait().0.success());
}

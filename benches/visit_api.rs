//! An outpatient visit end to end through the local API with 20 fee lines: `POST /v1/visits`
//! (1101 + 2201 + 2203A + 2204, every step durable), `…/presettle` (2206), `…/confirm` (2207,
//! recorded before it is sent) against the sandbox insurer in-process on loopback with zero
//! injected latency. Card I/O is excluded: the card is read once and its `credential_id`
//! reused, and `settle.skip_pin_consent` (sandbox only) so consent needs no PIN. Each visit
//! uses its own 门诊号 (the sandbox refuses a second open visit under one). Run with
//! `cargo bench --bench visit_api` (release); `BENCH_VISITS=n` measures n visits instead of
//! 300. It also prints the store writes and commits per visit (from `/metrics`), which do not
//! depend on the machine's load. `BENCH_WINDOWS=file` writes each visit's window on the
//! monotonic clock, for `benches/stall_windows.py` to lay over a `perf record` of the run.

use std::time::{Duration, Instant};

use medsettle_test_support::bench::{ms, quantile, runtime};
use serde_json::{Value, json};

const VISITS: usize = 300;
const WARM_UP: usize = 20;
const LINES: usize = 20;

/// `BENCH_LINES` overrides the line count (to see what the size of a visit costs).
fn lines() -> usize {
    std::env::var("BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LINES)
}

mod common {
    pub mod counter;
}

use common::counter::Counter;

fn main() {
    runtime().block_on(run());
}

/// The visit request: 内科, one diagnosis, 20 lines of 0.01–0.20 yuan.
fn visit(credential: &str, n: usize) -> Value {
    let items: Vec<Value> = (1..=lines())
        .map(|i| {
            json!({
                "code": format!("XA01BAA{i:03}"),
                "local_code": format!("L{i:03}"),
                "name": "门诊药品",
                "cnt": "1",
                "pric": format!("0.{i:02}"),
            })
        })
        .collect();
    json!({
        "credential_id": credential,
        "ipt_otp_no": format!("MZB{n:06}"),
        "dept_code": "A03", "dept_name": "内科", "caty": "A03",
        "atddr_no": "D110105000001", "dr_name": "李医生",
        "diagnoses": [{"diag_srt_no": 1, "diag_code": "J06.900", "diag_name": "急性上呼吸道感染"}],
        "items": items,
    })
}

async fn run() {
    let counter = Counter::open().await;
    let credential = counter.credential().await;
    let mut store_before = (0.0, 0.0);
    let mut whole = Vec::with_capacity(VISITS);
    let mut steps: [Vec<Duration>; 3] = Default::default();
    let visits = std::env::var("BENCH_VISITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(VISITS);
    let mut windows = String::new();
    let mono = |t: Instant| {
        // CLOCK_MONOTONIC now, minus how long ago `t` was: perf's `-k CLOCK_MONOTONIC` clock.
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec it is given.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let now = ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128;
        now - t.elapsed().as_nanos()
    };
    for i in 0..visits + WARM_UP {
        let t0 = Instant::now();
        let (s, v) = counter.post("/v1/visits", visit(&credential, i)).await;
        assert_eq!((s, v["state"].as_str()), (201, Some("uploaded")), "{v}");
        let t1 = Instant::now();
        let id = v["id"].as_str().unwrap().to_owned();
        let (s, v) = counter
            .post(&format!("/v1/visits/{id}/presettle"), json!({}))
            .await;
        assert_eq!((s, v["state"].as_str()), (200, Some("presettled")), "{v}");
        let t2 = Instant::now();
        let (s, v) = counter
            .post(&format!("/v1/visits/{id}/confirm"), json!({}))
            .await;
        assert_eq!((s, v["state"].as_str()), (200, Some("settled")), "{v}");
        let t3 = Instant::now();
        if i + 1 == WARM_UP {
            store_before = counter.store_counts().await;
        }
        if i >= WARM_UP {
            windows.push_str(&format!(
                "{} {} {} {} {}\n",
                (t3 - t0).as_micros(),
                mono(t0),
                mono(t1),
                mono(t2),
                mono(t3)
            ));
            whole.push(t3 - t0);
            steps[0].push(t1 - t0);
            steps[1].push(t2 - t1);
            steps[2].push(t3 - t2);
        }
    }
    // Whether a visit gets slower as the store fills: the first and the last 100.
    let p50_of = |d: &[Duration]| {
        let mut d = d.to_vec();
        d.sort_unstable();
        ms(quantile(&d, 0.5))
    };
    let edge = whole.len().min(100);
    let (first, last) = (p50_of(&whole[..edge]), p50_of(&whole[whole.len() - edge..]));
    if let Ok(path) = std::env::var("BENCH_WINDOWS") {
        std::fs::write(path, &windows).unwrap();
    }
    let store_after = counter.store_counts().await;
    for s in steps.iter_mut() {
        s.sort_unstable();
    }
    whole.sort_unstable();
    let line = |what: &str, s: &[Duration]| {
        println!(
            "{what:<58} p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
            ms(quantile(s, 0.5)),
            ms(quantile(s, 0.99)),
            ms(quantile(s, 1.0)),
        );
    };
    println!(
        "outpatient visit via the API, {} lines, card I/O excluded ({visits} visits after {WARM_UP} warm-up; {}):",
        lines(),
        counter.mode()
    );
    line(
        "  create + register + upload (1101, 2201, 2203A, 2204)",
        &steps[0],
    );
    line("  presettle (2206)", &steps[1]);
    line("  confirm (2207)", &steps[2]);
    line("  the whole visit", &whole);
    println!(
        "  p50 of the first {edge} visits {first:.2} ms, of the last {edge} {last:.2} ms; per visit {:.1} store writes in {:.1} commits",
        (store_after.0 - store_before.0) / visits as f64,
        (store_after.1 - store_before.1) / visits as f64,
    );
    assert_eq!(
        counter.sandbox.ledger().effective().count(),
        visits + WARM_UP
    );
    counter.close().await;
}

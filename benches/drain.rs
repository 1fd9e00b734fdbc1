//! Draining a backlog against a slow platform (issue 15). Run with `cargo bench --bench drain`
//! (release).
//!
//! 1,000 stored card sales are settled by the forwarder (1101 + 2101 + 2102 each, every step
//! durable) against the in-process sandbox insurer on loopback with 100 ms injected latency on
//! every request (`Fault::Latency { ms: 100 }`), `settle.forward_concurrency` sales in flight
//! (the default, or `DRAIN_CONCURRENCY=n`). Sequential forwarding would take about
//! 1,000 × 3 × 100 ms = 300 s; the goal is ≤ 60 s. A short sequential run (50 sales,
//! concurrency 1) is measured beside it for the ratio.

use std::sync::Arc;
use std::time::{Duration, Instant};

use medsettle::config::Config;
use medsettle::credential::Credentials;
use medsettle::settle::Confirmation;
use medsettle::store::Store;
use medsettle_sandbox::{Fault, FaultRule, SandboxConfig};
use medsettle_test_support::bench;

const SALES: usize = 1_000;
const SEQUENTIAL: usize = 50;
const LATENCY_MS: u64 = 100;
const GOAL: Duration = Duration::from_secs(60);

fn main() {
    let rt = medsettle_test_support::bench::runtime();
    let dir = tempfile::tempdir_in(".").unwrap();
    let width = std::env::var("DRAIN_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| medsettle::settle::options::SettleConfig::default().forward_concurrency);
    rt.block_on(async {
        let sequential = drain(&dir.path().join("sequential"), SEQUENTIAL, 1).await;
        println!(
            "drain, forward_concurrency 1: {SEQUENTIAL} sales in {:.1} s ({:.1} sales/s; {:.0} s per {SALES})",
            sequential.as_secs_f64(),
            SEQUENTIAL as f64 / sequential.as_secs_f64(),
            sequential.as_secs_f64() * (SALES / SEQUENTIAL) as f64
        );
        let took = drain(&dir.path().join("concurrent"), SALES, width).await;
        println!(
            "drain, forward_concurrency {width}: {SALES} sales in {:.1} s ({:.1} sales/s; goal ≤ {} s: {})",
            took.as_secs_f64(),
            SALES as f64 / took.as_secs_f64(),
            GOAL.as_secs(),
            if took <= GOAL { "met" } else { "MISSED" }
        );
    });
}

/// Stores `n` sales, then times the forwarder until all are settled, `width` in flight.
async fn drain(dir: &std::path::Path, n: usize, width: u32) -> Duration {
    std::fs::create_dir_all(dir).unwrap();
    let sandbox = medsettle_sandbox::start(SandboxConfig {
        faults: vec![FaultRule {
            infno: "*".into(),
            fault: Fault::Latency { ms: LATENCY_MS },
            times: None,
            probability_permille: None,
            seed: 1,
        }],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let mut config = Config::demo(dir, "127.0.0.1:0".parse().unwrap());
    config.store.path = dir.join("drain.db");
    config.settle.offline_max_count = 100_000;
    config.settle.offline_max_total = "100000000.00".into();
    config.settle.forward_concurrency = width;
    // The sandbox insurer asks no PIN (as in the demo).
    config.settle.skip_pin_consent = true;
    config.upstream = Some(medsettle_test_support::sandbox_upstream(
        &sandbox.base_url(),
        "MOCK",
    ));
    let (store, _) = Store::open(&config.store.path, Duration::from_secs(5)).unwrap();
    let credentials = Arc::new(Credentials::default());
    let client =
        Arc::new(medsettle::daemon::upstream::build(&config, store.clone(), None, None).unwrap());
    let engine = bench::engine(&store, &config, &credentials, Some(client));
    for id in bench::new_sales(&engine, &credentials, n).await {
        engine
            .confirm(
                &id,
                Confirmation {
                    pin: None,
                    collected: None,
                },
            )
            .await
            .unwrap();
    }
    let started = Instant::now();
    let mut settled = 0;
    while settled < n {
        let pass = engine.forward_pass().await.unwrap();
        assert!(!pass.link_down, "the sandbox is up");
        settled += pass.progressed as usize;
    }
    let took = started.elapsed();
    assert_eq!(sandbox.ledger().effective().count(), n);
    store.close().await.unwrap();
    sandbox.shutdown().await;
    took
}

//! An online card sale end to end through the local API: `POST /v1/sales`, `…/presettle`
//! (1101 + 2101), `…/confirm` (2102, every step durable) against the sandbox insurer in-process
//! on loopback with zero injected latency. Card I/O is excluded: the card is read once and its
//! `credential_id` reused, and `settle.skip_pin_consent` (sandbox only) so consent needs no PIN
//! (no second card read). Run with `cargo bench --bench sale_api` (release).

use std::time::Instant;

use medsettle_test_support::bench::{ms, quantile, runtime};
use serde_json::json;

const SALES: usize = 400;

mod common {
    pub mod counter;
}

use common::counter::Counter;

fn main() {
    runtime().block_on(run());
}

async fn run() {
    let counter = Counter::open().await;
    let credential = counter.credential().await;
    let mut samples = Vec::with_capacity(SALES);
    let mut store_before = (0.0, 0.0);
    for i in 0..SALES + 20 {
        if i == 20 {
            store_before = counter.store_counts().await;
        }
        let t0 = Instant::now();
        let (s, sale) = counter.post(
            "/v1/sales",
            json!({"credential_id": credential, "items": [{"code": "XA01", "cnt": "1", "pric": "0.10"}]}),
        )
        .await;
        assert_eq!(s, 201, "{sale}");
        let id = sale["id"].as_str().unwrap().to_owned();
        let (s, v) = counter
            .post(&format!("/v1/sales/{id}/presettle"), json!({}))
            .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = counter
            .post(&format!("/v1/sales/{id}/confirm"), json!({}))
            .await;
        assert_eq!((s, v["state"].as_str()), (200, Some("settled")), "{v}");
        if i >= 20 {
            samples.push(t0.elapsed());
        }
    }
    let store_after = counter.store_counts().await;
    samples.sort_unstable();
    let at = |q: f64| quantile(&samples, q);
    println!(
        "online card sale via the API (create + presettle + confirm, card I/O excluded): \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} sales after 20 warm-up; {})",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0)),
        samples.len(),
        counter.mode()
    );
    println!(
        "  per sale {:.1} store writes in {:.1} commits",
        (store_after.0 - store_before.0) / SALES as f64,
        (store_after.1 - store_before.1) / SALES as f64,
    );
    assert_eq!(counter.sandbox.ledger().effective().count(), SALES + 20);
    counter.close().await;
}

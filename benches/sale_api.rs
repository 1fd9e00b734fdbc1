//! An online card sale end to end through the local API: `POST /v1/sales`, `…/presettle`
//! (1101 + 2101), `…/confirm` (2102, every step durable) against the sandbox insurer in-process
//! on loopback with zero injected latency. Card I/O is excluded: the card is read once and its
//! `credential_id` reused, and `settle.skip_pin_consent` (sandbox only) so consent needs no PIN
//! (no second card read). Run with `cargo bench --bench sale_api` (release).

use std::sync::Arc;
use std::time::Instant;

use medsettle::card::SlotKind;
use medsettle_test_support::bench::{ms, quantile, runtime};
use medsettle_test_support::{InProcess, TOKEN, Terminal, sandbox_upstream};
use medsettle_vcard::{InProcessReader, Profile, VirtualCard};
use serde_json::{Value, json};

const SALES: usize = 400;

fn main() {
    runtime().block_on(run());
}

async fn run() {
    let sandbox = medsettle_sandbox::start(medsettle_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    let terminal = Terminal::new();
    let mut config = terminal.config();
    config.upstream = Some(sandbox_upstream(&sandbox.base_url(), "MOCK"));
    config.settle.skip_pin_consent = true;
    config.settle.reconcile_at = String::new();
    config.log.level = "warn".into();
    let profile = Profile::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/cards/normal.json"
    ))
    .unwrap();
    let reader = InProcessReader::new(SlotKind::Contact);
    reader.insert(VirtualCard::from_profile(profile).unwrap());
    let daemon = InProcess::start_config(&terminal, config, Some(Arc::new(reader)), None).await;
    let base = format!("http://{}", daemon.addr);
    let http = reqwest::Client::builder().http1_only().build().unwrap();
    let post = |path: String, body: Value| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let r = http
                .post(url)
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (_, card) = post("/v1/card/read".into(), json!({})).await;
    let credential = card["credential_id"].as_str().unwrap().to_owned();
    let mut samples = Vec::with_capacity(SALES);
    for i in 0..SALES + 20 {
        let t0 = Instant::now();
        let (s, sale) = post(
            "/v1/sales".into(),
            json!({"credential_id": credential, "items": [{"code": "XA01", "cnt": "1", "pric": "0.10"}]}),
        )
        .await;
        assert_eq!(s, 201, "{sale}");
        let id = sale["id"].as_str().unwrap().to_owned();
        let (s, v) = post(format!("/v1/sales/{id}/presettle"), json!({})).await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = post(format!("/v1/sales/{id}/confirm"), json!({})).await;
        assert_eq!((s, v["state"].as_str()), (200, Some("settled")), "{v}");
        if i >= 20 {
            samples.push(t0.elapsed());
        }
    }
    samples.sort_unstable();
    let at = |q: f64| quantile(&samples, q);
    println!(
        "online card sale via the API (create + presettle + confirm, card I/O excluded): \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} sales after 20 warm-up)",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0)),
        samples.len()
    );
    assert_eq!(sandbox.ledger().effective().count(), SALES + 20);
    daemon.shutdown().await;
    sandbox.shutdown().await;
}

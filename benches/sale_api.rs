//! An online card sale end to end through the local API: `POST /v1/sales`, `…/presettle`
//! (1101 + 2101), `…/confirm` (2102, every step durable) against the sandbox insurer in-process
//! on loopback with zero injected latency. Card I/O is excluded: the card is read once and its
//! `credential_id` reused, and the platform is `signtype = "MOCK"` so consent needs no PIN
//! (no second card read). Run with `cargo bench --bench sale_api` (release).

use std::sync::Arc;
use std::time::{Duration, Instant};

use medsettle::card::SlotKind;
use medsettle::daemon::{Control, Daemon, Environment, Notifier};
use medsettle_vcard::{InProcessReader, Profile, VirtualCard};
use serde_json::{Value, json};

const SALES: usize = 400;
const TOKEN: &str = "bench-token-0123456789abcdef";

fn main() {
    medsettle::upstream::transport::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let sandbox = medsettle_sandbox::start(medsettle_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir_in(".").unwrap();
    std::fs::write(dir.path().join("api-token"), format!("{TOKEN}\n")).unwrap();
    let mut config = medsettle::config::Config::demo(dir.path(), "127.0.0.1:0".parse().unwrap());
    config.upstream = Some(
        toml::from_str(&format!(
            "base_url = \"{}\"\nallow_plain_http = true\nsigntype = \"MOCK\"\n",
            sandbox.base_url()
        ))
        .unwrap(),
    );
    config.settle.reconcile_at = String::new();
    config.log.level = "warn".into();
    let profile = Profile::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/cards/normal.json"
    ))
    .unwrap();
    let reader = InProcessReader::new(SlotKind::Contact);
    reader.insert(VirtualCard::from_profile(profile).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let env = Environment {
        notifier: Notifier::disabled(),
        credentials_dir: None,
        log: None,
        events: medsettle::events::EventBus::default(),
        readers: Some(Arc::new(reader)),
        scans: None,
    };
    let daemon = Daemon::start(config, listener, env).await.unwrap();
    let base = format!("http://{}", daemon.local_addr().unwrap());
    let (control, rx) = tokio::sync::mpsc::channel(2);
    let task = tokio::spawn(daemon.serve(rx));
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
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "online card sale via the API (create + presettle + confirm, card I/O excluded): \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} sales after 20 warm-up)",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0)),
        samples.len()
    );
    assert_eq!(sandbox.ledger().effective().count(), SALES + 20);
    control.send(Control::Shutdown).await.unwrap();
    task.await.unwrap().unwrap();
    sandbox.shutdown().await;
}

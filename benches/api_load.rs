//! The local API under load, on loopback: `GET /v1/status` and `POST /v1/sales` (a durable
//! sale creation) from concurrent clients (a Rust load generator on tokio + reqwest, one
//! connection per client, keep-alive), against the real release binary (`medsettle run`) with
//! the virtual card reader and the sandbox insurer; the daemon's RSS is read from /proc during
//! and after the load. Run with `cargo bench --bench api_load`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use medsettle_test_support::bench::{quantile, rss_kib, runtime};
use medsettle_test_support::{Process, TOKEN, Terminal, sandbox_upstream};
use serde_json::json;

const CLIENTS: usize = 32;
const RUN: Duration = Duration::from_secs(5);

fn main() {
    runtime().block_on(run());
}

/// The real binary on the in-process virtual card, settling with the sandbox at `sandbox`.
async fn start(terminal: &Terminal, sandbox: &str) -> Process {
    let card = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cards/normal.json");
    let config = terminal.config_with(|c| {
        c.readers.backend = medsettle::config::ReaderBackend::Virtual;
        c.readers.virtual_profile = Some(card.into());
        c.upstream = Some(sandbox_upstream(sandbox, "MOCK"));
        c.settle.skip_pin_consent = true;
        c.settle.reconcile_at = String::new();
        c.log.level = "warn".into();
    });
    Process::start_config(terminal.path(), &config, |_| {}).await
}

/// `CLIENTS` clients calling `call` in a loop for `RUN`; latencies of every call.
async fn load<F, Fut>(call: F) -> (Vec<Duration>, Duration)
where
    F: Fn(reqwest::Client) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u16> + Send,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let call = Arc::clone(&call);
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .http1_only()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut samples = Vec::new();
            while started.elapsed() < RUN {
                let t0 = Instant::now();
                let status = call(client.clone()).await;
                assert!((200..300).contains(&status), "HTTP {status}");
                samples.push(t0.elapsed());
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (all, started.elapsed())
}

fn report(what: &str, samples: &mut [Duration], took: Duration, rss: u64) {
    samples.sort_unstable();
    let at = |q: f64| quantile(samples, q);
    println!(
        "{what:<34} {:>7.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests, {CLIENTS} clients); daemon RSS {:.1} MiB",
        samples.len() as f64 / took.as_secs_f64(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples.len(),
        rss as f64 / 1024.0
    );
}

async fn run() {
    let sandbox = medsettle_sandbox::start(medsettle_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    let terminal = Terminal::new();
    let daemon = start(&terminal, &sandbox.base_url()).await;
    let pid = daemon.pid();
    let base = Arc::new(daemon.url(""));
    let idle = rss_kib(pid);
    let http = reqwest::Client::new();
    let card: serde_json::Value = http
        .post(format!("{base}/v1/card/read"))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let credential = Arc::new(card["credential_id"].as_str().unwrap().to_owned());

    let peak = Arc::new(std::sync::atomic::AtomicU64::new(idle));
    let watcher = {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let b = Arc::clone(&base);
    let (mut samples, took) = load(move |c| {
        let url = format!("{b}/v1/status");
        async move {
            c.get(url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    })
    .await;
    report(
        "GET /v1/status",
        &mut samples,
        took,
        peak.load(std::sync::atomic::Ordering::Relaxed),
    );

    let b = Arc::clone(&base);
    let cred = Arc::clone(&credential);
    let (mut samples, took) = load(move |c| {
        let url = format!("{b}/v1/sales");
        let body = json!({
            "credential_id": *cred,
            "items": [{"code": "XA01BAA123A001010100001", "cnt": "1", "pric": "1.00"}]
        });
        async move {
            c.post(url)
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    })
    .await;
    report(
        "POST /v1/sales (durable create)",
        &mut samples,
        took,
        peak.load(std::sync::atomic::Ordering::Relaxed),
    );
    watcher.abort();
    println!(
        "daemon RSS: idle {:.1} MiB, peak under load {:.1} MiB, after {:.1} MiB",
        idle as f64 / 1024.0,
        peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0,
        rss_kib(pid) as f64 / 1024.0
    );
    drop(daemon);
    sandbox.shutdown().await;
}

//! The local API under load, on loopback: `GET /v1/status` and `POST /v1/sales` (a durable
//! sale creation) from concurrent clients (a Rust load generator on tokio + reqwest, one
//! connection per client, keep-alive), against the real release binary (`medsettle run`) with
//! the virtual card reader and the sandbox insurer; the daemon's RSS is read from /proc during
//! and after the load. Run with `cargo bench --bench api_load`.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_medsettle");
const TOKEN: &str = "bench-token-0123456789abcdef";
const CLIENTS: usize = 32;
const RUN: Duration = Duration::from_secs(5);

fn main() {
    medsettle::upstream::transport::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn start(dir: &Path, sandbox: &str) -> (Child, String) {
    std::fs::write(dir.join("api-token"), format!("{TOKEN}\n")).unwrap();
    let card = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cards/normal.json");
    let config = dir.join("medsettle.toml");
    std::fs::write(
        &config,
        format!(
            "[terminal]\nid = \"T0001\"\nfixmedins_code = \"H11010500001\"\n\
             fixmedins_name = \"基准测试\"\nregion = \"110105\"\n\n\
             [store]\npath = \"{}\"\n\n[readers]\nbackend = \"virtual\"\nvirtual_profile = \"{card}\"\n\n\
             [api]\nlisten = \"127.0.0.1:0\"\ntoken = {{ file = \"{}\" }}\n\n\
             [upstream]\nbase_url = \"{sandbox}\"\nallow_plain_http = true\nsigntype = \"MOCK\"\n\n\
             [settle]\nreconcile_at = \"\"\n\n[log]\nlevel = \"warn\"\n",
            dir.join("medsettle.db").display(),
            dir.join("api-token").display()
        ),
    )
    .unwrap();
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 4096];
    let addr = loop {
        let n = sock.recv(&mut buf).expect("READY from medsettle");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if let (true, Some(rest)) = (text.contains("READY=1"), text.split("API on ").nth(1)) {
            break rest
                .split([',', ' ', '\n'])
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    };
    (child, addr)
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
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
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
    let dir = tempfile::tempdir_in(".").unwrap();
    let (mut child, addr) = start(dir.path(), &sandbox.base_url());
    let pid = child.id();
    let base = Arc::new(format!("http://{addr}"));
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
    let _ = child.kill();
    let _ = child.wait();
    sandbox.shutdown().await;
}

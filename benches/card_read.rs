//! Card-present → validated record, through the whole stack: `POST /v1/card/read` on the real
//! `medsettle` binary with `readers.backend = "pcsc"`, a private pcscd with the vpcd driver,
//! and the virtual card of `fixtures/cards/normal.json` already in the reader. Run with
//! `cargo bench --bench card_read` (needs pcscd and vsmartcard-vpcd; `scripts/bootstrap`).
//!
//! For card latencies of 0 and 15 ms per APDU it reports the wall time of the API call, the
//! APDU count, and the daemon's own overhead: wall time minus the card's own time (what the
//! virtual card actually spent in its latency sleeps, measured by the card). The overhead includes HTTP on loopback, pcscd and vpcd, SCardConnect,
//! the transaction, the card reset after use, parsing and validation.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use medsettle_vcard::{Profile, Testbed, VirtualCard, VpcdConnection};

const BIN: &str = env!("CARGO_BIN_EXE_medsettle");
const ROUNDS: usize = 60;
const TOKEN: &str = "bench-token-0123456789abcdef";

fn main() {
    let bed = Testbed::start("Bench Reader").expect("a private pcscd (pcscd + vsmartcard-vpcd)");
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_daemon(dir.path(), &bed);
    let profile = Profile::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/cards/normal.json"
    ))
    .unwrap();
    let card = VirtualCard::from_profile(profile).unwrap();
    let conn = VpcdConnection::connect(bed.reader("Bench Reader 00 00").addr(), card).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    medsettle::upstream::transport::install_crypto_provider();
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/v1/card/read");
    println!(
        "| card latency | APDUs | wall p50 | wall p90 | card time p50 | overhead p50 | overhead p90 |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for latency_ms in [0u64, 15] {
        conn.set_latency(Duration::from_millis(latency_ms));
        let mut walls = Vec::new();
        let mut overheads = Vec::new();
        let mut cards = Vec::new();
        let mut apdus = 0;
        for i in 0..ROUNDS + 5 {
            let card_before = conn.card_time();
            let started = Instant::now();
            let body: serde_json::Value = rt.block_on(async {
                let resp = client
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .json(&serde_json::json!({ "wait_ms": 10000 }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                resp.json().await.unwrap()
            });
            let wall = started.elapsed();
            let card = conn.card_time() - card_before;
            apdus = body["apdus"].as_u64().unwrap();
            if i >= 5 {
                // The first rounds warm up connections and caches.
                walls.push(wall);
                cards.push(card);
                overheads.push(wall.saturating_sub(card));
            }
        }
        let q = |v: &mut Vec<Duration>, p: f64| {
            v.sort_unstable();
            v[((v.len() - 1) as f64 * p).round() as usize]
        };
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "| {latency_ms} ms | {apdus} | {:.2} ms | {:.2} ms | {:.1} ms | {:.2} ms | {:.2} ms |",
            ms(q(&mut walls, 0.5)),
            ms(q(&mut walls, 0.9)),
            ms(q(&mut cards, 0.5)),
            ms(q(&mut overheads, 0.5)),
            ms(q(&mut overheads, 0.9)),
        );
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn start_daemon(dir: &Path, bed: &Testbed) -> (Child, String) {
    std::fs::write(dir.join("api-token"), format!("{TOKEN}\n")).unwrap();
    let config = dir.join("medsettle.toml");
    std::fs::write(
        &config,
        format!(
            "[terminal]\nid = \"T0001\"\nfixmedins_code = \"H11010500001\"\n\
             fixmedins_name = \"基准测试\"\nregion = \"110105\"\n\n\
             [store]\npath = \"{}\"\n\n[readers]\nbackend = \"pcsc\"\n\n\
             [api]\nlisten = \"127.0.0.1:0\"\ntoken = {{ file = \"{}\" }}\n\n\
             [log]\nlevel = \"warn\"\n",
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
        .env("PCSCLITE_CSOCK_NAME", bed.socket_path())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 4096];
    let addr = loop {
        let n = sock.recv(&mut buf).expect("READY from medsettle");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let ready = text.contains("READY=1");
        if let (true, Some(rest)) = (ready, text.split("API on ").nth(1)) {
            break rest
                .split([',', ' ', '\n'])
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    };
    (child, addr)
}

//! Resource bounds under a flood, on the real binary: camera frames looping with no debounce,
//! a scan box (a pty) sent tens of thousands of codes at once, thousands of API calls (reads,
//! submitted codes, malformed bodies) from more clients than `api.max_connections`, and event
//! streams whose clients never read. Three identical rounds: memory must level off (what the
//! second and third rounds add is small) and stay under a ceiling, the daemon must keep
//! answering, and the scan box's drops must be logged at most `log.repeat_burst` times.
//! Numbers are printed; the same flood in a release build is recorded in benches/README.md.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::qr::next_event;
use crate::support::process::Process;
use crate::support::{self, TOKEN, Terminal, memory};

/// Requests per round, spread over [`CLIENTS`] concurrent clients.
const REQUESTS: usize = 3_000;
const CLIENTS: usize = 48;
/// Clients that open `/v1/events` and never read.
const DEAF_STREAMS: usize = 24;
/// Scans written to the scan box per round.
const SCANS: usize = 20_000;
const MAX_CONNECTIONS: usize = 64;

/// Opens an event stream and never reads it.
async fn deaf_stream(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req =
        format!("GET /v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s
}

/// One client's share of the round: a mix of reads, submitted codes and bad requests.
async fn client_load(base: String, n: usize, seed: usize) -> (usize, usize) {
    let c = support::client();
    let (mut ok, mut refused) = (0, 0);
    for i in 0..n {
        let k = seed * 7919 + i;
        let resp = match k % 5 {
            0 => c.get(format!("{base}/v1/status")).bearer_auth(TOKEN).send(),
            1 => c.get(format!("{base}/v1/queue")).bearer_auth(TOKEN).send(),
            2 => c
                .post(format!("{base}/v1/qr/submit"))
                .bearer_auth(TOKEN)
                .json(&json!({ "text": format!("NOT-A-CREDENTIAL-{k}") }))
                .send(),
            3 => c
                .post(format!("{base}/v1/sales"))
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(format!("{{\"items\": [{k}"))
                .send(),
            _ => c
                .post(format!("{base}/v1/qr/submit"))
                .bearer_auth(TOKEN)
                .json(&json!({ "text": "x".repeat(4096) }))
                .send(),
        };
        let status = resp.await.unwrap().status().as_u16();
        assert!(status < 500 || status == 503, "{status} under flood");
        if status < 400 {
            ok += 1;
        } else {
            refused += 1;
        }
    }
    (ok, refused)
}

async fn round(p: &Process, master: &std::fs::File) -> (u64, u64) {
    let mut deaf = Vec::new();
    for _ in 0..DEAF_STREAMS {
        deaf.push(deaf_stream(p.addr).await);
    }
    // The scan box: every code at once, from a blocking thread.
    let mut pty = master.try_clone().unwrap();
    let writer = tokio::task::spawn_blocking(move || {
        let mut text = String::with_capacity(SCANS * 24);
        for i in 0..SCANS {
            text.push_str(&format!("FLOOD-{i:08}-NOT-A-CODE\r"));
        }
        pty.write_all(text.as_bytes()).unwrap();
    });
    let mut load = Vec::new();
    for seed in 0..CLIENTS {
        load.push(tokio::spawn(client_load(
            p.url(""),
            REQUESTS / CLIENTS,
            seed,
        )));
    }
    let (mut ok, mut refused) = (0, 0);
    for l in load {
        let (o, r) = l.await.unwrap();
        ok += o;
        refused += r;
    }
    assert!(ok > 0 && refused > 0, "ok {ok}, refused {refused}");
    writer.await.unwrap();
    drop(deaf);
    memory(p.child.id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flood_of_frames_scans_calls_and_events_keeps_memory_bounded() {
    let frames = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/qr/frames");
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let port = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    let t = Terminal::with(|x| {
        x.push_str(&format!(
            "\n[qr]\ndebounce_ms = 0\ncamera_dir = \"{}\"\ncamera_loop = true\nserial = \"{}\"\n",
            frames.display(),
            port.display()
        ));
    });
    let config = t.config_with(|c| c.api.max_connections = MAX_CONNECTIONS);
    let p = Process::start_config(t.path(), &config, |_| {}).await;
    // Write only once the daemon holds the port in raw mode.
    let mut events = support::client()
        .get(p.url("/v1/events?topics=qr&last_event_id=0"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    loop {
        let e = next_event(&mut events, &mut buf, "qr.source").await;
        if e["data"]["source"]
            .as_str()
            .unwrap_or("")
            .starts_with("serial:")
            && e["data"]["link"] == "connected"
        {
            break;
        }
    }
    drop(events);
    let master = std::fs::File::from(pty.master);
    let start = memory(p.child.id());

    let first = round(&p, &master).await;
    let second = round(&p, &master).await;
    let third = round(&p, &master).await;
    println!(
        "flood: RSS KiB start {} / after rounds {} {} {}; peak {}",
        start.0, first.0, second.0, third.0, third.1
    );
    // Still serving, with every connection of the flood given back.
    let c = support::client();
    let metrics = c
        .get(p.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gauge = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
            .parse()
            .unwrap()
    };
    assert_eq!(
        gauge("medsettle_api_connections_max"),
        MAX_CONNECTIONS as f64
    );
    assert!(gauge("medsettle_api_connections") <= MAX_CONNECTIONS as f64);
    let status: Value = c
        .get(p.url("/v1/status"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["phase"], "running", "{status}");

    // Levels off: rounds two and three add little to what round one reached.
    let growth = third.0.saturating_sub(first.0);
    assert!(
        growth < 24 * 1024,
        "RSS grew {growth} KiB between round 1 ({} KiB) and round 3 ({} KiB)",
        first.0,
        third.0
    );
    assert!(third.1 < 256 * 1024, "peak RSS {} KiB", third.1);

    drop(pty.slave);
    p.signal(15);
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0), "{log}");
    // The scan box dropped codes it could not pass on, and so did the QR service's queue;
    // each said so at most log.repeat_burst (default 10) times, however many it dropped.
    let lines = |what: &str| log.lines().filter(|l| l.contains(what)).count();
    let sink = lines("scan dropped: consumer not keeping up");
    let queue = lines("QR scan queue full");
    println!("flood: drop warnings logged: scan box {sink}, QR queue {queue}");
    assert!((1..=10).contains(&sink), "{sink} scan box drop warnings");
    assert!(queue <= 10, "{queue} QR queue drop warnings");
}

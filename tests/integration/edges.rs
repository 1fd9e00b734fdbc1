//! Edge defenses of the daemon, through the real binary: a camera decoder that panics on a
//! frame keeps scanning (issue 15, defect 8); the API's header-read and idle timeouts and the
//! Unix socket's reserved connections (defect 9); the patient's PIN consent leaves no PIN and
//! no PIN-derived proof in the sale document or the audit table (defect 10).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::qr::next_event;
use crate::support::{self, Process, TOKEN, Terminal};

/// Polls `GET path` (JSON) until `done` holds; panics after `within`.
async fn wait_json(
    p: &Process,
    path: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let c = support::client();
    let deadline = Instant::now() + within;
    loop {
        let v: Value = c
            .get(p.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if done(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never reached the state: {v}"
        );
        tokio::task::yield_now().await;
    }
}

/// The test hook makes the decoder panic on the first three frames it takes; the code in
/// view is still scanned afterwards (scans can only come after those three), and the status
/// page and `/metrics` show the three panics. Before the fix the first panic ended the
/// decoder thread and no code was ever scanned again.
#[tokio::test]
async fn a_panicking_decoder_keeps_the_camera_scanning() {
    let t = Terminal::new();
    let frames = t.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    crate::cli::qr_png("AFTER-THE-PANICS-0001", &frames.join("0001.png"));
    let config = t.config_with(|c| {
        c.qr.camera_dir = Some(frames.clone());
        c.qr.camera_loop = true;
    });
    let p = Process::start_config(t.path(), &config, |cmd| {
        cmd.env("MEDSETTLE_TEST_QR_DECODER_PANICS", "3");
    })
    .await;
    let c = support::client();
    let mut events = c
        .get(p.url("/v1/events?topics=qr&last_event_id=0"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    let scanned = next_event(&mut events, &mut buf, "qr.scanned").await;
    assert_eq!(scanned["data"]["source"], "camera", "{scanned}");
    assert!(scanned["data"]["decoder"].is_string(), "{scanned}");

    let status = wait_json(&p, "/v1/status", Duration::from_secs(30), |s| {
        s["alarms"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["code"] == "qr.decoder_panic"))
    })
    .await;
    let alarm = status["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "qr.decoder_panic")
        .unwrap();
    assert_eq!(alarm["details"]["count"], 3, "{alarm}");
    assert!(
        alarm["details"]["last_at_ms"].as_i64().unwrap() > 0,
        "{alarm}"
    );
    assert_eq!(status["components"]["qr"]["health"], "ok", "{status}");
    assert!(
        status["components"]["qr"]["detail"]
            .as_str()
            .unwrap()
            .contains("decoder panics caught: 3"),
        "{status}"
    );
    let metrics = c
        .get(p.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("\nmedsettle_qr_decoder_panics_total 3\n"),
        "{metrics}"
    );
    p.signal(15);
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("QR decoder panicked on a frame"), "{log}");
    // Logged through the log (and its repeat limit), not by the default panic message.
    assert!(!log.contains("thread 'qr-decoder'"), "{log}");
}

/// `GET path` over the Unix socket at `sock`, `Connection: close`; the whole answer.
async fn unix_get(sock: &std::path::Path, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::UnixStream::connect(sock).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// The value of an unlabelled sample in a `/metrics` answer.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
        .trim()
        .parse()
        .unwrap()
}

/// Reads from `s` until the server closes the connection; panics if it has not within
/// `within` (a bound for a broken server, not a synchronisation). Returns what was read.
async fn until_closed(s: &mut tokio::net::TcpStream, within: Duration) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server did not close the connection");
    out
}

/// 300 idle TCP connections (more than `api.max_connections`, 256) take every permit TCP
/// may use, and the Unix socket still answers from its reserve. Before the fix both
/// listeners shared one bound and the Unix request waited behind the idle clients.
#[tokio::test]
async fn idle_tcp_clients_do_not_lock_out_the_unix_socket() {
    let t = Terminal::new();
    let sock = t.path().join("api.sock");
    let config = t.config_with(|c| {
        c.api.unix_socket = Some(sock.clone());
        // Long enough that no idle client is disconnected during the test: the reserve alone
        // must let the Unix request in.
        c.api.header_read_timeout_ms = 600_000;
        c.api.idle_timeout_ms = 3_600_000;
    });
    let p = Process::start_config(t.path(), &config, |_| {}).await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(tokio::net::TcpStream::connect(p.addr).await.unwrap());
    }
    // The TCP listener has accepted all it may: 256 - 16 reserved.
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let answer = unix_get(&sock, "/metrics").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let open = sample(&answer, "medsettle_api_connections");
        // The Unix request itself holds one permit.
        if open >= 241.0 {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "TCP never filled its permits: {answer}"
        );
        tokio::task::yield_now().await;
    };
    assert_eq!(sample(&metrics, "medsettle_api_connections_max"), 256.0);
    assert_eq!(
        sample(&metrics, "medsettle_api_connections_unix_reserved"),
        16.0
    );
    // The shared pool is exhausted: a TCP request now waits in the backlog…
    let c = support::client();
    let tcp = tokio::spawn(async move {
        c.get(format!("http://{}/healthz", p.addr))
            .send()
            .await
            .map(|r| r.status())
    });
    // …while the cashier's request on the Unix socket answers.
    let answer = tokio::time::timeout(Duration::from_secs(20), unix_get(&sock, "/v1/version"))
        .await
        .expect("the Unix socket is locked out");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"name\":\"medsettle\""), "{answer}");
    assert!(
        !tcp.is_finished(),
        "a TCP request got in although TCP's permits were all held"
    );
    drop(idle);
    // With the idle clients gone, TCP serves again.
    assert_eq!(tcp.await.unwrap().unwrap(), 200);
    p.signal(15);
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0), "{log}");
}

/// A client that connects and sends nothing, and one that sends half a request head, are
/// disconnected by the server after `api.header_read_timeout_ms`; a keep-alive connection
/// left idle after an answer is closed after `api.idle_timeout_ms` (header timeout long).
#[tokio::test]
async fn the_server_closes_silent_and_idle_connections() {
    use tokio::io::AsyncWriteExt;
    let t = Terminal::new();
    let config = t.config_with(|c| {
        c.api.header_read_timeout_ms = 300;
        c.api.idle_timeout_ms = 3_600_000;
    });
    let p = Process::start_config(t.path(), &config, |_| {}).await;
    let mut silent = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    let mut half = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    half.write_all(b"GET /v1/version HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let got = until_closed(&mut silent, Duration::from_secs(20)).await;
    assert!(
        got.is_empty() || String::from_utf8_lossy(&got).starts_with("HTTP/1.1 408"),
        "{got:?}"
    );
    let got = until_closed(&mut half, Duration::from_secs(20)).await;
    assert!(
        !String::from_utf8_lossy(&got).contains("200 OK"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // The daemon still serves.
    let v = support::get_json(&p.url("/healthz")).await;
    assert_eq!(v["status"], "ok");
    p.signal(15);
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0), "{log}");

    // The idle timeout alone: the header timer is longer than the test.
    let t = Terminal::new();
    let config = t.config_with(|c| {
        c.api.header_read_timeout_ms = 600_000;
        c.api.idle_timeout_ms = 300;
    });
    let p = Process::start_config(t.path(), &config, |_| {}).await;
    let mut keep = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    keep.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let got = until_closed(&mut keep, Duration::from_secs(20)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "the request was answered first: {text}"
    );
    assert!(
        !text.to_ascii_lowercase().contains("connection: close"),
        "the server closed for idleness, not because the answer said so: {text}"
    );
    p.signal(15);
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0), "{log}");
}

/// The card holder's PIN in this test (the virtual card's VERIFY checks it).
const CARD_PIN: &str = "864209";

/// Every audit row (the msgids from the table, the rows through the store, unsealed).
async fn audit_rows(db: &std::path::Path, store: &medsettle::store::Store) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT msgid FROM upstream_audit").unwrap();
    let msgids: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for m in msgids {
        out.push(store.audit(&m).await.unwrap().unwrap().request);
    }
    out
}

/// A card sale settled online with the PIN and a card sale stored offline with the PIN and
/// settled by the forwarder, through the real binary (virtual card, sandbox insurer, SM3):
/// the card verifies the PIN (a wrong one is refused by the card), nothing of it reaches
/// `cainfo`, and afterwards neither sale document nor any audit row holds the PIN, the old
/// unsalted SM3(card_no:PIN) proof, or any consent record (the seal is dropped once final).
#[tokio::test]
async fn pin_consent_leaves_no_pin_or_pin_proof_in_the_sale_or_the_audit_table() {
    use serde_json::json;
    let sandbox = medsettle_sandbox::start(medsettle_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    let t = Terminal::new();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cards/normal.json");
    let mut profile: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    profile["pin"] = json!({ "value": CARD_PIN, "tries_left": 3 });
    let card = t.path().join("card.json");
    std::fs::write(&card, profile.to_string()).unwrap();
    let config = t.config_with(|c| {
        c.readers.backend = medsettle::config::ReaderBackend::Virtual;
        c.readers.virtual_profile = Some(card.clone());
        c.upstream = Some(support::sandbox_upstream(&sandbox.base_url(), "SM3"));
        c.settle.reconcile_at = String::new();
        c.settle.retry_first_ms = 100;
        c.settle.retry_max_ms = 200;
    });
    let p = Process::start_config(t.path(), &config, |_| {}).await;
    let c = support::client();
    let post = |path: String, body: Value| {
        let c = c.clone();
        let url = p.url(&path);
        async move {
            let r = c
                .post(url)
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let sale = |mode: &'static str| {
        let post = &post;
        async move {
            let (s, read) = post("/v1/card/read".into(), json!({ "wait_ms": 2000 })).await;
            assert_eq!(s, 200, "{read}");
            let (s, v) = post(
                "/v1/sales".into(),
                json!({
                    "credential_id": read["credential_id"],
                    "items": [{ "code": "XA01BAA123A001010100001", "name": "阿莫西林胶囊", "cnt": "1", "pric": "12.50" }],
                    "mode": mode,
                }),
            )
            .await;
            assert_eq!(s, 201, "{v}");
            v["id"].as_str().unwrap().to_owned()
        }
    };

    // Online: the card refuses a wrong PIN; with the right one the sale settles.
    let online = sale("prefer_online").await;
    let (s, v) = post(format!("/v1/sales/{online}/presettle"), json!({})).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = post(format!("/v1/sales/{online}/confirm"), json!({})).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("sale.pin_required")),
        "{v}"
    );
    let (s, v) = post(
        format!("/v1/sales/{online}/confirm"),
        json!({ "pin": "111111" }),
    )
    .await;
    assert_eq!(v["code"], "card.pin_wrong", "{s} {v}");
    let (s, v) = post(
        format!("/v1/sales/{online}/confirm"),
        json!({ "pin": CARD_PIN }),
    )
    .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("settled")), "{v}");

    // Offline: stored with the PIN, settled later by the forwarder.
    let stored = sale("force_offline").await;
    let (s, v) = post(
        format!("/v1/sales/{stored}/confirm"),
        json!({ "pin": CARD_PIN }),
    )
    .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("queued")), "{v}");
    wait_json(
        &p,
        &format!("/v1/sales/{stored}"),
        Duration::from_secs(60),
        |v| v["sale"]["state"] == "settled",
    )
    .await;
    assert_eq!(sandbox.ledger().effective().count(), 2);
    p.signal(15);
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0), "{log}");

    let old_proof =
        medsettle::upstream::signing::sm3_hex(format!("M12345678:{CARD_PIN}").as_bytes());
    let (store, _) = medsettle::store::Store::open(&t.db_path(), Duration::from_secs(5)).unwrap();
    for id in [&online, &stored] {
        let row = store.sale(id).await.unwrap().unwrap();
        assert_eq!(row.state, "settled");
        let doc: Value = serde_json::from_str(&row.doc).unwrap();
        assert_eq!(doc["consent"], Value::Null, "dropped once final: {doc}");
        assert!(
            !row.doc.contains(CARD_PIN) && !row.doc.contains(&old_proof),
            "{}",
            row.doc
        );
    }
    let audit = audit_rows(&t.db_path(), &store).await;
    let settles: Vec<&String> = audit
        .iter()
        .filter(|r| r.contains("\"infno\":\"2102\""))
        .collect();
    assert_eq!(settles.len(), 2, "one 2102 per sale");
    for request in &audit {
        assert!(!request.contains(CARD_PIN), "{request}");
        assert!(!request.contains(&old_proof), "{request}");
        assert!(
            !request.contains("pwd="),
            "no password material in cainfo: {request}"
        );
        let body: Value = serde_json::from_str(request).unwrap();
        let cainfo = body["cainfo"].as_str().unwrap();
        assert!(cainfo.is_empty() || cainfo.starts_with("sig="), "{cainfo}");
    }
    store.close().await.unwrap();
    // The raw file, its WAL included: no PIN, no old proof anywhere.
    for suffix in ["", "-wal"] {
        let Ok(bytes) = std::fs::read(format!("{}{suffix}", t.db_path().display())) else {
            continue;
        };
        for needle in [CARD_PIN, old_proof.as_str()] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in the database{suffix}"
            );
        }
    }
    sandbox.shutdown().await;
}

//! The QR path through the daemon: a camera source replaying image files, the decoder cascade,
//! debounce, e-SSC verification with the SQLite replay guard, `qr.scanned` events (masked) and
//! `POST /v1/qr/scan`.

use serde_json::{Value, json};

use crate::support::{self, Process, TOKEN, Terminal};

/// The `essc_keys` table of a `[qr]` snippet from [`fresh_essc`], as the typed config holds it.
pub(crate) fn essc_keys(snippet: &str) -> std::collections::BTreeMap<String, String> {
    let table: toml::Table = toml::from_str(snippet).expect("an essc_keys line");
    table["essc_keys"]
        .clone()
        .try_into()
        .expect("kid = public key")
}

/// A freshly minted e-SSC code from the test issuer, and the `[qr]` lines that verify it: its
/// key, a published TEST key that `config check` and `run` refuse, so with the explicit opt-in
/// `allow_test_keys = true` (honoured only in builds with the demo feature, as the tests are).
pub fn fresh_essc() -> (String, String) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("fixtures/qr/essc/cases.json")).unwrap(),
    )
    .unwrap();
    let kid = cases["kid"].as_str().unwrap();
    let issuer = medsettle::qr::essc::Issuer::from_secret_hex(
        kid,
        cases["secret_key_hex"].as_str().unwrap(),
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = issuer.claims(
        "11010519491231002X",
        "张三",
        "A12345678",
        "110105",
        now,
        240,
    );
    let keys = format!(
        "allow_test_keys = true\nessc_keys = {{ \"{kid}\" = \"{}\" }}",
        cases["public_key_hex"].as_str().unwrap()
    );
    (issuer.mint(&claims), keys)
}

/// Reads SSE frames until one of `topic` arrives; returns its JSON.
pub(crate) async fn next_event(
    resp: &mut reqwest::Response,
    buf: &mut String,
    topic: &str,
) -> Value {
    next_of(resp, buf, &[topic]).await.1
}

/// Reads SSE frames until one of `topics` arrives; returns its topic and JSON.
pub(crate) async fn next_of(
    resp: &mut reqwest::Response,
    buf: &mut String,
    topics: &[&str],
) -> (String, Value) {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let topic = frame
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_default()
                .to_owned();
            if topics.contains(&topic.as_str()) {
                let data: String = frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim)
                    .collect();
                return (topic, serde_json::from_str(&data).unwrap());
            }
            continue;
        }
        let chunk = resp.chunk().await.unwrap().expect("event stream ended");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn a_code_held_to_the_camera_is_one_verified_scan() {
    let (code, keys) = fresh_essc();
    let t = Terminal::new();
    let frames = t.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    crate::cli::qr_png(&code, &frames.join("0001.png"));
    let config = t.config_with(|c| {
        c.qr.essc_keys = essc_keys(&keys);
        c.qr.allow_test_keys = true;
        c.qr.camera_dir = Some(frames.clone());
        c.qr.debounce_ms = 2000;
    });
    let p = Process::start_config(t.path(), &config, |_| {}).await;
    let c = support::client();
    // Every event since the start, so the scan cannot be missed whenever it happened.
    let mut events = c
        .get(p.url("/v1/events?topics=qr&last_event_id=0"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    let scanned = next_event(&mut events, &mut buf, "qr.scanned").await;
    let data = &scanned["data"];
    assert_eq!(data["kind"], "e-ssc", "{scanned}");
    assert_eq!(data["valid"], true, "{scanned}");
    assert_eq!(data["identity"]["sn"], "110105********002X", "{scanned}");
    assert_eq!(data["source"], "camera");
    assert!(
        !scanned.to_string().contains(&code),
        "the event carries the code"
    );

    // The code stays in view (the directory loops): still one scan, so a wait times out.
    let resp = c
        .post(p.url("/v1/qr/scan"))
        .bearer_auth(TOKEN)
        .json(&json!({ "wait_ms": 500 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 408);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "qr.not_presented");
    p.signal(15);
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        !log.contains("11010519491231002X") && !log.contains(&code),
        "{log}"
    );
}

fn raw(code: &str) -> medsettle::qr::service::RawScan {
    medsettle::qr::service::RawScan {
        bytes: code.as_bytes().to_vec(),
        source: "serial:/dev/test".into(),
        decoder: None,
        decode_ms: None,
        symbology: None,
    }
}

#[tokio::test]
async fn the_scan_api_answers_the_next_code_and_replays_are_refused() {
    let (code, keys) = fresh_essc();
    let mut t = Terminal::new();
    t.extra = format!("\n[qr]\n{keys}\ndebounce_ms = 0\n");
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let d = crate::support::InProcess::start_full(&t, None, Some(rx)).await;
    let c = support::client();
    let mut events = c
        .get(d.url("/v1/events?topics=qr"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let mut buf = String::new();

    // The waiter subscribes when its request arrives; keep presenting codes (each one fully
    // processed, as its event shows) until the waiter has one.
    let waiter = c
        .post(d.url("/v1/qr/scan"))
        .bearer_auth(TOKEN)
        .json(&json!({ "wait_ms": 10000 }))
        .send();
    tokio::pin!(waiter);
    let answer = loop {
        let (fresh, _) = fresh_essc();
        tx.send(raw(&fresh)).await.unwrap();
        next_event(&mut events, &mut buf, "qr.scanned").await;
        // Poll the waiter without blocking: once a code was processed after it subscribed,
        // its answer is on the way.
        if let Ok(resp) = tokio::time::timeout(std::time::Duration::ZERO, &mut waiter).await {
            break resp.unwrap();
        }
    };
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["kind"], "e-ssc", "{body}");
    assert_eq!(body["valid"], true, "{body}");
    assert_eq!(
        body["identity"]["sn"], "11010519491231002X",
        "the cashier gets it in clear"
    );
    assert_eq!(body["source"], "serial:/dev/test");

    // The same code twice: the second is a replay, refused with its stable code.
    tx.send(raw(&code)).await.unwrap();
    let first = next_event(&mut events, &mut buf, "qr.scanned").await;
    assert_eq!(first["data"]["valid"], true, "{first}");
    tx.send(raw(&code)).await.unwrap();
    let second = next_event(&mut events, &mut buf, "qr.scanned").await;
    assert_eq!(second["data"]["valid"], false, "{second}");
    assert_eq!(second["data"]["error"]["code"], "essc.replayed", "{second}");
    d.shutdown().await;
}

/// A daemon reading a serial scan box that is a pty, with the e-SSC test issuer's key
/// (`keys` from [`fresh_essc`]) and whatever `configure` adds; its event stream on `topics`
/// (which must include `qr`), opened before the box writes anything.
pub(crate) struct PtyBox {
    pub p: Process,
    pub port: std::path::PathBuf,
    /// The box's end: what is written here is what the box "scanned".
    pub master: std::fs::File,
    slave: std::os::fd::OwnedFd,
    pub events: reqwest::Response,
    pub buf: String,
}

impl PtyBox {
    pub(crate) async fn start(
        t: &Terminal,
        keys: &str,
        topics: &str,
        configure: impl FnOnce(&mut medsettle::config::Config),
    ) -> PtyBox {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let port = nix::unistd::ttyname(&pty.slave).expect("ttyname");
        let config = t.config_with(|c| {
            c.qr.essc_keys = essc_keys(keys);
            c.qr.allow_test_keys = true;
            c.qr.serial = Some(port.clone());
            configure(c);
        });
        let p = Process::start_config(t.path(), &config, |_| {}).await;
        let mut events = support::client()
            .get(p.url(&format!("/v1/events?topics={topics}&last_event_id=0")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let mut buf = String::new();
        // Write only once the daemon holds the port in raw mode.
        loop {
            let e = next_event(&mut events, &mut buf, "qr.source").await;
            if e["data"]["link"] == "connected" {
                break;
            }
        }
        PtyBox {
            p,
            port,
            master: std::fs::File::from(pty.master),
            slave: pty.slave,
            events,
            buf,
        }
    }

    /// Closes the box and stops the daemon, which must exit 0.
    pub(crate) fn stop(self) {
        drop(self.slave);
        self.p.signal(15);
        let (status, log) = self.p.wait();
        assert_eq!(status.code(), Some(0), "{log}");
    }
}

#[tokio::test]
async fn a_serial_scan_box_feeds_the_daemon() {
    use std::io::Write as _;
    let (code, keys) = fresh_essc();
    let t = Terminal::new();
    let mut scan_box = PtyBox::start(&t, &keys, "qr", |_| {}).await;
    scan_box
        .master
        .write_all(format!("{code}\r").as_bytes())
        .unwrap();
    let scanned = next_event(&mut scan_box.events, &mut scan_box.buf, "qr.scanned").await;
    assert_eq!(scanned["data"]["valid"], true, "{scanned}");
    assert_eq!(
        scanned["data"]["source"],
        format!("serial:{}", scan_box.port.display())
    );
    scan_box.stop();
}

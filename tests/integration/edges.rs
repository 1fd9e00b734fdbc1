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
}

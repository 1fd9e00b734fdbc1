//! Drug traceability codes (药品追溯码) through the daemon: a scan box sending AIM symbology
//! identifiers (a pty standing in for the serial box), the classifier telling a box's trace code
//! from its 商品码 and from a patient's code, `trace.scanned` events, and the cashier program's
//! `POST /v1/qr/submit`.

use serde_json::json;

use crate::qr::{PtyBox, fresh_essc, next_of};
use crate::support::{self, Process, Terminal};

/// A serial scan box configured to send AIM identifiers: a Code 128 trace code, a GS1
/// DataMatrix one (group separators kept), the box's EAN-13 商品码 (refused, saying what to
/// scan), then a patient's e-SSC as a QR Code — each read for what its symbology says.
#[tokio::test]
async fn a_scan_box_with_aim_identifiers_sorts_trace_codes_from_credentials() {
    use std::io::Write as _;
    let (essc, keys) = fresh_essc();
    let t = Terminal::new();
    let mut scan_box = PtyBox::start(&t, &keys, "qr,trace", |c| c.qr.aim_ids = true).await;
    let (events, buf, master) = (
        &mut scan_box.events,
        &mut scan_box.buf,
        &mut scan_box.master,
    );
    let gs1 = "0106901234567892\u{1d}10LOT42\u{1d}17270131";
    for line in [
        "]C081234567890123456789".to_owned(),
        format!("]d2{gs1}"),
        "]E06901234567892".to_owned(),
        format!("]Q1{essc}"),
    ] {
        master.write_all(format!("{line}\r").as_bytes()).unwrap();
    }

    // Every scan is a qr.scanned event; each trace code also a trace.scanned one. Collected in
    // arrival order until all six are in.
    let (mut traced, mut scanned) = (Vec::new(), Vec::new());
    while traced.len() < 2 || scanned.len() < 4 {
        let (topic, e) = next_of(events, buf, &["trace.scanned", "qr.scanned"]).await;
        if topic == "trace.scanned" {
            traced.push(e);
        } else {
            scanned.push(e);
        }
    }
    let (code128, matrix) = (&traced[0], &traced[1]);
    assert_eq!(code128["data"]["code"], "81234567890123456789", "{code128}");
    assert_eq!(code128["data"]["symbology"], "code128");
    assert_eq!(code128["data"]["shape"], "digits20");
    assert_eq!(code128["data"]["warning"], serde_json::Value::Null);
    assert_eq!(matrix["data"]["code"], gs1, "the group separators are kept");
    assert_eq!(matrix["data"]["symbology"], "gs1_data_matrix");
    assert_eq!(matrix["data"]["shape"], "gs1");
    // In order: two trace codes, the refused 商品码, and the e-SSC verified as usual.
    let kinds: Vec<_> = scanned.iter().map(|e| e["data"]["kind"].clone()).collect();
    assert_eq!(
        kinds,
        [
            json!("trace"),
            json!("trace"),
            json!("trace"),
            json!("e-ssc")
        ]
    );
    assert_eq!(scanned[2]["data"]["valid"], false);
    assert_eq!(
        scanned[2]["data"]["error"]["code"], "trace.commodity_code",
        "{}",
        scanned[2]
    );
    assert!(
        scanned[2]["data"]["error"]["message_zh"]
            .as_str()
            .unwrap()
            .contains("追溯码"),
        "says to scan the trace code instead: {}",
        scanned[2]
    );
    assert_eq!(scanned[3]["data"]["valid"], true, "{}", scanned[3]);
    scan_box.stop();
}

/// Codes typed into the cashier program (no symbology): twenty digits are offered both ways
/// (an e-voucher credential, and a trace code for the open sale), a 本位码 is refused, an
/// unusual prefix is accepted with its warning.
#[tokio::test]
async fn submitted_codes_are_read_by_their_shape() {
    let t = Terminal::new();
    let p = Process::start(&t).await;
    let api = support::Api::new(&p);
    let (status, v) = api
        .post("/v1/qr/submit", json!({ "text": "81234567890123456789" }))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["kind"], "e-voucher", "{v}");
    assert!(v["credential_id"].is_string(), "{v}");
    assert_eq!(v["trace"]["code"], "81234567890123456789", "{v}");
    assert_eq!(v["trace"]["symbology"], serde_json::Value::Null);

    let (_, v) = api
        .post("/v1/qr/submit", json!({ "text": "91234567890123456789" }))
        .await;
    assert_eq!(v["trace"]["warning"]["code"], "trace.unusual_prefix", "{v}");

    let (_, v) = api
        .post("/v1/qr/submit", json!({ "text": "86901234000012" }))
        .await;
    assert_eq!(v["kind"], "trace", "{v}");
    assert_eq!(v["valid"], false);
    assert_eq!(v["error"]["code"], "trace.standard_code", "{v}");
    assert_eq!(v["trace"], serde_json::Value::Null);
    assert_eq!(v["credential_id"], serde_json::Value::Null);
}

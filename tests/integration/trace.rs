//! Drug traceability codes (药品追溯码) through the daemon: a scan box sending AIM symbology
//! identifiers (a pty standing in for the serial box), the classifier telling a box's trace code
//! from its 商品码 and from a patient's code, `trace.scanned` events, and the cashier program's
//! `POST /v1/qr/submit`; boxes scanned into an open sale, reported (3505) once it settles and
//! returned (3506) with its refund.

use std::time::Duration;

use serde_json::json;

use crate::qr::{PtyBox, fresh_essc, next_of};
use crate::support::{self, Api, NORMAL_CARD, Process, Terminal, Timeouts};

const DEADLINE: Duration = Duration::from_secs(60);

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

/// A pharmacy counter: the sale is opened, the scan box reads each box (Code 128 and GS1
/// DataMatrix trace codes), a box's 商品码 by mistake and the patient's e-SSC; the counter UI
/// attaches every `trace.scanned` code to its line, and the 商品码 is refused on the sale too.
/// After the settlement the platform has one 3505 per line with its codes; the refund sends the
/// 3506s.
#[tokio::test]
async fn boxes_scanned_into_an_open_sale_are_reported_once_it_settles_and_returned_with_its_refund()
{
    use std::io::Write as _;
    let sandbox = medsettle_sandbox::start(medsettle_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    let (essc, keys) = fresh_essc();
    let t = Terminal::against_sandbox(
        &sandbox.base_url(),
        Timeouts(500, 3_000, 3_000),
        "retry_first_ms = 200\nretry_max_ms = 1000\n",
    );
    let mut scan_box = PtyBox::start(&t, &keys, "qr,trace", |c| {
        c.qr.aim_ids = true;
        c.readers.backend = medsettle::config::ReaderBackend::Virtual;
        c.readers.virtual_profile = Some(NORMAL_CARD.into());
        support::counter_trace(c);
    })
    .await;
    let api = Api::new(&scan_box.p);
    let credential = api.credential().await;
    let batch = |bchno: &str| {
        json!({ "codes": [], "fixmedins_bchno": bchno, "manu_lotnum": "L2511",
                "manu_date": "2025-11-01", "expy_end": "2027-10-31", "rx_flag": "0" })
    };
    let body = json!({ "credential_id": credential, "mode": "require_online", "items": [
        { "code": "XA01BAA123A001010100001", "name": "阿莫西林胶囊", "cnt": "2", "pric": "12.50",
          "trace": batch("B1") },
        { "code": "XA01BAA123A001010100002", "name": "进口胰岛素", "cnt": "1", "pric": "88.00",
          "trace": batch("B2") },
    ]});
    let (status, v) = api.post("/v1/sales", body).await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let (status, v) = api
        .post(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");

    let (a, c) = ("81234567890123470001", "81234567890123470002");
    let gs1 = "0106901234567892\u{1d}10LOT42\u{1d}21SN0001";
    for line in [
        format!("]C0{a}"),
        "]E06901234567892".to_owned(),
        format!("]d2{gs1}"),
        format!("]Q1{essc}"),
        format!("]C0{c}"),
    ] {
        scan_box
            .master
            .write_all(format!("{line}\r").as_bytes())
            .unwrap();
    }
    // The counter UI: a Code 128 box belongs to line 0, a DataMatrix one to line 1.
    let (events, buf) = (&mut scan_box.events, &mut scan_box.buf);
    let (mut offered, mut scanned) = (0, Vec::new());
    while offered < 3 || scanned.len() < 5 {
        let (topic, e) = next_of(events, buf, &["trace.scanned", "qr.scanned"]).await;
        if topic == "qr.scanned" {
            scanned.push(e);
            continue;
        }
        offered += 1;
        let code = e["data"]["code"].as_str().unwrap().to_owned();
        let line = u64::from(e["data"]["symbology"] != "code128");
        let (status, v) = api
            .post(
                &format!("/v1/sales/{id}/trace"),
                json!({ "line": line, "codes": [code] }),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }
    let kinds: Vec<_> = scanned.iter().map(|e| e["data"]["kind"].clone()).collect();
    assert_eq!(
        kinds,
        [
            json!("trace"),
            json!("trace"),
            json!("trace"),
            json!("e-ssc"),
            json!("trace")
        ]
    );
    assert_eq!(scanned[1]["data"]["error"]["code"], "trace.commodity_code");
    assert_eq!(
        scanned[3]["data"]["valid"], true,
        "the patient's code is a credential"
    );
    // The 商品码 typed onto the sale by hand is refused the same way and changes nothing.
    let (status, v) = api
        .post(
            &format!("/v1/sales/{id}/trace"),
            json!({ "line": 0, "codes": ["6901234567892"] }),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("trace.commodity_code")),
        "{v}"
    );
    let view = api.sale(&id).await;
    assert_eq!(
        view["sale"]["items"][0]["trace"]["codes"],
        json!([a, c]),
        "{view}"
    );
    assert_eq!(
        view["sale"]["items"][1]["trace"]["codes"],
        json!([gs1]),
        "{view}"
    );

    let (status, v) = api
        .post(&format!("/v1/sales/{id}/confirm"), json!({}))
        .await;
    assert_eq!((status, v["state"].as_str()), (200, Some("settled")), "{v}");
    api.trace_reports_until(&id, DEADLINE, |r| {
        r.len() == 2 && r.iter().all(|x| x["state"] == "sent")
    })
    .await;
    let events = sandbox.trace_events();
    let mut sold: Vec<&str> = events.iter().map(|e| e.code.as_str()).collect();
    sold.sort_unstable();
    let mut want = vec![a, c, gs1];
    want.sort_unstable();
    assert_eq!(sold, want, "one 3505 per line, each box once");
    let msgids: std::collections::HashSet<_> = events.iter().map(|e| e.msgid.as_str()).collect();
    assert_eq!(msgids.len(), 2);

    let (status, v) = api.post(&format!("/v1/sales/{id}/cancel"), json!({})).await;
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("cancelled")),
        "{v}"
    );
    api.trace_reports_until(&id, DEADLINE, |r| {
        r.len() == 4 && r.iter().all(|x| x["state"] == "sent")
    })
    .await;
    let returned = sandbox
        .trace_events()
        .iter()
        .filter(|e| e.infno == "3506")
        .count();
    assert_eq!(returned, 3);
    scan_box.stop();
    sandbox.shutdown().await;
}

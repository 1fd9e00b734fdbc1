//! A pharmacy sale whose lines carry the boxes' traceability codes (药品追溯码): the codes are
//! checked when the sale is made (the box's 商品码 and a code twice are refused, nothing is
//! created), kept on the lines, and the settlement announces their counts to the platform;
//! consent waits until the 3505 reports can be made. After the settlement one 3505 per line
//! with codes goes out through the outbox (retried through an outage, a lost answer resent
//! under its msgid, a refusal left for an operator), and a refund sends the 3506s.

use medsettle_sandbox::fault::{Fault, FaultRule};
use serde_json::{Value, json};

use super::{PIN, Rig};

/// The counter's `[trace]` defaults, with fast retries.
const TRACE: &str = "\n[trace]\nphar_name = \"王药师\"\nphar_prac_cert_no = \"YS2020001\"\n\
    prsc_dr_name = \"李医生\"\nopter_name = \"收银员\"\nretry_first_ms = 100\nretry_max_ms = 400\n";

fn line(codes: &[&str], pric: &str) -> Value {
    json!({
        "code": "XA01BAA123A001010100001", "name": "阿莫西林胶囊", "cnt": codes.len().to_string(), "pric": pric,
        "trace": {
            "codes": codes, "fixmedins_bchno": "B20261204001", "manu_lotnum": "L2511",
            "manu_date": "2025-11-01", "expy_end": "2027-10-31", "rx_flag": "0",
        },
    })
}

#[tokio::test]
async fn sales_trace_codes_ride_on_the_lines_and_the_settlement_counts_them() {
    let rig = Rig::online(TRACE).await;
    let credential = rig.credential().await;
    let gs1 = "0106901234567892\u{1d}10LOT42\u{1d}21SN0001";

    // Refused at the door, with the place of the code and nothing created.
    let before = rig.created();
    for (items, code, place) in [
        (
            json!([line(&["81234567890123456789", "6901234567892"], "12.50")]),
            "trace.commodity_code",
            "items[0].trace.codes[1]",
        ),
        (
            json!([
                line(&["81234567890123456789"], "12.50"),
                line(&["81234567890123456789"], "3.00")
            ]),
            "trace.duplicate",
            "items[1].trace.codes[0]",
        ),
    ] {
        let (status, body) = rig
            .post(
                "/v1/sales",
                json!({ "credential_id": credential, "items": items }),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["code"], code, "{body}");
        assert!(
            body["message_en"].as_str().unwrap().contains(place),
            "{body}"
        );
    }
    assert_eq!(rig.created(), before, "a refused sale creates nothing");

    let items = json!([
        line(&["81234567890123456789", "81234567890123456790"], "12.50"),
        line(&[gs1], "30.00"),
    ]);
    let (status, sale) = rig
        .post(
            "/v1/sales",
            json!({ "credential_id": credential, "items": items }),
        )
        .await;
    assert_eq!(status, 201, "{sale}");
    let id = sale["id"].as_str().unwrap();
    let (status, body) = rig
        .post(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, done) = rig.confirm(id, json!({ "pin": PIN })).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["state"], "settled", "{done}");

    let ledger = rig.sandbox().ledger();
    let settled: Vec<_> = ledger.effective().collect();
    assert_eq!(settled.len(), 1);
    assert_eq!(
        settled[0].trace_counts,
        Some((3, 0)),
        "three boxes announced"
    );
    // The sale keeps its codes on its lines, group separators and all.
    let view = rig.get(&format!("/v1/sales/{id}")).await;
    assert_eq!(view["sale"]["items"][1]["trace"]["codes"][0], gs1, "{view}");
    assert_eq!(view["sale"]["items"][0]["trace"]["manu_lotnum"], "L2511");

    // Codes scanned box by box while a sale is open: added to their line; the same box again
    // is refused and changes nothing; a confirmed sale takes no more.
    let open = rig.sale("8.00", None).await;
    let add =
        |line: usize, code: &str| json!({ "line": line, "codes": [code], "manu_lotnum": "L9" });
    let (status, v) = rig
        .post(
            &format!("/v1/sales/{open}/trace"),
            add(0, "81234567890123456801"),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = rig
        .post(&format!("/v1/sales/{open}/presettle"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = rig
        .post(
            &format!("/v1/sales/{open}/trace"),
            add(0, "81234567890123456802"),
        )
        .await;
    assert_eq!(status, 200, "pre-settled is still open: {v}");
    assert_eq!(v["state"], "presettled", "{v}");
    let (status, v) = rig
        .post(
            &format!("/v1/sales/{open}/trace"),
            add(0, "81234567890123456801"),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("trace.duplicate")),
        "{v}"
    );
    let (status, v) = rig
        .post(
            &format!("/v1/sales/{open}/trace"),
            add(3, "81234567890123456803"),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    // The line lacks the batch data its 3505 needs: consent waits, nothing is sent.
    let (status, v) = rig.confirm(&open, json!({ "pin": PIN })).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("trace.incomplete")),
        "{v}"
    );
    assert!(
        v["message_en"]
            .as_str()
            .unwrap()
            .contains("items[0].trace.fixmedins_bchno"),
        "{v}"
    );
    assert_eq!(
        rig.get(&format!("/v1/sales/{open}")).await["sale"]["state"],
        "presettled"
    );
    let batch = json!({ "line": 0, "codes": [], "fixmedins_bchno": "B20261204001",
                        "manu_date": "2025-11-01", "rx_flag": "0" });
    let (status, v) = rig.post(&format!("/v1/sales/{open}/trace"), batch).await;
    assert_eq!(status, 200, "{v}");
    let (status, done) = rig.confirm(&open, json!({ "pin": PIN })).await;
    assert_eq!(
        (status, done["state"].as_str()),
        (200, Some("settled")),
        "{done}"
    );
    let view = rig.get(&format!("/v1/sales/{open}")).await;
    assert_eq!(
        view["sale"]["items"][0]["trace"]["codes"],
        json!(["81234567890123456801", "81234567890123456802"]),
        "{view}"
    );
    let ledger = rig.sandbox().ledger();
    assert_eq!(
        ledger.effective().last().unwrap().trace_counts,
        Some((2, 0))
    );
    let (status, v) = rig
        .post(
            &format!("/v1/sales/{open}/trace"),
            add(0, "81234567890123456804"),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("sale.wrong_state")),
        "{v}"
    );

    // A sale without codes announces nothing.
    let plain = rig.sale("5.00", None).await;
    rig.post(&format!("/v1/sales/{plain}/presettle"), json!({}))
        .await;
    let (status, done) = rig.confirm(&plain, json!({ "pin": PIN })).await;
    assert_eq!(status, 200, "{done}");
    let ledger = rig.sandbox().ledger();
    let last = ledger.effective().last().unwrap();
    assert_eq!(last.trace_counts, None);
    rig.stop().await;
}

/// A sale of three lines (two boxes, no codes, one box) settled with the card: its id.
async fn traced_sale(rig: &Rig, credential: &str, codes: [&str; 3]) -> String {
    let items = json!([
        line(&[codes[0], codes[1]], "12.50"),
        { "code": "XA01BAA123A001010100002", "name": "维生素C片", "cnt": "1", "pric": "3.00" },
        { "code": "XA01BAA123A001010100003", "name": "布洛芬缓释胶囊", "cnt": "1", "pric": "9.90",
          "trace": { "codes": [codes[2]], "fixmedins_bchno": "B20261204002", "manu_lotnum": "L2512",
                     "manu_date": "2025-12-01", "rx_flag": "1" } },
    ]);
    let body = json!({ "credential_id": credential, "items": items,
                       "dispensing": { "phar_name": "赵药师", "rtal_docno": "R20261204-0001" } });
    let (status, v) = rig.post("/v1/sales", body).await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let (status, v) = rig
        .post(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, done) = rig.confirm(&id, json!({ "pin": PIN })).await;
    assert_eq!(
        (status, done["state"].as_str()),
        (200, Some("settled")),
        "{done}"
    );
    id
}

/// Waits for the `trace.report` event of `sale`'s `infno` report of `line` ending `state`.
async fn reported(rig: &Rig, sale: &str, infno: &str, line: u64, state: &str) -> Value {
    rig.wait_event("trace.report", |d| {
        d["sale_id"] == sale && d["infno"] == infno && d["line"] == line && d["state"] == state
    })
    .await
}

#[tokio::test]
async fn sales_trace_reports_go_out_after_the_settlement_and_come_back_with_the_refund() {
    let rig = Rig::online(TRACE).await;
    let sb = rig.sandbox();
    let credential = rig.credential().await;
    let (a, b, c) = (
        "81234567890123450001",
        "81234567890123450002",
        "81234567890123450003",
    );

    // The platform's trace service is down twice, then loses an answer it committed.
    let down = Fault::HttpStatus {
        status: 503,
        commit: false,
    };
    sb.inject(FaultRule::times("3505", down, 2));
    sb.inject(FaultRule::times("3505", Fault::DropAfterCommit, 1));
    let sale = traced_sale(&rig, &credential, [a, b, c]).await;
    let first = reported(&rig, &sale, "3505", 0, "sent").await;
    let second = reported(&rig, &sale, "3505", 2, "sent").await;
    assert!(
        first["tries"].as_u64().unwrap() + second["tries"].as_u64().unwrap() >= 4,
        "{first} {second}"
    );
    // One 3505 per line with codes, each box once (the lost answer's resend kept its msgid).
    let events = sb.trace_events();
    let mut sold: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.infno.as_str(), e.code.as_str()))
        .collect();
    sold.sort_unstable();
    assert_eq!(sold, [("3505", a), ("3505", b), ("3505", c)], "{events:?}");
    let view = rig.get(&format!("/v1/sales/{sale}")).await;
    let setl_id = view["sale"]["settlement"]["setl_id"].as_str().unwrap();
    assert!(
        events
            .iter()
            .all(|e| e.setl_id == setl_id && e.rtal_docno == "R20261204-0001")
    );
    assert_eq!(events.iter().filter(|e| e.code == a).count(), 1);
    let msgids: std::collections::HashSet<&str> = events.iter().map(|e| e.msgid.as_str()).collect();
    assert_eq!(msgids.len(), 2, "one request per line");
    // The money never moved for it: settled once.
    assert_eq!(view["sale"]["state"], "settled");
    assert_eq!(sb.ledger().effective().count(), 1);
    let list = rig.get(&format!("/v1/trace?sale_id={sale}")).await;
    assert_eq!(list["reports"].as_array().unwrap().len(), 2, "{list}");
    assert!(
        list["reports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "sent"),
        "{list}"
    );
    let status = rig.get("/v1/status").await;
    assert_eq!(status["trace"]["sent"], 2, "{status}");
    assert_eq!(status["trace"]["pending"], 0, "{status}");

    // The same box in another sale: a warning on its line, the sale goes on.
    let body = json!({ "credential_id": credential, "items": [line(&[a], "12.50")] });
    let (status, v) = rig.post("/v1/sales", body.clone()).await;
    assert_eq!(status, 201, "{v}");
    let warning = &v["items"][0]["trace"]["warnings"][0];
    assert_eq!(warning["code"], "trace.sold_before", "{v}");
    assert_eq!(warning["sale_id"], sale.as_str(), "{v}");
    let again = v["id"].as_str().unwrap().to_owned();
    rig.post(&format!("/v1/sales/{again}/cancel"), json!({}))
        .await;

    // The refund: a 3506 per reported line, and the boxes are no longer sold here.
    let (status, v) = rig
        .post(&format!("/v1/sales/{sale}/cancel"), json!({}))
        .await;
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("cancelled")),
        "{v}"
    );
    reported(&rig, &sale, "3506", 0, "sent").await;
    reported(&rig, &sale, "3506", 2, "sent").await;
    let returned: Vec<String> = sb
        .trace_events()
        .iter()
        .filter(|e| e.infno == "3506")
        .map(|e| e.code.clone())
        .collect();
    assert_eq!(returned.len(), 3, "{returned:?}");
    assert!(sb.trace_sold_twice().is_empty());
    let (status, v) = rig.post("/v1/sales", body).await;
    assert_eq!(status, 201, "{v}");
    assert!(v["items"][0]["trace"]["warnings"].is_null(), "{v}");

    // A refusal waits for an operator (alarm), who retries it once the cause is fixed.
    sb.inject(FaultRule::times(
        "3505",
        Fault::BusinessError {
            message: "药师执业资格证号不存在".into(),
        },
        1,
    ));
    let refused_sale = traced_sale(
        &rig,
        &credential,
        [
            "81234567890123450011",
            "81234567890123450012",
            "81234567890123450013",
        ],
    )
    .await;
    let failed = rig
        .wait_event("trace.report", |d| {
            d["sale_id"] == refused_sale.as_str() && d["state"] == "failed"
        })
        .await;
    let id = failed["report"].as_i64().unwrap();
    let status = rig.get("/v1/status").await;
    assert!(
        status["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["code"] == "trace.report_failed"),
        "{status}"
    );
    let shown = rig.get(&format!("/v1/trace/{id}")).await;
    assert_eq!(shown["answer"], "药师执业资格证号不存在", "{shown}");
    let (status, v) = rig.post(&format!("/v1/trace/{id}/retry"), json!({})).await;
    assert_eq!((status, v["state"].as_str()), (200, Some("pending")), "{v}");
    let line = failed["line"].as_u64().unwrap();
    reported(&rig, &refused_sale, "3505", line, "sent").await;
    let (status, v) = rig.post(&format!("/v1/trace/{id}/retry"), json!({})).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("trace.not_failed")),
        "{v}"
    );
    let (status, v) = rig.post("/v1/trace/999999/retry", json!({})).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("trace.unknown_report")),
        "{v}"
    );
    let status = rig.get("/v1/status").await;
    assert!(
        !status["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["code"] == "trace.report_failed"),
        "{status}"
    );
    rig.stop().await;
}

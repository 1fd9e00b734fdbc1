//! A pharmacy sale whose lines carry the boxes' traceability codes (药品追溯码): the codes are
//! checked when the sale is made (the box's 商品码 and a code twice are refused, nothing is
//! created), kept on the lines, and the settlement announces their counts to the platform.

use serde_json::{Value, json};

use super::{PIN, Rig};

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
    let rig = Rig::online("").await;
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

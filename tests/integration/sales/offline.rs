//! Store-and-forward through the API: a `force_offline` sale the forwarder settles by itself,
//! a platform that is down (prefer_online stores, require_online refuses), every offline limit,
//! and an e-voucher that may not be stored.

use medsettle::upstream::Fen;
use serde_json::json;

use super::{PIN, Rig};

#[tokio::test]
async fn sales_force_offline_sale_is_forwarded_by_itself() {
    let rig = Rig::online("").await;
    let id = rig.sale("12.50", Some("force_offline")).await;
    let (status, body) = rig
        .post(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await;
    assert_eq!(
        status, 409,
        "a force_offline sale is not pre-settled: {body}"
    );
    let (status, queued) = rig
        .confirm(&id, json!({ "pin": PIN, "collected": "12.50" }))
        .await;
    assert_eq!(status, 200, "{queued}");
    assert!(
        queued["state"] == "queued" || queued["state"] == "settling",
        "{queued}"
    );
    assert_eq!(queued["stored"], true);

    let settled = rig.wait_state(&id, "settled").await;
    let cash = Fen::parse_yuan(settled["settlement"]["cash"].as_str().unwrap()).unwrap();
    let refund = Fen::parse_yuan(settled["refund_due"].as_str().unwrap()).unwrap();
    assert_eq!(refund.0, 1250 - cash.0);
    assert!(refund.0 > 0, "the fund paid part: {settled}");
    assert_eq!(rig.sandbox().ledger().effective().count(), 1);
    assert_eq!(rig.queue_count().await, 0);
    let all = rig.get("/v1/queue?all=true").await;
    assert_eq!(all["sales"][0]["id"], id.as_str());
    rig.stop().await;
}

#[tokio::test]
async fn sales_platform_down_prefer_online_stores_and_require_online_refuses() {
    let rig = Rig::platform_down("").await;
    let id = rig.sale("12.50", None).await;
    let (status, body) = rig
        .post(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "sale.offline");
    assert_eq!(body["details"]["can_store"], true, "{body}");
    let (status, body) = rig
        .confirm(&id, json!({ "pin": PIN, "collected": "20.00" }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "queued");
    assert_eq!(body["collected"], "20.00");
    let q = rig.get("/v1/queue").await;
    assert_eq!(q["totals"]["count"], 1, "{q}");
    assert_eq!(q["totals"]["amount"], "12.50");
    assert_eq!(q["sales"][0]["id"], id.as_str());
    assert!(q["next"].is_null());

    let strict = rig.sale("5.00", Some("require_online")).await;
    let (status, body) = rig
        .post(&format!("/v1/sales/{strict}/presettle"), json!({}))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["details"]["can_store"], false, "{body}");
    let (status, body) = rig.confirm(&strict, json!({ "pin": PIN })).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "sale.online_required");
    assert_eq!(rig.queue_count().await, 1);
    rig.stop().await;
}

#[tokio::test]
async fn sales_offline_limits_refuse_and_store_nothing() {
    let limits =
        "offline_max_sale = \"10.00\"\noffline_max_total = \"15.00\"\noffline_max_count = 2";
    let rig = Rig::platform_down(limits).await;
    let offline = Some("force_offline");
    let store = |id: String| {
        let rig = &rig;
        async move { rig.confirm(&id, json!({ "pin": PIN })).await }
    };

    let (status, body) = store(rig.sale("12.50", offline).await).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "sale.limit_per_sale");
    assert_eq!(body["details"]["max"], "10.00");
    assert_eq!(rig.queue_count().await, 0);

    let (status, body) = store(rig.sale("8.00", offline).await).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = store(rig.sale("8.00", offline).await).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "sale.limit_total");
    assert_eq!(rig.queue_count().await, 1);

    let (status, body) = store(rig.sale("5.00", offline).await).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = store(rig.sale("1.00", offline).await).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "sale.limit_count");
    assert_eq!(body["details"]["max"], 2);
    let q = rig.get("/v1/queue").await;
    assert_eq!(q["totals"]["count"], 2);
    assert_eq!(q["totals"]["amount"], "13.00");

    // Paging: one per page, oldest first.
    let first = rig.get("/v1/queue?limit=1").await;
    assert_eq!(first["sales"].as_array().unwrap().len(), 1);
    assert_eq!(first["sales"][0]["amount"], "8.00");
    let next = first["next"].as_str().unwrap();
    let second = rig.get(&format!("/v1/queue?limit=1&after={next}")).await;
    assert_eq!(second["sales"][0]["amount"], "5.00");
    assert!(second["next"].is_null(), "{second}");
    rig.stop().await;
}

#[tokio::test]
async fn sales_evoucher_cannot_be_stored_offline() {
    let rig = Rig::online("").await;
    // The waiter subscribes when its request arrives: present codes (each one processed, as
    // its event shows) until the waiter has one.
    let mut sub = rig.d.events.subscribe(None);
    let (status, scan) = {
        let waiter = rig.post("/v1/qr/scan", json!({ "wait_ms": 10000 }));
        tokio::pin!(waiter);
        loop {
            let code = rig.sandbox().issue_evoucher(super::ID_NUMBER).unwrap();
            rig.scans
                .send(medsettle::qr::service::RawScan {
                    bytes: code.as_bytes().to_vec(),
                    source: "serial:/dev/test".into(),
                    decoder: None,
                    decode_ms: None,
                    symbology: None,
                })
                .await
                .unwrap();
            while sub.live.recv().await.unwrap().topic != "qr.scanned" {}
            if let Ok(answer) = tokio::time::timeout(std::time::Duration::ZERO, &mut waiter).await {
                break answer;
            }
        }
    };
    assert_eq!(status, 200, "{scan}");
    assert_eq!(scan["kind"], "e-voucher", "{scan}");
    let credential = scan["credential_id"].as_str().unwrap();
    let (status, body) = rig.create(credential, "12.50", Some("force_offline")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "sale.not_storable");
    assert_eq!(body["details"]["kind"], "evoucher");
    assert_eq!(rig.created(), 0);
    drop(sub);
    rig.stop().await;
}

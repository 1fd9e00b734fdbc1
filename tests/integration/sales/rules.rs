//! The API's rules around sales, without a platform: `Idempotency-Key` (replay, mismatch,
//! concurrent duplicates), bodies that are refused before anything is created, unknown ids.

use serde_json::json;

use super::Rig;

fn sale_body(credential: &str, pric: &str) -> String {
    json!({
        "credential_id": credential,
        "items": [{ "code": "XA01BAA123A001010100001", "cnt": "2", "pric": pric }],
    })
    .to_string()
}

#[tokio::test]
async fn sales_idempotency_key_replays_once_and_refuses_a_mismatch() {
    let rig = Rig::platform_down("").await;
    let c = rig.credential().await;
    let body = sale_body(&c, "6.25");
    let (status, first, replayed) = rig.post_with("/v1/sales", body.clone(), Some("k-1")).await;
    assert_eq!(status, 201, "{first}");
    assert!(!replayed);
    assert_eq!(first["amount"], "12.50");
    let (status, again, replayed) = rig.post_with("/v1/sales", body.clone(), Some("k-1")).await;
    assert_eq!(status, 201);
    assert!(replayed);
    assert_eq!(again, first);
    assert_eq!(rig.created(), 1);

    // Another request under the same key.
    let (status, err, _) = rig
        .post_with("/v1/sales", sale_body(&c, "7.00"), Some("k-1"))
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["code"], "idempotency.mismatch");
    let id = first["id"].as_str().unwrap();
    let (status, err, _) = rig
        .post_with(&format!("/v1/sales/{id}/cancel"), "{}".into(), Some("k-1"))
        .await;
    assert_eq!(status, 422, "the path is part of the request: {err}");
    assert_eq!(rig.created(), 1);

    // A key that is not 1-128 printable ASCII.
    let long = "x".repeat(129);
    let (status, err, _) = rig.post_with("/v1/sales", body.clone(), Some(&long)).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["code"], "request.invalid");

    // A request refused as malformed did nothing and is not remembered: the retry is judged
    // afresh (no replay) and refused the same way.
    let (status, refused, _) = rig
        .post_with("/v1/sales", sale_body("Cnope", "1.00"), Some("k-2"))
        .await;
    assert_eq!(status, 400);
    let (status, again, replayed) = rig
        .post_with("/v1/sales", sale_body("Cnope", "1.00"), Some("k-2"))
        .await;
    assert_eq!(status, 400);
    assert!(!replayed);
    assert_eq!(again, refused);

    // Two at once under one key: one sale, the same answer twice.
    let (a, b) = tokio::join!(
        rig.post_with("/v1/sales", body.clone(), Some("k-3")),
        rig.post_with("/v1/sales", body.clone(), Some("k-3")),
    );
    assert_eq!((a.0, b.0), (201, 201));
    assert_eq!(a.1, b.1);
    assert!(a.2 != b.2, "exactly one of them is a replay");
    assert_eq!(rig.created(), 2);

    // A confirm replayed does not store twice.
    let id = a.1["id"].as_str().unwrap();
    let confirm = json!({ "pin": super::PIN }).to_string();
    let path = format!("/v1/sales/{id}/confirm");
    let (status, stored, _) = rig.post_with(&path, confirm.clone(), Some("k-4")).await;
    assert_eq!(status, 200, "{stored}");
    let (status, again, replayed) = rig.post_with(&path, confirm, Some("k-4")).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(again, stored);
    assert!(!again.to_string().contains(super::PIN));
    assert_eq!(rig.queue_count().await, 1);
    rig.stop().await;
}

#[tokio::test]
async fn sales_bad_bodies_create_nothing() {
    let rig = Rig::platform_down("").await;
    let c = rig.credential().await;
    let cases = [
        ("{", "request.invalid"),
        ("[]", "request.invalid"),
        ("", "request.invalid"),
        (
            &*json!({ "credential_id": c, "items": [], "extra": 1 }).to_string(),
            "request.invalid",
        ),
        (
            &*json!({ "credential_id": c, "items": [{ "code": "X", "cnt": "1", "pric": "abc" }] })
                .to_string(),
            "request.invalid",
        ),
        (
            &*json!({ "credential_id": c, "items": [], "mode": "sometimes" }).to_string(),
            "request.invalid",
        ),
        (
            &*json!({ "credential_id": c, "items": [] }).to_string(),
            "sale.bad_request",
        ),
        (
            &*json!({ "credential_id": c, "items": [{ "code": "X", "cnt": "0", "pric": "1" }] })
                .to_string(),
            "sale.bad_request",
        ),
        (
            &*json!({ "credential_id": c, "items": [{ "code": "", "cnt": "1", "pric": "1" }] })
                .to_string(),
            "sale.bad_request",
        ),
        (&*sale_body("C0000", "1.00"), "sale.unknown_credential"),
    ];
    for (body, code) in cases {
        let (status, err, _) = rig.post_with("/v1/sales", body.to_owned(), None).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["code"], code, "{body}: {err}");
        assert!(err["message_zh"].is_string() && err["message_en"].is_string());
    }
    assert_eq!(rig.created(), 0);

    let (status, err) = rig.post("/v1/sales/S404/presettle", json!({})).await;
    assert_eq!(status, 404, "{err}");
    assert_eq!(err["code"], "sale.not_found");
    let err = rig.get("/v1/sales/S404").await;
    assert_eq!(err["code"], "sale.not_found");
    let id = rig.sale("1.00", None).await;
    let (status, err) = rig
        .confirm(&id, json!({ "pin": super::PIN, "collected": "1.234" }))
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["code"], "request.invalid");
    let err = rig.get("/v1/queue?limit=0").await;
    assert_eq!(err["code"], "request.invalid");
    let (status, err) = rig
        .post("/v1/reconcile", json!({ "date": "23.11.2026" }))
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["code"], "request.invalid");
    rig.stop().await;
}

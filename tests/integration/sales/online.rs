//! Online card sales against the sandbox: the happy path with its history and the ledger, a
//! wrong PIN, a settlement answer lost after the platform committed it, cancellations.

use medsettle::upstream::Fen;
use medsettle_sandbox::{Fault, FaultRule, SettlementStatus};
use serde_json::json;

use super::{ID_NUMBER, NAME, PIN, PSN, Rig, history_states};

fn fen(v: &serde_json::Value) -> Fen {
    Fen::parse_yuan(v.as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn sales_online_card_sale_settles_once_then_cancels() {
    let rig = Rig::online("").await;
    let before = rig.sandbox().ledger().balance(PSN).unwrap();
    let id = rig.sale("12.50", None).await;

    let (status, pre) = rig
        .post(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await;
    assert_eq!(status, 200, "{pre}");
    assert_eq!(pre["state"], "presettled");
    assert!(pre["patient_share"].is_string(), "{pre}");

    let (status, done) = rig.confirm(&id, json!({ "pin": PIN })).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["state"], "settled", "{done}");
    let text = done.to_string();
    assert!(!text.contains(PIN) && !text.contains(ID_NUMBER) && !text.contains(NAME));

    let ledger = rig.sandbox().ledger();
    assert_eq!(ledger.effective().count(), 1);
    let account = fen(&done["settlement"]["account"]);
    assert_eq!(ledger.balance(PSN).unwrap(), Fen(before.0 - account.0));
    assert_eq!(
        ledger.effective().next().unwrap().setl_id,
        done["settlement"]["setl_id"].as_str().unwrap()
    );

    let full = rig.get(&format!("/v1/sales/{id}")).await;
    assert_eq!(
        history_states(&full),
        [
            "captured",
            "identified",
            "presettled",
            "confirmed",
            "settling",
            "settled"
        ]
    );
    assert_eq!(full["history"][0]["event"], "create");
    assert_eq!(full["history"][0]["detail"]["credential"], "card");
    assert!(full["history"][4]["detail"]["msgid"].is_string(), "{full}");
    let text = full.to_string();
    assert!(!text.contains(ID_NUMBER) && !text.contains(NAME), "{text}");

    // Cancelling the settled sale: 2103, the balance comes back.
    let (status, cancelled) = rig.post(&format!("/v1/sales/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    let ledger = rig.sandbox().ledger();
    assert_eq!(ledger.effective().count(), 0);
    assert_eq!(ledger.settlements[0].status, SettlementStatus::Cancelled);
    assert_eq!(ledger.balance(PSN).unwrap(), before);
    rig.stop().await;
}

#[tokio::test]
async fn sales_wrong_pin_is_a_card_error_and_nothing_settles() {
    let rig = Rig::online("").await;
    let id = rig.sale("12.50", None).await;
    let (status, _) = rig
        .post(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = rig.confirm(&id, json!({ "pin": "654321" })).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "card.pin_wrong", "{body}");
    assert!(!body.to_string().contains("654321"));
    let (status, body) = rig.confirm(&id, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "sale.pin_required");
    let (status, body) = rig.confirm(&id, json!({ "pin": "12ab" })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "request.invalid");
    assert!(!body.to_string().contains("12ab"));
    assert_eq!(
        rig.get(&format!("/v1/sales/{id}")).await["sale"]["state"],
        "presettled"
    );
    let ledger = rig.sandbox().ledger();
    assert!(ledger.settlements.is_empty());
    assert_eq!(ledger.request_count("2102"), 0);
    rig.stop().await;
}

/// The platform settles but the answer is lost: the engine reverses it (2601) at once and,
/// while the patient waits, settles afresh under a new msgid. Exactly one settlement counts.
#[tokio::test]
async fn sales_lost_settlement_answer_is_reversed_then_settled_afresh() {
    let rig = Rig::online("").await;
    let id = rig.sale("12.50", None).await;
    let (status, _) = rig
        .post(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await;
    assert_eq!(status, 200);
    rig.sandbox()
        .inject(FaultRule::times("2102", Fault::DropAfterCommit, 1));
    let (status, done) = rig.confirm(&id, json!({ "pin": PIN })).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["state"], "settled", "{done}");
    assert_eq!(done["tries"], 2, "{done}");
    // Settled is final for confirm: a repeat answers the settlement and sends nothing.
    let (status, again) = rig.confirm(&id, json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["state"], "settled");
    assert_eq!(again["msgid"], done["msgid"]);
    assert_eq!(rig.sandbox().ledger().request_count("2102"), 2);

    let ledger = rig.sandbox().ledger();
    assert_eq!(ledger.effective().count(), 1);
    let reversed: Vec<_> = ledger
        .settlements
        .iter()
        .filter(|s| s.status == SettlementStatus::Reversed)
        .collect();
    assert_eq!(reversed.len(), 1);
    let effective = ledger.effective().next().unwrap();
    assert_ne!(reversed[0].msgid, effective.msgid, "a fresh msgid");
    assert_eq!(done["msgid"], effective.msgid.as_str());
    assert_eq!(ledger.reversed_msgids, vec![reversed[0].msgid.clone()]);

    let full = rig.get(&format!("/v1/sales/{id}")).await;
    assert_eq!(
        history_states(&full)[3..],
        [
            "confirmed",
            "settling",
            "unknown",
            "reversing",
            "reversed",
            "settling",
            "settled"
        ]
    );
    rig.stop().await;
}

#[tokio::test]
async fn sales_cancel_before_settlement_abandons() {
    let rig = Rig::online("").await;
    let id = rig.sale("3.00", None).await;
    let (status, body) = rig.post(&format!("/v1/sales/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "abandoned");
    let (status, body) = rig
        .post(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "sale.wrong_state");
    assert_eq!(body["details"]["state"], "abandoned");
    assert_eq!(rig.sandbox().ledger().request_count("2103"), 0);
    rig.stop().await;
}

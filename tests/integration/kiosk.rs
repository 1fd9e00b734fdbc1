//! Kiosk mode end to end through the daemon: a virtual card reader, the sandbox insurer, and the
//! kiosk UI's calls — start a session, the patient presents a card, the share is shown, the PIN
//! is entered, the receipt comes; a cancel at the share abandons the sale; a patient who never
//! comes times the session out. Steps are followed on the `kiosk.step` events.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use medsettle::card::SlotKind;
use medsettle_sandbox::SandboxConfig;
use medsettle_vcard::{InProcessReader, Profile, VirtualCard};
use serde_json::{Value, json};

use crate::support::{self, InProcess, TOKEN, Terminal};

fn card() -> VirtualCard {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cards/normal.json");
    let mut profile = Profile::load(path).unwrap();
    profile.pin = Some(medsettle_vcard::profile::PinConfig {
        value: "123456".into(),
        tries_left: 3,
        max_tries: 3,
        required_for_ef06: false,
    });
    VirtualCard::from_profile(profile).unwrap()
}

async fn post(d: &InProcess, path: &str, body: Value) -> (u16, Value) {
    let r = support::client()
        .post(d.url(path))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The next `kiosk.step` of `session`, whatever it is.
async fn next_step(feed: &mut medsettle::events::Subscription, session: &str) -> (String, Value) {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let e = feed.live.recv().await.unwrap();
            if e.topic == "kiosk.step" && e.data["session"] == session {
                return (
                    e.data["step"].as_str().unwrap().to_owned(),
                    e.data["data"].clone(),
                );
            }
        }
    })
    .await
    .expect("a kiosk step in time")
}

#[tokio::test]
async fn a_patient_pays_at_the_kiosk_cancels_or_walks_away() {
    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let t = Terminal::with(|t| {
        t.push_str(&format!(
            "mode = \"kiosk\"\n\n[upstream]\nbase_url = \"{}\"\nallow_plain_http = true\n\
             signtype = \"SM3\"\n\n[settle]\nkiosk_step_timeout_ms = 1500\nreconcile_at = \"\"\n",
            sandbox.base_url()
        ));
    });
    let reader = Arc::new(InProcessReader::new(SlotKind::Contact));
    let d = InProcess::start_with_readers(&t, Some(Arc::clone(&reader) as _)).await;
    let items = json!({ "items": [{ "code": "XA01BAA123A001010100001", "name": "挂号费", "cnt": "1", "pric": "25.00" }] });

    // 1. A whole self-service sale.
    let mut feed = d.events.subscribe(None);
    let (status, started) = post(&d, "/v1/kiosk/sessions", items.clone()).await;
    assert_eq!(status, 201, "{started}");
    let id = started["session"].as_str().unwrap().to_owned();
    assert_eq!(started["step"], "waiting_credential");
    // One session at a time.
    let (status, busy) = post(&d, "/v1/kiosk/sessions", items.clone()).await;
    assert_eq!((status, busy["code"].as_str()), (409, Some("kiosk.busy")));
    reader.insert(card());
    assert_eq!(next_step(&mut feed, &id).await.0, "waiting_credential");
    assert_eq!(next_step(&mut feed, &id).await.0, "identifying");
    let (step, share) = next_step(&mut feed, &id).await;
    assert_eq!(step, "share", "{share}");
    assert!(share["patient_share"].is_string(), "{share}");
    assert!(
        !share.to_string().contains("110105199003071239"),
        "masked: {share}"
    );
    let (status, _) = post(
        &d,
        &format!("/v1/kiosk/sessions/{id}/consent"),
        json!({ "pin": "123456" }),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(next_step(&mut feed, &id).await.0, "settling");
    let (step, receipt) = next_step(&mut feed, &id).await;
    assert_eq!(step, "receipt", "{receipt}");
    assert_eq!(receipt["total"], "25.00");
    assert!(receipt["settlement"]["setl_id"].is_string(), "{receipt}");
    assert_eq!(receipt["fixmedins_name"], "测试社区卫生服务中心");
    assert_eq!(sandbox.ledger().effective().count(), 1);
    let view = support::get_json(&d.url(&format!("/v1/kiosk/sessions/{id}"))).await;
    assert_eq!(view["step"], "receipt");

    // 2. The patient cancels at the share: the sale is abandoned, nothing is booked.
    let (_, started) = post(&d, "/v1/kiosk/sessions", items.clone()).await;
    let id = started["session"].as_str().unwrap().to_owned();
    loop {
        let (step, data) = next_step(&mut feed, &id).await;
        if step == "share" {
            break;
        }
        assert!(
            matches!(step.as_str(), "waiting_credential" | "identifying"),
            "{step} {data}"
        );
    }
    let (status, _) = post(&d, &format!("/v1/kiosk/sessions/{id}/cancel"), json!({})).await;
    assert_eq!(status, 202);
    let (step, data) = next_step(&mut feed, &id).await;
    assert_eq!(step, "cancelled");
    let sale =
        support::get_json(&d.url(&format!("/v1/sales/{}", data["sale"].as_str().unwrap()))).await;
    assert_eq!(sale["sale"]["state"], "abandoned");
    assert_eq!(sale["sale"]["mode"], "require_online");
    assert_eq!(sandbox.ledger().effective().count(), 1);

    // 3. Nobody comes: the session times out.
    reader.remove();
    let (_, started) = post(&d, "/v1/kiosk/sessions", items).await;
    let id = started["session"].as_str().unwrap().to_owned();
    let (step, data) = loop {
        let (step, data) = next_step(&mut feed, &id).await;
        if step != "waiting_credential" {
            break (step, data);
        }
    };
    assert_eq!(step, "timeout", "{data}");
    assert_eq!(data["waiting_for"], "credential");
    d.shutdown().await;

    // Every platform request of a kiosk says so: opter_type 2 (self-service terminal).
    // The request bodies are sealed at rest: read them back through the store.
    let msgids: Vec<String> = {
        let db = rusqlite::Connection::open(t.db_path()).unwrap();
        let mut stmt = db.prepare("SELECT msgid FROM upstream_audit").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert!(!msgids.is_empty());
    let (store, _) = tokio::task::spawn_blocking({
        let path = t.db_path();
        move || medsettle::store::Store::open(&path, std::time::Duration::from_secs(5))
    })
    .await
    .unwrap()
    .unwrap();
    for msgid in &msgids {
        let row = store.audit(msgid).await.unwrap().unwrap();
        assert!(
            row.request.contains("\"opter_type\":\"2\""),
            "{msgid} is not marked self-service"
        );
    }
    store.close().await.unwrap();
    sandbox.shutdown().await;
}

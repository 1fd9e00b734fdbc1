//! The outpatient visit API (`/v1/visits…`) and `medsettle visit …` through the real binary
//! against the strict sandbox insurer: a visit with fee lines settles and is listed; a field
//! that breaks outpatient.md's rules is refused by name and creates nothing; a create retried
//! under its `Idempotency-Key` answers the same visit; `visit.state` events reach
//! `/v1/events` masked; the CLI lists, shows and cancels visits. No PIN (`skip_pin_consent`).

use std::time::Duration;

use medsettle_sandbox::{SandboxConfig, SettlementStatus};
use serde_json::{Value, json};

use crate::support::clinic::{Clinic as Rig, id, visit_body};
use crate::support::{Api, TOKEN, Terminal};

/// 张三's ID number (the virtual card's): never in an answer or an event unmasked.
const ID_NUMBER: &str = "110105199003071239";

/// Reads the SSE stream until an event of `topic` about `id` reaching `state` arrives; every
/// event's data seen on the way is returned (to check the masking).
async fn until_event(stream: &mut reqwest::Response, topic: &str, id: &str, state: &str) -> String {
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let chunk = stream
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
            let hit = seen.split("\n\n").any(|frame| {
                frame.contains(&format!("event: {topic}\n"))
                    && frame.contains(&format!("\"id\":\"{id}\""))
                    && frame.contains(&format!("\"to\":\"{state}\""))
            });
            if hit {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {topic} event of {id} reaching {state} in:\n{seen}"));
    seen
}

#[tokio::test]
async fn a_visit_with_fee_lines_settles_is_listed_and_its_events_are_masked() {
    let rig = Rig::start().await;
    let mut events = crate::support::client()
        .get(rig.process.url("/v1/events?topics=visit"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let credential = rig.api.credential().await;

    let (status, v, _) = rig
        .create(visit_body(&credential, "MZ-API-1", 2), None)
        .await;
    assert_eq!(
        (status, v["state"].as_str()),
        (201, Some("uploaded")),
        "{v}"
    );
    assert_eq!(v["kind"], "outpatient");
    let id = id(&v);
    assert!(id.starts_with('V'), "{id}");
    assert!(v["visit"]["mdtrt_id"].is_string(), "registered: {v}");
    assert_eq!(v["visit"]["batch"]["state"], "uploaded", "{v}");
    assert_eq!(v["amount"], "49.36", "2 lines of 2 × 12.34");
    assert_eq!(
        [rig.count("2201"), rig.count("2204")],
        [1, 1],
        "registered once, its lines uploaded once"
    );

    let (status, v) = rig
        .api
        .post(&format!("/v1/visits/{id}/presettle"), json!({}))
        .await;
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("presettled")),
        "{v}"
    );
    assert!(v["patient_share"].is_string(), "{v}");
    let (status, v) = rig
        .api
        .post(&format!("/v1/visits/{id}/confirm"), json!({}))
        .await;
    assert_eq!((status, v["state"].as_str()), (200, Some("settled")), "{v}");
    let setl_id = v["settlement"]["setl_id"].as_str().unwrap().to_owned();
    let ledger = rig.sandbox.ledger();
    let mine: Vec<_> = ledger
        .settlements
        .iter()
        .filter(|s| s.setl_id == setl_id)
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].status, SettlementStatus::Effective);
    assert_eq!(mine[0].medfee_sumamt.0, 4_936);

    // Listed, newest first; the filter by state holds.
    let (status, list) = rig.api.get_with_status("/v1/visits").await;
    assert_eq!(status, 200, "{list}");
    let visits = list["visits"].as_array().unwrap();
    assert_eq!(visits.len(), 1, "{list}");
    assert_eq!(visits[0]["id"], id.as_str());
    assert_eq!(visits[0]["state"], "settled");
    let settled = rig.api.get("/v1/visits?state=settled,presettled").await;
    assert_eq!(settled["visits"].as_array().unwrap().len(), 1, "{settled}");
    let registered = rig.api.get("/v1/visits?state=registered&limit=5").await;
    assert_eq!(
        registered["visits"].as_array().unwrap().len(),
        0,
        "{registered}"
    );
    for bad in [
        "/v1/visits?state=nope",
        "/v1/visits?limit=0",
        "/v1/visits?x=1",
    ] {
        let (status, v) = rig.api.get_with_status(bad).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (400, Some("request.invalid")),
            "{bad}"
        );
    }
    assert!(!list.to_string().contains(ID_NUMBER), "masked: {list}");

    // One visit with its history; a pharmacy sale is not a visit.
    let (status, doc) = rig.api.get_with_status(&format!("/v1/visits/{id}")).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["sale"]["id"], id.as_str());
    let path: Vec<&str> = doc["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["to"].as_str().unwrap())
        .collect();
    for state in [
        "captured",
        "registered",
        "uploaded",
        "presettled",
        "settled",
    ] {
        assert!(path.contains(&state), "{state} in {path:?}");
    }
    let sale = rig
        .api
        .new_sale(&credential, "require_online", "1.00")
        .await;
    let (status, v) = rig.api.get_with_status(&format!("/v1/visits/{sale}")).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("sale.wrong_kind")),
        "{v}"
    );
    let (status, v) = rig.api.get_with_status("/v1/visits/Vnothing").await;
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("sale.not_found")),
        "{v}"
    );
    let (status, v) = rig
        .api
        .post(&format!("/v1/visits/{sale}/presettle"), json!({}))
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("sale.wrong_kind")),
        "{v}"
    );

    // The visit's state changes reached the event stream as `visit.state`, masked.
    let seen = until_event(&mut events, "visit.state", &id, "settled").await;
    assert!(!seen.contains("event: sale.state"), "topics=visit: {seen}");
    assert!(!seen.contains(ID_NUMBER), "masked: {seen}");
    rig.close().await;
}

#[tokio::test]
async fn a_field_that_breaks_the_rules_is_refused_by_name_and_creates_nothing() {
    let rig = Rig::start().await;
    let credential = rig.api.credential().await;
    let mut long_dept = visit_body(&credential, "MZ-BAD-1", 1);
    long_dept["dept_code"] = json!("D".repeat(31));
    let mut zero_cnt = visit_body(&credential, "MZ-BAD-2", 2);
    zero_cnt["items"][0]["cnt"] = json!("0");
    let mut no_main = visit_body(&credential, "MZ-BAD-3", 0);
    no_main["diagnoses"][0]["diag_srt_no"] = json!(2);
    for (body, field) in [
        (long_dept, "dept_code"),
        (zero_cnt, "items[0].cnt"),
        (no_main, "diagnoses"),
    ] {
        let (status, v, _) = rig.create(body, None).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["code"], "visit.invalid_field", "{v}");
        assert_eq!(v["details"]["field"], field, "{v}");
        assert!(v["details"]["problem"].is_string(), "{v}");
        assert!(v["message_zh"].as_str().unwrap().contains(field), "{v}");
    }
    // A body not as documented: strict, the failing field named.
    let mut unknown = visit_body(&credential, "MZ-BAD-4", 1);
    unknown["colour"] = json!("red");
    let mut mistyped = visit_body(&credential, "MZ-BAD-5", 1);
    mistyped["items"][0]["cnt"] = json!(true);
    for (body, named) in [(unknown, "colour"), (mistyped, "items[0].cnt")] {
        let (status, v, _) = rig.create(body, Some("bad-body")).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (400, Some("request.invalid")),
            "{v}"
        );
        assert!(v["message_en"].as_str().unwrap().contains(named), "{v}");
    }
    let (status, v) = rig
        .api
        .post("/v1/visits/Vnothing/presettle", json!({ "pin": "123456" }))
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("request.invalid")),
        "{v}"
    );

    // Nothing was recorded, nothing reached the platform.
    let list = rig.api.get("/v1/visits").await;
    assert_eq!(list, json!({ "visits": [] }));
    assert_eq!([rig.count("2201"), rig.count("2204")], [0, 0]);
    rig.close().await;
}

#[tokio::test]
async fn a_create_retried_under_its_key_answers_the_same_visit() {
    let rig = Rig::start().await;
    let credential = rig.api.credential().await;
    let body = visit_body(&credential, "MZ-KEY", 1);
    let (status, first, replayed) = rig.create(body.clone(), Some("his-visit-1")).await;
    assert_eq!((status, replayed), (201, false), "{first}");
    let (status, again, replayed) = rig.create(body.clone(), Some("his-visit-1")).await;
    assert_eq!((status, replayed), (201, true), "{again}");
    assert_eq!(id(&again), id(&first));
    assert_eq!(again["state"], "uploaded");
    assert_eq!(
        [rig.count("2201"), rig.count("2204")],
        [1, 1],
        "one visit on the platform"
    );
    // The same key for another request is refused; a new key is a new visit.
    let other = visit_body(&credential, "MZ-KEY-2", 1);
    let (status, v, _) = rig.create(other.clone(), Some("his-visit-1")).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (422, Some("idempotency.mismatch")),
        "{v}"
    );
    let (status, v, _) = rig.create(other, Some("his-visit-2")).await;
    assert_eq!(status, 201, "{v}");
    assert_ne!(id(&v), id(&first));
    assert_eq!(
        rig.api.get("/v1/visits").await["visits"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // A PUT under a key is remembered too: the lines are replaced once.
    let vid = id(&first);
    let put = |key: &'static str| {
        let url = rig.process.url(&format!("/v1/visits/{vid}/details"));
        async move {
            let r = crate::support::client()
                .put(url)
                .bearer_auth(TOKEN)
                .header("Idempotency-Key", key)
                .json(&json!({ "items": [{ "code": "XA01BAA009", "cnt": "1", "pric": "5.00" }] }))
                .send()
                .await
                .unwrap();
            let replayed = r.headers().get("idempotent-replayed").is_some();
            (
                r.status().as_u16(),
                replayed,
                r.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, replayed, v) = put("reprice-1").await;
    assert_eq!(
        (status, replayed, v["amount"].as_str()),
        (200, false, Some("5.00")),
        "{v}"
    );
    let (status, replayed, _) = put("reprice-1").await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(
        [rig.count("2205"), rig.count("2204")],
        [1, 3],
        "replaced once"
    );
    rig.close().await;
}

#[tokio::test]
async fn the_cli_lists_shows_and_cancels_visits() {
    let rig = Rig::start().await;
    let credential = rig.api.credential().await;
    let (status, v, _) = rig.create(visit_body(&credential, "MZ-CLI", 1), None).await;
    assert_eq!(status, 201, "{v}");
    let id = id(&v);

    let (code, out, err) = rig.cli(&["visit", "ls"]).await;
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} in\n{out}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        &cols[1..7],
        ["uploaded", "11", "A03", "24.68", "yes", "uploaded"],
        "{out}"
    );
    assert!(out.contains("1 visit(s)"), "{out}");
    let (code, out, err) = rig.cli(&["visit", "ls", "--state", "settled"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 visit(s)") && !out.contains(&id), "{out}");
    let (code, out, err) = rig.cli(&["visit", "ls", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["visits"][0]["id"], id.as_str());

    let (code, out, err) = rig.cli(&["visit", "show", &id]).await;
    assert_eq!(code, 0, "{err}");
    for want in [
        format!("visit     {id}"),
        "state     uploaded".into(),
        "otp no    MZ-CLI".into(),
        "history".into(),
    ] {
        assert!(out.contains(&want), "{want:?} in\n{out}");
    }
    assert!(!out.contains(ID_NUMBER), "masked: {out}");

    let (code, _, err) = rig.cli(&["visit", "show", "Vnothing"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("sale.not_found"), "{err}");

    // Cancel: the platform gets its lines and registration back.
    let (code, out, err) = rig.cli(&["visit", "cancel", &id]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("{id} abandoned"));
    assert_eq!([rig.count("2205"), rig.count("2202")], [1, 1]);
    assert!(rig.sandbox.visits_holding().is_empty());
    // Refunding an abandoned visit is refused with the engine's error.
    let (code, _, err) = rig.cli(&["visit", "refund", &id]).await;
    assert_eq!(code, 1);
    assert!(err.contains("sale.wrong_state"), "{err}");
    rig.close().await;
}

/// A virtual card of `profile` (fixtures/cards) with PIN 123456, presented on the contact
/// slot; `other` gives it 李四's identity (another person than the visit's).
fn kiosk_card(other: bool) -> medsettle_vcard::VirtualCard {
    use medsettle_vcard::Profile;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cards");
    let mut profile = Profile::load(dir.join("normal.json")).unwrap();
    if other {
        let lisi = Profile::load(dir.join("contactless.json")).unwrap();
        profile.ef05 = lisi.ef05;
        profile.ef06 = lisi.ef06;
    }
    profile.pin = Some(medsettle_vcard::profile::PinConfig {
        value: "123456".into(),
        tries_left: 3,
        max_tries: 3,
        required_for_ef06: false,
    });
    medsettle_vcard::VirtualCard::from_profile(profile).unwrap()
}

/// The next `kiosk.step` of `session`.
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

/// The steps of `session` up to (and with) the first that is not one of `passing`.
async fn step_past(
    feed: &mut medsettle::events::Subscription,
    session: &str,
    passing: &[&str],
) -> (String, Value) {
    loop {
        let (step, data) = next_step(feed, session).await;
        if !passing.contains(&step.as_str()) {
            return (step, data);
        }
    }
}

#[tokio::test]
async fn a_kiosk_pays_a_visit_the_his_created_and_leaves_it_alone_otherwise() {
    use crate::support::InProcess;
    use medsettle::card::SlotKind;
    use medsettle_vcard::InProcessReader;
    use std::sync::Arc;

    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let t = Terminal::with(|t| {
        t.push_str(&format!(
            "mode = \"kiosk\"\n\n[upstream]\nbase_url = \"{}\"\nallow_plain_http = true\n\
             signtype = \"SM3\"\n\n[settle]\nkiosk_step_timeout_ms = 5000\nreconcile_at = \"\"\n",
            sandbox.base_url()
        ));
    });
    let reader = Arc::new(InProcessReader::new(SlotKind::Contact));
    let d = InProcess::start_with_readers(&t, Some(Arc::clone(&reader) as _)).await;
    let api = Api::at(d.addr);
    reader.insert(kiosk_card(false));
    let credential = api.credential().await;
    let (status, v) = api
        .post("/v1/visits", visit_body(&credential, "MZ-KIOSK-1", 1))
        .await;
    assert_eq!(status, 201, "{v}");
    let visit = id(&v);
    let (status, v) = api
        .post("/v1/visits", visit_body(&credential, "MZ-KIOSK-2", 1))
        .await;
    assert_eq!(status, 201, "{v}");
    let other_visit = id(&v);
    reader.remove();

    // A session for what is not a payable visit is refused at once.
    let (status, v) = api
        .post("/v1/kiosk/sessions", json!({ "visit_id": "Vnothing" }))
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("sale.not_found")),
        "{v}"
    );

    // 1. Another person's card: the session fails, the visit is as it was.
    let mut feed = d.events.subscribe(None);
    let (status, started) = api
        .post("/v1/kiosk/sessions", json!({ "visit_id": visit }))
        .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["step"], "waiting_credential");
    let session = started["session"].as_str().unwrap().to_owned();
    reader.insert(kiosk_card(true));
    let (step, data) = step_past(&mut feed, &session, &["waiting_credential", "identifying"]).await;
    assert_eq!(step, "failed", "{data}");
    assert_eq!(data["code"], "sale.other_card", "{data}");
    reader.remove();
    let doc = api.get(&format!("/v1/visits/{visit}")).await;
    assert_eq!(doc["sale"]["state"], "uploaded", "{doc}");

    // 2. The patient cancels at the share: the session ends, the visit stays the HIS's.
    let (status, started) = api
        .post("/v1/kiosk/sessions", json!({ "visit_id": other_visit }))
        .await;
    assert_eq!(status, 201, "{started}");
    let session = started["session"].as_str().unwrap().to_owned();
    reader.insert(kiosk_card(false));
    let (step, share) =
        step_past(&mut feed, &session, &["waiting_credential", "identifying"]).await;
    assert_eq!(step, "share", "{share}");
    let (status, _) = api
        .post(&format!("/v1/kiosk/sessions/{session}/cancel"), json!({}))
        .await;
    assert_eq!(status, 202);
    assert_eq!(next_step(&mut feed, &session).await.0, "cancelled");
    let doc = api.get(&format!("/v1/visits/{other_visit}")).await;
    assert_eq!(doc["sale"]["state"], "presettled", "not cancelled: {doc}");
    assert_eq!(sandbox.ledger().request_count("2202"), 0, "nothing undone");
    reader.remove();

    // 3. The patient pays: share, PIN, receipt.
    let (status, started) = api
        .post("/v1/kiosk/sessions", json!({ "visit_id": visit }))
        .await;
    assert_eq!(status, 201, "{started}");
    let session = started["session"].as_str().unwrap().to_owned();
    reader.insert(kiosk_card(false));
    let (step, share) =
        step_past(&mut feed, &session, &["waiting_credential", "identifying"]).await;
    assert_eq!(step, "share", "{share}");
    assert_eq!(share["id"], visit.as_str());
    assert!(share["patient_share"].is_string(), "{share}");
    assert!(!share.to_string().contains(ID_NUMBER), "masked: {share}");
    let (status, _) = api
        .post(
            &format!("/v1/kiosk/sessions/{session}/consent"),
            json!({ "pin": "123456" }),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(next_step(&mut feed, &session).await.0, "settling");
    let (step, receipt) = next_step(&mut feed, &session).await;
    assert_eq!(step, "receipt", "{receipt}");
    assert_eq!(receipt["sale"], visit.as_str());
    assert_eq!(receipt["kind"], "outpatient");
    assert!(receipt["settlement"]["setl_id"].is_string(), "{receipt}");
    let doc = api.get(&format!("/v1/visits/{visit}")).await;
    assert_eq!(doc["sale"]["state"], "settled", "{doc}");
    assert_eq!(sandbox.ledger().request_count("2207"), 1);
    // A settled visit is not payable again.
    let (status, v) = api
        .post("/v1/kiosk/sessions", json!({ "visit_id": visit }))
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("sale.wrong_state")),
        "{v}"
    );
    d.shutdown().await;
    sandbox.shutdown().await;
}

/// A visit whose drug line the hospital pharmacy dispensed with its boxes' trace codes: 2207
/// announces the count, the settled visit's line is reported (3505, the prescriber defaulting to
/// the visit's doctor), and the refund returns it (3506).
#[tokio::test]
async fn a_dispensed_line_of_a_settled_visit_is_reported_and_returned_with_the_refund() {
    let rig = Rig::start().await;
    let credential = rig.api.credential().await;
    let (a, b) = ("81234567890123480001", "81234567890123480002");
    let mut body = visit_body(&credential, "MZ-TRACE-1", 2);
    body["items"][1]["trace"] = json!({ "codes": [a, b], "fixmedins_bchno": "B1",
        "manu_lotnum": "L2511", "manu_date": "2025-11-01", "rx_flag": "1" });
    body["dispensing"] = json!({ "phar_name": "王药师", "phar_prac_cert_no": "YS2020001",
                                 "opter_name": "收费员" });
    let (status, v, _) = rig.create(body, None).await;
    assert_eq!(status, 201, "{v}");
    let visit = id(&v);
    let (status, v) = rig.step(&visit, "presettle").await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = rig.step(&visit, "confirm").await;
    assert_eq!((status, v["state"].as_str()), (200, Some("settled")), "{v}");
    let settled = rig.sandbox.ledger();
    let setl = settled.effective().last().unwrap();
    assert_eq!(setl.trace_counts, Some((2, 0)), "2207 announces the boxes");
    let sent = |n: usize| move |r: &[Value]| r.len() == n && r.iter().all(|x| x["state"] == "sent");
    let within = Duration::from_secs(30);
    let reports = rig.api.trace_reports_until(&visit, within, sent(1)).await;
    assert_eq!(
        (reports[0]["line"].as_u64(), reports[0]["codes"].as_u64()),
        (Some(1), Some(2))
    );
    let events = rig.sandbox.trace_events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| e.infno == "3505" && e.setl_id == setl.setl_id)
    );

    let (status, v) = rig.step(&visit, "refund").await;
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("cancelled")),
        "{v}"
    );
    rig.api.trace_reports_until(&visit, within, sent(2)).await;
    let returned = rig
        .sandbox
        .trace_events()
        .iter()
        .filter(|e| e.infno == "3506")
        .count();
    assert_eq!(returned, 2);
    rig.close().await;
}

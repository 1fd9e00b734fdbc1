//! Settlement and cancellation answers in the public shapes of upstream.md, through the real
//! daemon process against the sandbox insurer: a settlement with a hospital share settles (no
//! 2601) and the cash shown is `psn_cash_pay` as given; a 2103 answer in the `psn_pay` /
//! `cash_payamt` shape cancels (no 2601); a settlement for another amount settles with the
//! advisory alarm, never a reversal; the 2101/2102 node names follow the configuration.

use std::time::Duration;

use serde_json::{Value, json};

use medsettle_sandbox::shapes::AnswerShapes;
use medsettle_sandbox::{Fault, FaultRule, Sandbox, SandboxConfig, SettlementStatus};

use crate::support::{Api, NORMAL_CARD, Process, Terminal, Timeouts};

const PSN: &str = "P110105000001";

/// A daemon (the real binary, virtual card of the sandbox's 张三) against `sandbox`, with
/// `settle` lines added to `[settle]`.
async fn daemon(sandbox: &Sandbox, settle: &str) -> (Terminal, Process) {
    let t = Terminal::against_sandbox(
        &sandbox.base_url(),
        Timeouts(300, 2000, 3000),
        &format!(
            "retry_first_ms = 100
retry_max_ms = 400
{settle}"
        ),
    );
    let text = t.config_with_virtual_card(NORMAL_CARD);
    let run = t.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let p = Process::start_config(&run, &text, |c| {
        c.env("RUST_LOG", "warn");
    })
    .await;
    (t, p)
}

fn sales_of(sandbox: &Sandbox, id: &str) -> Vec<medsettle_sandbox::SettlementRecord> {
    sandbox
        .ledger()
        .settlements
        .into_iter()
        .filter(|s| s.chrg_bchno == id)
        .collect()
}

fn fen(v: &Value) -> i64 {
    v.as_str()
        .unwrap_or_else(|| panic!("not an amount: {v}"))
        .parse::<medsettle::upstream::Fen>()
        .unwrap()
        .0
}

#[tokio::test]
async fn a_settlement_with_a_hospital_share_settles_and_shows_the_cash_given() {
    let sandbox = medsettle_sandbox::start(SandboxConfig {
        shapes: AnswerShapes {
            hosp_part_permille: 200,
            acct_mulaid_permille: 500,
            psn_nos: vec![PSN.to_owned()],
            ..AnswerShapes::default()
        },
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let (_t, p) = daemon(&sandbox, "").await;
    let api = Api::new(&p);
    // 张三: deductible 100.00 first, then 70 %: of 250.00 the fund pays 105.00; the account
    // pays the patient's share (145.00); a fifth of no cash is no hospital share. Pay without
    // the account to make cash: use_account false.
    let (status, v) = api.post("/v1/card/read", json!({})).await;
    assert_eq!(status, 200, "{v}");
    let credential = v["credential_id"].as_str().unwrap().to_owned();
    let (status, v) = api
        .post(
            "/v1/sales",
            json!({
                "credential_id": credential,
                "items": [{"code": "XA01BAA123A001010100001", "cnt": "1", "pric": "250.00"}],
                "mode": "require_online",
                "use_account": false,
            }),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let (status, v) = api
        .post(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = api
        .post(&format!("/v1/sales/{id}/confirm"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    let sale = &v;
    assert_eq!(sale["state"], "settled", "{v}");
    let records = sales_of(&sandbox, &id);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.status, SettlementStatus::Effective);
    assert!(r.hosp_part_amt.0 > 0, "{r:?}");
    assert_ne!(
        r.fund_pay_sumamt.0 + r.acct_pay.0 + r.psn_cash_pay.0,
        r.medfee_sumamt.0,
        "the three-term sum misses by the hospital share"
    );
    let split = &sale["settlement"];
    assert_eq!(fen(&split["cash"]), r.psn_cash_pay.0, "{split}");
    assert_eq!(fen(&sale["patient_share"]), r.psn_cash_pay.0);
    assert_eq!(fen(&split["hosp_part"]), r.hosp_part_amt.0);
    assert_eq!(fen(&split["answer"]["hosp_part_amt"]), r.hosp_part_amt.0);
    assert!(split.get("mismatches").is_none(), "{split}");
    assert!(split["answer"].get("psn_no").is_none(), "{split}");
    let ledger = sandbox.ledger();
    assert_eq!(ledger.request_count("2601"), 0);
    assert!(ledger.reversed_msgids.is_empty());
    let status = api.get("/v1/status").await;
    let alarms = status["alarms"].as_array().unwrap();
    assert!(
        !alarms.iter().any(|a| a["code"] == "sale.answer_mismatch"),
        "{status}"
    );
}

#[tokio::test]
async fn a_public_shape_cancellation_answer_cancels_without_a_reversal() {
    let sandbox = medsettle_sandbox::start(SandboxConfig {
        shapes: AnswerShapes {
            public_cancellations: true,
            ..AnswerShapes::default()
        },
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let (_t, p) = daemon(&sandbox, "").await;
    let api = Api::new(&p);
    let sale = api.online_sale("12.30", json!({})).await;
    assert_eq!(sale["state"], "settled", "{sale}");
    let id = sale["id"].as_str().unwrap();
    let setl_id = sale["settlement"]["setl_id"].as_str().unwrap().to_owned();
    let cash = fen(&sale["settlement"]["cash"]);
    let (status, v) = api.post(&format!("/v1/sales/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200, "{v}");
    let sale = &v;
    assert_eq!(sale["state"], "cancelled", "{v}");
    let c = &sale["cancellation"];
    assert_eq!(c["original_setl_id"], setl_id.as_str());
    assert_eq!(c["cash_from"], "answer", "{c}");
    assert_eq!(fen(&c["cash_refunded"]), cash);
    assert!(c["answer"].get("cash_payamt").is_some(), "{c}");
    assert!(c["answer"].get("psn_cash_pay").is_none(), "{c}");
    let ledger = sandbox.ledger();
    assert_eq!(ledger.request_count("2103"), 1);
    assert_eq!(ledger.request_count("2601"), 0);
    assert_eq!(
        ledger.by_setl_id(&setl_id).unwrap().status,
        SettlementStatus::Cancelled
    );
}

#[tokio::test]
async fn a_settlement_for_another_amount_settles_with_an_alarm_and_no_reversal() {
    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let (_t, p) = daemon(&sandbox, "").await;
    let api = Api::new(&p);
    sandbox.inject(FaultRule::times(
        "2102",
        Fault::SettleOtherAmount { delta_fen: 1_000 },
        1,
    ));
    let sale = api.online_sale("20.00", json!({})).await;
    assert_eq!(sale["state"], "settled", "{sale}");
    let id = sale["id"].as_str().unwrap();
    let records = sales_of(&sandbox, id);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].medfee_sumamt.0, 3_000);
    assert_eq!(records[0].status, SettlementStatus::Effective);
    let mismatches = sale["settlement"]["mismatches"].as_array().unwrap();
    assert!(
        mismatches.iter().any(|m| m["check"] == "medfee_sent"),
        "{sale}"
    );
    assert_eq!(fen(&sale["settlement"]["medfee"]), 3_000);
    let status = api.get("/v1/status").await;
    let alarm = status["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "sale.answer_mismatch")
        .unwrap_or_else(|| panic!("no alarm in {status}"))
        .clone();
    assert_eq!(alarm["details"]["sales"][0]["id"], id);
    assert!(!alarm["message_zh"].as_str().unwrap().is_empty());
    // The history says which check failed.
    let view = api.get(&format!("/v1/sales/{id}")).await;
    assert!(view.to_string().contains("medfee_sent"), "{view}");
    let ledger = sandbox.ledger();
    assert_eq!(ledger.request_count("2601"), 0);
    assert_eq!(ledger.request_count("2102"), 1);
}

#[tokio::test]
async fn the_pharmacy_node_names_follow_the_configuration() {
    for (header, lines, settle) in [
        ("druginfo", "drugdetail", ""),
        (
            "data",
            "feedetail",
            "pharmacy_input_node = \"data\"\npharmacy_detail_node = \"feedetail\"",
        ),
    ] {
        // The sandbox accepts only this pair.
        let sandbox = medsettle_sandbox::start(SandboxConfig {
            pharmacy_nodes: Some((header.to_owned(), lines.to_owned())),
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        let (_t, p) = daemon(&sandbox, settle).await;
        let api = Api::new(&p);
        let sale = api.online_sale("8.80", json!({})).await;
        assert_eq!(sale["state"], "settled", "{header}: {sale}");
        let id = sale["id"].as_str().unwrap();
        assert_eq!(sales_of(&sandbox, id).len(), 1);
        let ledger = sandbox.ledger();
        assert_eq!(
            (ledger.request_count("2101"), ledger.request_count("2102")),
            (1, 1)
        );
    }
}

#[tokio::test]
async fn the_settlement_query_re_reads_a_settlement_the_terminal_holds() {
    use medsettle::upstream::UpstreamError;
    use medsettle::upstream::tx::query::{Refund, SettlementQueryInput};

    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let (t, p) = daemon(&sandbox, "").await;
    let api = Api::new(&p);
    let sale = api.online_sale("15.00", json!({})).await;
    assert_eq!(sale["state"], "settled", "{sale}");
    let id = sale["id"].as_str().unwrap().to_owned();
    let setl_id = sale["settlement"]["setl_id"].as_str().unwrap().to_owned();
    let msgid = sale["msgid"].as_str().unwrap().to_owned();

    // The HTTP client of the same configuration, on its own store (its own msgid node, so
    // its msgids never meet the daemon's).
    let mut config = t.config();
    config.store.path = t.path().join("query.db");
    config.terminal.msgid_node = Some(7);
    let (store, _) =
        medsettle::store::Store::open(&config.store.path, Duration::from_secs(5)).unwrap();
    let client = medsettle::daemon::upstream::build(&config, store, None, None).unwrap();
    let query = |setl_id: &str| SettlementQueryInput::new(PSN, setl_id, None).unwrap();
    let q = client
        .settlement_query(&query(&setl_id), "110105")
        .await
        .unwrap();
    assert_eq!(q.setl_id().unwrap(), setl_id);
    assert_eq!(q.refund(), Refund::Effective);
    assert_eq!(q.msgid(), Some(msgid.as_str()));
    assert_eq!(
        q.cash().map(|c| c.0),
        Some(fen(&sale["settlement"]["cash"]))
    );

    let (status, v) = api.post(&format!("/v1/sales/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200, "{v}");
    let q = client
        .settlement_query(&query(&setl_id), "110105")
        .await
        .unwrap();
    assert_eq!(q.refund(), Refund::Refunded);
    // A msgid is not a setl_id: the platform finds nothing.
    let e = client
        .settlement_query(&query(&msgid), "110105")
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::Business { .. }), "{e:?}");
}

#[tokio::test]
async fn the_cashiers_insutype_choice_reaches_the_2101_and_2102() {
    // 张三 insured twice: employee (310, 110105) and resident (390, 110101).
    let persons = tempfile::tempdir().unwrap();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/persons/zhangsan.json"
    );
    let mut zhang: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    zhang["insuinfo"].as_array_mut().unwrap().push(json!({
        "insutype": "390", "psn_type": "14", "psn_insu_stas": "1", "balc": "0.00",
        "insuplc_admdvs": "110101", "emp_name": ""
    }));
    zhang["funds"]["390"] = json!({
        "deductible_remaining": "0.00", "coinsurance_percent": 50, "cap_remaining": "2000.00"
    });
    std::fs::write(persons.path().join("zhangsan.json"), zhang.to_string()).unwrap();
    let sandbox = medsettle_sandbox::start(SandboxConfig {
        persons_dir: persons.path().to_owned(),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let (_t, p) = daemon(&sandbox, "insutype_preference = [\"310\"]").await;
    let api = Api::new(&p);

    // A choice 1101 did not offer: 409 with a code, nothing stored.
    let (status, v) = api.post("/v1/card/read", json!({})).await;
    assert_eq!(status, 200, "{v}");
    let credential = v["credential_id"].as_str().unwrap().to_owned();
    let new_sale = json!({
        "credential_id": credential,
        "items": [{"code": "XA01BAA123A001010100001", "cnt": "1", "pric": "40.00"}],
        "mode": "require_online",
    });
    let (status, v) = api.post("/v1/sales", new_sale.clone()).await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let (status, v) = api
        .post(
            &format!("/v1/sales/{id}/presettle"),
            json!({"insutype": "320"}),
        )
        .await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["code"], "sale.insutype_not_offered", "{v}");
    assert!(!v["message_zh"].as_str().unwrap().is_empty());
    let view = api.get(&format!("/v1/sales/{id}")).await;
    assert_eq!(view["sale"]["state"], "captured", "{view}");
    let (status, v) = api
        .post(
            &format!("/v1/sales/{id}/presettle"),
            json!({"insutype": "3 10"}),
        )
        .await;
    assert_eq!(status, 400, "{v}");

    // The default is the preference (310); the cashier chooses 390.
    let (status, v) = api
        .post(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["insutype"], "310");
    assert_eq!(v["insurances"].as_array().unwrap().len(), 2, "{v}");
    let (status, v) = api
        .post(
            &format!("/v1/sales/{id}/presettle"),
            json!({"insutype": "390"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["insutype"], "390");
    // Resident insurance, 50 %, no account: 20.00 by the fund.
    assert_eq!(fen(&v["estimate"]["fund"]), 2_000);
    let (status, v) = api
        .post(&format!("/v1/sales/{id}/confirm"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "settled", "{v}");
    let records = sales_of(&sandbox, &id);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].insutype, "390");
    assert_eq!(records[0].fund_pay_sumamt.0, 2_000);
    // The choice survives a reload of the sale.
    let view = api.get(&format!("/v1/sales/{id}")).await;
    assert_eq!(view["sale"]["insutype"], "390", "{view}");
}

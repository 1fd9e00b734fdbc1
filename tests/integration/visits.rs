//! Outpatient visits through the real daemon process (the built binary, a virtual card, the
//! sandbox insurer over loopback, strict per outpatient.md): a visit settles and its refund
//! gives the platform back everything (2208, 2205, 2202); a visit abandoned at each step sends
//! exactly its undo requests and leaves nothing on the platform (the sandbox's own books say
//! so); a 2207 whose answer is lost is reversed with 2601 and the visit settles once; the
//! cashier chooses between two basic insurances; an undo the platform cannot take now is
//! finished by the forwarder when it can. Waits poll the API with a deadline; no sleeps.

use medsettle_sandbox::{Fault, SettlementStatus};
use serde_json::json;

use crate::support::clinic::{Clinic, fee_lines, id, visit_body};

#[tokio::test]
async fn a_visit_settles_once_and_its_refund_gives_the_platform_back_everything() {
    let c = Clinic::start().await;
    let (status, v) = c.visit("MZ-SETTLE", 3).await;
    assert_eq!(
        (status, v["state"].as_str()),
        (201, Some("uploaded")),
        "{v}"
    );
    let id = id(&v);
    let (status, v) = c.step(&id, "presettle").await;
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("presettled")),
        "{v}"
    );
    assert!(v["patient_share"].is_string(), "the split is shown: {v}");
    let (status, v) = c.step(&id, "confirm").await;
    assert_eq!((status, v["state"].as_str()), (200, Some("settled")), "{v}");
    let setl_id = v["settlement"]["setl_id"].as_str().unwrap().to_owned();
    let ledger = c.sandbox.ledger();
    let mine: Vec<_> = ledger
        .settlements
        .iter()
        .filter(|s| s.setl_id == setl_id)
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].status, SettlementStatus::Effective);
    assert_eq!(mine[0].medfee_sumamt.0, 3 * 2 * 1_234);
    assert_eq!(c.counts(&["2201", "2204", "2206", "2207"]), [1, 1, 1, 1]);

    let (status, v) = c.step(&id, "refund").await;
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("cancelled")),
        "{v}"
    );
    assert_eq!(c.counts(&["2208", "2205", "2202"]), [1, 1, 1]);
    assert!(
        c.sandbox
            .ledger()
            .settlements
            .iter()
            .all(|s| s.status != SettlementStatus::Effective)
    );
    c.holds_nothing();
    // Refunding again changes nothing and sends nothing.
    let (status, v) = c.step(&id, "refund").await;
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("cancelled")),
        "{v}"
    );
    assert_eq!(c.count("2208"), 1);
    c.close().await;
}

#[tokio::test]
async fn a_visit_abandoned_at_each_step_sends_exactly_its_undo_and_leaves_nothing() {
    let c = Clinic::start().await;
    // (where it stops, 2205s its undo sends, 2202s)
    for (n, stop) in ["registered", "uploaded", "presettled", "repriced"]
        .iter()
        .enumerate()
    {
        let items = if *stop == "registered" { 0 } else { 2 };
        let (status, v) = c.visit(&format!("MZ-AB{n}"), items).await;
        assert_eq!(status, 201, "{v}");
        let id = id(&v);
        if matches!(*stop, "presettled" | "repriced") {
            let (s, v) = c.step(&id, "presettle").await;
            assert_eq!(s, 200, "{v}");
        }
        if *stop == "repriced" {
            // The HIS changes the items: the old batch is revoked, the new one uploaded.
            let before = c.counts(&["2205", "2204"]);
            let (s, v) = c
                .put(
                    &format!("/v1/visits/{id}/details"),
                    json!({ "items": fee_lines(1) }),
                )
                .await;
            assert_eq!((s, v["state"].as_str()), (200, Some("uploaded")), "{v}");
            assert_eq!(c.counts(&["2205", "2204"]), [before[0] + 1, before[1] + 1]);
        }
        let before = c.counts(&["2205", "2202", "2208", "2601"]);
        let (s, v) = c.step(&id, "cancel").await;
        assert_eq!(
            (s, v["state"].as_str()),
            (200, Some("abandoned")),
            "{stop}: {v}"
        );
        let lines_undone = u64::from(*stop != "registered");
        assert_eq!(
            c.counts(&["2205", "2202", "2208", "2601"]),
            [
                before[0] + lines_undone,
                before[1] + 1,
                before[2],
                before[3]
            ],
            "{stop}"
        );
        c.holds_nothing();
    }
    // Before registration (the card refused by nobody, but nothing registered): nothing sent.
    c.close().await;
}

#[tokio::test]
async fn a_lost_2207_is_reversed_and_the_visit_settles_once() {
    let c = Clinic::start().await;
    let (_, v) = c.visit("MZ-LOST", 2).await;
    let id = id(&v);
    c.step(&id, "presettle").await;
    c.fault("2207", Fault::DropAfterCommit, 1);
    let (status, v) = c.step(&id, "confirm").await;
    assert_eq!((status, v["state"].as_str()), (200, Some("settled")), "{v}");
    assert_eq!(c.counts(&["2207", "2601"]), [2, 1]);
    let ledger = c.sandbox.ledger();
    let effective = ledger
        .settlements
        .iter()
        .filter(|s| s.status == SettlementStatus::Effective)
        .count();
    let reversed = ledger
        .settlements
        .iter()
        .filter(|s| s.status == SettlementStatus::Reversed)
        .count();
    assert_eq!(
        (effective, reversed),
        (1, 1),
        "settled once, the lost one reversed"
    );
    assert_eq!(v["reversed"].as_array().unwrap().len(), 1, "{v}");
    c.close().await;
}

#[tokio::test]
async fn the_cashier_chooses_between_two_basic_insurances() {
    let c = Clinic::start().await;
    // 钱九 holds 310 (110105) and 390 (110108), both in force; an e-voucher identifies him.
    let code = c.sandbox.issue_evoucher("110108198001010074").unwrap();
    let (status, scan) = c.api.post("/v1/qr/submit", json!({ "text": code })).await;
    assert_eq!(status, 200, "{scan}");
    let credential = scan["credential_id"].as_str().unwrap().to_owned();
    let (status, v) = {
        let (status, v, _) = c
            .create(visit_body(&credential, "MZ-CHOOSE", 1), None)
            .await;
        (status, v)
    };
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["code"], "visit.insutype_required");
    assert_eq!(v["details"]["offered"], json!(["310", "390"]));
    let id = v["details"]["visit"].as_str().unwrap().to_owned();
    assert_eq!(
        c.count("2201"),
        0,
        "never registered under an insurance nobody chose"
    );
    // A type 1101 did not offer is refused and changes nothing.
    let (status, v) = c
        .api
        .post(
            &format!("/v1/visits/{id}/register"),
            json!({ "insutype": "320" }),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("sale.insutype_not_offered")),
        "{v}"
    );
    let (status, v) = c
        .api
        .post(
            &format!("/v1/visits/{id}/register"),
            json!({ "insutype": "390" }),
        )
        .await;
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("registered")),
        "{v}"
    );
    assert_eq!(v["insutype"], "390");
    let (status, v) = c
        .put(
            &format!("/v1/visits/{id}/details"),
            json!({ "items": fee_lines(1) }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    c.step(&id, "presettle").await;
    let (status, v) = c.step(&id, "confirm").await;
    assert_eq!((status, v["state"].as_str()), (200, Some("settled")), "{v}");
    let ledger = c.sandbox.ledger();
    let s = ledger.effective().next().unwrap();
    assert_eq!(s.insutype, "390", "settled under the chosen insurance");
    c.close().await;
}

#[tokio::test]
async fn an_undo_the_platform_cannot_take_now_is_finished_by_the_forwarder() {
    let c = Clinic::start().await;
    let (_, v) = c.visit("MZ-LATER", 1).await;
    let id = id(&v);
    // The platform answers 503 to the next two 2205s: the undo waits, then runs.
    c.fault(
        "2205",
        Fault::HttpStatus {
            status: 503,
            commit: false,
        },
        2,
    );
    let (status, v) = c.step(&id, "cancel").await;
    assert_eq!((status, v["state"].as_str()), (200, Some("undoing")), "{v}");
    assert!(v["visit"]["holds"].as_bool().unwrap(), "{v}");
    let v = c.wait(&id, "abandoned").await;
    assert_eq!(v["visit"]["holds"], false, "{v}");
    assert_eq!(c.count("2202"), 1);
    c.holds_nothing();
    c.close().await;
}

//! Outpatient visits (outpatient.md) against the strict scripted platform: registration
//! (1101, 2201, 2203A), fee upload (2204), pre-settlement (2206), settlement (2207, its
//! amounts echoed from the 2206 answer), refund (2208 then 2205, 2202), the undo chain at each
//! step with the exact requests in order, re-pricing (2205 + a new batch), lost answers (2201:
//! 5201; 2204: 2205 first; 2207/2208: 2601; 2205/2202: the same msgid again), the insurance
//! choice and the operator's exit for an undo the platform refuses.

use super::*;
use crate::settle::{NewDetails, NewVisit, SaleError, SaleState};
use crate::upstream::Fen;

const MDTRT: &str = "M110105202612030001";
const PSN: &str = "11000000000000000000012345";

/// A card visit of 内科 with one main diagnosis and, when `items`, one line of 35.00.
fn new_visit(credential_id: &str, items: bool) -> NewVisit {
    let mut v = json!({
        "credential_id": credential_id,
        "ipt_otp_no": "MZ0001",
        "begntime": "2026-11-23 10:00:00",
        "dept_code": "A03", "dept_name": "内科", "caty": "A03",
        "atddr_no": "D110105000001", "dr_name": "李医生",
        "diagnoses": [{"diag_srt_no": 1, "diag_code": "J06.900", "diag_name": "急性上呼吸道感染"}],
    });
    if items {
        v["items"] = json!([{ "code": "001101000010000-110100001", "local_code": "GH001", "name": "普通门诊诊查费", "cnt": "1", "pric": "35.00" }]);
    }
    serde_json::from_value(v).unwrap()
}

fn registered() -> Answer {
    Answer::output(json!({"data": {"mdtrt_id": MDTRT, "psn_no": PSN, "ipt_otp_no": "MZ0001"}}))
}

fn uploaded() -> Answer {
    Answer::output(
        json!({"result": [{"feedetl_sn": "x-1", "det_item_fee_sumamt": "35.00", "chrgitm_lv": "01"}]}),
    )
}

/// 1101: two basic insurances in force, 310 in 110105 and 390 in 110108.
fn two_basic_insurances() -> Answer {
    Answer::output(json!({
        "baseinfo": { "psn_no": PSN },
        "insuinfo": [
            { "insutype": "310", "psn_insu_stas": "1", "insuplc_admdvs": "110105", "balc": "0" },
            { "insutype": "390", "psn_insu_stas": "1", "insuplc_admdvs": "110108", "balc": "0" }
        ]
    }))
}

/// An operator's word: nothing stands on the platform.
fn not_settled(note: &str) -> crate::settle::Resolution {
    crate::settle::Resolution {
        decision: crate::settle::Decision::NotSettled,
        note: Some(note.into()),
    }
}

fn done() -> Answer {
    Answer::output(json!({}))
}

/// A 2207 answer for 35.00: 22.75 from the fund, 12.25 cash.
fn settled_answer() -> Answer {
    Answer::output(json!({
        "setlinfo": {
            "setl_id": "S110105202612030001", "mdtrt_id": MDTRT, "psn_no": PSN,
            "medfee_sumamt": "35.00", "fund_pay_sumamt": "22.75", "acct_pay": "0",
            "psn_cash_pay": "12.25", "insutype": "310", "setl_time": "2026-11-23 10:05:00"
        },
        "setldetail": [{ "fund_pay_type": "310100", "fund_payamt": "22.75" }]
    }))
}

/// 1101, 2201 (checked), 2203A (checked), then 2204 (checked) when the visit has items.
fn register_script(p: ScriptedPlatform, items: bool) -> ScriptedPlatform {
    let p = p
        .expect("1101", Answer::fixture("1101_response.json"))
        .expect_with(
            "2201",
            |s| {
                assert!(s.prepared, "2201 is recorded before it leaves");
                let d = &s.input["data"];
                assert_eq!(d["insutype"], "310");
                assert_eq!(d["ipt_otp_no"], "MZ0001");
                assert_eq!(d["mdtrt_cert_type"], "03");
                assert_eq!(d["dept_code"], "A03");
                assert_eq!(d["caty"], "A03");
                assert_eq!(d["begntime"], "2026-11-23 10:00:00");
                assert_eq!(s.insuplc_admdvs, "110105", "the chosen row's region");
            },
            registered(),
        )
        .expect_with(
            "2203A",
            |s| {
                assert_eq!(s.input["mdtrtinfo"]["mdtrt_id"], MDTRT);
                assert_eq!(s.input["mdtrtinfo"]["med_type"], "11");
                assert_eq!(s.input["diseinfo"][0]["diag_code"], "J06.900");
                assert_eq!(s.input["diseinfo"][0]["diag_srt_no"], 1);
                assert_eq!(s.input["diseinfo"][0]["vali_flag"], "1");
            },
            done(),
        );
    if !items {
        return p;
    }
    p.expect_with("2204", |s| check_upload(s, "V"), uploaded())
}

/// A 2204 of the one 35.00 line under a batch starting with `batch`.
fn check_upload(s: &Sent, batch: &str) {
    assert!(s.prepared);
    let line = &s.input["feedetail"][0];
    assert_eq!(line["mdtrt_id"], MDTRT);
    assert!(
        line["chrg_bchno"].as_str().unwrap().starts_with(batch),
        "{line}"
    );
    assert_eq!(line["det_item_fee_sumamt"], "35.00");
    assert_eq!(line["medins_list_codg"], "GH001");
    assert_eq!(line["bilg_dept_codg"], "A03");
    assert_eq!(line["rx_circ_flag"], "0");
    assert!(
        line.get("dise_codg").is_none(),
        "no 病种 for an ordinary visit"
    );
}

/// 2206 (checked) with the fixture's answer.
fn presettle(p: ScriptedPlatform) -> ScriptedPlatform {
    p.expect_with(
        "2206",
        |s| {
            assert!(!s.prepared, "2206 settles nothing: a plain call");
            let d = &s.input["data"];
            assert_eq!(d["medfee_sumamt"], "35.00");
            assert_eq!(d["med_type"], "11");
            assert_eq!(d["psn_setlway"], "01");
            assert_eq!(d["acct_used_flag"], "1");
            assert!(d.get("invono").is_none());
        },
        Answer::fixture("2206_response.json"),
    )
}

/// A 2207 echoing the 2206 fixture's amounts.
fn check_settle(s: &Sent) {
    assert!(s.prepared, "2207 is recorded before it leaves");
    let d = &s.input["data"];
    assert_eq!(d["medfee_sumamt"], "35.00");
    assert_eq!(d["mdtrt_id"], MDTRT);
    assert_eq!(d["fulamt_ownpay_amt"], "0.00");
    assert_eq!(d["preselfpay_amt"], "2.50");
    assert_eq!(d["inscp_scp_amt"], "32.50");
    assert_eq!(d["overlmt_selfpay"], "0.00");
    assert!(d["invono"].as_str().unwrap().len() <= 20);
}

impl Rig {
    async fn visit(&self, items: bool) -> Result<Sale, SaleError> {
        let record = crate::card::record::sample::sample();
        let id = self.credentials.insert(Fresh::Card(record));
        self.engine.create_visit(new_visit(&id, items), None).await
    }

    /// A visit registered, priced, pre-settled and settled (its 2207 scripted by the caller).
    async fn settled_visit(&self) -> Sale {
        let v = self.presettled_visit().await;
        self.engine
            .confirm_visit(&v.id, Default::default())
            .await
            .unwrap()
    }

    /// A visit registered, priced and pre-settled.
    async fn presettled_visit(&self) -> Sale {
        let v = self.visit(true).await.unwrap();
        assert_eq!(v.state, SaleState::Uploaded);
        self.engine.presettle_visit(&v.id).await.unwrap()
    }
}

fn details() -> NewDetails {
    serde_json::from_value(json!({"items": [
        { "code": "001101000010000-110100001", "local_code": "GH001", "cnt": "1", "pric": "35.00" }
    ]}))
    .unwrap()
}

#[tokio::test]
async fn a_visit_registers_uploads_presettles_and_settles_once() {
    let rig = Rig::new(presettle(register_script(platform(), true)).expect_with(
        "2207",
        check_settle,
        settled_answer(),
    ));
    let v = rig.presettled_visit().await;
    assert_eq!(v.state, SaleState::Presettled);
    assert_eq!(
        v.patient_share(),
        Some(Fen(1_225)),
        "the 2206 split is shown"
    );
    let v = rig
        .engine
        .confirm_visit(&v.id, Default::default())
        .await
        .unwrap();
    assert_eq!(v.state, SaleState::Settled);
    let split = v.settlement.as_ref().unwrap();
    assert_eq!(split.setl_id.as_deref(), Some("S110105202612030001"));
    assert_eq!((split.fund, split.cash), (Fen(2_275), Some(Fen(1_225))));
    let visit = v.visit.as_ref().unwrap();
    assert_eq!(visit.mdtrt_id.as_deref(), Some(MDTRT));
    assert!(visit.registration_open && visit.info_uploaded);
    assert_eq!(
        visit.batch.as_ref().unwrap().state,
        super::super::visit::BatchState::Settled
    );
    let sent = rig.finish();
    assert_eq!(v.attempt.as_ref().unwrap().msgid, msgid(&sent[5]));
    // A retried confirmation answers the settlement; nothing more is sent.
    let again = rig
        .engine
        .confirm_visit(&v.id, Default::default())
        .await
        .unwrap();
    assert_eq!(again.state, SaleState::Settled);
    let events = history(&rig, &v.id).await;
    for e in [
        "create",
        "register",
        "registered",
        "upload",
        "presettle",
        "confirm",
        "send",
        "settled",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} in {events:?}");
    }
}

#[tokio::test]
async fn abandoned_after_registration_sends_2202_only() {
    let rig = Rig::new(register_script(platform(), false).expect_with(
        "2202",
        |s| {
            assert!(s.prepared, "an undo is recorded before it leaves");
            let d = &s.input["data"];
            assert_eq!(
                (d["mdtrt_id"].as_str(), d["ipt_otp_no"].as_str()),
                (Some(MDTRT), Some("MZ0001"))
            );
            assert_eq!(d["psn_no"], PSN);
        },
        done(),
    ));
    let v = rig.visit(false).await.unwrap();
    assert_eq!(v.state, SaleState::Registered);
    let v = rig.engine.cancel_visit(&v.id).await.unwrap();
    assert_eq!(v.state, SaleState::Abandoned);
    assert!(!v.visit.as_ref().unwrap().holds_anything());
    assert_eq!(rig.platform.infnos(), ["1101", "2201", "2203A", "2202"]);
    rig.finish();
}

#[tokio::test]
async fn abandoned_after_upload_or_presettlement_sends_2205_then_2202() {
    for presettled in [false, true] {
        let mut p = register_script(platform(), true);
        if presettled {
            p = presettle(p);
        }
        let rig = Rig::new(
            p.expect_with(
                "2205",
                |s| {
                    let d = &s.input["data"];
                    assert_eq!(d["mdtrt_id"], MDTRT);
                    assert!(
                        d["chrg_bchno"].as_str().unwrap().starts_with('V'),
                        "the batch, not 0000"
                    );
                },
                done(),
            )
            .expect("2202", done()),
        );
        let v = rig.visit(true).await.unwrap();
        if presettled {
            rig.engine.presettle_visit(&v.id).await.unwrap();
        }
        let v = rig.engine.cancel_visit(&v.id).await.unwrap();
        assert_eq!(v.state, SaleState::Abandoned, "presettled {presettled}");
        let sent = rig.finish();
        let tail: Vec<_> = sent
            .iter()
            .rev()
            .take(2)
            .map(|s| s.infno.as_str())
            .collect();
        assert_eq!(tail, ["2202", "2205"]);
    }
}

#[tokio::test]
async fn abandoned_before_registration_sends_nothing() {
    // 1101 offers two basic insurances: the cashier must choose; the visit is abandoned.
    let rig = Rig::new(platform().expect("1101", two_basic_insurances()));
    let err = rig.visit(false).await.unwrap_err();
    let SaleError::At { id, state, cause } = err else {
        panic!("{err:?}")
    };
    assert_eq!(state, SaleState::Identified);
    assert!(
        matches!(*cause, SaleError::InsutypeRequired { ref offered } if offered == &["310", "390"])
    );
    let v = rig.engine.cancel_visit(&id).await.unwrap();
    assert_eq!(v.state, SaleState::Abandoned);
    assert_eq!(rig.platform.infnos(), ["1101"]);
    rig.finish();
}

#[tokio::test]
async fn the_cashier_chooses_the_insurance_and_its_region_goes_in_every_envelope() {
    let rig = Rig::new(
        platform()
            .expect("1101", two_basic_insurances())
            .expect_with(
                "2201",
                |s| {
                    assert_eq!(s.input["data"]["insutype"], "390");
                    assert_eq!(s.insuplc_admdvs, "110108");
                },
                registered(),
            )
            .expect_with("2203A", |s| assert_eq!(s.insuplc_admdvs, "110108"), done()),
    );
    let SaleError::At { id, .. } = rig.visit(false).await.unwrap_err() else {
        panic!()
    };
    // A type 1101 did not offer is refused and changes nothing.
    assert!(matches!(
        rig.engine.register_visit(&id, Some("320")).await,
        Err(SaleError::InsutypeNotOffered { .. })
    ));
    assert_eq!(stored(&rig, &id).await.state, SaleState::Identified);
    let v = rig.engine.register_visit(&id, Some("390")).await.unwrap();
    assert_eq!(v.state, SaleState::Registered);
    assert_eq!(v.person.as_ref().unwrap().insutype, "390");
    rig.finish();
}

#[tokio::test]
async fn a_settled_visit_is_refunded_with_2208_then_2205_then_2202() {
    let rig = Rig::new(
        presettle(register_script(platform(), true))
            .expect("2207", settled_answer())
            .expect_with(
                "2208",
                |s| {
                    assert!(s.prepared);
                    let d = &s.input["data"];
                    assert_eq!(d["setl_id"], "S110105202612030001");
                    assert_eq!(d["mdtrt_id"], MDTRT);
                },
                Answer::fixture("2208_response_pdn_cash_pay.json"),
            )
            .expect("2205", done())
            .expect("2202", done()),
    );
    let v = rig.settled_visit().await;
    // A settled visit is refunded, not cancelled.
    assert!(matches!(
        rig.engine.cancel_visit(&v.id).await,
        Err(SaleError::VisitSettled(_))
    ));
    let v = rig.engine.refund_visit(&v.id).await.unwrap();
    assert_eq!(v.state, SaleState::Cancelled);
    assert!(v.cancellation.is_some());
    assert!(!v.visit.as_ref().unwrap().holds_anything());
    let infnos = rig.platform.infnos();
    assert_eq!(infnos[infnos.len() - 3..], ["2208", "2205", "2202"]);
    rig.finish();
}

#[tokio::test]
async fn a_lost_2207_is_reversed_with_2601_and_settled_once_more() {
    let rig = Rig::new(
        presettle(register_script(platform(), true))
            .expect("2207", Answer::Lost)
            .expect_with(
                "2601",
                |s| assert_eq!(s.input["data"]["oinfno"], "2207"),
                Answer::fixture("2601_response.json"),
            )
            // A fresh 2206 before the fresh 2207.
            .expect("2206", Answer::fixture("2206_response.json"))
            .expect_with("2207", check_settle, settled_answer()),
    );
    let v = rig.settled_visit().await;
    assert_eq!(v.state, SaleState::Settled);
    let sent = rig.finish();
    let first = &sent[5];
    assert_eq!(sent[6].input["data"]["omsgid"], msgid(first));
    assert_ne!(
        msgid(&sent[7]),
        msgid(first),
        "the fresh 2207 has its own msgid"
    );
    assert_eq!(v.reversed_attempts.len(), 1);
    assert!(v.reversed_attempts[0].reversal_proven());
}

#[tokio::test]
async fn a_lost_2208_is_reversed_and_the_refund_runs_again_under_a_new_msgid() {
    let rig = Rig::new(
        presettle(register_script(platform(), true))
            .expect("2207", settled_answer())
            .expect("2208", Answer::Lost)
            .expect_with(
                "2601",
                |s| assert_eq!(s.input["data"]["oinfno"], "2208"),
                Answer::fixture("2601_response.json"),
            )
            // A refund was in doubt: 5203 reads the settlement before another 2208.
            .expect(
                "5203",
                Answer::output(json!({"setlinfo": {
                    "setl_id": "S110105202612030001", "mdtrt_id": MDTRT, "psn_no": PSN,
                    "medfee_sumamt": "35.00", "refd_setl_flag": "0"
                }})),
            )
            .expect("2208", Answer::fixture("2208_response_pdn_cash_pay.json"))
            .expect("2205", done())
            .expect("2202", done()),
    );
    let v = rig.settled_visit().await;
    let after = rig.engine.refund_visit(&v.id).await.unwrap();
    assert_eq!(
        after.state,
        SaleState::Settled,
        "the reversed refund leaves the settlement"
    );
    let after = rig.engine.refund_visit(&v.id).await.unwrap();
    assert_eq!(after.state, SaleState::Cancelled);
    let sent = rig.finish();
    let refunds: Vec<_> = sent.iter().filter(|s| s.infno == "2208").collect();
    assert_ne!(msgid(refunds[0]), msgid(refunds[1]));
}

#[tokio::test]
async fn a_lost_2201_is_found_with_5201_and_an_unknown_one_is_registered_again() {
    // Found: the visit goes on with the platform's mdtrt_id.
    let rig = Rig::new(
        platform()
            .expect("1101", Answer::fixture("1101_response.json"))
            .expect("2201", Answer::Lost)
            .expect_with(
                "5201",
                |s| {
                    assert!(!s.prepared);
                    let d = &s.input["data"];
                    assert_eq!(d["begntime"], "2026-11-23 00:00:00");
                    assert_eq!(d["endtime"], "2026-11-23 23:59:59");
                    assert_eq!(d["med_type"], "11");
                },
                Answer::output(json!({"mdtrtinfo": [{"mdtrt_id": MDTRT, "ipt_otp_no": "MZ0001"}]})),
            )
            .expect("2203A", done()),
    );
    let v = rig.visit(false).await.unwrap();
    assert_eq!(v.state, SaleState::Registered);
    assert_eq!(v.visit.as_ref().unwrap().mdtrt_id.as_deref(), Some(MDTRT));
    assert!(
        history(&rig, &v.id)
            .await
            .contains(&"registration_unknown".to_owned())
    );
    rig.finish();

    // Not listed: nothing was opened; the next registration sends 2201 again.
    let rig = Rig::new(
        platform()
            .expect("1101", Answer::fixture("1101_response.json"))
            .expect("2201", Answer::Lost)
            .expect("5201", Answer::output(json!({"mdtrtinfo": []})))
            .expect("2201", registered())
            .expect("2203A", done()),
    );
    let SaleError::At { id, state, .. } = rig.visit(false).await.unwrap_err() else {
        panic!()
    };
    assert_eq!(state, SaleState::Identified);
    let v = rig.engine.register_visit(&id, None).await.unwrap();
    assert_eq!(v.state, SaleState::Registered);
    let sent = rig.finish();
    assert_ne!(msgid(&sent[1]), msgid(&sent[3]));
}

#[tokio::test]
async fn repricing_revokes_the_batch_and_uploads_a_new_one() {
    let rig = Rig::new(
        presettle(register_script(platform(), true))
            .expect_with(
                "2205",
                |s| {
                    assert!(
                        !s.input["data"]["chrg_bchno"]
                            .as_str()
                            .unwrap()
                            .ends_with("B2")
                    )
                },
                done(),
            )
            .expect_with(
                "2204",
                |s| {
                    check_upload(s, "V");
                    let b = s.input["feedetail"][0]["chrg_bchno"].as_str().unwrap();
                    assert!(b.ends_with("B2"), "a new batch: {b}");
                },
                uploaded(),
            ),
    );
    let v = rig.presettled_visit().await;
    let v = rig
        .engine
        .visit_details(&v.id, Some(details()))
        .await
        .unwrap();
    assert_eq!(v.state, SaleState::Uploaded);
    assert_eq!(v.estimate, None, "the old split is gone with its lines");
    let events = history(&rig, &v.id).await;
    assert!(
        events.ends_with(&[
            "step".into(),
            "reprice".into(),
            "details_sending".into(),
            "upload".into()
        ]),
        "{events:?}"
    );
    rig.finish();
}

#[tokio::test]
async fn a_lost_2204_is_revoked_before_the_lines_go_again() {
    let rig = Rig::new(
        register_script(platform(), false)
            .expect("2204", Answer::Lost)
            .expect(
                "2205",
                Answer::refused("费用明细不存在 no fee details to revoke"),
            )
            .expect("2204", uploaded()),
    );
    let v = rig.visit(false).await.unwrap();
    assert!(
        rig.engine
            .visit_details(&v.id, Some(details()))
            .await
            .is_err()
    );
    let after = stored(&rig, &v.id).await;
    assert_eq!(after.state, SaleState::Registered);
    assert_eq!(
        after.visit.as_ref().unwrap().batch.as_ref().unwrap().state,
        super::super::visit::BatchState::Sending,
        "the lines may be on the platform"
    );
    // "Nothing to revoke" counts as done.
    let v = rig.engine.visit_details(&v.id, None).await.unwrap();
    assert_eq!(v.state, SaleState::Uploaded);
    rig.finish();
}

#[tokio::test]
async fn an_undo_whose_answer_is_lost_is_resent_under_the_same_msgid_by_the_forwarder() {
    let rig = Rig::new(
        register_script(platform(), true)
            .expect("2205", Answer::Lost)
            .expect("2205", done())
            .expect("2202", done()),
    );
    let v = rig.visit(true).await.unwrap();
    let v = rig.engine.cancel_visit(&v.id).await.unwrap();
    assert_eq!(v.state, SaleState::Undoing, "the forwarder finishes it");
    assert!(v.visit.as_ref().unwrap().holds_anything());
    rig.advance_minutes(5);
    rig.engine.forward_pass().await.unwrap();
    let v = stored(&rig, &v.id).await;
    assert_eq!(v.state, SaleState::Abandoned);
    let sent = rig.finish();
    let revokes: Vec<_> = sent.iter().filter(|s| s.infno == "2205").collect();
    assert_eq!(
        msgid(revokes[0]),
        msgid(revokes[1]),
        "2205 resent as it was"
    );
}

#[tokio::test]
async fn an_undo_the_platform_refuses_is_alarmed_and_resolved_by_an_operator() {
    let rig = Rig::new(
        register_script(platform(), false)
            .expect("2202", Answer::refused("该就诊存在未处理业务，不能撤销")),
    );
    let v = rig.visit(false).await.unwrap();
    let v = rig.engine.cancel_visit(&v.id).await.unwrap();
    assert_eq!(v.state, SaleState::Undoing);
    assert_eq!(v.visit.as_ref().unwrap().undo_refusals, 1);
    let alarm = rig.alarm("sale.in_doubt").expect("the visit is named");
    assert!(
        alarm.details.to_string().contains(&v.id),
        "{}",
        alarm.details
    );
    let v = rig
        .engine
        .resolve(&v.id, not_settled("医保中心已人工撤销挂号"))
        .await
        .unwrap();
    assert_eq!(v.state, SaleState::Abandoned);
    assert!(rig.alarm("sale.in_doubt").is_none());
    rig.finish();
}

#[tokio::test]
async fn an_unattended_visit_is_undone_by_housekeeping() {
    let rig = Rig::new(
        register_script(platform(), true)
            .expect("2205", done())
            .expect("2202", done()),
    );
    let v = rig.visit(true).await.unwrap();
    rig.advance_minutes(31);
    rig.engine.forward_pass().await.unwrap();
    assert_eq!(stored(&rig, &v.id).await.state, SaleState::Undoing);
    rig.engine.forward_pass().await.unwrap();
    assert_eq!(stored(&rig, &v.id).await.state, SaleState::Abandoned);
    let events = history(&rig, &v.id).await;
    assert!(
        events.contains(&"undo".to_owned()) && events.contains(&"undone".to_owned()),
        "{events:?}"
    );
    rig.finish();
}

#[tokio::test]
async fn a_crash_during_2207_is_recovered_from_the_audit_table() {
    let rig =
        Rig::new(presettle(register_script(platform(), true)).expect("2207", Answer::Crash(None)));
    let v = rig.presettled_visit().await;
    tokio::select! {
        r = rig.engine.confirm_visit(&v.id, Default::default()) => panic!("finished: {r:?}"),
        () = rig.platform.crashed() => {}
    }
    assert_eq!(stored(&rig, &v.id).await.state, SaleState::Settling);
    let rig = rig.restart(
        platform()
            .expect_with(
                "2601",
                |s| assert_eq!(s.input["data"]["oinfno"], "2207"),
                Answer::fixture("2601_response.json"),
            )
            .expect("2205", done())
            .expect("2202", done()),
    );
    rig.engine.recover().await.unwrap();
    assert_eq!(stored(&rig, &v.id).await.state, SaleState::Unknown);
    rig.engine.forward_pass().await.unwrap();
    let after = stored(&rig, &v.id).await;
    assert_eq!(
        after.state,
        SaleState::Reversed,
        "never a second 2207 for the same request"
    );
    // The cashier abandons it: the lines and the registration are undone.
    let after = rig.engine.cancel_visit(&v.id).await.unwrap();
    assert_eq!(after.state, SaleState::Abandoned);
    assert_eq!(rig.platform.infnos(), ["2601", "2205", "2202"]);
    rig.finish();
}

#[tokio::test]
async fn a_refund_in_doubt_resolved_by_an_operator_closes_the_visit() {
    let rig = Rig::new(
        presettle(register_script(platform(), true))
            .expect("2207", settled_answer())
            .expect("2208", Answer::Lost)
            .expect("2601", Answer::refused("原交易不存在"))
            .expect("2205", done())
            .expect("2202", done()),
    );
    let v = rig.settled_visit().await;
    assert!(matches!(
        rig.engine.refund_visit(&v.id).await,
        Err(SaleError::Held { .. })
    ));
    assert_eq!(stored(&rig, &v.id).await.state, SaleState::Held);
    // The bureau confirms the refund happened: the visit closes (its lines and registration
    // are undone by the forwarder).
    let v = rig
        .engine
        .resolve(&v.id, not_settled("退费已在医保中心确认"))
        .await
        .unwrap();
    assert_eq!(v.state, SaleState::Closing);
    rig.engine.forward_pass().await.unwrap();
    assert_eq!(stored(&rig, &v.id).await.state, SaleState::Cancelled);
    let infnos = rig.platform.infnos();
    assert_eq!(infnos[infnos.len() - 2..], ["2205", "2202"]);
    rig.finish();
}

//! The trace reporter against the strict scripted platform: after a settlement one 3505 per
//! line with codes, its `selinfo` built from the line, the settlement answer, the patient and
//! the dispensing defaults; a lost answer is resent under the same msgid; a refusal is left
//! for an operator with the alarm, and the retry goes under a fresh msgid; a refund owes a
//! 3506 only for what may have reached the platform.

use super::*;
use crate::settle::SaleState;
use crate::store::TraceState;

const CODES: [&str; 2] = ["81234567890123456789", "81234567890123456790"];

/// A settled sale of one 128.50 line carrying [`CODES`].
async fn settled(rig: &Rig) -> Sale {
    let record = crate::card::record::sample::sample();
    let credential = rig.credentials.insert(Fresh::Card(record));
    let new: NewSale = serde_json::from_value(json!({
        "credential_id": credential,
        "items": [{
            "code": "XA01AAA0000000001", "local_code": "YP0001", "name": "测试药品",
            "cnt": "2", "pric": "64.25",
            "trace": { "codes": CODES, "manu_lotnum": "L1", "fixmedins_bchno": "B1",
                       "manu_date": "2025-11-01", "expy_end": "2027-10-31", "rx_flag": "0" },
        }],
        "mode": "prefer_online",
        "dispensing": { "phar_name": "王药师", "phar_prac_cert_no": "YS1",
                        "prsc_dr_name": "李医生", "opter_name": "收银员" },
    }))
    .unwrap();
    let sale = rig.engine.create(new).await.unwrap();
    rig.engine.presettle(&sale.id).await.unwrap();
    let sale = rig.confirm(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Settled);
    sale
}

fn settle_script() -> ScriptedPlatform {
    presettle_script(platform()).expect("2102", Answer::fixture("2102_response.json"))
}

#[tokio::test]
async fn a_settled_line_is_reported_once_with_its_codes_and_a_lost_answer_keeps_the_msgid() {
    let rig = Rig::new(
        settle_script()
            .expect_with(
                "3505",
                |s| {
                    let sel = &s.input["selinfo"];
                    assert_eq!(sel["setl_id"], "S110105202611230001", "{sel}");
                    assert_eq!(sel["mdtrt_sn"], "M110105202611230001");
                    assert_eq!(
                        sel["sel_retn_time"], "2026-11-23 10:00:01",
                        "the settlement's time"
                    );
                    assert_eq!(sel["med_list_codg"], "XA01AAA0000000001");
                    assert_eq!(sel["fixmedins_hilist_id"], "YP0001");
                    assert_eq!(sel["fixmedins_hilist_name"], "测试药品");
                    assert_eq!(sel["phar_name"], "王药师");
                    assert_eq!(sel["sel_retn_opter_name"], "收银员");
                    assert_eq!(sel["trdn_flag"], "0");
                    assert_eq!(sel["mdtrt_setl_type"], "1");
                    assert_eq!(sel["psn_no"], "11000000000000000000012345");
                    assert_eq!(sel["psn_cert_type"], "01");
                    assert_eq!(
                        sel["drugtracinfo"],
                        json!([{ "drug_trac_codg": CODES[0] }, { "drug_trac_codg": CODES[1] }])
                    );
                    assert!(s.prepared, "the msgid is recorded before it leaves");
                },
                Answer::Lost,
            )
            .expect(
                "3505",
                Answer::output(json!({ "retRslt": "1", "msgRslt": "成功" })),
            ),
    );
    let sale = settled(&rig).await;
    let first = rig.engine.trace_pass().await.unwrap();
    assert_eq!((first.sent, first.later), (0, 1));
    // Not due before its backoff; then resent.
    assert_eq!(rig.engine.trace_pass().await.unwrap().later, 0);
    rig.advance_minutes(1);
    assert_eq!(rig.engine.trace_pass().await.unwrap().sent, 1);
    let sent = rig.finish();
    let reports: Vec<_> = sent.iter().filter(|s| s.infno == "3505").collect();
    assert_eq!(reports.len(), 2);
    assert_eq!(
        reports[0].msgid, reports[1].msgid,
        "the resend keeps the msgid"
    );
    assert_eq!(reports[0].input, reports[1].input);
    let rows = rig
        .store
        .trace_list(vec![], Some(sale.id.clone()), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].state, rows[0].tries, rows[0].answer.as_deref()),
        (TraceState::Sent, 2, Some("成功"))
    );
    // Nothing more to send.
    assert_eq!(rig.engine.trace_pass().await.unwrap(), Default::default());
}

#[tokio::test]
async fn a_refused_report_raises_the_alarm_and_an_operator_retry_sends_it_afresh() {
    let rig = Rig::new(
        settle_script()
            .expect("3505", Answer::refused("药师执业资格证号不存在"))
            .expect("3505", Answer::output(json!(null))),
    );
    let sale = settled(&rig).await;
    assert_eq!(rig.engine.trace_pass().await.unwrap().failed, 1);
    let alarm = rig.alarm("trace.report_failed").expect("the alarm");
    assert!(
        alarm.message_en.contains("1 drug trace report"),
        "{}",
        alarm.message_en
    );
    // Failed stays failed: no pass sends it again by itself.
    rig.advance_hours(1);
    assert_eq!(rig.engine.trace_pass().await.unwrap(), Default::default());
    let id = rig
        .store
        .trace_list(vec![], Some(sale.id.clone()), 1)
        .await
        .unwrap()[0]
        .id;
    let (changed, row) = rig.engine.trace_retry(id).await.unwrap().unwrap();
    assert!(changed);
    assert_eq!((row.state, row.msgid), (TraceState::Pending, None));
    assert_eq!(rig.engine.trace_pass().await.unwrap().sent, 1);
    assert!(rig.alarm("trace.report_failed").is_none(), "cleared");
    let sent = rig.finish();
    let reports: Vec<_> = sent.iter().filter(|s| s.infno == "3505").collect();
    assert_ne!(
        reports[0].msgid, reports[1].msgid,
        "a retry is a fresh request"
    );
    let (changed, _) = rig.engine.trace_retry(id).await.unwrap().unwrap();
    assert!(!changed, "only a failed report is retried");
    assert!(rig.engine.trace_retry(id + 100).await.unwrap().is_none());
}

#[tokio::test]
async fn a_refund_cancels_the_report_never_sent_and_returns_the_one_sent() {
    // Refunded before the reporter ran: nothing is reported at all.
    let rig = Rig::new(settle_script().expect("2103", Answer::fixture("2103_response.json")));
    let sale = settled(&rig).await;
    let cancelled = rig.engine.cancel(&sale.id).await.unwrap();
    assert_eq!(cancelled.state, SaleState::Cancelled);
    assert_eq!(rig.engine.trace_pass().await.unwrap(), Default::default());
    let rows = rig
        .store
        .trace_list(vec![], Some(sale.id.clone()), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, TraceState::Cancelled);
    rig.finish();

    // Reported, then refunded: a 3506 with the same codes.
    let rig = Rig::new(
        settle_script()
            .expect(
                "3505",
                Answer::output(json!({ "retRslt": "1", "msgRslt": "成功" })),
            )
            .expect("2103", Answer::fixture("2103_response.json"))
            .expect_with(
                "3506",
                |s| {
                    let sel = &s.input["selinfo"];
                    assert_eq!(sel["setl_id"], "S110105202611230001");
                    assert_eq!(sel["drugtracinfo"][1]["drug_trac_codg"], CODES[1]);
                },
                Answer::output(json!({ "retRslt": "1", "msgRslt": "成功" })),
            ),
    );
    let sale = settled(&rig).await;
    assert_eq!(rig.engine.trace_pass().await.unwrap().sent, 1);
    rig.engine.cancel(&sale.id).await.unwrap();
    assert_eq!(rig.engine.trace_pass().await.unwrap().sent, 1);
    let rows = rig
        .store
        .trace_list(vec![], Some(sale.id.clone()), 10)
        .await
        .unwrap();
    assert!(rows.iter().all(|r| r.state == TraceState::Sent), "{rows:?}");
    assert_eq!(rows.len(), 2);
    rig.finish();
}

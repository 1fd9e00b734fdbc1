//! Crash recovery: the daemon stops while a money-moving request is in flight (the scripted
//! platform's `Crash` answer; the operation's future is dropped), then restarts on the same
//! store. A `settling`/`cancelling` sale is finished from the answer in the audit table, or
//! declared `unknown` and reversed; a `reversing` sale resends its 2601 under the same msgid.

use super::*;
use crate::settle::{Confirmation, SaleState};
use crate::upstream::Fen;
use crate::upstream::scripted::fixture;

/// Runs `op` until the scripted platform crashes; `op` must not finish first.
async fn crash<T: std::fmt::Debug>(rig: &Rig, op: impl std::future::Future<Output = T>) {
    tokio::select! {
        r = op => panic!("the operation finished instead of crashing: {r:?}"),
        () = rig.platform.crashed() => {}
    }
}

/// A presettled card sale whose 2102 answer is `answer`, confirmed until the crash.
async fn crash_settling(answer: Answer) -> (Rig, String) {
    let rig = Rig::new(presettle_script(platform()).expect("2102", answer));
    let sale = rig.card_sale("prefer_online").await;
    rig.engine.presettle(&sale.id).await.unwrap();
    crash(&rig, rig.engine.confirm(&sale.id, Confirmation::default())).await;
    // Persisted before the effect: the sale is `settling` with the msgid that was sent, and
    // the audit table holds the full request.
    let at_crash = stored(&rig, &sale.id).await;
    assert_eq!(at_crash.state, SaleState::Settling);
    let sent = rig.platform.sent();
    assert_eq!(at_crash.attempt.unwrap().msgid, msgid(&sent[2]));
    let audit = rig.store.audit(msgid(&sent[2])).await.unwrap().unwrap();
    assert_eq!(audit.infno, "2102");
    assert!(audit.request.contains("druginfo") || audit.request.contains("feedetail"));
    (rig, sale.id)
}

/// A settled card sale whose 2103 answer is `answer`, cancelled until the crash.
async fn crash_cancelling(answer: Answer) -> (Rig, Sale) {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::fixture("2102_response.json"))
            .expect("2103", answer),
    );
    let sale = rig.card_sale("prefer_online").await;
    rig.engine.presettle(&sale.id).await.unwrap();
    let sale = rig.confirm(&sale.id).await.unwrap();
    crash(&rig, rig.engine.cancel(&sale.id)).await;
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Cancelling);
    (rig, sale)
}

#[tokio::test]
async fn recovery_of_settling_with_a_recorded_answer_finishes_the_settlement() {
    let (rig, id) = crash_settling(Answer::Crash(Some(fixture("2102_response.json")))).await;
    let rig = rig.restart(platform());
    assert_eq!(rig.engine.recover().await.unwrap(), 1);
    let after = stored(&rig, &id).await;
    assert_eq!(after.state, SaleState::Settled);
    assert_eq!(after.settlement.unwrap().cash, Some(Fen(1_820)));
    assert!(
        rig.finish().is_empty(),
        "the audit table had the answer: nothing is sent"
    );
}

#[tokio::test]
async fn recovery_of_settling_with_a_recorded_refusal_rejects_the_sale() {
    let refusal = serde_json::json!({ "infcode": -1, "err_msg": "余额不足", "output": null });
    let (rig, id) = crash_settling(Answer::Crash(Some(refusal))).await;
    let rig = rig.restart(platform());
    rig.engine.recover().await.unwrap();
    let after = stored(&rig, &id).await;
    assert_eq!(after.state, SaleState::Rejected);
    assert_eq!(after.settlement, None);
    assert_eq!(after.last_error.unwrap().code, "upstream.business");
    assert!(rig.finish().is_empty(), "no 2601 for a recorded refusal");
}

#[tokio::test]
async fn recovery_of_settling_without_an_answer_is_unknown_and_reversed() {
    let (rig, id) = crash_settling(Answer::Crash(None)).await;
    let lost = stored(&rig, &id).await.attempt.unwrap().msgid;
    let rig = rig.restart(platform().expect("2601", Answer::fixture("2601_response.json")));
    rig.engine.recover().await.unwrap();
    let after = stored(&rig, &id).await;
    assert_eq!(after.state, SaleState::Unknown);
    assert!(history(&rig, &id).await.ends_with(&["lost".to_owned()]));
    rig.engine.forward_pass().await.unwrap();
    let after = stored(&rig, &id).await;
    assert_eq!(after.state, SaleState::Reversed);
    assert_eq!(after.reversed_attempts[0].msgid, lost);
    let sent = rig.finish();
    assert_eq!(sent[0].input["data"]["omsgid"], lost.as_str());
    assert_eq!(sent[0].input["data"]["oinfno"], "2102");
}

#[tokio::test]
async fn recovery_of_cancelling_with_a_recorded_answer_finishes_the_cancellation() {
    let (rig, sale) = crash_cancelling(Answer::Crash(Some(fixture("2103_response.json")))).await;
    let rig = rig.restart(platform());
    assert_eq!(rig.engine.recover().await.unwrap(), 1);
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Cancelled);
    assert!(rig.finish().is_empty());
}

#[tokio::test]
async fn recovery_of_cancelling_without_an_answer_reverses_the_2103() {
    let (rig, sale) = crash_cancelling(Answer::Crash(None)).await;
    let cancel = stored(&rig, &sale.id).await.attempt.unwrap();
    assert_eq!(cancel.infno, "2103");
    let rig = rig.restart(platform().expect("2601", Answer::fixture("2601_response.json")));
    rig.engine.recover().await.unwrap();
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Unknown);
    rig.engine.forward_pass().await.unwrap();
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Settled, "the settlement stands");
    assert_eq!(after.settlement, sale.settlement);
    let sent = rig.finish();
    assert_eq!(sent[0].input["data"]["omsgid"], cancel.msgid.as_str());
    assert_eq!(sent[0].input["data"]["oinfno"], "2103");
}

#[tokio::test]
async fn recovery_of_reversing_resends_the_same_2601_msgid() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::Lost)
            .expect("2601", Answer::Crash(None)),
    );
    let sale = rig.card_sale("prefer_online").await;
    rig.engine.presettle(&sale.id).await.unwrap();
    crash(&rig, rig.engine.confirm(&sale.id, Confirmation::default())).await;
    let before = stored(&rig, &sale.id).await;
    assert_eq!(before.state, SaleState::Reversing);
    let first = rig.platform.sent()[3].clone();
    let rig = rig.restart(platform().expect("2601", Answer::fixture("2601_response.json")));
    assert_eq!(
        rig.engine.recover().await.unwrap(),
        0,
        "reversing is the forwarder's"
    );
    rig.engine.forward_pass().await.unwrap();
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Reversed);
    let sent = rig.finish();
    assert_eq!(
        msgid(&sent[0]),
        msgid(&first),
        "the same 2601, the same msgid"
    );
    assert_eq!(sent[0].input, first.input);
    assert_eq!(before.reversal.unwrap().msgid, msgid(&first));
}

#[tokio::test]
async fn recovery_of_cancelling_with_a_recorded_refusal_leaves_the_sale_settled() {
    let refusal =
        serde_json::json!({ "infcode": -1, "err_msg": "已对账，不能撤销", "output": null });
    let (rig, sale) = crash_cancelling(Answer::Crash(Some(refusal))).await;
    let rig = rig.restart(platform());
    assert_eq!(rig.engine.recover().await.unwrap(), 1);
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Settled);
    assert_eq!(after.settlement, sale.settlement);
    assert_eq!(after.attempt, None, "the refused 2103 is dropped");
    assert!(rig.finish().is_empty(), "no 2601 for a recorded refusal");
}

#[tokio::test]
async fn recovery_of_settling_with_a_hospital_share_answer_settles_and_sends_nothing() {
    // The recorded answer does not add up by the old three-term sum, is for another total and
    // carries fields the terminal does not know: still a settlement, never a 2601.
    let (rig, id) =
        crash_settling(Answer::Crash(Some(fixture("2102_response_hosp_part.json")))).await;
    let rig = rig.restart(platform());
    assert_eq!(rig.engine.recover().await.unwrap(), 1);
    let after = stored(&rig, &id).await;
    assert_eq!(after.state, SaleState::Settled);
    let split = after.settlement.unwrap();
    assert_eq!(split.cash, Some(Fen(398_202)));
    assert_eq!(split.hosp_part, Some(Fen(50_501)));
    assert_eq!(split.answer["hifob_pay"], "1500.00");
    let checks: Vec<&str> = split.mismatches.iter().map(|m| m.check.as_str()).collect();
    // The fixture is for another person and total than the scripted 1101 and sale.
    assert_eq!(checks, ["psn_no", "medfee_sent"], "{:?}", split.mismatches);
    assert!(rig.finish().is_empty(), "nothing is sent: no 2601");
}

#[tokio::test]
async fn recovery_of_cancelling_with_a_public_shape_answer_cancels() {
    let (rig, sale) =
        crash_cancelling(Answer::Crash(Some(fixture("2103_response_public.json")))).await;
    let rig = rig.restart(platform());
    assert_eq!(rig.engine.recover().await.unwrap(), 1);
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Cancelled);
    let c = after.cancellation.unwrap();
    assert_eq!(c.setl_id.as_deref(), Some("S110105202611230082"));
    assert_eq!(c.original_setl_id, sale.settlement.unwrap().setl_id);
    assert_eq!(
        (c.cash_refunded, c.cash_from.as_str()),
        (Some(Fen(1_820)), "answer")
    );
    assert!(rig.finish().is_empty(), "nothing is sent: no 2601");
}

#[tokio::test]
async fn a_settlement_without_cash_settles_and_leaves_the_cash_to_the_operator() {
    let mut answer = fixture("2102_response.json");
    answer["output"]["setlinfo"]["psn_cash_pay"] = serde_json::Value::Null;
    let rig = Rig::new(presettle_script(platform()).expect("2102", Answer::Body(answer)));
    let sale = rig.card_sale("prefer_online").await;
    rig.engine.presettle(&sale.id).await.unwrap();
    let sale = rig.confirm(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Settled);
    assert_eq!(sale.settlement.as_ref().unwrap().cash, None);
    assert_eq!(
        sale.patient_share(),
        None,
        "never recomputed from other fields"
    );
    // A cancellation answer naming no cash: the refund is the settlement's (unknown here).
    let rig2 = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::fixture("2102_response.json"))
            .expect(
                "2103",
                Answer::output(
                    serde_json::json!({"setlinfo": {"setl_id": "C1", "psn_pay": "-48.20"}}),
                ),
            ),
    );
    let s = rig2.card_sale("prefer_online").await;
    rig2.engine.presettle(&s.id).await.unwrap();
    rig2.confirm(&s.id).await.unwrap();
    let cancelled = rig2.engine.cancel(&s.id).await.unwrap();
    assert_eq!(cancelled.state, SaleState::Cancelled);
    let c = cancelled.cancellation.unwrap();
    assert_eq!(
        (c.cash_refunded, c.cash_from.as_str()),
        (Some(Fen(1_820)), "settlement")
    );
    assert_eq!(c.setl_id.as_deref(), Some("C1"));
    rig.finish();
    rig2.finish();
}

#[tokio::test]
async fn recovery_of_settling_with_a_recorded_gateway_refusal_sends_no_2601() {
    // The daemon stopped after the gateway's 403 was recorded but before the sale moved on.
    let (rig, id) = crash_settling(Answer::Crash(None)).await;
    let msgid = stored(&rig, &id).await.attempt.unwrap().msgid;
    rig.store
        .record_answer(crate::store::AuditAnswer {
            msgid: msgid.clone(),
            http_status: Some(403),
            response: Some("Forbidden".into()),
            outcome: crate::store::AuditOutcome::Protocol,
            answered_at_ms: t0().timestamp_millis(),
        })
        .await
        .unwrap();
    let rig = rig.restart(platform());
    assert_eq!(rig.engine.recover().await.unwrap(), 1);
    let after = stored(&rig, &id).await;
    assert_eq!(
        after.state,
        SaleState::Confirmed,
        "back where it can be sent"
    );
    assert_eq!(after.attempt, None);
    assert_eq!(after.last_error.unwrap().code, "upstream.gateway");
    assert!(
        rig.finish().is_empty(),
        "no 2601 for a request that never left"
    );
}

#[tokio::test]
async fn recovery_of_settling_with_a_recorded_unreadable_answer_still_reverses() {
    // A 200 whose body is not the envelope proves nothing: unknown, as before.
    let (rig, id) = crash_settling(Answer::Crash(None)).await;
    let msgid = stored(&rig, &id).await.attempt.unwrap().msgid;
    rig.store
        .record_answer(crate::store::AuditAnswer {
            msgid,
            http_status: Some(200),
            response: Some("{\"unexpected\": true}".into()),
            outcome: crate::store::AuditOutcome::Protocol,
            answered_at_ms: t0().timestamp_millis(),
        })
        .await
        .unwrap();
    let rig = rig.restart(platform());
    rig.engine.recover().await.unwrap();
    assert_eq!(stored(&rig, &id).await.state, SaleState::Unknown);
    rig.finish();
}

/// Records `outcome` as the answer to the sale's attempt, without a body (as the client
/// records a connection failure or a failure before sending).
async fn record_outcome(rig: &Rig, id: &str, outcome: crate::store::AuditOutcome) {
    let msgid = stored(rig, id).await.attempt.unwrap().msgid;
    rig.store
        .record_answer(crate::store::AuditAnswer {
            msgid,
            http_status: None,
            response: None,
            outcome,
            answered_at_ms: t0().timestamp_millis(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn recovery_of_settling_recorded_as_unsent_sends_no_2601_and_puts_the_sale_back() {
    // The daemon stopped after the client recorded that the 2102 never left (no connection)
    // but before the sale moved on.
    let (rig, id) = crash_settling(Answer::Crash(None)).await;
    record_outcome(&rig, &id, crate::store::AuditOutcome::Unsent).await;
    let rig = rig.restart(platform());
    assert_eq!(rig.engine.recover().await.unwrap(), 1);
    let after = stored(&rig, &id).await;
    assert_eq!(
        after.state,
        SaleState::Confirmed,
        "back where it can be sent"
    );
    assert_eq!(
        after.attempt, None,
        "its msgid is dead: a retry gets a new one"
    );
    assert_eq!(after.last_error.unwrap().code, "upstream.not_sent");
    assert!(
        rig.finish().is_empty(),
        "no 2601 for a request that never left"
    );
}

#[tokio::test]
async fn recovery_of_settling_recorded_as_unknown_still_reverses() {
    // The same crash with the answer recorded as unknown (a timeout): the platform may have
    // settled, so recovery declares it unknown for the 2601. Only `unsent` is spared.
    let (rig, id) = crash_settling(Answer::Crash(None)).await;
    record_outcome(&rig, &id, crate::store::AuditOutcome::Unknown).await;
    let rig = rig.restart(platform());
    rig.engine.recover().await.unwrap();
    assert_eq!(stored(&rig, &id).await.state, SaleState::Unknown);
    rig.finish();
}

#[tokio::test]
async fn recovery_of_a_stored_sale_recorded_as_unsent_requeues_it() {
    let rig = Rig::new(presettle_script(platform()).expect("2102", Answer::Crash(None)));
    let sale = rig.card_sale("force_offline").await;
    let sale = rig
        .engine
        .confirm(
            &sale.id,
            Confirmation {
                pin: None,
                collected: Some(Fen(12_850)),
            },
        )
        .await
        .unwrap();
    assert_eq!(sale.state, SaleState::Queued);
    crash(&rig, rig.engine.forward_pass()).await;
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Settling);
    record_outcome(&rig, &sale.id, crate::store::AuditOutcome::Unsent).await;
    let rig = rig.restart(platform());
    assert_eq!(rig.engine.recover().await.unwrap(), 1);
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Queued, "back in the queue");
    assert!(after.stored && after.attempt.is_none());
    assert!(rig.finish().is_empty(), "no 2601");
}

#[tokio::test]
async fn recovery_of_cancelling_recorded_as_unsent_leaves_the_sale_settled() {
    let (rig, sale) = crash_cancelling(Answer::Crash(None)).await;
    record_outcome(&rig, &sale.id, crate::store::AuditOutcome::Unsent).await;
    let rig = rig.restart(platform());
    assert_eq!(rig.engine.recover().await.unwrap(), 1);
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Settled, "the 2103 never left");
    assert!(after.settlement.is_some());
    assert!(rig.finish().is_empty(), "no 2601");
}

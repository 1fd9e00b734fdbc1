//! Sales in doubt: a request that never left is tried again under a new msgid with no 2601; a
//! refused 2601 holds the sale for an operator with the evidence and the `sale.in_doubt`
//! alarm, never a loop; an unanswered 2601 backs off; a sale in doubt too long raises the
//! alarm; an operator's resolution ends it, audited; a reversal's success is the evidence a
//! new settlement needs.

use super::*;
use crate::settle::resolve::{Decision, Resolution};
use crate::settle::sale::EvidenceSource;
use crate::settle::{SaleError, SaleState};
use crate::upstream::UpstreamError;

const ALARM: &str = crate::settle::doubt::ALARM;

async fn presettled(rig: &Rig) -> Sale {
    let sale = rig.card_sale("prefer_online").await;
    rig.engine.presettle(&sale.id).await.unwrap()
}

/// A stored card sale (force_offline), `queued`.
async fn queued(rig: &Rig) -> Sale {
    let sale = rig.card_sale("force_offline").await;
    let sale = rig.confirm(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Queued);
    sale
}

/// The history rows of a sale: (event, detail).
async fn rows(rig: &Rig, id: &str) -> Vec<(String, serde_json::Value)> {
    rig.store
        .sale_events(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event, serde_json::from_str(&e.detail).unwrap()))
        .collect()
}

fn resolution(decision: Decision) -> Resolution {
    Resolution {
        decision,
        note: Some("checked with the bureau, ticket 42".into()),
    }
}

#[tokio::test]
async fn an_unreachable_2102_sends_no_2601_and_the_cashier_may_store_the_sale() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::Unreachable)
            .expect("2101", Answer::fixture("2101_response.json"))
            .expect("2102", Answer::fixture("2102_response.json")),
    );
    let sale = presettled(&rig).await;
    let e = rig.confirm(&sale.id).await.unwrap_err();
    assert!(
        matches!(&e, SaleError::Offline { can_store: true, cause } if cause == "upstream.unreachable"),
        "{e:?}"
    );
    let after = stored(&rig, &sale.id).await;
    assert_eq!(
        after.state,
        SaleState::Confirmed,
        "back where it can be sent"
    );
    assert_eq!(after.attempt, None, "the unsent msgid is dead");
    assert_eq!(
        history(&rig, &sale.id).await[3..],
        ["confirm", "send", "unsent"]
    );
    // Confirming again stores it (can_store); the forwarder settles it under a new msgid.
    let sale = rig.confirm(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Queued);
    rig.engine.flush();
    rig.engine.forward_pass().await.unwrap();
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Settled);
    let sent = rig.finish();
    assert!(
        sent.iter().all(|s| s.infno != "2601"),
        "a request that never left is never reversed"
    );
    assert_ne!(msgid(&sent[2]), msgid(&sent[4]));
    assert_eq!(after.attempt.unwrap().msgid, msgid(&sent[4]));
}

#[tokio::test]
async fn an_unreachable_2102_of_a_stored_sale_goes_back_to_the_queue_with_a_backoff() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::Unreachable)
            .expect("2101", Answer::fixture("2101_response.json"))
            .expect("2102", Answer::fixture("2102_response.json")),
    );
    let sale = queued(&rig).await;
    let pass = rig.engine.forward_pass().await.unwrap();
    assert!(pass.link_down);
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Queued);
    assert_eq!(after.attempt, None);
    let row = rig.store.sale(&sale.id).await.unwrap().unwrap();
    let now_ms = t0().timestamp_millis();
    assert!(
        row.next_attempt_at_ms.is_some_and(|t| t > now_ms),
        "{row:?}"
    );
    let (event, detail) = rows(&rig, &sale.id).await.pop().unwrap();
    assert_eq!(event, "requeue");
    assert_eq!(detail["never_sent"], true);
    assert_eq!(detail["error"]["code"], "upstream.unreachable");
    // Not due yet: nothing is sent.
    let pass = rig.engine.forward_pass().await.unwrap();
    assert_eq!((pass.progressed, pass.waiting), (0, 1));
    assert_eq!(rig.platform.infnos().len(), 3);
    rig.engine.flush();
    rig.engine.forward_pass().await.unwrap();
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Settled);
    let sent = rig.finish();
    assert_eq!(
        rig.platform.infnos(),
        ["1101", "2101", "2102", "2101", "2102"]
    );
    assert_ne!(msgid(&sent[2]), msgid(&sent[4]));
}

#[tokio::test]
async fn an_unreachable_2103_leaves_the_sale_settled_without_a_2601() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::fixture("2102_response.json"))
            .expect("2103", Answer::Unreachable),
    );
    let sale = presettled(&rig).await;
    let sale = rig.confirm(&sale.id).await.unwrap();
    let e = rig.engine.cancel(&sale.id).await.unwrap_err();
    assert!(
        matches!(e, SaleError::Upstream(UpstreamError::Unreachable { .. })),
        "{e:?}"
    );
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Settled);
    assert_eq!(after.settlement, sale.settlement);
    assert_eq!(after.attempt, None);
    assert_eq!(history(&rig, &sale.id).await[6..], ["cancel", "unsent"]);
    assert_eq!(rig.finish().len(), 4, "no 2601");
}

#[tokio::test]
async fn a_reversal_records_the_platforms_answer_as_the_evidence_for_a_new_settlement() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::Lost)
            .expect("2601", Answer::fixture("2601_response.json"))
            .expect("2102", Answer::fixture("2102_response.json")),
    );
    let sale = presettled(&rig).await;
    let sale = rig.confirm(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Settled);
    let sent = rig.finish();
    let reversed = &sale.reversed_attempts[0];
    let proof = reversed.reversed_by.as_ref().expect("the 2601's answer");
    assert_eq!(proof.source, EvidenceSource::Reversal);
    assert_eq!(proof.msgid.as_deref(), Some(msgid(&sent[3])));
    assert_eq!(proof.omsgid.as_deref(), Some(msgid(&sent[2])));
    assert_eq!(proof.infcode, Some(0));
    assert_eq!(proof.answer["respond_time"], "20261123100002456");
    assert!(reversed.reversal_proven());
    let history = rows(&rig, &sale.id).await;
    let (_, detail) = history.iter().find(|(e, _)| e == "reversed").unwrap();
    assert_eq!(detail["omsgid"], msgid(&sent[2]));
    assert_eq!(detail["evidence"]["msgid"], msgid(&sent[3]));
    assert_eq!(detail["evidence"]["infcode"], 0);
}

#[tokio::test]
async fn a_new_settlement_needs_the_proof_that_the_last_one_was_reversed() {
    use crate::settle::sale::{Attempt, Evidence};
    use crate::settle::settler::may_settle_afresh;
    let rig = Rig::new(platform());
    let mut sale = rig.card_sale("prefer_online").await;
    sale.state = SaleState::Reversed;
    let attempt = Attempt::new("H11010500001202611231000000001", "2102", 1);
    sale.reversed_attempts = vec![attempt.clone()];
    let e = may_settle_afresh(&sale).unwrap_err();
    assert!(
        matches!(&e, SaleError::ReversalUnproven { omsgid } if omsgid == &attempt.msgid),
        "{e:?}"
    );
    assert_eq!(crate::error::UserFacing::code(&e), "sale.reversal_unproven");
    assert_eq!(e.http_status(), 409);
    // A 2601 the platform refused is no proof; one it answered with success is.
    let answered = |infcode| Evidence {
        source: EvidenceSource::Reversal,
        msgid: Some("H11010500001202611231000000002".into()),
        omsgid: Some(attempt.msgid.clone()),
        infcode: Some(infcode),
        message: None,
        refusal: None,
        answer: serde_json::Value::Null,
        at_ms: 2,
    };
    sale.reversed_attempts[0].reversed_by = Some(answered(-1));
    assert!(may_settle_afresh(&sale).is_err());
    sale.reversed_attempts[0].reversed_by = Some(answered(0));
    assert!(may_settle_afresh(&sale).is_ok());
    // A later 2102 without proof blocks again, whatever came before it.
    sale.reversed_attempts
        .push(Attempt::new("H11010500001202611231000000003", "2102", 3));
    assert!(may_settle_afresh(&sale).is_err());
    // Nothing reversed at all: no proof either.
    sale.reversed_attempts.clear();
    assert!(may_settle_afresh(&sale).is_err());
    // Other states are not this guard's business.
    sale.state = SaleState::Queued;
    assert!(may_settle_afresh(&sale).is_ok());
    rig.finish();
}

#[tokio::test]
async fn a_refused_2601_holds_the_sale_with_the_evidence_and_raises_the_alarm() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::Lost)
            .expect("2601", Answer::refused("冲正失败：原交易不存在")),
    );
    let sale = presettled(&rig).await;
    let e = rig.confirm(&sale.id).await.unwrap_err();
    assert!(
        matches!(
            &e,
            SaleError::Held {
                refusal: "not_found",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(crate::error::UserFacing::code(&e), "sale.held");
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Held);
    let sent = rig.platform.sent();
    let evidence = &after.evidence[0];
    assert_eq!(evidence.source, EvidenceSource::Reversal);
    assert_eq!(evidence.refusal.as_deref(), Some("not_found"));
    assert_eq!(evidence.infcode, Some(-1));
    assert_eq!(evidence.msgid.as_deref(), Some(msgid(&sent[3])));
    assert_eq!(evidence.omsgid.as_deref(), Some(msgid(&sent[2])));
    assert_eq!(evidence.message.as_deref(), Some("冲正失败：原交易不存在"));
    // The answer itself, as the audit table recorded it.
    assert_eq!(evidence.answer["infcode"], -1);
    assert_eq!(evidence.answer["err_msg"], "冲正失败：原交易不存在");
    assert!(
        evidence.answer.get("output").is_some(),
        "the whole envelope: {}",
        evidence.answer
    );
    let alarm = rig.alarm(ALARM).expect("the alarm is raised at once");
    assert_eq!(alarm.details["sales"][0]["id"], sale.id.as_str());
    assert_eq!(alarm.details["sales"][0]["state"], "held");
    assert!(alarm.message_zh.contains(&sale.id) && alarm.message_en.contains(&sale.id));
    // No loop: the forwarder does not pick a held sale, flushed or not (the strict script
    // fails on any further request).
    for _ in 0..3 {
        rig.engine.flush();
        let pass = rig.engine.forward_pass().await.unwrap();
        assert_eq!(pass.progressed, 0);
    }
    assert_eq!(rig.finish().len(), 4);
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Held);
}

#[tokio::test]
async fn an_operator_resolves_a_held_settlement_as_not_settled_and_it_settles_afresh() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::Lost)
            .expect("2601", Answer::refused("原交易不存在"))
            .expect("2102", Answer::fixture("2102_response.json")),
    );
    let sale = presettled(&rig).await;
    rig.confirm(&sale.id).await.unwrap_err();
    let resolved = rig
        .engine
        .resolve(&sale.id, resolution(Decision::NotSettled))
        .await
        .unwrap();
    assert_eq!(resolved.state, SaleState::Reversed);
    assert!(rig.alarm(ALARM).is_none(), "cleared when none is left");
    let reversed = &resolved.reversed_attempts[0];
    assert!(
        reversed.reversal_proven(),
        "the operator's decision is the proof"
    );
    assert_eq!(
        reversed.reversed_by.as_ref().unwrap().source,
        EvidenceSource::Operator
    );
    let (event, detail) = rows(&rig, &sale.id).await.pop().unwrap();
    assert_eq!(event, "resolve_unsettled");
    assert_eq!(detail["decision"], "not_settled");
    assert_eq!(detail["note"], "checked with the bureau, ticket 42");
    assert_eq!(detail["settlement_query"], "unavailable");
    assert_eq!(detail["evidence"][0]["message"], "原交易不存在");
    assert_eq!(detail["evidence"][0]["refusal"], "not_found");
    // The cashier confirms again: a fresh 2102 under a new msgid.
    let sale = rig.confirm(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Settled);
    let sent = rig.finish();
    assert_ne!(msgid(&sent[2]), msgid(&sent[4]));
}

#[tokio::test]
async fn an_operator_resolves_a_held_stored_sale_as_settled_with_its_setl_id() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::Lost)
            .expect("2601", Answer::refused("该交易已冲正"))
            .expect("5203", standing("S110105202611230009")),
    );
    let sale = queued(&rig).await;
    rig.engine.forward_pass().await.unwrap();
    let held = stored(&rig, &sale.id).await;
    assert_eq!(held.state, SaleState::Held);
    assert_eq!(
        held.evidence[0].refusal.as_deref(),
        Some("already_reversed")
    );
    let bad = rig
        .engine
        .resolve(
            &sale.id,
            resolution(Decision::Settled {
                setl_id: "bad id; drop".into(),
            }),
        )
        .await
        .unwrap_err();
    assert!(matches!(bad, SaleError::BadRequest(_)), "{bad:?}");
    assert_eq!(
        stored(&rig, &sale.id).await,
        held,
        "bad input changes nothing"
    );
    let resolved = rig
        .engine
        .resolve(
            &sale.id,
            resolution(Decision::Settled {
                setl_id: "S110105202611230009".into(),
            }),
        )
        .await
        .unwrap();
    assert_eq!(resolved.state, SaleState::Settled);
    let split = resolved.settlement.unwrap();
    assert_eq!(split.setl_id.as_deref(), Some("S110105202611230009"));
    assert_eq!(split.medfee, held.estimate.unwrap().medfee);
    assert!(rig.alarm(ALARM).is_none());
    let (event, detail) = rows(&rig, &sale.id).await.pop().unwrap();
    assert_eq!(
        (event.as_str(), &detail["decision"]),
        ("resolve_settled", &serde_json::json!("settled"))
    );
    assert_eq!(detail["setl_id"], "S110105202611230009");
    assert_eq!(detail["settlement_query"]["infcode"], 0, "{detail}");
    assert_eq!(resolved.evidence.len(), 3, "refusal, 5203, decision");
    rig.engine.flush();
    rig.engine.forward_pass().await.unwrap();
    let sent = rig.finish();
    assert_eq!(sent.len(), 5, "the 5203, and nothing more is sent");
    assert_eq!(sent[4].infno, "5203");
}

/// A 5203 answer: settlement `setl_id` stands (not refunded).
fn standing(setl_id: &str) -> Answer {
    let mut output = crate::upstream::scripted::fixture("5203_response.json")["output"].clone();
    output["setlinfo"]["setl_id"] = serde_json::json!(setl_id);
    output["setlinfo"]["refd_setl_flag"] = serde_json::json!("0");
    Answer::output(output)
}

#[tokio::test]
async fn a_cancellation_in_doubt_resolves_to_cancelled_or_the_settlement_standing() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::fixture("2102_response.json"))
            .expect("2103", Answer::Lost)
            .expect("2601", Answer::refused("原交易不存在")),
    );
    let sale = presettled(&rig).await;
    let sale = rig.confirm(&sale.id).await.unwrap();
    let e = rig.engine.cancel(&sale.id).await.unwrap_err();
    assert!(matches!(e, SaleError::Held { .. }), "{e:?}");
    // The settlement's own setl_id is the only one an operator may name for it.
    let wrong = rig
        .engine
        .resolve(
            &sale.id,
            resolution(Decision::Settled {
                setl_id: "S999".into(),
            }),
        )
        .await
        .unwrap_err();
    assert!(matches!(wrong, SaleError::BadRequest(_)), "{wrong:?}");
    let resolved = rig
        .engine
        .resolve(&sale.id, resolution(Decision::NotSettled))
        .await
        .unwrap();
    assert_eq!(resolved.state, SaleState::Cancelled);
    let (event, detail) = rows(&rig, &sale.id).await.pop().unwrap();
    assert_eq!(event, "resolve_cancelled");
    assert_eq!(detail["decision"], "cancelled");
    assert_eq!(detail["infno"], "2103");
    rig.finish();

    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::fixture("2102_response.json"))
            .expect("2103", Answer::Lost)
            .expect("2601", Answer::refused("系统异常"))
            .expect("5203", standing("S110105202611230001")),
    );
    let sale = presettled(&rig).await;
    let sale = rig.confirm(&sale.id).await.unwrap();
    rig.engine.cancel(&sale.id).await.unwrap_err();
    let setl_id = sale.settlement.as_ref().unwrap().setl_id.clone().unwrap();
    let resolved = rig
        .engine
        .resolve(&sale.id, resolution(Decision::Settled { setl_id }))
        .await
        .unwrap();
    assert_eq!(resolved.state, SaleState::Settled);
    assert_eq!(
        resolved.settlement, sale.settlement,
        "the settlement stands"
    );
    assert_eq!(resolved.evidence[0].refusal.as_deref(), Some("other"));
    rig.finish();
}

#[tokio::test]
async fn only_a_sale_in_doubt_can_be_resolved() {
    let rig = Rig::new(presettle_script(platform()));
    let sale = presettled(&rig).await;
    let before = history(&rig, &sale.id).await;
    let e = rig
        .engine
        .resolve(&sale.id, resolution(Decision::NotSettled))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SaleError::NotInDoubt {
                state: SaleState::Presettled
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.http_status(), 409);
    assert_eq!(crate::error::UserFacing::code(&e), "sale.not_in_doubt");
    assert!(crate::error::UserFacing::message_zh(&e).contains("已预结算"));
    assert_eq!(history(&rig, &sale.id).await, before);
    rig.finish();
}

#[tokio::test]
async fn an_unanswered_2601_backs_off_and_a_sale_in_doubt_too_long_raises_the_alarm() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::Lost)
            .expect("2601", Answer::Unreachable)
            .expect("2601", Answer::Unreachable)
            .expect("2601", Answer::fixture("2601_response.json")),
    );
    let sale = presettled(&rig).await;
    rig.confirm(&sale.id).await.unwrap_err();
    let first = stored(&rig, &sale.id).await;
    assert_eq!(first.state, SaleState::Reversing);
    let row = rig.store.sale(&sale.id).await.unwrap().unwrap();
    let now_ms = t0().timestamp_millis();
    assert!(row.next_attempt_at_ms.is_some_and(|t| t > now_ms));
    // Not due: the forwarder waits.
    let pass = rig.engine.forward_pass().await.unwrap();
    assert_eq!((pass.progressed, pass.waiting), (0, 1));
    assert_eq!(rig.platform.infnos().len(), 4);
    // Due again (flushed): a second failure counts one more try.
    rig.engine.flush();
    rig.engine.forward_pass().await.unwrap();
    let second = stored(&rig, &sale.id).await;
    assert_eq!(second.tries, first.tries + 1);
    // In doubt, but not for long yet: no alarm.
    rig.engine.show_doubts().await;
    assert!(rig.alarm(ALARM).is_none());
    rig.advance_minutes(11);
    rig.engine.show_doubts().await;
    let alarm = rig.alarm(ALARM).expect("in doubt for over 10 minutes");
    assert_eq!(alarm.details["sales"][0]["id"], sale.id.as_str());
    assert_eq!(alarm.details["sales"][0]["state"], "reversing");
    rig.engine.flush();
    rig.engine.forward_pass().await.unwrap();
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Reversed);
    rig.engine.show_doubts().await;
    assert!(rig.alarm(ALARM).is_none(), "cleared when none is left");
    rig.finish();
}

#[test]
fn backoff_is_exponential_and_capped() {
    // The settler's backoff: first × 2^tries, capped, ±50 % jitter.
    let config = SettleConfig {
        retry_first_ms: 1_000,
        retry_max_ms: 60_000,
        ..SettleConfig::default()
    };
    let b = |tries| crate::settle::settler::backoff(&config, tries);
    for _ in 0..50 {
        assert!((1_000..=3_000).contains(&b(1)));
        assert!((2_000..=6_000).contains(&b(2)));
        assert!((30_000..=90_000).contains(&b(10)));
        assert!((30_000..=90_000).contains(&b(u32::MAX)));
    }
}

#[test]
fn a_5203_answer_with_refd_setl_flag_1_means_refunded() {
    use crate::settle::sale::Evidence;
    use crate::settle::settler::refunded;
    let answer = |flag: serde_json::Value, source, infcode| Evidence {
        source,
        msgid: Some("H11010500001202611231000000009".into()),
        omsgid: None,
        infcode: Some(infcode),
        message: None,
        refusal: None,
        answer: serde_json::json!({ "output": { "setlinfo": { "refd_setl_flag": flag } } }),
        at_ms: 1,
    };
    let q = EvidenceSource::SettlementQuery;
    assert!(refunded(&answer(serde_json::json!("1"), q, 0)));
    assert!(refunded(&answer(serde_json::json!(" 1 "), q, 0)));
    assert!(refunded(&answer(serde_json::json!(1), q, 0)));
    assert!(!refunded(&answer(serde_json::json!("0"), q, 0)));
    assert!(!refunded(&answer(serde_json::Value::Null, q, 0)));
    assert!(
        !refunded(&answer(serde_json::json!("1"), q, -1)),
        "a refused query proves nothing"
    );
    assert!(
        !refunded(&answer(serde_json::json!("1"), EvidenceSource::Reversal, 0)),
        "only a 5203 answer"
    );
    assert_eq!(
        SaleState::Settled.next(crate::settle::SaleEvent::Refunded),
        Ok(SaleState::Cancelled)
    );
}

//! Money operations while the daemon runs (issue 15, defects 1, 1b, 1c, 2 and the concurrent
//! forwarder): a confirm whose caller gives up runs to the end and a retry answers its outcome;
//! a sale whose operation was cut off is recovered by the forwarder without a restart; a
//! `confirmed` sale with nothing sent settles on a retried confirm; online sales left
//! unattended are abandoned; a link failure stops the pass from starting more sales.

use super::*;
use crate::settle::options::SettleConfig;
use crate::settle::sale::Consent;
use crate::settle::{Confirmation, SaleError, SaleState};
use crate::store::SaleTransition;
use crate::upstream::Fen;
use crate::upstream::scripted::fixture;
use tokio::sync::Notify;

/// A presettled online card sale.
async fn presettled(rig: &Rig) -> Sale {
    let sale = rig.card_sale("prefer_online").await;
    rig.engine.presettle(&sale.id).await.unwrap()
}

/// What a crash between the `confirm` and `send` transitions leaves: the sale `confirmed`
/// with the patient's consent, nothing sent (written as the `confirm` transition writes it).
async fn confirmed_then_crashed(rig: &Rig, sale: &Sale) {
    let mut next = stored(rig, &sale.id).await;
    next.state = SaleState::Confirmed;
    next.consent = Some(Consent::None);
    rig.store
        .transition_sale(SaleTransition {
            id: sale.id.clone(),
            from: "presettled".into(),
            to: "confirmed".into(),
            event: "confirm".into(),
            at_ms: t0().timestamp_millis(),
            doc: serde_json::to_string(&next).unwrap(),
            detail: "{}".into(),
            next_attempt_at_ms: None,
            store_offline: None,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_confirm_whose_caller_gives_up_settles_once_and_a_retry_gets_its_outcome() {
    let gate = Arc::new(Notify::new());
    let rig = Rig::new(presettle_script(platform()).expect(
        "2102",
        Answer::Held(fixture("2102_response.json"), Arc::clone(&gate)),
    ));
    let sale = presettled(&rig).await;
    // The caller gives up (a client disconnect, a timeout) while the 2102 answer is held.
    tokio::select! {
        r = rig.engine.confirm(&sale.id, Confirmation::default()) => {
            panic!("the confirm finished while its answer was held: {r:?}")
        }
        () = rig.platform.holding() => {}
    }
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Settling);
    // A retry (the same Idempotency-Key, or a cashier pressing again) waits for the running
    // confirmation instead of answering `sale.wrong_state`.
    let engine = Arc::clone(&rig.engine);
    let id = sale.id.clone();
    let retry = tokio::spawn(async move { engine.confirm(&id, Confirmation::default()).await });
    gate.notify_one();
    let answered = retry
        .await
        .unwrap()
        .expect("the retry answers the settlement");
    assert_eq!(answered.state, SaleState::Settled);
    assert_eq!(answered.settlement.as_ref().unwrap().cash, Some(Fen(1_820)));
    assert_eq!(stored(&rig, &sale.id).await, answered);
    let sent = rig.finish();
    let infnos: Vec<_> = sent.iter().map(|s| s.infno.as_str()).collect();
    assert_eq!(infnos, ["1101", "2101", "2102"], "settled exactly once");
    let events = history(&rig, &sale.id).await;
    assert_eq!(events.iter().filter(|e| *e == "settled").count(), 1);
}

#[tokio::test]
async fn a_retried_cancel_answers_the_cancellation_it_waited_for() {
    let gate = Arc::new(Notify::new());
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::fixture("2102_response.json"))
            .expect(
                "2103",
                Answer::Held(fixture("2103_response.json"), Arc::clone(&gate)),
            ),
    );
    let sale = presettled(&rig).await;
    rig.confirm(&sale.id).await.unwrap();
    tokio::select! {
        r = rig.engine.cancel(&sale.id) => panic!("finished while held: {r:?}"),
        () = rig.platform.holding() => {}
    }
    let engine = Arc::clone(&rig.engine);
    let id = sale.id.clone();
    let retry = tokio::spawn(async move { engine.cancel(&id).await });
    gate.notify_one();
    let answered = retry
        .await
        .unwrap()
        .expect("the retry answers the cancellation");
    assert_eq!(answered.state, SaleState::Cancelled);
    assert_eq!(rig.finish().len(), 4, "one 2103");
    // Once more, long after: still the cancellation, no new request.
    let again = rig.engine.cancel(&sale.id).await.unwrap();
    assert_eq!(again.state, SaleState::Cancelled);
}

#[tokio::test]
async fn a_retried_confirm_of_a_refused_sale_answers_the_same_refusal() {
    let rig = Rig::new(presettle_script(platform()).expect("2102", Answer::refused("余额不足")));
    let sale = presettled(&rig).await;
    let first = rig.confirm(&sale.id).await.unwrap_err();
    let again = rig.confirm(&sale.id).await.unwrap_err();
    use crate::error::UserFacing;
    assert_eq!(again.code(), first.code());
    assert_eq!(again.code(), "upstream.business");
    assert_eq!(again.http_status(), first.http_status());
    assert_eq!(again.message_zh(), first.message_zh());
    assert_eq!(rig.finish().len(), 3, "no second 2102");
}

#[tokio::test]
async fn a_cut_off_settlement_is_recovered_by_the_forwarder_without_a_restart() {
    // The operation dies after `send` was recorded (a panic in the task): the sale is left
    // `settling` with its lock free. The forwarder finds it, finds no recorded answer, and
    // declares it unknown; the next pass reverses it.
    let rig = Rig::new(
        presettle_script(platform())
            .expect_with(
                "2102",
                |_| panic!("the settlement's task dies here (test)"),
                Answer::Lost,
            )
            .expect("2601", Answer::fixture("2601_response.json")),
    );
    let sale = presettled(&rig).await;
    let e = rig.confirm(&sale.id).await.unwrap_err();
    assert!(matches!(e, SaleError::InProgress(_)), "{e:?}");
    let cut = stored(&rig, &sale.id).await;
    assert_eq!(cut.state, SaleState::Settling);
    let lost = cut.attempt.unwrap().msgid;
    rig.engine.forward_pass().await.unwrap();
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Unknown);
    rig.engine.forward_pass().await.unwrap();
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Reversed);
    assert_eq!(after.reversed_attempts[0].msgid, lost);
    let sent = rig.finish();
    assert_eq!(sent[3].infno, "2601");
    assert_eq!(sent[3].input["data"]["omsgid"], lost.as_str());
}

#[tokio::test]
async fn a_confirmed_sale_with_nothing_sent_settles_on_a_retried_confirm() {
    let rig = Rig::new(
        presettle_script(platform()).expect("2102", Answer::fixture("2102_response.json")),
    );
    let sale = presettled(&rig).await;
    confirmed_then_crashed(&rig, &sale).await;
    // The forwarder leaves it to its cashier (within the unattended window).
    assert_eq!(rig.engine.forward_pass().await.unwrap().progressed, 0);
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Confirmed);
    let settled = rig.confirm(&sale.id).await.unwrap();
    assert_eq!(settled.state, SaleState::Settled);
    let sent = rig.finish();
    assert_eq!(sent.len(), 3, "one 2102");
    assert!(history(&rig, &sale.id).await.ends_with(&[
        "confirm".into(),
        "send".into(),
        "settled".into()
    ]));
}

#[tokio::test]
async fn online_sales_left_unattended_are_abandoned_with_the_reason() {
    let rig = Rig::new(
        presettle_script(presettle_script(presettle_script(platform())))
            .expect("2102", Answer::Lost)
            .expect("2601", Answer::fixture("2601_response.json"))
            .expect("2102", Answer::Lost)
            .expect("2601", Answer::fixture("2601_response.json")),
    );
    let captured = rig.card_sale("prefer_online").await;
    let presettled_sale = presettled(&rig).await;
    let confirmed = presettled(&rig).await;
    confirmed_then_crashed(&rig, &confirmed).await;
    // Lost twice, reversed twice: it waits for its cashier.
    let reversed = presettled(&rig).await;
    let reversed = rig.confirm(&reversed.id).await.unwrap();
    assert_eq!(reversed.state, SaleState::Reversed);
    let ids = [
        &captured.id,
        &presettled_sale.id,
        &confirmed.id,
        &reversed.id,
    ];
    let before: Vec<SaleState> = {
        let mut v = Vec::new();
        for id in ids {
            v.push(stored(&rig, id).await.state);
        }
        v
    };
    // Within the window nothing is touched.
    assert_eq!(rig.engine.forward_pass().await.unwrap().progressed, 0);
    for (id, state) in ids.iter().zip(&before) {
        assert_eq!(stored(&rig, id).await.state, *state);
    }
    // 31 minutes later (default window 30).
    rig.offset
        .fetch_add(31 * 60, std::sync::atomic::Ordering::SeqCst);
    let pass = rig.engine.forward_pass().await.unwrap();
    assert_eq!(pass.progressed, 4);
    for (id, state) in ids.iter().zip(&before) {
        assert_eq!(stored(&rig, id).await.state, SaleState::Abandoned, "{id}");
        let events = rig.store.sale_events(id).await.unwrap();
        let last = events.last().unwrap();
        assert_eq!(last.event, "abandon");
        let detail: serde_json::Value = serde_json::from_str(&last.detail).unwrap();
        assert_eq!(detail["reason"], "unattended");
        assert_eq!(detail["state"], state.as_str());
        assert_eq!(detail["unattended_sale_minutes"], 30);
    }
    assert_eq!(rig.finish().len(), 10, "abandoning sends nothing");
}

#[tokio::test]
async fn a_stored_sale_is_never_abandoned_as_unattended() {
    let rig = Rig::new(platform().expect("1101", Answer::Unreachable));
    let sale = rig.card_sale("force_offline").await;
    let sale = rig.confirm(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Queued);
    rig.offset
        .fetch_add(2 * 3_600, std::sync::atomic::Ordering::SeqCst);
    let pass = rig.engine.forward_pass().await.unwrap();
    assert!(pass.link_down);
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Queued);
    rig.finish();
}

#[tokio::test]
async fn a_link_failure_stops_the_pass_from_starting_more_sales() {
    let settle = SettleConfig {
        forward_concurrency: 2,
        ..pin_settle(false)
    };
    let rig = Rig::with_settle(
        platform()
            .expect("1101", Answer::Unreachable)
            .expect("1101", Answer::Unreachable),
        settle,
    );
    let mut ids = Vec::new();
    for _ in 0..3 {
        let s = rig.card_sale("force_offline").await;
        rig.confirm(&s.id).await.unwrap();
        ids.push(s.id);
    }
    let pass = rig.engine.forward_pass().await.unwrap();
    assert!(pass.link_down);
    assert_eq!(pass.progressed, 0);
    // Two were in flight together; the third was not started.
    assert_eq!(rig.platform.infnos(), ["1101", "1101"]);
    let mut tried = 0;
    for id in &ids {
        if history(&rig, id)
            .await
            .contains(&"attempt_failed".to_owned())
        {
            tried += 1;
        }
    }
    assert_eq!(
        tried, 2,
        "two sales tried, each with its own backoff; one untouched"
    );
    rig.finish();
}

//! Store-and-forward (offline.md): a card sale stored without the platform, then settled by
//! the forwarder; a link still down, a refusal, a lost answer and an expired sale.

use super::*;
use crate::settle::{Confirmation, SaleState};
use crate::upstream::Fen;

/// A `force_offline` card sale stored with 128.50 collected at the counter.
async fn stored_sale(rig: &Rig) -> Sale {
    let sale = rig.card_sale("force_offline").await;
    rig.engine
        .confirm(
            &sale.id,
            Confirmation {
                pin: None,
                collected: Some(Fen(12_850)),
            },
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn force_offline_card_sale_is_stored_without_any_request() {
    let rig = Rig::new(platform());
    let sale = stored_sale(&rig).await;
    assert_eq!(sale.state, SaleState::Queued);
    assert!(sale.stored);
    assert_eq!(sale.collected, Some(Fen(12_850)));
    let totals = rig.store.offline_totals().await.unwrap();
    assert_eq!((totals.count, totals.amount_fen), (1, 12_850));
    assert!(rig.finish().is_empty(), "storing a sale sends nothing");
}

#[tokio::test]
async fn forwarder_settles_a_stored_sale_with_1101_2101_2102() {
    let rig = Rig::new(presettle_script(platform()).expect_with(
        "2102",
        |s| assert!(s.prepared),
        Answer::fixture("2102_response.json"),
    ));
    let sale = stored_sale(&rig).await;
    let pass = rig.engine.forward_pass().await.unwrap();
    assert_eq!((pass.progressed, pass.link_down), (1, false));
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Settled);
    assert_eq!(after.settlement.as_ref().unwrap().cash, Some(Fen(1_820)));
    assert_eq!(
        after.refund_due(),
        Some(Fen(11_030)),
        "collected 128.50, cash share 18.20"
    );
    let sent = rig.finish();
    assert_eq!(after.attempt.unwrap().msgid, msgid(&sent[2]));
    assert_eq!(
        rig.engine.forward_pass().await.unwrap().progressed,
        0,
        "nothing left"
    );
}

#[tokio::test]
async fn forwarder_with_the_link_down_keeps_the_sale_queued_and_backs_off() {
    let rig = Rig::new(platform().expect("1101", Answer::Unreachable));
    let sale = stored_sale(&rig).await;
    let pass = rig.engine.forward_pass().await.unwrap();
    assert!(pass.link_down);
    assert_eq!(pass.progressed, 0);
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Queued);
    assert_eq!(after.tries, 1);
    assert_eq!(after.last_error.unwrap().code, "upstream.unreachable");
    let row = rig.store.sale(&sale.id).await.unwrap().unwrap();
    assert!(
        row.next_attempt_at_ms.unwrap() > t0().timestamp_millis(),
        "backoff scheduled"
    );
    // Not due yet: the next pass sends nothing (the script is finished).
    let pass = rig.engine.forward_pass().await.unwrap();
    assert_eq!((pass.progressed, pass.waiting), (0, 1));
    rig.finish();
}

#[tokio::test]
async fn forwarder_rejects_a_stored_sale_the_platform_refuses() {
    let rig = Rig::new(presettle_script(platform()).expect("2102", Answer::refused("超出限额")));
    let sale = stored_sale(&rig).await;
    let pass = rig.engine.forward_pass().await.unwrap();
    assert_eq!(
        pass.progressed, 1,
        "a refusal is progress: an operator decides"
    );
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Rejected);
    assert!(after.stored && after.settlement.is_none());
    assert_eq!(rig.finish().len(), 3, "no 2601 after a refusal");
}

#[tokio::test]
async fn forwarder_reverses_a_lost_2102_and_settles_afresh_on_the_next_pass() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::Lost)
            .expect("2601", Answer::fixture("2601_response.json"))
            .expect("2102", Answer::fixture("2102_response.json")),
    );
    let sale = stored_sale(&rig).await;
    rig.engine.forward_pass().await.unwrap();
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Reversed);
    rig.engine.forward_pass().await.unwrap();
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Settled);
    let sent = rig.finish();
    assert_eq!(
        rig.platform.infnos(),
        ["1101", "2101", "2102", "2601", "2102"]
    );
    assert_eq!(sent[3].input["data"]["omsgid"], msgid(&sent[2]));
    assert_ne!(
        msgid(&sent[2]),
        msgid(&sent[4]),
        "fresh msgid after the reversal"
    );
    assert_eq!(after.reversed_attempts[0].msgid, msgid(&sent[2]));
    assert_eq!(after.tries, 2);
}

#[tokio::test]
async fn stored_sale_past_its_maximum_age_expires_without_a_request() {
    let rig = Rig::new(platform());
    let sale = stored_sale(&rig).await;
    rig.advance_hours(73);
    let pass = rig.engine.forward_pass().await.unwrap();
    assert_eq!(pass.progressed, 1);
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Expired);
    assert!(rig.finish().is_empty());
}

#[tokio::test]
async fn a_sale_over_the_offline_limit_is_refused_and_nothing_is_stored() {
    let settle = SettleConfig {
        offline_max_sale: "100.00".into(),
        ..super::pin_settle(false)
    };
    let rig = Rig::with_settle(platform(), settle);
    let sale = rig.card_sale("force_offline").await;
    let e = rig.confirm(&sale.id).await.unwrap_err();
    assert!(
        matches!(
            e,
            crate::settle::SaleError::Limit {
                limit: crate::store::LimitKind::PerSale,
                current: 12_850,
                max: 10_000
            }
        ),
        "{e:?}"
    );
    let after = stored(&rig, &sale.id).await;
    assert_eq!((after.state, after.stored), (SaleState::Captured, false));
    assert_eq!(rig.store.offline_totals().await.unwrap().count, 0);
    assert!(rig.finish().is_empty());
}

#[tokio::test]
async fn prefer_online_sale_is_stored_when_the_platform_is_down_then_forwarded() {
    let rig = Rig::new(
        platform()
            .expect("1101", Answer::Unreachable)
            .expect("1101", Answer::fixture("1101_response.json"))
            .expect("2101", Answer::fixture("2101_response.json"))
            .expect("2102", Answer::fixture("2102_response.json")),
    );
    let sale = rig.card_sale("prefer_online").await;
    let e = rig.engine.presettle(&sale.id).await.unwrap_err();
    assert!(
        matches!(
            e,
            crate::settle::SaleError::Offline {
                can_store: true,
                ..
            }
        ),
        "{e:?}"
    );
    let sale = rig.confirm(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Queued);
    assert_eq!(
        sale.collected,
        Some(Fen(12_850)),
        "the full amount by default"
    );
    rig.engine.forward_pass().await.unwrap();
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Settled);
    assert_eq!(after.refund_due(), Some(Fen(11_030)));
    rig.finish();
}

#[tokio::test]
async fn require_online_sale_is_never_stored() {
    let rig = Rig::new(platform());
    let sale = rig.card_sale("require_online").await;
    let e = rig.confirm(&sale.id).await.unwrap_err();
    assert!(
        matches!(e, crate::settle::SaleError::OnlineRequired),
        "{e:?}"
    );
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Captured);
    assert!(rig.finish().is_empty());
}

#[tokio::test]
async fn a_requeued_rejected_sale_is_settled_by_the_forwarder() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::refused("暂停结算"))
            // The person is known from the first attempt: no second 1101.
            .expect("2101", Answer::fixture("2101_response.json"))
            .expect("2102", Answer::fixture("2102_response.json")),
    );
    let sale = stored_sale(&rig).await;
    rig.engine.forward_pass().await.unwrap();
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Rejected);
    let requeued = rig.engine.requeue(&sale.id).await.unwrap();
    assert_eq!((requeued.state, requeued.tries), (SaleState::Queued, 0));
    rig.engine.forward_pass().await.unwrap();
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Settled);
    let sent = rig.finish();
    assert_ne!(
        msgid(&sent[2]),
        msgid(&sent[4]),
        "a new request after a refusal"
    );
}

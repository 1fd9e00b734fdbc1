//! Cancelling: before settlement nothing is sent; a settled sale is cancelled with 2103
//! (recorded first); a refused 2103 leaves the settlement; a lost 2103 is reversed with 2601
//! and the settlement stands.

use super::*;
use crate::settle::{Confirmation, SaleState};
use crate::upstream::Fen;

/// A settled card sale on `rig` (1101, 2101, 2102 scripted by the caller).
async fn settled(rig: &Rig) -> Sale {
    let sale = rig.card_sale("prefer_online").await;
    rig.engine.presettle(&sale.id).await.unwrap();
    rig.engine
        .confirm(&sale.id, Confirmation::default())
        .await
        .unwrap()
}

fn settle_script() -> ScriptedPlatform {
    presettle_script(platform()).expect("2102", Answer::fixture("2102_response.json"))
}

#[tokio::test]
async fn cancel_before_settlement_abandons_the_sale_without_a_request() {
    let rig = Rig::new(presettle_script(platform()));
    let sale = rig.card_sale("prefer_online").await;
    rig.engine.presettle(&sale.id).await.unwrap();
    let sale = rig.engine.cancel(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Abandoned);
    assert_eq!(rig.finish().len(), 2, "only the presettlement");
}

#[tokio::test]
async fn cancel_of_a_settled_sale_sends_2103_for_its_settlement() {
    let rig = Rig::new(settle_script().expect_with(
        "2103",
        |s| {
            assert!(s.prepared, "2103 is recorded before it leaves");
            let d = &s.input["data"];
            assert_eq!(d["setl_id"], "S110105202611230001");
            assert_eq!(d["mdtrt_id"], "M110105202611230001");
            assert_eq!(d["psn_no"], "11000000000000000000012345");
        },
        Answer::fixture("2103_response.json"),
    ));
    let sale = settled(&rig).await;
    let sale = rig.engine.cancel(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Cancelled);
    let sent = rig.finish();
    assert_eq!(sale.attempt.as_ref().unwrap().msgid, msgid(&sent[3]));
    assert_eq!(sale.attempt.unwrap().infno, "2103");
    assert_eq!(
        sale.settlement.unwrap().cash,
        Some(Fen(1_820)),
        "the original split is kept"
    );
    let audit = rig.store.audit(msgid(&sent[3])).await.unwrap().unwrap();
    assert_eq!(audit.outcome.as_deref(), Some("ok"));
}

#[tokio::test]
async fn refused_2103_leaves_the_sale_settled() {
    let rig = Rig::new(settle_script().expect("2103", Answer::refused("已对账，不能撤销")));
    let sale = settled(&rig).await;
    assert!(rig.engine.cancel(&sale.id).await.is_err());
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Settled);
    assert_eq!(after.settlement, sale.settlement);
    assert_eq!(after.attempt, None);
    assert_eq!(rig.finish().len(), 4, "no 2601 after a refusal");
}

#[tokio::test]
async fn lost_2103_is_reversed_with_2601_and_the_settlement_stands() {
    let rig = Rig::new(settle_script().expect("2103", Answer::Lost).expect_with(
        "2601",
        |s| assert_eq!(s.input["data"]["oinfno"], "2103"),
        Answer::fixture("2601_response.json"),
    ));
    let sale = settled(&rig).await;
    let after = rig.engine.cancel(&sale.id).await.unwrap();
    assert_eq!(after.state, SaleState::Settled);
    assert_eq!(after.settlement, sale.settlement);
    assert_eq!(
        (after.attempt.clone(), after.reversal.clone()),
        (None, None)
    );
    assert!(
        after.reversed_attempts.is_empty(),
        "no settlement was reversed"
    );
    let sent = rig.finish();
    assert_eq!(sent[4].input["data"]["omsgid"], msgid(&sent[3]));
    assert_eq!(
        history(&rig, &sale.id).await[6..],
        ["cancel", "lost", "reverse", "restored"]
    );
}

//! Cancelling: before settlement nothing is sent; a settled sale is cancelled with 2103
//! (recorded first); a refused 2103 leaves the settlement; a lost 2103 is reversed with 2601
//! and the settlement stands.

use super::*;
use crate::settle::SaleState;
use crate::upstream::Fen;

/// A settled card sale on `rig` (1101, 2101, 2102 scripted by the caller).
async fn settled(rig: &Rig) -> Sale {
    let sale = rig.card_sale("prefer_online").await;
    rig.engine.presettle(&sale.id).await.unwrap();
    rig.confirm(&sale.id).await.unwrap()
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
    let sent = rig.finish();
    // No settlement was reversed: the reversed request is the 2103, with the 2601's answer.
    assert_eq!(after.reversed_attempts.len(), 1);
    let reversed = &after.reversed_attempts[0];
    assert_eq!(
        (reversed.infno.as_str(), reversed.msgid.as_str()),
        ("2103", msgid(&sent[3]))
    );
    let proof = reversed.reversed_by.as_ref().expect("the 2601's answer");
    assert_eq!(proof.msgid.as_deref(), Some(msgid(&sent[4])));
    assert_eq!(proof.infcode, Some(0));
    assert_eq!(sent[4].input["data"]["omsgid"], msgid(&sent[3]));
    assert_eq!(
        history(&rig, &sale.id).await[6..],
        ["cancel", "lost", "reverse", "restored"]
    );
}

/// A 5203 answer for the fixture's settlement, `refd_setl_flag` as given.
fn query_answer(refd_setl_flag: &str) -> Answer {
    let mut output = crate::upstream::scripted::fixture("5203_response.json")["output"].clone();
    output["setlinfo"]["refd_setl_flag"] = serde_json::json!(refd_setl_flag);
    Answer::output(output)
}

#[tokio::test]
async fn after_a_cancellation_in_doubt_5203_is_read_before_another_2103() {
    // Refunded after all: the sale is cancelled on the platform's word, no second 2103.
    let rig = Rig::new(
        settle_script()
            .expect("2103", Answer::Lost)
            .expect("2601", Answer::output(serde_json::Value::Null))
            .expect_with(
                "5203",
                |s| {
                    assert!(!s.prepared, "5203 moves no money");
                    assert_eq!(s.input["data"]["setl_id"], "S110105202611230001");
                    assert_eq!(s.input["data"]["psn_no"], "11000000000000000000012345");
                },
                query_answer("1"),
            ),
    );
    let sale = settled(&rig).await;
    let _ = rig.engine.cancel(&sale.id).await;
    assert_eq!(
        rig.engine.get(&sale.id).await.unwrap().state,
        SaleState::Settled,
        "the lost 2103 was reversed: the settlement stands"
    );
    let sale = rig.engine.cancel(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Cancelled);
    let sent = rig.finish();
    let infnos: Vec<&str> = sent.iter().map(|s| s.infno.as_str()).collect();
    assert_eq!(infnos, ["1101", "2101", "2102", "2103", "2601", "5203"]);

    // Still standing: the 2103 is sent afresh under a new msgid.
    let rig = Rig::new(
        settle_script()
            .expect("2103", Answer::Lost)
            .expect("2601", Answer::output(serde_json::Value::Null))
            .expect("5203", query_answer("0"))
            .expect("2103", Answer::fixture("2103_response.json")),
    );
    let sale = settled(&rig).await;
    let _ = rig.engine.cancel(&sale.id).await;
    let sale = rig.engine.cancel(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Cancelled);
    let sent = rig.finish();
    assert_eq!(sent.len(), 7);
    assert_ne!(msgid(&sent[3]), msgid(&sent[6]), "a new msgid");
}

//! The `sale.answer_mismatch` alarm: a settlement whose answer failed an advisory check
//! settles and is listed; an operator's acknowledgement (who, why) is audited in the sale's
//! history, takes the sale off the list and clears the alarm when none is left; the alarm is
//! rebuilt from the store at start.

use super::*;
use crate::settle::settler::ANSWER_MISMATCH;
use crate::settle::{MismatchAck, SaleError, SaleState};

/// A script of `answers.len()` online card sales, each 1101, 2101 and the 2102 answer given
/// ([`MATCHING`]: the plain fixture made to name the person 1101 answered, so every check
/// passes).
fn sales_script(answers: &[&str]) -> ScriptedPlatform {
    answers.iter().fold(platform(), |p, a| {
        let answer = if *a == MATCHING {
            let person = crate::upstream::scripted::fixture("1101_response.json")["output"]
                ["baseinfo"]["psn_no"]
                .clone();
            let mut body = crate::upstream::scripted::fixture(MATCHING);
            body["output"]["setlinfo"]["psn_no"] = person;
            Answer::Body(body)
        } else {
            Answer::fixture(a)
        };
        presettle_script(p).expect("2102", answer)
    })
}

/// An online card sale settled with the next 2102 of the script.
async fn settled_sale(rig: &Rig) -> Sale {
    let sale = rig.card_sale("prefer_online").await;
    rig.engine.presettle(&sale.id).await.unwrap();
    let sale = rig
        .engine
        .confirm(&sale.id, crate::settle::Confirmation::default())
        .await
        .unwrap();
    assert_eq!(sale.state, SaleState::Settled);
    sale
}

/// The ids the alarm lists, or `None` when it is not raised.
fn listed(rig: &Rig) -> Option<Vec<String>> {
    rig.alarm(ANSWER_MISMATCH).map(|a| {
        a.details["sales"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    })
}

fn ack(by: &str, note: &str) -> MismatchAck {
    MismatchAck {
        by: Some(by.into()),
        note: Some(note.into()),
    }
}

/// The answer the hospital-share fixture gives is for another person and total: two checks
/// fail (`recovery.rs` shows which).
const MISMATCHED: &str = "2102_response_hosp_part.json";
const MATCHING: &str = "2102_response.json";

#[tokio::test]
async fn an_acknowledgement_is_audited_and_clears_the_alarm_when_none_is_left() {
    let rig = Rig::new(sales_script(&[MISMATCHED, MISMATCHED, MATCHING]));
    let a = settled_sale(&rig).await;
    let b = settled_sale(&rig).await;
    let fine = settled_sale(&rig).await;
    assert!(!a.settlement.as_ref().unwrap().mismatches.is_empty());
    assert!(fine.settlement.as_ref().unwrap().mismatches.is_empty());
    assert_eq!(listed(&rig), Some(vec![a.id.clone(), b.id.clone()]));

    // A sale whose answer passed every check has nothing to acknowledge: refused, unchanged.
    let before = history(&rig, &fine.id).await;
    let refused = rig
        .engine
        .acknowledge_mismatch(&fine.id, ack("op1", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, SaleError::WrongState { .. }),
        "{refused:?}"
    );
    assert_eq!(history(&rig, &fine.id).await, before);
    // Bad input changes nothing either.
    let long = MismatchAck {
        by: None,
        note: Some("x".repeat(201)),
    };
    let bad = rig
        .engine
        .acknowledge_mismatch(&a.id, long)
        .await
        .unwrap_err();
    assert!(matches!(bad, SaleError::BadRequest(_)), "{bad:?}");
    assert_eq!(listed(&rig).unwrap().len(), 2);

    // The first acknowledgement: recorded with who and why, the sale stays settled and leaves
    // the list; the alarm stays for the other.
    let acked = rig
        .engine
        .acknowledge_mismatch(&a.id, ack("王药师", "医保科核对无误 #4711"))
        .await
        .unwrap();
    assert_eq!(acked.state, SaleState::Settled);
    let got = acked.settlement.as_ref().unwrap();
    let record = got.mismatches_acknowledged.as_ref().unwrap();
    assert_eq!(
        (record.by.as_deref(), record.note.as_deref()),
        (Some("王药师"), Some("医保科核对无误 #4711"))
    );
    assert_eq!(stored(&rig, &a.id).await, acked, "persisted");
    let events = rig.store.sale_events(&a.id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (
            last.event.as_str(),
            last.from_state.as_deref(),
            last.to_state.as_str()
        ),
        ("ack_mismatch", Some("settled"), "settled")
    );
    let detail: serde_json::Value = serde_json::from_str(&last.detail).unwrap();
    assert_eq!(detail["by"], "王药师");
    assert_eq!(detail["note"], "医保科核对无误 #4711");
    assert_eq!(detail["mismatches"][0]["check"], "psn_no");
    assert_eq!(listed(&rig), Some(vec![b.id.clone()]));

    // A repeat answers the same, with no second history row.
    let n = events.len();
    let again = rig
        .engine
        .acknowledge_mismatch(&a.id, ack("someone else", "again"))
        .await
        .unwrap();
    assert_eq!(again, acked);
    assert_eq!(rig.store.sale_events(&a.id).await.unwrap().len(), n);

    // The last one: the alarm clears.
    rig.engine
        .acknowledge_mismatch(&b.id, MismatchAck::default())
        .await
        .unwrap();
    assert_eq!(listed(&rig), None, "no unacknowledged mismatch left");
    let sent = rig.finish();
    assert_eq!(sent.len(), 9, "three sales, nothing for an acknowledgement");
}

#[tokio::test]
async fn the_alarm_is_rebuilt_from_the_store_at_start() {
    let rig = Rig::new(sales_script(&[MISMATCHED, MISMATCHED]));
    let a = settled_sale(&rig).await;
    let b = settled_sale(&rig).await;
    rig.engine
        .acknowledge_mismatch(&a.id, ack("op1", "checked"))
        .await
        .unwrap();
    // A restart: a fresh status board, then the start-up pass.
    let rig = rig.restart(platform());
    assert_eq!(
        listed(&rig),
        None,
        "nothing raised before the start-up pass"
    );
    assert_eq!(rig.engine.recover().await.unwrap(), 0);
    assert_eq!(
        listed(&rig),
        Some(vec![b.id.clone()]),
        "only the unacknowledged sale"
    );
    rig.engine
        .acknowledge_mismatch(&b.id, ack("op1", "checked"))
        .await
        .unwrap();
    assert_eq!(listed(&rig), None);
    let rig = rig.restart(platform());
    rig.engine.recover().await.unwrap();
    assert_eq!(listed(&rig), None, "acknowledged ones stay acknowledged");
    assert!(rig.finish().is_empty(), "nothing is sent");
}

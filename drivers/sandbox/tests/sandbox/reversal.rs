//! 2601 冲正 of 2102, 2103, 2207; of a msgid never seen; twice.

use medsettle_sandbox::SettlementStatus;
use serde_json::json;

use crate::outpatient::{presettled_2207, visit_with_fees};
use crate::support::*;

fn reversal(omsgid: &str, oinfno: &str) -> serde_json::Value {
    json!({"data": {"psn_no": ZHANG.psn_no, "omsgid": omsgid, "oinfno": oinfno}})
}

#[tokio::test]
async fn reversing_a_2102_puts_the_money_back_once() {
    let mut c = Client::signed_in().await;
    let env = c.env_for(
        "2102",
        &ZHANG,
        pharmacy(&ZHANG, &[("X1", "300.00")], "1", "B1"),
    );
    settled(&c.send(&env).await);
    assert_eq!(c.sb.ledger().balance(ZHANG.psn_no), Some(fen("1340.00")));
    let out = c
        .call_for("2601", &ZHANG, reversal(&env.msgid, "2102"))
        .await;
    ok(&out);
    assert_eq!(out["output"], json!({}));
    let ledger = c.sb.ledger();
    assert_eq!(ledger.balance(ZHANG.psn_no), Some(fen("1500.00")));
    assert_eq!(
        ledger.by_msgid(&env.msgid).unwrap().status,
        SettlementStatus::Reversed
    );
    assert_eq!(ledger.effective().count(), 0);
    // Twice: success, nothing more.
    ok(&c
        .call_for("2601", &ZHANG, reversal(&env.msgid, "2102"))
        .await);
    assert_eq!(c.sb.ledger().balance(ZHANG.psn_no), Some(fen("1500.00")));
    // The sale may now be settled afresh with a new msgid.
    settled(
        &c.call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "300.00")], "1", "B1"),
        )
        .await,
    );
    assert_eq!(c.sb.ledger().effective().count(), 1);
}

#[tokio::test]
async fn reversing_a_2103_makes_the_settlement_effective_again() {
    let mut c = Client::signed_in().await;
    let s = settled(
        &c.call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "300.00")], "1", "B1"),
        )
        .await,
    );
    let setl_id = s.setlinfo.setl_id.clone().unwrap();
    let cancel = c.env_for(
        "2103",
        &ZHANG,
        json!({"data": {"setl_id": setl_id, "mdtrt_id": s.setlinfo.mdtrt_id, "psn_no": ZHANG.psn_no}}),
    );
    settled(&c.send(&cancel).await);
    assert_eq!(c.sb.ledger().balance(ZHANG.psn_no), Some(fen("1500.00")));
    refused(
        &c.call_for("2601", &ZHANG, reversal(&cancel.msgid, "2102"))
            .await,
        "原交易编号不符",
    );
    ok(&c
        .call_for("2601", &ZHANG, reversal(&cancel.msgid, "2103"))
        .await);
    let ledger = c.sb.ledger();
    assert_eq!(
        ledger.by_setl_id(&setl_id).unwrap().status,
        SettlementStatus::Effective
    );
    assert_eq!(ledger.balance(ZHANG.psn_no), Some(fen("1340.00")));
}

#[tokio::test]
async fn reversing_a_2207() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "150.00")], "C1").await;
    let env = presettled_2207(&mut c, &mdtrt_id, "C1", "150.00").await;
    settled(&c.send(&env).await);
    assert_eq!(c.sb.ledger().balance(ZHANG.psn_no), Some(fen("1385.00")));
    ok(&c
        .call_for("2601", &ZHANG, reversal(&env.msgid, "2207"))
        .await);
    let ledger = c.sb.ledger();
    assert_eq!(ledger.balance(ZHANG.psn_no), Some(fen("1500.00")));
    assert_eq!(
        ledger.by_msgid(&env.msgid).unwrap().status,
        SettlementStatus::Reversed
    );
}

#[tokio::test]
async fn a_msgid_reversed_before_it_arrived_is_refused_later() {
    let mut c = Client::signed_in().await;
    let env = c.env_for(
        "2102",
        &ZHANG,
        pharmacy(&ZHANG, &[("X1", "300.00")], "1", "B1"),
    );
    ok(&c
        .call_for("2601", &ZHANG, reversal(&env.msgid, "2102"))
        .await);
    refused(&c.send(&env).await, "原交易已冲正");
    let ledger = c.sb.ledger();
    assert!(ledger.settlements.is_empty());
    assert_eq!(ledger.reversed_msgids, std::slice::from_ref(&env.msgid));
    assert_eq!(ledger.balance(ZHANG.psn_no), Some(fen("1500.00")));
}

#[tokio::test]
async fn only_money_moving_transactions_are_reversible() {
    let mut c = Client::signed_in().await;
    let env = c.env(
        "1101",
        json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": ZHANG.certno}}),
    );
    refused(
        &c.call_for("2601", &ZHANG, reversal(&env.msgid, "1101"))
            .await,
        "原交易不可冲正",
    );
}

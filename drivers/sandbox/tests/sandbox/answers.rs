//! The public answer shapes (hospital share, co-payment, cancellation names), the
//! `settle_other_amount` fault, 5203 and a refused 2601.

use medsettle_nhsa::money::Fen;
use medsettle_nhsa::tx::settle::Settlement;
use medsettle_sandbox::SettlementStatus;
use medsettle_sandbox::fault::{Fault, FaultRule};
use medsettle_sandbox::shapes::AnswerShapes;
use serde_json::{Value, json};

use crate::support::*;

fn shapes(public_cancellations: bool) -> AnswerShapes {
    AnswerShapes {
        hosp_part_permille: 250,
        acct_mulaid_permille: 100,
        psn_nos: vec![LI.psn_no.to_owned()],
        public_cancellations,
        ..AnswerShapes::default()
    }
}

fn cancel_input(s: &Settlement, psn_no: &str) -> Value {
    json!({"data": {"setl_id": s.setlinfo.setl_id, "mdtrt_id": s.setlinfo.mdtrt_id,
                    "psn_no": psn_no}})
}

#[tokio::test]
async fn a_hospital_share_lowers_the_cash_for_the_listed_person_only() {
    let mut c = Client::signed_in().await;
    c.sb.set_shapes(shapes(false));
    // LI: no deductible, 80 %; 100.00 by cash: fund 80.00, cash 20.00 of which 5.00 the
    // hospital bears.
    let li = settled(
        &c.call_for("2102", &LI, pharmacy(&LI, &[("X1", "100.00")], "0", "B1"))
            .await,
    );
    let i = &li.setlinfo;
    assert_eq!(i.fund_pay_sumamt, fen("80.00"));
    assert_eq!(i.hosp_part_amt, Some(fen("5.00")));
    assert_eq!(i.psn_cash_pay, Some(fen("15.00")));
    assert_eq!(i.psn_part_amt, Some(fen("15.00")));
    assert_ne!(
        i.fund_pay_sumamt.0 + i.acct_pay.0 + 1_500,
        i.medfee_sumamt.0,
        "the three-term sum misses by the hospital share"
    );
    let ledger = c.sb.ledger();
    let record = ledger.by_setl_id(i.setl_id.as_deref().unwrap()).unwrap();
    assert_eq!(
        (record.psn_cash_pay, record.hosp_part_amt),
        (fen("15.00"), fen("5.00"))
    );
    // With the account: a tenth of the account payment is reported as co-payment.
    let acct = settled(
        &c.call_for("2101", &LI, pharmacy(&LI, &[("X1", "100.00")], "1", "B2"))
            .await,
    );
    assert_eq!(acct.setlinfo.acct_pay, fen("20.00"));
    assert_eq!(acct.setlinfo.acct_mulaid_pay, Some(fen("2.00")));
    // ZHANG is not listed: no share.
    let zhang = settled(
        &c.call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "100.00")], "0", "B3"),
        )
        .await,
    );
    assert_eq!(zhang.setlinfo.hosp_part_amt, Some(Fen(0)));
    // Cancelling gives the share back with the rest.
    let out = c.call_for("2103", &LI, cancel_input(&li, LI.psn_no)).await;
    ok(&out);
    assert_eq!(out["output"]["setlinfo"]["hosp_part_amt"], "-5.00");
    assert_eq!(out["output"]["setlinfo"]["psn_cash_pay"], "-15.00");
}

#[tokio::test]
async fn public_cancellation_shapes_name_the_cash_as_the_transcriptions_do() {
    let mut c = Client::signed_in().await;
    c.sb.set_shapes(shapes(true));
    let s = settled(
        &c.call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "300.00")], "0", "B1"),
        )
        .await,
    );
    let cash = s.setlinfo.psn_cash_pay.unwrap();
    let out = c
        .call_for("2103", &ZHANG, cancel_input(&s, ZHANG.psn_no))
        .await;
    ok(&out);
    let info = &out["output"]["setlinfo"];
    assert!(info.get("psn_cash_pay").is_none() && info.get("psn_part_amt").is_none());
    assert_eq!(info["cash_payamt"], json!(Fen(-cash.0)));
    assert!(info.get("psn_pay").is_some());
    let typed: Settlement = serde_json::from_value(out["output"].clone()).unwrap();
    assert_eq!(typed.cash_refunded(), Some(cash));
    assert_eq!(
        c.sb.ledger()
            .by_setl_id(s.setl_id().unwrap())
            .unwrap()
            .status,
        SettlementStatus::Cancelled
    );
}

#[tokio::test]
async fn settle_other_amount_settles_and_books_the_other_total() {
    let mut c = Client::signed_in().await;
    c.sb.inject(FaultRule::times(
        "2102",
        Fault::SettleOtherAmount { delta_fen: 1_000 },
        1,
    ));
    let out = c
        .call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "300.00")], "0", "B1"),
        )
        .await;
    let s = settled(&out);
    assert_eq!(s.setlinfo.medfee_sumamt, fen("310.00"));
    let ledger = c.sb.ledger();
    let record = ledger.by_setl_id(s.setl_id().unwrap()).unwrap();
    assert_eq!(record.medfee_sumamt, fen("310.00"));
    assert_eq!(ledger.effective().count(), 1);
    // Once only; a 2101 is never affected.
    let next = settled(
        &c.call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "300.00")], "0", "B2"),
        )
        .await,
    );
    assert_eq!(next.setlinfo.medfee_sumamt, fen("300.00"));
}

#[tokio::test]
async fn a_2601_refused_as_not_found_undoes_nothing() {
    let mut c = Client::signed_in().await;
    let env = c.env_for(
        "2102",
        &ZHANG,
        pharmacy(&ZHANG, &[("X1", "300.00")], "0", "B1"),
    );
    settled(&c.send(&env).await);
    c.sb.inject(FaultRule::times(
        "2601",
        Fault::BusinessError {
            message: "原交易不存在".into(),
        },
        1,
    ));
    let reversal = json!({"data": {"psn_no": ZHANG.psn_no, "omsgid": env.msgid, "oinfno": "2102"}});
    refused(
        &c.call_for("2601", &ZHANG, reversal.clone()).await,
        "原交易不存在",
    );
    let ledger = c.sb.ledger();
    assert_eq!(ledger.effective().count(), 1);
    assert!(ledger.reversed_msgids.is_empty());
    assert_eq!(ledger.request_count("2601"), 1);
    // The rule is used up: the next 2601 reverses.
    ok(&c.call_for("2601", &ZHANG, reversal).await);
    assert_eq!(c.sb.ledger().effective().count(), 0);
}

#[tokio::test]
async fn settlement_query_is_strict_and_reports_a_refund() {
    let mut c = Client::signed_in().await;
    c.sb.set_shapes(shapes(false));
    let env = c.env_for("2102", &LI, pharmacy(&LI, &[("X1", "100.00")], "0", "B1"));
    let s = settled(&c.send(&env).await);
    let setl_id = s.setl_id().unwrap().to_owned();
    let query = |setl_id: &str, psn_no: &str| json!({"data": {"psn_no": psn_no, "setl_id": setl_id, "mdtrt_id": s.setlinfo.mdtrt_id}});
    let out = c.call_for("5203", &LI, query(&setl_id, LI.psn_no)).await;
    ok(&out);
    let info = &out["output"]["setlinfo"];
    assert_eq!(info["refd_setl_flag"], "0");
    assert_eq!(info["medins_setl_id"], json!(env.msgid));
    assert_eq!(info["cash_payamt"], "15.00");
    assert_eq!(info["psn_pay"], "15.00");
    assert_eq!(info["hosp_part_amt"], "5.00");
    assert!(info.get("psn_cash_pay").is_none());
    // Strict: setl_id and psn_no are required, an unknown or another person's id is refused.
    refused(
        &c.call_for("5203", &LI, json!({"data": {"psn_no": LI.psn_no}}))
            .await,
        "入参缺少字段 setl_id",
    );
    refused(
        &c.call_for("5203", &LI, json!({"data": {"setl_id": setl_id}}))
            .await,
        "入参缺少字段 psn_no",
    );
    refused(
        &c.call_for("5203", &LI, query("S-unknown", LI.psn_no)).await,
        "结算信息不存在",
    );
    refused(
        &c.call_for("5203", &ZHANG, query(&setl_id, ZHANG.psn_no))
            .await,
        "结算信息不存在",
    );
    // A msgid is not a setl_id.
    refused(
        &c.call_for("5203", &LI, query(&env.msgid, LI.psn_no)).await,
        "结算信息不存在",
    );
    // Cancelled: refd_setl_flag 1.
    ok(&c.call_for("2103", &LI, cancel_input(&s, LI.psn_no)).await);
    let out = c.call_for("5203", &LI, query(&setl_id, LI.psn_no)).await;
    ok(&out);
    assert_eq!(out["output"]["setlinfo"]["refd_setl_flag"], "1");
}

#[tokio::test]
async fn pharmacy_node_names_follow_the_configuration() {
    let mut c = Client::signed_in().await;
    // Unconfigured: druginfo + drugdetail (the contract's default) as well as data + feedetail.
    let bill = pharmacy(&ZHANG, &[("X1", "10.00")], "0", "B1");
    let drug = json!({"druginfo": bill["data"], "drugdetail": bill["feedetail"]});
    settled(&c.call_for("2101", &ZHANG, drug.clone()).await);
    settled(&c.call_for("2101", &ZHANG, bill.clone()).await);
    // Configured: only that pair.
    let mut strict = Client::with(medsettle_sandbox::SandboxConfig {
        pharmacy_nodes: Some(("druginfo".into(), "drugdetail".into())),
        ..Default::default()
    })
    .await;
    strict.sign_in().await;
    settled(&strict.call_for("2101", &ZHANG, drug).await);
    refused(
        &strict.call_for("2101", &ZHANG, bill).await,
        "入参缺少节点 input.druginfo",
    );
}

#[tokio::test]
async fn an_invoice_number_over_20_characters_is_refused() {
    let mut c = Client::signed_in().await;
    let mut bill = pharmacy(&ZHANG, &[("X1", "10.00")], "0", "B1");
    bill["data"]["invono"] = json!("INV".to_owned() + &"1".repeat(18));
    refused(
        &c.call_for("2102", &ZHANG, bill.clone()).await,
        "发票号长度超过20位",
    );
    assert!(c.sb.ledger().settlements.is_empty());
    bill["data"]["invono"] = json!("1".repeat(20));
    settled(&c.call_for("2102", &ZHANG, bill).await);
}

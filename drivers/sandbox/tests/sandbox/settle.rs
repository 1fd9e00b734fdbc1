//! 2101/2102/2103: the split, its invariants, commitment, consent (no password in cainfo), idempotency.

use medsettle_nhsa::money::Fen;
use medsettle_nhsa::signing::RequestSigner;
use medsettle_nhsa::signing::SignType;
use medsettle_sandbox::SettlementStatus;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn presettlement_has_no_effect_and_settlement_commits() {
    let mut c = Client::signed_in().await;
    let bill = pharmacy(&ZHANG, &[("X001", "200.00"), ("Z001", "50.00")], "1", "B1");
    let before = c.sb.ledger();
    let pre = settled(&c.call_for("2101", &ZHANG, bill.clone()).await);
    let s = &pre.setlinfo;
    // 50 self-pay, 100 deductible, 70% of the other 100 by the pool, the rest from the account.
    assert_eq!(s.medfee_sumamt, fen("250.00"));
    assert_eq!(s.fund_pay_sumamt, fen("70.00"));
    assert_eq!(s.acct_pay, fen("180.00"));
    assert_eq!(s.psn_cash_pay, Some(Fen(0)));
    assert_eq!(s.balc, Some(fen("1320.00")));
    assert_eq!(pre.setldetail[0].fund_pay_type.as_deref(), Some("310100"));
    let after_pre = c.sb.ledger();
    assert_eq!(after_pre.settlements, before.settlements);
    assert_eq!(after_pre.accounts, before.accounts);

    let done = settled(&c.call_for("2102", &ZHANG, bill).await);
    assert_eq!(done.setlinfo.acct_pay, fen("180.00"));
    let ledger = c.sb.ledger();
    assert_eq!(ledger.effective().count(), 1);
    let account = ledger.account(ZHANG.psn_no).unwrap();
    assert_eq!(account.balc, fen("1320.00"));
    assert_eq!(account.deductible_remaining, Fen(0));
    assert_eq!(account.cap_remaining, fen("4930.00"));
    assert_eq!(ledger.request_count("2102"), 1);

    // The deductible is gone: 70% of everything now.
    let next = settled(
        &c.call_for(
            "2101",
            &ZHANG,
            pharmacy(&ZHANG, &[("X002", "100.00")], "0", "B2"),
        )
        .await,
    );
    assert_eq!(next.setlinfo.fund_pay_sumamt, fen("70.00"));
    assert_eq!(next.setlinfo.acct_pay, Fen(0));
    assert_eq!(next.setlinfo.psn_cash_pay, Some(fen("30.00")));
}

#[tokio::test]
async fn the_cap_limits_the_fund_and_the_account_flag_chooses_account_or_cash() {
    let mut c = Client::signed_in().await;
    let big = |flag| pharmacy(&LI, &[("X001", "5000.00")], flag, "B1");
    let cash = settled(&c.call_for("2101", &LI, big("0")).await);
    assert_eq!(cash.setlinfo.fund_pay_sumamt, fen("3000.00"));
    assert_eq!(cash.setlinfo.acct_pay, Fen(0));
    assert_eq!(cash.setlinfo.psn_cash_pay, Some(fen("2000.00")));
    let acct = settled(&c.call_for("2102", &LI, big("1")).await);
    assert_eq!(acct.setlinfo.acct_pay, fen("800.00"));
    assert_eq!(acct.setlinfo.psn_cash_pay, Some(fen("1200.00")));
    assert_eq!(acct.setlinfo.balc, Some(Fen(0)));
    // Cap used up: nothing more from the pool.
    let after = settled(
        &c.call_for("2101", &LI, pharmacy(&LI, &[("X002", "10.00")], "1", "B2"))
            .await,
    );
    assert_eq!(after.setlinfo.fund_pay_sumamt, Fen(0));
    assert_eq!(after.setlinfo.psn_cash_pay, Some(fen("10.00")));
}

#[tokio::test]
async fn zero_balance_resident_assistance_and_suspended_persons() {
    let mut c = Client::signed_in().await;
    let zero = settled(
        &c.call_for(
            "2102",
            &ZHAO_ZERO,
            pharmacy(&ZHAO_ZERO, &[("X1", "10.00")], "1", "B1"),
        )
        .await,
    );
    assert_eq!(zero.setlinfo.acct_pay, Fen(0));
    assert_eq!(zero.setlinfo.psn_cash_pay, Some(fen("3.00")));

    let resident = settled(
        &c.call_for(
            "2102",
            &SUN_RESIDENT,
            pharmacy(&SUN_RESIDENT, &[("X1", "150.00")], "1", "B1"),
        )
        .await,
    );
    assert_eq!(resident.setlinfo.insutype.as_deref(), Some("390"));
    assert_eq!(resident.setlinfo.fund_pay_sumamt, fen("75.00"));
    let types: Vec<_> = resident
        .setldetail
        .iter()
        .map(|d| (d.fund_pay_type.clone().unwrap(), d.fund_payamt))
        .collect();
    assert_eq!(
        types,
        [
            ("310100".to_owned(), fen("50.00")),
            ("610100".to_owned(), fen("25.00"))
        ]
    );

    let suspended = c
        .call_for(
            "2101",
            &WANG_SUSPENDED,
            pharmacy(&WANG_SUSPENDED, &[("X1", "10.00")], "1", "B1"),
        )
        .await;
    refused(&suspended, "参保状态异常");
}

#[tokio::test]
async fn detail_sum_must_match_and_all_self_pay_items_get_no_fund() {
    let mut c = Client::signed_in().await;
    let mut bill = pharmacy(&ZHANG, &[("X1", "10.00")], "1", "B1");
    bill["data"]["medfee_sumamt"] = json!("10.01");
    refused(
        &c.call_for("2101", &ZHANG, bill).await,
        "医疗费总额与明细不符",
    );
    let z = settled(
        &c.call_for(
            "2101",
            &ZHANG,
            pharmacy(&ZHANG, &[("Z1", "300.00")], "0", "B1"),
        )
        .await,
    );
    assert_eq!(z.setlinfo.fund_pay_sumamt, Fen(0));
    assert_eq!(z.setlinfo.psn_cash_pay, Some(fen("300.00")));
}

/// upstream.md "Patient consent": a password in `cainfo` is a provincial practice, configured;
/// this platform has none, so a signed 2102 with no password material settles (the card
/// verified the PIN on the terminal), under SM3 as under MOCK.
#[tokio::test]
async fn settlement_needs_no_password_in_cainfo() {
    let mut c = Client::signed_in().await;
    let sm3 = RequestSigner::new(SignType::Sm3, None).unwrap();
    let bill = |b| pharmacy(&ZHANG, &[("X1", "10.00")], "1", b);
    let signed = c.env_for("2102", &ZHANG, bill("B1")).signed(&sm3);
    assert_eq!(signed.cainfo.pwd, None);
    settled(&c.send(&signed).await);
    let mock = c.env_for("2102", &ZHANG, bill("B2"));
    settled(&c.send(&mock).await);
    assert_eq!(c.sb.ledger().effective().count(), 2);
}

#[tokio::test]
async fn a_repeated_msgid_gets_the_original_answer_and_no_second_effect() {
    let mut c = Client::signed_in().await;
    let env = c.env_for(
        "2102",
        &ZHANG,
        pharmacy(&ZHANG, &[("X1", "10.00")], "1", "B1"),
    );
    let first = c.post_text(&env.json()).await;
    let again = c.post_text(&env.json()).await;
    assert_eq!(first, again);
    // The same msgid on a different request is a client bug (a reused msgid), refused.
    let mut other_body = env.clone();
    other_body.input = pharmacy(&ZHANG, &[("X1", "99.00")], "1", "B9");
    let reused = c.send(&other_body).await;
    refused(&reused, "报文ID重复");
    assert!(
        reused["err_msg"].as_str().unwrap().contains(&env.msgid),
        "{reused}"
    );
    // ... and it does not take the msgid away from its request: a retry still gets the answer.
    assert_eq!(c.post_text(&env.json()).await, first);
    let ledger = c.sb.ledger();
    assert_eq!(ledger.settlements.len(), 1);
    assert_eq!(ledger.balance(ZHANG.psn_no), Some(fen("1490.00")));
    assert_eq!(ledger.request_count("2102"), 4);
    // The snapshot names the reused msgid once, for the refused request only.
    assert_eq!(ledger.reused_msgids, std::slice::from_ref(&env.msgid));
    // A second settlement of the same sale (new msgid, same batch) is refused.
    let dup = c
        .call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "10.00")], "1", "B1"),
        )
        .await;
    refused(&dup, "收费批次已结算");
}

#[tokio::test]
async fn cancel_2103_restores_the_balance_once() {
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
    let cancel = json!({"data": {"setl_id": setl_id, "mdtrt_id": s.setlinfo.mdtrt_id, "psn_no": ZHANG.psn_no}});
    let undone = settled(&c.call_for("2103", &ZHANG, cancel.clone()).await);
    assert_eq!(undone.setlinfo.medfee_sumamt, fen("-300.00"));
    assert_eq!(undone.setlinfo.acct_pay, Fen(-s.setlinfo.acct_pay.0));
    assert_eq!(undone.setlinfo.balc, Some(fen("1500.00")));
    let ledger = c.sb.ledger();
    assert_eq!(ledger.balance(ZHANG.psn_no), Some(fen("1500.00")));
    assert_eq!(
        ledger.account(ZHANG.psn_no).unwrap().deductible_remaining,
        fen("100.00")
    );
    assert_eq!(
        ledger.by_setl_id(&setl_id).unwrap().status,
        SettlementStatus::Cancelled
    );
    refused(
        &c.call_for("2103", &ZHANG, cancel).await,
        "结算已撤销或已冲正",
    );
    let unknown = json!({"data": {"setl_id": "S0", "mdtrt_id": "", "psn_no": ZHANG.psn_no}});
    refused(&c.call_for("2103", &ZHANG, unknown).await, "结算信息不存在");
}

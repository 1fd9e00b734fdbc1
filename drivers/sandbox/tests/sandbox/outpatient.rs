//! 2201 → 2204 → 2206 → 2207 → 2208, and 3201 over the day.

use medsettle_nhsa::money::Fen;
use medsettle_sandbox::SettlementStatus;
use serde_json::{Value, json};

use crate::support::*;

/// Registers ZHANG and uploads `items` in batch `bchno`; returns `mdtrt_id`.
pub async fn visit_with_fees(c: &mut Client, items: &[(&str, &str)], bchno: &str) -> String {
    let reg = c
        .call_for(
            "2201",
            &ZHANG,
            json!({"data": {"psn_no": ZHANG.psn_no, "insutype": "310", "begntime": "2026-11-23 10:00:00",
                "mdtrt_cert_type": "02", "mdtrt_cert_no": ZHANG.certno, "ipt_otp_no": "OP001",
                "atddr_no": "D01", "dr_name": "王医生", "dept_code": "A03", "dept_name": "内科", "caty": "A03"}}),
        )
        .await;
    ok(&reg);
    let mdtrt_id = reg["output"]["data"]["mdtrt_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(reg["output"]["data"]["ipt_otp_no"], "OP001");
    let fees: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, (code, amt))| {
            json!({"feedetl_sn": format!("{bchno}-{i}"), "mdtrt_id": mdtrt_id, "psn_no": ZHANG.psn_no,
                "chrg_bchno": bchno, "fee_ocur_time": "2026-11-23 10:05:00", "med_list_codg": code,
                "medins_list_codg": code, "det_item_fee_sumamt": amt, "cnt": 1, "pric": amt})
        })
        .collect();
    let up = c.call_for("2204", &ZHANG, json!({"feedetail": fees})).await;
    ok(&up);
    assert_eq!(
        up["output"]["result"].as_array().unwrap().len(),
        items.len()
    );
    mdtrt_id
}

pub fn outpatient_data(mdtrt_id: &str, bchno: &str, medfee: &str) -> Value {
    json!({"data": {"psn_no": ZHANG.psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": ZHANG.certno,
        "med_type": "11", "medfee_sumamt": medfee, "psn_setlway": "01", "mdtrt_id": mdtrt_id,
        "chrg_bchno": bchno, "acct_used_flag": "1", "insutype": "310", "invono": "INV-9"}})
}

#[tokio::test]
async fn the_outpatient_flow_settles_and_cancels() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "120.00"), ("Z9", "30.00")], "C1").await;
    let results = c.sb.ledger();
    assert!(results.settlements.is_empty());

    refused(
        &c.call_for("2206", &ZHANG, outpatient_data(&mdtrt_id, "C1", "100.00"))
            .await,
        "医疗费总额与明细不符",
    );
    refused(
        &c.call_for("2206", &ZHANG, outpatient_data("M0", "C1", "150.00"))
            .await,
        "就诊信息不存在",
    );
    let pre = settled(
        &c.call_for("2206", &ZHANG, outpatient_data(&mdtrt_id, "C1", "150.00"))
            .await,
    );
    // 30 self-pay, 100 deductible, 70% of 20.
    assert_eq!(pre.setlinfo.fund_pay_sumamt, fen("14.00"));
    assert!(c.sb.ledger().settlements.is_empty());

    let done = settled(
        &c.call_for("2207", &ZHANG, outpatient_data(&mdtrt_id, "C1", "150.00"))
            .await,
    );
    let (a, b) = (&done.setlinfo, &pre.setlinfo);
    assert_eq!(
        (
            a.medfee_sumamt,
            a.fund_pay_sumamt,
            a.acct_pay,
            a.psn_cash_pay,
            a.balc
        ),
        (
            b.medfee_sumamt,
            b.fund_pay_sumamt,
            b.acct_pay,
            b.psn_cash_pay,
            b.balc
        )
    );
    assert_eq!(c.sb.ledger().balance(ZHANG.psn_no), Some(fen("1364.00")));

    let setl_id = done.setlinfo.setl_id.clone().unwrap();
    let cancel =
        json!({"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": ZHANG.psn_no}});
    refused(
        &c.call_for("2103", &ZHANG, cancel.clone()).await,
        "结算信息不符",
    );
    let undone = settled(&c.call_for("2208", &ZHANG, cancel).await);
    assert_eq!(undone.setlinfo.fund_pay_sumamt, fen("-14.00"));
    let ledger = c.sb.ledger();
    assert_eq!(ledger.balance(ZHANG.psn_no), Some(fen("1500.00")));
    assert_eq!(
        ledger.by_setl_id(&setl_id).unwrap().status,
        SettlementStatus::Cancelled
    );
}

#[tokio::test]
async fn fees_for_an_unknown_visit_are_refused() {
    let mut c = Client::signed_in().await;
    let fee = json!({"feedetail": [{"feedetl_sn": "1", "mdtrt_id": "M404", "psn_no": ZHANG.psn_no,
        "chrg_bchno": "C1", "fee_ocur_time": "2026-11-23 10:05:00", "med_list_codg": "X",
        "medins_list_codg": "X", "det_item_fee_sumamt": "1.00", "cnt": 1, "pric": "1.00"}]});
    refused(&c.call_for("2204", &ZHANG, fee).await, "就诊信息不存在");
}

#[tokio::test]
async fn reconciliation_counts_effective_settlements_of_the_day() {
    let mut c = Client::signed_in().await;
    settled(
        &c.call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "200.00")], "1", "B1"),
        )
        .await,
    );
    let second = settled(
        &c.call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "50.00")], "0", "B2"),
        )
        .await,
    );
    // A cancelled one does not count.
    let third = settled(
        &c.call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "9.00")], "0", "B3"),
        )
        .await,
    );
    let cancel = json!({"data": {"setl_id": third.setlinfo.setl_id, "mdtrt_id": "", "psn_no": ZHANG.psn_no}});
    ok(&c.call_for("2103", &ZHANG, cancel).await);

    // 200: 100 deductible + 70 pool → account 130; 50: pool 35, cash 15.
    assert_eq!(second.setlinfo.fund_pay_sumamt, fen("35.00"));
    let statement = |medfee: &str, fund: &str, acct: &str, cnt: u32| {
        json!({"data": {"insutype": "310", "clr_type": "41", "setl_optins": "110105",
            "stmt_begndate": "2026-11-23", "stmt_enddate": "2026-11-23", "medfee_sumamt": medfee,
            "fund_pay_sumamt": fund, "acct_pay": acct, "fixmedins_setl_cnt": cnt}})
    };
    let good = c
        .call("3201", statement("250.00", "105.00", "130.00", 2))
        .await;
    ok(&good);
    assert_eq!(good["output"]["stmtinfo"]["stmt_rslt"], "0");
    let bad = c
        .call("3201", statement("259.00", "105.00", "130.00", 3))
        .await;
    ok(&bad);
    assert_eq!(bad["output"]["stmtinfo"]["stmt_rslt"], "1");
    let dscr = bad["output"]["stmtinfo"]["stmt_rslt_dscr"]
        .as_str()
        .unwrap();
    assert!(
        dscr.contains("250.00") && dscr.contains("setl_cnt 2"),
        "{dscr}"
    );
    let other_day = json!({"data": {"insutype": "310", "clr_type": "41", "setl_optins": "110105",
        "stmt_begndate": "2026-11-24", "stmt_enddate": "2026-11-24", "medfee_sumamt": "0.00",
        "fund_pay_sumamt": "0.00", "acct_pay": Fen(0), "fixmedins_setl_cnt": "0"}});
    let empty = c.call("3201", other_day).await;
    assert_eq!(empty["output"]["stmtinfo"]["stmt_rslt"], "0");
}

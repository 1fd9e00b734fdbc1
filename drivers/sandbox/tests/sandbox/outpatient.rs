//! The outpatient flow of outpatient.md end to end — 2201 → 2203A → 2204 → 2206 → 2207 →
//! 2208 → 2205 → 2202 — with what the platform holds after each step, 2601 of 2207 and of
//! 2208, 5203 and 3201 of outpatient settlements. The helpers build contract-complete
//! requests for the other outpatient test modules.

use medsettle_sandbox::{SettlementStatus, VisitStatus};
use serde_json::{Value, json};

use crate::support::*;

/// A 2201 input for `p` by ID number, every Req field set.
pub fn registration(p: &P, ipt_otp_no: &str) -> Value {
    json!({"data": {"psn_no": p.psn_no, "insutype": p.insutype, "begntime": "2026-11-23 10:00:00",
        "mdtrt_cert_type": "02", "mdtrt_cert_no": p.certno, "ipt_otp_no": ipt_otp_no,
        "atddr_no": "D01", "dr_name": "王医生", "dept_code": "A03", "dept_name": "内科", "caty": "A03"}})
}

/// 2201 for ZHANG; returns `mdtrt_id`.
pub async fn register(c: &mut Client, ipt_otp_no: &str) -> String {
    let reg = c
        .call_for("2201", &ZHANG, registration(&ZHANG, ipt_otp_no))
        .await;
    ok(&reg);
    assert_eq!(reg["output"]["data"]["ipt_otp_no"], ipt_otp_no);
    assert_eq!(reg["output"]["data"]["psn_no"], ZHANG.psn_no);
    reg["output"]["data"]["mdtrt_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// One `diseinfo` row.
pub fn diagnosis(srt: u8) -> Value {
    json!({"diag_type": "1", "diag_srt_no": srt, "diag_code": "J06.900", "diag_name": "急性上呼吸道感染",
        "diag_dept": "内科", "dise_dor_no": "D01", "dise_dor_name": "王医生",
        "diag_time": "2026-11-23 10:01:00", "vali_flag": "1"})
}

/// A 2203/2203A input for ZHANG's visit with one main diagnosis.
pub fn visit_info(mdtrt_id: &str, med_type: &str, dise_codg: &str) -> Value {
    json!({"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": ZHANG.psn_no, "med_type": med_type,
            "begntime": "2026-11-23 10:00:00", "dise_codg": dise_codg, "main_cond_dscr": "咳嗽"},
        "diseinfo": [diagnosis(1)]})
}

/// 2201 + 2203A (`med_type` 11) for ZHANG; returns `mdtrt_id`.
pub async fn open_visit(c: &mut Client, ipt_otp_no: &str) -> String {
    let mdtrt_id = register(c, ipt_otp_no).await;
    let info = c
        .call_for("2203A", &ZHANG, visit_info(&mdtrt_id, "11", ""))
        .await;
    ok(&info);
    assert_eq!(info["output"], json!({}));
    mdtrt_id
}

/// A 2204 line of ZHANG's visit: quantity 1 at `amt`.
pub fn line(mdtrt_id: &str, bchno: &str, sn: &str, code: &str, amt: &str) -> Value {
    json!({"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": ZHANG.psn_no, "chrg_bchno": bchno,
        "rx_circ_flag": "0", "fee_ocur_time": "2026-11-23 10:05:00", "med_list_codg": code,
        "medins_list_codg": format!("L-{code}"), "det_item_fee_sumamt": amt, "cnt": "1", "pric": amt,
        "bilg_dept_codg": "A03", "bilg_dept_name": "内科", "bilg_dr_codg": "D01",
        "bilg_dr_name": "王医生", "hosp_appr_flag": "1"})
}

/// 2204 of `lines`.
pub async fn upload(c: &mut Client, lines: Vec<Value>) -> Value {
    c.call_for("2204", &ZHANG, json!({"feedetail": lines}))
        .await
}

/// Opens a visit and uploads `items` (code, yuan) in batch `bchno`; returns `mdtrt_id`.
pub async fn visit_with_fees(c: &mut Client, items: &[(&str, &str)], bchno: &str) -> String {
    let mdtrt_id = open_visit(c, "OP001").await;
    let lines = items
        .iter()
        .enumerate()
        .map(|(i, (code, amt))| line(&mdtrt_id, bchno, &format!("{bchno}-{i}"), code, amt))
        .collect();
    let up = upload(c, lines).await;
    ok(&up);
    assert_eq!(
        up["output"]["result"].as_array().unwrap().len(),
        items.len()
    );
    mdtrt_id
}

/// A 2206 input for ZHANG.
pub fn outpatient_data(mdtrt_id: &str, bchno: &str, medfee: &str) -> Value {
    json!({"data": {"psn_no": ZHANG.psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": ZHANG.certno,
        "med_type": "11", "medfee_sumamt": medfee, "psn_setlway": "01", "mdtrt_id": mdtrt_id,
        "chrg_bchno": bchno, "acct_used_flag": "1", "insutype": "310"}})
}

/// The 2207 input: the 2206 input plus the four amounts of the 2206 answer and an invoice.
pub fn settle_data(presettle: &Value, answer: &Value) -> Value {
    let mut input = presettle.clone();
    let data = input["data"].as_object_mut().unwrap();
    for key in [
        "fulamt_ownpay_amt",
        "overlmt_selfpay",
        "preselfpay_amt",
        "inscp_scp_amt",
    ] {
        data.insert(key.to_owned(), answer["output"]["setlinfo"][key].clone());
    }
    data.insert("invono".to_owned(), json!("INV-9"));
    input
}

/// 2206 for the batch, then the 2207 request (not sent).
pub async fn presettled_2207(c: &mut Client, mdtrt_id: &str, bchno: &str, medfee: &str) -> Env {
    let input = outpatient_data(mdtrt_id, bchno, medfee);
    let pre = c.call_for("2206", &ZHANG, input.clone()).await;
    ok(&pre);
    assert_eq!(pre["output"]["setlinfo"]["setl_id"], Value::Null, "{pre}");
    c.env_for("2207", &ZHANG, settle_data(&input, &pre))
}

/// 2206 + 2207 of the batch; returns the `setl_id`.
pub async fn settle(c: &mut Client, mdtrt_id: &str, bchno: &str, medfee: &str) -> String {
    let env = presettled_2207(c, mdtrt_id, bchno, medfee).await;
    let s = settled(&c.send(&env).await);
    s.setlinfo.setl_id.unwrap()
}

pub fn cancel_2208(setl_id: &str, mdtrt_id: &str) -> Value {
    json!({"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": ZHANG.psn_no}})
}

pub fn revoke_2205(mdtrt_id: &str, bchno: &str) -> Value {
    json!({"data": {"mdtrt_id": mdtrt_id, "chrg_bchno": bchno, "psn_no": ZHANG.psn_no}})
}

pub fn cancel_2202(mdtrt_id: &str, ipt_otp_no: &str) -> Value {
    json!({"data": {"psn_no": ZHANG.psn_no, "mdtrt_id": mdtrt_id, "ipt_otp_no": ipt_otp_no}})
}

/// Whether each of the visit's lines is settled, in upload order.
pub fn settled_flags(c: &Client, mdtrt_id: &str) -> Vec<bool> {
    let v = c.sb.visits();
    let v = v.iter().find(|v| v.mdtrt_id == mdtrt_id).unwrap();
    v.lines.iter().map(|l| l.settled).collect()
}

#[tokio::test]
async fn the_outpatient_flow_settles_cancels_and_leaves_nothing_behind() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = register(&mut c, "OP001").await;
    let v = &c.sb.visits()[0];
    assert_eq!(
        (v.status, v.info_uploaded, v.fixmedins_code.as_str()),
        (VisitStatus::Open, false, CODE)
    );
    ok(&c
        .call_for("2203A", &ZHANG, visit_info(&mdtrt_id, "11", ""))
        .await);
    let up = upload(
        &mut c,
        vec![
            line(&mdtrt_id, "C1", "1", "X1", "120.00"),
            line(&mdtrt_id, "C1", "2", "Z9", "30.00"),
        ],
    )
    .await;
    ok(&up);
    assert_eq!(up["output"]["result"][1]["fulamt_ownpay_amt"], "30.00");
    let v = &c.sb.visits()[0];
    assert_eq!(
        (v.info_uploaded, v.med_type.as_deref(), v.diagnoses),
        (true, Some("11"), 1)
    );
    assert_eq!(v.lines.len(), 2);
    assert!(c.sb.ledger().settlements.is_empty());

    refused(
        &c.call_for("2206", &ZHANG, outpatient_data(&mdtrt_id, "C1", "100.00"))
            .await,
        "医疗费总额与明细不符",
    );
    let input = outpatient_data(&mdtrt_id, "C1", "150.00");
    let pre_answer = c.call_for("2206", &ZHANG, input.clone()).await;
    ok(&pre_answer);
    assert_eq!(pre_answer["output"]["setlinfo"]["setl_id"], Value::Null);
    // 30 self-pay, 100 deductible, 70% of 20.
    assert_eq!(pre_answer["output"]["setlinfo"]["fund_pay_sumamt"], "14.00");
    assert!(c.sb.ledger().settlements.is_empty());

    let done = settled(
        &c.call_for("2207", &ZHANG, settle_data(&input, &pre_answer))
            .await,
    );
    assert_eq!(done.setlinfo.fund_pay_sumamt, fen("14.00"));
    assert_eq!(c.sb.ledger().balance(ZHANG.psn_no), Some(fen("1364.00")));
    let setl_id = done.setlinfo.setl_id.clone().unwrap();
    assert_eq!(settled_flags(&c, &mdtrt_id), [true, true]);
    let v = &c.sb.visits()[0];
    assert_eq!(v.settlements.len(), 1);
    assert_eq!(v.settlements[0].status, SettlementStatus::Effective);

    // 5203 finds the outpatient settlement.
    let query = json!({"data": {"psn_no": ZHANG.psn_no, "setl_id": setl_id, "mdtrt_id": mdtrt_id}});
    let q = c.call_for("5203", &ZHANG, query.clone()).await;
    ok(&q);
    assert_eq!(
        (
            &q["output"]["setlinfo"]["refd_setl_flag"],
            &q["output"]["setlinfo"]["clr_type"]
        ),
        (&json!("0"), &json!("11"))
    );

    let cancel = cancel_2208(&setl_id, &mdtrt_id);
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
    // The lines stay uploaded, unsettled.
    assert_eq!(settled_flags(&c, &mdtrt_id), [false, false]);
    let q = c.call_for("5203", &ZHANG, query).await;
    assert_eq!(q["output"]["setlinfo"]["refd_setl_flag"], "1");

    ok(&c
        .call_for("2205", &ZHANG, revoke_2205(&mdtrt_id, "C1"))
        .await);
    assert!(settled_flags(&c, &mdtrt_id).is_empty());
    assert_eq!(c.sb.visits_holding().len(), 1, "the visit is still open");
    let out = c
        .call_for("2202", &ZHANG, cancel_2202(&mdtrt_id, "OP001"))
        .await;
    ok(&out);
    assert_eq!(out["output"], json!({}));
    let v = &c.sb.visits()[0];
    assert_eq!(v.status, VisitStatus::Cancelled);
    assert!(c.sb.visits_holding().is_empty());
}

#[tokio::test]
async fn two_batches_of_one_visit_settle_on_their_own() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "10.00")], "C1").await;
    ok(&upload(&mut c, vec![line(&mdtrt_id, "C2", "C2-0", "X2", "20.00")]).await);
    settle(&mut c, &mdtrt_id, "C1", "10.00").await;
    assert_eq!(settled_flags(&c, &mdtrt_id), [true, false]);
    settle(&mut c, &mdtrt_id, "C2", "20.00").await;
    assert_eq!(settled_flags(&c, &mdtrt_id), [true, true]);
    // Another visit of the same person may use the same batch number.
    let other = open_visit(&mut c, "OP002").await;
    ok(&upload(&mut c, vec![line(&other, "C1", "1", "X1", "5.00")]).await);
    settle(&mut c, &other, "C1", "5.00").await;
    assert_eq!(c.sb.ledger().effective().count(), 3);
}

#[tokio::test]
async fn reversing_a_2207_unsettles_its_lines_and_reversing_a_2208_settles_them_again() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "150.00")], "C1").await;
    let env = presettled_2207(&mut c, &mdtrt_id, "C1", "150.00").await;
    settled(&c.send(&env).await);
    assert_eq!(settled_flags(&c, &mdtrt_id), [true]);
    let reversal = |omsgid: &str, oinfno: &str| json!({"data": {"psn_no": ZHANG.psn_no, "omsgid": omsgid, "oinfno": oinfno}});
    ok(&c
        .call_for("2601", &ZHANG, reversal(&env.msgid, "2207"))
        .await);
    assert_eq!(settled_flags(&c, &mdtrt_id), [false]);
    assert_eq!(c.sb.ledger().balance(ZHANG.psn_no), Some(fen("1500.00")));
    // The batch may be settled afresh (after a new 2206).
    let setl_id = settle(&mut c, &mdtrt_id, "C1", "150.00").await;
    assert_eq!(settled_flags(&c, &mdtrt_id), [true]);

    let cancel = c.env_for("2208", &ZHANG, cancel_2208(&setl_id, &mdtrt_id));
    ok(&c.send(&cancel).await);
    assert_eq!(settled_flags(&c, &mdtrt_id), [false]);
    ok(&c
        .call_for("2601", &ZHANG, reversal(&cancel.msgid, "2208"))
        .await);
    assert_eq!(settled_flags(&c, &mdtrt_id), [true]);
    let ledger = c.sb.ledger();
    assert_eq!(
        ledger.by_setl_id(&setl_id).unwrap().status,
        SettlementStatus::Effective
    );
    assert_eq!(ledger.balance(ZHANG.psn_no), Some(fen("1385.00")));
    // Settled again: 2205 and 2202 are refused.
    refused(
        &c.call_for("2205", &ZHANG, revoke_2205(&mdtrt_id, "C1"))
            .await,
        "已结算的费用明细不能撤销，请先撤销结算",
    );
    refused(
        &c.call_for("2202", &ZHANG, cancel_2202(&mdtrt_id, "OP001"))
            .await,
        "已结算，请先撤销结算",
    );
}

#[tokio::test]
async fn reconciliation_counts_an_outpatient_settlement_in_its_own_clearing_group() {
    let mut c = Client::signed_in().await;
    settled(
        &c.call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "200.00")], "1", "B1"),
        )
        .await,
    );
    let statement = |clr_type: &str, medfee: &str, fund: &str, acct: &str, cnt: i64| {
        json!({"data": {"insutype": "310", "clr_type": clr_type, "setl_optins": "110105",
            "stmt_begndate": "2026-11-23", "stmt_enddate": "2026-11-23", "medfee_sumamt": medfee,
            "fund_pay_sumamt": fund, "acct_pay": acct, "fixmedins_setl_cnt": cnt}})
    };
    // 200: 100 deductible + 70 pool → account 130.
    let pharmacy_only = statement("41", "200.00", "70.00", "130.00", 1);
    ok(&c.call("3201", pharmacy_only.clone()).await);

    // A visit's 2207 clears as 门诊 (11): the pharmacy group does not change.
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "10.00")], "C1").await;
    let setl_id = settle(&mut c, &mdtrt_id, "C1", "10.00").await;
    let l = c.sb.ledger();
    let s = l.by_setl_id(&setl_id).unwrap().clone();
    assert_eq!(
        (s.clr_type.as_str(), s.clr_optins.as_str()),
        ("11", "110105")
    );
    let still = c.call("3201", pharmacy_only.clone()).await;
    assert_eq!(still["output"]["stmtinfo"]["stmt_rslt"], "0", "{still}");
    let (medfee, fund, acct) = (
        s.medfee_sumamt.to_string(),
        s.fund_pay_sumamt.to_string(),
        s.acct_pay.to_string(),
    );
    let visit = c
        .call("3201", statement("11", &medfee, &fund, &acct, 1))
        .await;
    assert_eq!(visit["output"]["stmtinfo"]["stmt_rslt"], "0", "{visit}");

    // Cancelled by 2208 the same day: with refunds included (the default) the group nets to
    // zero over two lines; with refd_setl_flag 0 the settlement alone counts.
    ok(&c
        .call_for("2208", &ZHANG, cancel_2208(&setl_id, &mdtrt_id))
        .await);
    let net = c
        .call("3201", statement("11", "0.00", "0.00", "0.00", 2))
        .await;
    assert_eq!(net["output"]["stmtinfo"]["stmt_rslt"], "0", "{net}");
    let mut settlements_only = statement("11", &medfee, &fund, &acct, 1);
    settlements_only["data"]["refd_setl_flag"] = "0".into();
    let only = c.call("3201", settlements_only).await;
    assert_eq!(only["output"]["stmtinfo"]["stmt_rslt"], "0", "{only}");
}

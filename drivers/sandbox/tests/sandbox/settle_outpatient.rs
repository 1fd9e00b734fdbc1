//! 2206/2207/2208 of a visit refuse what outpatient.md says the platform refuses: no visit
//! info, no unsettled lines, another `med_type` or `insutype`, an unknown `psn_setlway`; a
//! 2207 without a 2206 of the same batch and total since the batch last changed, or not
//! echoing that answer's amounts; a batch settled twice; a 2208 naming another visit. Nothing
//! is settled by a refusal. Also `GET /admin/visits`.

use medsettle_sandbox::VisitRecord;
use serde_json::{Value, json};

use crate::outpatient::*;
use crate::support::*;

#[tokio::test]
async fn presettlement_needs_the_visit_info_and_the_batch_lines() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = register(&mut c, "OP1").await;
    refused(
        &c.call_for("2206", &ZHANG, outpatient_data(&mdtrt_id, "C1", "1.00"))
            .await,
        "未上传就诊信息",
    );
    ok(&c
        .call_for("2203", &ZHANG, visit_info(&mdtrt_id, "11", ""))
        .await);
    refused(
        &c.call_for("2206", &ZHANG, outpatient_data(&mdtrt_id, "C1", "1.00"))
            .await,
        "费用明细不存在",
    );
    refused(
        &c.call_for("2206", &ZHANG, outpatient_data("M404", "C1", "1.00"))
            .await,
        "就诊信息不存在",
    );
}

#[tokio::test]
async fn presettlement_checks_its_fields_against_the_visit() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "10.00")], "C1").await;
    let set = |key: &str, value: Value| {
        let mut input = outpatient_data(&mdtrt_id, "C1", "10.00");
        input["data"][key] = value;
        input
    };
    let cases = [
        (set("med_type", json!("13")), "医疗类别与就诊信息不符"),
        (set("insutype", json!("390")), "险种类型与挂号不符"),
        (set("psn_setlway", json!("03")), "字段值无效 psn_setlway"),
        (
            set("acct_used_flag", json!("2")),
            "字段值无效 acct_used_flag",
        ),
        (set("medfee_sumamt", json!("9.99")), "医疗费总额与明细不符"),
        (set("mdtrt_cert_no", json!(LI.certno)), "就诊凭证与人员不符"),
        (set("chrg_bchno", json!("C9")), "费用明细不存在"),
        (set("psn_setlway", json!("")), "入参缺少字段 psn_setlway"),
        (set("insutype", Value::Null), "入参缺少字段 insutype"),
    ];
    let echoed = json!({"output": {"setlinfo": {"fulamt_ownpay_amt": "0.00",
        "overlmt_selfpay": "0.00", "preselfpay_amt": "0.00", "inscp_scp_amt": "10.00"}}});
    for (input, prefix) in cases {
        refused(&c.call_for("2206", &ZHANG, input.clone()).await, prefix);
        let input = settle_data(&input, &echoed);
        refused(&c.call_for("2207", &ZHANG, input).await, prefix);
    }
    // psn_setlway 02 is a valid choice.
    ok(&c
        .call_for("2206", &ZHANG, set("psn_setlway", json!("02")))
        .await);
    assert!(c.sb.ledger().settlements.is_empty());
}

#[tokio::test]
async fn settling_needs_a_presettlement_of_the_same_batch_and_total() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "10.00"), ("Z1", "5.00")], "C1").await;
    let input = outpatient_data(&mdtrt_id, "C1", "15.00");
    let fake_answer = json!({"output": {"setlinfo": {"fulamt_ownpay_amt": "5.00",
        "overlmt_selfpay": "0.00", "preselfpay_amt": "0.00", "inscp_scp_amt": "10.00"}}});
    let out = c
        .call_for("2207", &ZHANG, settle_data(&input, &fake_answer))
        .await;
    refused(&out, "未预结算");
    assert!(
        out["err_msg"]
            .as_str()
            .unwrap()
            .contains("no pre-settlement (2206)")
    );
    let pre = c.call_for("2206", &ZHANG, input.clone()).await;
    ok(&pre);
    assert_eq!(pre["output"]["setlinfo"]["fulamt_ownpay_amt"], "5.00");
    // The batch changes: the 2206 answer no longer stands.
    ok(&upload(&mut c, vec![line(&mdtrt_id, "C1", "9", "X2", "1.00")]).await);
    let bigger = outpatient_data(&mdtrt_id, "C1", "16.00");
    refused(
        &c.call_for("2207", &ZHANG, settle_data(&bigger, &pre)).await,
        "未预结算",
    );
    let pre = c.call_for("2206", &ZHANG, bigger.clone()).await;
    ok(&pre);
    // Each echoed amount must be the answer's, and is required.
    for key in [
        "fulamt_ownpay_amt",
        "overlmt_selfpay",
        "preselfpay_amt",
        "inscp_scp_amt",
    ] {
        let mut wrong = settle_data(&bigger, &pre);
        wrong["data"][key] = json!("0.01");
        refused(
            &c.call_for("2207", &ZHANG, wrong.clone()).await,
            &format!("结算金额与预结算不符 {key}"),
        );
        wrong["data"].as_object_mut().unwrap().remove(key);
        refused(
            &c.call_for("2207", &ZHANG, wrong).await,
            &format!("入参缺少字段 {key}"),
        );
    }
    let mut long = settle_data(&bigger, &pre);
    long["data"]["invono"] = json!("I".repeat(21));
    refused(&c.call_for("2207", &ZHANG, long).await, "字段超长 invono");
    // Another total than the lines' (and the 2206 one).
    let mut other = settle_data(&bigger, &pre);
    other["data"]["medfee_sumamt"] = json!("15.00");
    refused(
        &c.call_for("2207", &ZHANG, other).await,
        "医疗费总额与明细不符",
    );
    assert!(c.sb.ledger().settlements.is_empty());
    assert_eq!(settled_flags(&c, &mdtrt_id), [false, false, false]);
    settled(&c.call_for("2207", &ZHANG, settle_data(&bigger, &pre)).await);
    assert_eq!(settled_flags(&c, &mdtrt_id), [true, true, true]);
}

#[tokio::test]
async fn a_batch_is_settled_once_and_after_2208_needs_a_new_presettlement() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "10.00")], "C1").await;
    let input = outpatient_data(&mdtrt_id, "C1", "10.00");
    let pre = c.call_for("2206", &ZHANG, input.clone()).await;
    let setl_id = settled(&c.call_for("2207", &ZHANG, settle_data(&input, &pre)).await)
        .setlinfo
        .setl_id
        .unwrap();
    for infno in ["2207", "2206"] {
        refused(
            &c.call_for(infno, &ZHANG, settle_data(&input, &pre)).await,
            "收费批次已结算",
        );
    }
    assert_eq!(c.sb.ledger().effective().count(), 1);
    // 2208 must name the settlement's own visit and person.
    let other = open_visit(&mut c, "OP2").await;
    refused(
        &c.call_for("2208", &ZHANG, cancel_2208(&setl_id, &other))
            .await,
        "结算信息不符",
    );
    let mut no_visit = cancel_2208(&setl_id, &mdtrt_id);
    no_visit["data"].as_object_mut().unwrap().remove("mdtrt_id");
    refused(
        &c.call_for("2208", &ZHANG, no_visit).await,
        "入参缺少字段 mdtrt_id",
    );
    let li = json!({"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": LI.psn_no}});
    refused(&c.call_for("2208", &LI, li).await, "结算信息不符");
    refused(
        &c.call_for("2208", &ZHANG, cancel_2208("S404", &mdtrt_id))
            .await,
        "结算信息不存在",
    );
    assert_eq!(settled_flags(&c, &mdtrt_id), [true]);
    ok(&c
        .call_for("2208", &ZHANG, cancel_2208(&setl_id, &mdtrt_id))
        .await);
    refused(
        &c.call_for("2208", &ZHANG, cancel_2208(&setl_id, &mdtrt_id))
            .await,
        "结算已撤销或已冲正",
    );
    assert_eq!(settled_flags(&c, &mdtrt_id), [false]);
    // The old 2206 answer was used: settling again needs a new one.
    refused(
        &c.call_for("2207", &ZHANG, settle_data(&input, &pre)).await,
        "未预结算",
    );
    settle(&mut c, &mdtrt_id, "C1", "10.00").await;
    let v = &c.sb.visits()[0];
    assert_eq!(v.settlements.len(), 2);
}

#[tokio::test]
async fn the_admin_route_lists_the_visits() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "10.00")], "C1").await;
    settle(&mut c, &mdtrt_id, "C1", "10.00").await;
    let url = format!("{}/admin/visits", c.sb.base_url());
    let r = c.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body[0]["status"], "open");
    assert_eq!(body[0]["lines"][0]["amount"], "10.00");
    assert_eq!(body[0]["settlements"][0]["status"], "effective");
    let visits: Vec<VisitRecord> = serde_json::from_value(body).unwrap();
    assert_eq!(visits, c.sb.visits());
    assert_eq!(c.http.post(&url).send().await.unwrap().status(), 405);
}

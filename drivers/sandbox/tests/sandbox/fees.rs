//! Fee lines of a visit: 2204 refuses what outpatient.md says the platform refuses (visit info
//! first, Req fields and lengths, `cnt × pric` to the fen, one 病种 per batch, a unique
//! `feedetl_sn`, a settled batch) with no line stored; 2205 deletes a batch's or (`0000`)
//! every unsettled line, never a settled one; a revoked `feedetl_sn` is reusable or not per
//! `AnswerShapes::reuse_deleted_feedetl_sn`.

use medsettle_sandbox::AnswerShapes;
use serde_json::{Value, json};

use crate::outpatient::*;
use crate::support::*;

const REQ_2204: [&str; 16] = [
    "feedetl_sn",
    "mdtrt_id",
    "psn_no",
    "chrg_bchno",
    "rx_circ_flag",
    "fee_ocur_time",
    "med_list_codg",
    "medins_list_codg",
    "det_item_fee_sumamt",
    "cnt",
    "pric",
    "bilg_dept_codg",
    "bilg_dept_name",
    "bilg_dr_codg",
    "bilg_dr_name",
    "hosp_appr_flag",
];

fn lines_of(c: &Client) -> Vec<(String, String)> {
    c.sb.visits()
        .iter()
        .flat_map(|v| v.lines.iter())
        .map(|l| (l.chrg_bchno.clone(), l.feedetl_sn.clone()))
        .collect()
}

#[tokio::test]
async fn fees_need_an_open_visit_with_its_info() {
    let mut c = Client::signed_in().await;
    refused(
        &upload(&mut c, vec![line("M404", "C1", "1", "X1", "1.00")]).await,
        "就诊信息不存在",
    );
    let mdtrt_id = register(&mut c, "OP1").await;
    let out = upload(&mut c, vec![line(&mdtrt_id, "C1", "1", "X1", "1.00")]).await;
    refused(&out, "未上传就诊信息");
    assert!(
        out["err_msg"]
            .as_str()
            .unwrap()
            .contains("visit info not uploaded (2203)")
    );
    let mut li = line(&mdtrt_id, "C1", "1", "X1", "1.00");
    li["psn_no"] = json!(LI.psn_no);
    refused(
        &c.call_for("2204", &LI, json!({"feedetail": [li]})).await,
        "就诊信息不存在",
    );
    assert!(lines_of(&c).is_empty());
}

#[tokio::test]
async fn every_required_field_length_and_flag_is_checked() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = open_visit(&mut c, "OP1").await;
    let good = || line(&mdtrt_id, "C1", "1", "X1", "1.00");
    for key in REQ_2204 {
        let mut l = good();
        l.as_object_mut().unwrap().remove(key);
        refused(
            &upload(&mut c, vec![l]).await,
            &format!("入参缺少字段 {key}"),
        );
    }
    let cases: Vec<(&str, Value, &str)> = vec![
        ("feedetl_sn", json!("S".repeat(31)), "字段超长 feedetl_sn"),
        ("chrg_bchno", json!("B".repeat(31)), "字段超长 chrg_bchno"),
        (
            "med_list_codg",
            json!("X".repeat(51)),
            "字段超长 med_list_codg",
        ),
        (
            "medins_list_codg",
            json!("L".repeat(151)),
            "字段超长 medins_list_codg",
        ),
        (
            "bilg_dept_name",
            json!("科".repeat(101)),
            "字段超长 bilg_dept_name",
        ),
        (
            "bilg_dr_name",
            json!("医".repeat(51)),
            "字段超长 bilg_dr_name",
        ),
        ("dise_codg", json!("D".repeat(31)), "字段超长 dise_codg"),
        ("rx_circ_flag", json!("2"), "字段值无效 rx_circ_flag"),
        (
            "fee_ocur_time",
            json!("2026-11-23 10:05"),
            "时间格式错误 fee_ocur_time",
        ),
        ("cnt", json!("1.00001"), "数量格式错误 cnt"),
        ("pric", json!("-1"), "单价格式错误 pric"),
        ("det_item_fee_sumamt", json!("1.001"), "金额格式错误"),
    ];
    for (key, value, prefix) in cases {
        let mut l = good();
        l[key] = value;
        refused(&upload(&mut c, vec![l]).await, prefix);
    }
    assert!(lines_of(&c).is_empty());
}

#[tokio::test]
async fn the_line_total_is_count_times_price_to_the_fen() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = open_visit(&mut c, "OP1").await;
    let priced = |sn: &str, cnt: &str, pric: &str, amt: &str| {
        let mut l = line(&mdtrt_id, "C1", sn, "X1", amt);
        l["cnt"] = json!(cnt);
        l["pric"] = json!(pric);
        l
    };
    // 3 × 0.333333 = 0.999999 → 1.00; 1 × 0.005 = 0.005 → 0.01 (half up); numbers accepted.
    ok(&upload(&mut c, vec![priced("1", "3", "0.333333", "1.00")]).await);
    ok(&upload(&mut c, vec![priced("2", "1", "0.005", "0.01")]).await);
    let mut numbers = priced("3", "2", "1.5", "3.00");
    numbers["cnt"] = json!(2);
    numbers["det_item_fee_sumamt"] = json!(3);
    ok(&upload(&mut c, vec![numbers]).await);
    let out = upload(&mut c, vec![priced("4", "3", "0.333333", "0.99")]).await;
    refused(&out, "明细金额与数量单价不符");
    assert!(out["err_msg"].as_str().unwrap().contains("= 1.00"), "{out}");
    refused(
        &upload(&mut c, vec![priced("5", "1", "0.004", "0.01")]).await,
        "明细金额与数量单价不符",
    );
    // One bad line refuses the whole request.
    let out = upload(
        &mut c,
        vec![priced("6", "1", "2", "2.00"), priced("7", "2", "2", "2.00")],
    )
    .await;
    refused(&out, "明细金额与数量单价不符 feedetl_sn 7");
    assert_eq!(lines_of(&c).len(), 3);
}

#[tokio::test]
async fn a_batch_carries_one_disease_code_and_unique_serial_numbers() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = open_visit(&mut c, "OP1").await;
    let coded = |bchno: &str, sn: &str, dise: &str| {
        let mut l = line(&mdtrt_id, bchno, sn, "X1", "1.00");
        l["dise_codg"] = json!(dise);
        l
    };
    refused(
        &upload(
            &mut c,
            vec![coded("C1", "1", "M01"), coded("C1", "2", "M02")],
        )
        .await,
        "同一收费批次病种编码不一致",
    );
    ok(&upload(&mut c, vec![coded("C1", "1", "M01"), coded("C2", "2", "")]).await);
    refused(
        &upload(&mut c, vec![coded("C1", "3", "")]).await,
        "同一收费批次病种编码不一致",
    );
    ok(&upload(&mut c, vec![coded("C1", "3", "M01")]).await);
    // Unique within the visit, across batches and within one request.
    refused(
        &upload(&mut c, vec![coded("C3", "1", "")]).await,
        "费用明细流水号重复",
    );
    refused(
        &upload(&mut c, vec![coded("C3", "9", ""), coded("C3", "9", "")]).await,
        "费用明细流水号重复",
    );
    // Another visit may use the same numbers.
    let other = open_visit(&mut c, "OP2").await;
    ok(&upload(&mut c, vec![line(&other, "C1", "1", "X1", "1.00")]).await);
    assert_eq!(lines_of(&c).len(), 4);
}

#[tokio::test]
async fn a_settled_batch_takes_no_more_lines_and_its_lines_are_not_revoked() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "10.00")], "C1").await;
    ok(&upload(&mut c, vec![line(&mdtrt_id, "C2", "2", "X1", "5.00")]).await);
    settle(&mut c, &mdtrt_id, "C1", "10.00").await;
    refused(
        &upload(&mut c, vec![line(&mdtrt_id, "C1", "3", "X1", "1.00")]).await,
        "收费批次已结算",
    );
    let out = c
        .call_for("2205", &ZHANG, revoke_2205(&mdtrt_id, "C1"))
        .await;
    refused(&out, "已结算的费用明细不能撤销，请先撤销结算");
    // 0000 deletes the unsettled lines only.
    ok(&c
        .call_for("2205", &ZHANG, revoke_2205(&mdtrt_id, "0000"))
        .await);
    assert_eq!(lines_of(&c), [("C1".to_owned(), "C1-0".to_owned())]);
    assert_eq!(settled_flags(&c, &mdtrt_id), [true]);
    // Nothing unsettled left: 0000 names settled lines only.
    refused(
        &c.call_for("2205", &ZHANG, revoke_2205(&mdtrt_id, "0000"))
            .await,
        "已结算的费用明细不能撤销",
    );
}

#[tokio::test]
async fn revoking_nothing_or_for_an_unknown_visit_is_refused() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "10.00")], "C1").await;
    let out = c
        .call_for("2205", &ZHANG, revoke_2205(&mdtrt_id, "C9"))
        .await;
    refused(&out, "费用明细不存在");
    assert!(
        out["err_msg"]
            .as_str()
            .unwrap()
            .contains("no fee details to revoke")
    );
    refused(
        &c.call_for("2205", &ZHANG, revoke_2205("M404", "C1")).await,
        "就诊信息不存在",
    );
    let mut missing = revoke_2205(&mdtrt_id, "C1");
    missing["data"].as_object_mut().unwrap().remove("psn_no");
    refused(
        &c.call_for("2205", &ZHANG, missing).await,
        "入参缺少字段 psn_no",
    );
    let out = c
        .call_for("2205", &ZHANG, revoke_2205(&mdtrt_id, "C1"))
        .await;
    ok(&out);
    assert_eq!(out["output"], json!({}));
    refused(
        &c.call_for("2205", &ZHANG, revoke_2205(&mdtrt_id, "C1"))
            .await,
        "费用明细不存在",
    );
    refused(
        &c.call_for("2205", &ZHANG, revoke_2205(&mdtrt_id, "0000"))
            .await,
        "费用明细不存在",
    );
}

#[tokio::test]
async fn revoking_all_batches_with_0000() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "10.00"), ("X2", "2.00")], "C1").await;
    ok(&upload(&mut c, vec![line(&mdtrt_id, "C2", "2", "X1", "5.00")]).await);
    assert_eq!(lines_of(&c).len(), 3);
    ok(&c
        .call_for("2205", &ZHANG, revoke_2205(&mdtrt_id, "0000"))
        .await);
    assert!(lines_of(&c).is_empty());
    ok(&c
        .call_for("2202", &ZHANG, cancel_2202(&mdtrt_id, "OP001"))
        .await);
    assert!(c.sb.visits_holding().is_empty());
}

/// outpatient.md "Unknown outcomes": 2205 the batch, upload the same lines under a new batch.
async fn resend_under_a_new_batch(reuse: bool) -> (Client, String, Value) {
    let mut c = Client::signed_in().await;
    c.sb.set_shapes(AnswerShapes {
        reuse_deleted_feedetl_sn: reuse,
        ..AnswerShapes::default()
    });
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "10.00")], "C1").await;
    ok(&c
        .call_for("2205", &ZHANG, revoke_2205(&mdtrt_id, "C1"))
        .await);
    let out = upload(&mut c, vec![line(&mdtrt_id, "C2", "C1-0", "X1", "10.00")]).await;
    (c, mdtrt_id, out)
}

#[tokio::test]
async fn a_revoked_serial_number_is_reusable_by_default() {
    let (mut c, mdtrt_id, out) = resend_under_a_new_batch(true).await;
    ok(&out);
    assert_eq!(lines_of(&c), [("C2".to_owned(), "C1-0".to_owned())]);
    settle(&mut c, &mdtrt_id, "C2", "10.00").await;
}

#[tokio::test]
async fn a_revoked_serial_number_is_refused_when_the_flag_is_off() {
    let (mut c, mdtrt_id, out) = resend_under_a_new_batch(false).await;
    refused(&out, "费用明细流水号重复");
    assert!(
        out["err_msg"].as_str().unwrap().contains("revoked"),
        "{out}"
    );
    assert!(lines_of(&c).is_empty());
    ok(&upload(&mut c, vec![line(&mdtrt_id, "C2", "N-0", "X1", "10.00")]).await);
}

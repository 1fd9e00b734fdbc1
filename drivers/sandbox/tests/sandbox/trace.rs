//! 3505/3506 (traceability.md): what the sandbox refuses, the two answer shapes, and the
//! per-code history where a code sold twice shows.

use medsettle_sandbox::AnswerShapes;
use serde_json::{Value, json};

use crate::support::*;

/// A settled pharmacy sale for ZHANG; returns its `setl_id` and `mdtrt_id`.
async fn sale(c: &mut Client, bchno: &str) -> (String, String) {
    let s = settled(
        &c.call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "25.00")], "1", bchno),
        )
        .await,
    );
    (
        s.setlinfo.setl_id.clone().unwrap(),
        s.setlinfo.mdtrt_id.clone().unwrap_or_default(),
    )
}

/// A contract-complete `selinfo` for one item line with `codes`.
fn selinfo(setl_id: &str, mdtrt_id: &str, codes: &[&str]) -> Value {
    let drugtracinfo: Vec<Value> = codes
        .iter()
        .map(|c| json!({ "drug_trac_codg": c }))
        .collect();
    json!({"selinfo": {
        "med_list_codg": "XA01ABC123B001010100000", "fixmedins_hilist_id": "YP0001",
        "fixmedins_hilist_name": "阿莫西林胶囊", "fixmedins_bchno": "B20261123-0001",
        "prsc_dr_name": "李医生", "phar_name": "王药师", "phar_prac_cert_no": "YS2020001",
        "hi_feesetl_type": "1", "setl_id": setl_id, "mdtrt_sn": mdtrt_id, "psn_no": ZHANG.psn_no,
        "psn_cert_type": "01", "certno": ZHANG.certno, "psn_name": "张三",
        "manu_lotnum": "L2026", "manu_date": "2026-01-05", "expy_end": "2028-01-04",
        "rx_flag": "1", "trdn_flag": "0", "finl_trns_pric": "12.500000", "rxno": "",
        "rx_circ_flag": "0", "rtal_docno": "R1", "stoout_no": "", "bchno": "",
        "drug_prod_barc": "", "shelf_posi": "", "sel_retn_cnt": codes.len().max(1).to_string(),
        "sel_retn_time": "2026-11-23 10:05:00", "sel_retn_opter_name": "收银员", "memo": "",
        "mdtrt_setl_type": "1", "drugtracinfo": drugtracinfo
    }})
}

const A: &str = "81234567890123456789";
const B: &str = "81234567890123456790";

#[tokio::test]
async fn a_sale_is_recorded_code_by_code_and_a_return_needs_a_sale() {
    let mut c = Client::signed_in().await;
    let (setl_id, mdtrt_id) = sale(&mut c, "B1").await;
    let sold = c
        .call_for("3505", &ZHANG, selinfo(&setl_id, &mdtrt_id, &[A, B]))
        .await;
    ok(&sold);
    assert_eq!(sold["output"], json!({"retRslt": "1", "msgRslt": "成功"}));
    let events = c.sb.trace_events();
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].code.as_str(), events[0].infno.as_str()),
        (A, "3505")
    );
    assert_eq!(events[1].setl_id, setl_id);
    assert!(c.sb.trace_sold_twice().is_empty());

    // A return of a code never sold is refused, with no effect.
    refused(
        &c.call_for(
            "3506",
            &ZHANG,
            selinfo(&setl_id, &mdtrt_id, &["89999999999999999999"]),
        )
        .await,
        "追溯码无销售记录",
    );
    assert_eq!(c.sb.trace_events().len(), 2);
    // Returning A once works; twice does not.
    ok(&c
        .call_for("3506", &ZHANG, selinfo(&setl_id, &mdtrt_id, &[A]))
        .await);
    refused(
        &c.call_for("3506", &ZHANG, selinfo(&setl_id, &mdtrt_id, &[A]))
            .await,
        "追溯码无销售记录",
    );
    // Sold again after its return: not a resold box.
    let (setl_2, mdtrt_2) = sale(&mut c, "B2").await;
    ok(&c
        .call_for("3505", &ZHANG, selinfo(&setl_2, &mdtrt_2, &[A]))
        .await);
    assert!(c.sb.trace_sold_twice().is_empty());
    // B sold a second time without a return: the platform's history shows it.
    ok(&c
        .call_for("3505", &ZHANG, selinfo(&setl_2, &mdtrt_2, &[B]))
        .await);
    assert_eq!(c.sb.trace_sold_twice(), vec![B.to_owned()]);
}

#[tokio::test]
async fn refuses_what_the_contract_refuses_and_changes_nothing() {
    let mut c = Client::signed_in().await;
    let (setl_id, mdtrt_id) = sale(&mut c, "B1").await;
    let good = selinfo(&setl_id, &mdtrt_id, &[A]);
    let with = |key: &str, value: Value| {
        let mut v = good.clone();
        v["selinfo"][key] = value;
        v
    };
    for (input, msg) in [
        (
            with("phar_prac_cert_no", json!("")),
            "入参缺少字段 phar_prac_cert_no",
        ),
        (
            with("fixmedins_bchno", json!("x".repeat(31))),
            "字段超长 fixmedins_bchno",
        ),
        (with("manu_date", json!("2026/01/05")), "日期格式错误"),
        (
            with("sel_retn_time", json!("2026-11-23T10:05:00")),
            "时间格式错误",
        ),
        (with("trdn_flag", json!("2")), "字段值无效 trdn_flag"),
        (with("sel_retn_cnt", json!("0")), "数量错误"),
        (with("setl_id", json!("S-UNKNOWN")), "结算信息不存在"),
        (
            with(
                "drugtracinfo",
                json!([{ "drug_trac_codg": A }, { "drug_trac_codg": A }]),
            ),
            "追溯码重复",
        ),
        (
            with(
                "drugtracinfo",
                json!([{ "drug_trac_codg": "8".repeat(101) }]),
            ),
            "字段超长 drug_trac_codg",
        ),
        (
            with("drugtracinfo", json!([{ "drug_trac_codg": "" }])),
            "入参缺少字段 drug_trac_codg",
        ),
        (with("drugtracinfo", json!("8123")), "drugtracinfo 不是数组"),
        (
            json!({ "purcinfo": good["selinfo"] }),
            "入参缺少节点 input.selinfo",
        ),
    ] {
        let answer = c.call_for("3505", &ZHANG, input).await;
        assert_eq!(answer["infcode"], -1, "{answer}");
        refused(&answer, msg);
    }
    assert!(c.sb.trace_events().is_empty());

    // A cancelled settlement's sale cannot be reported.
    let cancel =
        json!({"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": ZHANG.psn_no}});
    ok(&c.call_for("2103", &ZHANG, cancel).await);
    refused(&c.call_for("3505", &ZHANG, good).await, "结算已撤销");
}

#[tokio::test]
async fn the_other_shapes_empty_answer_and_strict_optional_fields() {
    let mut c = Client::signed_in().await;
    let (setl_id, mdtrt_id) = sale(&mut c, "B1").await;
    c.sb.set_shapes(AnswerShapes {
        trace_result_object: false,
        trace_strict_optional: true,
        ..AnswerShapes::default()
    });
    let sold = c
        .call_for("3505", &ZHANG, selinfo(&setl_id, &mdtrt_id, &[A]))
        .await;
    ok(&sold);
    assert!(
        sold["output"].is_null() || sold["output"] == json!({}),
        "{sold}"
    );
    let mut missing = selinfo(&setl_id, &mdtrt_id, &[B]);
    missing["selinfo"]["expy_end"] = json!("");
    refused(
        &c.call_for("3505", &ZHANG, missing).await,
        "入参缺少字段 expy_end",
    );
    // A line from the 无码库 (no codes) is still a sale report.
    ok(&c
        .call_for("3505", &ZHANG, selinfo(&setl_id, &mdtrt_id, &[]))
        .await);
    assert_eq!(c.sb.trace_events().len(), 1);
}

#[tokio::test]
async fn a_report_resent_under_its_msgid_is_taken_once_or_refused_as_a_repeat() {
    let mut c = Client::signed_in().await;
    let (setl_id, mdtrt_id) = sale(&mut c, "B1").await;
    let env = c.env_for("3505", &ZHANG, selinfo(&setl_id, &mdtrt_id, &[A]));
    ok(&c.send(&env).await);
    // The answer was lost: the same request again, the same msgid.
    let again = c.send(&env).await;
    ok(&again);
    assert_eq!(again["output"], json!({"retRslt": "1", "msgRslt": "成功"}));
    assert_eq!(c.sb.trace_events().len(), 1, "recorded once");
    assert!(c.sb.trace_sold_twice().is_empty());
    // A platform that refuses the repeat instead.
    c.sb.set_shapes(AnswerShapes {
        trace_repeat_refused: true,
        ..AnswerShapes::default()
    });
    refused(&c.send(&env).await, "该销售记录已上传");
    assert_eq!(c.sb.trace_events().len(), 1);
    // A new report of the same box under a new msgid is another sale: the 回流 view shows it.
    ok(&c
        .call_for("3505", &ZHANG, selinfo(&setl_id, &mdtrt_id, &[A]))
        .await);
    assert_eq!(c.sb.trace_sold_twice(), [A.to_owned()]);
}

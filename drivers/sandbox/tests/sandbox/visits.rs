//! The visit's own transactions refuse what outpatient.md says the platform refuses, with no
//! partial effect: 2201 (every Req field, lengths, formats, certificate, insurance, a
//! duplicate 门诊号), 2202 (unknown, cancelled, lines or a settlement standing), 2203/2203A
//! (diagnoses, 病种), and 5201 lists the visits — also one whose 2201 answer was lost.

use medsettle_sandbox::{AnswerShapes, Fault, FaultRule, VisitStatus};
use serde_json::{Value, json};

use crate::outpatient::*;
use crate::support::*;

const REQ_2201: [&str; 11] = [
    "psn_no",
    "insutype",
    "begntime",
    "mdtrt_cert_type",
    "mdtrt_cert_no",
    "ipt_otp_no",
    "atddr_no",
    "dr_name",
    "dept_code",
    "dept_name",
    "caty",
];

fn with(mut input: Value, node: &str, key: &str, value: Value) -> Value {
    input[node][key] = value;
    input
}

fn without(mut input: Value, node: &str, key: &str) -> Value {
    input[node].as_object_mut().unwrap().remove(key);
    input
}

#[tokio::test]
async fn registration_refuses_a_missing_or_empty_required_field() {
    let mut c = Client::signed_in().await;
    for key in REQ_2201 {
        let input = without(registration(&ZHANG, "OP1"), "data", key);
        let out = c.call_for("2201", &ZHANG, input).await;
        refused(&out, &format!("入参缺少字段 {key} missing"));
        let input = with(registration(&ZHANG, "OP1"), "data", key, json!(""));
        refused(&c.call_for("2201", &ZHANG, input).await, "入参缺少字段");
    }
    assert!(c.sb.visits().is_empty());
}

#[tokio::test]
async fn registration_counts_lengths_in_characters_and_checks_begntime() {
    let mut c = Client::signed_in().await;
    let long = |n: usize| "医".repeat(n);
    for (key, max) in [
        ("ipt_otp_no", 30),
        ("atddr_no", 30),
        ("dr_name", 50),
        ("dept_code", 30),
        ("dept_name", 100),
        ("caty", 6),
    ] {
        let input = with(
            registration(&ZHANG, "OP1"),
            "data",
            key,
            json!(long(max + 1)),
        );
        let out = c.call_for("2201", &ZHANG, input).await;
        refused(&out, &format!("字段超长 {key}"));
        assert!(
            out["err_msg"].as_str().unwrap().contains("at most"),
            "{out}"
        );
    }
    assert!(c.sb.visits().is_empty());
    // Exactly at the limit, in Chinese characters (150 bytes), is fine.
    let input = with(
        registration(&ZHANG, "OP1"),
        "data",
        "dr_name",
        json!(long(50)),
    );
    ok(&c.call_for("2201", &ZHANG, input).await);
    for bad in ["2026-11-23T10:00:00", "2026/11/23 10:00:00", "2026-11-23"] {
        let input = with(registration(&ZHANG, "OP2"), "data", "begntime", json!(bad));
        refused(
            &c.call_for("2201", &ZHANG, input).await,
            "时间格式错误 begntime",
        );
    }
    assert_eq!(c.sb.visits().len(), 1);
}

#[tokio::test]
async fn registration_checks_the_certificate_and_the_insurance() {
    let mut c = Client::signed_in().await;
    let input = with(
        registration(&ZHANG, "OP1"),
        "data",
        "mdtrt_cert_no",
        json!(LI.certno),
    );
    refused(
        &c.call_for("2201", &ZHANG, input).await,
        "就诊凭证与人员不符",
    );
    let input = with(
        registration(&ZHANG, "OP1"),
        "data",
        "mdtrt_cert_type",
        json!("09"),
    );
    refused(&c.call_for("2201", &ZHANG, input).await, "就诊凭证类型错误");
    let input = with(
        registration(&ZHANG, "OP1"),
        "data",
        "insutype",
        json!("390"),
    );
    refused(&c.call_for("2201", &ZHANG, input).await, "未查询到参保信息");
    let input = registration(&WANG_SUSPENDED, "OP1");
    refused(
        &c.call_for("2201", &WANG_SUSPENDED, input).await,
        "参保状态异常",
    );
    let input = with(registration(&ZHANG, "OP1"), "data", "psn_no", json!("P999"));
    refused(&c.call_for("2201", &ZHANG, input).await, "人员编号不存在");
    assert!(c.sb.visits().is_empty());
}

#[tokio::test]
async fn a_second_open_visit_with_the_same_outpatient_number_is_refused() {
    let mut c = Client::signed_in().await;
    let first = register(&mut c, "OP7").await;
    refused(
        &c.call_for("2201", &ZHANG, registration(&ZHANG, "OP7"))
            .await,
        "门诊号重复",
    );
    // Another person's visit may not take it either: unique within the institution.
    refused(
        &c.call_for("2201", &LI, registration(&LI, "OP7")).await,
        "门诊号重复",
    );
    assert_eq!(c.sb.visits().len(), 1);
    ok(&c.call_for("2202", &ZHANG, cancel_2202(&first, "OP7")).await);
    // Cancelled, the number is free again.
    let second = register(&mut c, "OP7").await;
    assert_ne!(first, second);
    assert_eq!(c.sb.visits_holding().len(), 1);
}

#[tokio::test]
async fn cancelling_a_visit_refuses_what_still_stands() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "10.00")], "C1").await;
    for (p, input) in [
        (&ZHANG, cancel_2202("M404", "OP001")),
        (&ZHANG, cancel_2202(&mdtrt_id, "OP999")),
        (
            &LI,
            json!({"data": {"psn_no": LI.psn_no, "mdtrt_id": mdtrt_id, "ipt_otp_no": "OP001"}}),
        ),
    ] {
        let out = c.call_for("2202", p, input).await;
        refused(&out, "就诊信息不存在");
        assert!(out["err_msg"].as_str().unwrap().contains("visit not found"));
    }
    refused(
        &c.call_for(
            "2202",
            &ZHANG,
            without(cancel_2202(&mdtrt_id, "OP001"), "data", "ipt_otp_no"),
        )
        .await,
        "入参缺少字段 ipt_otp_no",
    );
    let out = c
        .call_for("2202", &ZHANG, cancel_2202(&mdtrt_id, "OP001"))
        .await;
    refused(&out, "存在费用明细，请先撤销费用明细");
    assert!(
        out["err_msg"]
            .as_str()
            .unwrap()
            .contains("revoke them first (2205)")
    );
    let setl_id = settle(&mut c, &mdtrt_id, "C1", "10.00").await;
    refused(
        &c.call_for("2202", &ZHANG, cancel_2202(&mdtrt_id, "OP001"))
            .await,
        "已结算，请先撤销结算",
    );
    ok(&c
        .call_for("2208", &ZHANG, cancel_2208(&setl_id, &mdtrt_id))
        .await);
    // Cancelled settlement, lines still uploaded (unsettled).
    refused(
        &c.call_for("2202", &ZHANG, cancel_2202(&mdtrt_id, "OP001"))
            .await,
        "存在费用明细",
    );
    assert_eq!(c.sb.visits()[0].status, VisitStatus::Open);
    ok(&c
        .call_for("2205", &ZHANG, revoke_2205(&mdtrt_id, "0000"))
        .await);
    ok(&c
        .call_for("2202", &ZHANG, cancel_2202(&mdtrt_id, "OP001"))
        .await);
    let out = c
        .call_for("2202", &ZHANG, cancel_2202(&mdtrt_id, "OP001"))
        .await;
    refused(&out, "就诊已撤销");
    assert!(
        out["err_msg"]
            .as_str()
            .unwrap()
            .contains("visit already cancelled")
    );
    // A cancelled visit takes nothing more.
    refused(
        &c.call_for("2203", &ZHANG, visit_info(&mdtrt_id, "11", ""))
            .await,
        "就诊信息不存在",
    );
    refused(
        &upload(&mut c, vec![line(&mdtrt_id, "C2", "9", "X1", "1.00")]).await,
        "就诊信息不存在",
    );
    refused(
        &c.call_for("2205", &ZHANG, revoke_2205(&mdtrt_id, "0000"))
            .await,
        "就诊信息不存在",
    );
}

#[tokio::test]
async fn cancelling_a_visit_with_only_its_info_uploaded_succeeds() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = open_visit(&mut c, "OP1").await;
    ok(&c
        .call_for("2202", &ZHANG, cancel_2202(&mdtrt_id, "OP1"))
        .await);
    assert!(c.sb.visits_holding().is_empty());
}

#[tokio::test]
async fn visit_info_checks_its_diagnoses_and_disease_code() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = register(&mut c, "OP1").await;
    let info = |f: &dyn Fn(&mut Value)| {
        let mut v = visit_info(&mdtrt_id, "11", "");
        f(&mut v);
        v
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            info(&|v| v["diseinfo"] = json!([])),
            "入参缺少节点 input.diseinfo",
        ),
        (
            info(&|v| v["diseinfo"] = json!([diagnosis(2)])),
            "缺少主诊断",
        ),
        (
            info(&|v| v["diseinfo"][0]["diag_type"] = json!("4")),
            "字段值无效 diag_type",
        ),
        (
            info(&|v| v["diseinfo"][0]["diag_srt_no"] = json!("100")),
            "数值格式错误 diag_srt_no",
        ),
        (
            info(&|v| v["diseinfo"][0]["diag_code"] = json!("X".repeat(21))),
            "字段超长 diag_code",
        ),
        (
            info(&|v| v["diseinfo"][0]["diag_time"] = json!("2026-11-23")),
            "时间格式错误 diag_time",
        ),
        (
            info(&|v| v["diseinfo"][0]["vali_flag"] = json!("")),
            "入参缺少字段 vali_flag",
        ),
        (
            info(&|v| {
                v["diseinfo"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("dise_dor_name");
            }),
            "入参缺少字段 dise_dor_name",
        ),
        (
            info(&|v| v["mdtrtinfo"]["med_type"] = json!("14")),
            "门诊慢特病须填写病种编码",
        ),
        (
            info(&|v| v["mdtrtinfo"]["begntime"] = json!("")),
            "入参缺少字段 begntime",
        ),
        (
            info(&|v| v["mdtrtinfo"]["dise_codg"] = json!("M".repeat(31))),
            "字段超长 dise_codg",
        ),
        (
            info(&|v| v["mdtrtinfo"]["birctrl_matn_date"] = json!("20261123")),
            "日期格式错误",
        ),
        (
            info(&|v| v["mdtrtinfo"]["mdtrt_id"] = json!("M404")),
            "就诊信息不存在",
        ),
    ];
    for (input, prefix) in cases {
        for infno in ["2203", "2203A"] {
            refused(&c.call_for(infno, &ZHANG, input.clone()).await, prefix);
        }
    }
    // Another person's psn_no (with that person's 参保地).
    let li = info(&|v| v["mdtrtinfo"]["psn_no"] = json!(LI.psn_no));
    refused(&c.call_for("2203A", &LI, li).await, "就诊信息不存在");
    assert!(!c.sb.visits()[0].info_uploaded);
    // A single object instead of an array, and a chronic-disease visit with its 病种.
    let single = info(&|v| {
        v["mdtrtinfo"]["med_type"] = json!("14");
        v["mdtrtinfo"]["dise_codg"] = json!("M03900");
        v["diseinfo"] = diagnosis(1);
    });
    ok(&c.call_for("2203", &ZHANG, single).await);
    let v = &c.sb.visits()[0];
    assert_eq!(
        (v.med_type.as_deref(), v.dise_codg.as_str(), v.diagnoses),
        (Some("14"), "M03900", 1)
    );
    // Repeating replaces it.
    let two = info(&|v| v["diseinfo"] = json!([diagnosis(1), diagnosis(2)]));
    ok(&c.call_for("2203A", &ZHANG, two).await);
    let v = &c.sb.visits()[0];
    assert_eq!(
        (v.med_type.as_deref(), v.dise_codg.as_str(), v.diagnoses),
        (Some("11"), "", 2)
    );
}

fn visits_query(begntime: &str, endtime: &str, med_type: &str) -> Value {
    json!({"data": {"psn_no": ZHANG.psn_no, "begntime": begntime, "endtime": endtime,
        "med_type": med_type}})
}

fn rows(out: &Value) -> Vec<Value> {
    ok(out);
    out["output"]["mdtrtinfo"].as_array().unwrap().clone()
}

#[tokio::test]
async fn visit_query_lists_the_persons_visits_in_the_window() {
    let mut c = Client::signed_in().await;
    let first = open_visit(&mut c, "OP1").await;
    let mut later = registration(&ZHANG, "OP2");
    later["data"]["begntime"] = json!("2026-11-23 15:00:00");
    let second = c.call_for("2201", &ZHANG, later).await;
    let second = second["output"]["data"]["mdtrt_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&c
        .call_for("2202", &ZHANG, cancel_2202(&second, "OP2"))
        .await);
    let day = visits_query("2026-11-23 00:00:00", "2026-11-23 23:59:59", "11");
    let all = rows(&c.call_for("5201", &ZHANG, day.clone()).await);
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[0],
        json!({"mdtrt_id": first, "psn_no": ZHANG.psn_no, "ipt_otp_no": "OP1", "med_type": "11",
            "begntime": "2026-11-23 10:00:00", "insutype": "310", "vali_flag": "1"})
    );
    assert_eq!(
        (&all[1]["ipt_otp_no"], &all[1]["vali_flag"]),
        (&json!("OP2"), &json!("0"))
    );
    // The window is inclusive and filters.
    let morning = visits_query("2026-11-23 10:00:00", "2026-11-23 12:00:00", "11");
    assert_eq!(rows(&c.call_for("5201", &ZHANG, morning).await).len(), 1);
    let before = visits_query("2026-11-22 00:00:00", "2026-11-22 23:59:59", "11");
    assert!(rows(&c.call_for("5201", &ZHANG, before).await).is_empty());
    // med_type: the first visit is 11; the second has no info yet, so matches any.
    let other = visits_query("2026-11-23 00:00:00", "2026-11-23 23:59:59", "13");
    let found = rows(&c.call_for("5201", &ZHANG, other).await);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["mdtrt_id"], second.as_str());
    let mut one = day.clone();
    one["data"]["mdtrt_id"] = json!(first);
    assert_eq!(rows(&c.call_for("5201", &ZHANG, one).await).len(), 1);
    // Another person's visits are not listed.
    let li = json!({"data": {"psn_no": LI.psn_no, "begntime": "2026-11-23 00:00:00",
        "endtime": "2026-11-23 23:59:59", "med_type": "11"}});
    assert!(rows(&c.call_for("5201", &LI, li).await).is_empty());
    // Required fields.
    for key in ["psn_no", "begntime", "endtime", "med_type"] {
        refused(
            &c.call_for("5201", &ZHANG, without(day.clone(), "data", key))
                .await,
            &format!("入参缺少字段 {key}"),
        );
    }
    refused(
        &c.call_for(
            "5201",
            &ZHANG,
            with(day, "data", "endtime", json!("2026-11-23")),
        )
        .await,
        "时间格式错误 endtime",
    );
}

#[tokio::test]
async fn a_registration_whose_answer_was_lost_is_found_by_5201() {
    let mut c = Client::signed_in().await;
    c.sb.inject(FaultRule::times("2201", Fault::DropAfterCommit, 1));
    let env = c.env_for("2201", &ZHANG, registration(&ZHANG, "OP-LOST"));
    let lost = c.http.post(c.sb.url()).json(&env.json()).send().await;
    assert!(lost.is_err(), "the connection is closed without an answer");
    let day = visits_query("2026-11-23 00:00:00", "2026-11-23 23:59:59", "11");
    let found = rows(&c.call_for("5201", &ZHANG, day.clone()).await);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["ipt_otp_no"], "OP-LOST");
    // The same msgid answers what was done; a new 2201 for it is refused.
    let again = c.send(&env).await;
    ok(&again);
    assert_eq!(again["output"]["data"]["mdtrt_id"], found[0]["mdtrt_id"]);
    refused(
        &c.call_for("2201", &ZHANG, registration(&ZHANG, "OP-LOST"))
            .await,
        "门诊号重复",
    );
    // A platform that does not list open unsettled visits.
    c.sb.set_shapes(AnswerShapes {
        list_open_visits_in_5201: false,
        ..AnswerShapes::default()
    });
    assert!(rows(&c.call_for("5201", &ZHANG, day.clone()).await).is_empty());
    let mdtrt_id = found[0]["mdtrt_id"].as_str().unwrap().to_owned();
    ok(&c
        .call_for("2203A", &ZHANG, visit_info(&mdtrt_id, "11", ""))
        .await);
    ok(&upload(&mut c, vec![line(&mdtrt_id, "C1", "1", "X1", "3.00")]).await);
    settle(&mut c, &mdtrt_id, "C1", "3.00").await;
    assert_eq!(
        rows(&c.call_for("5201", &ZHANG, day).await).len(),
        1,
        "settled: listed"
    );
}

#[tokio::test]
async fn faults_hit_each_new_transaction() {
    let mut c = Client::signed_in().await;
    let mdtrt_id = visit_with_fees(&mut c, &[("X1", "10.00")], "C1").await;
    let requests: Vec<(&str, Value)> = vec![
        ("2203", visit_info(&mdtrt_id, "13", "")),
        ("2203A", visit_info(&mdtrt_id, "13", "")),
        ("2205", revoke_2205(&mdtrt_id, "C1")),
        (
            "5201",
            visits_query("2026-11-23 00:00:00", "2026-11-23 23:59:59", "11"),
        ),
    ];
    for (infno, input) in &requests {
        let before = c.sb.visits();
        c.sb.inject(FaultRule::times(
            infno,
            Fault::BusinessError {
                message: format!("模拟故障 {infno}"),
            },
            1,
        ));
        refused(
            &c.call_for(infno, &ZHANG, input.clone()).await,
            &format!("模拟故障 {infno}"),
        );
        c.sb.inject(FaultRule::times(infno, Fault::DropBeforeCommit, 1));
        let env = c.env_for(infno, &ZHANG, input.clone());
        assert!(
            c.http
                .post(c.sb.url())
                .json(&env.json())
                .send()
                .await
                .is_err()
        );
        c.sb.inject(FaultRule::times(
            infno,
            Fault::HttpStatus {
                status: 503,
                commit: false,
            },
            1,
        ));
        let r = c
            .http
            .post(c.sb.url())
            .json(&env.json())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(c.sb.visits(), before, "{infno}: no effect");
    }
    // A committing fault applies the effect first (2205 here; then 2202 the same way).
    c.sb.inject(FaultRule::times(
        "2205",
        Fault::HttpStatus {
            status: 502,
            commit: true,
        },
        1,
    ));
    let env = c.env_for("2205", &ZHANG, revoke_2205(&mdtrt_id, "C1"));
    let r = c
        .http
        .post(c.sb.url())
        .json(&env.json())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert!(c.sb.visits()[0].lines.is_empty());
    ok(&c.send(&env).await);
    c.sb.inject(FaultRule::times("2202", Fault::Hold { commit: true }, 1));
    let env = c.env_for("2202", &ZHANG, cancel_2202(&mdtrt_id, "OP001"));
    let held = {
        let (http, url, body) = (c.http.clone(), c.sb.url(), env.json());
        tokio::spawn(async move { http.post(url).json(&body).send().await })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while c.sb.held() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the answer was never held"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(
        c.sb.visits()[0].status,
        VisitStatus::Cancelled,
        "applied before the hold"
    );
    assert_eq!(c.sb.release(), 1);
    assert_eq!(held.await.unwrap().unwrap().status(), 200);
    let l = c.sb.ledger();
    for infno in ["2202", "2203", "2203A", "2205", "5201"] {
        assert!(l.request_count(infno) >= 1, "{infno} counted");
    }
    assert_eq!(
        l.request_count("2203A"),
        4,
        "one in the setup, three faulted"
    );
}

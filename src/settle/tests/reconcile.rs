//! End-of-day reconciliation (3201) per the contract (upstream.md "Reconciliation"): one
//! statement per group (`insutype`, `clr_type`, `setl_optins`) named by the platform's
//! settlement answers, each settlement and cancellation on the CST day of its own
//! `setl_time`, cancellations counted with negative amounts unless `refd_setl_flag` is 0. The
//! platform's verdict becomes the report; an imbalance names the group and the difference.

use chrono::NaiveDate;
use serde_json::Value;

use super::*;
use crate::settle::options::RefundCount;
use crate::upstream::scripted::fixture;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

/// `[settle]` with no home groups, so only the day's groups are reconciled.
fn settle(flag: &str, count: RefundCount) -> SettleConfig {
    SettleConfig {
        reconcile_insutypes: Vec::new(),
        reconcile_refd_setl_flag: flag.to_owned(),
        reconcile_refund_count: count,
        ..pin_settle(false)
    }
}

/// The 2102 fixture (128.50: fund 80.30, account 30.00) settled as `setl_id` in clearing
/// institution `clr_optins` at `setl_time`.
fn settlement(setl_id: &str, clr_optins: &str, setl_time: &str) -> Answer {
    let mut a = fixture("2102_response.json");
    let info = &mut a["output"]["setlinfo"];
    info["setl_id"] = setl_id.into();
    info["clr_type"] = "41".into();
    info["clr_optins"] = clr_optins.into();
    info["setl_time"] = setl_time.into();
    Answer::Body(a)
}

/// The 2103 fixture (negated amounts) answered at `setl_time`.
fn cancellation(setl_time: &str) -> Answer {
    let mut a = fixture("2103_response.json");
    a["output"]["setlinfo"]["setl_time"] = setl_time.into();
    Answer::Body(a)
}

/// 1101, 2101 and 2102 of one sale settled as [`settlement`].
fn sale_script(p: ScriptedPlatform, setl_id: &str, clr_optins: &str, at: &str) -> ScriptedPlatform {
    presettle_script(p).expect("2102", settlement(setl_id, clr_optins, at))
}

async fn settle_one(rig: &Rig) -> Sale {
    let sale = rig.card_sale("prefer_online").await;
    rig.engine.presettle(&sale.id).await.unwrap();
    rig.confirm(&sale.id).await.unwrap()
}

/// An amount field of a 3201 as text.
fn amount(d: &Value, key: &str) -> String {
    d[key].to_string().trim_matches('"').to_owned()
}

/// Checks a 3201's group, totals and flag.
fn statement(
    group: (&'static str, &'static str, &'static str),
    totals: (&'static str, &'static str, &'static str, i64),
    flag: Option<&'static str>,
) -> impl Fn(&Sent) + Send + Sync {
    move |s| {
        let d = &s.input["data"];
        assert_eq!(
            (
                d["insutype"].as_str(),
                d["clr_type"].as_str(),
                d["setl_optins"].as_str()
            ),
            (Some(group.0), Some(group.1), Some(group.2)),
            "{d}"
        );
        assert_eq!(
            (
                amount(d, "medfee_sumamt"),
                amount(d, "fund_pay_sumamt"),
                amount(d, "acct_pay"),
                d["fixmedins_setl_cnt"].as_i64().unwrap()
            ),
            (
                totals.0.to_owned(),
                totals.1.to_owned(),
                totals.2.to_owned(),
                totals.3
            ),
            "{d}"
        );
        assert_eq!(d.get("refd_setl_flag").and_then(Value::as_str), flag, "{d}");
        assert!(d.get("REFD_SETL_FLAG").is_none());
        assert!(!s.prepared, "3201 moves no money");
    }
}

fn balanced() -> Answer {
    Answer::fixture("3201_response.json")
}

#[tokio::test]
async fn refunds_are_included_with_negative_amounts_and_flag_1_by_default() {
    let p = sale_script(platform(), "S1", "110199", "2026-11-23 10:00:01")
        .expect("2103", cancellation("2026-11-23 10:15:00"))
        .expect_with(
            "3201",
            statement(
                ("310", "41", "110199"),
                ("0.00", "0.00", "0.00", 2),
                Some("1"),
            ),
            balanced(),
        );
    let rig = Rig::with_settle(p, settle("1", RefundCount::Plus));
    let sale = settle_one(&rig).await;
    rig.engine.cancel(&sale.id).await.unwrap();
    let report = rig.engine.reconcile(day(23)).await.unwrap();
    assert!(report.balanced);
    assert_eq!(report.refd_setl_flag.as_deref(), Some("1"));
    let t = &report.lines[0].totals;
    assert_eq!((t.settlements, t.refunds, t.count, t.guessed), (1, 1, 2, 0));
    assert!(report.details.is_empty(), "balanced: no 3202");
    rig.finish();
}

#[tokio::test]
async fn a_cancellation_counts_as_configured() {
    for (count, expected) in [(RefundCount::Minus, 0), (RefundCount::Zero, 1)] {
        let p = sale_script(platform(), "S1", "110199", "2026-11-23 10:00:01")
            .expect("2103", cancellation("2026-11-23 10:15:00"))
            .expect_with(
                "3201",
                move |s| assert_eq!(s.input["data"]["fixmedins_setl_cnt"], expected),
                balanced(),
            );
        let rig = Rig::with_settle(p, settle("1", count));
        let sale = settle_one(&rig).await;
        rig.engine.cancel(&sale.id).await.unwrap();
        rig.engine.reconcile(day(23)).await.unwrap();
        rig.finish();
    }
}

#[tokio::test]
async fn flag_0_sends_0_and_counts_settlements_only() {
    let p = sale_script(platform(), "S1", "110199", "2026-11-23 10:00:01")
        .expect("2103", cancellation("2026-11-23 10:15:00"))
        .expect_with(
            "3201",
            statement(
                ("310", "41", "110199"),
                ("128.50", "80.30", "30.00", 1),
                Some("0"),
            ),
            balanced(),
        );
    let rig = Rig::with_settle(p, settle("0", RefundCount::Plus));
    let sale = settle_one(&rig).await;
    rig.engine.cancel(&sale.id).await.unwrap();
    let report = rig.engine.reconcile(day(23)).await.unwrap();
    assert_eq!(report.lines[0].totals.refunds, 0);
    rig.finish();
}

#[tokio::test]
async fn an_empty_flag_leaves_the_key_out_and_includes_refunds() {
    let p = sale_script(platform(), "S1", "110199", "2026-11-23 10:00:01")
        .expect("2103", cancellation("2026-11-23 10:15:00"))
        .expect_with(
            "3201",
            statement(("310", "41", "110199"), ("0.00", "0.00", "0.00", 2), None),
            balanced(),
        );
    let rig = Rig::with_settle(p, settle("", RefundCount::Plus));
    let sale = settle_one(&rig).await;
    rig.engine.cancel(&sale.id).await.unwrap();
    let report = rig.engine.reconcile(day(23)).await.unwrap();
    assert_eq!(report.refd_setl_flag, None);
    rig.finish();
}

#[tokio::test]
async fn two_clearing_institutions_are_two_statements() {
    let p = sale_script(platform(), "S1", "110199", "2026-11-23 10:00:01");
    let p = sale_script(p, "S2", "440106", "2026-11-23 10:05:00")
        .expect_with(
            "3201",
            statement(
                ("310", "41", "110199"),
                ("128.50", "80.30", "30.00", 1),
                Some("1"),
            ),
            balanced(),
        )
        .expect_with(
            "3201",
            statement(
                ("310", "41", "440106"),
                ("128.50", "80.30", "30.00", 1),
                Some("1"),
            ),
            Answer::fixture("3201_response_unbalanced.json"),
        )
        // The unbalanced group gets its 3202: the platform's result lists a settlement the
        // terminal does not have, and not the terminal's own.
        .expect_with(
            "9101",
            |s| {
                let name = s.input["fsUploadIn"]["filename"].as_str().unwrap();
                assert!(name.contains("_440106_41_"), "{name}");
            },
            Answer::output(serde_json::json!({"file_qury_no": "U1"})),
        )
        .expect_with(
            "3202",
            |s| assert_eq!(s.input["data"]["setl_optins"], "440106"),
            Answer::output(
                serde_json::json!({"fileinfo": {"file_qury_no": "R1", "filename": "r.zip"}}),
            ),
        )
        .expect("9102", Answer::File(platform_only_result()));
    let rig = Rig::with_settle(p, settle("1", RefundCount::Plus));
    settle_one(&rig).await;
    settle_one(&rig).await;
    let report = rig.engine.reconcile(day(23)).await.unwrap();
    assert_eq!(
        report.details.len(),
        1,
        "one 3202, for the unbalanced group only"
    );
    assert_eq!(report.details[0]["group"]["setl_optins"], "440106");
    assert_eq!(report.differences(), (1, 1, 0));
    assert!(!report.balanced);
    assert_eq!(
        report.lines.iter().map(|l| l.balanced).collect::<Vec<_>>(),
        [true, false]
    );
    // The mismatch names its group and the difference, on the board in both languages.
    crate::settle::reconcile::show(&rig.status, &report);
    let alarm = rig
        .alarm("reconcile.imbalance")
        .expect("an imbalance alarm");
    assert!(
        alarm
            .message_zh
            .contains("险种 310 清算类别 41 经办机构 440106")
            && alarm.message_zh.contains("医疗费总额不一致")
            && alarm.message_zh.contains("128.50"),
        "{}",
        alarm.message_zh
    );
    assert!(
        alarm
            .message_en
            .contains("insutype 310 clr_type 41 setl_optins 440106"),
        "{}",
        alarm.message_en
    );
    assert!(
        !alarm.message_zh.contains("110199"),
        "only the unbalanced group"
    );
    assert!(
        alarm.message_zh.contains("平台有本地无 1 笔")
            && alarm.message_en.contains("1 platform only"),
        "{} / {}",
        alarm.message_zh,
        alarm.message_en
    );
    rig.finish();
}

/// A 9102 result file with one line: a settlement only the platform has.
fn platform_only_result() -> Vec<u8> {
    use crate::upstream::tx::statement::file::{self, ResultLine};
    let line = ResultLine {
        psn_no: medsettle_base::pii::PsnNo::new("P9"),
        mdtrt_id: "M9".into(),
        setl_id: "SETL-PLATFORM-ONLY".into(),
        msgid: String::new(),
        stmt_rslt: "1".into(),
        refund: false,
        memo: "医药机构无此结算".into(),
        medfee_sumamt: Some(crate::upstream::Fen(5_500)),
        fund_pay_sumamt: Some(crate::upstream::Fen(3_000)),
        acct_pay: Some(crate::upstream::Fen(500)),
    };
    let text = file::write_result(&[line]);
    crate::upstream::tx::statement::zip::write_single("result.txt", text.as_bytes())
}

#[tokio::test]
async fn a_sale_settled_at_235959_counts_on_its_platform_day() {
    let p = sale_script(platform(), "S1", "110199", "2026-11-23 23:59:59").expect_with(
        "3201",
        statement(
            ("310", "41", "110199"),
            ("128.50", "80.30", "30.00", 1),
            Some("1"),
        ),
        balanced(),
    );
    let rig = Rig::with_settle(p, settle("1", RefundCount::Plus));
    // The answer is stored after midnight: the terminal's own day is the 24th.
    rig.advance_hours(14);
    let sale = settle_one(&rig).await;
    assert_eq!(sale.settlement.as_ref().unwrap().day, "2026-11-24");
    rig.engine.reconcile(day(23)).await.unwrap();
    let next = rig.engine.reconcile(day(24)).await.unwrap();
    assert!(next.lines.is_empty(), "nothing settled on the 24th");
    rig.finish();
}

#[tokio::test]
async fn a_refund_on_a_later_day_counts_on_that_day() {
    let p = sale_script(platform(), "S1", "110199", "2026-11-23 10:00:01")
        .expect("2103", cancellation("2026-11-24 09:00:00"))
        .expect_with(
            "3201",
            statement(
                ("310", "41", "110199"),
                ("128.50", "80.30", "30.00", 1),
                Some("1"),
            ),
            balanced(),
        )
        .expect_with(
            "3201",
            statement(
                ("310", "41", "110199"),
                ("-128.50", "-80.30", "-30.00", 1),
                Some("1"),
            ),
            balanced(),
        );
    let rig = Rig::with_settle(p, settle("1", RefundCount::Plus));
    let sale = settle_one(&rig).await;
    rig.advance_hours(23);
    rig.engine.cancel(&sale.id).await.unwrap();
    rig.engine.reconcile(day(23)).await.unwrap();
    let later = rig.engine.reconcile(day(24)).await.unwrap();
    let t = &later.lines[0].totals;
    assert_eq!((t.settlements, t.refunds), (0, 1));
    rig.finish();
}

#[tokio::test]
async fn home_groups_are_reconciled_even_without_sales() {
    // Defaults: insutypes 310 and 390 in the terminal's region with clr_type 41.
    let p = sale_script(platform(), "S1", "110199", "2026-11-23 10:00:01")
        .expect_with(
            "3201",
            statement(
                ("310", "41", "110105"),
                ("0.00", "0.00", "0.00", 0),
                Some("1"),
            ),
            balanced(),
        )
        .expect_with(
            "3201",
            statement(
                ("310", "41", "110199"),
                ("128.50", "80.30", "30.00", 1),
                Some("1"),
            ),
            balanced(),
        )
        .expect_with(
            "3201",
            statement(
                ("390", "41", "110105"),
                ("0.00", "0.00", "0.00", 0),
                Some("1"),
            ),
            balanced(),
        );
    let rig = Rig::new(p);
    settle_one(&rig).await;
    let report = rig.engine.reconcile(day(23)).await.unwrap();
    assert_eq!(report.lines.len(), 3);
    assert!(report.balanced);
    rig.finish();
}

#[tokio::test]
async fn an_answer_without_clearing_fields_is_grouped_by_a_guess_that_says_so() {
    // The plain fixture names no clr_type/clr_optins: the patient's 参保地 and the pharmacy
    // clearing type stand in, and the report counts the guess.
    let p = presettle_script(platform())
        .expect("2102", Answer::fixture("2102_response.json"))
        .expect_with(
            "3201",
            statement(
                ("310", "41", "110105"),
                ("128.50", "80.30", "30.00", 1),
                Some("1"),
            ),
            balanced(),
        );
    let rig = Rig::with_settle(p, settle("1", RefundCount::Plus));
    settle_one(&rig).await;
    let report = rig.engine.reconcile(day(23)).await.unwrap();
    assert_eq!(report.lines[0].totals.guessed, 1);
    rig.finish();
}

//! End-of-day reconciliation (3201): the terminal's own totals of the day per insurance type,
//! in fen, one statement each; the platform's verdict becomes the report.

use chrono::NaiveDate;

use super::*;
use crate::upstream::Fen;

/// A day with one settled sale of 128.50 (fund 80.30, account 30.00), insutype 310.
async fn settled_day(p: ScriptedPlatform) -> Rig {
    let rig = Rig::new(
        presettle_script(platform()).expect("2102", Answer::fixture("2102_response.json")),
    );
    let sale = rig.card_sale("prefer_online").await;
    rig.engine.presettle(&sale.id).await.unwrap();
    rig.confirm(&sale.id).await.unwrap();
    rig.restart(p)
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

#[tokio::test]
async fn reconcile_sends_one_3201_per_insutype_with_the_days_totals() {
    let rig = settled_day(
        platform()
            .expect_with(
                "3201",
                |s| {
                    let d = &s.input["data"];
                    assert_eq!(d["insutype"], "310");
                    assert_eq!(d["clr_type"], "41");
                    assert_eq!(d["stmt_begndate"], "2026-11-23");
                    assert_eq!(d["stmt_enddate"], "2026-11-23");
                    assert_eq!(d["medfee_sumamt"].to_string().trim_matches('"'), "128.50");
                    assert_eq!(d["fund_pay_sumamt"].to_string().trim_matches('"'), "80.30");
                    assert_eq!(d["acct_pay"].to_string().trim_matches('"'), "30.00");
                    assert_eq!(d["fixmedins_setl_cnt"], 1);
                },
                Answer::fixture("3201_response.json"),
            )
            .expect_with(
                "3201",
                |s| {
                    assert_eq!(s.input["data"]["insutype"], "390");
                    assert_eq!(s.input["data"]["fixmedins_setl_cnt"], 0);
                },
                Answer::fixture("3201_response.json"),
            ),
    )
    .await;
    let report = rig.engine.reconcile(day()).await.unwrap();
    assert!(report.balanced);
    assert_eq!(report.day, "2026-11-23");
    let t = &report.lines[0].totals;
    assert_eq!(
        (t.medfee, t.fund, t.account, t.count),
        (Fen(12_850), Fen(8_030), Fen(3_000), 1)
    );
    assert_eq!(report.lines[1].totals.count, 0);
    let sent = rig.finish();
    assert!(sent.iter().all(|s| !s.prepared), "3201 moves no money");
}

#[tokio::test]
async fn reconcile_reports_an_unbalanced_group() {
    let rig = settled_day(
        platform()
            .expect("3201", Answer::fixture("3201_response_unbalanced.json"))
            .expect("3201", Answer::fixture("3201_response.json")),
    )
    .await;
    let report = rig.engine.reconcile(day()).await.unwrap();
    assert!(!report.balanced);
    assert_eq!(
        report.lines.iter().map(|l| l.balanced).collect::<Vec<_>>(),
        [false, true]
    );
    assert_eq!(
        report.lines[0].description.as_deref(),
        Some("医疗费总额不一致")
    );
    rig.finish();
}

#[tokio::test]
async fn reconcile_counts_no_sale_of_another_day() {
    let rig = settled_day(
        platform()
            .expect_with(
                "3201",
                |s| assert_eq!(s.input["data"]["fixmedins_setl_cnt"], 0),
                Answer::fixture("3201_response.json"),
            )
            .expect("3201", Answer::fixture("3201_response.json")),
    )
    .await;
    let report = rig
        .engine
        .reconcile(day().succ_opt().unwrap())
        .await
        .unwrap();
    assert!(report.lines.iter().all(|l| l.totals.medfee == Fen(0)));
    rig.finish();
}

//! 3201 per the contract (upstream.md "Reconciliation", "Settlement answers", "Cancellation
//! answers"): settlement answers name their clearing group (`clr_type`, `clr_optins`) and
//! `setl_time`; 3201 compares one group (`insutype`, `clr_type`, `setl_optins`) over a range of
//! CST days by `setl_time`, cancellations included with negated amounts unless
//! `refd_setl_flag` is 0, and says what differs.

use medsettle_nhsa::money::Fen;
use medsettle_nhsa::time;
use medsettle_sandbox::shapes::{AnswerShapes, RefundCount};
use serde_json::{Value, json};

use crate::support::*;

/// A 3201 of group (310, 41, `setl_optins`) over `days` with totals (medfee, fund, acct, cnt).
fn statement(setl_optins: &str, days: (&str, &str), totals: (Fen, Fen, Fen, i64)) -> Value {
    json!({"data": {"insutype": "310", "clr_type": "41", "setl_optins": setl_optins,
        "stmt_begndate": days.0, "stmt_enddate": days.1, "medfee_sumamt": totals.0,
        "fund_pay_sumamt": totals.1, "acct_pay": totals.2, "fixmedins_setl_cnt": totals.3}})
}

/// The totals of a settlement answer, `times` times (negative: its cancellation).
fn of(v: &Value, times: i64) -> (Fen, Fen, Fen) {
    let i = &v["output"]["setlinfo"];
    let f = |k: &str| Fen(serde_json::from_value::<Fen>(i[k].clone()).unwrap().0 * times);
    (f("medfee_sumamt"), f("fund_pay_sumamt"), f("acct_pay"))
}

fn sum(parts: &[(Fen, Fen, Fen)], cnt: i64) -> (Fen, Fen, Fen, i64) {
    let mut t = (Fen(0), Fen(0), Fen(0), cnt);
    for p in parts {
        t.0 = Fen(t.0.0 + p.0.0);
        t.1 = Fen(t.1.0 + p.1.0);
        t.2 = Fen(t.2.0 + p.2.0);
    }
    t
}

/// `stmt_rslt` and `stmt_rslt_dscr` of a 3201 answer.
fn verdict(v: &Value) -> (String, String) {
    ok(v);
    let info = &v["output"]["stmtinfo"];
    (
        info["stmt_rslt"].as_str().unwrap().to_owned(),
        info["stmt_rslt_dscr"].as_str().unwrap().to_owned(),
    )
}

async fn balanced(c: &mut Client, input: Value) {
    let (rslt, dscr) = verdict(&c.call("3201", input).await);
    assert_eq!(rslt, "0", "{dscr}");
}

fn cancel(v: &Value, p: &P) -> Value {
    let i = &v["output"]["setlinfo"];
    json!({"data": {"setl_id": i["setl_id"], "mdtrt_id": i["mdtrt_id"], "psn_no": p.psn_no}})
}

#[tokio::test]
async fn settlement_and_cancellation_answers_name_their_clearing_group_and_time() {
    let mut c = Client::signed_in().await;
    let zhang = c
        .call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "20.00")], "0", "B1"),
        )
        .await;
    settled(&zhang);
    let i = &zhang["output"]["setlinfo"];
    assert_eq!(i["clr_type"], "41");
    assert_eq!(i["clr_optins"], ZHANG.region, "the patient's 参保地");
    let setl_time = i["setl_time"].as_str().unwrap();
    assert_eq!(setl_time, "2026-11-23 10:00:02", "CST yyyy-MM-dd HH:mm:ss");
    assert!(time::parse_inf_time(setl_time).is_ok());
    let li = c
        .call_for("2102", &LI, pharmacy(&LI, &[("X1", "20.00")], "0", "B2"))
        .await;
    assert_eq!(li["output"]["setlinfo"]["clr_optins"], LI.region);

    let cancelled = c.call_for("2103", &ZHANG, cancel(&zhang, &ZHANG)).await;
    ok(&cancelled);
    let ci = &cancelled["output"]["setlinfo"];
    assert_eq!(
        (ci["clr_type"].as_str(), ci["clr_optins"].as_str()),
        (Some("41"), Some(ZHANG.region))
    );
    assert_eq!(
        ci["setl_time"], "2026-11-23 10:00:04",
        "the cancellation's own time"
    );
    let ledger = c.sb.ledger();
    let r = ledger.by_setl_id(i["setl_id"].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            r.clr_type.as_str(),
            r.clr_optins.as_str(),
            r.setl_time.as_str()
        ),
        ("41", ZHANG.region, "2026-11-23 10:00:02")
    );
    assert_eq!(r.cancel_day.as_deref(), Some("2026-11-23"));
    assert_eq!(r.cancel_time.as_deref(), Some("2026-11-23 10:00:04"));
}

#[tokio::test]
async fn a_per_person_clearing_institution_makes_two_groups() {
    let mut c = Client::signed_in().await;
    c.sb.set_shapes(AnswerShapes {
        clr_optins: [(LI.psn_no.to_owned(), "110000".to_owned())].into(),
        ..AnswerShapes::default()
    });
    let zhang = c
        .call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "30.00")], "0", "B1"),
        )
        .await;
    settled(&zhang);
    let li = c
        .call_for("2102", &LI, pharmacy(&LI, &[("X1", "40.00")], "0", "B2"))
        .await;
    settled(&li);
    assert_eq!(li["output"]["setlinfo"]["clr_optins"], "110000");
    let day = ("2026-11-23", "2026-11-23");
    balanced(
        &mut c,
        statement(ZHANG.region, day, sum(&[of(&zhang, 1)], 1)),
    )
    .await;
    balanced(&mut c, statement("110000", day, sum(&[of(&li, 1)], 1))).await;
    // Both in one group is not what the platform holds.
    let both = statement(ZHANG.region, day, sum(&[of(&zhang, 1), of(&li, 1)], 2));
    let (rslt, dscr) = verdict(&c.call("3201", both).await);
    assert_eq!(rslt, "1");
    assert!(
        dscr.contains("medfee_sumamt")
            && dscr.contains("fixmedins_setl_cnt 机构 sent 2 ≠ 中心 sandbox 1"),
        "{dscr}"
    );
    // Another clr_type is another group (empty here).
    let mut outpatient = statement(ZHANG.region, day, sum(&[of(&zhang, 1)], 1));
    outpatient["data"]["clr_type"] = "11".into();
    let (rslt, _) = verdict(&c.call("3201", outpatient).await);
    assert_eq!(rslt, "1");
}

#[tokio::test]
async fn refunds_follow_refd_setl_flag() {
    let mut c = Client::signed_in().await;
    let sale = c
        .call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "200.00")], "1", "B1"),
        )
        .await;
    settled(&sale);
    ok(&c.call_for("2103", &ZHANG, cancel(&sale, &ZHANG)).await);
    let day = ("2026-11-23", "2026-11-23");
    let included = statement(ZHANG.region, day, sum(&[of(&sale, 1), of(&sale, -1)], 2));
    // Absent, "1", empty, null and the upper-case spelling all include refunds.
    balanced(&mut c, included.clone()).await;
    for (key, flag) in [
        ("refd_setl_flag", json!("1")),
        ("refd_setl_flag", json!("")),
        ("refd_setl_flag", Value::Null),
        ("REFD_SETL_FLAG", json!("1")),
    ] {
        let mut s = included.clone();
        s["data"][key] = flag;
        balanced(&mut c, s).await;
    }
    let mut excluded = statement(ZHANG.region, day, sum(&[of(&sale, 1)], 1));
    excluded["data"]["refd_setl_flag"] = "0".into();
    balanced(&mut c, excluded.clone()).await;
    // The settlement-only totals without the flag are a difference the platform names.
    excluded["data"]
        .as_object_mut()
        .unwrap()
        .remove("refd_setl_flag");
    let (rslt, dscr) = verdict(&c.call("3201", excluded).await);
    assert_eq!(rslt, "1");
    assert!(
        dscr.contains("medfee_sumamt 机构 sent 200.00 ≠ 中心 sandbox 0.00"),
        "{dscr}"
    );
    // A flag the contract does not know, or two spellings that disagree, is refused.
    let mut bad = included.clone();
    bad["data"]["refd_setl_flag"] = "2".into();
    refused(&c.call("3201", bad).await, "退费结算标志错误");
    let mut both = included.clone();
    both["data"]["refd_setl_flag"] = "0".into();
    both["data"]["REFD_SETL_FLAG"] = "1".into();
    refused(&c.call("3201", both).await, "退费结算标志冲突");
}

#[tokio::test]
async fn a_cancellation_counts_as_the_shapes_say() {
    for (count, cnt) in [
        (RefundCount::Plus, 2),
        (RefundCount::Minus, 0),
        (RefundCount::Zero, 1),
    ] {
        let mut c = Client::signed_in().await;
        c.sb.set_shapes(AnswerShapes {
            reconcile_refund_count: count,
            ..AnswerShapes::default()
        });
        let sale = c
            .call_for(
                "2102",
                &ZHANG,
                pharmacy(&ZHANG, &[("X1", "20.00")], "0", "B1"),
            )
            .await;
        ok(&c.call_for("2103", &ZHANG, cancel(&sale, &ZHANG)).await);
        let day = ("2026-11-23", "2026-11-23");
        for other in [0, 1, 2].into_iter().filter(|n| *n != cnt) {
            let s = statement(ZHANG.region, day, sum(&[], other));
            let (rslt, _) = verdict(&c.call("3201", s).await);
            assert_eq!(rslt, "1", "{count:?} counts {cnt}, not {other}");
        }
        balanced(&mut c, statement(ZHANG.region, day, sum(&[], cnt))).await;
    }
    let default: AnswerShapes = serde_json::from_value(json!({})).unwrap();
    assert_eq!(default.reconcile_refund_count, RefundCount::Plus);
}

#[tokio::test]
async fn a_settlement_at_235959_and_its_refund_after_midnight_count_on_their_own_days() {
    let mut c = Client::new().await;
    c.now = time::parse_inf_time("2026-11-23 23:59:56").unwrap();
    c.sign_in().await;
    let sale = c
        .call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "50.00")], "0", "B1"),
        )
        .await;
    settled(&sale);
    assert_eq!(
        sale["output"]["setlinfo"]["setl_time"],
        "2026-11-23 23:59:58"
    );
    c.now = time::parse_inf_time("2026-11-24 00:00:10").unwrap();
    c.sign_in().await;
    let cancelled = c.call_for("2103", &ZHANG, cancel(&sale, &ZHANG)).await;
    ok(&cancelled);
    assert_eq!(
        cancelled["output"]["setlinfo"]["setl_time"],
        "2026-11-24 00:00:12"
    );
    let first = ("2026-11-23", "2026-11-23");
    balanced(
        &mut c,
        statement(ZHANG.region, first, sum(&[of(&sale, 1)], 1)),
    )
    .await;
    let second = ("2026-11-24", "2026-11-24");
    balanced(
        &mut c,
        statement(ZHANG.region, second, sum(&[of(&sale, -1)], 1)),
    )
    .await;
    let mut second_without = statement(ZHANG.region, second, sum(&[], 0));
    second_without["data"]["refd_setl_flag"] = "0".into();
    balanced(&mut c, second_without).await;
    let both = ("2026-11-23", "2026-11-24");
    balanced(
        &mut c,
        statement(ZHANG.region, both, sum(&[of(&sale, 1), of(&sale, -1)], 2)),
    )
    .await;
    let reversed_range = statement(ZHANG.region, ("2026-11-24", "2026-11-23"), sum(&[], 0));
    refused(&c.call("3201", reversed_range).await, "对账日期错误");
}

#[tokio::test]
async fn reversals_take_lines_out() {
    let mut c = Client::signed_in().await;
    let kept = c
        .call_for(
            "2102",
            &ZHANG,
            pharmacy(&ZHANG, &[("X1", "20.00")], "0", "B1"),
        )
        .await;
    settled(&kept);
    // A settlement reversed by 2601 never counts.
    let env = c.env_for(
        "2102",
        &ZHANG,
        pharmacy(&ZHANG, &[("X1", "30.00")], "0", "B2"),
    );
    settled(&c.send(&env).await);
    let reversal = json!({"data": {"psn_no": ZHANG.psn_no, "omsgid": env.msgid, "oinfno": "2102"}});
    ok(&c.call_for("2601", &ZHANG, reversal).await);
    // A reversed cancellation leaves its settlement standing and counts no refund.
    let cancel_env = c.env_for("2103", &ZHANG, cancel(&kept, &ZHANG));
    ok(&c.send(&cancel_env).await);
    let undo =
        json!({"data": {"psn_no": ZHANG.psn_no, "omsgid": cancel_env.msgid, "oinfno": "2103"}});
    ok(&c.call_for("2601", &ZHANG, undo).await);
    let day = ("2026-11-23", "2026-11-23");
    balanced(
        &mut c,
        statement(ZHANG.region, day, sum(&[of(&kept, 1)], 1)),
    )
    .await;
}

#[tokio::test]
async fn a_statement_without_its_group_is_refused() {
    let mut c = Client::signed_in().await;
    for key in ["clr_type", "setl_optins", "insutype"] {
        let mut s = statement(ZHANG.region, ("2026-11-23", "2026-11-23"), sum(&[], 0));
        s["data"].as_object_mut().unwrap().remove(key);
        refused(&c.call("3201", s).await, "入参缺少字段");
    }
}

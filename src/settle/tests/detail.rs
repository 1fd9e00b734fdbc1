//! 3202 detail reconciliation: the pure classification of local facts against the platform's
//! result lines, and the 9101 → 3202 → 9102 run against the strict scripted platform.

use medsettle_base::pii::PsnNo;
use serde_json::json;

use super::*;
use crate::error::UserFacing;
use crate::settle::detail::{
    DetailClass, DetailError, DetailGroup, DetailOptions, MatchedBy, classify, reconcile_detail,
};
use crate::settle::facts::Fact;
use crate::settle::state::SaleKind;
use crate::upstream::Fen;
use crate::upstream::tx::statement::InEncoding;
use crate::upstream::tx::statement::file::{self, ResultLine};
use crate::upstream::tx::statement::{decode_bytes, zip};

fn fact(sale: &str, msgid: &str, setl_id: &str, medfee: i64) -> Fact {
    Fact {
        sale_id: sale.into(),
        kind: SaleKind::Pharmacy,
        refund: false,
        msgid: msgid.into(),
        setl_id: setl_id.into(),
        original_setl_id: None,
        mdtrt_id: format!("M-{setl_id}"),
        psn_no: "P11010519491231".into(),
        insutype: "310".into(),
        clr_type: "41".into(),
        clr_optins: "110199".into(),
        setl_time: Some("2026-12-02 10:00:00".into()),
        day: "2026-12-02".into(),
        medfee: Fen(medfee),
        fund: Fen(medfee / 2),
        account: Fen(medfee / 4),
        cash: Fen(medfee - medfee / 2 - medfee / 4),
        from_answer: true,
    }
}

/// The cancellation line of `f`, sharing its `setl_id` (the answer gave no own id).
fn cancellation(f: &Fact, msgid: &str) -> Fact {
    Fact {
        refund: true,
        msgid: msgid.into(),
        original_setl_id: Some(f.setl_id.clone()),
        medfee: Fen(-f.medfee.0),
        fund: Fen(-f.fund.0),
        account: Fen(-f.account.0),
        cash: Fen(-f.cash.0),
        ..f.clone()
    }
}

fn line(f: &Fact, rslt: &str) -> ResultLine {
    ResultLine {
        psn_no: PsnNo::new(f.psn_no.as_str()),
        mdtrt_id: f.mdtrt_id.clone(),
        setl_id: f.setl_id.clone(),
        msgid: f.msgid.clone(),
        stmt_rslt: rslt.into(),
        refund: f.refund,
        memo: String::new(),
        medfee_sumamt: Some(f.medfee),
        fund_pay_sumamt: Some(f.fund),
        acct_pay: Some(f.account),
    }
}

const M1: &str = "H11010500001202612021000000001";
const M2: &str = "H11010500001202612021000000002";
const M3: &str = "H11010500001202612021000000003";

#[test]
fn each_class_with_its_action() {
    let matched = fact("S-1", M1, "SETL1", 10_000);
    let local_only = fact("S-2", M2, "SETL2", 2_000);
    let differs = fact("S-3", M3, "SETL3", 3_000);
    let mut their_differs = line(&differs, "1");
    their_differs.fund_pay_sumamt = Some(Fen(1_400));
    let platform_only = ResultLine {
        memo: "医药机构无此结算".into(),
        ..line(&fact("x", "", "SETL9", 900), "1")
    };
    let entries = classify(
        &[matched.clone(), local_only, differs],
        &[line(&matched, "0"), their_differs, platform_only],
        true,
    );
    let classes: Vec<_> = entries.iter().map(|e| e.class).collect();
    assert_eq!(
        classes,
        [
            DetailClass::Matched,
            DetailClass::LocalOnly,
            DetailClass::AmountDiffers,
            DetailClass::PlatformOnly
        ]
    );
    assert!(entries[0].action.is_none());
    assert!(
        entries[1]
            .action
            .as_ref()
            .unwrap()
            .en
            .contains("medsettle queue resolve")
    );
    assert!(entries[2].action.as_ref().unwrap().en.contains("5203"));
    assert!(entries[3].action.as_ref().unwrap().en.contains("2601"));
    assert!(entries[3].action.as_ref().unwrap().zh.contains("2601"));
    assert_eq!(entries[3].setl_id, "SETL9");
    assert_eq!(entries[3].sale_id, None);
    assert_eq!(entries[3].memo.as_deref(), Some("医药机构无此结算"));
    assert_eq!(
        entries[2].platform.unwrap().fund_pay_sumamt,
        Some(Fen(1_400))
    );
    // The report never carries a clear psn_no.
    let shown = serde_json::to_string(&entries).unwrap();
    assert!(!shown.contains("P11010519491231"), "{shown}");
}

#[test]
fn msgid_pairs_first_then_setl_id() {
    let a = fact("S-1", M1, "SETL1", 1_000);
    // The platform wrote another setl_id for the same request: the msgid still pairs them.
    let mut by_msgid = line(&a, "0");
    by_msgid.setl_id = "OTHER".into();
    let e = classify(std::slice::from_ref(&a), &[by_msgid], true);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].matched_by, Some(MatchedBy::Msgid));
    assert_eq!(e[0].class, DetailClass::Matched);
    // No msgid on either side (an old document, a platform that leaves it empty): setl_id.
    let mut old = a.clone();
    old.msgid.clear();
    let mut no_msgid = line(&a, "0");
    no_msgid.msgid.clear();
    for (f, l) in [(old, line(&a, "0")), (a.clone(), no_msgid)] {
        let e = classify(&[f], &[l], true);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].matched_by, Some(MatchedBy::SetlId));
    }
    // A line with the msgid of another request does not pair by setl_id with this one's.
    let b = fact("S-2", M2, "SETL2", 1_000);
    let e = classify(std::slice::from_ref(&a), &[line(&b, "0")], true);
    assert_eq!(e[0].class, DetailClass::LocalOnly);
    assert_eq!(e[1].class, DetailClass::PlatformOnly);
}

#[test]
fn a_settlement_and_its_cancellation_are_two_lines() {
    let s = fact("S-1", M1, "SETL1", 5_000);
    let c = cancellation(&s, M2);
    // Both lines share the setl_id; msgids differ. Platform writes positive refund amounts.
    let mut their_c = line(&c, "0");
    their_c.medfee_sumamt = Some(Fen(5_000));
    let e = classify(
        &[s.clone(), c.clone()],
        &[line(&s, "0"), their_c.clone()],
        true,
    );
    assert_eq!(e.len(), 2);
    assert!(e.iter().all(|x| x.class == DetailClass::Matched), "{e:?}");
    assert!(e[1].refund);
    // Without msgids they still pair by (setl_id, refund flag), crosswise order or not.
    let strip = |mut l: ResultLine| {
        l.msgid.clear();
        l
    };
    let e = classify(
        &[s.clone(), c.clone()],
        &[strip(their_c), strip(line(&s, "0"))],
        true,
    );
    assert!(e.iter().all(|x| x.class == DetailClass::Matched), "{e:?}");
    assert!(e.iter().all(|x| x.matched_by == Some(MatchedBy::SetlId)));
    // The platform knows the settlement but not its cancellation.
    let e = classify(&[s.clone(), c], &[line(&s, "0")], true);
    assert_eq!(e[0].class, DetailClass::Matched);
    assert_eq!(e[1].class, DetailClass::LocalOnly);
    assert!(e[1].refund);
}

#[test]
fn a_flagged_line_without_amounts_is_local_only_and_absent_lines_follow_the_option() {
    let a = fact("S-1", M1, "SETL1", 1_000);
    let mut unknown = line(&a, "2");
    unknown.medfee_sumamt = None;
    unknown.fund_pay_sumamt = None;
    unknown.acct_pay = None;
    unknown.memo = "平台无此结算".into();
    let e = classify(std::slice::from_ref(&a), &[unknown], true);
    assert_eq!(e[0].class, DetailClass::LocalOnly);
    assert_eq!(e[0].stmt_rslt.as_deref(), Some("2"));
    // A platform that lists only the differences: no line means no difference.
    assert_eq!(
        classify(std::slice::from_ref(&a), &[], false)[0].class,
        DetailClass::Matched
    );
    assert_eq!(classify(&[a], &[], true)[0].class, DetailClass::LocalOnly);
}

fn options(encoding: InEncoding) -> DetailOptions {
    DetailOptions {
        fixmedins_code: FIXMEDINS.into(),
        in_encoding: encoding,
        result_lists_all: true,
    }
}

fn group() -> DetailGroup {
    DetailGroup {
        setl_optins: "110199".into(),
        clr_type: "41".into(),
        begin: "2026-12-02".into(),
        end: "2026-12-02".into(),
    }
}

#[tokio::test]
async fn the_report_runs_9101_3202_9102_and_classifies() {
    let s1 = fact("S-1", M1, "SETL1", 10_000);
    let s2 = fact("S-2", M2, "SETL2", 2_000);
    let c2 = cancellation(&s2, M3);
    let mut other_group = fact("S-4", M1, "SETL4", 500);
    other_group.clr_type = "11".into();
    let mut other_day = fact("S-5", M2, "SETL5", 500);
    other_day.day = "2026-12-03".into();
    let mut other_insutype = fact("S-6", "", "SETL6", 700);
    other_insutype.insutype = "390".into();
    let platform_only = ResultLine {
        memo: "医药机构无此结算".into(),
        ..line(&fact("x", "", "SETL9", 900), "1")
    };
    let result = file::write_result(&[
        line(&s1, "0"),
        line(&s2, "0"),
        platform_only,
        line(&other_insutype, "0"),
    ]);
    let result_zip = zip::write_single("result.txt", result.as_bytes());
    let p = ScriptedPlatform::new(FIXMEDINS)
        .expect_with(
            "9101",
            |s| {
                let node = &s.input["fsUploadIn"];
                assert_eq!(node["fixmedins_code"], FIXMEDINS);
                assert_eq!(node["filename"], "3202_H11010500001_110199_41_20261202_20261202.zip");
                assert!(node["in"].is_array(), "byte-array encoding");
                let lines = file::detail_from_zip(&decode_bytes(&node["in"]).unwrap()).unwrap();
                let ids: Vec<_> = lines.iter().map(|l| (l.setl_id.as_str(), l.refund)).collect();
                assert_eq!(
                    ids,
                    [("SETL1", false), ("SETL2", false), ("SETL2", true), ("SETL6", false)]
                );
            },
            Answer::output(json!({"file_qury_no": "U1", "filename": "x.zip", "dld_endtime": "2026-12-09 00:00:00"})),
        )
        .expect_with(
            "3202",
            |s| {
                let d = &s.input["data"];
                assert_eq!(d["setl_optins"], "110199");
                assert_eq!(d["clr_type"], "41");
                assert_eq!(d["file_qury_no"], "U1");
                assert_eq!(d["stmt_begndate"], "2026-12-02");
                // 100.00 + 20.00 - 20.00 + 7.00
                assert_eq!(d["medfee_sumamt"], "107.00");
                assert_eq!(d["fund_pay_sumamt"], "53.50");
                assert_eq!(d["cash_payamt"], "26.75");
                assert_eq!(d["fixmedins_setl_cnt"], 4);
                assert_eq!(d["refd_setl_flag"], "1");
            },
            Answer::output(json!({"fileinfo": {"file_qury_no": "R1", "filename": "r.zip", "dld_endtime": "2026-12-03 12:00:00"}})),
        )
        .expect_with(
            "9102",
            |s| {
                assert_eq!(
                    s.input,
                    json!({"fsDownloadIn": {"file_qury_no": "R1", "filename": "r.zip", "fixmedins_code": FIXMEDINS}})
                );
            },
            Answer::File(result_zip),
        );
    let facts = [s1, s2, c2, other_group, other_day, other_insutype];
    let report = reconcile_detail(&p, &group(), &facts, &options(InEncoding::Bytes), now())
        .await
        .unwrap();
    let sent = p.finish();
    assert!(sent.iter().all(|s| !s.prepared), "nothing here moves money");
    assert_eq!(report.lines_sent, 4);
    assert_eq!(report.upload_file_qury_no, "U1");
    assert_eq!(report.result_file_qury_no, "R1");
    assert_eq!(
        (
            report.counts.matched,
            report.counts.local_only,
            report.counts.platform_only,
            report.counts.amount_differs
        ),
        (3, 1, 1, 0)
    );
    assert!(!report.balanced());
    let diff: Vec<_> = report
        .differences()
        .map(|e| (e.setl_id.as_str(), e.class))
        .collect();
    assert_eq!(
        diff,
        [
            ("SETL2", DetailClass::LocalOnly),
            ("SETL9", DetailClass::PlatformOnly)
        ]
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["entries"][2]["class"], "local_only");
    assert_eq!(json["counts"]["platform_only"], 1);
}

/// 2026-12-03 10:00 CST.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 2, 0, 0).unwrap()
}

#[tokio::test]
async fn a_base64_envelope_download_and_the_failures_name_their_step() {
    let s1 = fact("S-1", M1, "SETL1", 10_000);
    let zip = zip::write_single("r.txt", file::write_result(&[line(&s1, "0")]).as_bytes());
    let p = ScriptedPlatform::new(FIXMEDINS)
        .expect_with(
            "9101",
            |s| assert!(s.input["fsUploadIn"]["in"].is_string(), "base64 encoding"),
            Answer::output(json!({"file_qury_no": "U1"})),
        )
        .expect(
            "3202",
            Answer::output(json!({"fileinfo": {"file_qury_no": "R1"}})),
        )
        .expect("9102", Answer::output(InEncoding::Base64.encode(&zip)));
    let report = reconcile_detail(
        &p,
        &group(),
        std::slice::from_ref(&s1),
        &options(InEncoding::Base64),
        now(),
    )
    .await
    .unwrap();
    p.finish();
    assert!(report.balanced());

    // A refused 3202 names its step; nothing is downloaded.
    let p = ScriptedPlatform::new(FIXMEDINS)
        .expect("9101", Answer::output(json!({"file_qury_no": "U1"})))
        .expect("3202", Answer::refused("文件查询号不存在"));
    let e = reconcile_detail(
        &p,
        &group(),
        std::slice::from_ref(&s1),
        &options(InEncoding::Base64),
        now(),
    )
    .await
    .unwrap_err();
    p.finish();
    assert!(
        matches!(&e, DetailError::Upstream { step: "3202", .. }),
        "{e:?}"
    );
    assert!(e.message_zh().contains("3202") && e.message_en().contains("3202"));

    // A result already expired is not fetched.
    let p = ScriptedPlatform::new(FIXMEDINS)
        .expect("9101", Answer::output(json!({"file_qury_no": "U1"})))
        .expect(
            "3202",
            Answer::output(
                json!({"fileinfo": {"file_qury_no": "R1", "dld_endtime": "2026-12-03 09:59:59"}}),
            ),
        );
    let e = reconcile_detail(
        &p,
        &group(),
        std::slice::from_ref(&s1),
        &options(InEncoding::Base64),
        now(),
    )
    .await
    .unwrap_err();
    p.finish();
    assert!(matches!(e, DetailError::Expired(_)), "{e:?}");
    assert_eq!(e.code(), "reconcile.detail_expired");

    // A malformed result file names its line.
    let bad = zip::write_single("r.txt", b"P1\tM1\tSETL1\n");
    let p = ScriptedPlatform::new(FIXMEDINS)
        .expect("9101", Answer::output(json!({"file_qury_no": "U1"})))
        .expect(
            "3202",
            Answer::output(json!({"fileinfo": {"file_qury_no": "R1"}})),
        )
        .expect("9102", Answer::File(bad));
    let e = reconcile_detail(&p, &group(), &[s1], &options(InEncoding::Base64), now())
        .await
        .unwrap_err();
    p.finish();
    assert!(matches!(e, DetailError::File(_)), "{e:?}");
    assert!(e.to_string().contains("line 1"), "{e}");
}

#[test]
fn a_line_paired_by_msgid_is_not_paired_again_and_lines_pair_in_file_order() {
    // Two lines of one setl_id and flag: the first carries a's msgid, the second none.
    let a = fact("S-1", M1, "SETL1", 1_000);
    let mut old = fact("S-0", "", "SETL1", 1_000);
    old.mdtrt_id = "M-OLD".into();
    let first = line(&a, "0");
    let mut second = line(&old, "0");
    second.msgid.clear();
    // `old` (no msgid) comes first and takes the first line by setl_id, though it carries
    // a's msgid; a then finds its msgid's line used and takes the next by setl_id.
    let e = classify(
        &[old.clone(), a.clone()],
        &[first.clone(), second.clone()],
        true,
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0].matched_by, Some(MatchedBy::SetlId));
    assert_eq!(e[0].platform.unwrap().medfee_sumamt, Some(Fen(1_000)));
    assert_eq!(e[1].matched_by, Some(MatchedBy::SetlId));
    assert!(e.iter().all(|x| x.class == DetailClass::Matched), "{e:?}");
    // In the other order a pairs by msgid and old takes the line left.
    let e = classify(&[a, old], &[first, second], true);
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0].matched_by, Some(MatchedBy::Msgid));
    assert_eq!(e[1].matched_by, Some(MatchedBy::SetlId));
    // Three lines for two facts: the one left over is the platform's only.
    let x = fact("S-2", M2, "SETL2", 700);
    let e = classify(
        std::slice::from_ref(&x),
        &[
            line(&x, "0"),
            line(&x, "0"),
            line(&fact("y", M3, "SETL3", 5), "1"),
        ],
        true,
    );
    let classes: Vec<_> = e.iter().map(|x| x.class).collect();
    assert_eq!(
        classes,
        [
            DetailClass::Matched,
            DetailClass::PlatformOnly,
            DetailClass::PlatformOnly
        ]
    );
}

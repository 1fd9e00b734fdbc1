use super::*;
use crate::envelope::classify;

fn settlement(fixture: &str) -> Settlement {
    classify(200, fixture.as_bytes())
        .unwrap()
        .output_as::<Settlement>()
        .unwrap()
}

fn sent(medfee: i64) -> Sent<'static> {
    Sent {
        medfee_sumamt: Fen(medfee),
        psn_no: Some("P11010519491231"),
    }
}

fn checks() -> AdvisoryChecks {
    AdvisoryChecks::default()
}

fn names(m: &[Mismatch]) -> Vec<&str> {
    m.iter().map(|m| m.check.as_str()).collect()
}

#[test]
fn an_ordinary_answer_parses_to_the_fen_and_passes_every_check() {
    let s = settlement(include_str!(
        "../../../../../fixtures/upstream/2102_response.json"
    ));
    s.check().unwrap();
    assert_eq!(s.setl_id(), Some("S110105202611230001"));
    assert_eq!(s.setlinfo.medfee_sumamt, Fen(12_850));
    assert_eq!(s.setlinfo.fund_pay_sumamt, Fen(8_030));
    assert_eq!(s.setlinfo.psn_cash_pay, Some(Fen(1_820)));
    assert_eq!(s.setlinfo.balc, Some(Fen(127_050)));
    assert_eq!(s.setldetail.len(), 2);
    assert_eq!(s.setldetail[1].fund_payamt, Fen(1_000));
    // psn_part_amt is absent: the sums that need it are not evaluated.
    assert_eq!(s.advisories(&sent(12_850), &checks()), vec![]);
    // The unknown field is kept in the answer; personal fields are not.
    assert_eq!(s.answer["a_field_this_province_adds"], "tolerated");
    assert!(s.answer.get("psn_no").is_none());
}

#[test]
fn a_hospital_share_settles_and_balances_with_the_three_part_sum() {
    // Chongqing: medfee = fund + acct + cash + hosp_part; the old three-term sum misses by
    // exactly hosp_part_amt, and setldetail does not add up to fund_pay_sumamt.
    let s = settlement(include_str!(
        "../../../../../fixtures/upstream/2102_response_hosp_part.json"
    ));
    s.check().unwrap();
    let i = &s.setlinfo;
    assert_eq!(i.medfee_sumamt, Fen(2_344_246));
    assert_eq!(i.hosp_part_amt, Some(Fen(50_501)));
    assert_eq!(i.psn_cash_pay, Some(Fen(398_202)));
    assert_eq!(i.psn_part_amt, Some(Fen(415_206)));
    assert_eq!(i.hifp_pay, Some(Fen(1_728_539)));
    assert_eq!(i.hifob_pay, Some(Fen(150_000)));
    assert_eq!((i.hifes_pay, i.hifmi_pay, i.hifdm_pay), (None, None, None));
    assert_eq!(i.acct_mulaid_pay, None, "\"\" reads as absent");
    assert_eq!(i.clr_optins.as_deref(), Some("500103"));
    assert_eq!(i.clr_type.as_deref(), Some("21"));
    assert_eq!(
        i.medins_setl_id.as_deref(),
        Some("H50010300001202611231000000051")
    );
    assert_ne!(
        i.fund_pay_sumamt.0 + i.acct_pay.0 + 398_202,
        i.medfee_sumamt.0
    );
    let details: i64 = s.setldetail.iter().map(|d| d.fund_payamt.0).sum();
    assert_ne!(details, i.fund_pay_sumamt.0, "setldetail is display only");
    assert_eq!(s.advisories(&sent(2_344_246), &checks()), vec![]);
    assert!(s.answer.get("certno").is_none() && s.answer.get("psn_name").is_none());
    assert_eq!(s.answer["hosp_part_amt"], "505.01");
    assert!(!format!("{s:?}").contains("500103199001011234"));
}

#[test]
fn an_account_only_answer_with_a_personal_account_detail_line_passes() {
    // Hebei: fund 0, acct 4.52, one setldetail line 310200 of 4.52.
    let s = settlement(include_str!(
        "../../../../../fixtures/upstream/2102_response_account_only.json"
    ));
    s.check().unwrap();
    assert_eq!(s.setlinfo.fund_pay_sumamt, Fen(0));
    assert_eq!(s.setlinfo.acct_pay, Fen(452));
    assert_eq!(s.setlinfo.psn_cash_pay, Some(Fen(0)));
    assert_eq!(s.setldetail[0].fund_payamt, Fen(452));
    assert_eq!(s.advisories(&sent(452), &checks()), vec![]);
}

#[test]
fn advisory_checks_report_and_never_refuse() {
    let s = settlement(include_str!(
        "../../../../../fixtures/upstream/2102_response_unbalanced.json"
    ));
    s.check()
        .expect("an answer that does not add up is still a settlement");
    let mut s = s;
    s.setlinfo.psn_part_amt = Some(Fen(4_000));
    let found = s.advisories(&sent(10_100), &checks());
    assert_eq!(
        names(&found),
        vec![CHECK_MEDFEE_SENT, CHECK_PSN_PART],
        "{found:?}"
    );
    assert!(found[0].detail.contains("100.00") && found[0].detail.contains("101.00"));
    // medfee 100 = fund 60 + psn_part 40: holds.
    s.setlinfo.hosp_part_amt = Some(Fen(1));
    let found = s.advisories(&sent(10_000), &checks());
    assert_eq!(names(&found), vec![CHECK_MEDFEE_PARTS, CHECK_PSN_PART]);
    // A co-payment from a family account: psn_part is not acct + cash, not evaluated.
    s.setlinfo.acct_mulaid_pay = Some(Fen(1));
    assert_eq!(
        names(&s.advisories(&sent(10_000), &checks())),
        vec![CHECK_MEDFEE_PARTS]
    );
    // Each check can be turned off.
    let off = AdvisoryChecks {
        medfee_parts: false,
        ..checks()
    };
    assert_eq!(s.advisories(&sent(10_000), &off), vec![]);
    // Another person's answer.
    let other = Sent {
        psn_no: Some("P99"),
        ..sent(10_000)
    };
    let found = s.advisories(&other, &off);
    assert_eq!(names(&found), vec![CHECK_PSN_NO]);
    assert!(!found[0].detail.contains("P11010519491231"));
}

#[test]
fn nulls_strings_and_malformed_values_never_fail_the_parse() {
    let s = Settlement::from_output(&serde_json::json!({
        "setlinfo": {
            "setl_id": 4711, "psn_no": null, "medfee_sumamt": "12.345",
            "fund_pay_sumamt": null, "acct_pay": "", "psn_cash_pay": null,
            "hosp_part_amt": [1], "insutype": {"x": 1}, "balc": "abc"
        },
        "setldetail": [ {"fund_payamt": null}, "junk", 3 ]
    }));
    s.check().unwrap();
    assert_eq!(s.setl_id(), Some("4711"));
    assert_eq!(
        s.setlinfo.medfee_sumamt,
        Fen(0),
        "malformed reads as absent"
    );
    assert_eq!(
        s.setlinfo.psn_cash_pay, None,
        "null cash: the operator decides"
    );
    assert_eq!(s.setlinfo.hosp_part_amt, None);
    assert_eq!(s.setlinfo.insutype, None);
    assert_eq!(s.setldetail.len(), 1);
    assert_eq!(s.answer["medfee_sumamt"], "12.345", "the raw value is kept");
    // No setl_id (or a blank one), no settlement.
    for output in [
        serde_json::json!({}),
        serde_json::json!({"setlinfo": "x"}),
        serde_json::json!({"setlinfo": {"setl_id": "  "}}),
        serde_json::json!(null),
    ] {
        let s = Settlement::from_output(&output);
        let e = s.check().unwrap_err();
        assert!(e.outcome_unknown(), "{e}");
    }
}

#[test]
fn cancellation_answers_in_every_public_shape_give_the_refunded_cash() {
    let cases = [
        (
            include_str!("../../../../../fixtures/upstream/2103_response.json"),
            "S110105202611230002",
            Some(Fen(1_820)),
        ),
        (
            include_str!("../../../../../fixtures/upstream/2103_response_public.json"),
            "S110105202611230082",
            Some(Fen(1_820)),
        ),
        (
            include_str!("../../../../../fixtures/upstream/2208_response_pdn_cash_pay.json"),
            "S110105202611230072",
            Some(Fen(1_820)),
        ),
        (
            include_str!("../../../../../fixtures/upstream/2305_response_camel.json"),
            "S500103202611230092",
            Some(Fen(398_202)),
        ),
    ];
    for (fixture, setl_id, cash) in cases {
        let s = settlement(fixture);
        assert_eq!(s.setl_id(), Some(setl_id));
        assert_eq!(s.cash_refunded(), cash, "{setl_id}");
    }
    let public = settlement(include_str!(
        "../../../../../fixtures/upstream/2103_response_public.json"
    ));
    assert_eq!(public.setlinfo.psn_pay, Some(Fen(-4_820)));
    assert_eq!(public.setlinfo.psn_cash_pay, None);
    assert_eq!(public.setlinfo.psn_part_amt, None);
    // psn_cash_pay first, then pdn_cash_pay, cash_payamt, cashPayamt.
    let s = Settlement::from_output(&serde_json::json!({"setlinfo": {
        "cash_payamt": "-2.00", "cashPayamt": "-3.00", "pdn_cash_pay": "-1.00"
    }}));
    assert_eq!(s.cash_refunded(), Some(Fen(100)));
    let none = Settlement::from_output(&serde_json::json!({"setlinfo": {"psn_pay": "-4"}}));
    assert_eq!(none.cash_refunded(), None);
}

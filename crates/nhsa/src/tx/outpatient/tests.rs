//! Tests of the outpatient family against the fixtures in `fixtures/upstream/22*`.

use super::*;
use crate::envelope::classify;
use crate::tx::fee::tests::line;

const TOKEN: &str = "0123456789ABCDEF0123456789ABCDEF01234567";
const MDTRT_ID: &str = "M110105202611230001";

fn json(fixture: &str) -> serde_json::Value {
    serde_json::from_str(fixture).unwrap()
}

fn output<T: serde::de::DeserializeOwned>(fixture: &[u8]) -> T {
    classify(200, fixture).unwrap().output_as().unwrap()
}

fn presettle() -> OutpatientInput {
    OutpatientInput {
        data: OutpatientSettle {
            psn_no: "P11010519491231".into(),
            mdtrt_cert_type: CertType::EVoucher,
            mdtrt_cert_no: TOKEN.into(),
            med_type: "11".into(),
            medfee_sumamt: Fen(3_500),
            psn_setlway: "01".into(),
            mdtrt_id: MDTRT_ID.into(),
            chrg_bchno: "CB20261123000001".into(),
            acct_used_flag: false,
            insutype: "310".into(),
            invono: None,
            fulamt_ownpay_amt: None,
            overlmt_selfpay: None,
            preselfpay_amt: None,
            inscp_scp_amt: None,
            trace_counts: None,
        },
    }
}

fn upload_lines() -> Vec<FeeDetail> {
    let mut lines = vec![
        line("1", "001102000010000-110200001", "1", "10"),
        line("2", "XJ01CAA040A001010104459", "2", "12.5"),
    ];
    for l in &mut lines {
        l.mdtrt_id = MDTRT_ID.into();
        l.rxno = "RX20261123000001".into();
        l.bilg_dept_codg = "A03".into();
        l.bilg_dept_name = "内科".into();
        l.bilg_dr_codg = "D110105000001".into();
        l.bilg_dr_name = "李医生".into();
    }
    lines
}

#[test]
fn registration_round_trip() {
    let input = RegistrationInput {
        data: Registration {
            psn_no: "P11010519491231".into(),
            insutype: "310".into(),
            begntime: "2026-11-23 09:30:00".into(),
            mdtrt_cert_type: CertType::EVoucher,
            mdtrt_cert_no: TOKEN.into(),
            ipt_otp_no: "MZ20261123000001".into(),
            atddr_no: "D110105000001".into(),
            dr_name: "李医生".into(),
            dept_code: "A03".into(),
            dept_name: "内科".into(),
            caty: "A03".into(),
        },
    };
    let expected = json(include_str!(
        "../../../../../fixtures/upstream/2201_input.json"
    ));
    assert_eq!(serde_json::to_value(&input).unwrap(), expected);
    assert!(!format!("{input:?}").contains(TOKEN));

    let out: RegistrationOutput = output(include_bytes!(
        "../../../../../fixtures/upstream/2201_response.json"
    ));
    assert_eq!(out.mdtrt_id().unwrap(), MDTRT_ID);
    assert_eq!(out.data.ipt_otp_no.as_deref(), Some("20261123000001"));
    let empty: RegistrationOutput = output(br#"{"infcode":0,"output":{"data":{"mdtrt_id":""}}}"#);
    assert_eq!(
        empty.mdtrt_id(),
        Err(UpstreamError::Protocol {
            detail: "output.data.mdtrt_id: missing".into()
        })
    );
    let none: RegistrationOutput = output(br#"{"infcode":0,"output":{}}"#);
    assert!(none.mdtrt_id().is_err());
}

#[test]
fn fee_upload_serialises_checked_lines() {
    let input = FeeUploadInput::new(upload_lines()).unwrap();
    assert_eq!(input.total(), Fen(3_500));
    assert_eq!(input.lines().len(), 2);
    let expected = json(include_str!(
        "../../../../../fixtures/upstream/2204_input.json"
    ));
    assert_eq!(serde_json::to_value(&input).unwrap(), expected);

    let mut without_visit = upload_lines();
    without_visit[1].mdtrt_id.clear();
    assert_eq!(
        FeeUploadInput::new(without_visit),
        Err(FeeError::MissingField {
            feedetl_sn: "2".into(),
            field: "mdtrt_id"
        })
    );
    let mut wrong = upload_lines();
    wrong[0].det_item_fee_sumamt = Fen(1_001);
    assert!(matches!(
        FeeUploadInput::new(wrong),
        Err(FeeError::LineMismatch { .. })
    ));
    assert_eq!(FeeUploadInput::new(vec![]), Err(FeeError::Empty));
}

#[test]
fn fee_upload_answer_decodes_leniently() {
    let out: FeeUploadOutput = output(include_bytes!(
        "../../../../../fixtures/upstream/2204_response.json"
    ));
    let [first, second] = &out.result[..] else {
        panic!("two results expected: {out:?}")
    };
    assert_eq!(first.feedetl_sn.as_deref(), Some("1"));
    assert_eq!(first.cnt, Some(Qty(10_000)));
    assert_eq!(first.pric, Some(Price(10_000_000)));
    assert_eq!(first.pric_uplmt_amt, Some(Price(999_999_000_000)));
    assert_eq!(first.selfpay_prop.as_deref(), Some("0"));
    assert_eq!(first.chrgitm_lv.as_deref(), Some("01"));
    assert_eq!(second.feedetl_sn.as_deref(), Some("2"), "number as text");
    assert_eq!(second.det_item_fee_sumamt, Some(Fen(2_500)));
    assert_eq!(second.pric, Some(Price(12_500_000)));
    assert_eq!(
        second.selfpay_prop.as_deref(),
        Some("0.1"),
        "ratio kept as text"
    );
    assert_eq!(second.preselfpay_amt, Some(Fen(250)));
    assert_eq!(second.pric_uplmt_amt, None);
    assert_eq!(second.overlmt_amt, None);
    assert_eq!(second.med_chrgitm_type, None);
    let none: FeeUploadOutput = output(br#"{"infcode":0,"output":{}}"#);
    assert!(none.result.is_empty());
    let bad = classify(200, br#"{"infcode":0,"output":{"result":[{"pric":"-1"}]}}"#).unwrap();
    assert!(bad.output_as::<FeeUploadOutput>().is_err());
}

#[test]
fn presettle_and_settle_serialise_as_the_fixtures() {
    let input = presettle();
    assert_eq!(input.infno(), OUTPATIENT_PRESETTLE);
    let expected = json(include_str!(
        "../../../../../fixtures/upstream/2206_input.json"
    ));
    assert_eq!(serde_json::to_value(&input).unwrap(), expected);

    let answer: Settlement = output(include_bytes!(
        "../../../../../fixtures/upstream/2206_response.json"
    ));
    assert!(answer.check().is_err(), "a pre-settlement has no setl_id");
    assert_eq!(answer.setlinfo.psn_cash_pay, Some(Fen(1_225)));
    let settle = input.into_settle("INV20261123000001", &answer).unwrap();
    assert_eq!(settle.infno(), OUTPATIENT_SETTLE);
    let expected = json(include_str!(
        "../../../../../fixtures/upstream/2207_input.json"
    ));
    assert_eq!(serde_json::to_value(&settle).unwrap(), expected);
    let shown = format!("{settle:?}");
    assert!(!shown.contains(TOKEN) && shown.contains("2207"), "{shown}");
}

#[test]
fn settle_refuses_an_answer_for_another_sale() {
    let answer: Settlement = output(include_bytes!(
        "../../../../../fixtures/upstream/2206_response.json"
    ));
    let mut other_total = presettle();
    other_total.data.medfee_sumamt = Fen(3_501);
    assert!(other_total.into_settle("I", &answer).is_err());
    let mut other_visit = presettle();
    other_visit.data.mdtrt_id = "M2".into();
    assert!(other_visit.into_settle("I", &answer).is_err());
    // An estimate whose parts do not add up is still an estimate (upstream.md: no arithmetic
    // check refuses an answer); 2207 carries its amounts on.
    let mut unbalanced = answer.clone();
    unbalanced.setlinfo.acct_pay = Fen(1);
    presettle().into_settle("I", &unbalanced).unwrap();
}

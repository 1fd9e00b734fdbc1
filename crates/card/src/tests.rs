//! Transcript-driven tests of the whole card application: one `fixtures/apdu/*.txt` per case,
//! replayed by the strict [`ScriptedTransport`], with the APDU count asserted for each.

use chrono::NaiveDate;

use crate::script::ScriptedTransport;
use crate::ssc::{self, AuthPolicy, ReadOptions, ReadStyle};
use crate::two_step;
use crate::{CardError, Interface, Pin, Sex, TerminalIds, TransportError, VirtualPsam};
use medsettle_base::UserFacing;

macro_rules! transcript {
    ($name:literal) => {
        ScriptedTransport::parse(include_str!(concat!(
            "../../../fixtures/apdu/",
            $name,
            ".txt"
        )))
        .expect($name)
    };
}

fn d(y: i32, m: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, day)
}

fn term() -> TerminalIds {
    TerminalIds {
        terminal_no: "T01".into(),
        device_no: "D01".into(),
    }
}

const LINE_A: &str = "110100|11010519491231002X|X00000019|110100D156000005A1B2C3D4E5F60718|王秀英|\
                      4D534153534533304E010000|3.00|20240315|20340315|T01|D01|";

#[test]
fn normal_card_in_13_apdus() {
    let mut t = transcript!("normal");
    let read = ssc::read_card(&mut t, &ReadOptions::default()).unwrap();
    assert_eq!(read.apdus, 13);
    assert!(!read.aid_missing && !read.authenticated && !read.holder_protected);
    assert_eq!(read.style, ReadStyle::RecordThenTag);
    let r = &read.record;
    assert_eq!(r.region, "110100");
    assert_eq!(r.card_no, "X00000019");
    assert_eq!(r.spec_version, "3.00");
    assert_eq!(
        (r.issue_date, r.expiry_date),
        (d(2024, 3, 15), d(2034, 3, 15))
    );
    assert_eq!(r.interface, Interface::Contact);
    let h = r.holder.as_ref().unwrap();
    assert_eq!(h.id_number, "11010519491231002X");
    assert_eq!(h.name, "王秀英");
    assert_eq!(
        (h.sex, h.nation, h.birth_date),
        (Sex::Female, 1, d(1949, 12, 31))
    );
    assert_eq!(r.ireadcardbas_line(&term()), LINE_A);
}

#[test]
fn aid_6a82_is_tolerated() {
    let mut t = transcript!("aid_6a82");
    let read = ssc::read_card(&mut t, &ReadOptions::default()).unwrap();
    assert!(read.aid_missing);
    assert_eq!(read.apdus, 13);
    assert_eq!(read.record.ireadcardbas_line(&term()), LINE_A);
}

#[test]
fn no_application_and_no_ef05_is_not_a_social_security_card() {
    let mut t = transcript!("not_ssc");
    let e = ssc::read_card(&mut t, &ReadOptions::default()).unwrap_err();
    assert_eq!(e.code(), "card.not_ssc");
}

#[test]
fn by_record_falls_back_to_by_tag_once() {
    let mut t = transcript!("fallback_by_tag");
    let read = ssc::read_card(&mut t, &ReadOptions::default()).unwrap();
    assert_eq!(read.apdus, 14);
    assert_eq!(read.style, ReadStyle::TagThenRecord);
    let r = &read.record;
    assert_eq!(r.interface, Interface::Contactless);
    assert_eq!(
        r.atr_historical,
        "804F0CA0000003060300030000000068"[..30].to_owned()
    );
    let h = r.holder.as_ref().unwrap();
    assert_eq!((h.name.as_str(), h.sex), ("李建国", Sex::Male));
    assert_eq!(r.spec_version, "2.00");
}

#[test]
fn tag_only_style_is_a_quirk_setting() {
    // The same card read with the style preset: no refused APDU.
    let text = include_str!("../../../fixtures/apdu/fallback_by_tag.txt")
        .replace("> 00B2010412\n< 6A83\n", "");
    let mut t = ScriptedTransport::parse(&text).unwrap();
    let opts = ReadOptions {
        style: ReadStyle::TagOnly,
        ..Default::default()
    };
    let read = ssc::read_card(&mut t, &opts).unwrap();
    assert_eq!(read.apdus, 13);
}

#[test]
fn get_response_chains() {
    let mut t = transcript!("chaining_61xx");
    let read = ssc::read_card(&mut t, &ReadOptions::default()).unwrap();
    assert_eq!(read.apdus, 16);
    assert_eq!(read.record.ireadcardbas_line(&term()), LINE_A);
}

#[test]
fn wrong_length_is_resent() {
    let mut t = transcript!("wrong_length_6c");
    let read = ssc::read_card(&mut t, &ReadOptions::default()).unwrap();
    assert_eq!(read.apdus, 14);
    assert_eq!(read.record.holder.unwrap().name, "王秀英");
}

#[test]
fn select_ef_p1_fallback() {
    let mut t = transcript!("select_ef_p1_00");
    let read = ssc::read_card(&mut t, &ReadOptions::default()).unwrap();
    assert_eq!(read.apdus, 15);
}

#[test]
fn pin_accepted_wrong_and_blocked() {
    let mut t = transcript!("with_pin");
    let pin = Pin::new("123456").unwrap();
    let read = ssc::read_card_with(&mut t, &ReadOptions::default(), Some(&pin), None).unwrap();
    assert_eq!(read.apdus, 14);

    let bad = Pin::new("000000").unwrap();
    let mut t = transcript!("pin_wrong");
    let e = ssc::read_card_with(&mut t, &ReadOptions::default(), Some(&bad), None).unwrap_err();
    assert_eq!(e, CardError::PinWrong { tries_left: 2 });
    assert_eq!(e.code(), "card.pin_wrong");

    let mut t = transcript!("pin_blocked");
    let e = ssc::read_card_with(&mut t, &ReadOptions::default(), Some(&bad), None).unwrap_err();
    assert_eq!(e, CardError::PinBlocked);
}

#[test]
fn removed_mid_read() {
    let mut t = transcript!("removed");
    let e = ssc::read_card(&mut t, &ReadOptions::default()).unwrap_err();
    assert_eq!(e, CardError::Transport(TransportError::CardRemoved));
    assert_eq!(e.code(), "card.removed");
    assert!(e.is_retryable());
}

#[test]
fn garbled_tlv_is_malformed_not_a_panic() {
    let mut t = transcript!("garbled_tlv");
    let e = ssc::read_card(&mut t, &ReadOptions::default()).unwrap_err();
    assert!(
        matches!(
            e,
            CardError::Malformed {
                file: 0xEF05,
                tag: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.code(), "card.data_malformed");
}

#[test]
fn protected_holder_without_module() {
    let mut t = transcript!("protected_ef06");
    let read = ssc::read_card(&mut t, &ReadOptions::default()).unwrap();
    assert_eq!(read.apdus, 8);
    assert!(read.holder_protected && read.record.holder.is_none());
    assert_eq!(
        read.record.ireadcardbas_step1_line(&term()),
        "110100|||110100D156000005A1B2C3D4E5F60718||4D534153534533304E010000|3.00|20240315|20340315|T01|D01|"
    );
    let mut t = transcript!("protected_ef06");
    let opts = ReadOptions {
        require_holder: true,
        ..Default::default()
    };
    assert_eq!(
        ssc::read_card(&mut t, &opts).unwrap_err(),
        CardError::AuthRequired
    );
}

#[test]
fn authenticates_on_demand_with_the_virtual_psam() {
    let mut t = transcript!("auth_on_demand");
    let mut psam = VirtualPsam::new();
    let read = ssc::read_card_with(&mut t, &ReadOptions::default(), None, Some(&mut psam)).unwrap();
    assert_eq!(read.apdus, 16);
    assert!(read.authenticated && !read.holder_protected);
    assert_eq!(read.record.ireadcardbas_line(&term()), LINE_A);
}

#[test]
fn auth_policy_never_skips_the_module() {
    let mut t = transcript!("protected_ef06");
    let mut psam = VirtualPsam::new();
    let opts = ReadOptions {
        auth: AuthPolicy::Never,
        ..Default::default()
    };
    let read = ssc::read_card_with(&mut t, &opts, None, Some(&mut psam)).unwrap();
    assert!(read.holder_protected && !read.authenticated);
}

#[test]
fn auth_policy_before_authenticates_first() {
    // Same card, authenticating before EF06 is even tried: the 6982 round trip disappears.
    let text = include_str!("../../../fixtures/apdu/auth_on_demand.txt").replacen(
        "> 00A4020002EF06\n< 6982\n",
        "",
        1,
    );
    let mut t = ScriptedTransport::parse(&text).unwrap();
    let mut psam = VirtualPsam::new();
    let opts = ReadOptions {
        auth: AuthPolicy::Before,
        ..Default::default()
    };
    let read = ssc::read_card_with(&mut t, &opts, None, Some(&mut psam)).unwrap();
    assert_eq!(read.apdus, 15);
    assert!(read.authenticated);
}

#[test]
fn refused_authentication() {
    let mut t = transcript!("auth_refused");
    let mut psam = VirtualPsam::new();
    let e =
        ssc::read_card_with(&mut t, &ReadOptions::default(), None, Some(&mut psam)).unwrap_err();
    assert_eq!(e.code(), "card.auth_failed");
}

#[test]
fn two_step_hsm_flow() {
    let mut t = transcript!("two_step");
    let (step1, challenge) = two_step::two_step_begin(&mut t, &ReadOptions::default()).unwrap();
    assert_eq!(challenge, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(step1.record.holder.is_none());
    assert_eq!(step1.apdus, 8);
    let cryptogram: [u8; 16] = hex::decode("00112233445566778899AABBCCDDEEFF")
        .unwrap()
        .try_into()
        .unwrap();
    let read = two_step::two_step_finish(&mut t, step1, 0x0A, &cryptogram).unwrap();
    assert_eq!(read.apdus, 15);
    assert_eq!(read.record.ireadcardbas_line(&term()), LINE_A);
}

#[test]
fn every_transcript_parses() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/apdu"));
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "txt") {
            continue;
        }
        let mut t = ScriptedTransport::from_file(&path).unwrap();
        t.allow_unfinished();
        n += 1;
    }
    assert!(n >= 16);
}

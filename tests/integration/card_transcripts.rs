//! The card boundary through the public API only: a transcript replayed by the strict
//! `card::script::ScriptedTransport`, read by `card::read_card`, validated by `credential`,
//! rendered as the `iReadCardBas` line — the path the reader thread and the API will take.

use std::path::Path;

use chrono::NaiveDate;
use medsettle::card::script::ScriptedTransport;
use medsettle::card::{ReadOptions, TerminalIds, read_card};
use medsettle::credential::{Blacklist, Policy, validate};
use medsettle::error::UserFacing;

fn transcript(name: &str) -> ScriptedTransport {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/apdu")
        .join(name);
    ScriptedTransport::from_file(&path).unwrap()
}

#[test]
fn read_validate_and_render() {
    let mut t = transcript("normal.txt");
    let read = read_card(&mut t, &ReadOptions::default()).unwrap();
    assert_eq!(read.apdus, 13);
    let today = NaiveDate::from_ymd_opt(2026, 1, 10).unwrap();
    validate(
        &read.record,
        &Policy::default(),
        &Blacklist::default(),
        today,
    )
    .unwrap();
    let terminal = TerminalIds {
        terminal_no: "T01".into(),
        device_no: "D01".into(),
    };
    let line = read.record.ireadcardbas_line(&terminal);
    assert!(
        line.starts_with("110100|11010519491231002X|X00000019|"),
        "{line}"
    );
    assert_eq!(line.matches('|').count(), 11);
    // Logging the record never shows the holder in clear.
    assert!(!format!("{:?}", read.record).contains("11010519491231002X"));
}

#[test]
fn an_expired_card_is_refused_with_a_stable_code() {
    let mut t = transcript("fallback_by_tag.txt");
    let read = read_card(&mut t, &ReadOptions::default()).unwrap();
    let later = NaiveDate::from_ymd_opt(2030, 1, 1).unwrap();
    let e = validate(
        &read.record,
        &Policy::default(),
        &Blacklist::default(),
        later,
    )
    .unwrap_err();
    assert_eq!(e.code(), "card.expired");
    assert!(e.message_zh().contains("2029-06-01"));
}

//! Pure tests of the virtual card's APDU behaviour against the fixtures.

use super::*;
use crate::profile::Profile;

fn card(fixture: &str) -> VirtualCard {
    let path = format!(
        "{}/../../fixtures/cards/{fixture}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    VirtualCard::from_profile(Profile::load(path).unwrap()).unwrap()
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn x(card: &mut VirtualCard, apdu: &str) -> String {
    hex::encode_upper(card.respond(&h(apdu)))
}

const SELECT_AID: &str = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF";

#[test]
fn aid_is_ascii_then_gbk() {
    assert_eq!(&SSSE_AID[..7], b"sx1.sh.");
    let (s, _, bad) = encoding_rs::GBK.decode(&SSSE_AID[7..]);
    assert!(!bad);
    assert_eq!(s, "社会保障");
}

#[test]
fn normal_card_reads_both_styles() {
    let mut c = card("normal");
    assert_eq!(x(&mut c, SELECT_AID), "9000");
    assert_eq!(x(&mut c, "00A4020002EF05"), "9000");
    assert_eq!(
        x(&mut c, "00B2010400"),
        "0110110105D15600000500A1B2C3D4E5F6019000"
    );
    assert_eq!(x(&mut c, "00B2070000"), "07094D31323334353637389000");
    assert_eq!(x(&mut c, "00B2060400"), "0604203103159000");
    assert_eq!(x(&mut c, "00B2030400"), "0304332E30309000");
    assert_eq!(x(&mut c, "00B2080400"), "6A83");
    // P1=00 form of SELECT EF.
    assert_eq!(x(&mut c, "00A4000002EF06"), "9000");
    assert_eq!(
        x(&mut c, "00B2080000"),
        "08123131303130353139393030333037313233399000"
    );
    assert_eq!(&x(&mut c, "00B2020400")[..12], "091EB2E2CAD4");
    assert_eq!(x(&mut c, "00B2030400"), "6A83", "EF06 has no record 3");
    assert_eq!(x(&mut c, "00B20D0000"), "0D04199003079000");
    assert_eq!(x(&mut c, "00B20C0000"), "0C031101059000");
    assert_eq!(x(&mut c, "00B20A0000"), "0A01319000");
}

#[test]
fn name_is_gbk_padded_to_30() {
    let mut c = card("normal");
    x(&mut c, SELECT_AID);
    x(&mut c, "00A4020002EF06");
    let r = c.respond(&h("00B2020400"));
    assert_eq!(r.len(), 2 + 30 + 2);
    let (name, _, _) = encoding_rs::GBK.decode(&r[2..32]);
    assert_eq!(name.trim_end_matches('\0'), "测试张三");
    let mut cl = card("contactless");
    x(&mut cl, SELECT_AID);
    x(&mut cl, "00A4020002EF06");
    let r = cl.respond(&h("00B2020400"));
    assert_eq!(r[31], b' ', "space padding");
}

#[test]
fn ef_needs_application_unless_quirk() {
    let mut c = card("normal");
    assert_eq!(x(&mut c, "00A4020002EF05"), "6A82");
    assert_eq!(x(&mut c, "00B2010400"), "6986");
    assert_eq!(
        x(&mut c, "00A404000F7378312E73682EC9E7BBE1B1A3D5CE"),
        "6A82"
    );
    let mut q = card("quirk_select_6a82");
    assert_eq!(x(&mut q, SELECT_AID), "6A82");
    assert_eq!(x(&mut q, "00A4020002EF05"), "9000");
    assert_eq!(&x(&mut q, "00B2010400")[..4], "0110");
}

#[test]
fn by_tag_only_card_refuses_record_numbers() {
    let mut c = card("read_by_tag_only");
    x(&mut c, SELECT_AID);
    x(&mut c, "00A4020002EF05");
    assert_eq!(x(&mut c, "00B2010400"), "6A81");
    assert_eq!(&x(&mut c, "00B2010000")[..4], "0110");
}

#[test]
fn chaining_card_answers_61xx_then_get_response() {
    let mut c = card("chaining_61xx");
    x(&mut c, SELECT_AID);
    x(&mut c, "00A4020002EF05");
    assert_eq!(x(&mut c, "00B2070400"), "610B");
    assert_eq!(x(&mut c, "00C0000004"), "07094D316107");
    assert_eq!(x(&mut c, "00C0000007"), "323334353637389000");
    assert_eq!(x(&mut c, "00C0000007"), "6985", "nothing pending");
    // Another command drops what was pending.
    assert_eq!(x(&mut c, "00B2070400"), "610B");
    x(&mut c, "00A4020002EF05");
    assert_eq!(x(&mut c, "00C000000B"), "6985");
}

#[test]
fn exact_le_card_answers_6cxx() {
    let mut c = card("wrong_le_6cxx");
    x(&mut c, SELECT_AID);
    x(&mut c, "00A4020002EF05");
    assert_eq!(x(&mut c, "00B2070400"), "6C0B");
    assert_eq!(x(&mut c, "00B2070405"), "6C0B");
    assert_eq!(x(&mut c, "00B207040B"), "07094D31323334353637389000");
    // A direct card answers 6Cxx only to a short non-zero Le.
    let mut d = card("normal");
    x(&mut d, SELECT_AID);
    x(&mut d, "00A4020002EF05");
    assert_eq!(x(&mut d, "00B2070405"), "6C0B");
    assert_eq!(x(&mut d, "00B2070420"), "07094D31323334353637389000");
}

#[test]
fn pin_tries_count_down_and_block() {
    let mut c = card("pin_wrong_left_2");
    x(&mut c, SELECT_AID);
    x(&mut c, "00A4020002EF06");
    assert_eq!(x(&mut c, "00B2010400"), "6982");
    assert_eq!(x(&mut c, "00200000"), "63C3");
    assert_eq!(x(&mut c, "0020000003000000"), "63C2");
    assert_eq!(x(&mut c, "0020000003123456"), "9000");
    assert_eq!(c.pin_tries_left(), 3);
    assert_eq!(&x(&mut c, "00B2010400")[..4], "0812");
    c.reset();
    assert_eq!(x(&mut c, "0020000003000000"), "63C2");
    assert_eq!(x(&mut c, "0020000003000000"), "63C1");
    assert_eq!(x(&mut c, "0020000003000000"), "63C0");
    assert_eq!(x(&mut c, "0020000003123456"), "6983");
    let mut b = card("pin_blocked");
    assert_eq!(x(&mut b, "0020000003123456"), "6983");
}

#[test]
fn external_authenticate_with_the_sm4_test_key() {
    let mut c = card("auth_required");
    x(&mut c, SELECT_AID);
    x(&mut c, "00A4020002EF06");
    assert_eq!(x(&mut c, "00B2010400"), "6982");
    assert_eq!(
        x(&mut c, "0082000A1000000000000000000000000000000000"),
        "6985"
    );
    let r = c.respond(&h("0084000008"));
    assert_eq!(&r[8..], &[0x90, 0x00]);
    let challenge: [u8; 8] = r[..8].try_into().unwrap();
    let master: [u8; 16] = h("6D6564736574746C652D767073616D21").try_into().unwrap();
    let card_id: [u8; 16] = h(&c.profile().ef05.card_id).try_into().unwrap();
    let key = crate::auth::card_key(&master, &card_id);
    let good = crate::auth::cryptogram(&key, &challenge);
    let mut wrong = good;
    wrong[0] ^= 1;
    let mut apdu = h("0082000A10");
    apdu.extend_from_slice(&wrong);
    assert_eq!(hex::encode_upper(c.respond(&apdu)), "6300");
    // The challenge is used up by a failed attempt.
    let r = c.respond(&h("0084000008"));
    let challenge: [u8; 8] = r[..8].try_into().unwrap();
    let mut apdu = h("0082000A10");
    apdu.extend_from_slice(&crate::auth::cryptogram(&key, &challenge));
    assert_eq!(hex::encode_upper(c.respond(&apdu)), "9000");
    assert_eq!(&x(&mut c, "00B2010400")[..4], "0812");
    c.reset();
    x(&mut c, SELECT_AID);
    x(&mut c, "00A4020002EF06");
    assert_eq!(
        x(&mut c, "00B2010400"),
        "6982",
        "reset clears authentication"
    );
}

#[test]
fn garbled_record_is_served_raw() {
    let mut c = card("garbled_tlv");
    x(&mut c, SELECT_AID);
    x(&mut c, "00A4020002EF06");
    assert_eq!(x(&mut c, "00B2020400"), "0930B2E2CAD49000");
}

#[test]
fn removal_fault_after_n_apdus() {
    let mut c = card("removed_mid_read");
    for apdu in [SELECT_AID, "00A4020002EF05", "00B2010400"] {
        assert!(matches!(c.process(&h(apdu)), CardAction::Reply(_)));
    }
    assert_eq!(c.process(&h("00B2020400")), CardAction::Remove);
    c.inserted();
    assert!(matches!(c.process(&h(SELECT_AID)), CardAction::Reply(_)));
}

#[test]
fn malformed_and_unknown_commands() {
    let mut c = card("normal");
    assert_eq!(x(&mut c, "00A4"), "6700");
    assert_eq!(x(&mut c, "00A404000F7378"), "6700");
    assert_eq!(x(&mut c, "80A40400"), "6E00");
    assert_eq!(x(&mut c, "00CA000000"), "6D00");
    assert_eq!(x(&mut c, "0084000008"), "6D00", "no auth key on this card");
    assert_eq!(x(&mut c, "0020000003123456"), "6A88", "no PIN on this card");
}

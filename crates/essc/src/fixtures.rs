//! The e-SSC fixtures (`fixtures/qr/essc/`): their generator, and the check that they are current.
//!
//! `cases.json` holds a TEST ONLY issuer key pair and one code per verification outcome, minted
//! at a fixed clock. Signing is deterministic, so [`fixtures_are_current`] regenerates the file
//! and compares; run it with `MEDSETTLE_WRITE_FIXTURES=1` to rewrite it after a deliberate
//! change. `tests.rs` runs them. `gmssl.json` comes from `scripts/gmssl_sign_essc.py`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::*;

pub(super) const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/qr/essc");
/// TEST ONLY keys: published in this repository, never to be configured on a terminal.
const TEST_SECRET: &str = "fedc2d4333384592ea5c921e42c2736e57a1ca07fdff3ef7efe905a9824a6aad";
const OTHER_SECRET: &str = "5b1c0d8e3f7a69248e0c1d2b3a495867f0e1d2c3b4a5968778695a4b3c2d1e0f";
pub(super) const KID: &str = "test-2026";
/// 2026-01-01T00:00:00Z: every code is issued then.
pub(super) const T: i64 = 1_767_225_600;
const SKEW: i64 = 30;

#[derive(Serialize, Deserialize, PartialEq, Debug)]
pub(super) struct File {
    pub(super) _comment: String,
    pub(super) kid: String,
    pub(super) secret_key_hex: String,
    pub(super) public_key_hex: String,
    pub(super) skew: i64,
    pub(super) cases: Vec<Case>,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
pub(super) struct Case {
    pub(super) name: String,
    /// `ok` or the expected error code.
    pub(super) expect: String,
    pub(super) now: i64,
    /// The nonce was already used on this terminal.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) seen_before: bool,
    pub(super) code: String,
}

fn base() -> Value {
    json!({"v": 1, "kid": KID, "sn": "11010519491231002X", "nm": "张三", "cn": "A12345678",
           "ad": "110105", "iat": T, "exp": T + 120, "nonce": "00112233445566778899aabbccddeeff"})
}

fn with(changes: &[(&str, Value)]) -> Vec<u8> {
    let mut v = base();
    for (k, val) in changes {
        v[*k] = val.clone();
    }
    serde_json::to_vec(&v).unwrap()
}

fn generate() -> File {
    let issuer = Issuer::from_secret_hex(KID, TEST_SECRET).unwrap();
    let other = Issuer::from_secret_hex(KID, OTHER_SECRET).unwrap();
    let valid = issuer.mint_raw(&with(&[]));
    let (signed, sig) = valid.rsplit_once('.').unwrap();
    let mut flipped =
        base64::Engine::decode(&base64::prelude::BASE64_URL_SAFE_NO_PAD, sig).unwrap();
    flipped[10] ^= 0x01;
    let flipped = payload::join(signed, &flipped);
    let dup = br#"{"v":1,"kid":"test-2026","sn":"11010519491231002X","sn":"440524188001010014","nm":"x","cn":"A1","ad":"110105","iat":1767225600,"exp":1767225720,"nonce":"00112233445566778899aabbccddeeff"}"#;
    let now = T + 60;
    let case = |name: &str, expect: &str, now: i64, code: String| Case {
        name: name.into(),
        expect: expect.into(),
        now,
        seen_before: false,
        code,
    };
    let mut cases = vec![
        case("valid", "ok", now, valid.clone()),
        case(
            "valid_unknown_field",
            "ok",
            now,
            issuer.mint_raw(&with(&[("prov", json!("gd"))])),
        ),
        case(
            "valid_lifetime_300",
            "ok",
            now,
            issuer.mint_raw(&with(&[("exp", json!(T + 300))])),
        ),
        case("valid_skew_early_edge", "ok", T - SKEW, valid.clone()),
        case("valid_skew_late_edge", "ok", T + 120 + SKEW, valid.clone()),
        case("format_no_signature", "essc.format", now, signed.to_owned()),
        case(
            "format_extra_part",
            "essc.format",
            now,
            format!("{valid}.AAAA"),
        ),
        case(
            "format_lowercase_prefix",
            "essc.format",
            now,
            valid.replacen("ESSC1", "essc1", 1),
        ),
        case(
            "base64_payload_padding",
            "essc.base64",
            now,
            valid.replacen('.', ".=", 1),
        ),
        case(
            "base64_signature_std_alphabet",
            "essc.base64",
            now,
            format!("{signed}.ab+/"),
        ),
        case("json_not_json", "essc.json", now, issuer.mint_raw(b"hello")),
        case("json_duplicate_sn", "essc.json", now, issuer.mint_raw(dup)),
        case(
            "json_iat_as_string",
            "essc.json",
            now,
            issuer.mint_raw(&with(&[("iat", json!("1767225600"))])),
        ),
        case(
            "version_2",
            "essc.version",
            now,
            issuer.mint_raw(&with(&[("v", json!(2))])),
        ),
        case(
            "unknown_kid",
            "essc.unknown_kid",
            now,
            issuer.mint_raw(&with(&[("kid", json!("nobody"))])),
        ),
        case(
            "signature_other_key",
            "essc.signature",
            now,
            other.mint_raw(&with(&[])),
        ),
        case("signature_bit_flip", "essc.signature", now, flipped),
        case(
            "signature_short",
            "essc.signature",
            now,
            format!("{signed}.AAAA"),
        ),
        case(
            "lifetime_301",
            "essc.lifetime",
            now,
            issuer.mint_raw(&with(&[("exp", json!(T + 301))])),
        ),
        case(
            "lifetime_negative",
            "essc.lifetime",
            now,
            issuer.mint_raw(&with(&[("exp", json!(T - 1))])),
        ),
        case(
            "not_yet_valid",
            "essc.not_yet_valid",
            T - SKEW - 1,
            valid.clone(),
        ),
        case("expired", "essc.expired", T + 120 + SKEW + 1, valid.clone()),
        case(
            "id_checksum",
            "essc.id_checksum",
            now,
            issuer.mint_raw(&with(&[("sn", json!("110105194912310021"))])),
        ),
        case(
            "region_5_digits",
            "essc.region",
            now,
            issuer.mint_raw(&with(&[("ad", json!("11010"))])),
        ),
        case(
            "nonce_31_hex",
            "essc.nonce",
            now,
            issuer.mint_raw(&with(&[("nonce", json!("0".repeat(31)))])),
        ),
        case(
            "field_empty_name",
            "essc.field",
            now,
            issuer.mint_raw(&with(&[("nm", json!(""))])),
        ),
    ];
    let mut replay = case("replayed", "essc.replayed", now, valid);
    replay.seen_before = true;
    cases.push(replay);
    File {
        _comment: "TEST ONLY issuer keys (published): never configure them on a terminal. \
                   Generated by crates/essc/src/fixtures.rs."
            .into(),
        kid: KID.into(),
        secret_key_hex: TEST_SECRET.into(),
        public_key_hex: issuer.public_key_hex(),
        skew: SKEW,
        cases,
    }
}

pub(super) fn load(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).unwrap()
}

#[test]
fn fixtures_are_current() {
    let fresh = serde_json::to_string_pretty(&generate()).unwrap() + "\n";
    if std::env::var_os("MEDSETTLE_WRITE_FIXTURES").is_some() {
        std::fs::write(format!("{DIR}/cases.json"), &fresh).unwrap();
    }
    assert_eq!(
        load("cases.json"),
        fresh,
        "rerun with MEDSETTLE_WRITE_FIXTURES=1"
    );
}

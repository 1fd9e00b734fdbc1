//! Tests of the e-SSC profile over the committed fixtures: every refusal has a fixture and a
//! distinct code, identities never print personal data, and a `gmssl`-signed code verifies.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::fixtures::{File, KID, T, load};
use crate::*;
use medsettle_base::UserFacing;

#[test]
fn every_case_verifies_as_expected() {
    let file: File = serde_json::from_str(&load("cases.json")).unwrap();
    let keys = KeyRing::from_hex([(file.kid.as_str(), file.public_key_hex.as_str())]).unwrap();
    let verifier = Verifier::new(keys).with_skew(file.skew);
    let mut seen_codes = BTreeSet::new();
    for case in &file.cases {
        let guard = MemoryReplayGuard::new(16);
        if case.seen_before {
            verifier
                .verify(&case.code, case.now, &guard)
                .expect("first use is fresh");
        }
        let got = match verifier.verify(&case.code, case.now, &guard) {
            Ok(id) => {
                assert_eq!(id.sn.expose(), "11010519491231002X", "{}", case.name);
                assert_eq!(guard.len(), 1, "{}: nonce remembered", case.name);
                "ok".to_owned()
            }
            Err(e) => {
                assert_eq!(
                    guard.len(),
                    usize::from(case.seen_before),
                    "{}: a refused code must not consume a nonce",
                    case.name
                );
                assert!(!e.message_en().contains("11010519491231002X"));
                e.code().to_owned()
            }
        };
        assert_eq!(got, case.expect, "case {}", case.name);
        seen_codes.insert(got);
    }
    // Every refusal the verifier can produce from a code has a fixture.
    for code in [
        "essc.format",
        "essc.base64",
        "essc.json",
        "essc.version",
        "essc.unknown_kid",
        "essc.signature",
        "essc.lifetime",
        "essc.not_yet_valid",
        "essc.expired",
        "essc.id_checksum",
        "essc.region",
        "essc.nonce",
        "essc.field",
        "essc.replayed",
    ] {
        assert!(seen_codes.contains(code), "no fixture for {code}");
    }
}

#[test]
fn identity_never_prints_personal_data() {
    let file: File = serde_json::from_str(&load("cases.json")).unwrap();
    let keys = KeyRing::from_hex([(KID, file.public_key_hex.as_str())]).unwrap();
    let id = Verifier::new(keys)
        .verify(&file.cases[0].code, T, &MemoryReplayGuard::new(4))
        .unwrap();
    for shown in [format!("{id}"), format!("{id:?}")] {
        assert!(
            !shown.contains("11010519491231002X") && !shown.contains("张三"),
            "{shown}"
        );
        assert!(!shown.contains("A12345678"), "{shown}");
        assert!(
            shown.contains("110105********002X") && shown.contains("张*"),
            "{shown}"
        );
    }
    assert_eq!(
        (id.region.as_str(), id.kid.as_str(), id.exp - id.iat),
        ("110105", KID, 120)
    );
}

#[test]
fn gmssl_signed_code_verifies() {
    let g: Value = serde_json::from_str(&load("gmssl.json")).unwrap();
    let (kid, pk, code) = (
        g["kid"].as_str().unwrap(),
        g["public_key_hex"].as_str().unwrap(),
        g["code"].as_str().unwrap(),
    );
    let verifier = Verifier::new(KeyRing::from_hex([(kid, pk)]).unwrap());
    let now = g["now"].as_i64().unwrap();
    let id = verifier
        .verify(code, now, &MemoryReplayGuard::new(4))
        .unwrap();
    assert_eq!(id.name.expose(), "张三");
    // One changed character in the signed text fails.
    let (signed, sig) = code.rsplit_once('.').unwrap();
    let b64 = &base64::prelude::BASE64_URL_SAFE_NO_PAD;
    let payload = base64::Engine::decode(b64, &signed[6..]).unwrap();
    let payload = String::from_utf8(payload)
        .unwrap()
        .replacen("0f0f", "0e0f", 1);
    let tampered = format!("ESSC1.{}.{sig}", base64::Engine::encode(b64, payload));
    let err = verifier
        .verify(&tampered, now, &MemoryReplayGuard::new(4))
        .unwrap_err();
    assert_eq!(err, EsscError::Signature);
}

#[test]
fn issuer_round_trip_with_a_generated_key() {
    let issuer = Issuer::generate("demo");
    assert_eq!(issuer.public_key_hex().len(), 130);
    let keys = KeyRing::from_hex([("demo", issuer.public_key_hex().as_str())]).unwrap();
    let claims = issuer.claims("11010519491231002X", "李四", "B7654321", "440300", T, 60);
    let code = issuer.mint(&claims);
    let guard = MemoryReplayGuard::new(4);
    let verifier = Verifier::new(keys);
    assert!(verifier.verify(&code, T + 1, &guard).is_ok());
    assert_eq!(
        verifier.verify(&code, T + 2, &guard).unwrap_err(),
        EsscError::Replayed
    );
    assert!(!format!("{issuer:?}").contains(&issuer.secret_key_hex()));
}

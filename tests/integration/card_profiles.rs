//! Every card profile in `fixtures/cards/` through the daemon's card API with the in-process
//! virtual reader: the record fields or the exact error code its `expect` section names.
//! (The same profiles go through pcscd + vpcd in `card_profiles_pcsc`.)

use std::path::{Path, PathBuf};
use std::sync::Arc;

use medsettle::card::SlotKind;
use medsettle_vcard::{InProcessReader, Profile, VirtualCard};
use serde_json::{Value, json};

use crate::support::{self, InProcess, TOKEN, Terminal};

pub fn profiles() -> Vec<(String, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cards");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    assert!(
        out.len() >= 15,
        "expected the full profile set in {}",
        dir.display()
    );
    out
}

/// The terminal a profile needs (a blacklist for the blacklisted card).
pub fn terminal_for(profile: &Value) -> Terminal {
    let given = profile["expect"]["given"].as_str().unwrap_or("");
    let listed = given
        .strip_prefix("blacklist containing ")
        .map(str::to_owned);
    let t = Terminal::new();
    if let Some(no) = listed {
        let path = t.path().join("blacklist.txt");
        std::fs::write(&path, format!("# test list\n{no}\n")).unwrap();
        let mut t = t;
        t.extra = format!("\n[card]\nblacklist = \"{}\"\n", path.display());
        return t;
    }
    t
}

/// The read request body a profile needs (its PIN, if it says one is given).
pub fn request_for(profile: &Value) -> Value {
    let given = profile["expect"]["given"].as_str().unwrap_or("");
    match (given.strip_prefix("PIN "), profile["pin"]["value"].as_str()) {
        (Some(pin), _) => json!({ "pin": pin, "wait_ms": 2000 }),
        (None, Some(pin)) => json!({ "pin": pin, "wait_ms": 2000 }),
        (None, None) => json!({ "wait_ms": 2000 }),
    }
}

/// Checks a card API answer against the profile's `expect`.
pub fn check(name: &str, profile: &Value, status: u16, body: &Value) {
    let expect = &profile["expect"];
    let outcome = expect["outcome"].as_str().unwrap();
    if outcome != "ok" {
        assert_ne!(status, 200, "{name}: expected {outcome}, got {body}");
        assert_eq!(body["code"], outcome, "{name}: {body}");
        return;
    }
    assert_eq!(status, 200, "{name}: {body}");
    let rec = &body["record"];
    let f = &expect["fields"];
    let date = |v: &Value| v.as_str().map(|s| s.replace('-', ""));
    assert_eq!(rec["region"], f["region"], "{name}");
    assert_eq!(rec["card_id"], f["card_id"], "{name}");
    assert_eq!(rec["card_no"], f["card_number"], "{name}");
    assert_eq!(rec["spec_version"], f["spec_version"], "{name}");
    assert_eq!(date(&rec["issue_date"]), date(&f["issue_date"]), "{name}");
    assert_eq!(date(&rec["expiry_date"]), date(&f["expiry_date"]), "{name}");
    assert_eq!(rec["holder"]["id_number"], f["ssn"], "{name}");
    assert_eq!(rec["holder"]["name"], f["name"], "{name}");
    assert_eq!(
        date(&rec["holder"]["birth_date"]),
        date(&f["birth_date"]),
        "{name}"
    );
    let sex = if f["sex"] == "1" { "male" } else { "female" };
    assert_eq!(rec["holder"]["sex"], sex, "{name}");
    let line = body["line"].as_str().unwrap();
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(
        fields.len(),
        12,
        "{name}: 11 fields each followed by |: {line}"
    );
    assert_eq!(fields[1], f["ssn"].as_str().unwrap(), "{name}");
    assert_eq!(fields[3], f["card_id"].as_str().unwrap(), "{name}");
    // A plain read takes at most 14 APDUs (card.md's files, one SELECT each); quirks and
    // authentication add GET RESPONSEs, resends and the challenge exchange.
    let budget = if name == "normal" || name == "contactless" {
        14
    } else {
        32
    };
    assert!(body["apdus"].as_u64().unwrap() <= budget, "{name}: {body}");
}

#[tokio::test]
async fn every_profile_gives_its_expected_outcome_in_process() {
    for (name, path) in profiles() {
        let text = std::fs::read_to_string(&path).unwrap();
        let json: Value = serde_json::from_str(&text).unwrap();
        let profile = Profile::load(&path).unwrap();
        let kind = if profile.interface == "contactless" {
            SlotKind::Contactless
        } else {
            SlotKind::Contact
        };
        let reader = InProcessReader::new(kind);
        reader.insert(VirtualCard::from_profile(profile).unwrap());
        let t = terminal_for(&json);
        let d = InProcess::start_with_readers(&t, Some(Arc::new(reader))).await;
        let resp = support::client()
            .post(d.url("/v1/card/read"))
            .bearer_auth(TOKEN)
            .json(&request_for(&json))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        check(&name, &json, status, &body);
        d.shutdown().await;
    }
}

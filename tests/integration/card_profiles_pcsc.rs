//! The card path through the real PC/SC stack: the `medsettle` binary with
//! `readers.backend = "pcsc"` talks to a private pcscd (vpcd driver) into which this test plugs
//! virtual cards over vpcd's socket. Every profile in `fixtures/cards/` gives its expected
//! outcome, and reader/card events reach `/v1/events`.

use std::path::Path;

use medsettle_vcard::{Profile, Testbed, VirtualCard, VpcdConnection};
use serde_json::Value;

use crate::card_profiles::{check, profiles, request_for};
use crate::support::{self, Process, TOKEN, Terminal};

const READER: &str = "Daemon Test Reader";

/// A terminal whose daemon uses pcscd at `bed`, with reader `00 01` as the contactless slot
/// and a blacklist holding the blacklisted profile's card number.
fn pcsc_terminal() -> Terminal {
    let t = Terminal::new();
    let list = t.path().join("blacklist.txt");
    std::fs::write(&list, "B00000001\n").unwrap();
    let mut t = t;
    t.extra = format!("\n[card]\nblacklist = \"{}\"\n", list.display());
    t
}

/// The daemon on pcscd at `bed`, with reader `00 01` as a slot of `second`.
async fn start_daemon(t: &Terminal, bed: &Testbed, second: &str) -> Process {
    let kind = serde_json::from_value(serde_json::Value::from(second)).expect("a slot kind");
    let config = t.config_with(|c| {
        c.readers.backend = medsettle::config::ReaderBackend::Pcsc;
        c.readers.slots = vec![medsettle::config::SlotRule {
            pattern: "00 01".into(),
            kind,
        }];
    });
    let sock = bed.socket_path().to_owned();
    Process::start_config(t.path(), &config, move |cmd| {
        cmd.env("PCSCLITE_CSOCK_NAME", &sock);
    })
    .await
}

/// An open `/v1/events` stream and everything read from it so far.
struct Sse(reqwest::Response, String);

impl Sse {
    /// Reads until an event of `topic` arrives after what was already consumed.
    async fn wait_for(&mut self, topic: &str) {
        let marker = format!("event: {topic}\n");
        loop {
            if let Some(at) = self.1.find(&marker) {
                // Keep the history for the final checks, but consume this occurrence.
                self.1
                    .replace_range(at..at + marker.len(), &format!("event= {topic}\n"));
                return;
            }
            let chunk = self.0.chunk().await.unwrap().expect("event stream ended");
            self.1.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

fn card(path: &Path) -> (VirtualCard, bool) {
    let profile = Profile::load(path).unwrap();
    let contactless = profile.interface == "contactless";
    (VirtualCard::from_profile(profile).unwrap(), contactless)
}

#[tokio::test]
async fn every_profile_gives_its_expected_outcome_through_pcscd() {
    let bed = Testbed::start(READER).expect("a private pcscd (pcscd + vsmartcard-vpcd installed?)");
    let t = pcsc_terminal();
    let p = start_daemon(&t, &bed, "contactless").await;
    let c = support::client();

    // Events: subscribe before the first card goes in.
    let events = c
        .get(p.url("/v1/events?topics=card"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();

    let mut stream = Sse(events, String::new());
    for (name, path) in profiles() {
        if name == "auth_required" {
            continue; // needs a PSAM in the SAM slot: `a_psam_in_the_sam_slot_…` below
        }
        let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let (vcard, contactless) = card(&path);
        let slot = if contactless { "00 01" } else { "00 00" };
        let reader = bed.reader(&format!("{READER} {slot}"));
        let conn = VpcdConnection::connect(reader.addr(), vcard).unwrap();
        stream.wait_for("card.inserted").await;
        let mut body = request_for(&json);
        body["wait_ms"] = 10_000.into();
        body["interface"] = if contactless {
            "contactless"
        } else {
            "contact"
        }
        .into();
        let resp = c
            .post(p.url("/v1/card/read"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let answer: Value = resp.json().await.unwrap();
        check(&name, &json, status, &answer);
        if status == 200 {
            assert_eq!(answer["slot"]["reader"], reader.name, "{name}");
        }
        conn.remove();
        drop(conn);
        // The next card goes in only once the daemon has seen this one leave.
        stream.wait_for("card.removed").await;
    }

    // The stream carried the reads, masked: no ID number in clear.
    assert!(stream.1.contains("event: card.read") || stream.1.contains("event= card.read"));
    assert!(!stream.1.contains("110105199003071239"), "{}", stream.1);

    let readers: Value = support::get_json(&p.url("/v1/readers")).await;
    assert_eq!(readers["backend"], "pcsc");
    let kinds: Vec<&str> = readers["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"contact") && kinds.contains(&"contactless"),
        "{readers}"
    );
    p.signal(15);
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        !log.contains("110105199003071239"),
        "the log shows an ID number in clear"
    );
}

#[tokio::test]
async fn a_psam_in_the_sam_slot_authenticates_a_protected_card() {
    let bed = Testbed::start("Auth Test Reader").expect("a private pcscd");
    let t = Terminal::new();
    let p = start_daemon(&t, &bed, "sam").await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cards");
    let (psam, _) = card(&dir.join("sam/psam.json"));
    let (patient, _) = card(&dir.join("auth_required.json"));
    let sam = bed.reader("Auth Test Reader 00 01");
    let icc = bed.reader("Auth Test Reader 00 00");
    let c = support::client();
    let events = c
        .get(p.url("/v1/events?topics=card.inserted"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let mut stream = Sse(events, String::new());
    let _psam = VpcdConnection::connect(sam.addr(), psam).unwrap();
    stream.wait_for("card.inserted").await;
    // Without the patient card, a read times out with the stable code, not a PSAM read.
    let resp = c
        .post(p.url("/v1/card/read"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "wait_ms": 300 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 408);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "card.not_presented");

    let _card = VpcdConnection::connect(icc.addr(), patient).unwrap();
    stream.wait_for("card.inserted").await;
    let resp = c
        .post(p.url("/v1/card/read"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "wait_ms": 10000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    if body["authenticated"] != true {
        p.signal(15);
        let (_, log) = p.wait();
        panic!("not authenticated: {body}\nlog:\n{log}");
    }
    assert_eq!(body["record"]["holder"]["id_number"], "110105199003071239");
    assert_eq!(body["slot"]["reader"], icc.name);
    p.signal(15);
    assert_eq!(p.wait().0.code(), Some(0));
}

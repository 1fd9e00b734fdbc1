//! Personal data at rest (issue 8 point 3): real sales through the daemon — an online card
//! sale, a stored sale the forwarder settles later, a card read under an `Idempotency-Key` —
//! then the raw bytes of the database, its `-wal` and `-shm` hold no ID number, name, card
//! number or personal number in clear (UTF-8). Then a key rotation with the real CLI: a new key
//! first, `medsettle store rekey`, the old key removed, and the restarted daemon still reads
//! every sale and finds them by ID number.

use std::path::Path;

use serde_json::json;

use super::{ID_NUMBER, NAME, PIN, PSN, Rig};
use crate::support::{self, InProcess, TOKEN, process::run_cli};

/// The card's number (fixtures/cards/normal.json).
const CARD_NO: &str = "M12345678";

/// Every needle found in clear in the database file or its companions.
fn clear_in_database(db: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for needle in [ID_NUMBER, NAME, CARD_NO, PSN] {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(format!("{needle} in {path}"));
            }
        }
    }
    found
}

async fn sales_of(d: &InProcess, id_number: &str) -> Vec<String> {
    let v = support::get_json(&d.url(&format!("/v1/sales?id_number={id_number}"))).await;
    v["sales"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn sales_pii_is_sealed_at_rest_and_survives_a_key_rotation() {
    let rig = Rig::online("").await;

    // A card read under an Idempotency-Key: its answer (with the card record) is remembered.
    let (status, read, _) = rig
        .post_with(
            "/v1/card/read",
            json!({ "wait_ms": 2000 }).to_string(),
            Some("read-at-rest-1"),
        )
        .await;
    assert_eq!(status, 200, "{read}");
    let (_, again, replayed) = rig
        .post_with(
            "/v1/card/read",
            json!({ "wait_ms": 2000 }).to_string(),
            Some("read-at-rest-1"),
        )
        .await;
    assert!(replayed, "the second read is the stored answer");
    assert_eq!(again, read);

    // An online card sale, settled.
    let online = rig.sale("12.50", None).await;
    let (status, pre) = rig
        .post(&format!("/v1/sales/{online}/presettle"), json!({}))
        .await;
    assert_eq!(status, 200, "{pre}");
    let (status, done) = rig.confirm(&online, json!({ "pin": PIN })).await;
    assert_eq!(
        (status, done["state"].as_str()),
        (200, Some("settled")),
        "{done}"
    );

    // A stored sale the forwarder settles by itself.
    // Confirmed under an Idempotency-Key: the body holds the PIN, so what the database keeps to
    // compare a retry with must not be a plain hash of it (10^6 guesses would give the PIN).
    let stored = rig.sale("7.30", Some("force_offline")).await;
    let confirm_path = format!("/v1/sales/{stored}/confirm");
    let confirm_body = json!({ "pin": PIN, "collected": "7.30" }).to_string();
    let (status, queued, _) = rig
        .post_with(
            &confirm_path,
            confirm_body.clone(),
            Some("confirm-at-rest-1"),
        )
        .await;
    assert_eq!(status, 200, "{queued}");
    let plain_hash = hex::encode(medsettle::api::idempotency::request_hash(
        &reqwest::Method::POST,
        &confirm_path,
        confirm_body.as_bytes(),
    ));
    rig.wait_state(&stored, "settled").await;

    // Found by ID number (the keyed hash), and only by that one.
    let mut both = vec![online.clone(), stored.clone()];
    both.sort();
    let mut found = sales_of(&rig.d, ID_NUMBER).await;
    found.sort();
    assert_eq!(found, both);
    assert!(sales_of(&rig.d, "11010519491231002X").await.is_empty());

    let Rig {
        sandbox,
        terminal,
        d,
        ..
    } = rig;
    d.shutdown().await;
    let db = terminal.db_path();
    assert!(db.is_file());
    assert_eq!(clear_in_database(&db), Vec::<String>::new());
    for suffix in ["", "-wal"] {
        let bytes = std::fs::read(format!("{}{suffix}", db.display())).unwrap_or_default();
        assert!(
            !bytes
                .windows(plain_hash.len())
                .any(|w| w == plain_hash.as_bytes()),
            "a plain hash of the PIN-bearing confirm body is in the database{suffix}"
        );
    }

    // Rotation: a new key first, the old one below it.
    let key_file = terminal.path().join("db-key");
    let old = std::fs::read_to_string(&key_file).unwrap();
    let old_line = old
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .unwrap()
        .to_owned();
    let new_line = medsettle::store::KeySet::generate_line();
    std::fs::write(&key_file, format!("{new_line}\n{old_line}\n")).unwrap();
    let cfg = terminal.write_config();
    let cfg = cfg.to_str().unwrap().to_owned();
    let (status, out, err) =
        tokio::task::spawn_blocking(move || run_cli(&["store", "rekey", "-c", &cfg], None))
            .await
            .unwrap();
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
    let new_id = new_line.split(':').next().unwrap();
    assert!(out.contains(&format!("under key `{new_id}`")), "{out}");
    assert!(out.contains("older keys can now be removed"), "{out}");
    assert!(
        !out.contains(&new_line) && !err.contains(&new_line),
        "no key material printed"
    );

    // The old key removed: the restarted daemon reads every sale.
    std::fs::write(&key_file, format!("{new_line}\n")).unwrap();
    assert_eq!(clear_in_database(&db), Vec::<String>::new());
    // The first daemon's notify socket file is still there; the restart binds a new one.
    std::fs::remove_file(terminal.path().join("notify.sock")).unwrap();
    let d = InProcess::start_full(&terminal, None, None).await;
    for id in &both {
        let resp = support::client()
            .get(d.url(&format!("/v1/sales/{id}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "sale {id}");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["sale"]["state"], "settled", "{v}");
        assert!(
            v["sale"]["credential"]["id_number"]
                .as_str()
                .unwrap()
                .contains('*')
        );
    }
    let mut found = sales_of(&d, ID_NUMBER).await;
    found.sort();
    assert_eq!(found, both, "person_key survives the rotation");
    d.shutdown().await;

    // Without the key the values are sealed under, the daemon refuses to start, naming it.
    let (_, other) = {
        let line = medsettle::store::KeySet::generate_line();
        std::fs::write(&key_file, format!("{line}\n")).unwrap();
        ((), line)
    };
    let config = terminal.config();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = medsettle::daemon::Daemon::start(
        config,
        listener,
        medsettle::daemon::Environment::default(),
    )
    .await;
    let err = refused.err().expect("refused without the database key");
    let text = err.to_string();
    assert!(text.contains(&format!("`{new_id}`")), "{text}");
    assert!(!text.contains(&other), "no key material in the error");
    if let Some(s) = sandbox {
        s.shutdown().await;
    }
}

//! Personal data at rest, at the store's level: the v6 fixture (personal data in clear) is
//! sealed in place by migration v7 with nothing left in clear in the file or its WAL; values
//! read back intact; sales are found by the keyed hash of an ID number; a key set that lacks
//! the database's key is refused by name; re-keying moves every value to the new key.

use super::*;
use crate::store::{KeySet, StoreError};

/// The clear personal data the v6 fixture holds (fixtures/db/generate.sh).
const V6_CLEAR: [&str; 5] = [
    "11010519491231002X",
    "欧阳雪梅",
    "A87654321",
    "PINPROOF0123456789",
    "PSN4402",
];
const V6_SALE: &str = "S2611231000000a1b2c3d4";

fn keys(lines: &[&str]) -> KeySet {
    KeySet::parse(&lines.join("\n"), "test").unwrap()
}

const KEY_A: &str = "key-a:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const KEY_B: &str = "key-b:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

/// Every needle found in the database file or its `-wal`/`-shm`, as (file, needle).
fn clear_in_files(db: &Path, needles: &[&str]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", db.display()));
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for n in needles {
            if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                found.push((path.display().to_string(), (*n).to_owned()));
            }
        }
    }
    found
}

#[tokio::test]
async fn the_v6_fixture_is_sealed_in_place_and_reads_back() {
    let dir = tmp();
    let path = copy_fixture(6, &dir);
    assert_eq!(
        clear_in_files(&path, &V6_CLEAR).len(),
        V6_CLEAR.len(),
        "the fixture holds every needle in clear"
    );
    let (store, report) = Store::open_keyed(&path, BUSY, keys(&[KEY_A])).unwrap();
    assert_eq!(report.migrated_from, 6);
    // Already right after the upgrade, before any close: nothing in clear, WAL included.
    assert_eq!(clear_in_files(&path, &V6_CLEAR), []);

    let sale = store.sale(V6_SALE).await.unwrap().unwrap();
    assert!(sale.doc.contains("欧阳雪梅") && sale.doc.contains("A87654321"));
    assert_eq!(
        (sale.state.as_str(), sale.stored, sale.amount_fen),
        ("queued", true, 1234)
    );
    assert_eq!(store.offline_totals().await.unwrap().count, 1);
    let history = store.sale_events(V6_SALE).await.unwrap();
    assert!(history[0].detail.contains("欧阳雪梅"));
    let audit = store
        .audit("H11010500001202611231000000008")
        .await
        .unwrap()
        .unwrap();
    // The old PIN proof in its cainfo is gone too (`store/scrub.rs`), the signature stays.
    assert!(!audit.request.contains("PINPROOF0123456789"));
    assert!(audit.request.contains("sig=AAAA"));
    assert!(audit.response.unwrap().contains("PSN4402"));
    let idem = store.idempotency("card-read-1").await.unwrap().unwrap();
    assert!(idem.response.contains("11010519491231002X"));

    // Found by ID number (lower-case x too), not by another.
    let all = ["queued", "settled"];
    let mine = store
        .sales_of(&all, false, Some("11010519491231002x"), None, 10)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    let none = store
        .sales_of(&all, false, Some("110105194912310021"), None, 10)
        .await
        .unwrap();
    assert!(none.is_empty());
    store.close().await.unwrap();
    assert_eq!(clear_in_files(&path, &V6_CLEAR), []);
}

#[tokio::test]
async fn new_writes_are_sealed_and_found_by_id_number() {
    let dir = tmp();
    let path = db_in(&dir);
    let (store, _) = Store::open_keyed(&path, BUSY, keys(&[KEY_A])).unwrap();
    let doc =
        r#"{"credential":{"kind":"essc","id_number":"110105199003071239","name":"诸葛明月"}}"#;
    store
        .create_sale(crate::store::NewSaleRow {
            id: "S1".into(),
            at_ms: 1,
            state: "captured".into(),
            amount_fen: 100,
            doc: doc.into(),
            detail: r#"{"name":"诸葛明月"}"#.into(),
            idempotency: None,
        })
        .await
        .unwrap();
    store
        .record_request(crate::store::AuditRequest {
            msgid: "M1".into(),
            infno: "1101".into(),
            request: r#"{"mdtrt_cert_no":"110105199003071239"}"#.into(),
            sent_at_ms: 1,
        })
        .await
        .unwrap();
    assert_eq!(store.sale("S1").await.unwrap().unwrap().doc, doc);
    let found = store
        .sales_of(&["captured"], false, Some("110105199003071239"), None, 5)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    store.close().await.unwrap();
    assert_eq!(
        clear_in_files(&path, &["110105199003071239", "诸葛明月"]),
        []
    );
}

#[tokio::test]
async fn a_key_set_without_the_database_key_is_refused_by_name() {
    let dir = tmp();
    let path = copy_fixture(6, &dir);
    let (store, _) = Store::open_keyed(&path, BUSY, keys(&[KEY_A])).unwrap();
    store.close().await.unwrap();
    let err = Store::open_keyed(&path, BUSY, keys(&[KEY_B]))
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::Sealed(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("`key-a`") && text.contains("key-b"), "{text}");
    assert!(!err.is_corruption(), "a wrong key never quarantines");
}

#[tokio::test]
async fn rekey_moves_every_value_to_the_new_key_and_the_old_one_can_go() {
    let dir = tmp();
    let path = copy_fixture(6, &dir);
    let (store, _) = Store::open_keyed(&path, BUSY, keys(&[KEY_A])).unwrap();
    store.close().await.unwrap();

    // Rotation: the new key first, the old one still there to read.
    let (report, counts) = crate::store::rekey(&path, BUSY, keys(&[KEY_B, KEY_A])).unwrap();
    assert_eq!(report.key_id, "key-b");
    assert_eq!(report.resealed, 6, "5 values and the lookup key");
    assert_eq!(counts.keys().collect::<Vec<_>>(), ["key-b"]);
    // A second run has nothing left to do.
    let (again, _) = crate::store::rekey(&path, BUSY, keys(&[KEY_B, KEY_A])).unwrap();
    assert_eq!(again.resealed, 0);

    // The old key removed: everything still reads, and the person lookup still works.
    let (store, _) = Store::open_keyed(&path, BUSY, keys(&[KEY_B])).unwrap();
    assert!(
        store
            .sale(V6_SALE)
            .await
            .unwrap()
            .unwrap()
            .doc
            .contains("欧阳雪梅")
    );
    let mine = store
        .sales_of(&["queued"], true, Some("11010519491231002X"), None, 10)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    store.close().await.unwrap();
    assert_eq!(clear_in_files(&path, &V6_CLEAR), []);
}

#[test]
fn rekey_refuses_a_database_not_at_this_schema_version() {
    let dir = tmp();
    let path = copy_fixture(6, &dir);
    let before = std::fs::read(&path).unwrap();
    let err = crate::store::rekey(&path, BUSY, keys(&[KEY_A])).unwrap_err();
    assert!(err.to_string().contains("start medsettle once"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

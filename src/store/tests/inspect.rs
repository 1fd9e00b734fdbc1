//! `inspect`: the read-only look `medsettle doctor` takes. It reports what it finds and never
//! creates, migrates or quarantines.

use super::*;
use crate::store::{SCHEMA_VERSION, StoreError, inspect};

#[tokio::test]
async fn a_fresh_database_inspects_clean() {
    let dir = tmp();
    let path = db_in(&dir);
    let (store, _) = Store::open(&path, BUSY).unwrap();
    store.close().await.unwrap();
    let found = inspect(&path, BUSY).unwrap();
    assert_eq!(found.schema_version, SCHEMA_VERSION);
    assert!(found.wal);
    assert_eq!(found.quick_check, "ok");
    assert!(found.size_bytes > 0);
    let offline = found.offline.unwrap();
    assert_eq!((offline.count, offline.oldest_created_at_ms), (0, None));
}

#[test]
fn garbage_is_reported_as_corruption_and_left_alone() {
    let dir = tmp();
    let path = db_in(&dir);
    let garbage = b"garbage, not a database ".repeat(200);
    std::fs::write(&path, &garbage).unwrap();
    let err = inspect(&path, BUSY).unwrap_err();
    assert!(err.is_corruption(), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
    assert_eq!(listing(dir.path()), ["medsettle.db"]);
}

#[test]
fn a_newer_database_is_refused() {
    let dir = tmp();
    let path = db_in(&dir);
    let c = raw(&path);
    c.pragma_update(None, "application_id", crate::store::APPLICATION_ID)
        .unwrap();
    c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    c.close().unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = inspect(&path, BUSY).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_missing_file_is_not_created() {
    let dir = tmp();
    let path = db_in(&dir);
    let err = inspect(&path, BUSY).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(!path.exists());
}

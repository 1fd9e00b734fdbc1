//! Opening: the pragmas read back, new files, refusals that leave the file byte-identical,
//! and corrupt files moved aside (never deleted) with a fresh database in their place.

use chrono::TimeZone;

use super::*;
use crate::error::UserFacing;
use crate::store::{APPLICATION_ID, Pragmas, SCHEMA_VERSION, StoreError, quarantine};

#[tokio::test]
async fn pragmas_read_back_from_the_write_connection() {
    let dir = tmp();
    let path = db_in(&dir);
    let (store, _) = Store::open(&path, BUSY).unwrap();
    assert_eq!(
        store.pragmas().await.unwrap(),
        Pragmas {
            journal_mode: "wal".into(),
            synchronous: 2,
            foreign_keys: true,
            busy_timeout_ms: 1234,
            application_id: APPLICATION_ID,
            user_version: SCHEMA_VERSION,
        }
    );
    // The per-file settings are in the file itself, as any other reader sees them.
    let other = raw(&path);
    let mode: String = other
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(
        pragma_i64(&other, "application_id"),
        i64::from(APPLICATION_ID)
    );
    assert_eq!(
        pragma_i64(&other, "user_version"),
        i64::from(SCHEMA_VERSION)
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_new_file_and_its_directory_are_created() {
    let dir = tmp();
    let path = dir.path().join("var/lib/medsettle/medsettle.db");
    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert!(report.created);
    assert_eq!(report.migrated_from, 0);
    assert_eq!(report.schema_version, SCHEMA_VERSION);
    assert!(report.quarantined.is_none());
    assert_eq!(report.unclean_runs, 0);
    assert_eq!(store.path(), path);
    assert_eq!(store.quick_check().await.unwrap(), "ok");
    store.close().await.unwrap();
}

/// Builds a WAL database with the given identity and one table, as another program might.
fn foreign_db(path: &Path, application_id: i32, user_version: u32) {
    let c = raw(path);
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.execute_batch("CREATE TABLE future (x INTEGER); INSERT INTO future VALUES (42);")
        .unwrap();
    c.pragma_update(None, "application_id", application_id)
        .unwrap();
    c.pragma_update(None, "user_version", user_version).unwrap();
    c.close().unwrap();
}

/// Opens `path`, expecting a refusal, and checks that no byte and no file changed.
fn refused_untouched(dir: &TempDir, path: &Path) -> StoreError {
    let before = std::fs::read(path).unwrap();
    let files = listing(dir.path());
    let err = Store::open(path, BUSY)
        .err()
        .expect("the open must be refused");
    assert_eq!(std::fs::read(path).unwrap(), before, "the file changed");
    assert_eq!(listing(dir.path()), files, "files appeared or vanished");
    err
}

#[test]
fn a_newer_database_is_refused_and_left_byte_identical() {
    let dir = tmp();
    let path = db_in(&dir);
    foreign_db(&path, APPLICATION_ID, SCHEMA_VERSION + 1);
    let err = refused_untouched(&dir, &path);
    match &err {
        StoreError::NewerSchema {
            path: p,
            found,
            supported,
        } => {
            assert_eq!(p, &path);
            assert_eq!(*found, SCHEMA_VERSION + 1);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("Upgrade medsettle"), "{msg}");
    assert!(msg.contains("left untouched"), "{msg}");
    assert_eq!(err.code(), "store.newer_schema");
    assert!(err.message_zh().contains("升级"));
    assert!(!err.is_corruption());
}

#[test]
fn another_programs_database_is_refused_untouched() {
    let dir = tmp();
    let path = db_in(&dir);
    foreign_db(&path, 0x1234_5678, 1);
    let err = refused_untouched(&dir, &path);
    assert!(matches!(err, StoreError::NotOurs { .. }), "{err:?}");
    assert!(err.to_string().contains("0x12345678"), "{err}");
}

#[test]
fn tables_without_a_medsettle_schema_version_are_refused_untouched() {
    let dir = tmp();
    let path = db_in(&dir);
    foreign_db(&path, 0, 0);
    let err = refused_untouched(&dir, &path);
    assert!(matches!(err, StoreError::NotOurs { .. }), "{err:?}");
    assert_eq!(err.code(), "store.not_ours");
}

#[tokio::test]
async fn garbage_is_moved_aside_with_its_wal_and_a_fresh_database_created() {
    let dir = tmp();
    let path = db_in(&dir);
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    let wal = b"not a wal either".to_vec();
    std::fs::write(&path, &garbage).unwrap();
    std::fs::write(quarantine::with_suffix(&path, "-wal"), &wal).unwrap();

    let (store, report) = Store::open(&path, BUSY).unwrap();
    let q = report.quarantined.expect("the garbage must be quarantined");
    let name = q
        .moved_to
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("medsettle.db.corrupt-"), "{name}");
    assert!(name.ends_with('Z') && name.len() == "medsettle.db.corrupt-".len() + 16);
    assert_eq!(q.moved_to.parent(), path.parent());
    assert_eq!(std::fs::read(&q.moved_to).unwrap(), garbage);
    assert_eq!(
        std::fs::read(quarantine::with_suffix(&q.moved_to, "-wal")).unwrap(),
        wal
    );
    assert!(q.reason.contains("not a database"), "{}", q.reason);
    assert!(report.created);

    let id = start_run(&store, 7).await;
    assert_eq!(store.recent_runs(1).await.unwrap()[0].id, id.0);
    assert_eq!(store.quick_check().await.unwrap(), "ok");
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_failing_quick_check_quarantines_the_file() {
    let dir = tmp();
    let path = db_in(&dir);
    let (store, _) = Store::open(&path, BUSY).unwrap();
    for i in 0..300 {
        store
            .set_meta(&format!("key-{i:04}"), &"x".repeat(100))
            .await
            .unwrap();
    }
    store.close().await.unwrap();
    // Keep the header and schema page, scribble over a b-tree page in the middle.
    let mut bytes = std::fs::read(&path).unwrap();
    let page = pragma_page_size(&path);
    assert!(bytes.len() > 4 * page, "the table must span several pages");
    bytes[2 * page..3 * page].fill(0xA5);
    std::fs::write(&path, &bytes).unwrap();

    let (store, report) = Store::open(&path, BUSY).unwrap();
    let q = report.quarantined.expect("quick_check must have failed");
    assert_eq!(std::fs::read(&q.moved_to).unwrap(), bytes);
    assert_eq!(store.meta("key-0001").await.unwrap(), None);
    store.close().await.unwrap();
}

fn pragma_page_size(path: &Path) -> usize {
    usize::try_from(pragma_i64(&raw(path), "page_size")).unwrap()
}

#[test]
fn quarantine_never_overwrites_an_earlier_one() {
    let dir = tmp();
    let path = db_in(&dir);
    let now = chrono::Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
    std::fs::write(&path, b"first").unwrap();
    let first = quarantine::move_aside(&path, "test", now).unwrap();
    std::fs::write(&path, b"second").unwrap();
    std::fs::write(quarantine::with_suffix(&path, "-shm"), b"second shm").unwrap();
    let second = quarantine::move_aside(&path, "test", now).unwrap();
    assert_eq!(
        first.moved_to,
        dir.path().join("medsettle.db.corrupt-20240102T030405Z")
    );
    assert_eq!(
        second.moved_to,
        dir.path().join("medsettle.db.corrupt-20240102T030405Z.1")
    );
    assert_eq!(std::fs::read(&first.moved_to).unwrap(), b"first");
    assert_eq!(std::fs::read(&second.moved_to).unwrap(), b"second");
    assert_eq!(
        std::fs::read(quarantine::with_suffix(&second.moved_to, "-shm")).unwrap(),
        b"second shm"
    );
    assert!(!path.exists());
}

#[test]
fn an_unopenable_path_is_an_open_error_not_a_quarantine() {
    let dir = tmp();
    // A directory where the database file should be.
    let path = db_in(&dir);
    std::fs::create_dir(&path).unwrap();
    let err = Store::open(&path, BUSY)
        .err()
        .expect("a directory is no database");
    assert!(!err.is_corruption(), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    // The key file beside it is the only thing created.
    assert_eq!(listing(dir.path()), ["db-key", "medsettle.db"]);
}

#[tokio::test]
async fn an_existing_file_with_uri_characters_in_its_name_reopens() {
    let dir = tmp();
    let path = dir.path().join("a b?c#d%20é.db");
    let (store, _) = Store::open(&path, BUSY).unwrap();
    start_run(&store, 1).await;
    store.close().await.unwrap();
    // The second open probes the existing file through a `file:` URI.
    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert!(!report.created);
    assert!(report.quarantined.is_none());
    assert_eq!(store.recent_runs(5).await.unwrap().len(), 1);
    store.close().await.unwrap();
    assert_eq!(listing(dir.path()), ["a b?c#d%20é.db", "db-key"]);
}

/// Overwrites the last `len` bytes of the root page of `name` (its cell content).
fn damage_root(path: &Path, name: &str, len: usize) {
    let (page, root) = {
        let c = raw(path);
        let root: i64 = c
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap();
        (pragma_page_size(path), usize::try_from(root).unwrap())
    };
    let mut bytes = std::fs::read(path).unwrap();
    bytes[root * page - len..root * page].fill(0x7f);
    std::fs::write(path, &bytes).unwrap();
}

#[tokio::test]
async fn a_damaged_index_is_rebuilt_not_quarantined() {
    let dir = tmp();
    let path = db_in(&dir);
    let (store, _) = Store::open(&path, BUSY).unwrap();
    store.record_run(1, "0.1.0", 1).await.unwrap();
    store.close().await.unwrap();
    damage_root(&path, "runs_unfinished", 32);
    let c = raw(&path);
    assert_ne!(
        crate::store::open::quick_check(&c).unwrap_or_default(),
        "ok"
    );
    drop(c);

    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert!(report.quarantined.is_none());
    assert!(report.pending_quarantine.is_none());
    assert!(report.repaired.is_some(), "{report:?}");
    assert!(store.quarantined().is_none());
    assert_eq!(store.quick_check().await.unwrap(), "ok");
    assert_eq!(
        store.recent_runs(5).await.unwrap().len(),
        1,
        "the table kept its rows"
    );
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_quarantine_stays_pending_across_restarts_until_salvaged() {
    let dir = tmp();
    let path = db_in(&dir);
    let (store, _) = Store::open(&path, BUSY).unwrap();
    store.reserve_sequence("upstream.msgid", 9).await.unwrap();
    store.record_run(1, "0.1.0", 1).await.unwrap();
    store.close().await.unwrap();
    damage_root(&path, "runs", 48);

    let (store, report) = Store::open(&path, BUSY).unwrap();
    let q = report.quarantined.expect("a damaged table is quarantined");
    assert_eq!(report.pending_quarantine.as_ref(), Some(&q));
    assert_eq!(store.quarantined(), Some(&q));
    store.close().await.unwrap();
    // A restart alone does not lift it.
    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert!(report.quarantined.is_none());
    assert_eq!(store.quarantined(), Some(&q));
    store.close().await.unwrap();

    let keys = crate::store::KeySet::load(&crate::store::default_key_ref(&path), None).unwrap();
    let salvaged = crate::store::salvage(&path, BUSY, keys, None).unwrap();
    assert_eq!(salvaged.from, q.moved_to);
    assert!(
        salvaged.copied.contains(&("sequences".to_owned(), 1)),
        "{salvaged:?}"
    );
    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert!(report.pending_quarantine.is_none());
    assert!(store.quarantined().is_none());
    assert_eq!(store.next_sequence("upstream.msgid").await.unwrap(), 10);
    store.close().await.unwrap();
    // Nothing left to salvage.
    let keys = crate::store::KeySet::load(&crate::store::default_key_ref(&path), None).unwrap();
    assert!(matches!(
        crate::store::salvage(&path, BUSY, keys, None),
        Err(crate::store::StoreError::NothingToSalvage { .. })
    ));
}

#[tokio::test]
async fn salvage_reports_what_it_cannot_read_and_copies_the_rest() {
    let dir = tmp();
    let path = db_in(&dir);
    let (store, _) = Store::open(&path, BUSY).unwrap();
    store.reserve_sequence("upstream.msgid", 5).await.unwrap();
    for i in 0..200 {
        store
            .record_request(crate::store::AuditRequest {
                msgid: format!("H11010500001202612031000{i:06}"),
                infno: "2102".into(),
                request: "x".repeat(400),
                sent_at_ms: i,
            })
            .await
            .unwrap();
    }
    store.close().await.unwrap();
    // The audit table's root page (an interior page: 200 rows span many pages) is destroyed.
    let (page, root) = {
        let c = raw(&path);
        let root: i64 = c
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = 'upstream_audit'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (pragma_page_size(&path), usize::try_from(root).unwrap())
    };
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(root - 1) * page..root * page].fill(0xA5);
    std::fs::write(&path, &bytes).unwrap();

    let (store, report) = Store::open(&path, BUSY).unwrap();
    assert!(report.quarantined.is_some());
    store.close().await.unwrap();
    let keys = crate::store::KeySet::load(&crate::store::default_key_ref(&path), None).unwrap();
    let salvaged = crate::store::salvage(&path, BUSY, keys, None).unwrap();
    assert!(
        salvaged
            .unreadable
            .iter()
            .any(|l| l.starts_with("upstream_audit: damaged")),
        "{salvaged:?}"
    );
    assert!(
        salvaged.copied.contains(&("sequences".to_owned(), 1)),
        "{salvaged:?}"
    );
    let (store, _) = Store::open(&path, BUSY).unwrap();
    assert_eq!(store.next_sequence("upstream.msgid").await.unwrap(), 6);
    assert!(
        store.quarantined().is_none(),
        "the operator acted: business resumes"
    );
    store.close().await.unwrap();
}

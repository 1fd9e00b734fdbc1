//! Opening the database file: a read-only probe that refuses foreign or newer files without
//! touching them and detects corruption, then the write connection with its pragmas (WAL,
//! `synchronous=FULL`, foreign keys, busy timeout), migrations, crash recovery, and the
//! read-only connection used for queries.
//!
//! A file whose `quick_check` fails is first given a `REINDEX` (damaged indexes are rebuilt
//! from their tables); if it is still damaged it is moved aside once (see `quarantine.rs`) and
//! a fresh one created that remembers the quarantine until `salvage.rs` ran; nothing is ever
//! deleted. After the migrations the one-time scrubs of `scrub.rs` run (recorded in `meta`).
//! This module does not start the writer thread; `mod.rs` does.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::crypt::KeySet;
use super::migrate::{self, MIGRATIONS};
use super::{scrub, sealed};

/// The schema version whose step seals personal data (migration v7).
const SEALED_SINCE: u32 = 7;
use super::{OpenReport, SCHEMA_VERSION, StoreError, ops, quarantine};

/// What a successful open hands to `Store`.
pub(super) struct Opened {
    pub writer: Connection,
    /// The key set with this database's lookup key.
    pub crypt: super::crypt::Crypt,
    pub reader: Connection,
    pub report: OpenReport,
}

/// Opens (creating, migrating, or quarantining and recreating) the database at `path`.
pub(super) fn open(path: &Path, busy: Duration, keys: KeySet) -> Result<Opened, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })?;
    }
    let mut attempted = attempt(path, busy, &keys);
    let mut repaired = None;
    if let Err(StoreError::Corrupt { detail, .. }) = &attempted {
        // Damaged indexes hold nothing that is not in their tables: rebuild them and look
        // again before moving the file aside.
        if reindex(path, busy) {
            tracing::warn!(findings = %detail, "quick_check failed; REINDEX repaired the database");
            repaired = Some(detail.clone());
            attempted = attempt(path, busy, &keys);
        }
    }
    let (writer, reader, mut report) = match attempted {
        Err(e) if e.is_corruption() => {
            // What SQLite found, without the operator advice of the full message.
            let reason = match &e {
                StoreError::Open { source, .. } | StoreError::Migration { source, .. } => {
                    source.to_string()
                }
                StoreError::Corrupt { detail, .. } => format!("quick_check: {detail}"),
                other => other.to_string(),
            };
            let q = quarantine::move_aside(path, &reason, chrono::Utc::now())?;
            let (writer, reader, mut report) = attempt(path, busy, &keys)?;
            quarantine::remember(&writer, &q).map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
            report.quarantined = Some(q);
            (writer, reader, report)
        }
        other => other?,
    };
    report.repaired = repaired;
    report.pending_quarantine =
        quarantine::pending(&writer).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
    let crypt = sealed::load_crypt(&writer, keys)?;
    let mut writer = writer;
    let scrubbed = scrub::pin_proofs_once(
        &mut writer,
        crypt.keys(),
        chrono::Utc::now().timestamp_millis(),
    )?;
    if scrubbed.is_some_and(|r| r != scrub::ScrubReport::default()) {
        // As after sealing: the replaced values may sit in old WAL frames.
        writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
    }
    // Migration, sealing and the scrub are done: from here on every value the writer deletes
    // or replaces is ciphertext (documents, audit rows and answers are sealed), so zeroing
    // freed space no longer protects anything and costs CPU and I/O on every sale step.
    // `FAST` still zeroes what lies within pages being written anyway. A re-key opens its
    // own connection with `secure_delete` on (`configure`).
    writer
        .pragma_update(None, "secure_delete", "FAST")
        .map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
    #[cfg(feature = "demo")]
    test_hook_spare_pages(&writer);
    Ok(Opened {
        writer,
        crypt,
        reader,
        report,
    })
}

/// Test hook of the real binary (`demo` builds only, never in the package):
/// `MEDSETTLE_TEST_STORE_SPARE_PAGES=N` caps the database at its size after opening plus N
/// pages, so a test can fill it and see `SQLITE_FULL` as on a full disk.
#[cfg(feature = "demo")]
fn test_hook_spare_pages(writer: &Connection) {
    let Some(spare) = std::env::var("MEDSETTLE_TEST_STORE_SPARE_PAGES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    else {
        return;
    };
    if let Err(e) = super::writer::limit_pages(writer, spare) {
        tracing::error!(error = %e, "test hook MEDSETTLE_TEST_STORE_SPARE_PAGES failed");
    }
}

/// One try at opening; corruption comes back as an error for which `is_corruption()` holds.
fn attempt(
    path: &Path,
    busy: Duration,
    keys: &KeySet,
) -> Result<(Connection, Connection, OpenReport), StoreError> {
    let existed = std::fs::metadata(path)
        .map(|m| m.len() > 0)
        .unwrap_or(false);
    if existed {
        probe(path, busy)?;
    }
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let mut writer = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    configure(&writer, busy).map_err(open_err)?;
    let mode: String = writer
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NoWal {
            path: path.to_owned(),
            mode,
        });
    }
    let mut sealed_now = false;
    let migrated_from = migrate::migrate(&mut writer, path, MIGRATIONS, keys, |v| {
        sealed_now |= v == SEALED_SINCE;
    })?;
    if sealed_now {
        // The clear values the seal step replaced may still sit in old WAL frames: copy the
        // WAL into the file and cut it to zero length (secure_delete zeroed the freed space).
        writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(open_err)?;
    }
    let unclean_runs = ops::recover_unclean_runs(&mut writer).map_err(open_err)?;
    let reader = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    configure(&reader, busy).map_err(open_err)?;
    Ok((
        writer,
        reader,
        OpenReport {
            created: !existed,
            migrated_from,
            schema_version: SCHEMA_VERSION,
            quarantined: None,
            pending_quarantine: None,
            repaired: None,
            unclean_runs,
        },
    ))
}

/// Per-connection settings; `journal_mode` is per file and set once by the writer.
/// `secure_delete` makes SQLite zero the space a deleted or replaced value leaves behind
/// (in the page and on the freelist), so a value sealed in place (migration v7, the PIN-proof
/// scrub, a re-key) leaves no clear copy in the file. [`open`] lowers it to `FAST` on the
/// writer once those steps are done.
pub(super) fn configure(conn: &Connection, busy: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy)?;
    conn.set_prepared_statement_cache_capacity(super::cached::CAPACITY);
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "secure_delete", true)?;
    conn.pragma_update(None, "foreign_keys", true)
}

/// Refuses a newer or foreign database before anything is created beside it (the key file);
/// other problems (corruption included) are left to [`open`].
pub(super) fn refuse_foreign(path: &Path, busy: Duration) -> Result<(), StoreError> {
    let existed = std::fs::metadata(path)
        .map(|m| m.len() > 0)
        .unwrap_or(false);
    if !existed {
        return Ok(());
    }
    let Ok(conn) = read_only(path, busy) else {
        return Ok(());
    };
    match migrate::check_identity(&conn, path, SCHEMA_VERSION) {
        Err(e @ (StoreError::NewerSchema { .. } | StoreError::NotOurs { .. })) => Err(e),
        _ => Ok(()),
    }
}

/// Looks at an existing file through a read-only connection: refuses a foreign or newer
/// database (leaving it byte-identical) and reports corruption, including a `quick_check`
/// that does not answer `ok`.
fn probe(path: &Path, busy: Duration) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = read_only(path, busy)?;
    migrate::check_identity(&conn, path, SCHEMA_VERSION)?;
    let detail = quick_check(&conn).map_err(open_err)?;
    if detail != "ok" {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            detail,
        });
    }
    Ok(())
}

/// A read-only connection that leaves the file as found (immutable when nothing uses it).
pub(super) fn read_only(path: &Path, busy: Duration) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match immutable_uri(path) {
        Some(uri) => Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI),
        None => Connection::open_with_flags(path, flags),
    }
    .map_err(open_err)?;
    conn.busy_timeout(busy).map_err(open_err)?;
    Ok(conn)
}

/// A `file:` URI opening `path` with `immutable=1` when no connection can be using it (no
/// `-wal` or `-journal` beside it). Even a read-only connection to a WAL database creates
/// `-wal` and `-shm` files it cannot remove; an immutable one creates nothing, so a refused
/// file stays exactly as found. `None` (use a plain read-only open) when companions exist or
/// the path is not UTF-8.
fn immutable_uri(path: &Path) -> Option<String> {
    let busy = ["-wal", "-journal"]
        .iter()
        .any(|s| quarantine::with_suffix(path, s).exists());
    if busy {
        return None;
    }
    let mut uri = String::from("file:");
    for b in path.to_str()?.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    Some(uri)
}

/// `REINDEX` on a file whose `quick_check` failed, then `quick_check` again: true when the
/// file is healthy now (only indexes were damaged). One transaction: when a table is damaged
/// too, REINDEX fails and is rolled back, or the check still fails; either way the caller
/// quarantines the file.
fn reindex(path: &Path, busy: Duration) -> bool {
    let Ok(conn) = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) else {
        return false;
    };
    if configure(&conn, busy).is_err() {
        return false;
    }
    if let Err(e) = conn.execute_batch("REINDEX") {
        tracing::warn!(error = %e, "REINDEX of a damaged database failed");
        return false;
    }
    let healthy = quick_check(&conn).is_ok_and(|r| r == "ok");
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    healthy
}

/// `PRAGMA quick_check`, its rows joined by newlines (`"ok"` when healthy).
pub(super) fn quick_check(conn: &Connection) -> rusqlite::Result<String> {
    let mut stmt = conn.prepare("PRAGMA quick_check")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.join("\n"))
}

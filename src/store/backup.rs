//! `medsettle store backup` and `medsettle store pending`: a consistent copy of a live
//! database, and the count of sales a deletion would lose.
//!
//! The copy is SQLite's `VACUUM INTO` on a read-only connection: one read transaction, so it
//! is a consistent snapshot even while the daemon writes (WAL readers never block the writer,
//! nor the writer them), and it copies pages as they are — sealed personal data stays sealed,
//! readable only with the key set, which is NOT in the copy (it is copied apart, on request,
//! by the CLI). `VACUUM INTO` rather than the online-backup API because it needs no extra
//! rusqlite feature and takes its snapshot in one step instead of restarting when the writer
//! commits between steps.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{SCHEMA_VERSION, StoreError, migrate, open};

/// The sale states whose outcome is in doubt (`SaleState::IN_DOUBT`).
const IN_DOUBT: &str = "('settling', 'unknown', 'reversing', 'cancelling', 'held')";
/// The final states (`sales.rs` `CLOSED`).
const CLOSED: &str = "('settled', 'cancelled', 'abandoned')";

/// Sales a deletion of the database would lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pending {
    /// Every sale not in a final state (settled, cancelled, abandoned).
    pub open: u64,
    /// Of those, stored offline and not yet settled with the platform.
    pub stored: u64,
    /// Of those, whose outcome at the platform is in doubt.
    pub in_doubt: u64,
}

/// What [`backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The copy.
    pub to: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its schema version.
    pub schema_version: u32,
    /// Sales in the copy, all states.
    pub sales: u64,
    /// The copy's own pending sales.
    pub pending: Pending,
}

fn open_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Open {
        path: path.to_owned(),
        source,
    }
}

fn count(conn: &rusqlite::Connection, sql: &str) -> rusqlite::Result<u64> {
    conn.query_row(sql, [], |r| r.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
}

fn pending_in(conn: &rusqlite::Connection, schema_version: u32) -> rusqlite::Result<Pending> {
    // Schemas before 6 have no sales table: nothing can be pending there.
    if schema_version < 6 {
        return Ok(Pending::default());
    }
    Ok(Pending {
        open: count(
            conn,
            &format!("SELECT count(*) FROM sales WHERE state NOT IN {CLOSED}"),
        )?,
        stored: count(
            conn,
            &format!("SELECT count(*) FROM sales WHERE stored = 1 AND state NOT IN {CLOSED}"),
        )?,
        in_doubt: count(
            conn,
            &format!("SELECT count(*) FROM sales WHERE state IN {IN_DOUBT}"),
        )?,
    })
}

/// The pending sales of the database at `path`, read without writing to it (a running daemon
/// may hold it). Newer and foreign files are refused as by `Store::open`.
pub fn pending(path: &Path, busy: Duration) -> Result<Pending, StoreError> {
    std::fs::metadata(path).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        source,
    })?;
    let conn = open::read_only(path, busy)?;
    let version = migrate::check_identity(&conn, path, SCHEMA_VERSION)?;
    pending_in(&conn, version).map_err(open_err(path))
}

/// Copies the database at `path` to the new file `to` (never overwritten), consistent even
/// while a daemon writes to `path`. The copy is created mode 0600 under a temporary name, then
/// checked (`quick_check`, identity) and renamed into place, so `to` is either a whole, checked
/// copy or absent.
pub fn backup(path: &Path, busy: Duration, to: &Path) -> Result<BackupReport, StoreError> {
    let io = |p: &Path| {
        let p = p.to_owned();
        move |source| StoreError::Io { path: p, source }
    };
    std::fs::metadata(path).map_err(io(path))?;
    if to.exists() {
        return Err(StoreError::Io {
            path: to.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the backup file exists already; choose a new name (a backup never overwrites)",
            ),
        });
    }
    let conn = open::read_only(path, busy)?;
    migrate::check_identity(&conn, path, SCHEMA_VERSION)?;
    let partial = partial_name(to);
    let _ = std::fs::remove_file(&partial);
    {
        use std::os::unix::fs::OpenOptionsExt;
        // An empty file of our making: VACUUM INTO fills an empty file and keeps its mode.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .map_err(io(&partial))?;
    }
    let target = partial.to_str().ok_or_else(|| StoreError::Io {
        path: partial.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a UTF-8 path"),
    })?;
    let copied = conn
        .execute("VACUUM INTO ?1", [target])
        .map(drop)
        .map_err(open_err(path));
    drop(conn);
    match copied {
        Ok(()) => adopt(&partial, to),
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// `to` with `.partial` appended: where a copy is written before it is checked.
pub fn partial_name(to: &Path) -> PathBuf {
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    PathBuf::from(partial)
}

/// Checks the complete copy at `partial` (ours, current, `quick_check` ok), makes it durable
/// and renames it to `to`; a copy that fails the check is deleted. Used for copies made here
/// and for copies received from the running daemon (`GET /v1/store/backup`).
pub fn adopt(partial: &Path, to: &Path) -> Result<BackupReport, StoreError> {
    let io = |p: &Path| {
        let p = p.to_owned();
        move |source| StoreError::Io { path: p, source }
    };
    let report = match check_copy(partial) {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(partial);
            return Err(e);
        }
    };
    std::fs::File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(io(partial))?;
    std::fs::rename(partial, to).map_err(io(to))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(BackupReport {
        to: to.to_owned(),
        ..report
    })
}

/// A checked copy of the database at `path`, made beside it under a private temporary name,
/// opened and unlinked at once: the caller holds the only handle, and nothing is left behind
/// whatever happens next. What the daemon streams to an operator who may not read the
/// database file itself (a member of the service's group): sealed data stays sealed, and the
/// key set is not in it.
pub fn snapshot(path: &Path, busy: Duration) -> Result<(std::fs::File, BackupReport), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".backup-{}.db",
        hex::encode(rand::random::<[u8; 8]>())
    ));
    let report = backup(path, busy, &tmp)?;
    let opened = std::fs::File::open(&tmp).map_err(|source| StoreError::Io {
        path: tmp.clone(),
        source,
    });
    let _ = std::fs::remove_file(&tmp);
    Ok((opened?, report))
}

/// Opens the fresh copy read-only and checks it: ours, current, `quick_check` ok.
fn check_copy(copy: &Path) -> Result<BackupReport, StoreError> {
    let conn = rusqlite::Connection::open_with_flags(
        copy,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err(copy))?;
    let version = migrate::check_identity(&conn, copy, SCHEMA_VERSION)?;
    let check = open::quick_check(&conn).map_err(open_err(copy))?;
    if check != "ok" {
        return Err(StoreError::Corrupt {
            path: copy.to_owned(),
            detail: check,
        });
    }
    let sales = if version >= 6 {
        count(&conn, "SELECT count(*) FROM sales").map_err(open_err(copy))?
    } else {
        0
    };
    let pending = pending_in(&conn, version).map_err(open_err(copy))?;
    let bytes = std::fs::metadata(copy)
        .map(|m| m.len())
        .map_err(|source| StoreError::Io {
            path: copy.to_owned(),
            source,
        })?;
    Ok(BackupReport {
        to: copy.to_owned(),
        bytes,
        schema_version: version,
        sales,
        pending,
    })
}

/// Writes `text` (a key set file's content) to the new file `to`, mode 0600, never
/// overwriting: the key set a backup needs, kept apart from it.
pub fn write_key_copy(text: &str, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)?;
    f.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        f.write_all(b"\n")?;
    }
    f.sync_all()
}

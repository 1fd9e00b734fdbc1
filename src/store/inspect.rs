//! A read-only look at a database file for `medsettle doctor`: identity, schema version,
//! journal mode, `quick_check`, size and the offline queue.
//!
//! Unlike [`Store::open`](super::Store::open) it never creates, migrates or quarantines: a
//! newer, foreign or corrupt file is reported and left exactly as found.

use std::path::Path;
use std::time::Duration;

use super::{OfflineTotals, SCHEMA_VERSION, StoreError, migrate, open, sales};

/// What [`inspect`] found in an existing database file.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// `PRAGMA user_version`.
    pub schema_version: u32,
    /// True when the file header says WAL (what [`Store::open`](super::Store::open) sets).
    pub wal: bool,
    /// `PRAGMA quick_check`: `"ok"` or SQLite's findings.
    pub quick_check: String,
    /// Bytes of the file plus its `-wal` companion.
    pub size_bytes: u64,
    /// The open stored sales; `None` when the schema predates the sales tables.
    pub offline: Option<OfflineTotals>,
}

/// Inspects the database at `path` without writing to it. A missing file is
/// [`StoreError::Io`] with `NotFound`; newer and foreign files are refused as by `open`.
pub fn inspect(path: &Path, busy: Duration) -> Result<Inspection, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    let wal_size = std::fs::metadata(super::quarantine::with_suffix(path, "-wal"))
        .map(|m| m.len())
        .unwrap_or(0);
    let mut header = [0u8; 20];
    let wal = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(io)?;
        f.read_exact(&mut header).is_ok() && header[18] == 2 && header[19] == 2
    };
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = open::read_only(path, busy)?;
    let schema_version = migrate::check_identity(&conn, path, SCHEMA_VERSION)?;
    let quick_check = open::quick_check(&conn).map_err(open_err)?;
    let offline = if schema_version >= 6 && quick_check == "ok" {
        Some(sales::offline_totals(&conn).map_err(open_err)?)
    } else {
        None
    };
    Ok(Inspection {
        schema_version,
        wal,
        quick_check,
        size_bytes: size + wal_size,
        offline,
    })
}

//! Moving a corrupt database aside: `<name>` becomes `<name>.corrupt-YYYYMMDDTHHMMSSZ`
//! (with `.1`, `.2`, ... appended if that name is taken), and its `-wal`, `-shm` and
//! `-journal` companions follow under the same new name so SQLite can still open the copy.
//!
//! Renames only: this module never deletes or rewrites a file, and never overwrites one.
//!
//! The fresh database remembers the quarantine (`meta` key [`PENDING`]) until `medsettle store
//! salvage` lifts it: money operations stay stopped across restarts until an operator acted.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Quarantine, StoreError};

/// The files SQLite keeps beside a database.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Renames `path` and its companions to a fresh timestamped name; returns where they went.
pub(super) fn move_aside(
    path: &Path,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Quarantine, StoreError> {
    let failed = |source| StoreError::Quarantine {
        path: path.to_owned(),
        reason: reason.to_owned(),
        source,
    };
    let moved_to = free_name(path, now);
    // Companions first, the main file last: a fresh database must never be created next to
    // a stale WAL. If any rename fails the open is refused, so nothing new is created.
    for suffix in COMPANIONS {
        let from = with_suffix(path, suffix);
        if from.exists() {
            std::fs::rename(&from, with_suffix(&moved_to, suffix)).map_err(failed)?;
        }
    }
    if path.exists() {
        std::fs::rename(path, &moved_to).map_err(failed)?;
    }
    tracing::error!(
        from = %path.display(),
        to = %moved_to.display(),
        reason,
        "corrupt database moved aside"
    );
    Ok(Quarantine {
        moved_to,
        reason: reason.to_owned(),
    })
}

/// `<path>.corrupt-<UTC time>`, with a counter if that name or a companion of it exists.
fn free_name(path: &Path, now: DateTime<Utc>) -> PathBuf {
    let base = with_suffix(path, &format!(".corrupt-{}", now.format("%Y%m%dT%H%M%SZ")));
    let taken = |p: &Path| p.exists() || COMPANIONS.iter().any(|s| with_suffix(p, s).exists());
    if !taken(&base) {
        return base;
    }
    (1u32..)
        .map(|n| with_suffix(&base, &format!(".{n}")))
        .find(|p| !taken(p))
        .expect("an unused name exists")
}

/// `path` with `suffix` appended to its file name (not replacing an extension).
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The `meta` key of an unresolved quarantine (JSON of [`Quarantine`]).
pub(super) const PENDING: &str = "store.quarantine";

/// Records `q` as unresolved in the fresh database.
pub(super) fn remember(conn: &Connection, q: &Quarantine) -> rusqlite::Result<()> {
    let json = serde_json::to_string(q).expect("a quarantine serialises");
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![PENDING, json],
    )?;
    Ok(())
}

/// The unresolved quarantine, if any.
pub(super) fn pending(conn: &Connection) -> rusqlite::Result<Option<Quarantine>> {
    let json: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [PENDING], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(json.map(|j| {
        serde_json::from_str(&j).unwrap_or(Quarantine {
            moved_to: PathBuf::new(),
            reason: j,
        })
    }))
}

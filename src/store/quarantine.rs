//! Moving a corrupt database aside: `<name>` becomes `<name>.corrupt-YYYYMMDDTHHMMSSZ`
//! (with `.1`, `.2`, ... appended if that name is taken), and its `-wal`, `-shm` and
//! `-journal` companions follow under the same new name so SQLite can still open the copy.
//!
//! Renames only: this module never deletes or rewrites a file, and never overwrites one.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

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

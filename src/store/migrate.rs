//! Schema migrations by `PRAGMA user_version`: the ordered list of SQL steps and the loop that
//! applies them, one `BEGIN IMMEDIATE` transaction per step.
//!
//! Each step's SQL, its `user_version` bump and (first step only) the `application_id` commit
//! together or not at all, so a failure leaves the file at the previous version. A file newer
//! than [`SCHEMA_VERSION`] or belonging to another program is refused before anything is
//! written. This module must not set connection pragmas or open files; `open.rs` does that.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::crypt::KeySet;
use super::{APPLICATION_ID, SCHEMA_VERSION, StoreError};

/// One schema step: the SQL that takes version `to - 1` to `to`.
pub(super) struct Migration {
    /// The version this step reaches.
    pub to: u32,
    /// The SQL, applied in one transaction.
    pub sql: &'static str,
    /// Rust run after the SQL in the same transaction (data that SQL alone cannot convert,
    /// e.g. sealing personal data under the key set).
    pub post: Option<PostStep>,
}

/// The Rust half of a step, run inside its transaction with the database key set.
pub(super) type PostStep = fn(&Connection, &KeySet) -> Result<(), StoreError>;

/// Every step, in order: `MIGRATIONS[i].to == i + 1`.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        to: 1,
        sql: include_str!("migrations/0001_meta.sql"),
        post: None,
    },
    Migration {
        to: 2,
        sql: include_str!("migrations/0002_runs.sql"),
        post: None,
    },
    Migration {
        to: 3,
        sql: include_str!("migrations/0003_essc_nonce.sql"),
        post: None,
    },
    Migration {
        to: 4,
        sql: include_str!("migrations/0004_sequences.sql"),
        post: None,
    },
    Migration {
        to: 5,
        sql: include_str!("migrations/0005_upstream_audit.sql"),
        post: None,
    },
    Migration {
        to: 6,
        sql: include_str!("migrations/0006_sales.sql"),
        post: None,
    },
    Migration {
        to: 7,
        sql: include_str!("migrations/0007_sealed_pii.sql"),
        post: Some(super::sealed::seal_existing_rows),
    },
    Migration {
        to: 8,
        sql: include_str!("migrations/0008_idempotency_ttl.sql"),
        post: None,
    },
    Migration {
        to: 9,
        sql: include_str!("migrations/0009_audit_unsent.sql"),
        post: None,
    },
    Migration {
        to: 10,
        sql: include_str!("migrations/0010_outbox.sql"),
        post: None,
    },
    Migration {
        to: 11,
        sql: include_str!("migrations/0011_trace_reports.sql"),
        post: None,
    },
];

const _: () = assert!(MIGRATIONS.len() == SCHEMA_VERSION as usize);

/// The file's `user_version`.
pub(super) fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// The file's `application_id`.
pub(super) fn application_id(conn: &Connection) -> rusqlite::Result<i32> {
    conn.pragma_query_value(None, "application_id", |r| r.get(0))
}

/// Checks that the file is ours (or empty) and not newer than `supported`; returns its version.
/// Reads only, so it is safe on a file that must be left untouched.
pub(super) fn check_identity(
    conn: &Connection,
    path: &Path,
    supported: u32,
) -> Result<u32, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let app = application_id(conn).map_err(open_err)?;
    if app != 0 && app != APPLICATION_ID {
        return Err(StoreError::NotOurs {
            path: path.to_owned(),
            reason: format!("application_id is {app:#010x}, medsettle uses {APPLICATION_ID:#010x}"),
        });
    }
    let found = user_version(conn).map_err(open_err)?;
    if found > supported {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found,
            supported,
        });
    }
    if found == 0 {
        let objects: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(open_err)?;
        if objects > 0 {
            return Err(StoreError::NotOurs {
                path: path.to_owned(),
                reason: format!("it holds {objects} tables or indexes but no medsettle schema"),
            });
        }
    }
    Ok(found)
}

/// Applies `steps` until the file is at `steps.len()`, calling `after_commit(version)` after
/// each committed step. Returns the version found before the first step.
pub(super) fn migrate(
    conn: &mut Connection,
    path: &Path,
    steps: &[Migration],
    keys: &KeySet,
    mut after_commit: impl FnMut(u32),
) -> Result<u32, StoreError> {
    let target = steps.len() as u32;
    let mut first = None;
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
        // Read inside the lock: another process may have migrated meanwhile.
        let from = check_identity(&tx, path, target)?;
        first.get_or_insert(from);
        if from == target {
            tx.commit().map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
            return Ok(first.unwrap_or(from));
        }
        let step = &steps[from as usize];
        debug_assert_eq!(step.to, from + 1);
        let mut applied = tx.execute_batch(step.sql);
        if let (Ok(()), Some(post)) = (&applied, step.post) {
            if let Err(e) = post(&tx, keys) {
                return Err(match e {
                    StoreError::Sqlite(source) => StoreError::Migration {
                        path: path.to_owned(),
                        from,
                        to: step.to,
                        source,
                    },
                    other => other,
                });
            }
        }
        applied = applied
            .and_then(|()| tx.pragma_update(None, "user_version", step.to))
            .and_then(|()| tx.pragma_update(None, "application_id", APPLICATION_ID))
            .and_then(|()| tx.commit());
        applied.map_err(|source| StoreError::Migration {
            path: path.to_owned(),
            from,
            to: step.to,
            source,
        })?;
        tracing::info!(from, to = step.to, "database schema step applied");
        after_commit(step.to);
    }
}

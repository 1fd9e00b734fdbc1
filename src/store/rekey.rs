//! `medsettle store rekey` on a database file: opens it alone (no writer thread, no
//! migration, no run marking, no quarantine), re-seals in small transactions through
//! `sealed.rs` and checkpoints. It must not change the schema or anything but sealed values.

use rusqlite::Connection;

use super::StoreError;
use super::crypt::KeySet;

/// `medsettle store rekey`: re-seals every value of the database at `path` under the first
/// key of `keys`, a few hundred values per transaction, then checkpoints and truncates the
/// WAL. Needs no daemon and does not migrate, mark runs or quarantine: a database that is not
/// at this code's schema version is refused. Safe beside a running daemon that already has
/// the same key set (each batch is one short write transaction), simplest with it stopped.
pub(super) fn rekey_file(
    path: &std::path::Path,
    busy: std::time::Duration,
    keys: KeySet,
) -> Result<
    (
        super::sealed::RekeyReport,
        std::collections::BTreeMap<String, u64>,
    ),
    StoreError,
> {
    use rusqlite::{OpenFlags, TransactionBehavior};
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    if !path.exists() {
        return Err(StoreError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no database file"),
        });
    }
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    super::open::configure(&conn, busy).map_err(open_err)?;
    let found = super::migrate::check_identity(&conn, path, super::SCHEMA_VERSION)?;
    if found != super::SCHEMA_VERSION {
        return Err(StoreError::Open {
            path: path.to_owned(),
            source: rusqlite::Error::InvalidParameterName(format!(
                "schema version {found}, not {}: start medsettle once to upgrade it, then re-key",
                super::SCHEMA_VERSION
            )),
        });
    }
    let crypt = super::sealed::load_crypt(&conn, keys)?;
    let mut report = super::sealed::RekeyReport::default();
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = super::sealed::rekey_step(&tx, &crypt, 256, &mut report)?;
        tx.commit()?;
        if changed == 0 {
            break;
        }
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let counts = super::sealed::count_by_key(&conn)?;
    report.current = counts.get(crypt.keys().write_id()).copied().unwrap_or(0);
    tracing::info!(
        resealed = report.resealed,
        key = %report.key_id,
        "database re-keyed"
    );
    Ok((report, counts))
}

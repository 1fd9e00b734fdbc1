//! The SQLite side of personal data at rest: the lookup key in `meta`, sealing the rows a v6
//! database holds (the Rust half of migration v7), re-sealing under the current key
//! (`medsettle store rekey`), and reading sealed columns back.
//!
//! Which columns are sealed is listed once, in [`SEALED`]. Everything here runs inside a
//! transaction its caller opened; nothing is logged but counts and key ids.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;

use super::StoreError;
use super::crypt::{Crypt, CryptError, KEY_LEN, KeySet, Lookup, label};

/// The `meta` key of the sealed lookup key (hex of the sealed bytes).
pub(super) const LOOKUP_META_KEY: &str = "crypt.lookup_key";

/// One sealed column: table, the SQL that names a row, column, label.
struct Column {
    table: &'static str,
    /// The row's key columns, as a SQL list.
    key: &'static str,
    column: &'static str,
    label: &'static str,
}

/// Every column that may hold personal data, sealed on write.
const SEALED: &[Column] = &[
    Column {
        table: "sales",
        key: "id",
        column: "doc",
        label: label::SALE_DOC,
    },
    Column {
        table: "sale_events",
        key: "sale_id, seq",
        column: "detail",
        label: label::EVENT_DETAIL,
    },
    Column {
        table: "upstream_audit",
        key: "msgid",
        column: "request",
        label: label::AUDIT_REQUEST,
    },
    Column {
        table: "upstream_audit",
        key: "msgid",
        column: "response",
        label: label::AUDIT_RESPONSE,
    },
    Column {
        table: "idempotency",
        key: "key",
        column: "response",
        label: label::IDEMPOTENCY_RESPONSE,
    },
];

/// The bytes of a sealed column (a BLOB; clear TEXT is handed on as bytes and refused by
/// [`Crypt::open`] as not sealed).
pub(super) fn raw(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Vec<u8>> {
    Ok(match r.get_ref(idx)? {
        ValueRef::Blob(b) | ValueRef::Text(b) => b.to_vec(),
        _ => Vec::new(),
    })
}

/// [`raw`] for a column that may be NULL.
pub(super) fn raw_opt(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Option<Vec<u8>>> {
    Ok(match r.get_ref(idx)? {
        ValueRef::Null => None,
        _ => Some(raw(r, idx)?),
    })
}

/// The ID number a sale document carries (`credential.id_number`), for its `person_key`.
pub(super) fn person_id_in_doc(doc: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Doc {
        credential: Option<Cred>,
    }
    #[derive(Deserialize)]
    struct Cred {
        id_number: Option<String>,
    }
    serde_json::from_str::<Doc>(doc)
        .ok()?
        .credential?
        .id_number
        .filter(|s| !s.trim().is_empty())
}

/// Creates the lookup key if the database has none.
fn ensure_lookup_key(conn: &Connection, keys: &KeySet) -> Result<(), StoreError> {
    let have: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [LOOKUP_META_KEY],
            |r| r.get(0),
        )
        .optional()?;
    if have.is_none() {
        let fresh = Crypt::fresh_lookup_key();
        let sealed = keys.seal(label::LOOKUP_KEY, &*fresh);
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![LOOKUP_META_KEY, hex::encode(sealed)],
        )?;
    }
    Ok(())
}

/// The key set with this database's lookup key: fails with the key id when the key set
/// cannot open it (a wrong or incomplete `store.key`).
pub(super) fn load_crypt(conn: &Connection, keys: KeySet) -> Result<Crypt, StoreError> {
    let hexed: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [LOOKUP_META_KEY],
            |r| r.get(0),
        )
        .optional()?;
    let Some(hexed) = hexed else {
        return Err(CryptError::Malformed {
            label: label::LOOKUP_KEY.into(),
            reason: "missing from meta".into(),
        }
        .into());
    };
    let sealed = hex::decode(hexed).map_err(|_| CryptError::Malformed {
        label: label::LOOKUP_KEY.into(),
        reason: "not hex".into(),
    })?;
    let lookup = zeroize::Zeroizing::new(keys.open(label::LOOKUP_KEY, &sealed)?);
    if lookup.len() != KEY_LEN {
        return Err(CryptError::Malformed {
            label: label::LOOKUP_KEY.into(),
            reason: "wrong length".into(),
        }
        .into());
    }
    Ok(Crypt::new(keys, &lookup))
}

/// Migration v7's Rust half: creates the lookup key, seals every clear value of the sealed
/// columns and fills `sales.person_key`. Runs inside the migration's transaction.
pub(super) fn seal_existing_rows(conn: &Connection, keys: &KeySet) -> Result<(), StoreError> {
    ensure_lookup_key(conn, keys)?;
    // The lookup key was just written in this transaction; read it back through the key set.
    let hexed: String = conn.query_row(
        "SELECT value FROM meta WHERE key = ?1",
        [LOOKUP_META_KEY],
        |r| r.get(0),
    )?;
    let sealed = hex::decode(hexed).map_err(|_| CryptError::Malformed {
        label: label::LOOKUP_KEY.into(),
        reason: "not hex".into(),
    })?;
    let lookup = zeroize::Zeroizing::new(keys.open(label::LOOKUP_KEY, &sealed)?);
    let hasher = Lookup::new(&lookup);
    let mut sealed_values = 0usize;
    for c in SEALED {
        sealed_values += seal_by_key(conn, keys, c)?;
    }
    // person_key for the sales already there.
    let docs: Vec<(String, Vec<u8>)> = conn
        .prepare("SELECT id, doc FROM sales")?
        .query_map([], |r| Ok((r.get(0)?, raw(r, 1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, doc) in docs {
        let doc = keys.open_text(label::SALE_DOC, &doc)?;
        if let Some(pk) = person_id_in_doc(&doc).and_then(|n| hasher.person_key(&n)) {
            conn.execute(
                "UPDATE sales SET person_key = ?2 WHERE id = ?1",
                params![id, pk],
            )?;
        }
    }
    tracing::info!(
        values = sealed_values,
        key = keys.write_id(),
        "personal data sealed"
    );
    Ok(())
}

/// Seals the clear values of one column, row by row through the table's key columns.
fn seal_by_key(conn: &Connection, keys: &KeySet, c: &Column) -> Result<usize, StoreError> {
    let key_cols: Vec<&str> = c.key.split(',').map(str::trim).collect();
    let select = format!(
        "SELECT {}, {} FROM {} WHERE typeof({}) = 'text'",
        c.key, c.column, c.table, c.column
    );
    let rows: Vec<(Vec<rusqlite::types::Value>, String)> = conn
        .prepare(&select)?
        .query_map([], |r| {
            Ok((row_key(r, key_cols.len())?, r.get(key_cols.len())?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut update = update_by_key(conn, c, &key_cols)?;
    let n = rows.len();
    for (k, text) in rows {
        let sealed = rusqlite::types::Value::Blob(keys.seal(c.label, text.as_bytes()));
        let mut args = vec![sealed];
        args.extend(k);
        update.execute(rusqlite::params_from_iter(args))?;
    }
    Ok(n)
}

/// The first `n` columns of a row: its key (the table's key columns, in order).
fn row_key(r: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Vec<rusqlite::types::Value>> {
    (0..n)
        .map(|i| r.get::<_, rusqlite::types::Value>(i))
        .collect()
}

/// `UPDATE table SET column = ?1 WHERE key1 = ?2 AND …`: the new value first, then the key.
fn update_by_key<'c>(
    conn: &'c Connection,
    c: &Column,
    key_cols: &[&str],
) -> rusqlite::Result<rusqlite::Statement<'c>> {
    let cond = key_cols
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k} = ?{}", i + 2))
        .collect::<Vec<_>>()
        .join(" AND ");
    conn.prepare(&format!(
        "UPDATE {} SET {} = ?1 WHERE {cond}",
        c.table, c.column
    ))
}

/// What a re-key did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RekeyReport {
    /// Values re-sealed under the current key.
    pub resealed: u64,
    /// Values already under the current key.
    pub current: u64,
    /// The key every value is now sealed under.
    pub key_id: String,
}

/// Re-seals every sealed value (and the lookup key) that is not under the key set's first
/// key. One call handles at most `batch` values per column and answers how many it changed,
/// so the caller can commit between calls and stop when it answers 0.
pub(super) fn rekey_step(
    conn: &Connection,
    crypt: &Crypt,
    batch: u32,
    report: &mut RekeyReport,
) -> Result<u64, StoreError> {
    let keys = crypt.keys();
    let current = keys.write_id().to_owned();
    report.key_id.clone_from(&current);
    let mut changed = 0u64;
    // The lookup key first: it is one value.
    let hexed: String = conn.query_row(
        "SELECT value FROM meta WHERE key = ?1",
        [LOOKUP_META_KEY],
        |r| r.get(0),
    )?;
    let sealed = hex::decode(&hexed).map_err(|_| CryptError::Malformed {
        label: label::LOOKUP_KEY.into(),
        reason: "not hex".into(),
    })?;
    if KeySet::key_id_of(&sealed) != Some(current.as_str()) {
        let lookup = zeroize::Zeroizing::new(keys.open(label::LOOKUP_KEY, &sealed)?);
        conn.execute(
            "UPDATE meta SET value = ?2 WHERE key = ?1",
            params![
                LOOKUP_META_KEY,
                hex::encode(keys.seal(label::LOOKUP_KEY, &lookup))
            ],
        )?;
        changed += 1;
    }
    // A sealed value's key id sits at bytes 4.. (after "M1" and the length byte); compare in
    // SQL so values already current are never read.
    let prefix = {
        let mut p = b"M1".to_vec();
        p.push(u8::try_from(current.len()).unwrap_or(0));
        p.extend_from_slice(current.as_bytes());
        p
    };
    for c in SEALED {
        let key_cols: Vec<&str> = c.key.split(',').map(str::trim).collect();
        let select = format!(
            "SELECT {key}, {col} FROM {table}
             WHERE {col} IS NOT NULL AND substr({col}, 1, ?1) != ?2 LIMIT ?3",
            key = c.key,
            col = c.column,
            table = c.table,
        );
        let rows: Vec<(Vec<rusqlite::types::Value>, Vec<u8>)> = conn
            .prepare(&select)?
            .query_map(params![prefix.len() as i64, prefix, batch], |r| {
                Ok((row_key(r, key_cols.len())?, raw(r, key_cols.len())?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut update = update_by_key(conn, c, &key_cols)?;
        for (k, old) in rows {
            let plain = keys.open(c.label, &old)?;
            let mut args = vec![rusqlite::types::Value::Blob(keys.seal(c.label, &plain))];
            args.extend(k);
            update.execute(rusqlite::params_from_iter(args))?;
            changed += 1;
        }
    }
    report.resealed += changed;
    Ok(changed)
}

/// Counts sealed values per key id (for `rekey`'s report and tests).
pub(super) fn count_by_key(
    conn: &Connection,
) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
    let mut out = std::collections::BTreeMap::new();
    for c in SEALED {
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM {} WHERE {} IS NOT NULL",
            c.column, c.table, c.column
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let v = raw(r, 0)?;
            let id = KeySet::key_id_of(&v).unwrap_or("(clear)").to_owned();
            *out.entry(id).or_insert(0) += 1;
        }
    }
    Ok(out)
}

//! The SQL of sales: creation, compare-and-set transitions with their history row, the offline
//! limits checked in the same transaction that stores a sale, idempotency keys, and the read
//! queries of the queue. Writes run inside the transaction `ops::apply` opened; reads on the
//! read-only connection.

use super::cached::Cached;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::crypt::{Crypt, label};
use super::limits::{LimitKind, OfflineLimits};
use super::sealed::{person_id_in_doc, raw};

/// States in which a stored sale still counts against the offline limits (not yet settled,
/// cancelled or abandoned).
const CLOSED: &str = "('settled', 'cancelled', 'abandoned')";

/// A sale row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRow {
    pub id: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub state: String,
    pub stored: bool,
    pub amount_fen: i64,
    pub next_attempt_at_ms: Option<i64>,
    pub doc: String,
}

/// One history row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SaleEventRow {
    pub seq: i64,
    pub at_ms: i64,
    pub from_state: Option<String>,
    pub to_state: String,
    pub event: String,
    /// JSON.
    pub detail: String,
}

/// A sale as the fleet drain reads it: its row and its version (the seq of its newest
/// history row), from one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedSale {
    pub row: SaleRow,
    pub version: i64,
}

/// Stored sales still open: count, amount, oldest creation time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OfflineTotals {
    pub count: u32,
    pub amount_fen: i64,
    pub oldest_created_at_ms: Option<i64>,
}

/// A remembered API answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRow {
    pub route: String,
    pub request_hash: String,
    pub status: u16,
    pub response: String,
}

/// The `Idempotency-Key` of the API request a write answers: committed with the write in the
/// same transaction (as an entry without an answer yet, naming the sale), so a crash between
/// the write and remembering its answer cannot make a retry run the request again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub key: String,
    /// The matched route, e.g. `/v1/sales`.
    pub route: String,
    /// The keyed hash of method, path and body.
    pub request_hash: String,
    /// Entries created before this (unix ms) are expired: the key may be claimed anew.
    pub expired_before_ms: i64,
}

/// An idempotency entry as found: answered, or only claimed by the write it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyEntry {
    pub route: String,
    pub request_hash: String,
    /// `(status, body)` once the answer was remembered.
    pub answer: Option<(u16, String)>,
    /// The sale the request wrote (committed with it), if it wrote one.
    pub sale_id: Option<String>,
    pub created_at_ms: i64,
}

/// What a new sale writes.
pub(super) struct NewRow<'a> {
    pub id: &'a str,
    pub at_ms: i64,
    pub state: &'a str,
    pub amount_fen: i64,
    pub doc: &'a str,
    pub detail: &'a str,
    pub idempotency: Option<&'a IdempotencyClaim>,
}

pub(super) fn create(tx: &Connection, crypt: &Crypt, n: &NewRow<'_>) -> Result<(), StoreError> {
    let person_key = person_id_in_doc(n.doc).and_then(|id| crypt.person_key(&id));
    let inserted = tx.exec_cached(
        "INSERT INTO sales (id, created_at_ms, updated_at_ms, state, amount_fen, doc, person_key)
         VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
        params![
            n.id,
            n.at_ms,
            n.state,
            n.amount_fen,
            crypt.seal(label::SALE_DOC, n.doc),
            person_key
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::DuplicateSale {
            id: n.id.to_owned(),
        });
    }
    tx.exec_cached(
        "INSERT INTO sale_events (sale_id, seq, at_ms, from_state, to_state, event, detail)
         VALUES (?1, 1, ?2, NULL, ?3, 'create', ?4)",
        params![
            n.id,
            n.at_ms,
            n.state,
            crypt.seal(label::EVENT_DETAIL, n.detail)
        ],
    )?;
    if let Some(claim) = n.idempotency {
        claim_key(tx, claim, n.id, n.at_ms)?;
    }
    Ok(())
}

/// Records `claim` as belonging to the sale `sale_id`, without an answer yet, in the write's
/// own transaction. An expired entry under the key is replaced; a live one is kept (the API
/// holds the key's lock, so there is none unless two processes share the database).
fn claim_key(
    tx: &Connection,
    claim: &IdempotencyClaim,
    sale_id: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    tx.exec_cached(
        "INSERT INTO idempotency (key, route, request_hash, status, response, sale_id, created_at_ms)
         VALUES (?1, ?2, ?3, NULL, NULL, ?4, ?5)
         ON CONFLICT (key) DO UPDATE SET route = excluded.route,
             request_hash = excluded.request_hash, status = NULL, response = NULL,
             sale_id = excluded.sale_id, created_at_ms = excluded.created_at_ms
         WHERE idempotency.created_at_ms < ?6",
        params![
            claim.key,
            claim.route,
            claim.request_hash,
            sale_id,
            at_ms,
            claim.expired_before_ms
        ],
    )?;
    Ok(())
}

/// What a transition writes.
pub(super) struct Transition<'a> {
    pub id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub event: &'a str,
    pub at_ms: i64,
    pub doc: &'a str,
    pub detail: &'a str,
    pub next_attempt_at_ms: Option<i64>,
    pub store_offline: Option<OfflineLimits>,
}

pub(super) fn transition(
    tx: &Connection,
    crypt: &Crypt,
    t: &Transition<'_>,
) -> Result<(), StoreError> {
    let current: Option<(String, bool, i64)> = tx
        .row_cached(
            "SELECT state, stored, amount_fen FROM sales WHERE id = ?1",
            [t.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((state, stored, amount)) = current else {
        return Err(StoreError::UnknownSale {
            id: t.id.to_owned(),
        });
    };
    if state != t.from {
        return Err(StoreError::SaleStateConflict {
            id: t.id.to_owned(),
            expected: t.from.to_owned(),
            actual: state,
        });
    }
    let mut stored_now = stored;
    if let Some(limits) = t.store_offline {
        if !stored {
            check_limits(tx, amount, limits)?;
        }
        stored_now = true;
    }
    tx.exec_cached(
        "UPDATE sales SET state = ?2, updated_at_ms = ?3, doc = ?4, next_attempt_at_ms = ?5,
         stored = ?6 WHERE id = ?1",
        params![
            t.id,
            t.to,
            t.at_ms,
            crypt.seal(label::SALE_DOC, t.doc),
            t.next_attempt_at_ms,
            stored_now
        ],
    )?;
    tx.exec_cached(
        "INSERT INTO sale_events (sale_id, seq, at_ms, from_state, to_state, event, detail)
         SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3, ?4, ?5, ?6
         FROM sale_events WHERE sale_id = ?1",
        params![
            t.id,
            t.at_ms,
            t.from,
            t.to,
            t.event,
            crypt.seal(label::EVENT_DETAIL, t.detail)
        ],
    )?;
    // The fleet outbox row of this change, in its savepoint (only when on and settled).
    super::outbox::enqueue(tx, t.id, t.doc, t.at_ms)?;
    // The trace reports this change owes (a settlement's 3505s, a refund's 3506s).
    super::trace::on_transition(tx, t.id, t.from, t.to, t.doc, t.at_ms)?;
    Ok(())
}

fn check_limits(tx: &Connection, amount: i64, limits: OfflineLimits) -> Result<(), StoreError> {
    let refuse = |limit, current: i64, max: i64| StoreError::OfflineLimit {
        limit,
        current,
        max,
        amount_fen: amount,
    };
    if amount > limits.per_sale_fen {
        return Err(refuse(LimitKind::PerSale, amount, limits.per_sale_fen));
    }
    let totals = offline_totals_in(tx)?;
    if i64::from(totals.count) + 1 > i64::from(limits.count) {
        return Err(refuse(
            LimitKind::Count,
            i64::from(totals.count),
            i64::from(limits.count),
        ));
    }
    if totals.amount_fen + amount > limits.total_fen {
        return Err(refuse(
            LimitKind::Total,
            totals.amount_fen,
            limits.total_fen,
        ));
    }
    Ok(())
}

/// The running totals (kept by triggers) and the oldest open stored sale (by index).
fn offline_totals_in(conn: &Connection) -> rusqlite::Result<OfflineTotals> {
    conn.row_cached(
        &format!(
            "SELECT t.count, t.amount_fen,
                    (SELECT min(created_at_ms) FROM sales INDEXED BY sales_stored_open
                     WHERE stored = 1 AND state NOT IN {CLOSED})
             FROM offline_totals t WHERE t.id = 1"
        ),
        [],
        |r| {
            Ok(OfflineTotals {
                count: r.get(0)?,
                amount_fen: r.get(1)?,
                oldest_created_at_ms: r.get(2)?,
            })
        },
    )
}

/// Remembers an answer: a new entry, the answer of an entry its write claimed (same request),
/// or a replacement of an expired entry. `false` when a live answered entry stands.
pub(super) fn idempotency_put(
    tx: &Connection,
    crypt: &Crypt,
    key: &str,
    row: &IdempotencyRow,
    at_ms: i64,
    expired_before_ms: i64,
) -> Result<bool, StoreError> {
    let n = tx.exec_cached(
        "INSERT INTO idempotency (key, route, request_hash, status, response, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (key) DO UPDATE SET status = excluded.status,
             response = excluded.response,
             sale_id = CASE WHEN idempotency.created_at_ms < ?7 THEN NULL
                            ELSE idempotency.sale_id END,
             route = excluded.route, request_hash = excluded.request_hash,
             created_at_ms = CASE WHEN idempotency.created_at_ms < ?7
                                  THEN excluded.created_at_ms
                                  ELSE idempotency.created_at_ms END
         WHERE idempotency.created_at_ms < ?7
            OR (idempotency.status IS NULL AND idempotency.request_hash = excluded.request_hash)",
        params![
            key,
            row.route,
            row.request_hash,
            row.status,
            crypt.seal(label::IDEMPOTENCY_RESPONSE, &row.response),
            at_ms,
            expired_before_ms
        ],
    )?;
    Ok(n == 1)
}

// ---- reads -------------------------------------------------------------------------------

/// A sale row with its document still sealed.
type SealedSale = (SaleRow, Vec<u8>);

fn sale_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SealedSale> {
    Ok((
        SaleRow {
            id: r.get(0)?,
            created_at_ms: r.get(1)?,
            updated_at_ms: r.get(2)?,
            state: r.get(3)?,
            stored: r.get(4)?,
            amount_fen: r.get(5)?,
            next_attempt_at_ms: r.get(6)?,
            doc: String::new(),
        },
        raw(r, 7)?,
    ))
}

fn unseal_sale(crypt: &Crypt, (mut row, doc): SealedSale) -> Result<SaleRow, StoreError> {
    row.doc = crypt.open(label::SALE_DOC, &doc)?;
    Ok(row)
}

const SALE_COLUMNS: &str =
    "id, created_at_ms, updated_at_ms, state, stored, amount_fen, next_attempt_at_ms, doc";

pub(super) fn sale(
    conn: &Connection,
    crypt: &Crypt,
    id: &str,
) -> Result<Option<SaleRow>, StoreError> {
    conn.prepare_cached(&format!("SELECT {SALE_COLUMNS} FROM sales WHERE id = ?1"))?
        .query_row([id], sale_row)
        .optional()?
        .map(|s| unseal_sale(crypt, s))
        .transpose()
}

/// A sale with its version, read in one statement (one snapshot).
pub(super) fn sale_versioned(
    conn: &Connection,
    crypt: &Crypt,
    id: &str,
) -> Result<Option<VersionedSale>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {SALE_COLUMNS},
            (SELECT coalesce(max(seq), 0) FROM sale_events WHERE sale_id = sales.id)
         FROM sales WHERE id = ?1"
    ))?
    .query_row([id], |r| Ok((sale_row(r)?, r.get::<_, i64>(8)?)))
    .optional()?
    .map(|(sealed, version)| {
        Ok(VersionedSale {
            row: unseal_sale(crypt, sealed)?,
            version,
        })
    })
    .transpose()
}

pub(super) fn sale_events(
    conn: &Connection,
    crypt: &Crypt,
    id: &str,
) -> Result<Vec<SaleEventRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at_ms, from_state, to_state, event, detail FROM sale_events
         WHERE sale_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok((
            SaleEventRow {
                seq: r.get(0)?,
                at_ms: r.get(1)?,
                from_state: r.get(2)?,
                to_state: r.get(3)?,
                event: r.get(4)?,
                detail: String::new(),
            },
            raw(r, 5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (mut row, detail) = row?;
        row.detail = crypt.open(label::EVENT_DETAIL, &detail)?;
        out.push(row);
    }
    Ok(out)
}

/// Sales in any of `states` (oldest first), optionally only stored ones and only those of one
/// person (by `person_key`), at most `limit`.
pub(super) fn sales_in(
    conn: &Connection,
    crypt: &Crypt,
    states: &[String],
    stored_only: bool,
    person: Option<&str>,
    after_id: Option<&str>,
    limit: u32,
) -> Result<Vec<SaleRow>, StoreError> {
    // A number that hashes to nothing (blank) matches nothing.
    let person_key: Option<Vec<u8>> = person.map(|n| crypt.person_key(n).unwrap_or_default());
    let list = states
        .iter()
        .map(|s| format!("'{}'", s.replace('\'', "")))
        .collect::<Vec<_>>()
        .join(",");
    let sql = format!(
        "SELECT {SALE_COLUMNS} FROM sales WHERE state IN ({list}) AND (?1 = 0 OR stored = 1)
         AND (?2 IS NULL OR (created_at_ms, id) > (SELECT created_at_ms, id FROM sales WHERE id = ?2))
         AND (?4 IS NULL OR person_key = ?4)
         ORDER BY created_at_ms, id LIMIT ?3"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![stored_only, after_id, limit, person_key], sale_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(unseal_sale(crypt, row?)?);
    }
    Ok(out)
}

/// The forwarder's page of due work: sales in any of `states` whose next attempt is due at
/// `now_ms` (`None`: backoff ignored, an operator's flush), never an online (`stored = 0`)
/// `reversed` sale (it waits for its cashier), oldest first by (created_at_ms, id) after the
/// keyset cursor `after`, at most `limit`. Selected in SQL, so any number of rows in backoff
/// never hides a newer due one.
pub(super) fn sales_due(
    conn: &Connection,
    crypt: &Crypt,
    states: &[String],
    now_ms: Option<i64>,
    after: Option<(i64, String)>,
    limit: u32,
) -> Result<Vec<SaleRow>, StoreError> {
    let list = state_list(states);
    let (after_at, after_id) = after.map_or((None, None), |(at, id)| (Some(at), Some(id)));
    let sql = format!(
        "SELECT {SALE_COLUMNS} FROM sales WHERE state IN ({list})
         AND NOT (state = 'reversed' AND stored = 0)
         AND (?1 IS NULL OR next_attempt_at_ms IS NULL OR next_attempt_at_ms <= ?1)
         AND (?2 IS NULL OR (created_at_ms, id) > (?2, ?3))
         ORDER BY created_at_ms, id LIMIT ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![now_ms, after_at, after_id, limit], sale_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(unseal_sale(crypt, row?)?);
    }
    Ok(out)
}

/// How many sales in any of `states` wait for a later attempt (`next_attempt_at_ms > now_ms`),
/// online `reversed` sales left out, and when the earliest of them is due.
pub(super) fn sales_waiting(
    conn: &Connection,
    states: &[String],
    now_ms: i64,
) -> rusqlite::Result<(u64, Option<i64>)> {
    let list = state_list(states);
    conn.row_cached(
        &format!(
            "SELECT count(*), min(next_attempt_at_ms) FROM sales WHERE state IN ({list})
             AND NOT (state = 'reversed' AND stored = 0) AND next_attempt_at_ms > ?1"
        ),
        [now_ms],
        |r| {
            Ok((
                u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                r.get::<_, Option<i64>>(1)?,
            ))
        },
    )
}

/// Online sales (`stored = 0`) in any of `states` whose last change is older than
/// `before_ms`, oldest first, at most `limit`: the sales a cashier left unattended.
pub(super) fn sales_unattended(
    conn: &Connection,
    crypt: &Crypt,
    states: &[String],
    before_ms: i64,
    limit: u32,
    visits_only: bool,
) -> Result<Vec<SaleRow>, StoreError> {
    let list = state_list(states);
    // Outpatient visits are the sales whose id starts with `V`.
    let visits = if visits_only { "AND id LIKE 'V%'" } else { "" };
    let sql = format!(
        "SELECT {SALE_COLUMNS} FROM sales WHERE state IN ({list}) AND stored = 0 {visits}
         AND updated_at_ms < ?1 ORDER BY created_at_ms, id LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![before_ms, limit], sale_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(unseal_sale(crypt, row?)?);
    }
    Ok(out)
}

/// `'a','b'` for an `IN` list of state names (quotes dropped: names are ours, never input).
fn state_list(states: &[String]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.replace('\'', "")))
        .collect::<Vec<_>>()
        .join(",")
}

/// How many sales are in any of `states` (only stored ones when `stored_only`).
pub(super) fn count_sales(
    conn: &Connection,
    states: &[String],
    stored_only: bool,
) -> rusqlite::Result<u64> {
    let list = states
        .iter()
        .map(|s| format!("'{}'", s.replace('\'', "")))
        .collect::<Vec<_>>()
        .join(",");
    conn.row_cached(
        &format!("SELECT count(*) FROM sales WHERE state IN ({list}) AND (?1 = 0 OR stored = 1)"),
        [stored_only],
        |r| r.get::<_, i64>(0).map(|n| u64::try_from(n).unwrap_or(0)),
    )
}

pub(super) fn offline_totals(conn: &Connection) -> rusqlite::Result<OfflineTotals> {
    offline_totals_in(conn)
}

/// The entry under `key` unless it expired (created before `live_since_ms`).
pub(super) fn idempotency_entry(
    conn: &Connection,
    crypt: &Crypt,
    key: &str,
    live_since_ms: i64,
) -> Result<Option<IdempotencyEntry>, StoreError> {
    let found = conn
        .prepare_cached(
            "SELECT route, request_hash, status, response, sale_id, created_at_ms
             FROM idempotency WHERE key = ?1 AND created_at_ms >= ?2",
        )?
        .query_row(params![key, live_since_ms], |r| {
            Ok((
                IdempotencyEntry {
                    route: r.get(0)?,
                    request_hash: r.get(1)?,
                    answer: None,
                    sale_id: r.get(4)?,
                    created_at_ms: r.get(5)?,
                },
                r.get::<_, Option<u16>>(2)?,
                super::sealed::raw_opt(r, 3)?,
            ))
        })
        .optional()?;
    found
        .map(|(mut entry, status, response)| {
            if let (Some(status), Some(response)) = (status, response) {
                entry.answer = Some((status, crypt.open(label::IDEMPOTENCY_RESPONSE, &response)?));
            }
            Ok(entry)
        })
        .transpose()
}

/// The answered entry under `key`, whatever its age.
pub(super) fn idempotency(
    conn: &Connection,
    crypt: &Crypt,
    key: &str,
) -> Result<Option<IdempotencyRow>, StoreError> {
    let found = conn
        .prepare_cached(
            "SELECT route, request_hash, status, response FROM idempotency
             WHERE key = ?1 AND status IS NOT NULL",
        )?
        .query_row([key], |r| {
            Ok((
                IdempotencyRow {
                    route: r.get(0)?,
                    request_hash: r.get(1)?,
                    status: r.get(2)?,
                    response: String::new(),
                },
                raw(r, 3)?,
            ))
        })
        .optional()?;
    found
        .map(|(mut row, response)| {
            row.response = crypt.open(label::IDEMPOTENCY_RESPONSE, &response)?;
            Ok(row)
        })
        .transpose()
}

/// Outpatient visits (the sales whose id starts with `V`) in any of `states`, newest first,
/// at most `limit`: what `GET /v1/visits` lists (the HIS looks at today's visits, not at the
/// oldest ones).
pub(super) fn visits_newest(
    conn: &Connection,
    crypt: &Crypt,
    states: &[String],
    limit: u32,
) -> Result<Vec<SaleRow>, StoreError> {
    let list = state_list(states);
    let sql = format!(
        "SELECT {SALE_COLUMNS} FROM sales WHERE id LIKE 'V%' AND state IN ({list})
         ORDER BY created_at_ms DESC, id DESC LIMIT ?1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![limit], sale_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(unseal_sale(crypt, row?)?);
    }
    Ok(out)
}

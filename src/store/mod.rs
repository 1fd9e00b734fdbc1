//! The SQLite store, the only code in medsettle that opens SQLite.
//!
//! [`Store::open`] prepares the file (WAL, `synchronous=FULL`, foreign keys, busy timeout),
//! refuses a database that is newer than this code or not ours without touching it, rebuilds
//! damaged indexes (`REINDEX`) or else moves a corrupt file aside and opens a fresh one that
//! stays quarantined ([`Store::quarantined`]: no money moves) until [`salvage`] brought back
//! what the old file still holds, migrates by `PRAGMA user_version` and marks runs a crash
//! left open.
//! Writes go to one writer thread as a closed enum, each through a typed method with its own
//! reply type (`write.rs`: [`Store::record_run`] → [`RunId`], …), group-committed; reads
//! use a separate read-only connection on the blocking pool. Handles are cheap clones.
//!
//! Layout: `open.rs` (pragmas, probe, REINDEX), `migrate.rs` + `migrations/*.sql`,
//! `quarantine.rs` (moving aside, the pending quarantine), `salvage.rs`,
//! `writer.rs` (the thread and its `Job` enum), `write.rs` (the typed write methods),
//! `ops.rs` (SQL of each write), `outbox.rs` (the fleet outbox), `trace.rs` (the trace-report
//! outbox),
//! `legacy.rs` (the untyped [`Store::write`], until its last
//! callers move), `reads.rs`, `error.rs`.

mod backup;
mod cached;
pub mod crypt;
mod error;
mod inspect;
mod job;
mod limits;
mod migrate;
mod open;
mod ops;
mod outbox;
mod quarantine;
mod reads;
mod rekey;
mod sales;
mod salvage;
mod scrub;
mod sealed;
mod trace;
mod write;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

pub use backup::{
    BackupReport, Pending, adopt, backup, partial_name, pending, snapshot, write_key_copy,
};
pub use crypt::{Crypt, CryptError, KeyError, KeySet};
pub use error::StoreError;
pub use inspect::{Inspection, inspect};
pub use job::{AuditAnswer, AuditRequest, NewSaleRow, Nonce, Remembered, RunId, SaleTransition};
pub use limits::{LimitKind, OfflineLimits};
pub use outbox::{OutboxRow, OutboxStats, OutboxSwitch};
pub use sales::{
    IdempotencyClaim, IdempotencyEntry, IdempotencyRow, OfflineTotals, SaleEventRow, SaleRow,
    VersionedSale,
};
pub use salvage::SalvageReport;
pub use scrub::ScrubReport;
pub use sealed::RekeyReport;
pub use trace::{SoldBefore, TraceChange, TraceReport, TraceState, TraceStats};
use writer::{Command, Counters};

use crate::secret::SecretRef;

/// The schema version this code writes; `MIGRATIONS` has exactly this many steps.
pub const SCHEMA_VERSION: u32 = 11;

/// `PRAGMA application_id` of every medsettle database: "MDST" in ASCII.
pub const APPLICATION_ID: i32 = i32::from_be_bytes(*b"MDST");

/// How to open the database (the config's `[store]` converts into this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// The database file.
    pub path: PathBuf,
    /// How long a connection waits for a lock.
    pub busy_timeout: Duration,
    /// The key set that seals personal data ([`default_key_ref`] when not configured).
    pub key: SecretRef,
}

/// What [`Store::open`] found and did.
#[derive(Debug, Clone)]
pub struct OpenReport {
    /// The file did not exist or was empty (also true after a quarantine).
    pub created: bool,
    /// The schema version found (0 for a new file).
    pub migrated_from: u32,
    /// The schema version now ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Set when a corrupt file was moved aside and a new one created by this open.
    pub quarantined: Option<Quarantine>,
    /// A quarantine not yet resolved by `medsettle store salvage` (this open's or an earlier
    /// one's, remembered in the new file): money operations stay stopped while it is set.
    pub pending_quarantine: Option<Quarantine>,
    /// Set when `quick_check` failed but `REINDEX` repaired the file (only indexes were
    /// damaged): its findings before the repair.
    pub repaired: Option<String>,
    /// Runs a previous process left in progress, marked unclean by this open.
    pub unclean_runs: u32,
}

/// Where a corrupt database went, and why it was judged corrupt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quarantine {
    /// The new name of the database file (its `-wal`/`-shm` sit beside it).
    pub moved_to: PathBuf,
    /// The error or `quick_check` output.
    pub reason: String,
}

/// How a platform request ended, as the audit table records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// `infcode = 0`.
    Ok,
    /// `infcode = -1`: refused, nothing happened.
    Business,
    /// Transport failure, timeout, 5xx, unreadable body: the platform may have acted.
    Unknown,
    /// An answer that does not match the protocol.
    Protocol,
    /// The request provably never reached the platform (no connection, a local failure before
    /// sending, a gateway's refusal): nothing happened, nothing to reverse.
    Unsent,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Business => "business",
            AuditOutcome::Unknown => "unknown",
            AuditOutcome::Protocol => "protocol",
            AuditOutcome::Unsent => "unsent",
        }
    }
}

/// One audit row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRow {
    pub msgid: String,
    pub infno: String,
    pub request: String,
    pub sent_at_ms: i64,
    pub http_status: Option<u16>,
    pub response: Option<String>,
    /// `None` while unanswered.
    pub outcome: Option<String>,
    pub answered_at_ms: Option<i64>,
}

/// One row of `runs`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRow {
    pub id: i64,
    pub pid: u32,
    pub version: String,
    pub started_at_ms: i64,
    pub stopped_at_ms: Option<i64>,
    /// `None` while running; `Some(false)` after a cut-short stop or a crash.
    pub clean: Option<bool>,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    pub writes_ok: u64,
    pub writes_failed: u64,
    pub write_latency_us_sum: u64,
    pub queue_depth: u64,
    /// Transactions committed; fewer than writes when writes were grouped.
    pub batches: u64,
}

/// The write connection's settings, read back from SQLite (for tests and diagnostics).
#[derive(Debug, Clone, PartialEq)]
pub struct Pragmas {
    pub journal_mode: String,
    /// 2 is `FULL`.
    pub synchronous: i64,
    pub foreign_keys: bool,
    pub busy_timeout_ms: i64,
    pub application_id: i32,
    pub user_version: u32,
}

/// A handle on the open database. Clones share the writer thread and the read connection.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    tx: mpsc::Sender<Command>,
    reader: Arc<Mutex<Option<Connection>>>,
    counters: Arc<Counters>,
    crypt: Arc<Crypt>,
    closed: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The replay guard's first (wall, monotonic) reading of this run ([`write::trusted_time`]).
    nonce_clock: Mutex<Option<(i64, std::time::Instant)>>,
    /// The unresolved quarantine found at open: money operations stop while it is set.
    quarantine: Option<Quarantine>,
}

impl Store {
    /// [`Store::open_keyed`] with the key set in its default place: the file
    /// [`crypt::DEFAULT_KEY_FILE`] beside the database, created (0600, one fresh key) if
    /// missing — what the daemon does when `store.key` is not set.
    pub fn open(path: &Path, busy: Duration) -> Result<(Store, OpenReport), StoreError> {
        let keys = keys_for(path, busy, &default_key_ref(path), None)?;
        Store::open_keyed(path, busy, keys)
    }

    /// [`Store::open_keyed`] with the file, busy timeout and key set of `options` (a key
    /// file is created if missing). `credentials_dir` is `$CREDENTIALS_DIRECTORY`.
    pub fn open_configured(
        options: &StoreOptions,
        credentials_dir: Option<&Path>,
    ) -> Result<(Store, OpenReport), StoreError> {
        let busy = options.busy_timeout;
        let keys = keys_for(&options.path, busy, &options.key, credentials_dir)?;
        Store::open_keyed(&options.path, busy, keys)
    }

    /// Opens, migrates or creates the database at `path` with the key set `keys` (the first
    /// key seals, every key opens) and starts the writer thread. A key set that cannot open
    /// this database's values is refused here, naming the key id it lacks.
    /// Blocking: call it from `spawn_blocking` in async code.
    pub fn open_keyed(
        path: &Path,
        busy: Duration,
        keys: KeySet,
    ) -> Result<(Store, OpenReport), StoreError> {
        let opened = open::open(path, busy, keys)?;
        let counters = Arc::new(Counters::default());
        let crypt = Arc::new(opened.crypt);
        let (tx, thread) =
            writer::spawn(opened.writer, counters.clone(), crypt.clone()).map_err(|source| {
                StoreError::Io {
                    path: path.to_owned(),
                    source,
                }
            })?;
        let inner = Inner {
            path: path.to_owned(),
            tx,
            reader: Arc::new(Mutex::new(Some(opened.reader))),
            counters,
            crypt,
            closed: AtomicBool::new(false),
            thread: Mutex::new(Some(thread)),
            nonce_clock: Mutex::new(None),
            quarantine: opened.report.pending_quarantine.clone(),
        };
        Ok((
            Store {
                inner: Arc::new(inner),
            },
            opened.report,
        ))
    }

    /// Succeeds when the writer thread answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Ping { reply }).await?;
        rx.await.map_err(|_| self.gone())?
    }

    /// The write connection's pragmas, read back from SQLite.
    pub async fn pragmas(&self) -> Result<Pragmas, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Pragmas { reply }).await?;
        rx.await.map_err(|_| self.gone())?
    }

    /// Test hook: caps the database at its current size plus `spare` pages, so writes that
    /// need more fail with `SQLITE_FULL` as on a full disk. Only in test and `demo` builds.
    #[cfg(any(test, feature = "demo"))]
    pub async fn limit_pages(&self, spare: u32) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::LimitPages { spare, reply }).await?;
        rx.await.map_err(|_| self.gone())?
    }

    /// The `limit` most recent runs, newest first.
    pub async fn recent_runs(&self, limit: u32) -> Result<Vec<RunRow>, StoreError> {
        self.read(move |c| Ok(reads::recent_runs(c, limit)?)).await
    }

    /// The `meta` value under `key`.
    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.read(move |c| Ok(reads::meta(c, &key)?)).await
    }

    /// A sale's row.
    pub async fn sale(&self, id: &str) -> Result<Option<SaleRow>, StoreError> {
        let id = id.to_owned();
        let crypt = self.inner.crypt.clone();
        self.read(move |c| sales::sale(c, &crypt, &id)).await
    }

    /// A sale with its version (the seq of its newest history row), from one snapshot: what
    /// the fleet drain sends.
    pub async fn sale_versioned(&self, id: &str) -> Result<Option<VersionedSale>, StoreError> {
        let id = id.to_owned();
        let crypt = self.inner.crypt.clone();
        self.read(move |c| sales::sale_versioned(c, &crypt, &id))
            .await
    }

    /// A sale's history, oldest first.
    pub async fn sale_events(&self, id: &str) -> Result<Vec<SaleEventRow>, StoreError> {
        let id = id.to_owned();
        let crypt = self.inner.crypt.clone();
        self.read(move |c| sales::sale_events(c, &crypt, &id)).await
    }

    /// Sales in any of `states`, oldest first, after the sale `after_id` (paging), at most
    /// `limit`; only stored ones when `stored_only`.
    pub async fn sales_in(
        &self,
        states: &[&str],
        stored_only: bool,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SaleRow>, StoreError> {
        self.sales_of(states, stored_only, None, after_id, limit)
            .await
    }

    /// [`Store::sales_in`], only the sales made with the ID number `person` when given
    /// (found by its keyed hash, `sales.person_key`).
    pub async fn sales_of(
        &self,
        states: &[&str],
        stored_only: bool,
        person: Option<&str>,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SaleRow>, StoreError> {
        let states: Vec<String> = states.iter().map(|s| (*s).to_owned()).collect();
        let after = after_id.map(str::to_owned);
        let person = person.map(str::to_owned);
        let crypt = self.inner.crypt.clone();
        self.read(move |c| {
            sales::sales_in(
                c,
                &crypt,
                &states,
                stored_only,
                person.as_deref(),
                after.as_deref(),
                limit,
            )
        })
        .await
    }

    /// The forwarder's page of due work (see `sales::sales_due`): sales in any of `states`
    /// due at `now_ms` (`None` ignores backoff), online `reversed` ones left out, oldest first
    /// after the keyset cursor `after` = (created_at_ms, id), at most `limit`.
    pub async fn sales_due(
        &self,
        states: &[&str],
        now_ms: Option<i64>,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<SaleRow>, StoreError> {
        let states: Vec<String> = states.iter().map(|s| (*s).to_owned()).collect();
        let crypt = self.inner.crypt.clone();
        self.read(move |c| sales::sales_due(c, &crypt, &states, now_ms, after, limit))
            .await
    }

    /// How many sales in any of `states` wait in backoff at `now_ms`, and the earliest time
    /// one of them is due (online `reversed` sales left out).
    pub async fn sales_waiting(
        &self,
        states: &[&str],
        now_ms: i64,
    ) -> Result<(u64, Option<i64>), StoreError> {
        let states: Vec<String> = states.iter().map(|s| (*s).to_owned()).collect();
        self.read(move |c| Ok(sales::sales_waiting(c, &states, now_ms)?))
            .await
    }

    /// Online sales in any of `states` unchanged since before `before_ms`, oldest first, at
    /// most `limit` (housekeeping abandons them).
    pub async fn sales_unattended(
        &self,
        states: &[&str],
        before_ms: i64,
        limit: u32,
        visits_only: bool,
    ) -> Result<Vec<SaleRow>, StoreError> {
        let states: Vec<String> = states.iter().map(|s| (*s).to_owned()).collect();
        let crypt = self.inner.crypt.clone();
        self.read(move |c| {
            sales::sales_unattended(c, &crypt, &states, before_ms, limit, visits_only)
        })
        .await
    }

    /// How many sales are in any of `states` (only stored ones when `stored_only`).
    pub async fn count_sales(&self, states: &[&str], stored_only: bool) -> Result<u64, StoreError> {
        let states: Vec<String> = states.iter().map(|s| (*s).to_owned()).collect();
        self.read(move |c| Ok(sales::count_sales(c, &states, stored_only)?))
            .await
    }

    /// The open stored sales: count, amount, oldest.
    pub async fn offline_totals(&self) -> Result<OfflineTotals, StoreError> {
        self.read(|c| Ok(sales::offline_totals(c)?)).await
    }

    /// A keyed hash (HMAC-SHA256 under this database's lookup key), hex: for values stored to
    /// be compared that a plain hash would let anyone with the file guess (a request body with
    /// a six-digit PIN in it).
    pub fn keyed_hash(&self, domain: &str, data: &[u8]) -> String {
        hex::encode(self.inner.crypt.keyed(domain, data))
    }

    /// The remembered answer for an `Idempotency-Key`.
    pub async fn idempotency(&self, key: &str) -> Result<Option<IdempotencyRow>, StoreError> {
        let key = key.to_owned();
        let crypt = self.inner.crypt.clone();
        self.read(move |c| sales::idempotency(c, &crypt, &key))
            .await
    }

    /// The live (not expired: created at or after `live_since_ms`) idempotency entry under
    /// `key`: answered, or only claimed by the write it belongs to.
    pub async fn idempotency_entry(
        &self,
        key: &str,
        live_since_ms: i64,
    ) -> Result<Option<IdempotencyEntry>, StoreError> {
        let key = key.to_owned();
        let crypt = self.inner.crypt.clone();
        self.read(move |c| sales::idempotency_entry(c, &crypt, &key, live_since_ms))
            .await
    }

    /// The replay guard's trusted time for the wall time `wall` read at `mono`.
    fn trusted_now(&self, wall: i64, mono: std::time::Instant) -> i64 {
        write::trusted_time(&mut lock(&self.inner.nonce_clock), wall, mono)
    }

    /// The audit row of `msgid`, if the request was recorded.
    pub async fn audit(&self, msgid: &str) -> Result<Option<AuditRow>, StoreError> {
        let msgid = msgid.to_owned();
        let crypt = self.inner.crypt.clone();
        self.read(move |c| reads::audit(c, &crypt, &msgid)).await
    }

    /// `PRAGMA quick_check` now: `"ok"` or SQLite's findings, one per line.
    pub async fn quick_check(&self) -> Result<String, StoreError> {
        self.read(|c| Ok(open::quick_check(c)?)).await
    }

    /// The quarantine of an earlier, corrupt database that no operator has resolved yet
    /// (`medsettle store salvage`): while set, money operations must not run — the queued and
    /// in-doubt sales, the msgid counter and the replay table are in the quarantined file.
    pub fn quarantined(&self) -> Option<&Quarantine> {
        self.inner.quarantine.as_ref()
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> u32 {
        SCHEMA_VERSION
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Write counters and queue depth.
    pub fn stats(&self) -> StoreStats {
        self.inner.counters.snapshot()
    }

    /// Finishes the writes queued so far, checkpoints the WAL, closes both connections and
    /// joins the writer thread. Afterwards every handle answers [`StoreError::Closed`].
    /// Closing twice is not an error.
    pub async fn close(self) -> Result<(), StoreError> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        // The reader first, so the checkpoint is not held back by it.
        drop(lock(&self.inner.reader).take());
        let (reply, rx) = oneshot::channel();
        self.inner
            .counters
            .queue_depth
            .fetch_add(1, Ordering::Relaxed);
        if self.inner.tx.send(Command::Close { reply }).await.is_err() {
            self.inner
                .counters
                .queue_depth
                .fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::WriterGone);
        }
        let result = rx.await.map_err(|_| StoreError::WriterGone)?;
        let thread = lock(&self.inner.thread).take();
        if let Some(t) = thread {
            tokio::task::spawn_blocking(move || t.join())
                .await
                .ok()
                .and_then(Result::ok)
                .ok_or(StoreError::WriterGone)?;
        }
        result
    }

    /// [`Store::send`] from outside the runtime (blocks while the queue is full).
    fn send_blocking(&self, cmd: Command) -> Result<(), StoreError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        let depth = &self.inner.counters.queue_depth;
        depth.fetch_add(1, Ordering::Relaxed);
        self.inner.tx.blocking_send(cmd).map_err(|_| {
            depth.fetch_sub(1, Ordering::Relaxed);
            self.gone()
        })
    }

    async fn send(&self, cmd: Command) -> Result<(), StoreError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        let depth = &self.inner.counters.queue_depth;
        depth.fetch_add(1, Ordering::Relaxed);
        self.inner.tx.send(cmd).await.map_err(|_| {
            depth.fetch_sub(1, Ordering::Relaxed);
            self.gone()
        })
    }

    /// The error for a writer that no longer answers: closed on purpose, or died.
    fn gone(&self) -> StoreError {
        if self.inner.closed.load(Ordering::SeqCst) {
            StoreError::Closed
        } else {
            StoreError::WriterGone
        }
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let reader = self.inner.reader.clone();
        tokio::task::spawn_blocking(move || {
            let guard = lock(&reader);
            let conn = guard.as_ref().ok_or(StoreError::Closed)?;
            f(conn)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

/// Re-seals every sealed value of the database at `path` under the first key of `keys`
/// (`medsettle store rekey`); answers what it did and how many values each key id now seals.
/// Blocking. See the rotation steps in README's `[store]` reference.
pub fn rekey(
    path: &Path,
    busy: Duration,
    keys: KeySet,
) -> Result<(RekeyReport, std::collections::BTreeMap<String, u64>), StoreError> {
    rekey::rekey_file(path, busy, keys)
}

/// Copies what a quarantined database still holds into the database at `path` (`medsettle
/// store salvage`, daemon stopped) and lifts the quarantine. See [`SalvageReport`].
pub fn salvage(
    path: &Path,
    busy: Duration,
    keys: KeySet,
    from: Option<&Path>,
) -> Result<SalvageReport, StoreError> {
    salvage::salvage(path, busy, keys, from)
}

/// Loads (creating a missing key file) the key set for the database at `path` — but first
/// refuses, without creating anything, a database that is newer or not ours.
fn keys_for(
    path: &Path,
    busy: Duration,
    key_ref: &SecretRef,
    credentials_dir: Option<&Path>,
) -> Result<KeySet, StoreError> {
    open::refuse_foreign(path, busy)?;
    let (keys, created) = KeySet::load_or_create(key_ref, credentials_dir)?;
    if created {
        tracing::warn!(key_file = %key_ref,
            "a new database key file was created: back it up apart from the database");
    }
    Ok(keys)
}

/// The default key set of the database at `path`: [`crypt::DEFAULT_KEY_FILE`] beside it.
pub fn default_key_ref(path: &Path) -> SecretRef {
    let dir = path.parent().unwrap_or(Path::new("."));
    SecretRef::File(dir.join(crypt::DEFAULT_KEY_FILE))
}

/// Locks `m`, ignoring poisoning: the data is a connection or a handle, still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// Outpatient visits in any of `states`, newest first, at most `limit`
    /// (`GET /v1/visits`).
    pub async fn visits_newest(
        &self,
        states: &[&str],
        limit: u32,
    ) -> Result<Vec<SaleRow>, StoreError> {
        let states: Vec<String> = states.iter().map(|s| (*s).to_owned()).collect();
        let crypt = self.inner.crypt.clone();
        self.read(move |c| sales::visits_newest(c, &crypt, &states, limit))
            .await
    }
}

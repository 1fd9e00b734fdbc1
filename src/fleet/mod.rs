//! The fleet ledger: every terminal of an institution replicates its settlement facts to one
//! PostgreSQL database, where the fleet's view (`medsettle fleet status`, the status page) and
//! the institution-wide reconciliation read them. Optional (`[fleet]`); a terminal
//! without it, or with PostgreSQL down, works exactly as alone: its SQLite store stays the
//! source of truth and the ledger is only ever a copy.
//!
//! Layout: `schema.rs` (versioned PostgreSQL migrations under an advisory lock,
//! `migrations/*.sql`), `ledger.rs` (the connection, TLS, the idempotent version-guarded
//! upserts, the heartbeat), `rows.rs` (a sale's facts as ledger rows, `psn_no` as a keyed
//! hash: pure), `drain.rs` (the task that empties the store's outbox into the ledger and
//! beats the heartbeat), `view.rs` (what the fleet looks like: read and rendered),
//! `reconcile.rs` (the institution-wide 3201/3202 over every terminal's facts, one runner per
//! institution and day under an advisory lock).
//!
//! Personal data never reaches PostgreSQL: no names, no ID numbers, no clear `psn_no` (only
//! its HMAC-SHA256 under the fleet's own key, so terminals agree on a patient without
//! revealing who). This module opens no SQLite (it goes through `store`) and reads no config
//! file (`config` converts `[fleet]` into [`FleetOptions`]).

mod drain;
mod ledger;
mod reconcile;
mod rows;
mod schema;
mod view;

use std::path::PathBuf;
use std::time::Duration;

use medsettle_base::UserFacing;

pub use drain::{COMPONENT, Drain, DrainStats, run_drain};
pub use ledger::{Ledger, TerminalBeat};
pub use reconcile::{FleetRunner, Outcome, STALE_AFTER, Trigger, schedule};
pub use rows::{LedgerRow, PsnHasher, SaleFacts, rows_of};
pub use schema::{SCHEMA_VERSION, schema_version};
pub use view::{FleetView, ReconciliationRow, TerminalRow};

use crate::secret::{SecretError, SecretRef};

/// How a terminal reaches the fleet ledger and names itself there (built from `[fleet]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetOptions {
    /// The PostgreSQL connection URL (`postgresql://user:pass@host:port/db?…`), a secret: it
    /// usually holds a password.
    pub url: SecretRef,
    /// TLS to PostgreSQL; `None` connects in plain text (loopback or a Unix socket only).
    pub tls: Option<TlsOptions>,
    /// This terminal's name in the ledger (default: `[terminal].id`).
    pub terminal_id: String,
    /// The institution (`fixmedins_code`): ledger rows are keyed by it too, so two
    /// institutions sharing one database never mix their terminals.
    pub fixmedins_code: String,
    /// The key of the keyed hash of `psn_no` (shared by every terminal of the fleet).
    pub psn_key: SecretRef,
    /// How often the terminal's row (last seen, queue depth, outbox lag) is refreshed.
    pub heartbeat: Duration,
    /// The first wait after PostgreSQL failed; doubled on each further failure.
    pub retry_first: Duration,
    /// The longest wait between two attempts while PostgreSQL is down.
    pub retry_max: Duration,
    /// Outbox rows sent in one PostgreSQL transaction.
    pub batch: u32,
}

/// TLS to PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM CA certificates the server's certificate must chain to; `None`: the system's.
    pub ca_file: Option<PathBuf>,
    /// Refuse to connect without TLS (`sslmode=require`); `false` tries TLS first and falls
    /// back to plain text (`prefer`).
    pub require: bool,
}

/// Why the fleet ledger could not be used. None of these ever stops a sale: the outbox waits.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A secret of `[fleet]` (the URL, the psn key) could not be loaded.
    #[error("`fleet.{key}`: {source}")]
    Secret {
        key: &'static str,
        source: SecretError,
    },
    /// The URL is not a PostgreSQL connection string.
    #[error("`fleet.postgres.url` is not a PostgreSQL URL: {0}")]
    BadUrl(String),
    /// The psn key is too short to be a key.
    #[error("`fleet.psn_key` must hold at least {min} bytes (found {found})")]
    WeakKey { min: usize, found: usize },
    /// The CA file could not be read or holds no certificate.
    #[error("`fleet.postgres.tls.ca_file` {path}: {reason}")]
    Ca { path: PathBuf, reason: String },
    /// PostgreSQL could not be reached, refused us, or failed a statement.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The local store failed while reading the outbox or a sale.
    #[error("local store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// A stored sale document could not be read.
    #[error("sale {id}: unreadable document: {reason}")]
    Doc { id: String, reason: String },
    /// A sealed `psn_no` in the ledger could not be opened (another fleet's key, altered).
    #[error("sealed psn_no in the ledger: {0}")]
    Sealed(String),
    /// Another terminal holds the institution's reconciliation of this day.
    #[error("another terminal ({runner}) is reconciling {day} for the institution right now")]
    ReconcileBusy { day: String, runner: String },
    /// The platform refused or failed the institution-wide reconciliation.
    #[error("institution-wide reconciliation: {0}")]
    Reconcile(String),
}

impl FleetError {
    /// Worth trying again later (PostgreSQL down, a connection cut); a configuration error
    /// is not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, FleetError::Postgres(_) | FleetError::Store(_))
    }
}

impl UserFacing for FleetError {
    fn code(&self) -> &'static str {
        match self {
            FleetError::Secret { .. } => "fleet.secret",
            FleetError::BadUrl(_) => "fleet.bad_url",
            FleetError::WeakKey { .. } => "fleet.weak_key",
            FleetError::Ca { .. } => "fleet.ca",
            FleetError::Postgres(_) => "fleet.postgres",
            FleetError::Store(_) => "fleet.store",
            FleetError::Doc { .. } => "fleet.doc",
            FleetError::Sealed(_) => "fleet.sealed",
            FleetError::ReconcileBusy { .. } => "fleet.reconcile_busy",
            FleetError::Reconcile(_) => "fleet.reconcile_failed",
        }
    }

    fn message_zh(&self) -> String {
        match self {
            FleetError::Secret { key, .. } => {
                format!("无法读取集中账本配置 fleet.{key} 的密钥文件。")
            }
            FleetError::BadUrl(_) => "集中账本的 PostgreSQL 地址格式不正确。".into(),
            FleetError::WeakKey { min, .. } => {
                format!("fleet.psn_key 密钥太短，至少需要 {min} 字节。")
            }
            FleetError::Ca { .. } => "无法读取集中账本的 CA 证书文件。".into(),
            FleetError::Postgres(_) => {
                "集中账本（PostgreSQL）暂不可用；交易不受影响，待恢复后自动补传。".into()
            }
            FleetError::Store(_) => "读取本机数据库失败；集中账本稍后重试。".into(),
            FleetError::Doc { .. } => "本机交易记录无法解析，未上传到集中账本。".into(),
            FleetError::Sealed(_) => {
                "集中账本中的加密参保人编号无法解开（fleet.psn_key 与其他终端不一致？）。".into()
            }
            FleetError::ReconcileBusy { day, runner } => {
                format!("终端 {runner} 正在进行本机构 {day} 的全院对账，请稍后查看结果。")
            }
            FleetError::Reconcile(_) => "全院对账未能完成，请查看日志后重试。".into(),
        }
    }

    fn message_en(&self) -> String {
        self.to_string()
    }
}

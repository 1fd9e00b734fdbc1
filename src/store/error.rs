//! The store's error boundary: every way opening, migrating, writing or reading the database
//! can fail, each message naming the file and what an operator should do.
//!
//! Callers branch on [`StoreError::is_corruption`] (the open path quarantines on it) and
//! render through [`UserFacing`]. Nothing here touches the database.

use std::path::PathBuf;

use crate::error::UserFacing;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file or its directory could not be prepared (permissions, missing mount, ...).
    #[error(
        "cannot prepare the database at {}: {source}; check that the directory exists and is writable by the medsettle user",
        path.display()
    )]
    Io {
        /// The database path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SQLite could not open or configure the file.
    #[error(
        "cannot open the database at {}: {source}; check the path, its permissions and free disk space",
        path.display()
    )]
    Open {
        /// The database path.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The database was written by a newer medsettle. The file was left untouched.
    #[error(
        "the database at {} has schema version {found}, but this medsettle only knows up to version {supported}: it was written by a newer medsettle. Upgrade medsettle to that version (or point store.path at another database); the file was left untouched",
        path.display()
    )]
    NewerSchema {
        /// The database path.
        path: PathBuf,
        /// The file's `user_version`.
        found: u32,
        /// [`super::SCHEMA_VERSION`].
        supported: u32,
    },
    /// The file is an SQLite database that belongs to another program. Left untouched.
    #[error(
        "the file at {} is not a medsettle database ({reason}); it was left untouched. Point store.path at a medsettle database or at a new file",
        path.display()
    )]
    NotOurs {
        /// The database path.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// The database is damaged. Seen by callers only if even a fresh file is damaged.
    #[error(
        "the database at {} is corrupt ({detail}); check the disk and the filesystem",
        path.display()
    )]
    Corrupt {
        /// The database path.
        path: PathBuf,
        /// `quick_check` output or SQLite's error.
        detail: String,
    },
    /// A corrupt database could not be moved aside. Nothing was deleted.
    #[error(
        "the database at {} is corrupt ({reason}) and could not be moved aside: {source}; move it (and its -wal and -shm files) away by hand, then start medsettle again",
        path.display()
    )]
    Quarantine {
        /// The database path.
        path: PathBuf,
        /// Why it was judged corrupt.
        reason: String,
        /// The rename error.
        source: std::io::Error,
    },
    /// One migration step failed and was rolled back; earlier steps stay committed.
    #[error(
        "upgrading the database at {} from schema version {from} to {to} failed: {source}; it was left at version {from}. Check free disk space, then start medsettle again",
        path.display()
    )]
    Migration {
        /// The database path.
        path: PathBuf,
        /// The version before the failed step.
        from: u32,
        /// The version the step was to reach.
        to: u32,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The filesystem cannot hold a WAL database (e.g. a network share).
    #[error(
        "the database at {} cannot use write-ahead logging (journal mode stayed `{mode}`); put it on a local filesystem",
        path.display()
    )]
    NoWal {
        /// The database path.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },
    /// `RunStopped` named a run that does not exist.
    #[error("run {run_id} is not in the database")]
    RunNotFound {
        /// The run id given.
        run_id: i64,
    },
    /// `RunStopped` named a run that already has a stop recorded.
    #[error("run {run_id} is already recorded as stopped")]
    RunAlreadyStopped {
        /// The run id given.
        run_id: i64,
    },
    /// `AuditRequest` for a msgid already recorded: a msgid is used once.
    #[error("msgid {msgid} is already recorded; a new request needs a new msgid")]
    DuplicateMsgId {
        /// The msgid given.
        msgid: String,
    },
    /// `AuditAnswer` for a msgid never recorded.
    #[error("msgid {msgid} was never recorded as sent")]
    UnknownMsgId {
        /// The msgid given.
        msgid: String,
    },
    /// `SaleCreate` with an id already used.
    #[error("sale {id} already exists")]
    DuplicateSale { id: String },
    /// A transition for a sale that does not exist.
    #[error("no sale {id}")]
    UnknownSale { id: String },
    /// A transition whose expected source state no longer holds (another task moved it).
    #[error("sale {id} is {actual}, not {expected}")]
    SaleStateConflict {
        id: String,
        expected: String,
        actual: String,
    },
    /// Storing the sale offline would pass a limit; nothing was written.
    #[error("offline limit {limit:?}: {current} of {max} (sale amount {amount_fen} fen)")]
    OfflineLimit {
        limit: super::limits::LimitKind,
        current: i64,
        max: i64,
        amount_fen: i64,
    },
    /// SQLite rolled back the whole transaction this write shared with others (disk full,
    /// I/O error, out of memory): nothing of the write is on disk.
    #[error("the write was rolled back with its batch ({cause}); nothing of it was saved")]
    TransactionLost {
        /// The error that made SQLite roll back.
        cause: String,
    },
    /// `store salvage` found no quarantined file to read (none pending, none given).
    #[error(
        "the database at {} has no pending quarantine; name the quarantined file with --from",
        path.display()
    )]
    NothingToSalvage {
        /// The database path.
        path: PathBuf,
    },
    /// The database key set could not be loaded.
    #[error("{0}")]
    Keys(#[from] super::crypt::KeyError),
    /// A sealed value could not be opened (unknown key id, altered value).
    #[error("{0}")]
    Sealed(#[from] super::crypt::CryptError),
    /// Any other SQLite failure while the store is running.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store was closed (the daemon is shutting down).
    #[error("the database is closed")]
    Closed,
    /// The writer thread ended without being asked to; restart medsettle.
    #[error("the database writer stopped unexpectedly; restart medsettle")]
    WriterGone,
}

impl StoreError {
    /// Whether this error means the file is damaged (`SQLITE_CORRUPT`, `SQLITE_NOTADB`, or a
    /// failed `quick_check`).
    pub fn is_corruption(&self) -> bool {
        match self {
            StoreError::Corrupt { .. } => true,
            StoreError::Open { source, .. }
            | StoreError::Migration { source, .. }
            | StoreError::Sqlite(source) => is_corruption(source),
            _ => false,
        }
    }
}

/// Whether SQLite reported a damaged or foreign file.
pub(super) fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

impl UserFacing for StoreError {
    fn code(&self) -> &'static str {
        match self {
            StoreError::Io { .. } => "store.io",
            StoreError::Open { .. } => "store.open",
            StoreError::NewerSchema { .. } => "store.newer_schema",
            StoreError::NotOurs { .. } => "store.not_ours",
            StoreError::Corrupt { .. } => "store.corrupt",
            StoreError::Quarantine { .. } => "store.quarantine_failed",
            StoreError::Migration { .. } => "store.migration",
            StoreError::NoWal { .. } => "store.no_wal",
            StoreError::RunNotFound { .. } => "store.run_not_found",
            StoreError::RunAlreadyStopped { .. } => "store.run_already_stopped",
            StoreError::DuplicateMsgId { .. } => "store.duplicate_msgid",
            StoreError::UnknownMsgId { .. } => "store.unknown_msgid",
            StoreError::DuplicateSale { .. } => "store.duplicate_sale",
            StoreError::UnknownSale { .. } => "store.unknown_sale",
            StoreError::SaleStateConflict { .. } => "store.sale_state_conflict",
            StoreError::OfflineLimit { .. } => "store.offline_limit",
            StoreError::TransactionLost { .. } => "store.write_lost",
            StoreError::NothingToSalvage { .. } => "store.nothing_to_salvage",
            StoreError::Keys(_) => "store.keys",
            StoreError::Sealed(_) => "store.sealed",
            StoreError::Sqlite(_) => "store.sqlite",
            StoreError::Closed => "store.closed",
            StoreError::WriterGone => "store.writer_gone",
        }
    }

    fn message_zh(&self) -> String {
        match self {
            StoreError::NewerSchema {
                path,
                found,
                supported,
            } => format!(
                "数据库 {} 的结构版本为 {found}，高于本程序支持的 {supported}，由更新版本的 medsettle 写入。请升级 medsettle；该文件未被改动。",
                path.display()
            ),
            StoreError::NotOurs { path, .. } => format!(
                "{} 不是 medsettle 的数据库，文件未被改动。请检查 store.path 配置。",
                path.display()
            ),
            StoreError::Corrupt { path, .. } | StoreError::Quarantine { path, .. } => {
                format!("数据库 {} 已损坏，请联系运维人员检查磁盘。", path.display())
            }
            StoreError::Io { path, .. }
            | StoreError::Open { path, .. }
            | StoreError::NoWal { path, .. } => format!(
                "无法打开数据库 {}，请联系运维人员检查路径和权限。",
                path.display()
            ),
            StoreError::Migration { path, .. } => format!(
                "数据库 {} 升级失败，请检查磁盘空间后重启 medsettle。",
                path.display()
            ),
            StoreError::RunNotFound { .. } | StoreError::RunAlreadyStopped { .. } => {
                "运行记录有误，请联系运维人员。".to_owned()
            }
            StoreError::DuplicateMsgId { .. } | StoreError::UnknownMsgId { .. } => {
                "医保交易流水号记录有误，请联系运维人员。".to_owned()
            }
            StoreError::DuplicateSale { .. }
            | StoreError::UnknownSale { .. }
            | StoreError::SaleStateConflict { .. } => {
                "交易记录状态已变化，请刷新后重试。".to_owned()
            }
            StoreError::OfflineLimit { .. } => {
                "已达到脱机存储上限，本笔交易未保存，请等待网络恢复。".to_owned()
            }
            StoreError::Keys(_) | StoreError::Sealed(_) => {
                "数据库密钥有误，无法读取个人信息，请联系运维人员检查 store.key。".to_owned()
            }
            StoreError::NothingToSalvage { .. } => {
                "没有待恢复的隔离数据库，请用 --from 指定文件。".to_owned()
            }
            StoreError::Sqlite(_) | StoreError::TransactionLost { .. } => {
                "数据库出错，请稍后重试或联系运维人员。".to_owned()
            }
            StoreError::Closed => "系统正在关闭，请稍后重试。".to_owned(),
            StoreError::WriterGone => "数据库写入已停止，请重启 medsettle。".to_owned(),
        }
    }

    fn message_en(&self) -> String {
        self.to_string()
    }
}

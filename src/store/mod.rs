//! TEMPORARY stand-in with the store's interface, replaced by the real single-writer store.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SCHEMA_VERSION: u32 = 2;

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Option<rusqlite::Connection>>>,
    path: PathBuf,
}
#[derive(Debug, Clone)]
pub struct OpenReport {
    pub created: bool,
    pub migrated_from: u32,
    pub schema_version: u32,
    pub quarantined: Option<Quarantine>,
    pub unclean_runs: u32,
}
#[derive(Debug, Clone)]
pub struct Quarantine {
    pub moved_to: PathBuf,
    pub reason: String,
}
#[derive(Debug)]
pub enum WriteOp {
    RunStarted {
        pid: u32,
        version: String,
        started_at_ms: i64,
    },
    RunStopped {
        run_id: i64,
        stopped_at_ms: i64,
        clean: bool,
    },
    SetMeta {
        key: String,
        value: String,
    },
}
#[derive(Debug, PartialEq)]
pub enum WriteOutcome {
    RunId(i64),
    Done,
}
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRow {
    pub id: i64,
    pub pid: u32,
    pub version: String,
    pub started_at_ms: i64,
    pub stopped_at_ms: Option<i64>,
    pub clean: Option<bool>,
}
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    pub writes_ok: u64,
    pub writes_failed: u64,
    pub write_latency_us_sum: u64,
    pub queue_depth: u64,
}
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("newer schema {found} > {supported} at {path}")]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("closed")]
    Closed,
}
impl Store {
    pub fn open(path: &Path, _busy: Duration) -> Result<(Store, OpenReport), StoreError> {
        if let Some(p) = path.parent() {
            let _ = std::fs::create_dir_all(p);
        }
        let c = rusqlite::Connection::open(path)?;
        c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA user_version=2; CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, pid, version, started_at_ms, stopped_at_ms, clean);")?;
        let report = OpenReport {
            created: true,
            migrated_from: 0,
            schema_version: 2,
            quarantined: None,
            unclean_runs: 0,
        };
        Ok((
            Store {
                conn: Arc::new(Mutex::new(Some(c))),
                path: path.to_owned(),
            },
            report,
        ))
    }
    pub async fn write(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        let g = self.conn.lock().unwrap();
        let c = g.as_ref().ok_or(StoreError::Closed)?;
        match op {
            WriteOp::RunStarted {
                pid,
                version,
                started_at_ms,
            } => {
                c.execute(
                    "INSERT INTO runs(pid,version,started_at_ms) VALUES (?1,?2,?3)",
                    rusqlite::params![pid, version, started_at_ms],
                )?;
                Ok(WriteOutcome::RunId(c.last_insert_rowid()))
            }
            WriteOp::RunStopped {
                run_id,
                stopped_at_ms,
                clean,
            } => {
                c.execute(
                    "UPDATE runs SET stopped_at_ms=?2, clean=?3 WHERE id=?1",
                    rusqlite::params![run_id, stopped_at_ms, clean],
                )?;
                Ok(WriteOutcome::Done)
            }
            WriteOp::SetMeta { .. } => Ok(WriteOutcome::Done),
        }
    }
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .lock()
            .unwrap()
            .as_ref()
            .map(|_| ())
            .ok_or(StoreError::Closed)
    }
    pub async fn recent_runs(&self, _limit: u32) -> Result<Vec<RunRow>, StoreError> {
        Ok(vec![])
    }
    pub async fn meta(&self, _key: &str) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
    pub async fn quick_check(&self) -> Result<String, StoreError> {
        Ok("ok".into())
    }
    pub fn schema_version(&self) -> u32 {
        2
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
    pub async fn close(self) -> Result<(), StoreError> {
        self.conn.lock().unwrap().take();
        Ok(())
    }
}

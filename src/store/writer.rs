//! The single writer: a dedicated thread that owns the only read-write connection and takes
//! [`Command`]s from a bounded channel, answering each on its own oneshot.
//!
//! Writes arrive as the closed [`Job`] enum: each variant is one kind of write with the reply
//! channel of its own reply type (the typed methods in `write.rs` build them). Writes already waiting when the writer picks
//! one up are committed together (group commit: one fsync), each in its own savepoint, and
//! answered only after the commit (`ops.rs`), each truthfully: a write is answered `Ok` only
//! if its transaction committed, also when SQLite rolled the whole batch back by itself.
//! `Close` drains what was queued before it, refuses what came after, checkpoints the WAL and
//! closes the connection. The thread never panics on a database error; it answers with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::crypt::Crypt;
use super::job::Job;
use super::{Pragmas, StoreError, StoreStats, migrate, ops};

/// Commands waiting for the writer beyond this make senders wait (back-pressure).
pub(super) const QUEUE_CAPACITY: usize = 64;

/// Everything the writer thread can be asked to do.
pub(super) enum Command {
    /// One write.
    Write(Job),
    /// Proves the thread and its connection answer.
    Ping {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Reads back the write connection's pragmas.
    Pragmas {
        reply: oneshot::Sender<Result<Pragmas, StoreError>>,
    },
    /// Test hook: caps the file at its current size plus `spare` pages (`max_page_count`),
    /// so the next writes fail with `SQLITE_FULL` like a full disk.
    #[cfg(any(test, feature = "demo"))]
    LimitPages {
        spare: u32,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Finish queued work, checkpoint, close the connection and end the thread.
    Close {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// Counters shared between the writer thread and [`super::Store::stats`].
#[derive(Default)]
pub(super) struct Counters {
    pub writes_ok: AtomicU64,
    pub writes_failed: AtomicU64,
    pub write_latency_us_sum: AtomicU64,
    pub queue_depth: AtomicU64,
    /// Transactions committed (several writes may share one).
    pub batches: AtomicU64,
    /// Signalled after a commit that may have added a fleet outbox row (the drain waits on it).
    pub outbox: tokio::sync::Notify,
    /// Signalled after a commit that may have added or freed a trace report (the reporter
    /// waits on it).
    pub trace: tokio::sync::Notify,
}

impl Counters {
    pub fn snapshot(&self) -> StoreStats {
        StoreStats {
            writes_ok: self.writes_ok.load(Ordering::Relaxed),
            writes_failed: self.writes_failed.load(Ordering::Relaxed),
            write_latency_us_sum: self.write_latency_us_sum.load(Ordering::Relaxed),
            queue_depth: self.queue_depth.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
        }
    }
}

/// Starts the writer thread on `conn`.
pub(super) fn spawn(
    conn: Connection,
    counters: Arc<Counters>,
    crypt: Arc<Crypt>,
) -> std::io::Result<(mpsc::Sender<Command>, JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let handle = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || run(conn, rx, &counters, &crypt))?;
    Ok((tx, handle))
}

/// Most writes committed together (group commit).
const BATCH: usize = 64;

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Command>, counters: &Counters, crypt: &Crypt) {
    let mut next: Option<Command> = None;
    loop {
        let cmd = match next.take() {
            Some(c) => c,
            None => match rx.blocking_recv() {
                Some(c) => {
                    counters.queue_depth.fetch_sub(1, Ordering::Relaxed);
                    c
                }
                // Every `Store` handle was dropped without `close()`: the connection closes
                // on drop.
                None => return,
            },
        };
        match cmd {
            Command::Write(job) => {
                // Group commit: whatever writes are already waiting share this transaction.
                let mut jobs = vec![job];
                while jobs.len() < BATCH {
                    match rx.try_recv() {
                        Ok(Command::Write(job)) => {
                            counters.queue_depth.fetch_sub(1, Ordering::Relaxed);
                            jobs.push(job);
                        }
                        Ok(other) => {
                            counters.queue_depth.fetch_sub(1, Ordering::Relaxed);
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let started = Instant::now();
                let wake_outbox = jobs.iter().any(Job::may_enqueue);
                let wake_reporter = jobs.iter().any(Job::may_report);
                let (answers, commits) = ops::apply_batch(&mut conn, jobs, crypt);
                if wake_outbox && commits > 0 {
                    counters.outbox.notify_one();
                }
                if wake_reporter && commits > 0 {
                    counters.trace.notify_one();
                }
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                counters
                    .write_latency_us_sum
                    .fetch_add(us, Ordering::Relaxed);
                counters.batches.fetch_add(commits, Ordering::Relaxed);
                for answer in answers {
                    match answer.failed() {
                        None => counters.writes_ok.fetch_add(1, Ordering::Relaxed),
                        Some(e) => {
                            tracing::warn!(error = %e, "store write failed");
                            counters.writes_failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    answer.send();
                }
            }
            Command::Ping { reply } => {
                let r = conn.query_row("SELECT 1", [], |_| Ok(()));
                let _ = reply.send(r.map_err(StoreError::from));
            }
            Command::Pragmas { reply } => {
                let _ = reply.send(pragmas(&conn).map_err(StoreError::from));
            }
            #[cfg(any(test, feature = "demo"))]
            Command::LimitPages { spare, reply } => {
                let _ = reply.send(limit_pages(&conn, spare).map_err(StoreError::from));
            }
            Command::Close { reply } => {
                rx.close();
                while let Ok(late) = rx.try_recv() {
                    counters.queue_depth.fetch_sub(1, Ordering::Relaxed);
                    refuse(late);
                }
                let _ = reply.send(shut(conn));
                return;
            }
        }
    }
}

/// Answers a command that arrived after `Close` with [`StoreError::Closed`].
fn refuse(cmd: Command) {
    match cmd {
        Command::Write(job) => job.fail(|| StoreError::Closed).send(),
        Command::Ping { reply } | Command::Close { reply } => {
            drop(reply.send(Err(StoreError::Closed)))
        }
        Command::Pragmas { reply } => drop(reply.send(Err(StoreError::Closed))),
        #[cfg(any(test, feature = "demo"))]
        Command::LimitPages { reply, .. } => drop(reply.send(Err(StoreError::Closed))),
    }
}

/// Checkpoints the WAL into the main file and closes the connection.
fn shut(conn: Connection) -> Result<(), StoreError> {
    // (busy, log frames, checkpointed frames); busy = 1 means a reader held it back, which
    // leaves a WAL SQLite replays on the next open: worth a log line, not an error.
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    if busy != 0 {
        tracing::warn!("WAL checkpoint at close was blocked by a reader");
    }
    conn.close().map_err(|(_, e)| StoreError::from(e))
}

fn pragmas(conn: &Connection) -> rusqlite::Result<Pragmas> {
    let get_i64 = |name: &str| conn.pragma_query_value(None, name, |r| r.get::<_, i64>(0));
    Ok(Pragmas {
        journal_mode: conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?,
        synchronous: get_i64("synchronous")?,
        foreign_keys: get_i64("foreign_keys")? != 0,
        busy_timeout_ms: get_i64("busy_timeout")?,
        application_id: migrate::application_id(conn)?,
        user_version: migrate::user_version(conn)?,
    })
}

/// `PRAGMA max_page_count` = the pages the file has now plus `spare` (test hook).
#[cfg(any(test, feature = "demo"))]
pub(super) fn limit_pages(conn: &Connection, spare: u32) -> rusqlite::Result<()> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let max = pages + i64::from(spare);
    let set: i64 = conn.query_row(&format!("PRAGMA max_page_count = {max}"), [], |r| r.get(0))?;
    tracing::warn!(max_page_count = set, "test hook: database size capped");
    Ok(())
}

//! The database size alarm: the file and its WAL against `store.alarm_size_mib`, checked
//! before READY and every minute after. Reads file sizes only; never opens the database.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::status::StatusBoard;

/// The alarm raised while the database is larger than `store.alarm_size_mib`.
pub const SIZE_ALARM: &str = "store.size";

/// Checks the database's size (file + WAL) against `limit_mib` every minute until `stop` (the
/// first check ran before READY, in [`Daemon::start`]), and logs the summary of the messages
/// the repeat limit (`log.repeat_burst`) dropped.
pub(super) async fn watch(
    path: std::path::PathBuf,
    limit_mib: u64,
    status: Arc<StatusBoard>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        check(&path, limit_mib, &status);
        if let Some(t) = crate::telemetry::log_throttle() {
            t.report();
        }
    }
}

/// Raises or clears [`SIZE_ALARM`] for the database at `path`.
pub(super) fn check(path: &std::path::Path, limit_mib: u64, status: &StatusBoard) {
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.to_path_buf().into_os_string();
    wal.push("-wal");
    let bytes = size(path) + size(std::path::Path::new(&wal));
    let mib = bytes / (1024 * 1024);
    if bytes > limit_mib.saturating_mul(1024 * 1024) {
        status.raise(
            SIZE_ALARM,
            format!("数据库已达 {mib} MiB，超过告警值 {limit_mib} MiB，请运维人员检查磁盘和脱机队列。"),
            format!("The database is {mib} MiB, above the {limit_mib} MiB alarm level; an operator should check the disk and the offline queue."),
            serde_json::json!({ "bytes": bytes, "alarm_size_mib": limit_mib }),
        );
    } else {
        status.clear(SIZE_ALARM);
    }
}

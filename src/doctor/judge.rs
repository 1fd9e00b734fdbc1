//! The thresholds of `medsettle doctor`, as pure functions from measurements to a [`Check`]:
//! free disk space, clock skew against the platform, the age of the offline queue and the
//! state of the database file.

use super::Check;
use crate::store::{Inspection, SCHEMA_VERSION};

const GIB: u64 = 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

/// Free space under the database: warn below 1 GiB, fail below 100 MiB.
pub fn disk(free_bytes: u64, total_bytes: u64, dir: &str) -> Check {
    let detail = format!(
        "{dir}: {} free of {}",
        human_bytes(free_bytes),
        human_bytes(total_bytes)
    );
    let fix = "清理磁盘或扩容（日志：journalctl --vacuum-size=200M） / free disk space or grow the volume (logs: journalctl --vacuum-size=200M)";
    if free_bytes < 100 * MIB {
        Check::fail("disk", detail, fix)
    } else if free_bytes < GIB {
        Check::warn("disk", detail, fix)
    } else {
        Check::ok("disk", detail)
    }
}

/// Local clock minus the platform's, in milliseconds: warn above 30 s, fail above 5 min.
pub fn clock_skew(skew_ms: i64) -> Check {
    let secs = skew_ms as f64 / 1e3;
    let detail = format!("local clock {secs:+.1} s against the platform");
    let fix = "启用时间同步：timedatectl set-ntp true（systemd-timesyncd）或 systemctl enable --now chrony / enable time sync: timedatectl set-ntp true (systemd-timesyncd) or systemctl enable --now chrony";
    let abs = skew_ms.unsigned_abs();
    if abs > 300_000 {
        Check::fail("upstream.clock", detail, fix)
    } else if abs > 30_000 {
        Check::warn("upstream.clock", detail, fix)
    } else {
        Check::ok("upstream.clock", detail)
    }
}

/// The offline queue: warn when the oldest stored sale has waited more than half of
/// `settle.offline_max_age_hours`.
pub fn queue(count: u32, oldest_age_ms: Option<i64>, max_age_hours: u32) -> Check {
    let Some(age_ms) = oldest_age_ms.filter(|_| count > 0) else {
        return Check::ok("queue", "no stored sales");
    };
    let hours = age_ms as f64 / 3_600_000.0;
    let detail = format!("{count} stored sales, oldest {hours:.1} h (limit {max_age_hours} h)");
    if age_ms > i64::from(max_age_hours) * 1_800_000 {
        Check::warn(
            "queue",
            detail,
            "恢复医保平台连接后执行 medsettle queue flush；被拒的用 medsettle queue list 查看 / restore the platform link, then `medsettle queue flush`; see refused ones with `medsettle queue list`",
        )
    } else {
        Check::ok("queue", detail)
    }
}

/// The database file as [`crate::store::inspect`] found it.
pub fn database(found: &Inspection) -> Check {
    let detail = format!(
        "schema v{}, {}, {}, quick_check {}",
        found.schema_version,
        if found.wal { "WAL" } else { "not WAL" },
        human_bytes(found.size_bytes),
        if found.quick_check == "ok" {
            "ok"
        } else {
            "FAILED"
        },
    );
    if found.quick_check != "ok" {
        return Check::fail(
            "database",
            detail,
            "停止服务后重启：损坏的库会被移到旁边并新建（保留旧文件以便恢复） / stop the daemon and start it again: the corrupt file is moved aside and a new one created (keep the old file for recovery)",
        );
    }
    if found.schema_version < SCHEMA_VERSION {
        return Check::warn(
            "database",
            format!("{detail}; this build migrates it to v{SCHEMA_VERSION} at start"),
            "备份数据库后启动服务以迁移 / back up the database, then start the daemon to migrate it",
        );
    }
    if !found.wal {
        return Check::warn(
            "database",
            detail,
            "启动一次服务以设置 WAL 模式 / start the daemon once; it sets WAL mode",
        );
    }
    Check::ok("database", detail)
}

/// `1.5 GiB`, `320.0 MiB`, `12 KiB`.
pub fn human_bytes(n: u64) -> String {
    if n >= GIB {
        format!("{:.1} GiB", n as f64 / GIB as f64)
    } else if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else {
        format!("{} KiB", n.div_ceil(1024))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Verdict;

    #[test]
    fn disk_thresholds() {
        assert_eq!(disk(2 * GIB, 8 * GIB, "/var").result, Verdict::Ok);
        assert_eq!(disk(GIB - 1, 8 * GIB, "/var").result, Verdict::Warn);
        assert_eq!(disk(100 * MIB - 1, 8 * GIB, "/var").result, Verdict::Fail);
        assert!(disk(0, GIB, "/var").fix.unwrap().contains("journalctl"));
    }

    #[test]
    fn clock_thresholds_both_directions() {
        assert_eq!(clock_skew(29_000).result, Verdict::Ok);
        assert_eq!(clock_skew(-31_000).result, Verdict::Warn);
        assert_eq!(clock_skew(300_001).result, Verdict::Fail);
        assert!(clock_skew(-400_000).fix.unwrap().contains("chrony"));
    }

    #[test]
    fn queue_warns_past_half_the_age_limit() {
        let h = 3_600_000;
        assert_eq!(queue(0, None, 72).result, Verdict::Ok);
        assert_eq!(queue(3, Some(35 * h), 72).result, Verdict::Ok);
        assert_eq!(queue(3, Some(37 * h), 72).result, Verdict::Warn);
    }

    #[test]
    fn database_verdicts() {
        let good = Inspection {
            schema_version: SCHEMA_VERSION,
            wal: true,
            quick_check: "ok".into(),
            size_bytes: 4096,
            offline: None,
        };
        assert_eq!(database(&good).result, Verdict::Ok);
        let old = Inspection {
            schema_version: 1,
            ..good.clone()
        };
        assert_eq!(database(&old).result, Verdict::Warn);
        let bad = Inspection {
            quick_check: "*** in database main ***".into(),
            ..good
        };
        assert_eq!(database(&bad).result, Verdict::Fail);
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(3 * GIB / 2), "1.5 GiB");
        assert_eq!(human_bytes(1000), "1 KiB");
    }
}

//! The standard `process_*` metrics (the names Prometheus client libraries use, so existing
//! dashboards and alerts work): CPU time, resident and virtual memory, open and allowed file
//! descriptors, start time. Read from `/proc/self`, `getrusage` and the clocks at each scrape
//! (nothing outside `/proc/self`: the unit sets `ProcSubset=pid`); a value that cannot be
//! read is left out rather than reported as 0.

use super::metrics::Exposition;

/// Appends the process families to `out`.
pub fn render_into(out: &mut Exposition) {
    if let Ok(usage) = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF) {
        let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        out.counter(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            secs(usage.user_time()) + secs(usage.system_time()),
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(kib) = status_kib(&status, "VmRSS:") {
        out.gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            (kib * 1024) as f64,
        );
    }
    if let Some(kib) = status_kib(&status, "VmSize:") {
        out.gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            (kib * 1024) as f64,
        );
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        // The directory handle being read is one of the entries; it is not the daemon's.
        let open = dir.count().saturating_sub(1);
        out.gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            open as f64,
        );
    }
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    if let Some(max) = max_open_files(&limits) {
        out.gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max as f64,
        );
    }
    if let Some(start) = start_time_seconds() {
        out.gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            start,
        );
    }
}

/// A `Key:   1234 kB` line of `/proc/self/status`, in KiB.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The soft limit of the `Max open files` line of `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The wall time now, less how long ago (on the boot clock) the process started: its start
/// in clock ticks after boot is field 22 of `/proc/self/stat`. Not `btime` of `/proc/stat`,
/// which the unit's `ProcSubset=pid` hides.
fn start_time_seconds() -> Option<f64> {
    use nix::time::{ClockId, clock_gettime};
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let started: u64 = after_comm.split_whitespace().nth(19)?.parse().ok()?;
    let secs = |t: nix::sys::time::TimeSpec| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9;
    let since_boot = secs(clock_gettime(ClockId::CLOCK_BOOTTIME).ok()?);
    let now = secs(clock_gettime(ClockId::CLOCK_REALTIME).ok()?);
    Some(now - (since_boot - started as f64 / ticks as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let mut e = Exposition::default();
        render_into(&mut e);
        let text = e.finish();
        let value = |name: &str| -> f64 {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} missing:\n{text}"));
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        assert!(value("process_resident_memory_bytes") > 1024.0 * 1024.0);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        assert!(value("process_cpu_seconds_total") > 0.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = value("process_start_time_seconds");
        // This test process started within the last hour, not at the epoch or in the future.
        assert!(
            start <= now + 1.0 && start > now - 3600.0,
            "{start} vs {now}"
        );
    }

    #[test]
    fn parses_the_proc_lines() {
        assert_eq!(
            status_kib("Name:\tx\nVmRSS:\t   2048 kB\n", "VmRSS:"),
            Some(2048)
        );
        assert_eq!(
            max_open_files(
                "Max open files            1024                 524288               files\n"
            ),
            Some(1024)
        );
    }
}

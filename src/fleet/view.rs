//! What the fleet looks like from the ledger: how many terminals, which are stale or hold
//! sales in doubt, how far each one's outbox is behind, and the last institution-wide
//! reconciliation of each day. Read by `Ledger::view`, shown by `medsettle fleet status`
//! ([`FleetView::render`]) and on the status page (as JSON). Pure data and formatting.

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Serialize;

/// The fleet of one institution, as of `as_of` (PostgreSQL's clock).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetView {
    pub fixmedins_code: String,
    pub as_of: DateTime<Utc>,
    pub summary: Summary,
    /// Stale terminals first, then by sales in doubt and outbox lag.
    pub terminals: Vec<TerminalRow>,
    /// Newest day first.
    pub reconciliations: Vec<ReconciliationRow>,
}

/// Totals over every terminal of the institution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub terminals: u64,
    /// Not seen within the stale time.
    pub stale: u64,
    pub queue_depth: u64,
    pub in_doubt: u64,
    pub outbox_rows: u64,
    pub max_outbox_lag_ms: i64,
}

/// One terminal's last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalRow {
    pub terminal_id: String,
    pub last_seen: DateTime<Utc>,
    pub stale: bool,
    pub queue_depth: u64,
    pub in_doubt: u64,
    pub outbox_rows: u64,
    pub outbox_lag_ms: i64,
    pub software_version: String,
}

/// The last whole-day reconciliation verdict of a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconciliationRow {
    pub day: NaiveDate,
    /// `balanced`, `unbalanced` or `failed`.
    pub result: String,
    pub runner_terminal: String,
    pub ran_at: DateTime<Utc>,
}

/// China Standard Time, the platform's zone.
fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("a valid offset")
}

/// `1h02m`, `3m05s`, `12s`: an age for a person.
fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn result_zh(result: &str) -> &'static str {
    match result {
        "balanced" => "平",
        "unbalanced" => "不平",
        "failed" => "失败",
        _ => "?",
    }
}

impl FleetView {
    /// The text `medsettle fleet status` prints: a summary line, a table of terminals, the
    /// reconciliations. Times are CST.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let s = &self.summary;
        let _ = writeln!(
            out,
            "机构 Institution {}  ·  {} 终端 terminals ({} 失联 stale)  ·  脱机队列 queued {}  ·  \
             待确认 in doubt {}  ·  待上传 outbox {} (最大延迟 max lag {})",
            self.fixmedins_code,
            s.terminals,
            s.stale,
            s.queue_depth,
            s.in_doubt,
            s.outbox_rows,
            age(s.max_outbox_lag_ms)
        );
        let _ = writeln!(
            out,
            "as of {}",
            self.as_of
                .with_timezone(&cst())
                .format("%Y-%m-%d %H:%M:%S CST")
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<16} {:<19} {:>8} {:>6} {:>8} {:>8} {:>8}  VERSION",
            "TERMINAL", "LAST SEEN (CST)", "AGO", "QUEUE", "IN DOUBT", "OUTBOX", "LAG"
        );
        if self.terminals.is_empty() {
            let _ = writeln!(out, "(no terminal has reported yet / 尚无终端上报)");
        }
        for t in &self.terminals {
            let ago = (self.as_of - t.last_seen).num_milliseconds();
            let _ = writeln!(
                out,
                "{:<16} {:<19} {:>8} {:>6} {:>8} {:>8} {:>8}  {}{}",
                t.terminal_id,
                t.last_seen
                    .with_timezone(&cst())
                    .format("%Y-%m-%d %H:%M:%S"),
                age(ago),
                t.queue_depth,
                t.in_doubt,
                t.outbox_rows,
                age(t.outbox_lag_ms),
                t.software_version,
                if t.stale { "  STALE 失联" } else { "" }
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<10} {:<12} {:<16} RAN AT (CST)",
            "DAY", "RESULT", "RUNNER"
        );
        if self.reconciliations.is_empty() {
            let _ = writeln!(
                out,
                "(no institution-wide reconciliation yet / 尚无全机构对账)"
            );
        }
        for r in &self.reconciliations {
            let _ = writeln!(
                out,
                "{:<10} {:<12} {:<16} {}",
                r.day,
                format!("{} {}", r.result, result_zh(&r.result)),
                r.runner_terminal,
                r.ran_at.with_timezone(&cst()).format("%Y-%m-%d %H:%M:%S")
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(2026, 12, 3)
            .unwrap()
            .and_hms_opt(h, m, s)
            .unwrap()
            .and_utc()
    }

    #[test]
    fn ages_read_like_a_person_would_say_them() {
        assert_eq!(age(-5), "0s");
        assert_eq!(age(12_999), "12s");
        assert_eq!(age(185_000), "3m05s");
        assert_eq!(age(3_725_000), "1h02m");
    }

    #[test]
    fn the_table_shows_each_terminal_and_each_day_in_cst() {
        let v = FleetView {
            fixmedins_code: "H11010500001".into(),
            as_of: t(2, 0, 30),
            summary: Summary {
                terminals: 2,
                stale: 1,
                queue_depth: 3,
                in_doubt: 1,
                outbox_rows: 7,
                max_outbox_lag_ms: 65_000,
            },
            terminals: vec![
                TerminalRow {
                    terminal_id: "T0417".into(),
                    last_seen: t(1, 50, 0),
                    stale: true,
                    queue_depth: 3,
                    in_doubt: 1,
                    outbox_rows: 7,
                    outbox_lag_ms: 65_000,
                    software_version: "0.1.0".into(),
                },
                TerminalRow {
                    terminal_id: "T0001".into(),
                    last_seen: t(2, 0, 18),
                    stale: false,
                    queue_depth: 0,
                    in_doubt: 0,
                    outbox_rows: 0,
                    outbox_lag_ms: 0,
                    software_version: "0.1.0".into(),
                },
            ],
            reconciliations: vec![ReconciliationRow {
                day: NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(),
                result: "unbalanced".into(),
                runner_terminal: "T0001".into(),
                ran_at: t(16, 5, 0),
            }],
        };
        let text = v.render();
        assert!(text.contains("H11010500001"), "{text}");
        assert!(text.contains("2 终端 terminals (1 失联 stale)"), "{text}");
        assert!(text.contains("as of 2026-12-03 10:00:30 CST"), "{text}");
        let t417 = text.lines().find(|l| l.starts_with("T0417")).unwrap();
        assert!(t417.contains("2026-12-03 09:50:00"), "{t417}");
        assert!(t417.contains("10m30s"), "{t417}");
        assert!(t417.contains("1m05s"), "{t417}");
        assert!(t417.ends_with("STALE 失联"), "{t417}");
        let t001 = text.lines().find(|l| l.starts_with("T0001")).unwrap();
        assert!(t001.contains("12s"), "{t001}");
        assert!(!t001.contains("STALE"), "{t001}");
        let day = text.lines().find(|l| l.starts_with("2026-12-02")).unwrap();
        assert!(day.contains("unbalanced 不平"), "{day}");
        // Run at 16:05 UTC: past midnight in CST.
        assert!(day.contains("2026-12-04 00:05:00"), "{day}");
    }

    #[test]
    fn an_empty_fleet_says_so() {
        let v = FleetView {
            fixmedins_code: "H1".into(),
            as_of: t(0, 0, 0),
            summary: Summary::default(),
            terminals: vec![],
            reconciliations: vec![],
        };
        let text = v.render();
        assert!(text.contains("no terminal has reported yet"), "{text}");
        assert!(
            text.contains("no institution-wide reconciliation yet"),
            "{text}"
        );
    }
}

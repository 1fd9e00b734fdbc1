//! `medsettle doctor`'s vocabulary: a check's result, the report, its exit code and its two
//! renderings (an aligned zh/en table and JSON), plus the pure judgements in `judge.rs`.
//!
//! Probing the machine (devices, network, files) is the binary's job (`src/cli/doctor/`);
//! nothing here touches the outside world, so every threshold is tested with data. Details
//! and fixes must never carry personal data.

pub mod judge;

use serde::Serialize;

/// One check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
    Skip,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        }
    }
}

/// One row of the report. `fix` is set for every warn and fail (zh / en).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub result: Verdict,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check::new(name, Verdict::Ok, detail, None)
    }

    pub fn skip(name: &str, detail: impl Into<String>) -> Check {
        Check::new(name, Verdict::Skip, detail, None)
    }

    pub fn warn(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(name, Verdict::Warn, detail, Some(fix.into()))
    }

    pub fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(name, Verdict::Fail, detail, Some(fix.into()))
    }

    fn new(name: &str, result: Verdict, detail: impl Into<String>, fix: Option<String>) -> Check {
        Check {
            name: name.to_owned(),
            result,
            detail: detail.into(),
            fix,
        }
    }
}

/// Every check that ran, in display order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn push(&mut self, check: Check) {
        self.checks.push(check);
    }

    /// True unless a check failed (warnings do not fail the terminal).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.result != Verdict::Fail)
    }

    /// 0 when ok, 1 when any check failed.
    pub fn exit_code(&self) -> u8 {
        if self.ok() { 0 } else { 1 }
    }

    /// `{"checks": [{name, result, detail, fix}], "ok": bool}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "checks": self.checks, "ok": self.ok() })
    }

    /// The aligned table `CHECK | RESULT | DETAIL | FIX`; CJK characters count two columns.
    pub fn to_table(&self) -> String {
        let header = ["CHECK 检查", "RESULT 结果", "DETAIL 详情", "FIX 处理"];
        let rows: Vec<[String; 4]> = self
            .checks
            .iter()
            .map(|c| {
                [
                    c.name.clone(),
                    c.result.label().to_owned(),
                    c.detail.clone(),
                    c.fix.clone().unwrap_or_else(|| "-".to_owned()),
                ]
            })
            .collect();
        let mut widths = header.map(width);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        let line = |cells: [&str; 4], out: &mut String| {
            for (i, cell) in cells.iter().enumerate() {
                out.push_str(cell);
                if i < 3 {
                    out.push_str(&" ".repeat(widths[i] - width(cell)));
                    out.push_str(" | ");
                }
            }
            out.push('\n');
        };
        line(header, &mut out);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line([&rule[0], &rule[1], &rule[2], &rule[3]], &mut out);
        for row in &rows {
            line([&row[0], &row[1], &row[2], &row[3]], &mut out);
        }
        let (failed, warned) = self.checks.iter().fold((0, 0), |(f, w), c| match c.result {
            Verdict::Fail => (f + 1, w),
            Verdict::Warn => (f, w + 1),
            _ => (f, w),
        });
        out.push_str(&format!(
            "{} — {failed} failed, {warned} warnings / {failed} 项失败，{warned} 项警告\n",
            if failed == 0 { "OK" } else { "NOT OK" }
        ));
        out
    }
}

/// Terminal columns of `s`: East Asian wide characters take two.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let c = c as u32;
            let wide = (0x1100..=0x115F).contains(&c)
                || (0x2E80..=0xA4CF).contains(&c)
                || (0xAC00..=0xD7A3).contains(&c)
                || (0xF900..=0xFAFF).contains(&c)
                || (0xFE30..=0xFE4F).contains(&c)
                || (0xFF00..=0xFF60).contains(&c)
                || (0xFFE0..=0xFFE6).contains(&c);
            if wide { 2 } else { 1 }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(verdicts: &[Verdict]) -> Report {
        let mut r = Report::default();
        for (i, v) in verdicts.iter().enumerate() {
            let name = format!("c{i}");
            r.push(match v {
                Verdict::Ok => Check::ok(&name, "fine"),
                Verdict::Skip => Check::skip(&name, "not configured"),
                Verdict::Warn => Check::warn(&name, "meh", "修复 / fix"),
                Verdict::Fail => Check::fail(&name, "broken", "修复 / fix"),
            });
        }
        r
    }

    #[test]
    fn warnings_pass_failures_fail() {
        use Verdict::*;
        assert_eq!(report(&[Ok, Skip, Warn]).exit_code(), 0);
        assert_eq!(report(&[Ok, Fail, Warn]).exit_code(), 1);
        assert_eq!(report(&[]).exit_code(), 0);
    }

    #[test]
    fn json_shape() {
        let j = report(&[Verdict::Ok, Verdict::Fail]).to_json();
        assert_eq!(j["ok"], false);
        assert_eq!(j["checks"][0]["result"], "ok");
        assert_eq!(j["checks"][0]["fix"], serde_json::Value::Null);
        assert_eq!(j["checks"][1]["result"], "fail");
        assert_eq!(j["checks"][1]["fix"], "修复 / fix");
    }

    #[test]
    fn table_columns_align_with_cjk_text() {
        let mut r = report(&[Verdict::Ok]);
        r.push(Check::fail(
            "pcscd",
            "无读卡器",
            "启动 pcscd：systemctl start pcscd",
        ));
        let table = r.to_table();
        let bars: Vec<Vec<usize>> = table
            .lines()
            .filter(|l| l.contains(" | "))
            .map(|l| {
                let mut col = 0;
                let mut at = Vec::new();
                for ch in l.chars() {
                    if ch == '|' {
                        at.push(col);
                    }
                    col += width(&ch.to_string());
                }
                at
            })
            .collect();
        assert!(
            bars.len() == 4 && bars.iter().all(|b| *b == bars[0]),
            "{table}"
        );
        assert!(table.ends_with("NOT OK — 1 failed, 0 warnings / 1 项失败，0 项警告\n"));
    }
}

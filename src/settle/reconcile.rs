//! End of day (offline.md rule 10, upstream.md 3201): the terminal's own totals of the day's
//! effective settlements — taken from its sale history, never from the platform — sent with
//! 3201 per insurance type. An imbalance is an alarm on the status board and a metric for an
//! operator, never something fixed silently.
//!
//! The [`Reconciler`] reads settled sales and sends 3201; it never changes a sale.

use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;

use super::book::SaleBook;
use super::error::SaleError;
use super::options::SettleConfig;
use super::sale::Sale;
use super::settler::Settler;
use crate::terminal::TerminalConfig;
use crate::upstream::Fen;
use crate::upstream::tx::reverse::{ReconcileInput, Statement};

/// The alarm code raised on an imbalance.
pub const ALARM: &str = "reconcile.imbalance";

/// The terminal's totals for one insurance type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub insutype: String,
    pub medfee: Fen,
    pub fund: Fen,
    pub account: Fen,
    pub count: u32,
}

/// One 3201 and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub totals: Totals,
    pub balanced: bool,
    /// `stmt_rslt_dscr`.
    pub description: Option<String>,
}

/// A day's reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `yyyy-MM-dd`, CST.
    pub day: String,
    pub lines: Vec<Line>,
    pub balanced: bool,
}

/// The reconciler. One per engine.
pub struct Reconciler {
    book: Arc<SaleBook>,
    settler: Arc<Settler>,
    config: SettleConfig,
    terminal: TerminalConfig,
}

impl Reconciler {
    pub(super) fn new(
        book: Arc<SaleBook>,
        settler: Arc<Settler>,
        config: SettleConfig,
        terminal: TerminalConfig,
    ) -> Reconciler {
        Reconciler {
            book,
            settler,
            config,
            terminal,
        }
    }

    /// The terminal's totals of `day`'s settled sales, per insurance type (those configured,
    /// plus any other that settled that day).
    pub(super) async fn day_totals(&self, day: NaiveDate) -> Result<Vec<Totals>, SaleError> {
        let day_text = crate::upstream::time::format_date(day);
        let mut by_type: std::collections::BTreeMap<String, Totals> = self
            .config
            .reconcile_insutypes
            .iter()
            .map(|t| {
                (
                    t.clone(),
                    Totals {
                        insutype: t.clone(),
                        ..Totals::default()
                    },
                )
            })
            .collect();
        let mut after: Option<String> = None;
        loop {
            let rows = self
                .book
                .store()
                .sales_in(&["settled"], false, after.as_deref(), 500)
                .await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.id.clone());
            for row in &rows {
                let Ok(sale) = serde_json::from_str::<Sale>(&row.doc) else {
                    continue;
                };
                let (Some(s), Some(p)) = (&sale.settlement, &sale.person) else {
                    continue;
                };
                if s.day != day_text {
                    continue;
                }
                let t = by_type.entry(p.insutype.clone()).or_insert_with(|| Totals {
                    insutype: p.insutype.clone(),
                    ..Totals::default()
                });
                t.medfee = Fen(t.medfee.0 + s.medfee.0);
                t.fund = Fen(t.fund.0 + s.fund.0);
                t.account = Fen(t.account.0 + s.account.0);
                t.count += 1;
            }
        }
        Ok(by_type.into_values().collect())
    }

    /// 3201 for `day`, one statement per insurance type; raises or clears the alarm.
    pub(super) async fn reconcile(&self, day: NaiveDate) -> Result<Report, SaleError> {
        let client = self.settler.platform()?;
        let day_text = crate::upstream::time::format_date(day);
        let mut lines = Vec::new();
        for totals in self.day_totals(day).await? {
            let input = ReconcileInput {
                data: Statement {
                    insutype: totals.insutype.clone(),
                    clr_type: self.config.clr_type.clone(),
                    setl_optins: self.terminal.region.clone(),
                    stmt_begndate: day_text.clone(),
                    stmt_enddate: day_text.clone(),
                    medfee_sumamt: totals.medfee,
                    fund_pay_sumamt: totals.fund,
                    acct_pay: totals.account,
                    fixmedins_setl_cnt: totals.count,
                },
            };
            let info = client
                .reconcile(&input)
                .await
                .map_err(SaleError::Upstream)?;
            lines.push(Line {
                balanced: info.balanced(),
                description: info.stmt_rslt_dscr,
                totals,
            });
        }
        let balanced = lines.iter().all(|l| l.balanced);
        let report = Report {
            day: day_text,
            lines,
            balanced,
        };
        self.book.events().publish(
            "reconcile.done",
            serde_json::to_value(&report).unwrap_or_default(),
        );
        if balanced {
            tracing::info!(day = %report.day, "3201 reconciliation balanced");
        } else {
            tracing::error!(day = %report.day, "3201 reconciliation does NOT balance");
        }
        Ok(report)
    }
}

/// Shows the outcome on the status board: an imbalance raises [`ALARM`]; a balanced day
/// clears it.
pub fn show(status: &crate::status::StatusBoard, report: &Report) {
    if report.balanced {
        status.clear(ALARM);
        return;
    }
    let off: Vec<&str> = report
        .lines
        .iter()
        .filter(|l| !l.balanced)
        .map(|l| l.totals.insutype.as_str())
        .collect();
    status.raise(
        ALARM,
        format!(
            "{} 对总账不平（险种 {}），请运维人员核对当日交易明细。",
            report.day,
            off.join("、")
        ),
        format!(
            "3201 reconciliation for {} does not balance (insutype {}); an operator must check the day's settlements.",
            report.day,
            off.join(", ")
        ),
        serde_json::to_value(report).unwrap_or_default(),
    );
}

/// Runs the daily reconciliation at `[settle] reconcile_at` (CST) until `stop`.
pub async fn schedule(
    reconciler: Arc<Reconciler>,
    status: std::sync::Arc<crate::status::StatusBoard>,
    stop: tokio_util::sync::CancellationToken,
) {
    let Some(at) = reconciler.config.reconcile_time() else {
        return;
    };
    loop {
        let now = reconciler
            .book
            .now()
            .with_timezone(&crate::upstream::time::cst());
        let today_at = now.date_naive().and_time(at);
        let next = if now.naive_local() < today_at {
            today_at
        } else {
            today_at + chrono::Duration::days(1)
        };
        let wait = (next - now.naive_local()).to_std().unwrap_or_default();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        match reconciler.reconcile(next.date()).await {
            Ok(report) => show(&status, &report),
            Err(e) => tracing::error!(error = %e, "scheduled reconciliation failed"),
        }
    }
}

//! End of day (offline.md rule 10, upstream.md "Reconciliation" 3201): the terminal's totals
//! of a CST day sent with 3201, one statement per group (`insutype`, `clr_type`,
//! `setl_optins`). The totals come only from the settlement facts
//! ([`facts_of`](super::facts::facts_of)): each settlement and each cancellation on the CST day
//! of the platform's own `setl_time`, in the group its answer named (`clr_type`,
//! `clr_optins`), never the local clock or the terminal's region. Cancellations count as the
//! platform counts them (`refd_setl_flag`, `[settle] reconcile_refd_setl_flag`), with the
//! settlement's amounts negated and a configured step in the count
//! (`reconcile_refund_count`).
//!
//! An imbalance is an alarm on the status board and a metric for an operator, naming the group
//! and what differs, never something fixed silently. The [`Reconciler`] reads sales and sends
//! 3201; it never changes a sale.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

use super::book::SaleBook;
use super::detail::{DetailGroup, DetailOptions, reconcile_detail};
use super::error::SaleError;
use super::facts::{COUNTED_STATES, Fact, facts_of};
pub use super::options::DetailScope;
use super::options::{RefundCount, SettleConfig};
use super::sale::Sale;
use super::settler::Settler;
use crate::terminal::TerminalConfig;
use crate::upstream::Fen;
use crate::upstream::tx::reverse::{ReconcileInput, Statement};

/// The alarm code raised on an imbalance.
pub const ALARM: &str = "reconcile.imbalance";

/// The terminal's totals for one 3201 group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub insutype: String,
    pub clr_type: String,
    /// The settlements' `clr_optins`.
    pub setl_optins: String,
    pub medfee: Fen,
    pub fund: Fen,
    pub account: Fen,
    /// `fixmedins_setl_cnt` as sent (a cancellation adds the configured step).
    pub count: i64,
    /// Settlement lines counted.
    pub settlements: u32,
    /// Cancellation lines counted (0 when refunds are excluded).
    pub refunds: u32,
    /// Lines whose group or day the terminal had to guess because the answer left the field
    /// out: a reason the totals may sit in the wrong group.
    pub guessed: u32,
}

impl Totals {
    fn empty(insutype: &str, clr_type: &str, setl_optins: &str) -> Totals {
        Totals {
            insutype: insutype.to_owned(),
            clr_type: clr_type.to_owned(),
            setl_optins: setl_optins.to_owned(),
            ..Totals::default()
        }
    }

    fn add(&mut self, fact: &Fact, refund_count: RefundCount) {
        self.medfee = Fen(self.medfee.0 + fact.medfee.0);
        self.fund = Fen(self.fund.0 + fact.fund.0);
        self.account = Fen(self.account.0 + fact.account.0);
        if fact.refund {
            self.refunds += 1;
            self.count += refund_count.step();
        } else {
            self.settlements += 1;
            self.count += 1;
        }
        if !fact.from_answer {
            self.guessed += 1;
        }
    }

    /// `险种 310 清算类别 41 经办机构 110105`.
    pub fn group_zh(&self) -> String {
        format!(
            "险种 {} 清算类别 {} 经办机构 {}",
            self.insutype, self.clr_type, self.setl_optins
        )
    }

    /// `insutype 310 clr_type 41 setl_optins 110105`.
    pub fn group_en(&self) -> String {
        format!(
            "insutype {} clr_type {} setl_optins {}",
            self.insutype, self.clr_type, self.setl_optins
        )
    }
}

/// One 3201 and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// What the terminal sent.
    pub totals: Totals,
    pub balanced: bool,
    /// `stmt_rslt` as answered.
    pub result: Option<String>,
    /// `stmt_rslt_dscr`: the platform's word on what differs.
    pub description: Option<String>,
}

impl Line {
    /// The group and the difference, in Chinese.
    pub fn difference_zh(&self) -> String {
        let t = &self.totals;
        format!(
            "{}：本地 医疗费总额 {} 基金支付 {} 个人账户 {} 笔数 {}；平台：{}",
            t.group_zh(),
            t.medfee,
            t.fund,
            t.account,
            t.count,
            self.description.as_deref().unwrap_or("未说明")
        )
    }

    /// The group and the difference, in English.
    pub fn difference_en(&self) -> String {
        let t = &self.totals;
        format!(
            "{}: local medfee_sumamt {} fund_pay_sumamt {} acct_pay {} count {}; platform: {}",
            t.group_en(),
            t.medfee,
            t.fund,
            t.account,
            t.count,
            self.description.as_deref().unwrap_or("no description")
        )
    }
}

/// A day's reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// `yyyy-MM-dd`, CST.
    pub day: String,
    /// The `refd_setl_flag` sent (`None`: left out).
    pub refd_setl_flag: Option<String>,
    /// How a cancellation counted.
    pub refund_count: RefundCount,
    pub lines: Vec<Line>,
    pub balanced: bool,
    /// 3202 of each clearing group (`setl_optins`, `clr_type`) that did not balance (or of
    /// every group, when asked): `{group, report, error}`, the report a
    /// [`DetailReport`](super::detail::DetailReport) naming each settlement that differs.
    #[serde(default)]
    pub details: Vec<serde_json::Value>,
}

impl Report {
    /// The unbalanced lines.
    pub fn unbalanced(&self) -> impl Iterator<Item = &Line> {
        self.lines.iter().filter(|l| !l.balanced)
    }

    /// Settlements 3202 found different, by class: (local only, platform only, amount
    /// differs), summed over the groups.
    pub fn differences(&self) -> (u64, u64, u64) {
        let count =
            |d: &serde_json::Value, key: &str| d["report"]["counts"][key].as_u64().unwrap_or(0);
        self.details.iter().fold((0, 0, 0), |(l, p, a), d| {
            (
                l + count(d, "local_only"),
                p + count(d, "platform_only"),
                a + count(d, "amount_differs"),
            )
        })
    }
}

/// The totals of `day` (`yyyy-MM-dd`) per group, from `facts`: each fact on its own day (the
/// platform's `setl_time`), cancellations only when `include_refunds`. Pure.
pub fn group_totals<'a>(
    facts: impl IntoIterator<Item = &'a Fact>,
    day: &str,
    include_refunds: bool,
    refund_count: RefundCount,
) -> BTreeMap<(String, String, String), Totals> {
    let mut groups: BTreeMap<(String, String, String), Totals> = BTreeMap::new();
    for fact in facts {
        if fact.day != day || (fact.refund && !include_refunds) {
            continue;
        }
        let (insutype, clr_type, clr_optins) = fact.group();
        groups
            .entry((
                insutype.to_owned(),
                clr_type.to_owned(),
                clr_optins.to_owned(),
            ))
            .or_insert_with(|| Totals::empty(insutype, clr_type, clr_optins))
            .add(fact, refund_count);
    }
    groups
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

    /// When the daily run starts (`[settle] reconcile_at`, CST); `None`: never.
    pub fn schedule_time(&self) -> Option<NaiveTime> {
        self.config.reconcile_time()
    }

    /// The 3202 scope of the scheduled and API runs (`[settle] reconcile_detail`).
    pub(super) fn default_scope(&self) -> DetailScope {
        self.config.detail_scope()
    }

    /// Every settlement fact of the store: the sales in the states where a settlement may
    /// stand ([`COUNTED_STATES`]); [`facts_of`] decides the rest.
    async fn facts(&self) -> Result<Vec<Fact>, SaleError> {
        let states: Vec<&str> = COUNTED_STATES.iter().map(|s| s.as_str()).collect();
        let mut facts = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let rows = self
                .book
                .store()
                .sales_in(&states, false, after.as_deref(), 500)
                .await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.id.clone());
            for row in &rows {
                match serde_json::from_str::<Sale>(&row.doc) {
                    Ok(sale) => facts.extend(facts_of(&sale)),
                    Err(e) => tracing::warn!(
                        sale = %row.id,
                        error = %e,
                        "a sale document did not parse; it is left out of the reconciliation"
                    ),
                }
            }
        }
        Ok(facts)
    }

    /// The terminal's totals of `day` per group: the groups of the day's facts, plus the home
    /// group of each `reconcile_insutypes` entry (zero when nothing settled in it).
    pub(super) async fn day_totals(&self, day: NaiveDate) -> Result<Vec<Totals>, SaleError> {
        let day_text = crate::upstream::time::format_date(day);
        let facts = self.facts().await?;
        Ok(self.totals_of(&facts, &day_text))
    }

    /// [`Reconciler::day_totals`] of `facts`.
    fn totals_of(&self, facts: &[Fact], day_text: &str) -> Vec<Totals> {
        let mut groups = group_totals(
            facts,
            day_text,
            self.config.reconcile_includes_refunds(),
            self.config.reconcile_refund_count,
        );
        for insutype in &self.config.reconcile_insutypes {
            let key = (
                insutype.clone(),
                self.config.clr_type.clone(),
                self.terminal.region.clone(),
            );
            groups.entry(key).or_insert_with(|| {
                Totals::empty(insutype, &self.config.clr_type, &self.terminal.region)
            });
        }
        groups.into_values().collect()
    }

    /// 3202 (9101 → 3202 → 9102) of each clearing group `scope` names, one after the other.
    /// A group whose detail reconciliation fails says why; the others go on.
    async fn details(
        &self,
        platform: &dyn crate::upstream::platform::Platform,
        facts: &[Fact],
        day: &str,
        lines: &[Line],
        scope: DetailScope,
    ) -> Vec<serde_json::Value> {
        let groups: std::collections::BTreeSet<(String, String)> = lines
            .iter()
            .filter(|l| match scope {
                DetailScope::Off => false,
                DetailScope::Unbalanced => !l.balanced,
                DetailScope::All => true,
            })
            .map(|l| (l.totals.setl_optins.clone(), l.totals.clr_type.clone()))
            .collect();
        let options = DetailOptions {
            fixmedins_code: self.terminal.fixmedins_code.clone(),
            in_encoding: platform.file_in_encoding(),
            result_lists_all: self.config.reconcile_result_lists_all,
        };
        let mut out = Vec::new();
        for (setl_optins, clr_type) in groups {
            let group = DetailGroup {
                setl_optins,
                clr_type,
                begin: day.to_owned(),
                end: day.to_owned(),
            };
            let outcome =
                reconcile_detail(platform, &group, facts, &options, self.book.now()).await;
            out.push(match outcome {
                Ok(report) => {
                    for e in report.differences() {
                        tracing::error!(
                            day,
                            setl_id = %e.setl_id,
                            class = ?e.class,
                            "3202: a settlement differs from the platform's"
                        );
                    }
                    serde_json::json!({ "group": group, "report": report, "error": null })
                }
                Err(e) => {
                    tracing::error!(day, error = %e, "3202 detail reconciliation failed");
                    serde_json::json!({
                        "group": group,
                        "report": null,
                        "error": {
                            "code": crate::error::UserFacing::code(&e),
                            "message_zh": crate::error::UserFacing::message_zh(&e),
                            "message_en": crate::error::UserFacing::message_en(&e),
                        },
                    })
                }
            });
        }
        out
    }

    /// 3201 for `day`, one statement per group, then 3202 for the groups `scope` names;
    /// publishes `reconcile.done`.
    pub(super) async fn reconcile(
        &self,
        day: NaiveDate,
        scope: DetailScope,
    ) -> Result<Report, SaleError> {
        let facts = self.facts().await?;
        self.reconcile_facts(&facts, day, scope).await
    }

    /// [`Reconciler::reconcile`] over `facts` instead of the store's: the institution-wide
    /// run sends every terminal's facts of the day from the fleet ledger.
    pub(super) async fn reconcile_facts(
        &self,
        facts: &[Fact],
        day: NaiveDate,
        scope: DetailScope,
    ) -> Result<Report, SaleError> {
        let client = self.settler.platform()?;
        let day_text = crate::upstream::time::format_date(day);
        let flag = self.config.reconcile_flag();
        let mut lines = Vec::new();
        for totals in self.totals_of(facts, &day_text) {
            let input = ReconcileInput {
                data: Statement {
                    insutype: totals.insutype.clone(),
                    clr_type: totals.clr_type.clone(),
                    setl_optins: totals.setl_optins.clone(),
                    stmt_begndate: day_text.clone(),
                    stmt_enddate: day_text.clone(),
                    medfee_sumamt: totals.medfee,
                    fund_pay_sumamt: totals.fund,
                    acct_pay: totals.account,
                    fixmedins_setl_cnt: totals.count,
                    refd_setl_flag: flag.clone(),
                },
            };
            let info = client
                .reconcile(&input)
                .await
                .map_err(SaleError::Upstream)?;
            lines.push(Line {
                balanced: info.balanced(),
                result: info.stmt_rslt.clone(),
                description: info.stmt_rslt_dscr,
                totals,
            });
        }
        let balanced = lines.iter().all(|l| l.balanced);
        let details = self
            .details(client.as_ref(), facts, &day_text, &lines, scope)
            .await;
        let report = Report {
            day: day_text,
            refd_setl_flag: flag,
            refund_count: self.config.reconcile_refund_count,
            lines,
            balanced,
            details,
        };
        self.book.events().publish(
            "reconcile.done",
            serde_json::to_value(&report).unwrap_or_default(),
        );
        if balanced {
            tracing::info!(day = %report.day, "3201 reconciliation balanced");
        } else {
            for line in report.unbalanced() {
                tracing::error!(day = %report.day, "3201 does NOT balance: {}", line.difference_en());
            }
        }
        Ok(report)
    }
}

/// Shows the outcome on the status board: an imbalance raises [`ALARM`] naming each
/// unbalanced group and its difference; a balanced day clears it.
pub fn show(status: &crate::status::StatusBoard, report: &Report) {
    if report.balanced {
        status.clear(ALARM);
        return;
    }
    let zh: Vec<String> = report.unbalanced().map(Line::difference_zh).collect();
    let en: Vec<String> = report.unbalanced().map(Line::difference_en).collect();
    let (local, platform, amount) = report.differences();
    let (detail_zh, detail_en) = if report.details.is_empty() {
        (String::new(), String::new())
    } else {
        (
            format!(
                "对明细账：本地有平台无 {local} 笔，平台有本地无 {platform} 笔，金额不符 {amount} 笔；"
            ),
            format!(
                " 3202: {local} local only, {platform} platform only, {amount} amount differs;"
            ),
        )
    };
    status.raise(
        ALARM,
        format!(
            "{} 对总账不平（{}），{detail_zh}请运维人员核对当日交易明细（medsettle reconcile --date {} --detail）。",
            report.day,
            zh.join("；"),
            report.day
        ),
        format!(
            "3201 reconciliation for {} does not balance ({});{detail_en} an operator must check the day's settlements (medsettle reconcile --date {} --detail).",
            report.day,
            en.join("; "),
            report.day
        ),
        serde_json::to_value(report).unwrap_or_default(),
    );
}

/// The last run as the status page and `/metrics` show it: the day, the verdict, the groups
/// (unbalanced ones named), and the settlements 3202 found different, by class.
pub fn summary(report: &Report) -> serde_json::Value {
    let (local_only, platform_only, amount_differs) = report.differences();
    serde_json::json!({
        "day": report.day,
        "at_ms": crate::status::now_ms(),
        "balanced": report.balanced,
        "groups": report.lines.len(),
        "unbalanced": report.unbalanced().map(|l| l.totals.group_en()).collect::<Vec<_>>(),
        "details": report.details.len(),
        "detail_failures": report.details.iter().filter(|d| !d["error"].is_null()).count(),
        "local_only": local_only,
        "platform_only": platform_only,
        "amount_differs": amount_differs,
    })
}

/// The next scheduled run after `now` (CST wall time) at `at`, and the day it reconciles:
/// the CST day before the run's date, so every settlement of that day is in.
pub fn next_run(now: NaiveDateTime, at: NaiveTime) -> (NaiveDateTime, NaiveDate) {
    let today_at = now.date().and_time(at);
    let run = if now < today_at {
        today_at
    } else {
        today_at + chrono::Duration::days(1)
    };
    let day = run.date().pred_opt().unwrap_or(run.date());
    (run, day)
}

/// Runs the daily reconciliation of the previous CST day at `[settle] reconcile_at` (CST)
/// until `stop`.
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
            .with_timezone(&crate::upstream::time::cst())
            .naive_local();
        let (run, day) = next_run(now, at);
        let wait = (run - now).to_std().unwrap_or_default();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        match reconciler
            .reconcile(day, reconciler.config.detail_scope())
            .await
        {
            Ok(report) => {
                show(&status, &report);
                status.set_reconcile(summary(&report));
            }
            Err(e) => tracing::error!(error = %e, day = %day, "scheduled reconciliation failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn the_schedule_reconciles_the_day_before_after_midnight() {
        let half_past = NaiveTime::from_hms_opt(0, 30, 0).unwrap();
        let (run, day) = next_run(at("2026-12-02 23:59:59"), half_past);
        assert_eq!(run, at("2026-12-03 00:30:00"));
        assert_eq!(day.to_string(), "2026-12-02");
        let (run, day) = next_run(at("2026-12-03 00:10:00"), half_past);
        assert_eq!(run, at("2026-12-03 00:30:00"));
        assert_eq!(day.to_string(), "2026-12-02");
        // At or after the time: tomorrow's run, for today.
        let (run, day) = next_run(at("2026-12-03 00:30:00"), half_past);
        assert_eq!(run, at("2026-12-04 00:30:00"));
        assert_eq!(day.to_string(), "2026-12-03");
    }

    #[test]
    fn an_unbalanced_line_names_its_group_and_difference() {
        let line = Line {
            totals: Totals {
                medfee: Fen(12_850),
                count: 1,
                ..Totals::empty("310", "41", "110199")
            },
            balanced: false,
            result: Some("1".into()),
            description: Some("医疗费总额不一致".into()),
        };
        let zh = line.difference_zh();
        assert!(zh.contains("险种 310 清算类别 41 经办机构 110199"), "{zh}");
        assert!(
            zh.contains("128.50") && zh.contains("医疗费总额不一致"),
            "{zh}"
        );
        let en = line.difference_en();
        assert!(
            en.contains("insutype 310 clr_type 41 setl_optins 110199"),
            "{en}"
        );
        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(json["totals"]["setl_optins"], "110199");
    }
}

//! The institution-wide reconciliation: the platform reconciles per `fixmedins_code`, so one
//! terminal sends 3201 (and 3202 on a mismatch) with the facts of every terminal of the
//! institution, read from the fleet ledger, and stores the result there for all to see.
//!
//! Exactly one runner per institution and day: a run holds the PostgreSQL advisory lock of
//! (institution, day) for its whole length (`pg_try_advisory_lock`, released when it ends or
//! its connection drops). A second operator's run meanwhile is refused as busy, naming the
//! runner; a scheduled run that finds the day already reconciled does not send it again but
//! shows the stored result. An operator's run (`medsettle fleet reconcile --date D`) always
//! sends: it is how a day is reconciled again after a correction.
//!
//! What the ledger holds is what the terminals have sent: terminals with outbox rows waiting
//! or not seen for a while are named in the result (`incomplete`), because their settlements
//! may be missing from the totals. The run never waits for them and never changes a sale.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::ledger::Ledger;
use super::rows::PsnHasher;
use super::{FleetError, FleetOptions};
use crate::secret::Secret;
use crate::settle::Engine;
use crate::settle::SaleKind;
use crate::settle::facts::Fact;
use crate::settle::reconcile::{Report, show, summary};
use crate::status::StatusBoard;

/// The first key of the two-key advisory lock of a reconciliation (the second is the hash of
/// institution and day): apart from the schema migration's one-key lock.
const LOCK_CLASS: i32 = i32::from_be_bytes(*b"mrc1");

/// A terminal not seen for this long may hold settlements the ledger lacks.
pub const STALE_AFTER: Duration = Duration::from_secs(10 * 60);

/// How long a scheduled run that found another runner waits before looking again.
const BUSY_RETRY: Duration = Duration::from_secs(60);

/// How many times a scheduled run looks again for the result of another runner.
const BUSY_TRIES: u32 = 30;

/// Who asked for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An operator (`medsettle fleet reconcile`, `POST /v1/fleet/reconcile`): always sends.
    Operator,
    /// The daily schedule: sends only when the day has no result yet.
    Schedule,
}

/// The outcome of an institution-wide run.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// `false`: the day already had a result (a scheduled run shows it, sends nothing).
    pub ran: bool,
    /// The terminal that sent it.
    pub runner: String,
    /// `yyyy-MM-dd`, CST.
    pub day: String,
    /// When the result was stored.
    pub ran_at: DateTime<Utc>,
    /// The report (the same shape as a terminal's own `POST /v1/reconcile`); facts carry
    /// `terminal/sale` as their sale id.
    pub report: serde_json::Value,
    /// Terminals whose settlements may be missing: outbox rows waiting, or not seen for
    /// [`STALE_AFTER`], when the run read the ledger.
    pub incomplete: Vec<String>,
    /// Settlement lines read from the ledger.
    pub facts: usize,
    /// Lines whose sealed `psn_no` was missing or did not open (3202 sends them without it).
    pub unsealed: usize,
}

/// Runs the institution-wide reconciliation for one terminal of the fleet.
pub struct FleetRunner {
    options: FleetOptions,
    credentials_dir: Option<PathBuf>,
    engine: Arc<Engine>,
    status: Arc<StatusBoard>,
}

impl FleetRunner {
    pub fn new(
        options: FleetOptions,
        credentials_dir: Option<PathBuf>,
        engine: Arc<Engine>,
        status: Arc<StatusBoard>,
    ) -> FleetRunner {
        FleetRunner {
            options,
            credentials_dir,
            engine,
            status,
        }
    }

    /// 3201 over every terminal's facts of `day` (3202 for the unbalanced groups, or for every
    /// group with `detail`), under the institution-day lock; the result is stored in the
    /// ledger and shown on this terminal's status board.
    pub async fn run(
        &self,
        day: NaiveDate,
        detail: bool,
        trigger: Trigger,
    ) -> Result<Outcome, FleetError> {
        let key = Secret::load(&self.options.psn_key, self.credentials_dir.as_deref()).map_err(
            |source| FleetError::Secret {
                key: "psn_key",
                source,
            },
        )?;
        let hasher = PsnHasher::new(key.expose().as_bytes())?;
        let mut ledger = Ledger::connect(&self.options, self.credentials_dir.as_deref()).await?;
        let day_key = format!("{}/{day}", self.options.fixmedins_code);
        let day_text = crate::upstream::time::format_date(day);
        if !try_lock(&ledger, &day_key).await? {
            // The holder may finish between our attempt and the look at who holds it: then
            // nobody does, and the day is ours after all.
            let runner = match holder(&ledger, &day_key).await {
                Some(runner) => Some(runner),
                None if try_lock(&ledger, &day_key).await? => None,
                None => Some("unknown".to_owned()),
            };
            if let Some(runner) = runner {
                return Err(FleetError::ReconcileBusy {
                    day: day_text,
                    runner,
                });
            }
        }
        let outcome = self
            .locked(&mut ledger, &hasher, day, &day_text, detail, trigger)
            .await;
        // Dropping the connection releases the lock too; unlocking first lets the next
        // runner in without waiting for PostgreSQL to notice.
        if let Err(e) = ledger
            .client()
            .execute(
                "SELECT pg_advisory_unlock($1, hashtext($2))",
                &[&LOCK_CLASS, &day_key],
            )
            .await
        {
            tracing::warn!(error = %e, "could not release the reconciliation lock; the connection's end will");
        }
        let outcome = outcome?;
        if let Ok(report) = serde_json::from_value::<Report>(outcome.report.clone()) {
            show(&self.status, &report);
            let mut s = summary(&report);
            s["scope"] = "institution".into();
            s["runner"] = outcome.runner.clone().into();
            s["incomplete"] = outcome.incomplete.len().into();
            self.status.set_reconcile(s);
        }
        Ok(outcome)
    }

    async fn locked(
        &self,
        ledger: &mut Ledger,
        hasher: &PsnHasher,
        day: NaiveDate,
        day_text: &str,
        detail: bool,
        trigger: Trigger,
    ) -> Result<Outcome, FleetError> {
        let code = &self.options.fixmedins_code;
        if trigger == Trigger::Schedule
            && let Some(stored) = stored(ledger, code, day).await?
        {
            tracing::info!(day = day_text, runner = %stored.runner, "the institution's day is already reconciled");
            return Ok(stored);
        }
        let incomplete = incomplete(ledger, code).await?;
        let (facts, unsealed) = day_facts(ledger, hasher, code, day).await?;
        if !incomplete.is_empty() {
            tracing::warn!(
                day = day_text,
                terminals = %incomplete.join(","),
                "institution-wide reconciliation: these terminals may not have sent every settlement yet"
            );
        }
        let result = self.engine.reconcile_facts(&facts, day, detail).await;
        let runner = self.options.terminal_id.clone();
        let (verdict, report, lines) = match &result {
            Ok(report) => (
                if report.balanced {
                    "balanced"
                } else {
                    "unbalanced"
                },
                serde_json::to_value(report).unwrap_or_default(),
                report
                    .lines
                    .iter()
                    .map(|l| {
                        let t = &l.totals;
                        (
                            format!("{}/{}/{}", t.insutype, t.clr_type, t.setl_optins),
                            if l.balanced { "balanced" } else { "unbalanced" },
                            serde_json::to_value(l).unwrap_or_default(),
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
            Err(e) => (
                "failed",
                serde_json::json!({
                    "day": day_text,
                    "error": {
                        "code": crate::error::UserFacing::code(e),
                        "message_zh": crate::error::UserFacing::message_zh(e),
                        "message_en": crate::error::UserFacing::message_en(e),
                    },
                }),
                Vec::new(),
            ),
        };
        let mut stored_report = report.clone();
        stored_report["incomplete"] = serde_json::json!(incomplete);
        stored_report["facts"] = facts.len().into();
        stored_report["unsealed"] = unsealed.into();
        let ran_at = store(ledger, code, day, verdict, &stored_report, &lines, &runner).await?;
        if let Err(e) = result {
            return Err(FleetError::Reconcile(e.to_string()));
        }
        Ok(Outcome {
            ran: true,
            runner,
            day: day_text.to_owned(),
            ran_at,
            report,
            incomplete,
            facts: facts.len(),
            unsealed,
        })
    }
}

/// Takes the institution-day lock of `day_key` if nobody holds it.
async fn try_lock(ledger: &Ledger, day_key: &str) -> Result<bool, FleetError> {
    Ok(ledger
        .client()
        .query_one(
            "SELECT pg_try_advisory_lock($1, hashtext($2))",
            &[&LOCK_CLASS, &day_key],
        )
        .await?
        .get(0))
}

/// The terminal holding the lock of `day_key`, from its connection's application name
/// (`medsettle <terminal>`); `None` when nobody holds it (any more).
async fn holder(ledger: &Ledger, day_key: &str) -> Option<String> {
    let row = ledger
        .client()
        .query_opt(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
               AND l.classid = $1::int4::oid AND l.objid = hashtext($2)::oid
             LIMIT 1",
            &[&LOCK_CLASS, &day_key],
        )
        .await;
    match row {
        Ok(Some(r)) => {
            let name: String = r.get(0);
            Some(name.strip_prefix("medsettle ").unwrap_or(&name).to_owned())
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read who holds the reconciliation lock");
            Some("unknown".to_owned())
        }
    }
}

/// The day's stored verdict, when a run balanced or not (a failed run is no result).
async fn stored(
    ledger: &Ledger,
    code: &str,
    day: NaiveDate,
) -> Result<Option<Outcome>, FleetError> {
    let row = ledger
        .client()
        .query_opt(
            "SELECT report, runner_terminal, ran_at FROM reconciliations
             WHERE fixmedins_code = $1 AND day = $2 AND group_key = ''
               AND result IN ('balanced', 'unbalanced')
             ORDER BY ran_at DESC LIMIT 1",
            &[&code, &day],
        )
        .await?;
    Ok(row.map(|r| {
        let report: serde_json::Value = r.get(0);
        let incomplete = report["incomplete"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let count = |k: &str| report[k].as_u64().map_or(0, |n| n as usize);
        Outcome {
            ran: false,
            runner: r.get(1),
            day: crate::upstream::time::format_date(day),
            ran_at: r.get(2),
            facts: count("facts"),
            unsealed: count("unsealed"),
            incomplete,
            report,
        }
    }))
}

/// Terminals of the institution with outbox rows waiting or not seen for [`STALE_AFTER`].
async fn incomplete(ledger: &Ledger, code: &str) -> Result<Vec<String>, FleetError> {
    let stale = STALE_AFTER.as_secs_f64();
    Ok(ledger
        .client()
        .query(
            "SELECT terminal_id FROM terminals
             WHERE fixmedins_code = $1
               AND (outbox_rows > 0 OR last_seen < now() - make_interval(secs => $2))
             ORDER BY terminal_id",
            &[&code, &stale],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Every terminal's settlement facts of `day` (the lines the sales still have), with
/// `psn_no` opened; and how many lines had no number that opened.
pub(super) async fn day_facts(
    ledger: &Ledger,
    hasher: &PsnHasher,
    code: &str,
    day: NaiveDate,
) -> Result<(Vec<Fact>, usize), FleetError> {
    let rows = ledger
        .client()
        .query(
            "SELECT terminal_id, sale_id, kind, refund, msgid, setl_id, original_setl_id,
                    mdtrt_id, psn_sealed, insutype, clr_type, clr_optins, setl_time,
                    medfee_fen, fund_fen, account_fen, cash_fen, from_answer
             FROM settlement_facts
             WHERE fixmedins_code = $1 AND day = $2 AND state <> 'void'
             ORDER BY terminal_id, sale_id, refund",
            &[&code, &day],
        )
        .await?;
    let day_text = crate::upstream::time::format_date(day);
    let mut unsealed = 0;
    let mut facts = Vec::with_capacity(rows.len());
    for r in &rows {
        let terminal: &str = r.get(0);
        let sale: &str = r.get(1);
        let sealed: Option<Vec<u8>> = r.get(8);
        let psn_no = match sealed.as_deref().map(|s| hasher.open(s)) {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                tracing::warn!(terminal, sale, error = %e, "a sealed psn_no did not open");
                unsealed += 1;
                String::new()
            }
            None => {
                unsealed += 1;
                String::new()
            }
        };
        let kind: &str = r.get(2);
        facts.push(Fact {
            sale_id: format!("{terminal}/{sale}"),
            kind: if kind == SaleKind::Outpatient.as_str() {
                SaleKind::Outpatient
            } else {
                SaleKind::Pharmacy
            },
            refund: r.get(3),
            msgid: r.get(4),
            setl_id: r.get(5),
            original_setl_id: r.get(6),
            mdtrt_id: r.get(7),
            psn_no,
            insutype: r.get(9),
            clr_type: r.get(10),
            clr_optins: r.get(11),
            setl_time: r.get(12),
            day: day_text.clone(),
            medfee: crate::upstream::Fen(r.get(13)),
            fund: crate::upstream::Fen(r.get(14)),
            account: crate::upstream::Fen(r.get(15)),
            cash: crate::upstream::Fen(r.get(16)),
            from_answer: r.get(17),
        });
    }
    Ok((facts, unsealed))
}

/// Stores a run: one row per 3201 group and the day's verdict (`group_key` ''), in one
/// transaction; answers when it was stored.
async fn store(
    ledger: &mut Ledger,
    code: &str,
    day: NaiveDate,
    verdict: &str,
    report: &serde_json::Value,
    lines: &[(String, &str, serde_json::Value)],
    runner: &str,
) -> Result<DateTime<Utc>, FleetError> {
    let tx = ledger.client_mut().transaction().await?;
    for (group, result, line) in lines {
        tx.execute(
            "INSERT INTO reconciliations
                (fixmedins_code, day, group_key, result, report, runner_terminal)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&code, &day, group, result, line, &runner],
        )
        .await?;
    }
    let at: DateTime<Utc> = tx
        .query_one(
            "INSERT INTO reconciliations
                (fixmedins_code, day, group_key, result, report, runner_terminal)
             VALUES ($1, $2, '', $3, $4, $5) RETURNING ran_at",
            &[&code, &day, &verdict, report, &runner],
        )
        .await?
        .get(0);
    tx.commit().await?;
    Ok(at)
}

/// The daily institution-wide run on this terminal: at `[settle] reconcile_at` (CST) for the
/// previous day. Every terminal of the fleet runs it; the first takes the lock and sends, the
/// others find the result stored (waiting while the runner works) and show it. A terminal
/// starting after today's run time first makes sure yesterday has a result: if every terminal
/// was off at the hour (a power cut, a holiday), the first one back reconciles the day.
pub async fn schedule(runner: Arc<FleetRunner>, stop: CancellationToken) {
    let Some(at) = runner.engine.reconciler().schedule_time() else {
        return;
    };
    let cst_now = || {
        runner
            .engine
            .now()
            .with_timezone(&crate::upstream::time::cst())
            .naive_local()
    };
    let now = cst_now();
    if now >= now.date().and_time(at)
        && let Some(yesterday) = now.date().pred_opt()
    {
        scheduled(&runner, yesterday, &stop).await;
    }
    loop {
        let now = cst_now();
        let (run, day) = crate::settle::reconcile::next_run(now, at);
        let wait = (run - now).to_std().unwrap_or_default();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        scheduled(&runner, day, &stop).await;
    }
}

/// One scheduled run of `day`: sends it unless stored, or waits for the terminal running it.
async fn scheduled(runner: &FleetRunner, day: NaiveDate, stop: &CancellationToken) {
    for _ in 0..BUSY_TRIES {
        match runner.run(day, false, Trigger::Schedule).await {
            Ok(o) if o.ran => {
                tracing::info!(day = %o.day, "institution-wide reconciliation sent by this terminal")
            }
            Ok(o) => {
                tracing::info!(day = %o.day, runner = %o.runner, "institution-wide reconciliation already done")
            }
            Err(FleetError::ReconcileBusy { runner, .. }) => {
                tracing::info!(%day, %runner, "another terminal is reconciling the institution's day");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(BUSY_RETRY) => {}
                }
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, %day, "scheduled institution-wide reconciliation failed")
            }
        }
        return;
    }
}

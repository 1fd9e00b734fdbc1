//! 3202 detail reconciliation of one clearing group (upstream.md "3202 — detail reconciliation
//! through a file"): when 3201 says a group does not balance, the terminal (or the fleet
//! runner) uploads the group's settlement lines (9101), asks for the comparison (3202), fetches
//! the platform's verdict (9102) and tells an operator which settlements differ and what to do
//! about each.
//!
//! Two parts. [`classify`] is pure: local [`Fact`]s and the platform's result lines in, one
//! [`DetailEntry`] per settlement out (matched, local only, platform only, amount differs), lines
//! paired by msgid first (the platform echoes the settling request's msgid), then by `setl_id`
//! with the refund flag (a settlement and its cancellation may share a `setl_id`).
//! [`reconcile_detail`] runs the three requests over any [`Platform`] and classifies.
//!
//! The group of 3202 is (`setl_optins`, `clr_type`) over a period: its input has no `insutype`,
//! so the file holds the lines of every insurance type of that group ([`DetailGroup::select`]).
//! Nothing here changes a sale: a difference is for an operator (the suggested action says
//! which tool), never fixed silently. The report masks `psn_no`.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::facts::Fact;
use crate::error::UserFacing;
use crate::upstream::error::UpstreamError;
use crate::upstream::money::Fen;
use crate::upstream::platform::Platform;
use crate::upstream::time;
use crate::upstream::tx::statement::file::{self, DetailLine, FileError, ResultLine};
use crate::upstream::tx::statement::{
    DetailReconcileInput, DetailStatement, DownloadInput, InEncoding, UploadInput,
};
use medsettle_base::pii::PsnNo;

/// How this deployment's platform takes and gives the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailOptions {
    /// The institution (`fsUploadIn.fixmedins_code`, `fsDownloadIn.fixmedins_code`).
    pub fixmedins_code: String,
    /// How 9101 carries the ZIP (upstream.md "Uncertain": base64 or a byte array).
    pub in_encoding: InEncoding,
    /// The result file lists every settlement of the group (a settlement it leaves out is not
    /// on the platform). `false` for a platform that lists only the differences: a local
    /// settlement without a result line is then taken as matched.
    pub result_lists_all: bool,
}

/// One 3202 group and period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetailGroup {
    /// 结算经办机构 = the settlements' `clr_optins`.
    pub setl_optins: String,
    pub clr_type: String,
    /// `yyyy-MM-dd` (CST), inclusive.
    pub begin: String,
    pub end: String,
}

impl DetailGroup {
    /// The facts of this group and period, every insurance type, in the given order.
    pub fn select<'a>(&self, facts: &'a [Fact]) -> Vec<&'a Fact> {
        facts
            .iter()
            .filter(|f| {
                f.clr_optins == self.setl_optins
                    && f.clr_type == self.clr_type
                    && self.begin.as_str() <= f.day.as_str()
                    && f.day.as_str() <= self.end.as_str()
            })
            .collect()
    }

    /// The uploaded file's name: institution, group and period, so an operator finds it on the
    /// platform's side.
    pub fn filename(&self, fixmedins_code: &str) -> String {
        let compact = |d: &str| d.replace('-', "");
        format!(
            "3202_{fixmedins_code}_{}_{}_{}_{}.zip",
            self.setl_optins,
            self.clr_type,
            compact(&self.begin),
            compact(&self.end)
        )
    }
}

/// What one settlement line turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DetailClass {
    /// Both sides have it with the same amounts.
    Matched,
    /// This side has it; the platform does not count it.
    LocalOnly,
    /// The platform counts it; this side does not know it.
    PlatformOnly,
    /// Both have it; the amounts differ.
    AmountDiffers,
}

impl DetailClass {
    /// What an operator should do, in Chinese and English; `None` for a match.
    pub fn action(self) -> Option<Action> {
        let (zh, en) = match self {
            DetailClass::Matched => return None,
            DetailClass::LocalOnly => (
                "本地有记录而平台无：按结果未知流程处理（`medsettle queue resolve`），核实后冲正或重新结算，切勿直接删除",
                "the platform does not count this settlement: resolve it through the in-doubt path (`medsettle queue resolve`); never delete it by hand",
            ),
            DetailClass::PlatformOnly => (
                "平台有记录而本机构终端无：查看2601冲正日志，并联系医保平台核实该笔结算",
                "a settlement this terminal/institution does not know: check the 2601 reversal log, ask the platform",
            ),
            DetailClass::AmountDiffers => (
                "金额不一致：用5203查询该笔结算，与本地保存的应答核对",
                "the amounts differ: compare the stored answer with 5203 (settlement query)",
            ),
        };
        Some(Action {
            zh: zh.to_owned(),
            en: en.to_owned(),
        })
    }
}

/// A suggested action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub zh: String,
    pub en: String,
}

/// How a local settlement and a platform line were paired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    Msgid,
    SetlId,
}

/// Amounts of one line as one side has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Amounts {
    pub medfee_sumamt: Option<Fen>,
    pub fund_pay_sumamt: Option<Fen>,
    pub acct_pay: Option<Fen>,
}

/// One settlement (or cancellation) and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetailEntry {
    pub class: DetailClass,
    /// `None` when only one side has the line.
    pub matched_by: Option<MatchedBy>,
    /// The local sale or visit, when this side has it.
    pub sale_id: Option<String>,
    pub msgid: String,
    pub setl_id: String,
    pub mdtrt_id: String,
    /// `true`: a cancellation line (`refd_setl_flag` 1).
    pub refund: bool,
    /// Masked.
    pub psn_no: String,
    pub local: Option<Amounts>,
    pub platform: Option<Amounts>,
    /// The platform's verdict and remark on the line, as it wrote them.
    pub stmt_rslt: Option<String>,
    pub memo: Option<String>,
    pub action: Option<Action>,
}

/// How many entries of each class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DetailCounts {
    pub matched: usize,
    pub local_only: usize,
    pub platform_only: usize,
    pub amount_differs: usize,
}

/// The outcome of 9101 → 3202 → 9102 for one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetailReport {
    pub group: DetailGroup,
    /// The uploaded file's name and number (9101).
    pub filename: String,
    pub upload_file_qury_no: String,
    /// The result file's number and name (3202's `fileinfo`).
    pub result_file_qury_no: String,
    pub result_filename: Option<String>,
    /// The totals sent with 3202.
    pub lines_sent: usize,
    pub medfee_sumamt: Fen,
    pub fund_pay_sumamt: Fen,
    pub cash_payamt: Fen,
    pub counts: DetailCounts,
    /// Every settlement line of both sides: local ones in file order, then the platform's own.
    pub entries: Vec<DetailEntry>,
}

impl DetailReport {
    /// Nothing for an operator to do.
    pub fn balanced(&self) -> bool {
        self.counts.matched == self.entries.len()
    }

    /// The entries that need an operator.
    pub fn differences(&self) -> impl Iterator<Item = &DetailEntry> {
        self.entries
            .iter()
            .filter(|e| e.class != DetailClass::Matched)
    }
}

/// Why 3202 detail reconciliation could not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetailError {
    /// A request failed (9101, 3202 or 9102; which one is in `step`).
    #[error("{step}: {source}")]
    Upstream {
        step: &'static str,
        source: UpstreamError,
    },
    /// The result file could not be read.
    #[error("9102 result: {0}")]
    File(#[from] FileError),
    /// The result could no longer be fetched (`dld_endtime` passed).
    #[error("the 3202 result expired at {0} (CST)")]
    Expired(String),
}

impl UserFacing for DetailError {
    fn code(&self) -> &'static str {
        match self {
            DetailError::Upstream { source, .. } => source.code(),
            DetailError::File(_) => "reconcile.detail_file",
            DetailError::Expired(_) => "reconcile.detail_expired",
        }
    }

    fn message_zh(&self) -> String {
        match self {
            DetailError::Upstream { step, source } => {
                format!("对明细账（{step}）失败：{}", source.message_zh())
            }
            DetailError::File(e) => format!("平台返回的对账结果文件无法读取：{e}"),
            DetailError::Expired(t) => format!("对账结果文件已过下载截止时间 {t}，请重新对明细账"),
        }
    }

    fn message_en(&self) -> String {
        match self {
            DetailError::Upstream { step, source } => {
                format!(
                    "detail reconciliation ({step}) failed: {}",
                    source.message_en()
                )
            }
            DetailError::File(e) => format!("the platform's result file is unreadable: {e}"),
            DetailError::Expired(t) => {
                format!("the result file expired at {t} (CST); run the detail reconciliation again")
            }
        }
    }
}

fn at(step: &'static str) -> impl FnOnce(UpstreamError) -> DetailError {
    move |source| DetailError::Upstream { step, source }
}

/// The detail file's line of a fact.
pub fn detail_line(f: &Fact) -> DetailLine {
    DetailLine {
        setl_id: f.setl_id.clone(),
        mdtrt_id: f.mdtrt_id.clone(),
        psn_no: PsnNo::new(f.psn_no.as_str()),
        medfee_sumamt: f.medfee,
        fund_pay_sumamt: f.fund,
        acct_pay: f.account,
        refund: f.refund,
    }
}

/// The 3202 `data` of a group's facts and the uploaded file's number.
pub fn statement(group: &DetailGroup, facts: &[&Fact], file_qury_no: &str) -> DetailStatement {
    let sum = |pick: fn(&Fact) -> Fen| Fen(facts.iter().map(|f| pick(f).0).sum());
    DetailStatement {
        setl_optins: group.setl_optins.clone(),
        file_qury_no: file_qury_no.to_owned(),
        stmt_begndate: group.begin.clone(),
        stmt_enddate: group.end.clone(),
        medfee_sumamt: sum(|f| f.medfee),
        fund_pay_sumamt: sum(|f| f.fund),
        cash_payamt: sum(|f| f.cash),
        fixmedins_setl_cnt: u32::try_from(facts.len()).unwrap_or(u32::MAX),
        clr_type: group.clr_type.clone(),
        // The file carries the cancellations as their own lines.
        refd_setl_flag: "1".to_owned(),
    }
}

/// 9101 → 3202 → 9102 for `group` over `facts` (the caller's facts of the period; this selects
/// the group's), then [`classify`]. `now` decides whether the result has expired.
pub async fn reconcile_detail(
    platform: &dyn Platform,
    group: &DetailGroup,
    facts: &[Fact],
    options: &DetailOptions,
    now: DateTime<Utc>,
) -> Result<DetailReport, DetailError> {
    let selected = group.select(facts);
    let lines: Vec<DetailLine> = selected.iter().map(|f| detail_line(f)).collect();
    let filename = group.filename(&options.fixmedins_code);
    let archive = file::detail_zip(&filename, &lines);
    let upload = UploadInput::new(
        &archive,
        &filename,
        &options.fixmedins_code,
        options.in_encoding,
    )
    .map_err(at("9101"))?;
    let uploaded = platform.upload_file(&upload).await.map_err(at("9101"))?;
    let upload_no = uploaded
        .file_qury_no("9101")
        .map_err(at("9101"))?
        .to_owned();
    let data = statement(group, &selected, &upload_no);
    let (medfee, fund, cash) = (data.medfee_sumamt, data.fund_pay_sumamt, data.cash_payamt);
    let result = platform
        .detail_reconcile(&DetailReconcileInput { data })
        .await
        .map_err(at("3202"))?;
    if let Some(end) = result.dld_endtime.as_deref()
        && time::parse_inf_time(end).is_ok_and(|t| t < now)
    {
        return Err(DetailError::Expired(end.to_owned()));
    }
    let download = DownloadInput::of(&result, &options.fixmedins_code).map_err(at("3202"))?;
    let zip = platform
        .download_file(&download)
        .await
        .map_err(at("9102"))?;
    let platform_lines = file::result_from_zip(&zip)?;
    let locals: Vec<Fact> = selected.into_iter().cloned().collect();
    let entries = classify(&locals, &platform_lines, options.result_lists_all);
    tracing::info!(
        setl_optins = %group.setl_optins,
        clr_type = %group.clr_type,
        lines = lines.len(),
        differences = entries.iter().filter(|e| e.class != DetailClass::Matched).count(),
        "3202 detail reconciliation done"
    );
    Ok(DetailReport {
        group: group.clone(),
        filename,
        upload_file_qury_no: upload_no,
        result_file_qury_no: download.fs_download_in.file_qury_no,
        result_filename: result.filename,
        lines_sent: lines.len(),
        medfee_sumamt: medfee,
        fund_pay_sumamt: fund,
        cash_payamt: cash,
        counts: count(&entries),
        entries,
    })
}

/// Pairs local facts with the platform's result lines and classifies every settlement.
///
/// Pairing: a fact with a msgid takes the unused line with that msgid; otherwise the unused
/// line with its `setl_id` and refund flag. Verdict of a pair: the amounts the platform gave
/// (an empty amount is not compared) differ from ours → amount differs; else `stmt_rslt` `0` →
/// matched, anything else → local only (the platform does not count it as ours; its memo is
/// kept). A cancellation's amounts compare by magnitude (platforms differ in the sign they
/// write). A fact without a line is local only when the result lists everything
/// (`result_lists_all`), else matched. Every line left over is platform only.
pub fn classify<'a>(
    local: &'a [Fact],
    platform: &'a [ResultLine],
    result_lists_all: bool,
) -> Vec<DetailEntry> {
    let mut used = vec![false; platform.len()];
    let mut index = LineIndex::of(platform);
    let mut entries = Vec::with_capacity(local.len() + platform.len());
    for f in local {
        let by_msgid = (!f.msgid.is_empty())
            .then(|| first_unused(index.by_msgid.get_mut(f.msgid.as_str()), &used))
            .flatten()
            .map(|i| (i, MatchedBy::Msgid));
        let paired = by_msgid.or_else(|| {
            first_unused(
                index.by_setl_id.get_mut(&(f.setl_id.as_str(), f.refund)),
                &used,
            )
            .map(|i| (i, MatchedBy::SetlId))
        });
        let local_amounts = Amounts {
            medfee_sumamt: Some(f.medfee),
            fund_pay_sumamt: Some(f.fund),
            acct_pay: Some(f.account),
        };
        let mut entry = DetailEntry {
            class: DetailClass::Matched,
            matched_by: None,
            sale_id: Some(f.sale_id.clone()),
            msgid: f.msgid.clone(),
            setl_id: f.setl_id.clone(),
            mdtrt_id: f.mdtrt_id.clone(),
            refund: f.refund,
            psn_no: PsnNo::new(f.psn_no.as_str()).masked(),
            local: Some(local_amounts),
            platform: None,
            stmt_rslt: None,
            memo: None,
            action: None,
        };
        match paired {
            Some((i, by)) => {
                used[i] = true;
                let line = &platform[i];
                let theirs = amounts_of(line);
                entry.class = if differs(&local_amounts, &theirs, f.refund) {
                    DetailClass::AmountDiffers
                } else if line.consistent() {
                    DetailClass::Matched
                } else {
                    DetailClass::LocalOnly
                };
                entry.matched_by = Some(by);
                entry.platform = Some(theirs);
                entry.stmt_rslt = Some(line.stmt_rslt.clone());
                entry.memo = Some(line.memo.clone()).filter(|m| !m.is_empty());
            }
            None if result_lists_all => entry.class = DetailClass::LocalOnly,
            None => {}
        }
        entry.action = entry.class.action();
        entries.push(entry);
    }
    for (line, _) in platform.iter().zip(&used).filter(|(_, u)| !**u) {
        entries.push(DetailEntry {
            class: DetailClass::PlatformOnly,
            matched_by: None,
            sale_id: None,
            msgid: line.msgid.clone(),
            setl_id: line.setl_id.clone(),
            mdtrt_id: line.mdtrt_id.clone(),
            refund: line.refund,
            psn_no: line.psn_no.masked(),
            local: None,
            platform: Some(amounts_of(line)),
            stmt_rslt: Some(line.stmt_rslt.clone()),
            memo: Some(line.memo.clone()).filter(|m| !m.is_empty()),
            action: DetailClass::PlatformOnly.action(),
        });
    }
    entries
}

/// The platform's lines by msgid and by (`setl_id`, refund flag), each list in file order, so
/// pairing a fact costs a lookup rather than a scan of every line: a large hospital's day is
/// 100,000 settlements, and scanning would be quadratic.
struct LineIndex<'a> {
    by_msgid: HashMap<&'a str, VecDeque<usize>>,
    by_setl_id: HashMap<(&'a str, bool), VecDeque<usize>>,
}

impl<'a> LineIndex<'a> {
    fn of(platform: &'a [ResultLine]) -> LineIndex<'a> {
        let mut index = LineIndex {
            by_msgid: HashMap::with_capacity(platform.len()),
            by_setl_id: HashMap::with_capacity(platform.len()),
        };
        for (i, line) in platform.iter().enumerate() {
            let msgid = line.msgid.trim();
            if !msgid.is_empty() {
                index.by_msgid.entry(msgid).or_default().push_back(i);
            }
            index
                .by_setl_id
                .entry((line.setl_id.trim(), line.refund))
                .or_default()
                .push_back(i);
        }
        index
    }
}

/// The first line of `lines` not yet paired (the ones paired through the other key are
/// dropped on the way): what a scan from the top of the file would find.
fn first_unused(lines: Option<&mut VecDeque<usize>>, used: &[bool]) -> Option<usize> {
    let lines = lines?;
    while let Some(&i) = lines.front() {
        if !used[i] {
            return Some(i);
        }
        lines.pop_front();
    }
    None
}

fn amounts_of(line: &ResultLine) -> Amounts {
    Amounts {
        medfee_sumamt: line.medfee_sumamt,
        fund_pay_sumamt: line.fund_pay_sumamt,
        acct_pay: line.acct_pay,
    }
}

/// Whether an amount the platform gave differs from ours (by magnitude for a cancellation).
fn differs(ours: &Amounts, theirs: &Amounts, refund: bool) -> bool {
    let norm = |f: Fen| if refund { f.0.abs() } else { f.0 };
    [
        (ours.medfee_sumamt, theirs.medfee_sumamt),
        (ours.fund_pay_sumamt, theirs.fund_pay_sumamt),
        (ours.acct_pay, theirs.acct_pay),
    ]
    .into_iter()
    .any(|(a, b)| matches!((a, b), (Some(a), Some(b)) if norm(a) != norm(b)))
}

fn count(entries: &[DetailEntry]) -> DetailCounts {
    let mut c = DetailCounts::default();
    for e in entries {
        match e.class {
            DetailClass::Matched => c.matched += 1,
            DetailClass::LocalOnly => c.local_only += 1,
            DetailClass::PlatformOnly => c.platform_only += 1,
            DetailClass::AmountDiffers => c.amount_differs += 1,
        }
    }
    c
}

//! 9101 文件上传, 3202 对明细账 and 9102 文件下载 (upstream.md "3202 — detail reconciliation
//! through a file"), on the protocol path or on the file paths some provinces use
//! (`…/fsi/api/fileupload/upload`, `…/download`).
//!
//! - 9101 stores the uploaded ZIP (`in` as base64 text or a JSON array of byte values — both
//!   are seen in public clients) after reading its detail file strictly; the answer gives the
//!   `file_qury_no`.
//! - 3202 refuses an unknown `file_qury_no`, a missing required field and totals that differ
//!   from the file; it compares the file's lines with the ledger's settlements and
//!   cancellations of the institution and period, and writes the result file: one line per
//!   settlement of either side, `stmt_rslt` `0` consistent, `1` amounts differ (the platform's
//!   amounts), `2` the platform has no such settlement (amounts empty), `3` the institution did
//!   not send one the platform has.
//! - 9102 answers the result ZIP itself (not an envelope) until `dld_endtime`, and refuses after.
//!
//! These requests pass the same envelope, signature and session checks as every other; they
//! are handled here rather than in `tx::dispatch` because 9102's answer is not an envelope.
//! Fault rules do not apply to them. Also here: injecting a settlement the terminals do not
//! know ([`Sandbox::inject_settlement`], `POST /admin/settlements`), so a test can show 3202
//! finds it.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use hyper::StatusCode;
use hyper::body::Bytes;
use medsettle_nhsa::money::Fen;
use medsettle_nhsa::signing;
use medsettle_nhsa::time;
use medsettle_nhsa::tx::statement::file::{self, DetailLine, ResultLine};
use medsettle_nhsa::tx::statement::{decode_bytes, zip};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{amount, node, text};
use crate::envelope::{self, Req, field_text};
use crate::http::{Response, respond};
use crate::ledger::{SettlementRecord, SettlementStatus};
use crate::state::State;
use crate::{Sandbox, Shared};

/// `protocol::SIGN_IN_INVALID`, the prefix a client signs in again on (not imported: `protocol`
/// depends on `tx`; a test checks the two agree).
const SIGN_IN_INVALID: &str = "签到信息无效";

/// The file transactions, answered here.
pub const FILE_INFNOS: [&str; 3] = ["9101", "3202", "9102"];
/// The file-transfer paths (after any prefix a province puts before them).
pub const UPLOAD_PATH: &str = "/fsi/api/fileupload/upload";
pub const DOWNLOAD_PATH: &str = "/fsi/api/fileupload/download";
/// How long a 3202 result can be fetched (on the sandbox's expiry clock).
pub const RESULT_TTL_MINUTES: i64 = 60;

/// The files the sandbox holds.
#[derive(Debug, Default)]
pub struct Files {
    uploads: HashMap<String, Upload>,
    results: HashMap<String, ResultFile>,
    order: Vec<String>,
}

#[derive(Debug, Clone)]
struct Upload {
    fixmedins_code: String,
    filename: String,
    encoding: &'static str,
    lines: Vec<DetailLine>,
}

#[derive(Debug, Clone)]
struct ResultFile {
    fixmedins_code: String,
    filename: String,
    zip: Vec<u8>,
    expires: DateTime<Utc>,
}

/// An uploaded detail file, for tests ([`Sandbox::detail_uploads`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadRecord {
    pub file_qury_no: String,
    pub filename: String,
    /// `base64` or `bytes`: how `in` arrived.
    pub encoding: String,
    pub lines: usize,
}

/// A settlement only the platform has (`POST /admin/settlements` body).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Injected {
    pub setl_id: String,
    pub mdtrt_id: String,
    pub psn_no: String,
    pub insutype: String,
    pub fixmedins_code: String,
    /// `yyyy-MM-dd` (CST).
    pub day: String,
    pub medfee_sumamt: Fen,
    pub fund_pay_sumamt: Fen,
    pub acct_pay: Fen,
    #[serde(default)]
    pub msgid: String,
    /// 清算类别 (`41` when empty).
    #[serde(default)]
    pub clr_type: String,
    /// 清算经办机构: the 3201/3202 `setl_optins` it counts under.
    pub clr_optins: String,
}

impl Sandbox {
    /// Books a settlement no terminal made (as if another system of the institution had), so
    /// 3201 no longer balances and 3202 reports it as the platform's only.
    pub fn inject_settlement(&self, s: Injected) {
        inject(&mut self.shared.lock(), s);
    }

    /// The detail files uploaded by 9101, in upload order.
    pub fn detail_uploads(&self) -> Vec<UploadRecord> {
        let files = self.shared.files();
        files
            .order
            .iter()
            .filter_map(|no| {
                let u = files.uploads.get(no)?;
                Some(UploadRecord {
                    file_qury_no: no.clone(),
                    filename: u.filename.clone(),
                    encoding: u.encoding.to_owned(),
                    lines: u.lines.len(),
                })
            })
            .collect()
    }
}

fn inject(state: &mut State, s: Injected) {
    state.settlements.push(SettlementRecord {
        setl_id: s.setl_id,
        mdtrt_id: s.mdtrt_id,
        msgid: s.msgid,
        infno: "2102".to_owned(),
        psn_no: s.psn_no,
        insutype: s.insutype,
        fixmedins_code: s.fixmedins_code,
        chrg_bchno: String::new(),
        medfee_sumamt: s.medfee_sumamt,
        fund_pay_sumamt: s.fund_pay_sumamt,
        acct_pay: s.acct_pay,
        psn_cash_pay: Fen(s.medfee_sumamt.0 - s.fund_pay_sumamt.0 - s.acct_pay.0),
        hosp_part_amt: Fen(0),
        acct_mulaid_pay: Fen(0),
        deductible_used: Fen(0),
        cap_used: Fen(0),
        status: SettlementStatus::Effective,
        trace_counts: None,
        setl_time: format!("{} 12:00:00", s.day),
        day: s.day,
        cancel_msgid: None,
        clr_type: if s.clr_type.is_empty() {
            "41".to_owned()
        } else {
            s.clr_type
        },
        clr_optins: s.clr_optins,
        cancel_time: None,
        cancel_day: None,
    });
}

/// `POST /admin/settlements`.
pub fn admin_inject(shared: &Shared, body: &Bytes) -> Response {
    match serde_json::from_slice::<Injected>(body) {
        Ok(s) => {
            inject(&mut shared.lock(), s);
            respond(StatusCode::OK, "application/json", r#"{"ok":true}"#)
        }
        Err(e) => respond(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=utf-8",
            format!("bad settlement: {e}"),
        ),
    }
}

/// Whether a POST on `path` is a file request: on a file path, or a 9101/3202/9102 envelope
/// on the protocol path (only such bodies are parsed twice).
pub fn is_file_request(path: &str, protocol_path: &str, body: &[u8]) -> bool {
    if path.ends_with(UPLOAD_PATH) || path.ends_with(DOWNLOAD_PATH) {
        return true;
    }
    path == protocol_path
        && FILE_INFNOS
            .iter()
            .any(|i| contains(body, format!("\"{i}\"").as_bytes()))
        && serde_json::from_slice::<Value>(body).is_ok_and(|v| {
            v.get("infno")
                .and_then(Value::as_str)
                .is_some_and(|i| FILE_INFNOS.contains(&i))
        })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Answers a file request.
pub fn endpoint(shared: &Shared, body: &Bytes) -> Response {
    let received = Utc::now();
    let envelope = |msgid: &str, r: Result<Value, String>| {
        respond(
            StatusCode::OK,
            "application/json; charset=utf-8",
            envelope::respond(msgid, received, r),
        )
    };
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return envelope("", Err("请求报文不是合法JSON body is not JSON".into()));
    };
    let msgid = envelope::msgid_of(&value);
    let mut state = shared.lock();
    let req = match checked(&mut state, shared, &value) {
        Ok(req) => req,
        Err(Refusal::Remembered(answer)) => {
            return respond(StatusCode::OK, "application/json; charset=utf-8", answer);
        }
        Err(Refusal::Message(m)) => return envelope(&msgid, Err(m)),
    };
    let mut files = shared.files();
    if req.infno == "9102" {
        return match download(&state, &files, &req) {
            Ok(zip) => respond(StatusCode::OK, "application/zip", zip),
            Err(m) => envelope(&msgid, Err(m)),
        };
    }
    let result = match req.infno.as_str() {
        "9101" => upload(&mut state, &mut files, &req),
        _ => reconcile(&mut state, &mut files, &req),
    };
    let answer = envelope::respond(&msgid, received, result);
    state.answers.insert(msgid, answer.clone());
    respond(StatusCode::OK, "application/json; charset=utf-8", answer)
}

enum Refusal {
    Remembered(String),
    Message(String),
}

/// The envelope checks every request passes (see `protocol.rs`): fields, msgid, a remembered
/// answer, signature, session.
fn checked(state: &mut State, shared: &Shared, body: &Value) -> Result<Req, Refusal> {
    let m = Refusal::Message;
    let (obj, msgid) =
        envelope::check_msgid(body, shared.config.fixmedins_code.as_deref()).map_err(m)?;
    let infno = field_text(obj, "infno").unwrap_or_default();
    state.count_request(&infno);
    if let Some(answer) = state.answers.get(&msgid) {
        return Err(Refusal::Remembered(answer.clone()));
    }
    if !FILE_INFNOS.contains(&infno.as_str()) {
        return Err(m(format!(
            "交易编号不存在 unknown infno {infno} on the file path"
        )));
    }
    let req = envelope::request(obj, msgid).map_err(m)?;
    let message = signing::signed_message(&req.infno, &req.msgid, &req.inf_time_text, &req.input);
    if !matches!(req.signtype.as_str(), "MOCK" | "SM3" | "SM2")
        || !signing::verify(
            &req.signtype,
            &message,
            req.cainfo.sig.as_deref(),
            shared.config.sm2_public_hex.as_deref(),
        )
    {
        return Err(m("签名验证失败 signature invalid".into()));
    }
    match state.sessions.get(&req.sign_no) {
        Some(s) if s.active && s.day == req.day => Ok(req),
        _ => Err(m(format!(
            "{SIGN_IN_INVALID}: sign_no unknown, signed out or of another day, sign in again (9001)"
        ))),
    }
}

fn upload(state: &mut State, files: &mut Files, req: &Req) -> Result<Value, String> {
    let n = node(req, "fsUploadIn")?;
    let filename = text(n, "filename")?;
    if filename.chars().count() > 200 {
        return Err("文件名过长 filename longer than 200 characters".into());
    }
    if text(n, "fixmedins_code")? != req.fixmedins_code {
        return Err("定点机构编码不符 fsUploadIn.fixmedins_code is not the envelope's".into());
    }
    let raw = n.get("in").ok_or("入参缺少字段 in missing")?;
    let encoding = if raw.is_string() { "base64" } else { "bytes" };
    let zip = decode_bytes(raw)
        .ok_or("文件内容格式错误 in is neither base64 text nor an array of byte values")?;
    let lines = file::detail_from_zip(&zip).map_err(|e| format!("明细文件格式错误 {e}"))?;
    let no = state.next_id("F", req.inf_time, 30);
    let dld_endtime = time::format_inf_time(state.now() + Duration::minutes(RESULT_TTL_MINUTES));
    files.order.push(no.clone());
    files.uploads.insert(
        no.clone(),
        Upload {
            fixmedins_code: req.fixmedins_code.clone(),
            filename: filename.clone(),
            encoding,
            lines,
        },
    );
    Ok(json!({
        "file_qury_no": no,
        "filename": filename,
        "fixmedins_code": req.fixmedins_code,
        "dld_endtime": dld_endtime,
    }))
}

fn reconcile(state: &mut State, files: &mut Files, req: &Req) -> Result<Value, String> {
    let data = node(req, "data")?;
    let setl_optins = text(data, "setl_optins")?;
    let file_qury_no = text(data, "file_qury_no")?;
    let date = |key: &str| {
        let t = text(data, key)?;
        NaiveDate::parse_from_str(&t, "%Y-%m-%d").map_err(|_| format!("日期格式错误 {key} {t}"))
    };
    let (begin, end) = (date("stmt_begndate")?, date("stmt_enddate")?);
    let medfee = amount(data, "medfee_sumamt")?;
    let fund = amount(data, "fund_pay_sumamt")?;
    amount(data, "cash_payamt")?;
    let cnt: usize = text(data, "fixmedins_setl_cnt")?
        .parse()
        .map_err(|_| "结算笔数格式错误 fixmedins_setl_cnt".to_owned())?;
    let clr_type = field_text(data, "clr_type").unwrap_or_default();
    let upload = files
        .uploads
        .get(&file_qury_no)
        .filter(|u| u.fixmedins_code == req.fixmedins_code)
        .ok_or_else(|| format!("文件查询号不存在 file_qury_no {file_qury_no} unknown"))?
        .clone();
    let sum = |pick: fn(&DetailLine) -> Fen| Fen(upload.lines.iter().map(|l| pick(l).0).sum());
    if (
        sum(|l| l.medfee_sumamt),
        sum(|l| l.fund_pay_sumamt),
        upload.lines.len(),
    ) != (medfee, fund, cnt)
    {
        return Err(format!(
            "汇总数据与明细文件不符 totals differ from the file: medfee_sumamt {} fund_pay_sumamt {} lines {}",
            sum(|l| l.medfee_sumamt),
            sum(|l| l.fund_pay_sumamt),
            upload.lines.len()
        ));
    }
    let platform = ledger_lines(
        state,
        &req.fixmedins_code,
        begin,
        end,
        &setl_optins,
        &clr_type,
    );
    let result = compare(&upload.lines, &platform);
    let no = state.next_id("R", req.inf_time, 30);
    let filename = format!("{no}.zip");
    let zip = zip::write_single(
        &file::inner_name(&filename),
        file::write_result(&result).as_bytes(),
    );
    let expires = state.now() + Duration::minutes(RESULT_TTL_MINUTES);
    files.results.insert(
        no.clone(),
        ResultFile {
            fixmedins_code: req.fixmedins_code.clone(),
            filename: filename.clone(),
            zip,
            expires,
        },
    );
    Ok(json!({"fileinfo": {
        "file_qury_no": no,
        "filename": filename,
        "dld_endtime": time::format_inf_time(expires),
    }}))
}

/// A settlement line as the platform counts it: the settlement, and for a cancelled one its
/// cancellation (same `setl_id`, as the sandbox's 2103/2208 answer gives it; counted on the
/// settlement's day, the only day the ledger records).
struct Counted<'a> {
    record: &'a SettlementRecord,
    refund: bool,
}

fn ledger_lines<'a>(
    state: &'a State,
    fixmedins_code: &str,
    begin: NaiveDate,
    end: NaiveDate,
    setl_optins: &str,
    clr_type: &str,
) -> Vec<Counted<'a>> {
    let within = |day: &str| {
        NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok_and(|d| begin <= d && d <= end)
    };
    let mut out = Vec::new();
    for s in state.settlements.iter().filter(|s| {
        s.fixmedins_code == fixmedins_code
            && s.clr_optins == setl_optins
            && (clr_type.is_empty() || s.clr_type == clr_type)
    }) {
        if s.status == SettlementStatus::Reversed {
            continue;
        }
        // A settlement counts on its own day, its cancellation on the cancellation's (as 3201).
        if within(&s.day) {
            out.push(Counted {
                record: s,
                refund: false,
            });
        }
        if s.status == SettlementStatus::Cancelled
            && within(s.cancel_day.as_deref().unwrap_or(&s.day))
        {
            out.push(Counted {
                record: s,
                refund: true,
            });
        }
    }
    out
}

/// One result line per line of either side: the file's in order, then the platform's others.
fn compare(sent: &[DetailLine], platform: &[Counted<'_>]) -> Vec<ResultLine> {
    let mut used = vec![false; platform.len()];
    // The platform's lines by (setl_id, refund), in order: a day of a large hospital is
    // 100,000 lines, and scanning them for each line of the file would be quadratic.
    let mut by_key: HashMap<(&str, bool), VecDeque<usize>> = HashMap::new();
    for (i, c) in platform.iter().enumerate() {
        by_key
            .entry((c.record.setl_id.as_str(), c.refund))
            .or_default()
            .push_back(i);
    }
    let mut out = Vec::with_capacity(sent.len() + platform.len());
    for l in sent {
        let found = by_key
            .get_mut(&(l.setl_id.as_str(), l.refund))
            .and_then(|q| q.pop_front());
        match found {
            Some(i) => {
                used[i] = true;
                let line = result_line(&platform[i], "0", "对账一致 consistent");
                let norm = |f: Fen| f.0.abs();
                let same = [
                    (line.medfee_sumamt, l.medfee_sumamt),
                    (line.fund_pay_sumamt, l.fund_pay_sumamt),
                    (line.acct_pay, l.acct_pay),
                ]
                .iter()
                .all(|(p, s)| p.is_some_and(|p| norm(p) == norm(*s)));
                out.push(if same {
                    line
                } else {
                    ResultLine {
                        stmt_rslt: "1".into(),
                        memo: "金额不符 amounts differ".into(),
                        ..line
                    }
                });
            }
            None => out.push(ResultLine {
                psn_no: l.psn_no.clone(),
                mdtrt_id: l.mdtrt_id.clone(),
                setl_id: l.setl_id.clone(),
                msgid: String::new(),
                stmt_rslt: "2".into(),
                refund: l.refund,
                memo: "平台无此结算 not on the platform".into(),
                medfee_sumamt: None,
                fund_pay_sumamt: None,
                acct_pay: None,
            }),
        }
    }
    for (c, _) in platform.iter().zip(&used).filter(|(_, u)| !**u) {
        out.push(result_line(
            c,
            "3",
            "医药机构未上传此结算 not in the institution's file",
        ));
    }
    out
}

fn result_line(c: &Counted<'_>, stmt_rslt: &str, memo: &str) -> ResultLine {
    let s = c.record;
    let sign = if c.refund { -1 } else { 1 };
    let msgid = if c.refund {
        s.cancel_msgid.clone().unwrap_or_default()
    } else {
        s.msgid.clone()
    };
    ResultLine {
        psn_no: s.psn_no.as_str().into(),
        mdtrt_id: s.mdtrt_id.clone(),
        setl_id: s.setl_id.clone(),
        msgid,
        stmt_rslt: stmt_rslt.into(),
        refund: c.refund,
        memo: memo.into(),
        medfee_sumamt: Some(Fen(sign * s.medfee_sumamt.0)),
        fund_pay_sumamt: Some(Fen(sign * s.fund_pay_sumamt.0)),
        acct_pay: Some(Fen(sign * s.acct_pay.0)),
    }
}

fn download(state: &State, files: &Files, req: &Req) -> Result<Vec<u8>, String> {
    let n = node(req, "fsDownloadIn")?;
    let no = text(n, "file_qury_no")?;
    let file = files
        .results
        .get(&no)
        .filter(|f| f.fixmedins_code == req.fixmedins_code)
        .ok_or_else(|| format!("文件查询号不存在 file_qury_no {no} unknown"))?;
    let name = field_text(n, "filename").unwrap_or_default();
    if !name.is_empty() && name != file.filename {
        return Err(format!(
            "文件名不符 filename {name} is not {}",
            file.filename
        ));
    }
    if state.now() > file.expires {
        return Err(format!(
            "文件已过下载截止时间 the file expired at {}",
            time::format_inf_time(file.expires)
        ));
    }
    Ok(file.zip.clone())
}

impl Shared {
    /// The file store (lock order: `state` first).
    pub(crate) fn files(&self) -> std::sync::MutexGuard<'_, Files> {
        self.files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

//! The two text files of 3202 (upstream.md "3202 — detail reconciliation through a file"),
//! UTF-8, one record per line, fields separated by TAB:
//!
//! - the detail file the terminal uploads (9101): `setl_id, mdtrt_id, psn_no, medfee_sumamt,
//!   fund_pay_sumamt, acct_pay, refd_setl_flag` ([`DetailLine`]);
//! - the result file the platform returns (9102): `psn_no, mdtrt_id, setl_id, msgid,
//!   stmt_rslt, refd_setl_flag, memo, medfee_sumamt, fund_pay_sumamt, acct_pay`
//!   ([`ResultLine`]).
//!
//! Reading is tolerant of how files travel between systems (a UTF-8 BOM, CRLF, a trailing
//! newline, blank lines, spaces around fields, extra trailing columns a newer version may add,
//! an empty amount in a result line) and strict about content: a line with too few fields, a
//! malformed amount or flag is an error naming the line ([`FileError`]). Writing is canonical:
//! LF after every line, amounts with two decimals. Both files name patients (`psn_no`): the
//! types mask it in `Debug`, and nothing here logs.

use medsettle_base::pii::PsnNo;
use serde::Serialize;

use super::zip::{self, ZipError};
use crate::money::Fen;

/// A malformed file, by line (1-based, as an editor counts them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("{file} line {line}: {why}")]
    Line {
        file: &'static str,
        line: usize,
        why: String,
    },
    #[error("{file} is not UTF-8 text")]
    NotUtf8 { file: &'static str },
    #[error(transparent)]
    Zip(#[from] ZipError),
}

/// One line of the detail file: one settlement, or one cancellation (`refund`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetailLine {
    pub setl_id: String,
    pub mdtrt_id: String,
    pub psn_no: PsnNo,
    pub medfee_sumamt: Fen,
    pub fund_pay_sumamt: Fen,
    pub acct_pay: Fen,
    /// `refd_setl_flag`: `false` settlement (`0`), `true` refund/cancellation (`1`).
    pub refund: bool,
}

/// One line of the platform's result file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultLine {
    pub psn_no: PsnNo,
    pub mdtrt_id: String,
    pub setl_id: String,
    /// The settling (or cancelling) request's msgid; may be empty.
    pub msgid: String,
    /// The platform's verdict on the line; `0` = consistent.
    pub stmt_rslt: String,
    pub refund: bool,
    pub memo: String,
    /// `None` when the platform left the amount empty (it has no such settlement).
    pub medfee_sumamt: Option<Fen>,
    pub fund_pay_sumamt: Option<Fen>,
    pub acct_pay: Option<Fen>,
}

impl ResultLine {
    /// `stmt_rslt` `0`: the platform found the line consistent.
    pub fn consistent(&self) -> bool {
        self.stmt_rslt.trim() == "0"
    }
}

const DETAIL: &str = "detail file";
const RESULT: &str = "result file";

fn flag(refund: bool) -> &'static str {
    if refund { "1" } else { "0" }
}

/// The detail file's text: one line per record, LF after each.
pub fn write_detail(lines: &[DetailLine]) -> String {
    let mut out = String::new();
    for l in lines {
        let fields = [
            l.setl_id.as_str(),
            l.mdtrt_id.as_str(),
            l.psn_no.expose(),
            &l.medfee_sumamt.to_string(),
            &l.fund_pay_sumamt.to_string(),
            &l.acct_pay.to_string(),
            flag(l.refund),
        ];
        push_line(&mut out, &fields);
    }
    out
}

/// The result file's text (the sandbox writes it; also for tests).
pub fn write_result(lines: &[ResultLine]) -> String {
    let amount = |a: Option<Fen>| a.map(|f| f.to_string()).unwrap_or_default();
    let mut out = String::new();
    for l in lines {
        let fields = [
            l.psn_no.expose(),
            l.mdtrt_id.as_str(),
            l.setl_id.as_str(),
            l.msgid.as_str(),
            l.stmt_rslt.as_str(),
            flag(l.refund),
            l.memo.as_str(),
            &amount(l.medfee_sumamt),
            &amount(l.fund_pay_sumamt),
            &amount(l.acct_pay),
        ];
        push_line(&mut out, &fields);
    }
    out
}

/// A field never carries the separators: a TAB or a line break inside one would shift every
/// column after it, so they become spaces.
fn push_line(out: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        out.extend(f.chars().map(|c| {
            if matches!(c, '\t' | '\r' | '\n') {
                ' '
            } else {
                c
            }
        }));
    }
    out.push('\n');
}

/// Reads a detail file (the sandbox reads the uploads). Exactly 7 fields per line.
pub fn parse_detail(bytes: &[u8]) -> Result<Vec<DetailLine>, FileError> {
    records(bytes, DETAIL)?
        .into_iter()
        .map(|(n, f)| {
            let err = |why: String| FileError::Line {
                file: DETAIL,
                line: n,
                why,
            };
            if f.len() != 7 {
                return Err(err(format!("{} fields, expected 7", f.len())));
            }
            if f[0].is_empty() {
                return Err(err("setl_id is empty".into()));
            }
            Ok(DetailLine {
                setl_id: f[0].to_owned(),
                mdtrt_id: f[1].to_owned(),
                psn_no: PsnNo::new(f[2]),
                medfee_sumamt: required(f[3], "medfee_sumamt").map_err(err)?,
                fund_pay_sumamt: required(f[4], "fund_pay_sumamt").map_err(err)?,
                acct_pay: required(f[5], "acct_pay").map_err(err)?,
                refund: refund_flag(f[6]).map_err(err)?,
            })
        })
        .collect()
}

/// Reads a result file: at least 10 fields per line (more are ignored), empty amounts allowed.
pub fn parse_result(bytes: &[u8]) -> Result<Vec<ResultLine>, FileError> {
    records(bytes, RESULT)?
        .into_iter()
        .map(|(n, f)| {
            let err = |why: String| FileError::Line {
                file: RESULT,
                line: n,
                why,
            };
            if f.len() < 10 {
                return Err(err(format!("{} fields, expected 10", f.len())));
            }
            if f[2].is_empty() && f[3].is_empty() {
                return Err(err("neither setl_id nor msgid".into()));
            }
            Ok(ResultLine {
                psn_no: PsnNo::new(f[0]),
                mdtrt_id: f[1].to_owned(),
                setl_id: f[2].to_owned(),
                msgid: f[3].to_owned(),
                stmt_rslt: f[4].to_owned(),
                refund: refund_flag(f[5]).map_err(err)?,
                memo: f[6].to_owned(),
                medfee_sumamt: optional(f[7], "medfee_sumamt").map_err(err)?,
                fund_pay_sumamt: optional(f[8], "fund_pay_sumamt").map_err(err)?,
                acct_pay: optional(f[9], "acct_pay").map_err(err)?,
            })
        })
        .collect()
}

/// The detail file zipped as `name` (the text file inside carries the same name with `.txt`).
pub fn detail_zip(zip_name: &str, lines: &[DetailLine]) -> Vec<u8> {
    zip::write_single(&inner_name(zip_name), write_detail(lines).as_bytes())
}

/// The result lines of a 9102 ZIP (its one text file).
pub fn result_from_zip(archive: &[u8]) -> Result<Vec<ResultLine>, FileError> {
    parse_result(&zip::read_single(archive)?.data)
}

/// The detail lines of an uploaded ZIP (its one text file).
pub fn detail_from_zip(archive: &[u8]) -> Result<Vec<DetailLine>, FileError> {
    parse_detail(&zip::read_single(archive)?.data)
}

/// `x.zip` → `x.txt`.
pub fn inner_name(zip_name: &str) -> String {
    let stem = zip_name
        .strip_suffix(".zip")
        .or_else(|| zip_name.strip_suffix(".ZIP"))
        .unwrap_or(zip_name);
    format!("{stem}.txt")
}

/// Non-blank lines split into trimmed fields, with their 1-based line numbers.
fn records<'a>(
    bytes: &'a [u8],
    file: &'static str,
) -> Result<Vec<(usize, Vec<&'a str>)>, FileError> {
    let text = std::str::from_utf8(bytes).map_err(|_| FileError::NotUtf8 { file })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Ok(text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| (n, l.split('\t').map(str::trim).collect()))
        .collect())
}

fn required(text: &str, name: &str) -> Result<Fen, String> {
    Fen::parse_yuan(text).map_err(|_| format!("{name} {text:?} is not an amount"))
}

fn optional(text: &str, name: &str) -> Result<Option<Fen>, String> {
    if text.is_empty() {
        Ok(None)
    } else {
        required(text, name).map(Some)
    }
}

fn refund_flag(text: &str) -> Result<bool, String> {
    match text {
        "0" => Ok(false),
        "1" => Ok(true),
        other => Err(format!("refd_setl_flag {other:?} is not 0 or 1")),
    }
}

//! 3202 对明细账 detail reconciliation and its file transfers, 9101 文件上传 and 9102 文件下载
//! (upstream.md "3202 — detail reconciliation through a file"): the typed inputs and answers.
//! The detail file itself (its TAB lines and the ZIP around them) is [`file`]; the ZIP
//! container is [`zip`].
//!
//! 9101 carries the ZIP in `fsUploadIn.in`. Public clients disagree on how (one sends base64
//! text, another a JSON array of byte values; upstream.md "Uncertain"), so the encoding is a
//! parameter ([`InEncoding`]), chosen by the deployment. 9102 answers with "the file itself",
//! not an envelope; gateways seen in public code also wrap it in an envelope as base64 text or a
//! byte array. [`download_answer`] accepts each of these shapes and nothing else.
//!
//! Parsing is tolerant as everywhere in this crate: unknown fields are ignored, text fields may
//! be numbers or null, an output may put its fields at the top or under one node.

pub mod file;
pub mod zip;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::envelope::{Response, classify, lenient_text};
use crate::error::UpstreamError;
use crate::money::Fen;

pub const FILE_UPLOAD: &str = "9101";
pub const FILE_DOWNLOAD: &str = "9102";
pub const DETAIL_RECONCILE: &str = "3202";

/// How the ZIP travels in 9101 `fsUploadIn.in`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InEncoding {
    /// Standard base64 text (with padding).
    #[default]
    Base64,
    /// A JSON array of byte values `[80, 75, 3, 4, …]`.
    Bytes,
}

impl InEncoding {
    /// The `in` value of `bytes` in this encoding.
    pub fn encode(self, bytes: &[u8]) -> Value {
        match self {
            InEncoding::Base64 => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            InEncoding::Bytes => Value::Array(bytes.iter().map(|b| Value::from(*b)).collect()),
        }
    }
}

/// The bytes of an `in`/file value in either encoding: base64 text or an array of byte values.
/// `None` for anything else (a number above 255 in the array included).
pub fn decode_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => {
            let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .ok()
        }
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect(),
        _ => None,
    }
}

/// 9101 input: `{"fsUploadIn": {"in", "filename", "fixmedins_code"}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UploadInput {
    #[serde(rename = "fsUploadIn")]
    pub fs_upload_in: FsUploadIn,
}

#[derive(Clone, PartialEq, Serialize)]
pub struct FsUploadIn {
    /// The file in the configured [`InEncoding`].
    #[serde(rename = "in")]
    pub content: Value,
    /// c200.
    pub filename: String,
    pub fixmedins_code: String,
}

/// The file content is not shown (it names patients); its size is.
impl std::fmt::Debug for FsUploadIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsUploadIn")
            .field("filename", &self.filename)
            .field("fixmedins_code", &self.fixmedins_code)
            .finish_non_exhaustive()
    }
}

impl UploadInput {
    /// The upload of `zip` as `filename`. A file name longer than the contract's 200 characters
    /// is refused before anything is sent.
    pub fn new(
        zip: &[u8],
        filename: &str,
        fixmedins_code: &str,
        encoding: InEncoding,
    ) -> Result<UploadInput, UpstreamError> {
        if filename.trim().is_empty() || filename.chars().count() > 200 {
            return Err(UpstreamError::NotSent {
                detail: "9101 filename must be 1-200 characters".into(),
            });
        }
        Ok(UploadInput {
            fs_upload_in: FsUploadIn {
                content: encoding.encode(zip),
                filename: filename.to_owned(),
                fixmedins_code: fixmedins_code.to_owned(),
            },
        })
    }
}

/// Where a file lies on the platform: 9101's answer and 3202's `fileinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct FileInfo {
    #[serde(deserialize_with = "lenient_text")]
    pub file_qury_no: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub filename: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub fixmedins_code: Option<String>,
    /// 下载截止时间: the file can be fetched until then (as the platform wrote it).
    #[serde(deserialize_with = "lenient_text")]
    pub dld_endtime: Option<String>,
}

impl FileInfo {
    /// The file's number, or a protocol error naming `what` when the answer has none.
    pub fn file_qury_no(&self, what: &str) -> Result<&str, UpstreamError> {
        self.file_qury_no
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| UpstreamError::Protocol {
                detail: format!("{what} answer without file_qury_no"),
            })
    }

    /// A file info from an output: its fields at the top (9101 as transcribed), or under
    /// `node` (`fileinfo` for 3202), or under any one object node holding `file_qury_no`.
    pub fn from_output(output: &Value, node: &str, what: &str) -> Result<FileInfo, UpstreamError> {
        let holder = if output.get("file_qury_no").is_some() {
            Some(output)
        } else if let Some(n) = output.get(node).filter(|n| n.is_object()) {
            Some(n)
        } else {
            output
                .as_object()
                .and_then(|o| o.values().find(|v| v.get("file_qury_no").is_some()))
        };
        let holder = holder.ok_or_else(|| UpstreamError::Protocol {
            detail: format!("{what} answer without file_qury_no"),
        })?;
        let info: FileInfo = serde_path_to_error::deserialize(holder)
            .map_err(|e| UpstreamError::protocol(&format!("output.{}", e.path()), e.inner()))?;
        info.file_qury_no(what)?;
        Ok(info)
    }
}

/// 3202 input: `{"data": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetailReconcileInput {
    pub data: DetailStatement,
}

/// 3202 `data`: the group (`setl_optins`, `clr_type`), the period and the file's totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetailStatement {
    pub setl_optins: String,
    pub file_qury_no: String,
    /// `yyyy-MM-dd` (CST).
    pub stmt_begndate: String,
    pub stmt_enddate: String,
    /// Sum of the file's `medfee_sumamt`.
    pub medfee_sumamt: Fen,
    /// Sum of the file's `fund_pay_sumamt`.
    pub fund_pay_sumamt: Fen,
    /// Sum of `psn_cash_pay` of the file's settlements.
    pub cash_payamt: Fen,
    /// The file's lines.
    pub fixmedins_setl_cnt: u32,
    /// Newer transcriptions; sent as given.
    pub clr_type: String,
    /// Newer transcriptions: `1`/empty = refunds included (the file has cancellation lines).
    pub refd_setl_flag: String,
}

/// 3202 output, as [`FileInfo`] (node `fileinfo`).
pub fn detail_reconcile_answer(output: &Value) -> Result<FileInfo, UpstreamError> {
    FileInfo::from_output(output, "fileinfo", "3202")
}

/// 9101 output, as [`FileInfo`].
pub fn upload_answer(output: &Value) -> Result<FileInfo, UpstreamError> {
    FileInfo::from_output(output, "fsUploadOut", "9101")
}

/// 9102 input: `{"fsDownloadIn": {"file_qury_no", "filename", "fixmedins_code"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DownloadInput {
    #[serde(rename = "fsDownloadIn")]
    pub fs_download_in: FsDownloadIn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsDownloadIn {
    pub file_qury_no: String,
    pub filename: String,
    pub fixmedins_code: String,
}

impl DownloadInput {
    pub fn of(info: &FileInfo, fixmedins_code: &str) -> Result<DownloadInput, UpstreamError> {
        Ok(DownloadInput {
            fs_download_in: FsDownloadIn {
                file_qury_no: info.file_qury_no("3202")?.to_owned(),
                filename: info.filename.clone().unwrap_or_default(),
                fixmedins_code: fixmedins_code.to_owned(),
            },
        })
    }
}

/// What a file-transfer request got back: an envelope, or a body that is not one.
#[derive(Debug, Clone, PartialEq)]
pub enum FileAnswer {
    /// A JSON envelope with `infcode=0` (refusals are errors before this).
    Envelope(Response),
    /// A body that is not JSON (9102's file itself).
    Bytes(Vec<u8>),
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// An empty archive: only the end-of-central-directory record.
const ZIP_EMPTY: &[u8] = b"PK\x05\x06";

/// Sorts an HTTP answer of a file request: a body starting like a ZIP is the file; anything
/// else is classified as an envelope (so a refusal stays a business error and garbage leaves
/// the outcome unknown, as for every request).
pub fn classify_file(http_status: u16, body: &[u8]) -> Result<FileAnswer, UpstreamError> {
    if (200..300).contains(&http_status)
        && (body.starts_with(ZIP_MAGIC) || body.starts_with(ZIP_EMPTY))
    {
        return Ok(FileAnswer::Bytes(body.to_vec()));
    }
    classify(http_status, body).map(FileAnswer::Envelope)
}

/// The ZIP 9102 returned, whatever the shape: the raw body; an envelope whose `output` is base64
/// text or a byte array; or whose `output` holds such a value (under any key, at most two levels
/// down) that decodes to a ZIP. Anything else is a protocol error.
pub fn download_answer(answer: &FileAnswer) -> Result<Vec<u8>, UpstreamError> {
    let bytes = match answer {
        FileAnswer::Bytes(b) => Some(b.clone()),
        FileAnswer::Envelope(r) => find_zip(&r.output, 0),
    };
    bytes
        .filter(|b| b.starts_with(ZIP_MAGIC) || b.starts_with(ZIP_EMPTY))
        .ok_or_else(|| UpstreamError::Protocol {
            detail: "9102 answer holds no ZIP file (raw body, base64 or byte array)".into(),
        })
}

fn find_zip(v: &Value, depth: usize) -> Option<Vec<u8>> {
    if let Some(b) =
        decode_bytes(v).filter(|b| b.starts_with(ZIP_MAGIC) || b.starts_with(ZIP_EMPTY))
    {
        return Some(b);
    }
    match v {
        Value::Object(o) if depth < 2 => o.values().find_map(|x| find_zip(x, depth + 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;

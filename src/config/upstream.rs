//! `[upstream]`: how this terminal reaches the medical-insurance platform. Every
//! deployment-specific value of upstream.md (path, receiver code, interface version, signature
//! type, gateway headers, TLS material) is here, not in code. The section is optional: without
//! it the terminal has no platform (card sales may still be stored, per the offline rules).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::SecretRef;

pub use medsettle_nhsa::signing::SignType;
pub use medsettle_nhsa::tx::statement::InEncoding;

/// The optional gateway signature headers (`x-tif-*`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TifConfig {
    /// `x-tif-paasid`.
    pub paasid: String,
    /// The paas token the signature is computed with (a secret).
    pub token: SecretRef,
}

/// `[upstream]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Scheme, host and port of the platform, e.g. `https://ybj.example.gov.cn:8443`.
    pub base_url: String,
    /// The service path (some provinces use another one).
    #[serde(default = "default_path")]
    pub path: String,
    /// The e-voucher decoding endpoint (`ec.query`), full URL. Default: none (e-vouchers refused).
    #[serde(default)]
    pub ec_url: Option<String>,
    /// `recer_sys_code`.
    #[serde(default = "default_recer")]
    pub recer_sys_code: String,
    /// `infver`.
    #[serde(default = "default_infver")]
    pub infver: String,
    /// `signtype`: `SM3`, `SM2` or `MOCK`.
    #[serde(default = "default_signtype")]
    pub signtype: SignType,
    /// How the patient's consent (密码) reaches the platform for 2102/2207/2304: the provincial
    /// practice (upstream.md "Patient consent"). Only `"none"` (the default) in this build:
    /// `cainfo` carries no password material, the PIN is verified by the card on this
    /// terminal. The practice one public client follows (the password RSA-encrypted with the
    /// platform's public key in `cainfo`) needs an RSA encryption library this build does not
    /// link; any other value is refused.
    #[serde(default = "default_consent")]
    pub consent: String,
    /// `opter` for staff-driven sales (a kiosk uses its terminal id).
    #[serde(default)]
    pub opter: String,
    /// `opter_name`.
    #[serde(default)]
    pub opter_name: String,
    /// Connect timeout, milliseconds.
    #[serde(default = "default_connect")]
    pub connect_timeout_ms: u64,
    /// Longest silence while reading an answer, milliseconds.
    #[serde(default = "default_read")]
    pub read_timeout_ms: u64,
    /// Total time for one request, milliseconds.
    #[serde(default = "default_total")]
    pub timeout_ms: u64,
    /// Idle pooled connections are closed after this, milliseconds (below 60000: gateways
    /// drop idle connections at 60 s and a reused dead one turns a sale's outcome unknown).
    #[serde(default = "default_idle")]
    pub pool_idle_timeout_ms: u64,
    /// Extra CA certificates (PEM) to trust. Default: the system's.
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS, with its key.
    #[serde(default)]
    pub client_cert: Option<SecretRef>,
    /// The client certificate's private key (PEM).
    #[serde(default)]
    pub client_key: Option<SecretRef>,
    /// The terminal's SM2 secret key (64 hex digits), required when `signtype = "SM2"`.
    #[serde(default)]
    pub sign_key: Option<SecretRef>,
    /// An `err_msg` starting with this means the platform no longer accepts the sign_no: the
    /// terminal signs in again (9001) and repeats the request once under a new msgid.
    #[serde(default = "default_signin_rejected")]
    pub signin_rejected_prefix: String,
    /// Gateway signature headers. Default: none.
    #[serde(default)]
    pub tif: Option<TifConfig>,
    /// Allow `http://` (sandbox, lab). Default false: production is TLS only.
    #[serde(default)]
    pub allow_plain_http: bool,
    /// How 9101 carries the 3202 detail ZIP in `fsUploadIn.in`: `base64` (default) or `bytes`
    /// (a JSON array of byte values). Public clients do both (upstream.md "Uncertain").
    #[serde(default)]
    pub file_in_encoding: InEncoding,
    /// A path per infno where it differs from `path`, e.g. the file transfers
    /// `{ "9101" = "/fsi/api/fileupload/upload", "9102" = "/fsi/api/fileupload/download" }`.
    /// Default: none (every request on `path`).
    #[serde(default)]
    pub paths: BTreeMap<String, String>,
}

impl UpstreamConfig {
    /// `base_url` + the path of `infno` (its own from `paths`, else `path`).
    pub fn url_for(&self, infno: &str) -> String {
        let path = self.paths.get(infno).unwrap_or(&self.path);
        format!("{}{path}", self.base_url.trim_end_matches('/'))
    }
}

fn default_path() -> String {
    "/fsi/api/rsfComIfsService/callService".to_owned()
}
fn default_recer() -> String {
    "YBXT".to_owned()
}
fn default_infver() -> String {
    "V1.0".to_owned()
}
fn default_signtype() -> SignType {
    SignType::Sm3
}
fn default_consent() -> String {
    "none".to_owned()
}
fn default_connect() -> u64 {
    5_000
}
fn default_read() -> u64 {
    15_000
}
fn default_signin_rejected() -> String {
    "签到信息无效".to_owned()
}
fn default_total() -> u64 {
    30_000
}
fn default_idle() -> u64 {
    50_000
}

impl UpstreamConfig {
    /// Semantic checks; each finding is (key, message).
    pub(super) fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |k: &str, m: String| out.push((format!("upstream.{k}"), m));
        match self.base_url.split_once("://") {
            Some(("https", rest)) if !rest.is_empty() => {}
            Some(("http", rest)) if !rest.is_empty() => {
                if !self.allow_plain_http {
                    bad(
                        "base_url",
                        "is plain http; use https, or set allow_plain_http = true for a sandbox"
                            .into(),
                    );
                }
            }
            _ => bad("base_url", "must be an https:// URL with a host".into()),
        }
        if self.consent != "none" {
            bad(
                "consent",
                format!(
                    "unknown consent practice {:?}: this build supports only \"none\" (no \
                     password in cainfo; the PIN is verified by the card). The RSA practice of \
                     upstream.md \"Patient consent\" is not implemented",
                    self.consent
                ),
            );
        }
        if !self.path.starts_with('/') {
            bad("path", "must start with '/'".into());
        }
        if self.recer_sys_code.is_empty() || self.recer_sys_code.len() > 10 {
            bad("recer_sys_code", "must be 1-10 characters".into());
        }
        if self.infver.is_empty() || self.infver.len() > 6 {
            bad("infver", "must be 1-6 characters".into());
        }
        if self.opter.len() > 30 {
            bad("opter", "must be at most 30 characters".into());
        }
        if self.opter_name.chars().count() > 50 {
            bad("opter_name", "must be at most 50 characters".into());
        }
        if !(100..=60_000).contains(&self.connect_timeout_ms) {
            bad("connect_timeout_ms", "must be between 100 and 60000".into());
        }
        if !(1_000..=300_000).contains(&self.timeout_ms)
            || self.timeout_ms < self.connect_timeout_ms
        {
            bad(
                "timeout_ms",
                "must be between 1000 and 300000 and at least connect_timeout_ms".into(),
            );
        }
        if !(100..=300_000).contains(&self.read_timeout_ms)
            || self.read_timeout_ms > self.timeout_ms
        {
            bad(
                "read_timeout_ms",
                "must be between 100 and 300000 and at most timeout_ms".into(),
            );
        }
        if (self.signtype == SignType::Sm2) != self.sign_key.is_some() {
            bad(
                "sign_key",
                "is required with signtype = \"SM2\" and used only with it".into(),
            );
        }
        if self.signin_rejected_prefix.trim().is_empty() {
            bad("signin_rejected_prefix", "must not be empty".into());
        }
        if !(1_000..60_000).contains(&self.pool_idle_timeout_ms) {
            bad(
                "pool_idle_timeout_ms",
                "must be at least 1000 and below 60000 (gateways drop idle connections at 60 s)"
                    .into(),
            );
        }
        if self.client_cert.is_some() != self.client_key.is_some() {
            bad(
                "client_key",
                "client_cert and client_key go together".into(),
            );
        }
        if let Some(u) = &self.ec_url {
            if !(u.starts_with("https://") || (self.allow_plain_http && u.starts_with("http://"))) {
                bad("ec_url", "must be an https:// URL".into());
            }
        }
        if self.tif.as_ref().is_some_and(|t| t.paasid.is_empty()) {
            bad("tif", "paasid must not be empty".into());
        }
        for (infno, path) in &self.paths {
            let infno_ok =
                (4..=5).contains(&infno.len()) && infno.bytes().all(|b| b.is_ascii_alphanumeric());
            if !infno_ok {
                bad(
                    "paths",
                    format!("{infno:?} is not an infno (4-5 letters or digits)"),
                );
            }
            if !path.starts_with('/') {
                bad("paths", format!("the path of {infno} must start with '/'"));
            }
        }
        out
    }
}

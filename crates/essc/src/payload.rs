//! The wire form of a signed e-SSC code: `ESSC1.<payload>.<signature>` (qr.md).
//!
//! Splitting, base64url (no padding) and the JSON claims, in both directions, so the verifier
//! and the [`super::Issuer`] cannot disagree. Unknown JSON fields are tolerated (an issuer may
//! add fields; the signature covers them and they are ignored); duplicate fields are refused,
//! because two readers could see two different values. Checks on values live in `verify.rs`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::ESSC_PREFIX;
use crate::EsscError;

/// Longest accepted code text; a real one is about 400 characters.
pub const MAX_CODE_LEN: usize = 1024;

/// The JSON claims of a code, field names as on the wire.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Profile version, 1.
    pub v: i64,
    /// Issuer key id.
    pub kid: String,
    /// 社会保障号码 (18 characters, GB 11643).
    pub sn: String,
    /// 姓名.
    pub nm: String,
    /// 卡号.
    pub cn: String,
    /// 参保地, 6 digits.
    pub ad: String,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expires at, unix seconds.
    pub exp: i64,
    /// 32 hex digits, unique per code.
    pub nonce: String,
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims")
            .field("v", &self.v)
            .field("kid", &self.kid)
            .field("sn", &medsettle_base::pii::mask_id(&self.sn))
            .field("nm", &medsettle_base::pii::mask_name(&self.nm))
            .field("ad", &self.ad)
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

/// A code split into the signed text, the decoded payload and the raw signature.
pub struct Parts<'a> {
    /// `ESSC1.<payload>`: the bytes the signature covers.
    pub signed: &'a str,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Splits and base64-decodes a code.
pub fn split(text: &str) -> Result<Parts<'_>, EsscError> {
    if text.len() > MAX_CODE_LEN {
        return Err(EsscError::Format);
    }
    let rest = text.strip_prefix(ESSC_PREFIX).ok_or(EsscError::Format)?;
    let (payload_b64, sig_b64) = rest.split_once('.').ok_or(EsscError::Format)?;
    if payload_b64.is_empty() || sig_b64.is_empty() || sig_b64.contains('.') {
        return Err(EsscError::Format);
    }
    let signed = &text[..ESSC_PREFIX.len() + payload_b64.len()];
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| EsscError::Base64("payload"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| EsscError::Base64("signature"))?;
    Ok(Parts {
        signed,
        payload,
        signature,
    })
}

/// Parses the payload JSON. The error keeps serde's category and column only: serde's own
/// message may quote a value, and values here are personal data.
pub fn parse_claims(payload: &[u8]) -> Result<Claims, EsscError> {
    serde_json::from_slice(payload).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "syntax",
            serde_json::error::Category::Data => "missing, duplicate or mistyped field",
            serde_json::error::Category::Io => "io",
        };
        EsscError::Json(format!("{what} at column {}", e.column()))
    })
}

/// `ESSC1.<base64url(payload)>`: the text an issuer signs.
pub fn signed_text(payload_json: &[u8]) -> String {
    format!("{ESSC_PREFIX}{}", URL_SAFE_NO_PAD.encode(payload_json))
}

/// Appends the encoded signature to the signed text.
pub fn join(signed: &str, signature: &[u8]) -> String {
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

//! The e-voucher service's `ec.query` (upstream.md, "E-voucher decoding"): the request that
//! sends a scanned 医保码 and the answer that names the patient and carries the `ecToken`.
//!
//! This is not the platform envelope: the answer is `{"code", "message", "data"}`, sorted by
//! [`classify_ec`] into the same [`UpstreamError`] classes as [`classify`](crate::upstream::classify).
//! [`EcIdentity`] converts into the QR layer's [`qr::evoucher::EcIdentity`](QrEcIdentity), what
//! an [`EcDecoder`](crate::qr::evoucher::EcDecoder) returns, and an [`UpstreamError`] into its
//! [`EcError`]. Personal data and the token are masked in `Debug`; nothing here sends or logs.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

use crate::qr::evoucher::{
    BusinessType, EVoucherCode, EcError, EcIdentity as QrEcIdentity, EcToken,
};
use crate::qr::person::{IdNumber, PersonName};
use crate::upstream::envelope::lenient_text;
use crate::upstream::error::{UnknownCause, UpstreamError};

pub const EC_QUERY: &str = "ec.query";
/// `deviceType` of a self-service kiosk; other terminals configure their own text.
pub const SELF_SERVICE: &str = "SelfService";
/// Length of an `ecToken`.
pub const EC_TOKEN_LEN: usize = 40;

/// Who asks: the configured institution, operator and device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct EcClient {
    pub org_id: String,
    pub operator_id: String,
    pub operator_name: String,
    pub office_id: String,
    pub office_name: String,
    /// [`SELF_SERVICE`] on a kiosk.
    pub device_type: String,
}

/// The `ec.query` request body.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EcQueryRequest {
    pub data: EcQuery,
    pub trans_type: &'static str,
    pub org_id: String,
}

#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EcQuery {
    #[serde(serialize_with = "business_code")]
    pub business_type: BusinessType,
    pub ec_qr_code: String,
    pub org_id: String,
    pub operator_id: String,
    pub operator_name: String,
    pub office_id: String,
    pub office_name: String,
    pub device_type: String,
}

impl EcQueryRequest {
    pub fn new(code: &EVoucherCode, business: BusinessType, client: &EcClient) -> Self {
        EcQueryRequest {
            data: EcQuery {
                business_type: business,
                ec_qr_code: code.as_str().to_owned(),
                org_id: client.org_id.clone(),
                operator_id: client.operator_id.clone(),
                operator_name: client.operator_name.clone(),
                office_id: client.office_id.clone(),
                office_name: client.office_name.clone(),
                device_type: client.device_type.clone(),
            },
            trans_type: EC_QUERY,
            org_id: client.org_id.clone(),
        }
    }
}

/// The scanned code is a bearer credential: only its length is shown.
impl fmt::Debug for EcQueryRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcQueryRequest")
            .field("businessType", &self.data.business_type.code())
            .field(
                "ecQrCode",
                &format_args!("{} chars", self.data.ec_qr_code.len()),
            )
            .field("orgId", &self.org_id)
            .finish_non_exhaustive()
    }
}

fn business_code<S: Serializer>(b: &BusinessType, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(b.code())
}

/// A decoded e-voucher: who the patient is, the token for `mdtrt_cert_type=01` and the 参保地
/// (`insuOrg`) for `insuplc_admdvs`. `Debug` masks the ID number and name, shows the token's
/// length only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcIdentity {
    pub id_no: IdNumber,
    pub id_type: String,
    pub user_name: PersonName,
    pub ec_token: EcToken,
    /// 6-digit region code.
    pub insu_org: String,
    pub ec_index_no: String,
    pub gender: String,
    pub birthday: String,
    pub nationality: String,
}

/// What an [`EcDecoder`](crate::qr::evoucher::EcDecoder) returns; gender, birthday and
/// nationality are not part of it.
impl From<EcIdentity> for QrEcIdentity {
    fn from(id: EcIdentity) -> QrEcIdentity {
        QrEcIdentity {
            id_no: id.id_no,
            id_type: id.id_type,
            user_name: id.user_name,
            ec_token: id.ec_token,
            insu_org: id.insu_org,
            ec_index_no: id.ec_index_no,
        }
    }
}

/// The decoder's error for a failed `ec.query`: a refusal is [`EcError::Rejected`], a timeout
/// or a transport failure retryable, an unreadable answer [`EcError::BadAnswer`].
impl From<UpstreamError> for EcError {
    fn from(e: UpstreamError) -> EcError {
        match e {
            UpstreamError::Business { infcode, err_msg } => EcError::Rejected {
                code: infcode,
                message: err_msg,
            },
            UpstreamError::Timeout { .. } => EcError::Timeout,
            UpstreamError::Unreachable { .. }
            | UpstreamError::NotSent { .. }
            | UpstreamError::Gateway { .. }
            | UpstreamError::OutcomeUnknown {
                cause: UnknownCause::ServerError(_) | UnknownCause::Interrupted(_),
            } => EcError::Transport(e.to_string()),
            UpstreamError::OutcomeUnknown { .. } | UpstreamError::Protocol { .. } => {
                EcError::BadAnswer(e.to_string())
            }
        }
    }
}

/// The raw answer; `code` may be a number or a string.
#[derive(Deserialize)]
struct EcAnswer {
    #[serde(default, deserialize_with = "lenient_text")]
    code: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    message: Option<String>,
    #[serde(default)]
    data: Option<EcData>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct EcData {
    #[serde(deserialize_with = "lenient_text")]
    id_no: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    id_type: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    user_name: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    ec_token: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    insu_org: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    ec_index_no: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    gender: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    birthday: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    nationality: Option<String>,
}

/// Sorts an `ec.query` HTTP answer like [`classify`](crate::upstream::classify): 5xx or a body
/// that is not JSON → `OutcomeUnknown` (harmless here, `ec.query` changes nothing, but the
/// class is kept); a 4xx without an answer → `Gateway`; `code ≠ 0` → `Business` with the
/// message; an identity without a 40-character `ecToken` or a 6-digit `insuOrg` → `Protocol`.
pub fn classify_ec(http_status: u16, body: &[u8]) -> Result<EcIdentity, UpstreamError> {
    let answer: EcAnswer = crate::upstream::envelope::decode_answer(http_status, body, "ec.query")?;
    let code = answer.code.as_deref().map(str::trim).unwrap_or_default();
    let code: i64 = code
        .parse()
        .map_err(|_| protocol("code: missing or not an integer".to_owned()))?;
    if code != 0 {
        return Err(UpstreamError::business(
            code,
            answer.message.as_deref().unwrap_or(""),
        ));
    }
    if !(200..300).contains(&http_status) {
        return Err(protocol(format!("code 0 with HTTP {http_status}")));
    }
    let data = answer
        .data
        .ok_or_else(|| protocol("data: missing".to_owned()))?;
    let ec_token = data.ec_token.unwrap_or_default();
    if ec_token.len() != EC_TOKEN_LEN || !ec_token.bytes().all(|b| b.is_ascii_graphic()) {
        // The detail names the length only: the token is a credential.
        return Err(protocol(format!(
            "data.ecToken: {} characters, expected {EC_TOKEN_LEN} printable ASCII",
            ec_token.chars().count()
        )));
    }
    let insu_org = data.insu_org.unwrap_or_default();
    if insu_org.len() != 6 || !insu_org.bytes().all(|b| b.is_ascii_digit()) {
        return Err(protocol(
            "data.insuOrg: missing or not a 6-digit region".to_owned(),
        ));
    }
    Ok(EcIdentity {
        id_no: IdNumber::new(data.id_no.unwrap_or_default()),
        id_type: data.id_type.unwrap_or_default(),
        user_name: PersonName::new(data.user_name.unwrap_or_default()),
        ec_token: EcToken(ec_token),
        insu_org,
        ec_index_no: data.ec_index_no.unwrap_or_default(),
        gender: data.gender.unwrap_or_default(),
        birthday: data.birthday.unwrap_or_default(),
        nationality: data.nationality.unwrap_or_default(),
    })
}

fn protocol(detail: String) -> UpstreamError {
    UpstreamError::Protocol {
        detail: format!("ec.query {detail}"),
    }
}

#[cfg(test)]
mod tests;

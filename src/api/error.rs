//! API errors: every failure answers `{"code", "message_zh", "message_en", "details"}` with a
//! stable code and the right HTTP status.
//!
//! The catalogue of codes this module owns is [`ApiError`]'s constructors; other boundaries'
//! errors enter through [`UserFacing`]. Messages never contain personal data.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::card::service::CardServiceError;
use crate::card::{AccessError, CardError};
use crate::error::UserFacing;

/// A response extension: the answer is provisional (a money operation still running, 202
/// `sale.in_progress`) and is not remembered, so a retry under the key gets the real outcome.
#[derive(Debug, Clone, Copy)]
pub(super) struct Provisional;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Chinese message.
    pub message_zh: String,
    /// English message.
    pub message_en: String,
    /// Machine-readable details.
    pub details: serde_json::Value,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message_zh: &'a str,
    message_en: &'a str,
    details: &'a serde_json::Value,
}

impl ApiError {
    /// An error with empty details.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        zh: impl Into<String>,
        en: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code,
            message_zh: zh.into(),
            message_en: en.into(),
            details: serde_json::Value::Object(Default::default()),
        }
    }

    /// Adds machine-readable details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// From another boundary's user-facing error.
    pub fn from_user_facing(status: StatusCode, e: &dyn UserFacing) -> Self {
        ApiError::new(status, e.code(), e.message_zh(), e.message_en())
    }

    /// No `Authorization: Bearer` header.
    pub fn missing_token() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "auth.missing_token",
            "缺少访问令牌：请求头需包含 Authorization: Bearer <令牌>。",
            "Missing access token: send Authorization: Bearer <token>.",
        )
    }

    /// A token that does not match.
    pub fn invalid_token() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "auth.invalid_token",
            "访问令牌无效。",
            "The access token is not valid.",
        )
    }

    /// Body larger than `api.max_body_bytes`.
    pub fn too_large(limit: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.too_large",
            format!("请求内容过大（上限 {limit} 字节）。"),
            format!("The request body is too large (limit {limit} bytes)."),
        )
        .with_details(serde_json::json!({ "limit_bytes": limit }))
    }

    /// The request took longer than `api.request_timeout_ms`.
    pub fn timeout(ms: u64) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request.timeout",
            format!("请求处理超时（{ms} 毫秒），请稍后重试。"),
            format!("The request timed out after {ms} ms; try again."),
        )
        .with_details(serde_json::json!({ "timeout_ms": ms }))
    }

    /// No route at this path.
    pub fn not_found() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "request.not_found",
            "接口不存在。",
            "No such endpoint.",
        )
    }

    /// The path exists but not with this method.
    pub fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "request.method_not_allowed",
            "该接口不支持此请求方法。",
            "This endpoint does not support this method.",
        )
    }

    /// A request whose query, headers or body do not have the documented shape. `what` says
    /// which part and what is expected (shown in both messages; never contains personal data).
    pub fn bad_request(what: &str) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "request.invalid",
            format!("请求格式不正确：{what}"),
            format!("The request is not valid: {what}"),
        )
    }

    /// The daemon is draining for shutdown.
    pub fn stopping() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "daemon.stopping",
            "结算服务正在停止，暂不受理新业务。",
            "The settlement service is stopping and takes no new work.",
        )
    }

    /// An `Idempotency-Key` used before with a different request.
    pub fn idempotency_mismatch() -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency.mismatch",
            "该幂等键已用于另一笔不同的请求，请为新请求使用新的幂等键。",
            "This Idempotency-Key was used with a different request; use a new key for a new request.",
        )
    }

    /// The database was found corrupt and set aside: money operations stop until an operator
    /// runs `medsettle store salvage`.
    pub fn store_quarantined() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store.quarantined",
            "数据库已损坏并被隔离，暂停一切收费业务。请联系运维人员执行 medsettle store salvage 恢复数据。",
            "The database was found corrupt and set aside; every money operation is stopped until an operator runs `medsettle store salvage`.",
        )
    }

    /// Something failed inside the daemon; details are in its log.
    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "结算服务内部错误，请联系运维人员。",
            "Internal error in the settlement service; see its log.",
        )
    }
}

impl ApiError {
    /// A card service failure with the status a cashier program branches on.
    pub fn from_card(e: &CardServiceError) -> Self {
        let status = match e {
            CardServiceError::Access(AccessError::NoCard(_)) => StatusCode::REQUEST_TIMEOUT,
            CardServiceError::Access(_) => StatusCode::SERVICE_UNAVAILABLE,
            CardServiceError::Card(CardError::Transport(_)) => StatusCode::CONFLICT,
            // A PIN that is not 6 digits never reaches the card: a malformed request.
            CardServiceError::Card(CardError::PinFormat) => StatusCode::BAD_REQUEST,
            CardServiceError::Card(_) | CardServiceError::Invalid(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
        };
        let mut err = ApiError::from_user_facing(status, e);
        if let CardServiceError::Card(CardError::PinWrong { tries_left }) = e {
            err = err.with_details(serde_json::json!({ "tries_left": tries_left }));
        }
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            code: self.code,
            message_zh: &self.message_zh,
            message_en: &self.message_en,
            details: &self.details,
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_codes_are_unique_and_bilingual() {
        let all = [
            ApiError::missing_token(),
            ApiError::invalid_token(),
            ApiError::too_large(1),
            ApiError::timeout(1),
            ApiError::not_found(),
            ApiError::method_not_allowed(),
            ApiError::bad_request("x"),
            ApiError::stopping(),
            ApiError::idempotency_mismatch(),
            ApiError::store_quarantined(),
            ApiError::internal(),
        ];
        let mut codes: Vec<_> = all.iter().map(|e| e.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        for e in &all {
            assert!(
                e.message_zh
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{}",
                e.code
            );
            assert!(
                e.message_en.is_ascii() && !e.message_en.is_empty(),
                "{}",
                e.code
            );
        }
    }
}

//! The e-voucher decoder over HTTP: `ec.query` to the configured e-voucher service, through the
//! platform client's transport (same TLS settings, pool and gateway headers).
//!
//! The answer's identity carries personal data; nothing here logs it. `ec.query` moves no money,
//! so it is not in the msgid audit trail; its outcome is logged by code only.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::client::Client;
use super::error::UpstreamError;
use super::tx::evoucher::{EcQueryRequest, classify_ec};
use crate::qr::evoucher::{BusinessType, EVoucherCode, EcDecoder, EcError, EcIdentity};

impl Client {
    /// `ec.query` with the upstream error class kept (the CLI prints it).
    pub async fn ec_query(
        &self,
        code: &EVoucherCode,
        business: BusinessType,
    ) -> Result<super::tx::evoucher::EcIdentity, UpstreamError> {
        let url = self.ec_url().ok_or_else(|| UpstreamError::NotSent {
            detail: "no upstream.ec_url configured".into(),
        })?;
        let body = serde_json::to_vec(&EcQueryRequest::new(code, business, self.ec_who()))
            .map_err(|e| UpstreamError::NotSent {
                detail: format!("ec.query does not serialise: {e}"),
            })?;
        let headers = self.gateway_headers();
        let answer = self.transport().post_json(url, &headers, body).await;
        let result = answer.and_then(|a| classify_ec(a.status, &a.body));
        match &result {
            Ok(_) => tracing::info!("ec.query answered"),
            Err(e) => tracing::warn!(error = %e, "ec.query failed"),
        }
        result
    }
}

/// Decodes e-vouchers with the platform's e-voucher service.
pub struct HttpEcDecoder {
    client: Arc<Client>,
}

impl HttpEcDecoder {
    /// The decoder for this terminal, or `None` when no `ec_url` is configured. The client
    /// already carries who asks (built from the same `config`).
    pub fn new(client: Arc<Client>) -> Option<HttpEcDecoder> {
        client.ec_url()?;
        Some(HttpEcDecoder { client })
    }

    /// `ec.query` with the upstream error class kept (the CLI prints it).
    pub async fn query(
        &self,
        code: &EVoucherCode,
        business: BusinessType,
    ) -> Result<super::tx::evoucher::EcIdentity, UpstreamError> {
        self.client.ec_query(code, business).await
    }
}

impl EcDecoder for HttpEcDecoder {
    fn decode<'a>(
        &'a self,
        code: &'a EVoucherCode,
        business: BusinessType,
    ) -> BoxFuture<'a, Result<EcIdentity, EcError>> {
        Box::pin(async move {
            self.query(code, business)
                .await
                .map(Into::into)
                .map_err(Into::into)
        })
    }
}

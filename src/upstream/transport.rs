//! The HTTP edge to the platform: one reqwest client (rustls with the ring provider, HTTP/1.1,
//! a small idle pool) that POSTs a body and sorts every failure by what it means for the sale.
//!
//! The decisive line is whether the request may have reached the platform. A failure to
//! connect (DNS, refused, TLS handshake, connect timeout) is [`UpstreamError::Unreachable`]:
//! nothing left the terminal. Anything after that — a read timeout, the total timeout, a
//! connection lost while sending or reading, HTTP 5xx, an unreadable body — leaves the outcome
//! unknown. This file knows HTTP and TLS, not envelopes: [`classify`](super::classify) reads
//! the answer.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::error::{UnknownCause, UpstreamError};
use crate::secret::Secret;

/// What the transport needs, resolved from `[upstream]` (secrets already loaded).
#[derive(Clone)]
pub struct TransportSettings {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub total_timeout: Duration,
    pub pool_idle_timeout: Duration,
    /// Extra trusted CA certificates, PEM.
    pub ca_bundle_pem: Option<Vec<u8>>,
    /// Client certificate and key, PEM, for mutual TLS.
    pub client_identity_pem: Option<(Secret, Secret)>,
}

/// The transport could not be built from its settings (bad PEM, unreadable CA file).
#[derive(Debug, thiserror::Error)]
pub enum TransportSetupError {
    #[error("CA bundle {path}: {reason}")]
    CaBundle { path: String, reason: String },
    #[error("client certificate: {0}")]
    ClientIdentity(String),
    #[error("HTTP client: {0}")]
    Client(String),
}

/// One HTTP answer: status, body, and how long the exchange took.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: Vec<u8>,
    pub elapsed: Duration,
}

/// A pooled HTTP client for one platform.
#[derive(Clone, Debug)]
pub struct Transport {
    client: reqwest::Client,
    total_timeout: Duration,
}

/// Reads a PEM CA bundle file for [`TransportSettings::ca_bundle_pem`].
pub fn read_ca_bundle(path: &Path) -> Result<Vec<u8>, TransportSetupError> {
    std::fs::read(path).map_err(|e| TransportSetupError::CaBundle {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Installs ring as the process's rustls crypto provider. reqwest is built without a bundled
/// provider, so every process that builds a reqwest client (the daemon here, tests and
/// benchmarks for their own clients) calls this first. Repeated calls are harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Transport {
    pub fn new(settings: &TransportSettings) -> Result<Transport, TransportSetupError> {
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .http1_only()
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .timeout(settings.total_timeout)
            .pool_idle_timeout(settings.pool_idle_timeout)
            .pool_max_idle_per_host(4)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("medsettle/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &settings.ca_bundle_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                TransportSetupError::CaBundle {
                    path: "ca_bundle".into(),
                    reason: e.to_string(),
                }
            })?;
            if certs.is_empty() {
                return Err(TransportSetupError::CaBundle {
                    path: "ca_bundle".into(),
                    reason: "no certificate in the file".into(),
                });
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        if let Some((cert, key)) = &settings.client_identity_pem {
            let mut pem = zeroize::Zeroizing::new(Vec::new());
            pem.extend_from_slice(cert.expose().as_bytes());
            pem.push(b'\n');
            pem.extend_from_slice(key.expose().as_bytes());
            pem.push(b'\n');
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| TransportSetupError::ClientIdentity(e.to_string()))?;
            builder = builder.identity(identity);
        }
        let client = builder
            .build()
            .map_err(|e| TransportSetupError::Client(e.to_string()))?;
        Ok(Transport {
            client,
            total_timeout: settings.total_timeout,
        })
    }

    /// POSTs a JSON `body` to `url` with extra `headers`, and reads the whole answer.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> Result<HttpAnswer, UpstreamError> {
        let started = Instant::now();
        let mut map = HeaderMap::new();
        map.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=UTF-8"),
        );
        for (name, value) in headers {
            let value = HeaderValue::from_str(value).map_err(|_| UpstreamError::Unreachable {
                detail: format!("header {name} is not a valid header value"),
            })?;
            map.insert(HeaderName::from_static(name), value);
        }
        let response = self
            .client
            .post(url)
            .headers(map)
            .body(body)
            .send()
            .await
            .map_err(|e| self.classify_error(&e, started))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.classify_error(&e, started))?;
        Ok(HttpAnswer {
            status,
            body: body.to_vec(),
            elapsed: started.elapsed(),
        })
    }

    /// Sorts a reqwest error: before the connection existed → unreachable; otherwise unknown.
    fn classify_error(&self, e: &reqwest::Error, started: Instant) -> UpstreamError {
        if e.is_connect() {
            return UpstreamError::Unreachable {
                detail: error_chain(e),
            };
        }
        if e.is_timeout() {
            let after = started.elapsed().min(self.total_timeout * 2);
            return UpstreamError::Timeout {
                after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
            };
        }
        if e.is_builder() {
            return UpstreamError::Unreachable {
                detail: error_chain(e),
            };
        }
        UpstreamError::OutcomeUnknown {
            cause: UnknownCause::Interrupted(error_chain(e)),
        }
    }
}

/// The error and its sources on one line (reqwest's Display alone says "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests;

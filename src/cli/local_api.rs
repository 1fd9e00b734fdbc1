//! A client of the running daemon's local API for operator commands (`queue`, `reconcile`,
//! `status-link`): the address from the configuration's `api.listen`, the bearer token from
//! `api.token`.
//! Errors name the address, so "the daemon is not running" is obvious.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Config, Secret};
use anyhow::{Context as _, anyhow};
use serde_json::Value;

/// The daemon's API as the operator reaches it.
pub(super) struct LocalApi {
    base: String,
    token: String,
    client: reqwest::Client,
}

/// An answer: status and JSON body.
pub(super) struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The body when the status is 2xx, else the API error as text.
    pub fn ok(self) -> anyhow::Result<Value> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        Err(anyhow!("{}", describe_error(self.status, &self.body)))
    }
}

/// `code: English message (中文)`, from an API error body.
pub(super) fn describe_error(status: u16, body: &Value) -> String {
    match body["code"].as_str() {
        Some(code) => format!(
            "{code}: {} ({})",
            body["message_en"].as_str().unwrap_or(""),
            body["message_zh"].as_str().unwrap_or("")
        ),
        None => format!("HTTP {status}"),
    }
}

impl LocalApi {
    /// From a configuration file.
    pub fn from_config(path: &Path) -> anyhow::Result<LocalApi> {
        let config = Config::load(path)
            .map_err(|e| anyhow!("configuration error in {}:\n{e}", path.display()))?;
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        let token = Secret::load(&config.api.token, credentials.as_deref())
            .map_err(|e| anyhow!("api.token: {e}"))?;
        let mut addr = config.api.listen;
        if addr.ip().is_unspecified() {
            addr = SocketAddr::from(([127, 0, 0, 1], addr.port()));
        }
        crate::upstream::transport::install_crypto_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .build()
            .context("building the HTTP client")?;
        Ok(LocalApi {
            base: format!("http://{addr}"),
            token: token.expose().to_owned(),
            client,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn not_running(&self, e: reqwest::Error) -> anyhow::Error {
        if e.is_connect() {
            anyhow!(
                "the daemon is not running at {} (api.listen): {e}",
                self.base
            )
        } else {
            anyhow!("request to the daemon at {} failed: {e}", self.base)
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.not_running(e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| self.not_running(e))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Answer> {
        self.send(self.client.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// Opens `GET /v1/events?topics=…` (Server-Sent Events).
    pub async fn events(&self, topics: &str) -> anyhow::Result<reqwest::Response> {
        let resp = self
            .client
            .get(format!("{}/v1/events?topics={topics}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.not_running(e))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let body = resp.json().await.unwrap_or(Value::Null);
            return Err(anyhow!("{}", describe_error(status, &body)));
        }
        Ok(resp)
    }
}

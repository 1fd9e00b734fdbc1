//! A client of a running daemon's local API as the cashier software uses it: the test token,
//! JSON bodies, answers as `(status, JSON)`, and the few steps every money test repeats (read
//! the card, make a sale, wait for a state). Waiting polls with a deadline; it never sleeps for
//! synchronisation.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Process, TOKEN, client};

/// How long one request may take before the test fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The API of one daemon.
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(p: &Process) -> Api {
        Api::at(p.addr)
    }

    /// The API listening on `addr`.
    pub fn at(addr: std::net::SocketAddr) -> Api {
        Api {
            http: client(),
            base: format!("http://{addr}"),
        }
    }

    /// POST a JSON body; panics when the daemon does not answer.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, v, _) = self
            .post_keyed(path, None, &body)
            .await
            .unwrap_or_else(|| panic!("no answer to POST {path}"));
        (status, v)
    }

    /// POST with an optional `Idempotency-Key`: the status, the body and whether it was a
    /// replay (`Idempotent-Replayed`); `None` when the daemon did not answer (killed, full).
    pub async fn post_keyed(
        &self,
        path: &str,
        key: Option<&str>,
        body: &Value,
    ) -> Option<(u16, Value, bool)> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .timeout(REQUEST_TIMEOUT)
            .json(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let r = req.send().await.ok()?;
        let status = r.status().as_u16();
        let replayed = r.headers().get("idempotent-replayed").is_some();
        Some((status, r.json().await.unwrap_or(Value::Null), replayed))
    }

    /// GET with its status.
    pub async fn get_with_status(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// GET a JSON answer.
    pub async fn get(&self, path: &str) -> Value {
        self.get_with_status(path).await.1
    }

    /// Reads the card in the (virtual) reader: its `credential_id`.
    pub async fn credential(&self) -> String {
        let (status, v) = self.post("/v1/card/read", json!({})).await;
        assert_eq!(status, 200, "{v}");
        v["credential_id"].as_str().unwrap().to_owned()
    }

    /// A new sale of one line at `pric` yuan with `credential` in `mode`: its id.
    pub async fn new_sale(&self, credential: &str, mode: &str, pric: &str) -> String {
        let (status, v) = self
            .post(
                "/v1/sales",
                json!({
                    "credential_id": credential,
                    "items": [{"code": "XA01BAA123A001010100001", "name": "阿莫西林胶囊",
                               "cnt": "1", "pric": pric}],
                    "mode": mode,
                }),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().unwrap().to_owned()
    }

    /// A new card sale of `pric` yuan in `mode`, presettled with `presettle` as the body: its id.
    pub async fn presettled(&self, mode: &str, pric: &str, presettle: Value) -> String {
        let credential = self.credential().await;
        let id = self.new_sale(&credential, mode, pric).await;
        let (status, v) = self
            .post(&format!("/v1/sales/{id}/presettle"), presettle)
            .await;
        assert_eq!(status, 200, "{v}");
        id
    }

    /// A card sale of `pric` yuan settled online: [`Api::presettled`] (`require_online`), then
    /// confirmed. The sale's view after confirming.
    pub async fn online_sale(&self, pric: &str, presettle: Value) -> Value {
        let id = self.presettled("require_online", pric, presettle).await;
        let (status, v) = self
            .post(&format!("/v1/sales/{id}/confirm"), json!({}))
            .await;
        assert_eq!(status, 200, "{v}");
        v
    }

    /// `GET /v1/sales/{id}`: `{sale, history}`.
    pub async fn sale(&self, id: &str) -> Value {
        self.get(&format!("/v1/sales/{id}")).await
    }

    /// Polls the sale until it is in `state`, failing after `within`.
    pub async fn wait_state(&self, id: &str, state: &str, within: Duration) -> Value {
        let until = Instant::now() + within;
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            poll.tick().await;
            let doc = self.sale(id).await;
            if doc["sale"]["state"] == state {
                return doc;
            }
            assert!(
                Instant::now() < until,
                "sale {id} never reached {state}: {doc}"
            );
        }
    }

    /// Polls `GET /v1/trace?sale_id=…` until `done` accepts the sale's trace reports, failing
    /// after `within`.
    pub async fn trace_reports_until(
        &self,
        sale: &str,
        within: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let until = Instant::now() + within;
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            poll.tick().await;
            let v = self.get(&format!("/v1/trace?sale_id={sale}")).await;
            let reports = v["reports"].as_array().cloned().unwrap_or_default();
            if done(&reports) {
                return reports;
            }
            assert!(Instant::now() < until, "the trace reports of {sale}: {v}");
        }
    }

    /// The status board's alarm `code`, if raised.
    pub async fn alarm(&self, code: &str) -> Option<Value> {
        let status = self.get("/v1/status").await;
        status["alarms"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["code"] == code)
            .cloned()
    }
}

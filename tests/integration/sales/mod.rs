//! Sales through the daemon's API: the in-process daemon with the virtual card reader
//! (`fixtures/cards/normal.json` given the PIN 123456 — card M12345678 is the sandbox's P110105000001,
//! balance 1500.00) and the sandbox insurer, or a platform address where nothing listens.
//! Waits are on `sale.state` events, never on sleeps.

mod at_rest;
mod cli;
mod offline;
mod online;
mod rules;
mod traced;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use medsettle::card::SlotKind;
use medsettle_sandbox::{Sandbox, SandboxConfig};
use medsettle_vcard::{InProcessReader, Profile, VirtualCard};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::{self, InProcess, TOKEN, Terminal};

pub const PSN: &str = "P110105000001";
pub const ID_NUMBER: &str = "110105199003071239";
pub const NAME: &str = "测试张三";
pub const PIN: &str = "123456";

/// A daemon with a card in its reader, and maybe a sandbox behind it.
pub struct Rig {
    pub sandbox: Option<Sandbox>,
    pub terminal: Terminal,
    pub d: InProcess,
    /// Feeds QR scans (e-voucher codes) to the daemon.
    pub scans: mpsc::Sender<medsettle::qr::service::RawScan>,
}

fn upstream(base: &str, ec: &str) -> String {
    format!(
        r#"
[upstream]
base_url = "{base}"
ec_url = "{ec}"
allow_plain_http = true
signtype = "SM3"
connect_timeout_ms = 500
read_timeout_ms = 1500
timeout_ms = 2000
"#
    )
}

/// `[settle]` with fast retries plus `extra` lines.
fn settle(extra: &str) -> String {
    format!("\n[settle]\nretry_first_ms = 100\nretry_max_ms = 400\n{extra}\n")
}

fn reader() -> Arc<InProcessReader> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cards/normal.json");
    let mut profile = Profile::load(path).unwrap();
    // The normal card with its holder's PIN set (the fixture itself has none).
    profile.pin = Some(medsettle_vcard::profile::PinConfig {
        value: PIN.into(),
        tries_left: 3,
        max_tries: 3,
        required_for_ef06: false,
    });
    let reader = InProcessReader::new(SlotKind::Contact);
    reader.insert(VirtualCard::from_profile(profile).unwrap());
    Arc::new(reader)
}

impl Rig {
    /// With the sandbox insurer up.
    pub async fn online(settle_extra: &str) -> Rig {
        let sandbox = medsettle_sandbox::start(SandboxConfig::default())
            .await
            .unwrap();
        let text = upstream(&sandbox.base_url(), &sandbox.ec_url()) + &settle(settle_extra);
        Rig::start(Some(sandbox), text).await
    }

    /// With the platform at an address where nothing listens.
    pub async fn platform_down(settle_extra: &str) -> Rig {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let text = upstream(&base, &format!("{base}/ec")) + &settle(settle_extra);
        Rig::start(None, text).await
    }

    async fn start(sandbox: Option<Sandbox>, extra: String) -> Rig {
        let terminal = Terminal::with(|t| {
            t.push_str(&extra);
            t.push_str("\n[qr]\ndebounce_ms = 0\n");
        });
        let (scans, rx) = mpsc::channel(4);
        let readers: Arc<dyn medsettle::card::CardReaders> = reader();
        let d = InProcess::start_full(&terminal, Some(readers), Some(rx)).await;
        Rig {
            sandbox,
            terminal,
            d,
            scans,
        }
    }

    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("a rig with a sandbox")
    }

    pub async fn stop(self) {
        self.d.shutdown().await;
        if let Some(s) = self.sandbox {
            s.shutdown().await;
        }
    }

    /// `POST path` with a JSON body: (status, body).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, body, _) = self.post_with(path, body.to_string(), None).await;
        (status, body)
    }

    /// `POST path` with a raw body and maybe an `Idempotency-Key`: (status, body, replayed).
    pub async fn post_with(
        &self,
        path: &str,
        body: String,
        key: Option<&str>,
    ) -> (u16, Value, bool) {
        let mut req = support::client()
            .post(self.d.url(path))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let replayed = resp
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true");
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            replayed,
        )
    }

    pub async fn get(&self, path: &str) -> Value {
        support::get_json(&self.d.url(path)).await
    }

    /// Reads the card: its `credential_id`.
    pub async fn credential(&self) -> String {
        let (status, body) = self.post("/v1/card/read", json!({ "wait_ms": 2000 })).await;
        assert_eq!(status, 200, "{body}");
        body["credential_id"].as_str().unwrap().to_owned()
    }

    /// `POST /v1/sales` for one item at `pric` yuan.
    pub async fn create(&self, credential: &str, pric: &str, mode: Option<&str>) -> (u16, Value) {
        let mut body = json!({
            "credential_id": credential,
            "items": [{ "code": "XA01BAA123A001010100001", "name": "阿莫西林胶囊", "cnt": "1", "pric": pric }],
        });
        if let Some(m) = mode {
            body["mode"] = json!(m);
        }
        self.post("/v1/sales", body).await
    }

    /// Creates a sale and answers its id (asserting 201).
    pub async fn sale(&self, pric: &str, mode: Option<&str>) -> String {
        let c = self.credential().await;
        let (status, body) = self.create(&c, pric, mode).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn confirm(&self, id: &str, body: Value) -> (u16, Value) {
        self.post(&format!("/v1/sales/{id}/confirm"), body).await
    }

    /// The open stored sales count of `GET /v1/queue`.
    pub async fn queue_count(&self) -> u64 {
        self.get("/v1/queue").await["totals"]["count"]
            .as_u64()
            .unwrap()
    }

    /// How many sales were created (their first `sale.state` event).
    pub fn created(&self) -> usize {
        let sub = self.d.events.subscribe(Some(0));
        sub.replay
            .iter()
            .filter(|e| e.topic == "sale.state" && e.data["from"].is_null())
            .count()
    }

    /// Waits for sale `id` to reach `state` (replayed or live `sale.state` events).
    pub async fn wait_state(&self, id: &str, state: &str) -> Value {
        let mut sub = self.d.events.subscribe(Some(0));
        let hit = |e: &medsettle::events::Event| {
            e.topic == "sale.state" && e.data["id"] == id && e.data["to"] == state
        };
        if let Some(e) = sub.replay.iter().find(|e| hit(e)) {
            return e.data["sale"].clone();
        }
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let e = sub.live.recv().await.unwrap();
                if hit(&e) {
                    return e.data["sale"].clone();
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("sale {id} did not reach {state}"))
    }
}

/// The history's `to` states in order.
pub fn history_states(v: &Value) -> Vec<String> {
    v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["to"].as_str().unwrap().to_owned())
        .collect()
}

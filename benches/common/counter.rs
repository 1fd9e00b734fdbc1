//! The counter the API benchmarks share: the daemon with 张三's virtual card in its reader (card
//! I/O is then one read, reused), against a fresh sandbox insurer in process on loopback with no
//! injected latency, `MOCK`, `skip_pin_consent`, no reconciliation schedule; and a plain HTTP/1
//! client with the token. `BENCH_LOG` sets the daemon's log level (default `warn`).
//!
//! The daemon runs in-process by default (on the bench's two-worker runtime, beside the sandbox
//! and the client), or as the shipped binary (`medsettle run`, its own process and runtime) with
//! `BENCH_DAEMON=process`: what a terminal runs, with only the machine's two cores shared.

use std::sync::Arc;

use medsettle::card::SlotKind;
use medsettle_sandbox::Sandbox;
use medsettle_test_support::{InProcess, NORMAL_CARD, Process, TOKEN, Terminal, sandbox_upstream};
use medsettle_vcard::{InProcessReader, Profile, VirtualCard};
use serde_json::{Value, json};

/// Where the daemon runs.
pub enum Daemon {
    InProcess(InProcess),
    Process(Process),
}

pub struct Counter {
    pub sandbox: Sandbox,
    pub daemon: Daemon,
    _terminal: Terminal,
    http: reqwest::Client,
    base: String,
}

impl Counter {
    pub async fn open() -> Counter {
        let sandbox = medsettle_sandbox::start(medsettle_sandbox::SandboxConfig::default())
            .await
            .unwrap();
        let terminal = Terminal::new();
        let mut config = terminal.config();
        config.upstream = Some(sandbox_upstream(&sandbox.base_url(), "MOCK"));
        config.settle.skip_pin_consent = true;
        config.settle.reconcile_at = String::new();
        config.log.level = std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into());
        let profile = Profile::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/cards/normal.json"
        ))
        .unwrap();
        let daemon = if std::env::var("BENCH_DAEMON").as_deref() == Ok("process") {
            config.readers.backend = medsettle::config::ReaderBackend::Virtual;
            config.readers.virtual_profile = Some(NORMAL_CARD.into());
            let run = terminal.path().join("run");
            std::fs::create_dir_all(&run).unwrap();
            Daemon::Process(Process::start_config(&run, &config.to_toml(), |_| {}).await)
        } else {
            let reader = InProcessReader::new(SlotKind::Contact);
            reader.insert(VirtualCard::from_profile(profile).unwrap());
            Daemon::InProcess(
                InProcess::start_config(&terminal, config, Some(Arc::new(reader)), None).await,
            )
        };
        let addr = match &daemon {
            Daemon::InProcess(d) => d.addr,
            Daemon::Process(p) => p.addr,
        };
        Counter {
            base: format!("http://{addr}"),
            sandbox,
            daemon,
            _terminal: terminal,
            http: reqwest::Client::builder().http1_only().build().unwrap(),
        }
    }

    /// POST a JSON body: status and answer.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap())
    }

    /// The store's writes and commits so far, from `/metrics`.
    pub async fn store_counts(&self) -> (f64, f64) {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let value = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("{name} not in /metrics"))
        };
        (
            value("medsettle_store_writes_total{result=\"ok\"}"),
            value("medsettle_store_commits_total"),
        )
    }

    /// Reads the card once: the `credential_id` every sale or visit reuses.
    pub async fn credential(&self) -> String {
        let (_, card) = self.post("/v1/card/read", json!({})).await;
        card["credential_id"].as_str().unwrap().to_owned()
    }

    /// `in-process` or `process`, for the report.
    pub fn mode(&self) -> &'static str {
        match self.daemon {
            Daemon::InProcess(_) => "daemon in-process",
            Daemon::Process(_) => "daemon as its own process",
        }
    }

    pub async fn close(self) {
        match self.daemon {
            Daemon::InProcess(d) => d.shutdown().await,
            Daemon::Process(p) => {
                p.signal(15);
                let (status, log) = p.wait();
                assert_eq!(status.code(), Some(0), "{log}");
            }
        }
        self.sandbox.shutdown().await;
    }
}

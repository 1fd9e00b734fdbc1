//! A clinic for the visit tests: the real binary with 张三's virtual card against the strict
//! sandbox insurer (with its e-voucher service), no PIN (`skip_pin_consent`), fast retries;
//! the visit request the HIS sends, and the steps every visit test repeats.

use std::time::{Duration, Instant};

use medsettle_sandbox::{Fault, FaultRule, Sandbox, SandboxConfig};
use serde_json::{Value, json};

use super::process::run_cli;
use super::{Api, NORMAL_CARD, Process, TOKEN, Terminal, client};

/// How long a visit may take to reach a state the test waits for.
const DEADLINE: Duration = Duration::from_secs(30);

pub struct Clinic {
    pub sandbox: Sandbox,
    pub terminal: Terminal,
    pub config: String,
    pub process: Process,
    pub api: Api,
}

impl Clinic {
    pub async fn start() -> Clinic {
        let sandbox = medsettle_sandbox::start(SandboxConfig::default())
            .await
            .unwrap();
        let base = sandbox.base_url();
        let ec = sandbox.ec_url();
        let terminal = Terminal::with(|t| {
            t.push_str(&format!(
                "\n[upstream]\nbase_url = \"{base}\"\nec_url = \"{ec}\"\nallow_plain_http = true\n\
                 signtype = \"MOCK\"\nconnect_timeout_ms = 300\nread_timeout_ms = 2000\n\
                 timeout_ms = 3000\n\n[settle]\nskip_pin_consent = true\nreconcile_at = \"\"\n\
                 retry_first_ms = 100\nretry_max_ms = 300\n"
            ));
        });
        let config = terminal.config_with_virtual_card(NORMAL_CARD);
        let run = terminal.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        let process = Process::start_config(&run, &config, |c| {
            c.env("RUST_LOG", "warn");
        })
        .await;
        Clinic {
            sandbox,
            api: Api::new(&process),
            terminal,
            config,
            process,
        }
    }

    /// `POST /v1/visits`, optionally with an `Idempotency-Key`: status, body, replayed.
    pub async fn create(&self, body: Value, key: Option<&str>) -> (u16, Value, bool) {
        self.api
            .post_keyed("/v1/visits", key, &body)
            .await
            .expect("an answer")
    }

    /// A visit of 张三 (the card in the reader) with `lines` fee lines.
    pub async fn visit(&self, ipt_otp_no: &str, lines: usize) -> (u16, Value) {
        let credential = self.api.credential().await;
        let (status, v, _) = self
            .create(visit_body(&credential, ipt_otp_no, lines), None)
            .await;
        (status, v)
    }

    /// `POST /v1/visits/{id}/<step>` with an empty body.
    pub async fn step(&self, id: &str, step: &str) -> (u16, Value) {
        self.api
            .post(&format!("/v1/visits/{id}/{step}"), json!({}))
            .await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let r = client()
            .put(self.process.url(path))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// The visit's view.
    pub async fn get(&self, id: &str) -> Value {
        let (status, v) = self.api.get_with_status(&format!("/v1/visits/{id}")).await;
        assert_eq!(status, 200, "{v}");
        view(&v)
    }

    /// Polls the visit until `state` (deadline).
    pub async fn wait(&self, id: &str, state: &str) -> Value {
        let started = Instant::now();
        loop {
            let v = self.get(id).await;
            if v["state"] == state {
                return v;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "visit {id} never reached {state}: {v}"
            );
            tokio::task::yield_now().await;
        }
    }

    /// Requests the sandbox received for `infno`.
    pub fn count(&self, infno: &str) -> u64 {
        self.sandbox.ledger().request_count(infno)
    }

    pub fn counts(&self, infnos: &[&str]) -> Vec<u64> {
        infnos.iter().map(|i| self.count(i)).collect()
    }

    /// The platform holds nothing of any visit: no open registration, no fee line.
    pub fn holds_nothing(&self) {
        let holding = self.sandbox.visits_holding();
        assert!(holding.is_empty(), "the platform still holds {holding:?}");
    }

    /// The sandbox answers the next `times` requests of `infno` with `fault`.
    pub fn fault(&self, infno: &str, fault: Fault, times: u32) {
        self.sandbox.inject(FaultRule {
            infno: infno.into(),
            fault,
            times: Some(times),
            probability_permille: None,
            seed: 0,
        });
    }

    /// `medsettle ARGS` against this daemon (`-c` its config).
    pub async fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let cfg = self.process.cli_config(&self.terminal, &self.config);
        let mut args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        args.insert(2, "-c".into());
        args.insert(3, cfg);
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (status, out, err) = run_cli(&args, None);
            (status.code().unwrap_or(-1), out, err)
        })
        .await
        .unwrap()
    }

    pub async fn close(self) {
        drop(self.process);
        self.sandbox.shutdown().await;
    }
}

/// `lines` fee lines of 2 × 12.34 yuan.
pub fn fee_lines(lines: usize) -> Vec<Value> {
    (1..=lines)
        .map(|i| {
            json!({ "code": format!("XA01BAA{i:03}"), "local_code": format!("L{i:03}"),
                    "name": "门诊药品", "cnt": "2", "pric": "12.34" })
        })
        .collect()
}

/// The HIS's visit of 内科 with one main diagnosis and `lines` fee lines.
pub fn visit_body(credential: &str, ipt_otp_no: &str, lines: usize) -> Value {
    json!({
        "credential_id": credential,
        "ipt_otp_no": ipt_otp_no,
        "dept_code": "A03", "dept_name": "内科", "caty": "A03",
        "atddr_no": "D110105000001", "dr_name": "李医生",
        "diagnoses": [{"diag_srt_no": 1, "diag_code": "J06.900", "diag_name": "急性上呼吸道感染"}],
        "items": fee_lines(lines),
    })
}

/// The `id` of an answer.
pub fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

/// The visit's view out of a `GET /v1/visits/{id}` answer (`{visit, history}`), or the view.
pub fn view(v: &Value) -> Value {
    if v["visit"]["state"].is_string() {
        v["visit"].clone()
    } else if v["sale"]["state"].is_string() {
        v["sale"].clone()
    } else {
        v.clone()
    }
}

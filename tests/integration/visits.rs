//! Outpatient visits through the real daemon process (the built binary, a virtual card, the
//! sandbox insurer over loopback, strict per outpatient.md): a visit settles and its refund
//! gives the platform back everything (2208, 2205, 2202); a visit abandoned at each step sends
//! exactly its undo requests and leaves nothing on the platform (the sandbox's own books say
//! so); a 2207 whose answer is lost is reversed with 2601 and the visit settles once; the
//! cashier chooses between two basic insurances; an undo the platform cannot take now is
//! finished by the forwarder when it can. Waits poll the API with a deadline; no sleeps.

use std::time::{Duration, Instant};

use medsettle_sandbox::{Fault, FaultRule, Sandbox, SandboxConfig, SettlementStatus};
use serde_json::{Value, json};

use crate::support::{Api, NORMAL_CARD, Process, Terminal};

const DEADLINE: Duration = Duration::from_secs(30);

struct Clinic {
    sandbox: Sandbox,
    _terminal: Terminal,
    _process: Process,
    api: Api,
}

impl Clinic {
    /// The binary with the virtual card of 张三, the sandbox with its e-voucher service, no
    /// PIN (`skip_pin_consent`) and fast retries.
    async fn start() -> Clinic {
        let sandbox = medsettle_sandbox::start(SandboxConfig::default())
            .await
            .unwrap();
        let base = sandbox.base_url();
        let ec = sandbox.ec_url();
        let terminal = Terminal::with(|t| {
            t.push_str(&format!(
                "\n[upstream]\nbase_url = \"{base}\"\nec_url = \"{ec}\"\nallow_plain_http = true\n\
                 signtype = \"MOCK\"\nconnect_timeout_ms = 300\nread_timeout_ms = 1500\n\
                 timeout_ms = 2000\n\n[settle]\nskip_pin_consent = true\nreconcile_at = \"\"\n\
                 retry_first_ms = 100\nretry_max_ms = 300\n"
            ));
        });
        let text = terminal.config_with_virtual_card(NORMAL_CARD);
        let run = terminal.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        let process = Process::start_config(&run, &text, |c| {
            c.env("RUST_LOG", "warn");
        })
        .await;
        Clinic {
            sandbox,
            api: Api::new(&process),
            _terminal: terminal,
            _process: process,
        }
    }

    /// A visit of 张三 (the card in the reader) with `items` lines of 12.34: the answer.
    async fn visit(&self, ipt_otp_no: &str, items: usize) -> (u16, Value) {
        let credential = self.api.credential().await;
        self.visit_with(&credential, ipt_otp_no, items).await
    }

    async fn visit_with(&self, credential: &str, ipt_otp_no: &str, items: usize) -> (u16, Value) {
        self.api
            .post("/v1/visits", visit_body(credential, ipt_otp_no, items))
            .await
    }

    /// The visit's view.
    async fn get(&self, id: &str) -> Value {
        let (status, v) = self.api.get_with_status(&format!("/v1/visits/{id}")).await;
        assert_eq!(status, 200, "{v}");
        if v["visit"]["state"].is_string() {
            v["visit"].clone()
        } else if v["sale"]["state"].is_string() {
            v["sale"].clone()
        } else {
            v
        }
    }

    /// Polls the visit until `state` (deadline).
    async fn wait(&self, id: &str, state: &str) -> Value {
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

    fn count(&self, infno: &str) -> u64 {
        self.sandbox.ledger().request_count(infno)
    }

    fn counts(&self, infnos: &[&str]) -> Vec<u64> {
        infnos.iter().map(|i| self.count(i)).collect()
    }

    /// The platform holds nothing of any visit: no open registration, no fee line.
    fn holds_nothing(&self) {
        let holding = self.sandbox.visits_holding();
        assert!(holding.is_empty(), "the platform still holds {holding:?}");
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let r = crate::support::client()
            .put(format!("http://{}{path}", self._process.addr))
            .bearer_auth(crate::support::TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn close(self) {
        drop(self._process);
        self.sandbox.shutdown().await;
    }
}

fn lines(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            json!({
                "code": format!("XA01BAA{i:03}"), "local_code": format!("L{i:03}"),
                "name": "门诊药品", "cnt": "1", "pric": "12.34"
            })
        })
        .collect()
}

fn visit_body(credential: &str, ipt_otp_no: &str, items: usize) -> Value {
    json!({
        "credential_id": credential,
        "ipt_otp_no": ipt_otp_no,
        "dept_code": "A03", "dept_name": "内科", "caty": "A03",
        "atddr_no": "D110105000001", "dr_name": "李医生",
        "diagnoses": [{"diag_srt_no": 1, "diag_code": "J06.900", "diag_name": "急性上呼吸道感染"}],
        "items": lines(items),
    })
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

#[tokio::test]
async fn a_visit_settles_once_and_its_refund_gives_the_platform_back_everything() {
    let c = Clinic::start().await;
    let (status, v) = c.visit("MZ-SETTLE", 3).await;
    assert_eq!(
        (status, v["state"].as_str()),
        (201, Some("uploaded")),
        "{v}"
    );
    let id = id(&v);
    let (status, v) = c
        .api
        .post(&format!("/v1/visits/{id}/presettle"), json!({}))
        .await;
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("presettled")),
        "{v}"
    );
    assert!(v["patient_share"].is_string(), "the split is shown: {v}");
    let (status, v) = c
        .api
        .post(&format!("/v1/visits/{id}/confirm"), json!({}))
        .await;
    assert_eq!((status, v["state"].as_str()), (200, Some("settled")), "{v}");
    let setl_id = v["settlement"]["setl_id"].as_str().unwrap().to_owned();
    let ledger = c.sandbox.ledger();
    let mine: Vec<_> = ledger
        .settlements
        .iter()
        .filter(|s| s.setl_id == setl_id)
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].status, SettlementStatus::Effective);
    assert_eq!(mine[0].medfee_sumamt.0, 3 * 1_234);
    assert_eq!(c.counts(&["2201", "2204", "2206", "2207"]), [1, 1, 1, 1]);

    let (status, v) = c
        .api
        .post(&format!("/v1/visits/{id}/refund"), json!({}))
        .await;
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("cancelled")),
        "{v}"
    );
    assert_eq!(c.counts(&["2208", "2205", "2202"]), [1, 1, 1]);
    assert!(
        c.sandbox
            .ledger()
            .settlements
            .iter()
            .all(|s| s.status != SettlementStatus::Effective)
    );
    c.holds_nothing();
    // Refunding again changes nothing and sends nothing.
    let (status, v) = c
        .api
        .post(&format!("/v1/visits/{id}/refund"), json!({}))
        .await;
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("cancelled")),
        "{v}"
    );
    assert_eq!(c.count("2208"), 1);
    c.close().await;
}

#[tokio::test]
async fn a_visit_abandoned_at_each_step_sends_exactly_its_undo_and_leaves_nothing() {
    let c = Clinic::start().await;
    // (where it stops, 2205s its undo sends, 2202s)
    for (n, stop) in ["registered", "uploaded", "presettled", "repriced"]
        .iter()
        .enumerate()
    {
        let items = if *stop == "registered" { 0 } else { 2 };
        let (status, v) = c.visit(&format!("MZ-AB{n}"), items).await;
        assert_eq!(status, 201, "{v}");
        let id = id(&v);
        if matches!(*stop, "presettled" | "repriced") {
            let (s, v) = c
                .api
                .post(&format!("/v1/visits/{id}/presettle"), json!({}))
                .await;
            assert_eq!(s, 200, "{v}");
        }
        if *stop == "repriced" {
            // The HIS changes the items: the old batch is revoked, the new one uploaded.
            let before = c.counts(&["2205", "2204"]);
            let (s, v) = c
                .put(
                    &format!("/v1/visits/{id}/details"),
                    json!({ "items": lines(1) }),
                )
                .await;
            assert_eq!((s, v["state"].as_str()), (200, Some("uploaded")), "{v}");
            assert_eq!(c.counts(&["2205", "2204"]), [before[0] + 1, before[1] + 1]);
        }
        let before = c.counts(&["2205", "2202", "2208", "2601"]);
        let (s, v) = c
            .api
            .post(&format!("/v1/visits/{id}/cancel"), json!({}))
            .await;
        assert_eq!(
            (s, v["state"].as_str()),
            (200, Some("abandoned")),
            "{stop}: {v}"
        );
        let lines_undone = u64::from(*stop != "registered");
        assert_eq!(
            c.counts(&["2205", "2202", "2208", "2601"]),
            [
                before[0] + lines_undone,
                before[1] + 1,
                before[2],
                before[3]
            ],
            "{stop}"
        );
        c.holds_nothing();
    }
    // Before registration (the card refused by nobody, but nothing registered): nothing sent.
    c.close().await;
}

#[tokio::test]
async fn a_lost_2207_is_reversed_and_the_visit_settles_once() {
    let c = Clinic::start().await;
    let (_, v) = c.visit("MZ-LOST", 2).await;
    let id = id(&v);
    c.api
        .post(&format!("/v1/visits/{id}/presettle"), json!({}))
        .await;
    c.sandbox.inject(FaultRule {
        infno: "2207".into(),
        fault: Fault::DropAfterCommit,
        times: Some(1),
        probability_permille: None,
        seed: 0,
    });
    let (status, v) = c
        .api
        .post(&format!("/v1/visits/{id}/confirm"), json!({}))
        .await;
    assert_eq!((status, v["state"].as_str()), (200, Some("settled")), "{v}");
    assert_eq!(c.counts(&["2207", "2601"]), [2, 1]);
    let ledger = c.sandbox.ledger();
    let effective = ledger
        .settlements
        .iter()
        .filter(|s| s.status == SettlementStatus::Effective)
        .count();
    let reversed = ledger
        .settlements
        .iter()
        .filter(|s| s.status == SettlementStatus::Reversed)
        .count();
    assert_eq!(
        (effective, reversed),
        (1, 1),
        "settled once, the lost one reversed"
    );
    assert_eq!(v["reversed"].as_array().unwrap().len(), 1, "{v}");
    c.close().await;
}

#[tokio::test]
async fn the_cashier_chooses_between_two_basic_insurances() {
    let c = Clinic::start().await;
    // 钱九 holds 310 (110105) and 390 (110108), both in force; an e-voucher identifies him.
    let code = c.sandbox.issue_evoucher("110108198001010074").unwrap();
    let (status, scan) = c.api.post("/v1/qr/submit", json!({ "text": code })).await;
    assert_eq!(status, 200, "{scan}");
    let credential = scan["credential_id"].as_str().unwrap().to_owned();
    let (status, v) = c.visit_with(&credential, "MZ-CHOOSE", 1).await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["code"], "visit.insutype_required");
    assert_eq!(v["details"]["offered"], json!(["310", "390"]));
    let id = v["details"]["visit"].as_str().unwrap().to_owned();
    assert_eq!(
        c.count("2201"),
        0,
        "never registered under an insurance nobody chose"
    );
    // A type 1101 did not offer is refused and changes nothing.
    let (status, v) = c
        .api
        .post(
            &format!("/v1/visits/{id}/register"),
            json!({ "insutype": "320" }),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("sale.insutype_not_offered")),
        "{v}"
    );
    let (status, v) = c
        .api
        .post(
            &format!("/v1/visits/{id}/register"),
            json!({ "insutype": "390" }),
        )
        .await;
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("registered")),
        "{v}"
    );
    assert_eq!(v["insutype"], "390");
    let (status, v) = c
        .put(
            &format!("/v1/visits/{id}/details"),
            json!({ "items": lines(1) }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    c.api
        .post(&format!("/v1/visits/{id}/presettle"), json!({}))
        .await;
    let (status, v) = c
        .api
        .post(&format!("/v1/visits/{id}/confirm"), json!({}))
        .await;
    assert_eq!((status, v["state"].as_str()), (200, Some("settled")), "{v}");
    let ledger = c.sandbox.ledger();
    let s = ledger.effective().next().unwrap();
    assert_eq!(s.insutype, "390", "settled under the chosen insurance");
    c.close().await;
}

#[tokio::test]
async fn an_undo_the_platform_cannot_take_now_is_finished_by_the_forwarder() {
    let c = Clinic::start().await;
    let (_, v) = c.visit("MZ-LATER", 1).await;
    let id = id(&v);
    // The platform answers 503 to the next two 2205s: the undo waits, then runs.
    c.sandbox.inject(FaultRule {
        infno: "2205".into(),
        fault: Fault::HttpStatus {
            status: 503,
            commit: false,
        },
        times: Some(2),
        probability_permille: None,
        seed: 0,
    });
    let (status, v) = c
        .api
        .post(&format!("/v1/visits/{id}/cancel"), json!({}))
        .await;
    assert_eq!((status, v["state"].as_str()), (200, Some("undoing")), "{v}");
    assert!(v["visit"]["holds"].as_bool().unwrap(), "{v}");
    let v = c.wait(&id, "abandoned").await;
    assert_eq!(v["visit"]["holds"], false, "{v}");
    assert_eq!(c.count("2202"), 1);
    c.holds_nothing();
    c.close().await;
}

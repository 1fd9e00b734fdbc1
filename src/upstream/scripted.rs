//! A strict, scripted [`Platform`] for tests, in the spirit of the card crate's
//! `ScriptedTransport`: it is given the requests the code under test must send, in order, each
//! with the answer the platform gives, and it FAILS the test (panics) on a request it did not
//! expect, on a money-moving request sent through `call` instead of `prepare`/`send`, and — in
//! [`ScriptedPlatform::finish`] or on drop — when expected requests were never sent.
//!
//! Answers are the contract's public shapes (upstream.md), usually the JSON fixtures in
//! `fixtures/upstream/`, classified exactly as the HTTP client classifies a real answer; a lost
//! answer, an unreachable platform and a crash of the daemon mid-request are scripted too. With
//! [`ScriptedPlatform::recording_into`] it writes the audit table as the real client does
//! (request at `prepare`, answer at `send`), so crash recovery can be tested on it. No network,
//! no sleeping; compiled into the library so integration tests and benches can use it.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::client::{CallOptions, Exchange, Prepared};
use super::envelope::classify;
use super::error::UpstreamError;
use super::msgid::MsgId;
use super::msgid_source::MsgIdSource;
use super::platform::Platform;
use super::tx::evoucher::{EcIdentity, classify_ec};
use super::tx::query::{SettlementQuery, SettlementQueryInput};
use super::tx::statement::{FileAnswer, classify_file};
use crate::qr::evoucher::{BusinessType, EVoucherCode};
use crate::store::{AuditAnswer, AuditOutcome, AuditRequest, Store};

/// The infno under which `ec.query` appears in a script.
pub const EC_QUERY: &str = "ec.query";

/// Requests that must be prepared (audited) before they leave (upstream.md 冲正 rule 1).
const MONEY_MOVING: [&str; 6] = ["2102", "2103", "2207", "2208", "2304", "2305"];

/// What the scripted platform does with one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// This body comes back with HTTP 200 (an envelope, or an `ec.query` answer).
    Body(Value),
    /// The request left and no answer came: the outcome is unknown.
    Lost,
    /// No connection could be made: the request never left.
    Unreachable,
    /// The daemon stops while waiting: with `Some(body)` the answer reached the audit table
    /// first. The call never returns; [`ScriptedPlatform::crashed`] resolves instead.
    Crash(Option<Value>),
    /// The request left; its answer (this body) is held until the gate is notified, while the
    /// caller may give up. [`ScriptedPlatform::holding`] resolves once it is held.
    Held(Value, Arc<Notify>),
    /// A body that is not an envelope: the file itself, as 9102 answers. Only for requests sent
    /// through [`Platform::transfer`]; anything else receiving it fails the test.
    File(Vec<u8>),
}

impl Answer {
    /// A fixture of `fixtures/upstream/` (a whole answer body).
    pub fn fixture(name: &str) -> Answer {
        Answer::Body(fixture(name))
    }

    /// A success envelope around `output`.
    pub fn output(output: Value) -> Answer {
        Answer::Body(json!({ "infcode": 0, "err_msg": "", "output": output }))
    }

    /// A business refusal (`infcode=-1`): nothing happened.
    pub fn refused(err_msg: &str) -> Answer {
        Answer::Body(json!({ "infcode": -1, "err_msg": err_msg, "output": null }))
    }
}

/// A fixture of `fixtures/upstream/`, parsed.
pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/upstream")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A request as the platform received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub infno: String,
    /// `None` for `ec.query`.
    pub msgid: Option<String>,
    /// Through `prepare`/`send` (recorded before it left).
    pub prepared: bool,
    pub input: Value,
    pub insuplc_admdvs: String,
    pub password_proof: Option<String>,
}

type Check = Box<dyn Fn(&Sent) + Send + Sync>;

struct Step {
    infno: String,
    check: Option<Check>,
    answer: Answer,
}

#[derive(Default)]
struct State {
    steps: VecDeque<Step>,
    sent: Vec<Sent>,
    seq: u16,
}

/// The scripted platform; see the module documentation.
pub struct ScriptedPlatform {
    fixmedins_code: String,
    state: Mutex<State>,
    store: Option<Store>,
    /// The persistent msgid counter when recording (msgids stay unique across restarts).
    msgids: Option<MsgIdSource>,
    clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    signtype: String,
    crashed: Notify,
    held: Notify,
}

impl ScriptedPlatform {
    /// An empty script for institution `fixmedins_code` (the msgids' prefix), `signtype=MOCK`.
    pub fn new(fixmedins_code: &str) -> ScriptedPlatform {
        ScriptedPlatform {
            fixmedins_code: fixmedins_code.to_owned(),
            state: Mutex::new(State::default()),
            store: None,
            msgids: None,
            clock: Arc::new(Utc::now),
            signtype: "MOCK".to_owned(),
            crashed: Notify::new(),
            held: Notify::new(),
        }
    }

    /// Writes the audit table as the HTTP client does, with msgids from the store's
    /// persistent counter.
    pub fn recording_into(mut self, store: Store) -> Self {
        self.msgids = Some(
            MsgIdSource::new(store.clone(), &self.fixmedins_code, None).expect("msgid source"),
        );
        self.store = Some(store);
        self
    }

    /// The clock msgids are stamped with.
    pub fn with_clock(mut self, clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>) -> Self {
        self.clock = clock;
        self
    }

    /// Another `signtype` (it changes nothing about the PIN: `settle.skip_pin_consent` does).
    pub fn with_signtype(mut self, signtype: &str) -> Self {
        signtype.clone_into(&mut self.signtype);
        self
    }

    /// Expects `infno` next, answered with `answer`.
    pub fn expect(self, infno: &str, answer: Answer) -> Self {
        self.push(infno, None, answer)
    }

    /// Expects `infno` next; `check` asserts on the request (it panics to fail the test).
    pub fn expect_with(
        self,
        infno: &str,
        check: impl Fn(&Sent) + Send + Sync + 'static,
        answer: Answer,
    ) -> Self {
        self.push(infno, Some(Box::new(check)), answer)
    }

    fn push(self, infno: &str, check: Option<Check>, answer: Answer) -> Self {
        self.lock().steps.push_back(Step {
            infno: infno.to_owned(),
            check,
            answer,
        });
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every request received so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.lock().sent.clone()
    }

    /// The infnos received so far, in order.
    pub fn infnos(&self) -> Vec<String> {
        self.lock().sent.iter().map(|s| s.infno.clone()).collect()
    }

    /// Fails the test when expected requests were never sent; returns what was sent.
    pub fn finish(&self) -> Vec<Sent> {
        let mut state = self.lock();
        let left: Vec<String> = state.steps.drain(..).map(|s| s.infno).collect();
        assert!(left.is_empty(), "scripted platform: never sent: {left:?}");
        state.sent.clone()
    }

    /// Resolves once a [`Answer::Crash`] step was reached.
    pub async fn crashed(&self) {
        self.crashed.notified().await;
    }

    /// Resolves once a [`Answer::Held`] step holds its answer.
    pub async fn holding(&self) {
        self.held.notified().await;
    }

    /// Takes the next step, which must be for `sent.infno`, and checks the request.
    fn take(&self, sent: Sent) -> Answer {
        let mut state = self.lock();
        let Some(step) = state.steps.pop_front() else {
            drop(state);
            panic!(
                "scripted platform: unexpected request {}: the script is finished",
                sent.infno
            );
        };
        if step.infno != sent.infno {
            drop(state);
            panic!(
                "scripted platform: expected {}, got {} (input {})",
                step.infno, sent.infno, sent.input
            );
        }
        state.sent.push(sent.clone());
        drop(state);
        if let Some(check) = &step.check {
            check(&sent);
        }
        step.answer
    }

    /// The answer as the client would see it; writes the audit row's answer when recording.
    async fn answer(
        &self,
        prepared: Option<&Prepared>,
        answer: Answer,
    ) -> Result<Value, UpstreamError> {
        let body = match answer {
            Answer::Body(b) => Some(b),
            Answer::Crash(recorded) => {
                if let (Some(p), Some(b)) = (prepared, &recorded) {
                    self.audit_answer(
                        p,
                        Some(b),
                        &classify(200, b.to_string().as_bytes()).map(|_| ()),
                    )
                    .await;
                }
                self.crashed.notify_one();
                return std::future::pending().await;
            }
            Answer::Held(b, gate) => {
                self.held.notify_one();
                gate.notified().await;
                Some(b)
            }
            Answer::Lost => None,
            Answer::File(_) => {
                panic!("scripted platform: a file answer to a request not sent as a transfer")
            }
            Answer::Unreachable => {
                return Err(UpstreamError::Unreachable {
                    detail: "scripted: unreachable".into(),
                });
            }
        };
        let result = match &body {
            Some(b) => Ok(b.clone()),
            None => Err(UpstreamError::Timeout { after_ms: 30_000 }),
        };
        if let Some(p) = prepared {
            let checked = match &body {
                Some(b) => classify(200, b.to_string().as_bytes()).map(|_| ()),
                None => Err(UpstreamError::Timeout { after_ms: 30_000 }),
            };
            self.audit_answer(p, body.as_ref(), &checked).await;
        }
        result
    }

    async fn audit_answer(
        &self,
        p: &Prepared,
        body: Option<&Value>,
        result: &Result<(), UpstreamError>,
    ) {
        let Some(store) = &self.store else { return };
        let outcome = match result {
            Ok(()) => AuditOutcome::Ok,
            Err(UpstreamError::Business { .. }) => AuditOutcome::Business,
            Err(UpstreamError::Protocol { .. }) => AuditOutcome::Protocol,
            // No connection, a local failure before sending, a gateway's refusal: it never
            // reached the platform, and recovery must know that (never a 2601 for it).
            Err(e) if !e.outcome_unknown() => AuditOutcome::Unsent,
            Err(_) => AuditOutcome::Unknown,
        };
        store
            .record_answer(AuditAnswer {
                msgid: p.msgid.as_str().to_owned(),
                http_status: body.map(|_| 200),
                response: body.map(Value::to_string),
                outcome,
                answered_at_ms: (self.clock)().timestamp_millis(),
            })
            .await
            .expect("scripted platform: audit answer");
    }

    fn exchange(msgid: &MsgId, body: Value) -> Result<Exchange, UpstreamError> {
        Ok(Exchange {
            msgid: msgid.clone(),
            response: classify(200, body.to_string().as_bytes())?,
            elapsed: std::time::Duration::ZERO,
        })
    }

    fn sent_of(p: &Prepared, prepared: bool) -> Sent {
        Sent {
            infno: p.infno.clone(),
            msgid: Some(p.msgid.as_str().to_owned()),
            prepared,
            input: p.input().clone(),
            insuplc_admdvs: p.insuplc_admdvs().to_owned(),
            password_proof: p.password_proof().map(str::to_owned),
        }
    }

    async fn prepare_now(
        &self,
        infno: &str,
        input: Value,
        options: &CallOptions,
    ) -> Result<Prepared, UpstreamError> {
        let at = (self.clock)();
        let msgid = match &self.msgids {
            Some(source) => source.next(at).await.expect("scripted msgid"),
            None => {
                let seq = {
                    let mut state = self.lock();
                    state.seq = state.seq.wrapping_add(1) % 10_000;
                    state.seq
                };
                MsgId::new(&self.fixmedins_code, at, seq).expect("scripted msgid")
            }
        };
        let prepared = Prepared::resume(infno, msgid, at, &input, options)?;
        if let Some(store) = &self.store {
            let request =
                json!({ "infno": infno, "msgid": prepared.msgid.as_str(), "input": input });
            store
                .record_request(AuditRequest {
                    msgid: prepared.msgid.as_str().to_owned(),
                    infno: infno.to_owned(),
                    request: request.to_string(),
                    sent_at_ms: at.timestamp_millis(),
                })
                .await
                .expect("scripted platform: audit request");
        }
        Ok(prepared)
    }
}

impl Platform for ScriptedPlatform {
    fn call<'a>(
        &'a self,
        infno: &'a str,
        input: Value,
        options: &'a CallOptions,
    ) -> BoxFuture<'a, Result<Exchange, UpstreamError>> {
        Box::pin(async move {
            assert!(
                !MONEY_MOVING.contains(&infno),
                "scripted platform: {infno} moves money and was sent through call, not prepare/send"
            );
            let p = self.prepare_now(infno, input, options).await?;
            let answer = self.take(Self::sent_of(&p, false));
            let body = self.answer(Some(&p), answer).await?;
            Self::exchange(&p.msgid, body)
        })
    }

    fn prepare<'a>(
        &'a self,
        infno: &'a str,
        input: Value,
        options: &'a CallOptions,
    ) -> BoxFuture<'a, Result<Prepared, UpstreamError>> {
        Box::pin(self.prepare_now(infno, input, options))
    }

    fn send<'a>(
        &'a self,
        prepared: &'a Prepared,
    ) -> BoxFuture<'a, Result<Exchange, UpstreamError>> {
        Box::pin(async move {
            let answer = self.take(Self::sent_of(prepared, true));
            let body = self.answer(Some(prepared), answer).await?;
            Self::exchange(&prepared.msgid, body)
        })
    }

    fn ec_query<'a>(
        &'a self,
        code: &'a EVoucherCode,
        business: BusinessType,
    ) -> BoxFuture<'a, Result<EcIdentity, UpstreamError>> {
        Box::pin(async move {
            let sent = Sent {
                infno: EC_QUERY.to_owned(),
                msgid: None,
                prepared: false,
                input: json!({ "ecQrCode": code.as_str(), "businessType": format!("{business:?}") }),
                insuplc_admdvs: String::new(),
                password_proof: None,
            };
            let answer = self.take(sent);
            let body = self.answer(None, answer).await?;
            classify_ec(200, body.to_string().as_bytes())
        })
    }

    fn signtype(&self) -> &str {
        &self.signtype
    }

    /// Strict like the platform: the script must expect a `5203`, and the request must carry
    /// a `psn_no` and a `setl_id` (a test that queries by anything else fails).
    fn settlement_query<'a>(
        &'a self,
        input: &'a SettlementQueryInput,
        insuplc_admdvs: &'a str,
    ) -> BoxFuture<'a, Result<SettlementQuery, UpstreamError>> {
        assert!(
            !input.data.psn_no.is_empty() && !input.data.setl_id.is_empty(),
            "scripted platform: 5203 without psn_no and setl_id"
        );
        Box::pin(super::platform::settlement_query_via_call(
            self,
            input,
            insuplc_admdvs,
        ))
    }

    /// Like `call`; a scripted [`Answer::File`] comes back as the bare body, any other answer
    /// is sorted exactly as the client sorts a file request's answer.
    fn transfer<'a>(
        &'a self,
        infno: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<FileAnswer, UpstreamError>> {
        Box::pin(async move {
            let p = self
                .prepare_now(infno, input, &CallOptions::default())
                .await?;
            match self.take(Self::sent_of(&p, false)) {
                Answer::File(bytes) => {
                    let shown = json!({ "file_bytes": bytes.len() });
                    self.audit_answer(&p, Some(&shown), &Ok(())).await;
                    classify_file(200, &bytes)
                }
                answer => {
                    let body = self.answer(Some(&p), answer).await?;
                    classify_file(200, body.to_string().as_bytes())
                }
            }
        })
    }
}

impl Drop for ScriptedPlatform {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        let left: Vec<&str> = state.steps.iter().map(|s| s.infno.as_str()).collect();
        assert!(
            left.is_empty(),
            "scripted platform dropped with requests never sent: {left:?}"
        );
    }
}

#[cfg(test)]
mod tests;

//! The platform client: builds envelopes, signs them, records every request and answer in the
//! audit table, sends them over the [`Transport`] and keeps the sign-in session.
//!
//! Two ways to call. [`Client::call`] is for requests that move no money (1101, 2101, 2206,
//! 3201, …): it allocates a msgid, sends, and when the platform rejects the session it signs in
//! again and repeats the request once under a new msgid (the rejected one did nothing).
//! [`Client::prepare`] + [`Client::send`] are for money-moving requests: `prepare` allocates the
//! msgid and writes the full request to the audit table BEFORE anything leaves; `send` may be
//! repeated with the same [`Prepared`] (same msgid, so the platform answers a repeat with its
//! original answer) and never silently switches to a new msgid — the settlement engine decides.
//!
//! The session ([`session`](super::session)) signs in on first use, when the CST day changes and
//! when the platform rejects the `sign_no`. Logs carry infno, msgid, outcome and timings only;
//! bodies (which carry personal data) go to the audit table, never to the log.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::envelope::{Request, Response, Terminal, classify};
use super::error::UpstreamError;
use super::msgid::MsgId;
use super::msgid_source::MsgIdSource;
use super::session::{LinkStatus, Session, SessionState};
use super::signing::{Cainfo, RequestSigner, signed_message};
use super::tif::TifHeaders;
use super::transport::{HttpAnswer, Transport};
use super::tx::statement::{FileAnswer, classify_file};
use crate::secret::Secret;
use crate::store::{AuditAnswer, AuditOutcome, AuditRequest, Store, StoreError};

/// The client's clock: the platform's day and `inf_time` come from it.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Everything the client needs, built by `daemon::upstream` from the configuration.
pub struct ClientParts {
    pub transport: Transport,
    /// `base_url + path`.
    pub url: String,
    /// `base_url + path` of the infnos with their own path (`upstream.paths`: the file
    /// transfers 9101/9102 in some provinces).
    pub urls: BTreeMap<String, String>,
    /// How 9101 carries a file.
    pub file_in_encoding: super::tx::statement::InEncoding,
    pub ec_url: Option<String>,
    /// Who asks `ec.query` (institution, operator, device).
    pub ec_who: super::tx::evoucher::EcClient,
    pub terminal: Terminal,
    pub signer: RequestSigner,
    /// `x-tif-paasid` and the paas token.
    pub tif: Option<(String, Secret)>,
    pub msgids: MsgIdSource,
    pub store: Store,
    pub signin_rejected_prefix: String,
    /// `opter_no`, `mac`, `ip` of the 9001 input.
    pub sign_in_identity: (String, String, String),
    pub clock: Clock,
}

/// A request with its msgid allocated and its body recorded, ready to (re)send.
#[derive(Clone)]
pub struct Prepared {
    pub infno: String,
    pub msgid: MsgId,
    /// When it was first built: `inf_time` of every attempt.
    pub at: DateTime<Utc>,
    insuplc_admdvs: String,
    pwd: Option<String>,
    input: Value,
}

impl Prepared {
    /// A request recorded earlier (its audit row exists), to be sent again under the same
    /// msgid — e.g. a 2601 still unanswered when the daemon stopped. `input` must be the same
    /// input, rebuilt from the sale.
    pub fn resume<I: Serialize>(
        infno: &str,
        msgid: MsgId,
        at: DateTime<Utc>,
        input: &I,
        options: &CallOptions,
    ) -> Result<Prepared, UpstreamError> {
        Ok(Prepared {
            infno: infno.to_owned(),
            msgid,
            at,
            insuplc_admdvs: options.insuplc_admdvs.clone().unwrap_or_default(),
            pwd: options.password_proof.clone(),
            input: serde_json::to_value(input).map_err(|e| UpstreamError::NotSent {
                detail: format!("input does not serialise: {e}"),
            })?,
        })
    }
}

impl Prepared {
    /// The input node, as recorded.
    pub fn input(&self) -> &Value {
        &self.input
    }

    /// The envelope's `insuplc_admdvs`.
    pub fn insuplc_admdvs(&self) -> &str {
        &self.insuplc_admdvs
    }

    /// Password material sent in `cainfo` under a configured consent practice, if any (none:
    /// `upstream.consent = "none"` is the only practice, see `settle/consent.rs`).
    pub fn password_proof(&self) -> Option<&str> {
        self.pwd.as_deref()
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("infno", &self.infno)
            .field("msgid", &self.msgid.as_str())
            .finish_non_exhaustive()
    }
}

/// Per-request envelope options.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// The patient's 参保地; required when the input carries `psn_no`.
    pub insuplc_admdvs: Option<String>,
    /// Password material for `cainfo` (`pwd`) under a configured consent practice
    /// (`upstream.consent`); always `None` with `"none"`, the only practice this build has.
    pub password_proof: Option<String>,
}

/// A successful exchange.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub msgid: MsgId,
    pub response: Response,
    pub elapsed: Duration,
}

impl Exchange {
    /// Types the output (a mismatch is a protocol error).
    pub fn output<T: DeserializeOwned>(&self) -> Result<T, UpstreamError> {
        self.response.output_as()
    }
}

/// How a forced sign-in went, in time.
#[derive(Debug, Clone, Copy)]
pub struct SignInTiming {
    /// Request sent to answer read.
    pub round_trip: Duration,
    /// The local clock halfway through the round trip.
    pub local_midpoint: DateTime<Utc>,
    /// The platform's clock in its answer (`respond_time`, else `sign_time`), when present.
    pub platform_time: Option<DateTime<Utc>>,
}

/// The platform client. Cheap to share behind an `Arc`.
pub struct Client {
    parts: ClientParts,
    session: Session,
    link: Mutex<LinkStatus>,
}

impl Client {
    pub fn new(parts: ClientParts) -> Client {
        Client {
            parts,
            session: Session::default(),
            link: Mutex::new(LinkStatus::default()),
        }
    }

    /// Sends a request that moves no money, signing in first when needed; a rejected session
    /// is renewed and the request repeated once under a new msgid.
    ///
    /// Its audit row is queued before the request leaves and commits while it is on the wire
    /// (such a request needs no proof that it was recorded first: nothing is reversed or undone
    /// from it); the answer lands on the row once both are in.
    pub async fn call<I: Serialize>(
        &self,
        infno: &str,
        input: &I,
        options: &CallOptions,
    ) -> Result<Exchange, UpstreamError> {
        match self.call_once(infno, input, options).await {
            Err(e) if self.is_sign_in_rejection(&e) => self.call_once(infno, input, options).await,
            other => other,
        }
    }

    async fn call_once<I: Serialize>(
        &self,
        infno: &str,
        input: &I,
        options: &CallOptions,
    ) -> Result<Exchange, UpstreamError> {
        let (prepared, row) = self.unrecorded(infno, input, options).await?;
        let recorded = self
            .parts
            .store
            .queue_request(row)
            .await
            .map_err(not_sent)?;
        let sent = self.send_as(&prepared, AnswerRow::Queued).await;
        if let Err(e) = recorded.await {
            tracing::warn!(infno, msgid = %prepared.msgid, error = %e, "the request's audit row was not written");
        }
        sent
    }

    /// The request of `infno` under a new msgid, and its audit row (rendered as it leaves
    /// now), not recorded yet.
    async fn unrecorded<I: Serialize>(
        &self,
        infno: &str,
        input: &I,
        options: &CallOptions,
    ) -> Result<(Prepared, AuditRequest), UpstreamError> {
        let input = serde_json::to_value(input).map_err(|e| UpstreamError::NotSent {
            detail: format!("input does not serialise: {e}"),
        })?;
        let at = (self.parts.clock)();
        let msgid = self
            .parts
            .msgids
            .next(at)
            .await
            .map_err(|e| UpstreamError::NotSent {
                detail: format!("msgid: {e}"),
            })?;
        // A full second makes the source wait for the next one: `inf_time` then follows the
        // msgid's stamp, never the clock reading from before the wait.
        let at = at.max(msgid.timestamp());
        let prepared = Prepared {
            infno: infno.to_owned(),
            msgid,
            at,
            insuplc_admdvs: options.insuplc_admdvs.clone().unwrap_or_default(),
            pwd: options.password_proof.clone(),
            input,
        };
        let sign_no = self.session.sign_no().unwrap_or_default();
        let body = self.render(&prepared, &sign_no)?;
        let row = AuditRequest {
            msgid: prepared.msgid.as_str().to_owned(),
            infno: infno.to_owned(),
            request: String::from_utf8_lossy(&body).into_owned(),
            sent_at_ms: at.timestamp_millis(),
        };
        Ok((prepared, row))
    }

    /// Allocates a msgid and records the request in the audit table; nothing is sent.
    pub async fn prepare<I: Serialize>(
        &self,
        infno: &str,
        input: &I,
        options: &CallOptions,
    ) -> Result<Prepared, UpstreamError> {
        let (prepared, row) = self.unrecorded(infno, input, options).await?;
        self.parts
            .store
            .record_request(row)
            .await
            .map_err(not_sent)?;
        Ok(prepared)
    }

    /// Sends a prepared request (again). Signs in first when there is no session for today.
    /// A rejected session is renewed, and the rejection returned: the caller prepares anew.
    pub async fn send(&self, prepared: &Prepared) -> Result<Exchange, UpstreamError> {
        self.send_as(prepared, AnswerRow::Committed).await
    }

    /// [`Client::send`], the answer's audit row committed before it returns or only queued.
    async fn send_as(
        &self,
        prepared: &Prepared,
        answer_row: AnswerRow,
    ) -> Result<Exchange, UpstreamError> {
        let sign_no = if prepared.infno == super::tx::sign::SIGN_IN {
            String::new()
        } else {
            self.ensure_signed_in()
                .await
                .map_err(|e| sign_in_failed(&prepared.infno, e))?
        };
        let result = self.exchange(prepared, &sign_no, answer_row).await;
        if let Err(e) = &result {
            if self.is_sign_in_rejection(e) {
                tracing::warn!(infno = %prepared.infno, "the platform rejected the sign-in; signing in again");
                self.session.invalidate(&sign_no).await;
                self.ensure_signed_in().await?;
            }
        }
        result
    }

    /// True when `e` is the platform refusing the session (configured `err_msg` prefix).
    pub fn is_sign_in_rejection(&self, e: &UpstreamError) -> bool {
        matches!(e, UpstreamError::Business { err_msg, .. }
            if err_msg.starts_with(&self.parts.signin_rejected_prefix))
    }

    /// The current session number, signing in when there is none for today.
    pub async fn ensure_signed_in(&self) -> Result<String, UpstreamError> {
        let today = super::time::cst_day((self.parts.clock)());
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref().filter(|s| s.day == today) {
            return Ok(s.sign_no.clone());
        }
        let (state, _) = self.sign_in_now().await?;
        let sign_no = state.sign_no.clone();
        *guard = Some(state);
        self.session.publish(guard.as_ref());
        Ok(sign_no)
    }

    /// 9001 now, whatever the session; returns the session and the platform's clock reading
    /// (`respond_time`, else `sign_time`) when it gave one.
    async fn sign_in_now(&self) -> Result<(SessionState, Option<DateTime<Utc>>), UpstreamError> {
        use super::tx::sign::{SIGN_IN, SignIn, SignInInput, SignInOutput};
        let (opter_no, mac, ip) = self.parts.sign_in_identity.clone();
        let input = SignInInput {
            sign_in: SignIn { opter_no, mac, ip },
        };
        let prepared = self
            .prepare(SIGN_IN, &input, &CallOptions::default())
            .await?;
        let exchange = self.exchange(&prepared, "", AnswerRow::Committed).await?;
        let out: SignInOutput = exchange.output()?;
        let sign_no = out.sign_no()?.to_owned();
        let platform_time = exchange
            .response
            .respond_time_utc()
            .or_else(|| out.sign_time());
        let at = (self.parts.clock)();
        tracing::info!(
            elapsed_ms = exchange.elapsed.as_millis() as u64,
            "signed in to the platform (9001)"
        );
        self.link.lock().expect("link lock").signed_in_at = Some(at);
        let state = SessionState {
            sign_no,
            day: super::time::cst_day(at),
        };
        Ok((state, platform_time))
    }

    /// Forces a fresh sign-in (operator `upstream ping`); returns the round trip.
    pub async fn sign_in(&self) -> Result<Duration, UpstreamError> {
        self.sign_in_timed().await.map(|t| t.round_trip)
    }

    /// [`Client::sign_in`] that also reports the platform's clock, for `medsettle doctor`.
    pub async fn sign_in_timed(&self) -> Result<SignInTiming, UpstreamError> {
        let sent_at = (self.parts.clock)();
        let started = std::time::Instant::now();
        let mut guard = self.session.lock().await;
        let (state, platform_time) = self.sign_in_now().await?;
        *guard = Some(state);
        self.session.publish(guard.as_ref());
        let round_trip = started.elapsed();
        Ok(SignInTiming {
            round_trip,
            local_midpoint: sent_at
                + chrono::TimeDelta::from_std(round_trip / 2).unwrap_or_default(),
            platform_time,
        })
    }

    /// 9002 for the current session, if any (at shutdown). The session is dropped either way.
    pub async fn sign_out(&self) -> Result<(), UpstreamError> {
        use super::tx::sign::{SIGN_OUT, SignOut, SignOutInput};
        let mut guard = self.session.lock().await;
        let Some(state) = guard.take() else {
            return Ok(());
        };
        self.session.publish(None);
        let input = SignOutInput {
            sign_out: SignOut {
                sign_no: state.sign_no.clone(),
                opter_no: self.parts.sign_in_identity.0.clone(),
            },
        };
        let prepared = self
            .prepare(SIGN_OUT, &input, &CallOptions::default())
            .await?;
        self.exchange(&prepared, &state.sign_no, AnswerRow::Committed)
            .await
            .map(|_| ())
    }

    /// The link as `/v1/status` shows it.
    pub fn link_status(&self) -> LinkStatus {
        let mut s = self.link.lock().expect("link lock").clone();
        s.signed_in = self.session.sign_no().is_some();
        s
    }

    /// The envelope's `signtype` (`MOCK`: no signature; it does not skip the patient's PIN).
    pub fn signtype(&self) -> &'static str {
        self.parts.signer.signtype()
    }

    /// How 9101 carries a file (`[upstream] file_in_encoding`).
    pub fn file_in_encoding(&self) -> super::tx::statement::InEncoding {
        self.parts.file_in_encoding
    }

    /// The configured e-voucher service URL.
    pub fn ec_url(&self) -> Option<&str> {
        self.parts.ec_url.as_deref()
    }

    /// Who asks `ec.query`.
    pub fn ec_who(&self) -> &super::tx::evoucher::EcClient {
        &self.parts.ec_who
    }

    /// The transport, for the e-voucher service (same TLS settings and pool).
    pub fn transport(&self) -> &Transport {
        &self.parts.transport
    }

    /// The terminal's envelope fields.
    pub fn terminal(&self) -> &Terminal {
        &self.parts.terminal
    }

    /// The JSON body of `prepared` under `sign_no`, signed.
    fn render(&self, prepared: &Prepared, sign_no: &str) -> Result<Vec<u8>, UpstreamError> {
        build_body(
            &self.parts.terminal,
            &self.parts.signer,
            &Envelope {
                infno: &prepared.infno,
                msgid: &prepared.msgid,
                at: prepared.at,
                sign_no,
                insuplc_admdvs: &prepared.insuplc_admdvs,
                pwd: prepared.pwd.as_deref(),
            },
            &prepared.input,
        )
    }

    /// One attempt: render, send, classify, audit the answer.
    async fn exchange(
        &self,
        prepared: &Prepared,
        sign_no: &str,
        answer_row: AnswerRow,
    ) -> Result<Exchange, UpstreamError> {
        let answer = self.post(prepared, sign_no).await;
        let result = match &answer {
            Ok(HttpAnswer { status, body, .. }) => classify(*status, body),
            Err(e) => Err(e.clone()),
        };
        self.record(
            prepared,
            &answer,
            &result.as_ref().map(|_| ()).map_err(Clone::clone),
            answer_row,
        )
        .await;
        let elapsed = answer.as_ref().map(|a| a.elapsed).unwrap_or_default();
        result.map(|response| Exchange {
            msgid: prepared.msgid.clone(),
            response,
            elapsed,
        })
    }

    /// Renders and posts one attempt to the URL of its infno.
    async fn post(&self, prepared: &Prepared, sign_no: &str) -> Result<HttpAnswer, UpstreamError> {
        let body = self.render(prepared, sign_no)?;
        let headers = self.gateway_headers();
        let url = self
            .parts
            .urls
            .get(&prepared.infno)
            .unwrap_or(&self.parts.url);
        self.parts.transport.post_json(url, &headers, body).await
    }

    /// A file transfer (9101, 9102): moves no money, goes to the infno's own path when it has
    /// one, and an answer that is the file itself (9102) comes back as bytes instead of being
    /// read as an envelope. A rejected session is renewed and the request repeated once under
    /// a new msgid, as for [`Client::call`].
    pub async fn transfer(&self, infno: &str, input: &Value) -> Result<FileAnswer, UpstreamError> {
        match self.transfer_once(infno, input).await {
            Err(e) if self.is_sign_in_rejection(&e) => self.transfer_once(infno, input).await,
            other => other,
        }
    }

    async fn transfer_once(&self, infno: &str, input: &Value) -> Result<FileAnswer, UpstreamError> {
        let (prepared, row) = self
            .unrecorded(infno, input, &CallOptions::default())
            .await?;
        let recorded = self
            .parts
            .store
            .queue_request(row)
            .await
            .map_err(not_sent)?;
        let sign_no = self
            .ensure_signed_in()
            .await
            .map_err(|e| sign_in_failed(infno, e))?;
        let answer = self.post(&prepared, &sign_no).await;
        let result = match &answer {
            Ok(HttpAnswer { status, body, .. }) => classify_file(*status, body),
            Err(e) => Err(e.clone()),
        };
        self.record(
            &prepared,
            &answer,
            &result.as_ref().map(|_| ()).map_err(Clone::clone),
            AnswerRow::Committed,
        )
        .await;
        if let Err(e) = &result
            && self.is_sign_in_rejection(e)
        {
            self.session.invalidate(&sign_no).await;
        }
        if let Err(e) = recorded.await {
            tracing::warn!(infno, msgid = %prepared.msgid, error = %e, "the request's audit row was not written");
        }
        result
    }

    /// The gateway (`x-tif-*`) headers for one request, empty when not configured.
    pub fn gateway_headers(&self) -> Vec<(&'static str, String)> {
        let Some((paasid, token)) = &self.parts.tif else {
            return Vec::new();
        };
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let h = TifHeaders::sign(
            paasid,
            token.expose(),
            (self.parts.clock)().timestamp(),
            &nonce,
        );
        h.pairs()
            .into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect()
    }

    /// Writes the answer to the audit table, logs the outcome (no bodies) and updates the link.
    async fn record(
        &self,
        prepared: &Prepared,
        answer: &Result<HttpAnswer, UpstreamError>,
        result: &Result<(), UpstreamError>,
        answer_row: AnswerRow,
    ) {
        let outcome = match result {
            Ok(_) => AuditOutcome::Ok,
            Err(UpstreamError::Business { .. }) => AuditOutcome::Business,
            Err(UpstreamError::Protocol { .. }) => AuditOutcome::Protocol,
            // No connection, a local failure before sending, a gateway's refusal: it never
            // reached the platform, and recovery must know that (never a 2601 for it).
            Err(e) if !e.outcome_unknown() => AuditOutcome::Unsent,
            Err(_) => AuditOutcome::Unknown,
        };
        let (http_status, response) = match answer {
            Ok(a) => (
                Some(a.status),
                Some(String::from_utf8_lossy(&a.body).into_owned()),
            ),
            Err(_) => (None, None),
        };
        let at = (self.parts.clock)();
        let row = AuditAnswer {
            msgid: prepared.msgid.as_str().to_owned(),
            http_status,
            response,
            outcome,
            answered_at_ms: at.timestamp_millis(),
        };
        let failed = |msgid: &str, e: &crate::store::StoreError| {
            tracing::error!(msgid, error = %e, "could not record the platform's answer");
        };
        match answer_row {
            AnswerRow::Committed => {
                if let Err(e) = self.parts.store.record_answer(row).await {
                    failed(prepared.msgid.as_str(), &e);
                }
            }
            AnswerRow::Queued => match self.parts.store.queue_answer(row).await {
                Ok(committed) => {
                    let msgid = prepared.msgid.as_str().to_owned();
                    tokio::spawn(async move {
                        if let Err(e) = committed.await {
                            failed(&msgid, &e);
                        }
                    });
                }
                Err(e) => failed(prepared.msgid.as_str(), &e),
            },
        }
        let took = answer.as_ref().ok().map(|a| a.elapsed);
        crate::telemetry::ops::ops().upstream(&prepared.infno, outcome.as_str(), took);
        let elapsed_ms = answer
            .as_ref()
            .map(|a| a.elapsed.as_millis() as u64)
            .unwrap_or(0);
        let mut link = self.link.lock().expect("link lock");
        match result {
            Ok(_) | Err(UpstreamError::Business { .. }) => {
                tracing::info!(infno = %prepared.infno, msgid = %prepared.msgid.as_str(), ?outcome, elapsed_ms, "platform answered");
                link.last_answer_at = Some(at);
                link.last_rtt_ms = Some(elapsed_ms);
                link.reachable = true;
            }
            Err(e) => {
                tracing::warn!(infno = %prepared.infno, msgid = %prepared.msgid.as_str(), ?outcome, error = %e, "platform exchange failed");
                link.last_error = Some((crate::error::UserFacing::code(e).to_owned(), at));
                link.reachable = !matches!(
                    e,
                    UpstreamError::Unreachable { .. } | UpstreamError::Timeout { .. }
                );
            }
        }
    }
}

/// Whether an exchange waits for its answer's audit row to commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnswerRow {
    /// Committed before the answer is returned: money-moving requests (upstream.md: store the
    /// whole answer first) and sign-in.
    Committed,
    /// Queued to the writer, committed with the next write the caller makes (the sale step
    /// the answer leads to) or on its own soon after: requests that move no money.
    Queued,
}

/// The per-request envelope fields of one attempt.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub infno: &'a str,
    pub msgid: &'a MsgId,
    pub at: DateTime<Utc>,
    pub sign_no: &'a str,
    pub insuplc_admdvs: &'a str,
    /// Password material for `cainfo` (a configured consent practice only).
    pub pwd: Option<&'a str>,
}

/// The signed JSON body of a request: envelope, `signtype`, `cainfo` (the signature, and
/// password material only under a configured consent practice) and input. Pure (the benchmark measures it alone).
pub fn build_body(
    terminal: &Terminal,
    signer: &RequestSigner,
    envelope: &Envelope<'_>,
    input: &Value,
) -> Result<Vec<u8>, UpstreamError> {
    let mut request = Request::new(
        terminal,
        envelope.infno,
        envelope.msgid.clone(),
        envelope.at,
        envelope.sign_no,
        input,
    )
    .with_insuplc_admdvs(envelope.insuplc_admdvs);
    signer.signtype().clone_into(&mut request.signtype);
    let message = signed_message(
        &request.infno,
        request.msgid.as_str(),
        &request.inf_time,
        input,
    );
    let cainfo = Cainfo {
        sig: signer.sign(&message),
        pwd: envelope.pwd.map(str::to_owned),
    };
    request = request.with_cainfo(&cainfo.render());
    serde_json::to_vec(&request).map_err(|e| UpstreamError::NotSent {
        detail: format!("envelope does not serialise: {e}"),
    })
}

/// A sign-in that failed before `infno` was sent: `infno` itself never left, so a 9001 whose
/// own outcome is unknown (a timeout, a 5xx, an unreadable answer) must not make `infno`'s
/// outcome unknown — that becomes [`UpstreamError::NotSent`]. An unreachable platform, a
/// gateway refusal or the platform refusing the sign-in are passed on as they are: each already
/// says nothing happened.
fn sign_in_failed(infno: &str, e: UpstreamError) -> UpstreamError {
    match e {
        other if other.outcome_unknown() => UpstreamError::NotSent {
            detail: format!(
                "sign-in (9001) failed before {infno} was sent: {}",
                crate::error::UserFacing::code(&other)
            ),
        },
        other => other,
    }
}

fn not_sent(e: StoreError) -> UpstreamError {
    UpstreamError::NotSent {
        detail: format!("audit: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::UnknownCause;

    #[test]
    fn a_failed_sign_in_never_makes_the_request_behind_it_unknown() {
        for e in [
            UpstreamError::Timeout { after_ms: 1_000 },
            UpstreamError::OutcomeUnknown {
                cause: UnknownCause::ServerError(503),
            },
            UpstreamError::Protocol {
                detail: "output.signinoutb: truncated".into(),
            },
        ] {
            let mapped = sign_in_failed("2102", e);
            assert!(
                matches!(&mapped, UpstreamError::NotSent { detail } if detail.contains("2102")),
                "{mapped:?}"
            );
            assert!(!mapped.outcome_unknown() && mapped.is_retryable());
        }
        // What already says "nothing happened" is passed on as it is.
        for e in [
            UpstreamError::Unreachable {
                detail: "refused".into(),
            },
            UpstreamError::Gateway { status: 401 },
            UpstreamError::business(-1, "签名验证失败"),
        ] {
            assert_eq!(sign_in_failed("2102", e.clone()), e);
        }
    }
}

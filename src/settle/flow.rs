//! The money-moving flows of a sale, shared by the cashier's calls, the forwarder and crash
//! recovery. The rule everywhere (upstream.md 冲正 rules, offline.md rule 1): the request is
//! recorded (msgid + full body in the audit table) and the sale moved to `settling` /
//! `cancelling` / `reversing` with that msgid BEFORE anything is sent; an answer that does not
//! prove what happened moves the sale to `unknown`, whose only way out is 2601; after a
//! reversal the sale settles afresh under a new msgid, never the same sale twice.

use std::sync::Arc;

use super::engine::{Engine, failure};
use super::error::SaleError;
use super::sale::{Attempt, Consent, Credential, Person, Sale, Split};
use super::state::{SaleEvent, SaleState};
use crate::store::AuditOutcome;
use crate::upstream::calls::{cancellation, settlement};
use crate::upstream::client::{CallOptions, Exchange, Prepared};
use crate::upstream::platform::Platform;
use crate::upstream::tx::fee::FeeDetail;
use crate::upstream::tx::identify;
use crate::upstream::tx::person::PersonQueryInput;
use crate::upstream::tx::pharmacy::{FeeNode, PharmacyInput, PharmacySale};
use crate::upstream::tx::reverse::{Cancel, CancelInput, ReversalInput};
use crate::upstream::tx::settle::Settlement;
use crate::upstream::{MsgId, UpstreamError, time};

impl Engine {
    pub(super) fn platform(&self) -> Result<Arc<dyn Platform>, SaleError> {
        self.platform.clone().ok_or(SaleError::NoPlatform)
    }

    /// 1101 for the sale's credential.
    pub(super) async fn identify(
        &self,
        client: &dyn Platform,
        sale: &Sale,
    ) -> Result<Person, UpstreamError> {
        let now = self.now();
        let (query, region): (PersonQueryInput, Option<String>) = match &sale.credential {
            Credential::Card {
                card_no,
                card_sn,
                id_number,
                name,
            } => {
                let mut q = identify::for_id_number(id_number, name, now);
                q.data.mdtrt_cert_type = crate::upstream::tx::person::CertType::SocialSecurityCard;
                q.data.mdtrt_cert_no.clone_from(card_no);
                q.data.card_sn.clone_from(card_sn);
                if id_number.is_empty() {
                    q.data.psn_cert_type.clear();
                }
                (q, None)
            }
            Credential::Essc {
                id_number, name, ..
            } => (identify::for_id_number(id_number, name, now), None),
            Credential::EVoucher {
                ec_token, insu_org, ..
            } => (
                identify::for_ec_token(ec_token, now),
                Some(insu_org.clone()),
            ),
        };
        let options = CallOptions {
            insuplc_admdvs: region,
            password_proof: None,
        };
        let info = client.person_info(&query, &options).await?;
        let psn_no = info
            .baseinfo
            .psn_no
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| UpstreamError::Protocol {
                detail: "1101 answer without baseinfo.psn_no".into(),
            })?;
        // The active insurance: the first in force (psn_insu_stas 1), else the first.
        let insu = info
            .insuinfo
            .iter()
            .find(|i| i.psn_insu_stas.as_deref() == Some("1"))
            .or(info.insuinfo.first())
            .ok_or_else(|| UpstreamError::Protocol {
                detail: "1101 answer without insuinfo".into(),
            })?;
        Ok(Person {
            psn_no,
            insuplc_admdvs: insu.insuplc_admdvs.clone().unwrap_or_default(),
            insutype: insu.insutype.clone().unwrap_or_else(|| "310".into()),
            balance: insu.balc,
        })
    }

    /// The 2101/2102 input of the sale (`invono` set for 2102).
    fn pharmacy_input(
        &self,
        sale: &Sale,
        invono: Option<&str>,
    ) -> Result<PharmacyInput, SaleError> {
        let person = sale.person.as_ref().ok_or(SaleError::WrongState {
            state: sale.state,
            action: "settle before the person is identified",
        })?;
        let begntime = time::format_inf_time(
            chrono::DateTime::from_timestamp_millis(sale.created_at_ms)
                .unwrap_or_else(|| self.now()),
        );
        let lines = sale
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| FeeDetail {
                feedetl_sn: format!("{}", i + 1),
                psn_no: person.psn_no.clone(),
                chrg_bchno: sale.chrg_bchno.clone(),
                fee_ocur_time: begntime.clone(),
                med_list_codg: it.code.clone(),
                medins_list_codg: it.local_code.clone(),
                det_item_fee_sumamt: it.amount,
                cnt: it.cnt,
                pric: it.pric,
                ..FeeDetail::default()
            })
            .collect();
        let input = PharmacyInput::presettle(
            PharmacySale {
                psn_no: person.psn_no.clone(),
                mdtrt_cert_type: sale.credential.cert_type(),
                mdtrt_cert_no: sale.credential.cert_no().to_owned(),
                begntime,
                medfee_sumamt: sale.amount,
                ipt_otp_no: sale.chrg_bchno.clone(),
                atddr_no: String::new(),
                dr_name: String::new(),
                fixmedins_code: self.terminal.fixmedins_code.clone(),
                fixmedins_name: self.terminal.fixmedins_name.clone(),
                insutype: person.insutype.clone(),
                med_type: self.config.med_type.clone(),
                acct_used_flag: sale.use_account,
                psn_setlway: self.config.psn_setlway.clone(),
                chrg_bchno: sale.chrg_bchno.clone(),
                invono: None,
            },
            lines,
            FeeNode::Feedetail,
        )
        .map_err(|e| SaleError::BadRequest(e.to_string()))?;
        Ok(match invono {
            Some(inv) => input.into_settle(inv),
            None => input,
        })
    }

    /// 2101: the estimate.
    pub(super) async fn estimate(
        &self,
        client: &dyn Platform,
        sale: &Sale,
    ) -> Result<Split, UpstreamError> {
        let input = self
            .pharmacy_input(sale, None)
            .map_err(|e| UpstreamError::NotSent {
                detail: e.to_string(),
            })?;
        let region = sale
            .person
            .as_ref()
            .map(|p| p.insuplc_admdvs.clone())
            .unwrap_or_default();
        let s = client.presettle_pharmacy(&input, &region).await?;
        Ok(Split::from_settlement(&s, &self.today()))
    }

    pub(super) fn today(&self) -> String {
        time::format_date(time::cst_day(self.now()))
    }

    fn options(&self, sale: &Sale) -> CallOptions {
        CallOptions {
            insuplc_admdvs: sale.person.as_ref().map(|p| p.insuplc_admdvs.clone()),
            password_proof: match &sale.consent {
                Some(Consent::Pin { proof }) => Some(proof.clone()),
                _ => None,
            },
        }
    }

    /// Settles a sale now (lock held): `confirmed`, `queued` (with person and estimate filled
    /// in by the caller) or `reversed`. Ends `settled`, `rejected`, or — when the outcome is
    /// unknown — `reversed` after an inline 2601 (or `unknown`/`reversing` for the forwarder).
    pub(super) async fn settle_now(&self, sale: &mut Sale) -> Result<(), SaleError> {
        let client = self.platform()?;
        let event = match sale.state {
            SaleState::Reversed => SaleEvent::Retry,
            _ => SaleEvent::Send,
        };
        // Fail before recording anything when the move is not allowed.
        sale.state.next(event).map_err(|e| SaleError::WrongState {
            state: e.from,
            action: "settle",
        })?;
        let input = self.pharmacy_input(sale, Some(&format!("INV{}", sale.chrg_bchno)))?;
        let prepared = client
            .prepare_input(input.infno(), &input, &self.options(sale))
            .await
            .map_err(SaleError::Upstream)?;
        let attempt = Attempt {
            msgid: prepared.msgid.as_str().to_owned(),
            infno: prepared.infno.clone(),
            at_ms: prepared.at.timestamp_millis(),
        };
        let detail = serde_json::json!({ "msgid": attempt.msgid, "infno": attempt.infno });
        self.transition(sale, event, detail, None, |s| {
            s.tries += 1;
            s.attempt = Some(attempt);
        })
        .await?;
        let result = client.send(&prepared).await;
        self.settle_answer(sale, result).await
    }

    /// Applies the answer to a 2102 (`settling`).
    async fn settle_answer(
        &self,
        sale: &mut Sale,
        result: Result<Exchange, UpstreamError>,
    ) -> Result<(), SaleError> {
        let checked = result.and_then(|x| settlement(&x));
        self.apply_settlement(sale, checked).await
    }

    async fn apply_settlement(
        &self,
        sale: &mut Sale,
        checked: Result<Settlement, UpstreamError>,
    ) -> Result<(), SaleError> {
        match checked {
            Ok(s) => {
                let split = Split::from_settlement(&s, &self.today());
                let detail = serde_json::json!({ "setl_id": split.setl_id, "cash": split.cash });
                self.transition(sale, SaleEvent::Settled, detail, None, |x| {
                    x.settlement = Some(split);
                    x.last_error = None;
                })
                .await
            }
            Err(e @ UpstreamError::Business { .. }) => {
                self.record_failure(sale, SaleEvent::Refused, &e, serde_json::Value::Null, false)
                    .await?;
                Err(SaleError::Upstream(e))
            }
            Err(e) => {
                // Anything else proves nothing: the platform may have settled. Reverse it.
                self.record_failure(sale, SaleEvent::Lost, &e, serde_json::Value::Null, false)
                    .await?;
                self.reverse(sale).await
            }
        }
    }

    /// 2601 for the sale's request in doubt (`unknown` → `reversing` → `reversed`, or back to
    /// `settled` for a reversed cancellation). Retried under the same msgid until answered.
    pub(super) async fn reverse(&self, sale: &mut Sale) -> Result<(), SaleError> {
        let client = self.platform()?;
        let attempt = sale.attempt.clone().ok_or(SaleError::WrongState {
            state: sale.state,
            action: "reverse without a recorded request",
        })?;
        let psn_no = sale
            .person
            .as_ref()
            .map(|p| p.psn_no.clone())
            .unwrap_or_default();
        let omsgid =
            MsgId::parse(&attempt.msgid).map_err(|e| SaleError::BadRequest(e.to_string()))?;
        let input =
            ReversalInput::of(&psn_no, omsgid, &attempt.infno).ok_or(SaleError::WrongState {
                state: sale.state,
                action: "reverse a request that moves no money",
            })?;
        let options = CallOptions {
            insuplc_admdvs: sale.person.as_ref().map(|p| p.insuplc_admdvs.clone()),
            password_proof: None,
        };
        let prepared = match (&sale.state, &sale.reversal) {
            (SaleState::Reversing, Some(r)) => {
                let msgid =
                    MsgId::parse(&r.msgid).map_err(|e| SaleError::BadRequest(e.to_string()))?;
                let at =
                    chrono::DateTime::from_timestamp_millis(r.at_ms).unwrap_or_else(|| self.now());
                Prepared::resume(&r.infno, msgid, at, &input, &options)
                    .map_err(SaleError::Upstream)?
            }
            (SaleState::Unknown, _) => {
                let p = client
                    .prepare_input(crate::upstream::tx::reverse::REVERSAL, &input, &options)
                    .await
                    .map_err(SaleError::Upstream)?;
                let r = Attempt {
                    msgid: p.msgid.as_str().to_owned(),
                    infno: p.infno.clone(),
                    at_ms: p.at.timestamp_millis(),
                };
                let detail = serde_json::json!({ "msgid": r.msgid, "omsgid": attempt.msgid });
                self.transition(sale, SaleEvent::Reverse, detail, None, |s| {
                    s.reversal = Some(r)
                })
                .await?;
                p
            }
            (state, _) => {
                return Err(SaleError::WrongState {
                    state: *state,
                    action: "reverse",
                });
            }
        };
        match client.send(&prepared).await {
            Ok(_) => {
                if attempt.infno == crate::upstream::tx::pharmacy::PHARMACY_SETTLE {
                    self.transition(
                        sale,
                        SaleEvent::Reversed,
                        serde_json::json!({}),
                        None,
                        |s| {
                            if let Some(a) = s.attempt.take() {
                                s.reversed_attempts.push(a);
                            }
                            s.reversal = None;
                        },
                    )
                    .await
                } else {
                    // A cancellation was reversed: the settlement stands.
                    self.transition(
                        sale,
                        SaleEvent::Restored,
                        serde_json::json!({}),
                        None,
                        |s| {
                            s.attempt = None;
                            s.reversal = None;
                        },
                    )
                    .await
                }
            }
            Err(e) => {
                let f = failure(&e, self.now());
                let next = self.now().timestamp_millis() + self.backoff_ms(sale.tries);
                self.note(sale, "reversal_failed", Some(f), Some(next))
                    .await?;
                Err(SaleError::Upstream(e))
            }
        }
    }

    /// 2103 for a settled sale (lock held).
    pub(super) async fn cancel_settled(&self, sale: &mut Sale) -> Result<(), SaleError> {
        let client = self.platform()?;
        let settled = sale.settlement.clone().ok_or(SaleError::WrongState {
            state: sale.state,
            action: "cancel without a settlement",
        })?;
        let input = CancelInput {
            data: Cancel {
                setl_id: settled.setl_id.clone().unwrap_or_default(),
                mdtrt_id: settled.mdtrt_id.clone().unwrap_or_default(),
                psn_no: sale
                    .person
                    .as_ref()
                    .map(|p| p.psn_no.clone())
                    .unwrap_or_default(),
            },
        };
        let options = CallOptions {
            insuplc_admdvs: sale.person.as_ref().map(|p| p.insuplc_admdvs.clone()),
            password_proof: None,
        };
        let prepared = client
            .prepare_input(
                crate::upstream::tx::reverse::PHARMACY_CANCEL,
                &input,
                &options,
            )
            .await
            .map_err(SaleError::Upstream)?;
        let attempt = Attempt {
            msgid: prepared.msgid.as_str().to_owned(),
            infno: prepared.infno.clone(),
            at_ms: prepared.at.timestamp_millis(),
        };
        let detail = serde_json::json!({ "msgid": attempt.msgid });
        self.transition(sale, SaleEvent::Cancel, detail, None, |s| {
            s.attempt = Some(attempt)
        })
        .await?;
        let original = settlement_of(&settled);
        let result = client
            .send(&prepared)
            .await
            .and_then(|x| cancellation(&x, &original));
        self.apply_cancellation(sale, result).await
    }

    async fn apply_cancellation(
        &self,
        sale: &mut Sale,
        result: Result<Settlement, UpstreamError>,
    ) -> Result<(), SaleError> {
        match result {
            Ok(_) => {
                self.transition(
                    sale,
                    SaleEvent::Cancelled,
                    serde_json::json!({}),
                    None,
                    |_| {},
                )
                .await
            }
            Err(e @ UpstreamError::Business { .. }) => {
                self.record_failure(sale, SaleEvent::Refused, &e, serde_json::Value::Null, true)
                    .await?;
                Err(SaleError::Upstream(e))
            }
            Err(e) => {
                self.record_failure(sale, SaleEvent::Lost, &e, serde_json::Value::Null, false)
                    .await?;
                self.reverse(sale).await
            }
        }
    }

    /// After a crash: a `settling`/`cancelling` sale whose answer reached the audit table is
    /// finished from that answer; one without an answer is in doubt (`unknown`, reversed next).
    pub(super) async fn recover_one(&self, sale: &mut Sale) -> Result<(), SaleError> {
        let Some(attempt) = sale.attempt.clone() else {
            return Ok(());
        };
        let row = self.store.audit(&attempt.msgid).await?;
        let answer = row.as_ref().and_then(|r| {
            let outcome = r.outcome.as_deref()?;
            let body = r.response.as_deref()?;
            Some((
                outcome.to_owned(),
                r.http_status.unwrap_or(200),
                body.to_owned(),
            ))
        });
        let classified = match answer {
            Some((outcome, status, body))
                if outcome == outcome_str(AuditOutcome::Ok)
                    || outcome == outcome_str(AuditOutcome::Business) =>
            {
                crate::upstream::classify(status, body.as_bytes())
            }
            _ => Err(UpstreamError::OutcomeUnknown {
                cause: crate::upstream::UnknownCause::Interrupted(
                    "the daemon stopped before the answer was recorded".into(),
                ),
            }),
        };
        tracing::warn!(sale = %sale.id, state = %sale.state, msgid = %attempt.msgid, "recovering a sale left in flight");
        match sale.state {
            SaleState::Settling => {
                let checked = classified.and_then(|r| {
                    let s: Settlement = r.output_as()?;
                    s.check()?;
                    Ok(s)
                });
                match checked {
                    Ok(s) => self.apply_settlement(sale, Ok(s)).await,
                    Err(e @ UpstreamError::Business { .. }) => {
                        self.apply_settlement(sale, Err(e)).await
                    }
                    Err(e) => {
                        let recovered = serde_json::json!({ "recovered": true });
                        self.record_failure(sale, SaleEvent::Lost, &e, recovered, false)
                            .await
                    }
                }
            }
            SaleState::Cancelling => {
                let original = sale
                    .settlement
                    .as_ref()
                    .map(settlement_of)
                    .unwrap_or_default();
                let checked = classified.and_then(|r| {
                    let s: Settlement = r.output_as()?;
                    s.check_cancels(&original)?;
                    Ok(s)
                });
                match checked {
                    Ok(s) => self.apply_cancellation(sale, Ok(s)).await,
                    Err(e @ UpstreamError::Business { .. }) => {
                        self.apply_cancellation(sale, Err(e)).await
                    }
                    Err(e) => {
                        let recovered = serde_json::json!({ "recovered": true });
                        self.record_failure(sale, SaleEvent::Lost, &e, recovered, false)
                            .await
                    }
                }
            }
            _ => Ok(()),
        }
    }

    /// Capped exponential backoff with ±50 % jitter, in ms.
    pub(super) fn backoff_ms(&self, tries: u32) -> i64 {
        let base = self
            .config
            .retry_first_ms
            .saturating_mul(1u64 << tries.min(20))
            .min(self.config.retry_max_ms);
        let jitter = rand::random_range(0.5..1.5);
        (base as f64 * jitter) as i64
    }
}

impl Engine {
    /// Moves the sale by `event` (a refusal, a lost answer) with `e` as its last error, in
    /// the history detail too; `clear_attempt` drops the request that was refused.
    async fn record_failure(
        &self,
        sale: &mut Sale,
        event: SaleEvent,
        e: &UpstreamError,
        extra: serde_json::Value,
        clear_attempt: bool,
    ) -> Result<(), SaleError> {
        let f = failure(e, self.now());
        let mut detail = serde_json::json!({ "error": f });
        if let (Some(d), Some(x)) = (detail.as_object_mut(), extra.as_object()) {
            d.extend(x.clone());
        }
        self.transition(sale, event, detail, None, |s| {
            if clear_attempt {
                s.attempt = None;
            }
            s.last_error = Some(f.clone());
        })
        .await
    }
}

fn outcome_str(o: AuditOutcome) -> &'static str {
    match o {
        AuditOutcome::Ok => "ok",
        AuditOutcome::Business => "business",
        AuditOutcome::Unknown => "unknown",
        AuditOutcome::Protocol => "protocol",
    }
}

/// The settlement a split was taken from, for checking a cancellation against it.
fn settlement_of(split: &Split) -> Settlement {
    use crate::upstream::tx::settle::{SetlDetail, SetlInfo};
    Settlement {
        setlinfo: SetlInfo {
            setl_id: split.setl_id.clone(),
            mdtrt_id: split.mdtrt_id.clone(),
            medfee_sumamt: split.medfee,
            fund_pay_sumamt: split.fund,
            acct_pay: split.account,
            psn_cash_pay: split.cash,
            ..SetlInfo::default()
        },
        setldetail: split
            .funds
            .iter()
            .map(|(t, a)| SetlDetail {
                fund_pay_type: Some(t.clone()),
                fund_payamt: *a,
                ..SetlDetail::default()
            })
            .collect(),
    }
}

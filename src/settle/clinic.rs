//! The clinic: an outpatient visit from registration to receipt and back (outpatient.md) —
//! register (1101, 2201, 2203/2203A), price (2204, and 2205 + 2204 to re-price), pre-settle
//! (2206), settle (2207, through the settler's money path), refund (2208, the settler's), and
//! the undo chain that gives the platform back what it holds of a visit that is abandoned or
//! refunded (2205, then 2202).
//!
//! Every bookkeeping request is prepared (msgid and body in the audit table) and recorded on
//! the visit (`visit.step`, or the state it moves to) BEFORE it is sent, so a crash leaves a
//! trace of what the platform may hold. An undo whose answer is lost is resent under the same
//! msgid; an answer saying nothing is left counts as done. A 2201 whose answer is lost is
//! looked up with 5201 rather than sent again (a blind resend would open a second visit).
//!
//! The caller holds the visit's lock (the engine's facade and the forwarder take it).

use std::sync::Arc;

use serde_json::Value;

use super::book::{SaleBook, failure};
use super::cashier::Cashier;
use super::error::SaleError;
use super::intake::Confirmation;
use super::options::{SaleMode, SettleConfig};
use super::sale::{Sale, Split};
use super::settler::Settler;
use super::state::{SaleEvent, SaleKind, SaleState};
use super::visit::{Batch, BatchState, Step};
use super::visit_intake::{NewDetails, NewVisit, lines_of};
use super::visit_requests as rq;
use crate::credential::Credentials;
use crate::error::UserFacing;
use crate::upstream::client::{Exchange, Prepared};
use crate::upstream::platform::{Platform, to_input};
use crate::upstream::tx::outpatient::{
    FeeUploadOutput, OUTPATIENT_FEE_UPLOAD, OUTPATIENT_PRESETTLE, OUTPATIENT_REGISTER,
    RegistrationOutput,
};
use crate::upstream::tx::settle::Settlement;
use crate::upstream::tx::visit::{
    FEE_REVOKE, REGISTRATION_CANCEL, VISIT_QUERY, VisitQueryOutput, nothing_left,
};
use crate::upstream::{Fen, MsgId, UpstreamError};

/// The clinic's side of the engine.
pub(super) struct Clinic {
    book: Arc<SaleBook>,
    settler: Arc<Settler>,
    cashier: Arc<Cashier>,
    config: SettleConfig,
    credentials: Arc<Credentials>,
}

/// What an undo step found.
enum Undone {
    /// Done (answered, or nothing was left): go on.
    Done,
    /// Not done: the visit waits (the error says why; the forwarder tries again).
    Stopped(SaleError),
}

impl Clinic {
    pub(super) fn new(
        book: Arc<SaleBook>,
        settler: Arc<Settler>,
        cashier: Arc<Cashier>,
        config: SettleConfig,
        credentials: Arc<Credentials>,
    ) -> Clinic {
        Clinic {
            book,
            settler,
            cashier,
            config,
            credentials,
        }
    }

    /// The sale `id` as a visit (lock held by the caller).
    async fn visit(&self, id: &str) -> Result<Sale, SaleError> {
        let sale = self.book.get(id).await?;
        if sale.kind != SaleKind::Outpatient {
            return Err(SaleError::WrongKind {
                id: id.to_owned(),
                expected: "a visit",
            });
        }
        Ok(sale)
    }

    /// `POST /v1/visits`: records the visit (`captured`) with the request's `Idempotency-Key`,
    /// then registers it and uploads its fee lines when it has some. A failure after the visit
    /// is recorded answers [`SaleError::At`]: the visit exists, where it stopped, and why.
    pub(super) async fn create(
        &self,
        new: NewVisit,
        idempotency: Option<crate::store::IdempotencyClaim>,
    ) -> Result<Sale, SaleError> {
        let now = self.book.now();
        let cst = now.with_timezone(&crate::upstream::time::cst());
        let id = format!(
            "V{}{}",
            cst.format("%y%m%d%H%M%S"),
            hex::encode(rand::random::<[u8; 4]>())
        );
        let visit = new.check(&id, &cst.format("%Y-%m-%d %H:%M:%S").to_string())?;
        let (items, amount) = if new.items.is_empty() {
            (Vec::new(), Fen(0))
        } else {
            lines_of(&visit, &new.items)?
        };
        if let Some(t) = &new.insutype {
            super::requests::check_insutype(t)?;
        }
        if let Some(d) = &new.dispensing {
            d.check()?;
        }
        let mut items = items;
        self.cashier.note_resales(&mut items, &id).await?;
        let fresh = self
            .credentials
            .get(&new.credential_id)
            .ok_or_else(|| SaleError::UnknownCredential(new.credential_id.clone()))?;
        let credential = self.cashier.resolve(fresh).await?;
        let sale = Sale {
            kind: SaleKind::Outpatient,
            items,
            amount,
            use_account: new.use_account.unwrap_or(true),
            visit: Some(visit),
            dispensing: new.dispensing.clone(),
            ..Sale::captured(
                id,
                now.timestamp_millis(),
                SaleMode::RequireOnline,
                credential,
            )
        };
        let detail = serde_json::json!({
            "kind": "outpatient",
            "credential": sale.credential.kind(),
            "med_type": sale.visit.as_ref().map(|v| &v.med_type),
        });
        let _guard = self.book.lock(&sale.id).await;
        self.book.create(&sale, detail, idempotency).await?;
        let mut sale = sale;
        let with_items = !sale.items.is_empty();
        let outcome = async {
            self.register_locked(&mut sale, new.insutype.as_deref())
                .await?;
            if with_items {
                self.upload_locked(&mut sale, None).await?;
            }
            Ok(())
        }
        .await;
        at(&sale, outcome)?;
        Ok(sale)
    }

    /// `POST /v1/visits/{id}/register`: 1101 (once), the insurance choice, 2201 and
    /// 2203/2203A. A registered visit whose visit information is not yet uploaded gets it.
    pub(super) async fn register(
        &self,
        id: &str,
        insutype: Option<&str>,
    ) -> Result<Sale, SaleError> {
        if let Some(t) = insutype {
            super::requests::check_insutype(t)?;
        }
        let _guard = self.book.lock(id).await;
        let mut sale = self.visit(id).await?;
        self.register_locked(&mut sale, insutype).await?;
        Ok(sale)
    }

    async fn register_locked(
        &self,
        sale: &mut Sale,
        insutype: Option<&str>,
    ) -> Result<(), SaleError> {
        let platform = self.settler.platform()?;
        match sale.state {
            SaleState::Captured | SaleState::Identified => {}
            SaleState::Registering => {
                self.recover_registration(sale).await?;
                if sale.state != SaleState::Identified {
                    return self.visit_info(platform.as_ref(), sale).await;
                }
            }
            SaleState::Registered
            | SaleState::Uploaded
            | SaleState::Presettled
            | SaleState::Confirmed => return self.visit_info(platform.as_ref(), sale).await,
            state => {
                return Err(SaleError::WrongState {
                    state,
                    action: "be registered",
                });
            }
        }
        // The person 1101 answered, when it is not stored yet: it is stored with the 2201's
        // record (one write), unless the cashier must choose an insurance first.
        let mut identified = None;
        if sale.person.is_none() {
            let mut person = match self.settler.identify(platform.as_ref(), sale).await {
                Ok(p) => p,
                Err(e) => return Err(self.refused(sale, e).await),
            };
            match rq::choose_insurance(&mut person, insutype, &self.config.insutype_preference) {
                Ok(()) => identified = Some(person),
                Err(e @ SaleError::InsutypeNotOffered { .. }) => return Err(e),
                Err(e) => {
                    self.book
                        .transition(
                            sale,
                            SaleEvent::Identify,
                            serde_json::json!({}),
                            None,
                            |s| {
                                s.person = Some(person);
                            },
                        )
                        .await?;
                    return Err(e);
                }
            }
        } else if let Some(current) = sale.person.clone() {
            let mut person = current.clone();
            rq::choose_insurance(&mut person, insutype, &self.config.insutype_preference).or_else(
                |e| match (&e, insutype) {
                    // Chosen before (the stored person carries it): keep that choice.
                    (SaleError::InsutypeRequired { .. }, None) if !current.insutype.is_empty() => {
                        Ok(())
                    }
                    _ => Err(e),
                },
            )?;
            if person != current {
                let detail = serde_json::json!({ "insutype": person.insutype });
                self.book
                    .annotate(sale, "insutype_chosen", detail, |s| s.person = Some(person))
                    .await?;
            }
        }
        // 2201: its audit row and the state `registering` are both written before it leaves,
        // in one commit (two writes at once share the writer's group commit). The msgid is in
        // the audit row and, once answered, in the history.
        let mut next = sale.clone();
        if let Some(p) = &identified {
            next.person = Some(p.clone());
        }
        let input = rq::registration(&next)?;
        let step = Step {
            msgid: String::new(),
            infno: OUTPATIENT_REGISTER.to_owned(),
            at_ms: self.book.now().timestamp_millis(),
        };
        let detail = serde_json::json!({
            "ipt_otp_no": input.data.ipt_otp_no,
            "insutype": input.data.insutype,
        });
        let (prepared, moved) = tokio::join!(
            self.prepare(platform.as_ref(), &next, OUTPATIENT_REGISTER, &input),
            self.book
                .transition(sale, SaleEvent::Register, detail, None, |s| {
                    if let Some(p) = identified {
                        s.person = Some(p);
                    }
                    if let Some(v) = s.visit.as_mut() {
                        v.step = Some(step);
                    }
                })
        );
        moved?;
        let prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                // Nothing left: back to `identified`.
                let f = failure(&e, self.book.now());
                self.book
                    .transition(
                        sale,
                        SaleEvent::Unsent,
                        serde_json::json!({ "error": f, "never_sent": true }),
                        None,
                        |s| {
                            s.last_error = Some(f.clone());
                            if let Some(v) = s.visit.as_mut() {
                                v.step = None;
                            }
                        },
                    )
                    .await?;
                return Err(e);
            }
        };
        let answer = platform.send(&prepared).await.and_then(|x| {
            let out: RegistrationOutput = x.output()?;
            out.mdtrt_id().map(str::to_owned)
        });
        match answer {
            Ok(mdtrt_id) => {
                let by = format!("2201 {}", prepared.msgid.as_str());
                self.registered(sale, mdtrt_id, &by, Some(platform.as_ref()))
                    .await
            }
            Err(e) if matches!(e, UpstreamError::Business { .. }) || !e.outcome_unknown() => {
                // Refused (nothing opened: `rejected`) or never sent (back to `identified`).
                let refused = matches!(e, UpstreamError::Business { .. });
                let event = if refused {
                    SaleEvent::Refused
                } else {
                    SaleEvent::Unsent
                };
                let f = failure(&e, self.book.now());
                let detail = serde_json::json!({ "error": f, "never_sent": !refused });
                self.book
                    .transition(sale, event, detail, None, |s| {
                        s.last_error = Some(f.clone());
                        if let Some(v) = s.visit.as_mut() {
                            v.step = None;
                        }
                    })
                    .await?;
                Err(offline(e))
            }
            Err(e) => {
                // The platform may have opened the visit: 5201 finds it, else the
                // registration is tried again (a new 2201 under the same 门诊号).
                let f = failure(&e, self.book.now());
                self.book
                    .note(sale, "registration_unknown", Some(f), None)
                    .await?;
                self.recover_registration(sale).await?;
                if sale.state != SaleState::Registered {
                    return Err(offline(e));
                }
                self.visit_info(platform.as_ref(), sale).await
            }
        }
    }

    /// The visit is open on the platform as `mdtrt_id` (2201 answered, or 5201 found it). With
    /// `info`, its 2203/2203A is sent first and recorded in the same write.
    async fn registered(
        &self,
        sale: &mut Sale,
        mdtrt_id: String,
        by: &str,
        info: Option<&dyn Platform>,
    ) -> Result<(), SaleError> {
        let mut outcome = Ok(());
        let mut uploaded = false;
        if let Some(platform) = info {
            let mut next = sale.clone();
            if let Some(v) = next.visit.as_mut() {
                v.mdtrt_id = Some(mdtrt_id.clone());
            }
            match self.send_info(platform, &next).await? {
                Ok(()) => uploaded = true,
                Err(e) => outcome = Err(e),
            }
        }
        let f = outcome.as_ref().err().map(|e| failure(e, self.book.now()));
        let detail = serde_json::json!({
            "mdtrt_id": mdtrt_id,
            "by": by,
            "visit_info": uploaded,
            "error": f,
        });
        self.book
            .transition(sale, SaleEvent::Registered, detail, None, |s| {
                s.last_error = f.clone();
                if let Some(v) = s.visit.as_mut() {
                    v.mdtrt_id = Some(mdtrt_id.clone());
                    v.registration_open = true;
                    v.info_uploaded |= uploaded;
                    v.step = None;
                }
            })
            .await?;
        outcome.map_err(offline)
    }

    /// A 2201 whose answer is unknown (`registering`): 5201 lists the person's visits of the
    /// day; ours (its 门诊号) is registered, none means nothing was opened (back to
    /// `identified`). When 5201 cannot be asked the visit stays `registering`.
    pub(super) async fn recover_registration(&self, sale: &mut Sale) -> Result<(), SaleError> {
        if sale.state != SaleState::Registering {
            return Ok(());
        }
        match self.find_visit(sale).await {
            Ok(Some(mdtrt_id)) => self.registered(sale, mdtrt_id, "5201", None).await,
            Ok(None) => {
                let detail = serde_json::json!({ "by": "5201", "found": false });
                self.book
                    .transition(sale, SaleEvent::Unsent, detail, None, |s| {
                        if let Some(v) = s.visit.as_mut() {
                            v.step = None;
                        }
                    })
                    .await
            }
            Err(e) => {
                let f = failure(&e, self.book.now());
                let next = self.book.now().timestamp_millis() + self.settler.backoff_ms(sale.tries);
                sale.tries = sale.tries.saturating_add(1);
                self.book
                    .note(sale, "visit_query_failed", Some(f), Some(next))
                    .await?;
                Err(SaleError::Upstream(e))
            }
        }
    }

    /// 5201: the `mdtrt_id` of our visit (by 门诊号), if the platform lists it.
    async fn find_visit(&self, sale: &Sale) -> Result<Option<String>, UpstreamError> {
        let platform = self
            .settler
            .platform()
            .map_err(|_| UpstreamError::NotSent {
                detail: "no platform".into(),
            })?;
        let input = rq::visit_query(sale).map_err(|e| UpstreamError::NotSent {
            detail: e.to_string(),
        })?;
        let out: VisitQueryOutput = platform
            .call(
                VISIT_QUERY,
                to_input(&input)?,
                &super::requests::options(sale, false),
            )
            .await?
            .output()?;
        let ipt_otp_no = sale
            .visit
            .as_ref()
            .map(|v| v.ipt_otp_no.as_str())
            .unwrap_or("");
        Ok(out.ours(ipt_otp_no).and_then(|r| r.mdtrt_id.clone()))
    }

    /// 2203/2203A unless done.
    async fn visit_info(&self, platform: &dyn Platform, sale: &mut Sale) -> Result<(), SaleError> {
        if sale.visit.as_ref().is_none_or(|v| v.info_uploaded) {
            return Ok(());
        }
        match self.send_info(platform, sale).await? {
            Ok(()) => {
                let detail = serde_json::json!({ "infno": self.config.visit_info_infno });
                self.book
                    .annotate(sale, "visit_info", detail, |s| {
                        s.last_error = None;
                        if let Some(v) = s.visit.as_mut() {
                            v.info_uploaded = true;
                            v.step = None;
                        }
                    })
                    .await
            }
            Err(e) => Err(self.step_failed(sale, e).await),
        }
    }

    /// 2203/2203A for `sale`. Repeating it replaces the visit's information and it has no
    /// undo of its own: a plain call (audited), nothing recorded on the visit before it
    /// leaves. The outer error: the request could not be built.
    async fn send_info(
        &self,
        platform: &dyn Platform,
        sale: &Sale,
    ) -> Result<Result<(), UpstreamError>, SaleError> {
        let input = rq::visit_info(sale)?;
        let options = super::requests::options(sale, false);
        let input = to_input(&input).map_err(SaleError::Upstream)?;
        Ok(platform
            .call(&self.config.visit_info_infno, input, &options)
            .await
            .map(|_| ()))
    }

    /// `PUT /v1/visits/{id}/details`: uploads the fee lines (2204); a visit that has lines on
    /// the platform gets them revoked first (2205) and the new ones under a new `chrg_bchno`
    /// (re-pricing is not a new visit). `None`: upload the lines the visit already has.
    pub(super) async fn details(
        &self,
        id: &str,
        new: Option<NewDetails>,
    ) -> Result<Sale, SaleError> {
        let _guard = self.book.lock(id).await;
        let mut sale = self.visit(id).await?;
        self.upload_locked(&mut sale, new).await?;
        Ok(sale)
    }

    async fn upload_locked(
        &self,
        sale: &mut Sale,
        new: Option<NewDetails>,
    ) -> Result<(), SaleError> {
        let platform = self.settler.platform()?;
        if !matches!(
            sale.state,
            SaleState::Registered
                | SaleState::Uploaded
                | SaleState::Presettled
                | SaleState::Confirmed
                | SaleState::Rejected
        ) || sale.visit.as_ref().is_none_or(|v| v.mdtrt_id.is_none())
        {
            return Err(SaleError::WrongState {
                state: sale.state,
                action: "take fee lines (register the visit first)",
            });
        }
        let replacement = match &new {
            Some(d) => {
                let visit = sale.visit.as_ref().expect("a visit");
                Some(lines_of(visit, &d.items)?)
            }
            None if sale.items.is_empty() => {
                return Err(SaleError::Invalid {
                    field: "items".into(),
                    problem: "the visit has no fee lines to upload".into(),
                });
            }
            None => None,
        };
        self.visit_info(platform.as_ref(), sale).await?;
        // What the platform holds of an earlier batch goes first.
        if let Some(batch) = sale.visit.as_ref().and_then(|v| v.batch.clone()) {
            if batch.state == BatchState::Settled {
                return Err(SaleError::VisitSettled(sale.id.clone()));
            }
            if let Undone::Stopped(e) = self
                .revoke(platform.as_ref(), sale, &batch.chrg_bchno)
                .await?
            {
                return Err(e);
            }
        }
        let id = sale.id.clone();
        let mut next = sale.clone();
        let chrg_bchno = next.visit.as_mut().expect("a visit").next_batch(&id);
        if let Some((items, amount)) = replacement {
            next.items = items;
            next.amount = amount;
        }
        let input = rq::fee_upload(&next, &chrg_bchno)?;
        let total = input.total();
        // The new lines and their batch (`sending`) and the 2204's audit row are written
        // before it leaves, in one commit (two writes at once share the group commit).
        let detail = serde_json::json!({ "chrg_bchno": chrg_bchno, "lines": next.items.len(), "total": total });
        let options_of = next.clone();
        let (prepared, noted) = tokio::join!(
            self.prepare(
                platform.as_ref(),
                &options_of,
                OUTPATIENT_FEE_UPLOAD,
                &input
            ),
            self.book.annotate(sale, "details_sending", detail, |s| {
                s.items = next.items;
                s.amount = next.amount;
                s.estimate = None;
                if let Some(v) = s.visit.as_mut() {
                    v.batches = next.visit.as_ref().map_or(v.batches, |n| n.batches);
                    v.batch = Some(Batch {
                        chrg_bchno: chrg_bchno.clone(),
                        state: BatchState::Sending,
                        total,
                        result: Vec::new(),
                        echo: None,
                    });
                    v.step = None;
                }
            })
        );
        noted?;
        // Not prepared: nothing left; the batch recorded as `sending` is revoked (2205, which
        // answers that nothing is there) before the next upload.
        let prepared = prepared?;
        match platform
            .send(&prepared)
            .await
            .and_then(|x| x.output::<FeeUploadOutput>().map(|_| x))
        {
            Ok(x) => {
                let result = classification(&x.response.output);
                let detail = serde_json::json!({ "chrg_bchno": chrg_bchno });
                self.book
                    .transition(sale, SaleEvent::Upload, detail, None, |s| {
                        s.last_error = None;
                        if let Some(v) = s.visit.as_mut() {
                            v.step = None;
                            if let Some(b) = v.batch.as_mut() {
                                b.state = BatchState::Uploaded;
                                b.result = result;
                            }
                        }
                    })
                    .await
            }
            Err(e) => {
                // Refused or never sent: nothing is on the platform. Unknown: the batch stays
                // `sending` and is revoked (2205) before anything else.
                let gone = matches!(e, UpstreamError::Business { .. }) || !e.outcome_unknown();
                let f = failure(&e, self.book.now());
                self.book
                    .annotate(
                        sale,
                        "details_failed",
                        serde_json::json!({ "error": f }),
                        |s| {
                            s.last_error = Some(f.clone());
                            if let Some(v) = s.visit.as_mut() {
                                v.step = None;
                                if gone {
                                    v.batch = None;
                                }
                            }
                        },
                    )
                    .await?;
                Err(offline(e))
            }
        }
    }

    /// 2205 of `chrg_bchno` (same msgid again when an earlier one's answer was lost); on
    /// success the batch is gone and a priced visit goes back to `registered`.
    async fn revoke(
        &self,
        platform: &dyn Platform,
        sale: &mut Sale,
        chrg_bchno: &str,
    ) -> Result<Undone, SaleError> {
        let input = rq::fee_revoke(sale, chrg_bchno)?;
        let x = self.send_step(platform, sale, FEE_REVOKE, &input).await?;
        match undo_answer(x) {
            Ok(how) => {
                let detail = serde_json::json!({ "chrg_bchno": chrg_bchno, "answer": how });
                let edit = |s: &mut Sale| {
                    s.estimate = None;
                    if let Some(v) = s.visit.as_mut() {
                        v.batch = None;
                        v.step = None;
                        v.undo_refusals = 0;
                    }
                };
                if matches!(
                    sale.state,
                    SaleState::Uploaded
                        | SaleState::Presettled
                        | SaleState::Confirmed
                        | SaleState::Rejected
                ) {
                    self.book
                        .transition(sale, SaleEvent::Reprice, detail, None, edit)
                        .await?;
                } else {
                    self.book
                        .annotate(sale, "details_revoked", detail, edit)
                        .await?;
                }
                Ok(Undone::Done)
            }
            Err(e) => Ok(Undone::Stopped(self.undo_failed(sale, e).await?)),
        }
    }

    /// The patient presents a credential for a visit the HIS created (a kiosk paying its
    /// fees): it must be the visit's person (same ID number, or the same card); the visit's
    /// 2206/2207 then carry the credential presented now (a fresh e-voucher token, say).
    /// Another person's credential is refused and changes nothing.
    pub(super) async fn present(&self, id: &str, credential_id: &str) -> Result<Sale, SaleError> {
        let fresh = self
            .credentials
            .get(credential_id)
            .ok_or_else(|| SaleError::UnknownCredential(credential_id.to_owned()))?;
        let credential = self.cashier.resolve(fresh).await?;
        let _guard = self.book.lock(id).await;
        let mut sale = self.visit(id).await?;
        let same = {
            let (a, b) = (sale.credential.id_number(), credential.id_number());
            (!a.is_empty() && a == b) || sale.credential.cert_no() == credential.cert_no()
        };
        if !same {
            return Err(SaleError::OtherCard);
        }
        if !matches!(
            sale.state,
            SaleState::Registered
                | SaleState::Uploaded
                | SaleState::Presettled
                | SaleState::Rejected
        ) {
            return Err(SaleError::WrongState {
                state: sale.state,
                action: "be paid here (it is not waiting for payment)",
            });
        }
        let detail = serde_json::json!({ "credential": credential.kind() });
        self.book
            .annotate(&mut sale, "credential_presented", detail, |s| {
                s.credential = credential;
            })
            .await?;
        Ok(sale)
    }

    /// `POST /v1/visits/{id}/presettle`: 2206 for the uploaded batch (repeatable; it settles
    /// nothing): the split the patient sees.
    pub(super) async fn presettle(&self, id: &str) -> Result<Sale, SaleError> {
        let _guard = self.book.lock(id).await;
        let mut sale = self.visit(id).await?;
        let uploaded = sale
            .visit
            .as_ref()
            .and_then(|v| v.batch.as_ref())
            .is_some_and(|b| b.state == BatchState::Uploaded);
        if !matches!(
            sale.state,
            SaleState::Uploaded | SaleState::Presettled | SaleState::Rejected
        ) || !uploaded
        {
            return Err(SaleError::WrongState {
                state: sale.state,
                action: "be pre-settled (upload its fee lines first)",
            });
        }
        match self.trial(&sale).await {
            Ok((split, echo)) => {
                let detail = serde_json::json!({ "cash": split.cash, "fund": split.fund });
                let edit = |x: &mut Sale| {
                    x.estimate = Some(split);
                    x.last_error = None;
                    if let Some(b) = x.visit.as_mut().and_then(|v| v.batch.as_mut()) {
                        b.echo = Some(echo);
                    }
                };
                if sale.state == SaleState::Presettled {
                    self.book
                        .annotate(&mut sale, "presettled_again", detail, edit)
                        .await?;
                } else {
                    self.book
                        .transition(&mut sale, SaleEvent::Presettle, detail, None, edit)
                        .await?;
                }
                Ok(sale)
            }
            Err(e) => {
                let f = failure(&e, self.book.now());
                self.book
                    .note(&mut sale, "presettle_failed", Some(f), None)
                    .await?;
                Err(offline(e))
            }
        }
    }

    /// 2206 for the visit's batch: the split and the amounts 2207 echoes.
    async fn trial(&self, sale: &Sale) -> Result<(Split, super::visit::Echo), UpstreamError> {
        let platform = self
            .settler
            .platform()
            .map_err(|e| UpstreamError::NotSent {
                detail: e.to_string(),
            })?;
        let input = rq::outpatient_input(sale, None).map_err(|e| UpstreamError::NotSent {
            detail: e.to_string(),
        })?;
        let x = platform
            .call(
                OUTPATIENT_PRESETTLE,
                to_input(&input)?,
                &super::requests::options(sale, false),
            )
            .await?;
        let s: Settlement = x.output()?;
        Ok((
            Split::from_settlement(&s, &self.settler.today()),
            rq::echo_of(&s),
        ))
    }

    /// A fresh 2206 for a visit whose 2207 was reversed (its state stays `reversed`).
    async fn trial_again(&self, sale: &mut Sale) -> Result<(), SaleError> {
        match self.trial(sale).await {
            Ok((split, echo)) => {
                let detail = serde_json::json!({ "cash": split.cash, "fund": split.fund });
                self.book
                    .annotate(sale, "presettled_again", detail, |x| {
                        x.estimate = Some(split);
                        if let Some(b) = x.visit.as_mut().and_then(|v| v.batch.as_mut()) {
                            b.echo = Some(echo);
                        }
                    })
                    .await
            }
            Err(e) => {
                let f = failure(&e, self.book.now());
                self.book
                    .note(sale, "presettle_failed", Some(f), None)
                    .await?;
                Err(offline(e))
            }
        }
    }

    /// `POST /v1/visits/{id}/confirm`: the patient consents; 2207 through the settler (recorded
    /// before sent; an unknown outcome is reversed with 2601 and settled once more while the
    /// patient waits — never a second 2207 for the same request).
    pub(super) async fn confirm(&self, id: &str, c: Confirmation) -> Result<Sale, SaleError> {
        let _guard = self.book.lock(id).await;
        let mut sale = self.visit(id).await?;
        match sale.state {
            SaleState::Presettled => self.cashier.take_consent(&mut sale, c.pin).await?,
            SaleState::Confirmed | SaleState::Reversed => {}
            SaleState::Settled => return Ok(sale),
            SaleState::Settling => return Err(SaleError::InProgress(sale.id)),
            state => {
                return Err(match &sale.last_error {
                    Some(f)
                        if matches!(
                            state,
                            SaleState::Rejected | SaleState::Unknown | SaleState::Reversing
                        ) =>
                    {
                        SaleError::Earlier(f.clone())
                    }
                    _ => SaleError::WrongState {
                        state,
                        action: "be confirmed (pre-settle it first)",
                    },
                });
            }
        }
        // A fresh 2207 after a reversed one follows a fresh 2206: a platform may take the
        // reversed settlement's pre-settlement as used (2206 settles nothing: always safe).
        if sale.state == SaleState::Reversed {
            self.trial_again(&mut sale).await?;
        }
        let first = self.settler.settle_now(&mut sale).await;
        let outcome = if sale.state == SaleState::Reversed {
            self.trial_again(&mut sale).await?;
            self.settler.settle_now(&mut sale).await
        } else {
            first
        };
        match outcome {
            Err(SaleError::Upstream(e)) if sale.state == SaleState::Confirmed => Err(offline(e)),
            other => other.map(|()| sale),
        }
    }

    /// `POST /v1/visits/{id}/cancel`: abandons a visit before settlement. What the platform
    /// holds is undone at once (2205, 2202); what cannot be undone now stays `undoing` and the
    /// forwarder finishes it. A settled visit is refunded instead ([`Clinic::refund`]).
    pub(super) async fn cancel(&self, id: &str) -> Result<Sale, SaleError> {
        let _guard = self.book.lock(id).await;
        let mut sale = self.visit(id).await?;
        match sale.state {
            SaleState::Settled => return Err(SaleError::VisitSettled(sale.id)),
            SaleState::Abandoned | SaleState::Cancelled => return Ok(sale),
            SaleState::Undoing | SaleState::Closing => {}
            SaleState::Settling | SaleState::Cancelling => {
                return Err(SaleError::InProgress(sale.id));
            }
            _ => {
                self.abandon(&mut sale, serde_json::json!({ "by": "cashier" }))
                    .await?
            }
        }
        self.unwind(&mut sale).await?;
        Ok(sale)
    }

    /// Abandons a visit (lock held): outright when the platform holds nothing of it, else the
    /// undo chain starts (`undoing`).
    pub(super) async fn abandon(&self, sale: &mut Sale, detail: Value) -> Result<(), SaleError> {
        let holds = sale
            .visit
            .as_ref()
            .is_some_and(super::visit::Visit::holds_anything)
            || sale.state == SaleState::Registering;
        let event = if holds {
            SaleEvent::Undo
        } else {
            SaleEvent::Abandon
        };
        self.book
            .transition(sale, event, detail, None, |_| {})
            .await
    }

    /// `POST /v1/visits/{id}/refund`: 2208 for the settled visit (the settler's money path),
    /// then its fee lines and registration are undone (`closing` → `cancelled`).
    pub(super) async fn refund(&self, id: &str) -> Result<Sale, SaleError> {
        let _guard = self.book.lock(id).await;
        let mut sale = self.visit(id).await?;
        match sale.state {
            SaleState::Settled => self.settler.cancel_settled(&mut sale).await?,
            SaleState::Closing => {}
            SaleState::Cancelled => return Ok(sale),
            SaleState::Cancelling => return Err(SaleError::InProgress(sale.id)),
            state => {
                return Err(SaleError::WrongState {
                    state,
                    action: "be refunded (only a settled visit is)",
                });
            }
        }
        self.unwind(&mut sale).await?;
        Ok(sale)
    }

    /// Runs the undo chain of an `undoing` or `closing` visit (lock held): the registration
    /// whose 2201 answer was lost is looked up (5201), the unsettled fee lines are revoked
    /// (2205), the registration is cancelled (2202); then `undone`. A step that cannot be done
    /// now leaves the visit where it is with the next attempt scheduled; `Ok` either way
    /// (the visit says where it is), an error only for the store.
    pub(super) async fn unwind(&self, sale: &mut Sale) -> Result<(), SaleError> {
        if !matches!(sale.state, SaleState::Undoing | SaleState::Closing) {
            return Ok(());
        }
        let Ok(platform) = self.settler.platform() else {
            return Ok(());
        };
        let v = sale.visit.clone().ok_or(SaleError::WrongKind {
            id: sale.id.clone(),
            expected: "a visit",
        })?;
        if v.mdtrt_id.is_none()
            && v.step
                .as_ref()
                .is_some_and(|s| s.infno == OUTPATIENT_REGISTER)
        {
            match self.find_visit(sale).await {
                Ok(Some(mdtrt_id)) => {
                    let detail = serde_json::json!({ "mdtrt_id": mdtrt_id, "by": "5201" });
                    self.book
                        .annotate(sale, "registration_found", detail, |s| {
                            if let Some(v) = s.visit.as_mut() {
                                v.mdtrt_id = Some(mdtrt_id.clone());
                                v.registration_open = true;
                                v.step = None;
                            }
                        })
                        .await?;
                }
                Ok(None) => {
                    let detail = serde_json::json!({ "by": "5201", "found": false });
                    self.book
                        .annotate(sale, "registration_not_found", detail, |s| {
                            if let Some(v) = s.visit.as_mut() {
                                v.step = None;
                            }
                        })
                        .await?;
                }
                Err(e) => {
                    self.undo_failed(sale, e).await?;
                    return Ok(());
                }
            }
        }
        if let Some(batch) = sale.visit.as_ref().and_then(|v| v.batch.clone()) {
            // A closing visit's settlement is refunded (2208 answered, 5203 or an operator
            // said so): its lines are unsettled again, whatever the batch last recorded.
            if batch.state != BatchState::Settled || sale.state == SaleState::Closing {
                if let Undone::Stopped(_) = self
                    .revoke(platform.as_ref(), sale, &batch.chrg_bchno)
                    .await?
                {
                    return Ok(());
                }
            }
        }
        if sale.visit.as_ref().is_some_and(|v| v.registration_open) {
            let input = rq::registration_cancel(sale)?;
            let x = self
                .send_step(platform.as_ref(), sale, REGISTRATION_CANCEL, &input)
                .await?;
            match undo_answer(x) {
                Ok(how) => {
                    let detail = serde_json::json!({ "answer": how });
                    self.book
                        .annotate(sale, "registration_cancelled", detail, |s| {
                            if let Some(v) = s.visit.as_mut() {
                                v.registration_open = false;
                                v.step = None;
                                v.undo_refusals = 0;
                            }
                        })
                        .await?;
                }
                Err(e) => {
                    self.undo_failed(sale, e).await?;
                    return Ok(());
                }
            }
        }
        self.book
            .transition(sale, SaleEvent::Undone, serde_json::json!({}), None, |s| {
                s.last_error = None;
                if let Some(v) = s.visit.as_mut() {
                    v.step = None;
                }
            })
            .await?;
        self.settler.doubts().show().await;
        Ok(())
    }

    /// An undo step that did not complete: recorded with the next attempt (capped backoff); a
    /// refusal is counted (the in-doubt alarm names the visit). Returns the error.
    async fn undo_failed(&self, sale: &mut Sale, e: UpstreamError) -> Result<SaleError, SaleError> {
        let refused = matches!(e, UpstreamError::Business { .. });
        let f = failure(&e, self.book.now());
        let tries = sale.tries.saturating_add(1);
        let next = self.book.now().timestamp_millis() + self.settler.backoff_ms(tries);
        let unknown = e.outcome_unknown();
        let detail =
            serde_json::json!({ "error": f, "next_attempt_at_ms": next, "refused": refused });
        tracing::warn!(sale = %sale.id, error = %e, "a visit's undo step did not complete; it will be tried again");
        // Refused or never sent: the step's msgid is dead. Unknown: kept, resent as it was.
        let keep_step = unknown;
        let mut moved = sale.clone();
        moved.tries = tries;
        moved.last_error = Some(f);
        if let Some(v) = moved.visit.as_mut() {
            if !keep_step {
                v.step = None;
            }
            if refused {
                v.undo_refusals = v.undo_refusals.saturating_add(1);
            }
        }
        self.book
            .annotate_due(sale, "undo_failed", detail, next, |s| *s = moved)
            .await?;
        if refused {
            self.settler.doubts().show().await;
        }
        Ok(offline(e))
    }

    /// A refused, unsent or lost non-undo step (2203A): recorded as the last error; a lost
    /// answer keeps its step (the request may be resent as it was).
    async fn step_failed(&self, sale: &mut Sale, e: UpstreamError) -> SaleError {
        let f = failure(&e, self.book.now());
        let keep = e.outcome_unknown();
        let r = self
            .book
            .annotate(
                sale,
                "step_failed",
                serde_json::json!({ "error": f }),
                |s| {
                    s.last_error = Some(f.clone());
                    if !keep {
                        if let Some(v) = s.visit.as_mut() {
                            v.step = None;
                        }
                    }
                },
            )
            .await;
        match r {
            Ok(()) => offline(e),
            Err(store) => store,
        }
    }

    /// A refusal of 1101 moves the visit to `rejected`; a link failure leaves it.
    async fn refused(&self, sale: &mut Sale, e: UpstreamError) -> SaleError {
        if matches!(e, UpstreamError::Business { .. }) {
            if let Err(store) = self
                .book
                .record_failure(sale, SaleEvent::Refused, &e, Value::Null, false)
                .await
            {
                return store;
            }
        }
        offline(e)
    }

    /// Prepares `infno` (msgid and body in the audit table); nothing is sent.
    async fn prepare<I: serde::Serialize>(
        &self,
        platform: &dyn Platform,
        sale: &Sale,
        infno: &str,
        input: &I,
    ) -> Result<Prepared, SaleError> {
        platform
            .prepare_input(infno, input, &super::requests::options(sale, false))
            .await
            .map_err(SaleError::Upstream)
    }

    /// Sends a bookkeeping request: the same msgid again when the visit's recorded step is
    /// this request whose answer was lost, else a new one recorded on the visit first.
    async fn send_step<I: serde::Serialize>(
        &self,
        platform: &dyn Platform,
        sale: &mut Sale,
        infno: &str,
        input: &I,
    ) -> Result<Result<Exchange, UpstreamError>, SaleError> {
        let options = super::requests::options(sale, false);
        let again = sale
            .visit
            .as_ref()
            .and_then(|v| v.step.clone())
            .filter(|s| s.infno == infno);
        let prepared = match again {
            Some(s) => {
                let msgid =
                    MsgId::parse(&s.msgid).map_err(|e| SaleError::BadRequest(e.to_string()))?;
                let at = chrono::DateTime::from_timestamp_millis(s.at_ms)
                    .unwrap_or_else(|| self.book.now());
                Prepared::resume(infno, msgid, at, input, &options).map_err(SaleError::Upstream)?
            }
            None => {
                let p = platform
                    .prepare_input(infno, input, &options)
                    .await
                    .map_err(SaleError::Upstream)?;
                let step = attempt_of(&p);
                let detail = serde_json::json!({ "infno": infno, "msgid": step.msgid });
                self.book
                    .annotate(sale, "step", detail, |s| {
                        if let Some(v) = s.visit.as_mut() {
                            v.step = Some(step);
                        }
                    })
                    .await?;
                p
            }
        };
        Ok(platform.send(&prepared).await)
    }
}

/// A 2205/2202 answer: done (`answered`), done because nothing was left (`nothing_left`), or
/// the failure.
fn undo_answer(x: Result<Exchange, UpstreamError>) -> Result<&'static str, UpstreamError> {
    match x {
        Ok(_) => Ok("answered"),
        Err(UpstreamError::Business { err_msg, .. }) if nothing_left(&err_msg) => {
            Ok("nothing_left")
        }
        Err(e) => Err(e),
    }
}

fn attempt_of(p: &Prepared) -> Step {
    Step {
        msgid: p.msgid.as_str().to_owned(),
        infno: p.infno.clone(),
        at_ms: p.at.timestamp_millis(),
    }
}

/// A platform failure as a visit error: a link failure is `sale.offline` (a visit is never
/// stored, so `can_store` is false).
fn offline(e: UpstreamError) -> SaleError {
    match e {
        UpstreamError::Business { .. } => SaleError::Upstream(e),
        other if other.is_retryable() || matches!(other, UpstreamError::Gateway { .. }) => {
            SaleError::Offline {
                can_store: false,
                cause: other.code().to_owned(),
            }
        }
        other => SaleError::Upstream(other),
    }
}

/// A failure after the visit was recorded: the visit's id and state go with it.
fn at(sale: &Sale, outcome: Result<(), SaleError>) -> Result<(), SaleError> {
    outcome.map_err(|cause| SaleError::At {
        id: sale.id.clone(),
        state: sale.state,
        cause: Box::new(cause),
    })
}

impl super::forwarder::VisitWork for Clinic {
    fn recover_registration<'a>(
        &'a self,
        sale: &'a mut Sale,
    ) -> futures_util::future::BoxFuture<'a, Result<(), SaleError>> {
        Box::pin(Clinic::recover_registration(self, sale))
    }

    fn unwind<'a>(
        &'a self,
        sale: &'a mut Sale,
    ) -> futures_util::future::BoxFuture<'a, Result<(), SaleError>> {
        Box::pin(Clinic::unwind(self, sale))
    }

    fn abandon<'a>(
        &'a self,
        sale: &'a mut Sale,
        detail: Value,
    ) -> futures_util::future::BoxFuture<'a, Result<(), SaleError>> {
        Box::pin(Clinic::abandon(self, sale, detail))
    }
}

/// The platform's classification of each uploaded line, compact: `[feedetl_sn, chrgitm_lv,
/// selfpay_prop]` from the 2204 answer's `result[]` (missing values empty).
fn classification(output: &Value) -> Vec<[String; 3]> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    output
        .get("result")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            [
                text(&r["feedetl_sn"]),
                text(&r["chrgitm_lv"]),
                text(&r["selfpay_prop"]),
            ]
        })
        .collect()
}

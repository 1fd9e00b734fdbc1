//! The platform as the settlement engine sees it: the [`Platform`] trait, implemented by the
//! HTTP [`Client`] and by the strict [`ScriptedPlatform`](super::scripted::ScriptedPlatform)
//! fake, and the typed calls every implementation gets for free.
//!
//! Three ways in, as upstream.md's 冲正 rules want them: [`Platform::call`] for requests that
//! move no money (1101, 2101, 3201: a repeat is harmless, a new msgid is fine);
//! [`Platform::prepare`] + [`Platform::send`] for money-moving requests (2102, 2103, 2601: the
//! msgid and the full request are in the audit table BEFORE anything leaves, and a repeat reuses
//! the msgid); [`Platform::ec_query`] for the e-voucher service. The trait carries inputs as
//! JSON values so it stays object-safe (`Arc<dyn Platform>`); the typed helpers on
//! `dyn Platform` serialise and check. Nothing here decides what a failure means for a sale:
//! that is the settler's job.

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;

use super::client::{CallOptions, Client, Exchange, Prepared};
use super::error::UpstreamError;
use super::tx::evoucher::EcIdentity;
use super::tx::person::{PERSON_INFO, PersonInfo, PersonQueryInput};
use super::tx::pharmacy::{PHARMACY_PRESETTLE, PharmacyInput};
use super::tx::query::{SETTLEMENT_QUERY, SettlementQuery, SettlementQueryInput};
use super::tx::reverse::{RECONCILE, ReconcileInput, ReconcileOutput, StmtInfo};
use super::tx::settle::Settlement;
use super::tx::statement::{
    DETAIL_RECONCILE, DetailReconcileInput, DownloadInput, FILE_DOWNLOAD, FILE_UPLOAD, FileAnswer,
    FileInfo, UploadInput, detail_reconcile_answer, download_answer, upload_answer,
};
use crate::qr::evoucher::{BusinessType, EVoucherCode};

/// The national platform and its e-voucher service.
pub trait Platform: Send + Sync {
    /// Sends a request that moves no money (a new msgid each time).
    fn call<'a>(
        &'a self,
        infno: &'a str,
        input: Value,
        options: &'a CallOptions,
    ) -> BoxFuture<'a, Result<Exchange, UpstreamError>>;

    /// Allocates a msgid and records the full request in the audit table; nothing is sent.
    fn prepare<'a>(
        &'a self,
        infno: &'a str,
        input: Value,
        options: &'a CallOptions,
    ) -> BoxFuture<'a, Result<Prepared, UpstreamError>>;

    /// Sends a prepared request (again: same msgid) and records the answer.
    fn send<'a>(&'a self, prepared: &'a Prepared)
    -> BoxFuture<'a, Result<Exchange, UpstreamError>>;

    /// `ec.query`: the e-voucher's identity and short-lived token.
    fn ec_query<'a>(
        &'a self,
        code: &'a EVoucherCode,
        business: BusinessType,
    ) -> BoxFuture<'a, Result<EcIdentity, UpstreamError>>;

    /// The envelope's `signtype` (`MOCK`: unsigned requests; the PIN is asked regardless).
    fn signtype(&self) -> &str;

    /// An e-voucher service is configured ([`Platform::ec_query`] can succeed).
    fn has_ec(&self) -> bool {
        true
    }

    /// How 9101 carries a file (`[upstream] file_in_encoding`; upstream.md "Uncertain").
    fn file_in_encoding(&self) -> super::tx::statement::InEncoding {
        super::tx::statement::InEncoding::Base64
    }

    /// 5203 settlement query: re-reads the settlement `input` names (its `setl_id` is
    /// required, see [`SettlementQueryInput::new`]); moves no money, so it goes through
    /// [`Platform::call`]. The answer must name a settlement (a `setl_id`), else it is a
    /// protocol error.
    fn settlement_query<'a>(
        &'a self,
        input: &'a SettlementQueryInput,
        insuplc_admdvs: &'a str,
    ) -> BoxFuture<'a, Result<SettlementQuery, UpstreamError>>;

    /// A file transfer (9101 upload, 9102 download): moves no money, and its answer may be the
    /// file itself rather than an envelope (upstream.md: 9102 answers "the file itself"). The
    /// contract allows these their own paths (`…/fsi/api/fileupload/upload`, `…/download`).
    ///
    /// The default goes through [`Platform::call`]: the main path, envelope answers only (a
    /// 9102 that answers with the bare ZIP cannot be read that way). An implementation that can
    /// post to a per-infno path and keep a non-JSON body overrides it.
    fn transfer<'a>(
        &'a self,
        infno: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<FileAnswer, UpstreamError>> {
        Box::pin(async move {
            let x = self.call(infno, input, &CallOptions::default()).await?;
            Ok(FileAnswer::Envelope(x.response))
        })
    }
}

/// [`Platform::settlement_query`] on [`Platform::call`], shared by the implementations.
pub(super) async fn settlement_query_via_call(
    platform: &dyn Platform,
    input: &SettlementQueryInput,
    insuplc_admdvs: &str,
) -> Result<SettlementQuery, UpstreamError> {
    if insuplc_admdvs.trim().is_empty() {
        return Err(UpstreamError::NotSent {
            detail: "5203 names a person: insuplc_admdvs is required".into(),
        });
    }
    let answer: SettlementQuery = platform
        .call(
            SETTLEMENT_QUERY,
            to_input(input)?,
            &for_person(insuplc_admdvs),
        )
        .await?
        .output()?;
    answer.setl_id()?;
    Ok(answer)
}

/// `input` as the JSON the envelope carries.
pub fn to_input<I: Serialize>(input: &I) -> Result<Value, UpstreamError> {
    serde_json::to_value(input).map_err(|e| UpstreamError::NotSent {
        detail: format!("input does not serialise: {e}"),
    })
}

fn for_person(insuplc_admdvs: &str) -> CallOptions {
    CallOptions {
        insuplc_admdvs: Some(insuplc_admdvs.to_owned()),
        password_proof: None,
    }
}

impl dyn Platform + '_ {
    /// [`Platform::prepare`] of a typed input.
    pub async fn prepare_input<I: Serialize>(
        &self,
        infno: &str,
        input: &I,
        options: &CallOptions,
    ) -> Result<Prepared, UpstreamError> {
        self.prepare(infno, to_input(input)?, options).await
    }

    /// 1101 person info.
    pub async fn person_info(
        &self,
        query: &PersonQueryInput,
        options: &CallOptions,
    ) -> Result<PersonInfo, UpstreamError> {
        self.call(PERSON_INFO, to_input(query)?, options)
            .await?
            .output()
    }

    /// 2101 pharmacy pre-settlement: the estimate as given (no arithmetic check refuses it);
    /// nothing is settled.
    pub async fn presettle_pharmacy(
        &self,
        input: &PharmacyInput,
        insuplc_admdvs: &str,
    ) -> Result<Settlement, UpstreamError> {
        if input.infno() != PHARMACY_PRESETTLE {
            return Err(UpstreamError::NotSent {
                detail: format!(
                    "{} moves money: prepare and send it, do not call it",
                    input.infno()
                ),
            });
        }
        let x = self
            .call(input.infno(), to_input(input)?, &for_person(insuplc_admdvs))
            .await?;
        x.output()
    }

    /// 3201 daily totals.
    pub async fn reconcile(&self, input: &ReconcileInput) -> Result<StmtInfo, UpstreamError> {
        let out: ReconcileOutput = self
            .call(RECONCILE, to_input(input)?, &CallOptions::default())
            .await?
            .output()?;
        Ok(out.stmtinfo)
    }

    /// 9101 file upload: where the platform keeps the file (`file_qury_no`, required).
    pub async fn upload_file(&self, input: &UploadInput) -> Result<FileInfo, UpstreamError> {
        match self.transfer(FILE_UPLOAD, to_input(input)?).await? {
            FileAnswer::Envelope(r) => upload_answer(&r.output),
            FileAnswer::Bytes(_) => Err(UpstreamError::Protocol {
                detail: "9101 answered with a file, not an envelope".into(),
            }),
        }
    }

    /// 3202 detail reconciliation of an uploaded file: where its result lies (`fileinfo`).
    pub async fn detail_reconcile(
        &self,
        input: &DetailReconcileInput,
    ) -> Result<FileInfo, UpstreamError> {
        let x = self
            .call(DETAIL_RECONCILE, to_input(input)?, &CallOptions::default())
            .await?;
        detail_reconcile_answer(&x.response.output)
    }

    /// 9102 file download: the ZIP, whichever of the answer shapes carried it.
    pub async fn download_file(&self, input: &DownloadInput) -> Result<Vec<u8>, UpstreamError> {
        download_answer(&self.transfer(FILE_DOWNLOAD, to_input(input)?).await?)
    }
}

impl Platform for Client {
    fn call<'a>(
        &'a self,
        infno: &'a str,
        input: Value,
        options: &'a CallOptions,
    ) -> BoxFuture<'a, Result<Exchange, UpstreamError>> {
        Box::pin(async move { Client::call(self, infno, &input, options).await })
    }

    fn prepare<'a>(
        &'a self,
        infno: &'a str,
        input: Value,
        options: &'a CallOptions,
    ) -> BoxFuture<'a, Result<Prepared, UpstreamError>> {
        Box::pin(async move { Client::prepare(self, infno, &input, options).await })
    }

    fn send<'a>(
        &'a self,
        prepared: &'a Prepared,
    ) -> BoxFuture<'a, Result<Exchange, UpstreamError>> {
        Box::pin(async move {
            // The platform refused the session, not the request: nothing happened, and the
            // client has signed in again. For the engine that is a request that never took
            // effect — it is prepared afresh (new msgid), never refused and never reversed.
            Client::send(self, prepared).await.map_err(|e| {
                if self.is_sign_in_rejection(&e) {
                    UpstreamError::NotSent {
                        detail: format!(
                            "the platform refused the session for {}; signed in again",
                            prepared.infno
                        ),
                    }
                } else {
                    e
                }
            })
        })
    }

    fn ec_query<'a>(
        &'a self,
        code: &'a EVoucherCode,
        business: BusinessType,
    ) -> BoxFuture<'a, Result<EcIdentity, UpstreamError>> {
        Box::pin(Client::ec_query(self, code, business))
    }

    fn signtype(&self) -> &str {
        Client::signtype(self)
    }

    fn has_ec(&self) -> bool {
        self.ec_url().is_some()
    }

    fn file_in_encoding(&self) -> super::tx::statement::InEncoding {
        self.file_in_encoding()
    }

    fn settlement_query<'a>(
        &'a self,
        input: &'a SettlementQueryInput,
        insuplc_admdvs: &'a str,
    ) -> BoxFuture<'a, Result<SettlementQuery, UpstreamError>> {
        Box::pin(settlement_query_via_call(self, input, insuplc_admdvs))
    }

    fn transfer<'a>(
        &'a self,
        infno: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<FileAnswer, UpstreamError>> {
        Box::pin(async move { Client::transfer(self, infno, &input).await })
    }
}

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
use super::tx::reverse::{RECONCILE, ReconcileInput, ReconcileOutput, StmtInfo};
use super::tx::settle::Settlement;
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

    /// 2101 pharmacy pre-settlement: the split, checked to balance; nothing is settled.
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
        let s: Settlement = x.output()?;
        s.check_balance()?;
        Ok(s)
    }

    /// 3201 daily totals.
    pub async fn reconcile(&self, input: &ReconcileInput) -> Result<StmtInfo, UpstreamError> {
        let out: ReconcileOutput = self
            .call(RECONCILE, to_input(input)?, &CallOptions::default())
            .await?
            .output()?;
        Ok(out.stmtinfo)
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
        Box::pin(Client::send(self, prepared))
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
}

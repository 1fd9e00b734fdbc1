//! Typed calls on the [`Client`]: one method per transaction that moves no money, returning the
//! checked output (1101, 2101 and 3201 delegate to the typed calls every
//! [`Platform`] has), and the output check for the money-moving ones (2102/2207 settlements,
//! 2103/2208 cancellations), which the settlement engine sends with `prepare`/`send`.
//!
//! A settlement answer is final once it carries a `setl_id` (upstream.md "Settlement answers"):
//! its amounts are recorded as given and checked only in an advisory way, by the settler. A
//! cancellation answer is informational (stored, never validated).

use super::client::{CallOptions, Client, Exchange};
use super::error::UpstreamError;
use super::platform::Platform;
use super::tx::outpatient::{
    FeeUploadInput, FeeUploadOutput, OUTPATIENT_FEE_UPLOAD, OUTPATIENT_PRESETTLE,
    OUTPATIENT_REGISTER, OutpatientInput, Registered, RegistrationInput, RegistrationOutput,
};
use super::tx::person::{PersonInfo, PersonQueryInput};
use super::tx::pharmacy::PharmacyInput;
use super::tx::query::{SettlementQuery, SettlementQueryInput};
use super::tx::reverse::{REVERSAL, ReconcileInput, ReversalInput, StmtInfo};
use super::tx::settle::Settlement;
use super::tx::statement::{DetailReconcileInput, DownloadInput, FileInfo, UploadInput};

fn for_person(insuplc_admdvs: &str) -> CallOptions {
    CallOptions {
        insuplc_admdvs: Some(insuplc_admdvs.to_owned()),
        password_proof: None,
    }
}

impl Client {
    /// 1101 person info.
    pub async fn person_info(
        &self,
        query: &PersonQueryInput,
        options: &CallOptions,
    ) -> Result<PersonInfo, UpstreamError> {
        (self as &dyn Platform).person_info(query, options).await
    }

    /// 2101 pharmacy pre-settlement: the estimate as given; nothing is settled.
    pub async fn presettle_pharmacy(
        &self,
        input: &PharmacyInput,
        insuplc_admdvs: &str,
    ) -> Result<Settlement, UpstreamError> {
        (self as &dyn Platform)
            .presettle_pharmacy(input, insuplc_admdvs)
            .await
    }

    /// 2201 outpatient registration: the visit (`mdtrt_id`).
    pub async fn register_outpatient(
        &self,
        input: &RegistrationInput,
        insuplc_admdvs: &str,
    ) -> Result<Registered, UpstreamError> {
        let out: RegistrationOutput = self
            .call(OUTPATIENT_REGISTER, input, &for_person(insuplc_admdvs))
            .await?
            .output()?;
        out.mdtrt_id()?;
        Ok(out.data)
    }

    /// 2204 fee detail upload.
    pub async fn upload_fees(
        &self,
        input: &FeeUploadInput,
        insuplc_admdvs: &str,
    ) -> Result<FeeUploadOutput, UpstreamError> {
        self.call(OUTPATIENT_FEE_UPLOAD, input, &for_person(insuplc_admdvs))
            .await?
            .output()
    }

    /// 2206 outpatient pre-settlement.
    pub async fn presettle_outpatient(
        &self,
        input: &OutpatientInput,
        insuplc_admdvs: &str,
    ) -> Result<Settlement, UpstreamError> {
        presettle_only(input.infno(), OUTPATIENT_PRESETTLE)?;
        let x = self
            .call(input.infno(), input, &for_person(insuplc_admdvs))
            .await?;
        x.output()
    }

    /// 2601 reversal. Safe to repeat: the platform reverses a msgid once.
    pub async fn reverse(
        &self,
        input: &ReversalInput,
        insuplc_admdvs: &str,
    ) -> Result<(), UpstreamError> {
        self.call(REVERSAL, input, &for_person(insuplc_admdvs))
            .await
            .map(|_| ())
    }

    /// 5203 settlement query: the settlement `input` names, as the platform holds it now.
    pub async fn settlement_query(
        &self,
        input: &SettlementQueryInput,
        insuplc_admdvs: &str,
    ) -> Result<SettlementQuery, UpstreamError> {
        Platform::settlement_query(self, input, insuplc_admdvs).await
    }

    /// 3201 daily totals.
    pub async fn reconcile(&self, input: &ReconcileInput) -> Result<StmtInfo, UpstreamError> {
        (self as &dyn Platform).reconcile(input).await
    }

    /// 9101 file upload.
    pub async fn upload_file(&self, input: &UploadInput) -> Result<FileInfo, UpstreamError> {
        (self as &dyn Platform).upload_file(input).await
    }

    /// 3202 detail reconciliation.
    pub async fn detail_reconcile(
        &self,
        input: &DetailReconcileInput,
    ) -> Result<FileInfo, UpstreamError> {
        (self as &dyn Platform).detail_reconcile(input).await
    }

    /// 9102 file download: the ZIP.
    pub async fn download_file(&self, input: &DownloadInput) -> Result<Vec<u8>, UpstreamError> {
        (self as &dyn Platform).download_file(input).await
    }
}

/// Settling goes through `prepare`/`send` (the msgid recorded first), never through `call`.
fn presettle_only(infno: &str, expected: &str) -> Result<(), UpstreamError> {
    if infno == expected {
        Ok(())
    } else {
        Err(UpstreamError::NotSent {
            detail: format!("{infno} moves money: prepare and send it, do not call it"),
        })
    }
}

/// A 2102/2207 answer: final when it carries a `setl_id`; nothing else is checked here.
pub fn settlement(x: &Exchange) -> Result<Settlement, UpstreamError> {
    let s: Settlement = x.output()?;
    s.check()?;
    Ok(s)
}

/// A 2103/2208 answer (infcode 0): informational, whatever its shape; never validated against
/// the settlement it cancels.
pub fn cancellation(x: &Exchange) -> Result<Settlement, UpstreamError> {
    x.output()
}

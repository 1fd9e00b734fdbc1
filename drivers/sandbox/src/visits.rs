//! The sandbox's books of outpatient visits (outpatient.md): what 2201 opened, what
//! 2203/2203A recorded, the fee lines 2204 uploaded and 2205 revoked, the last 2206 answer of
//! each batch (what a 2207 must echo), and the settlements of the batches. Plain data guarded
//! by the state lock; the transactions in `tx/` decide what is allowed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use medsettle_nhsa::money::Fen;

use crate::ledger::{FeeLineRecord, SettlementRecord, VisitRecord, VisitSettlement, VisitStatus};

/// One fee line (2204).
#[derive(Debug, Clone)]
pub struct Line {
    pub feedetl_sn: String,
    pub chrg_bchno: String,
    pub med_list_codg: String,
    pub dise_codg: String,
    pub amount: Fen,
    /// The settlement that last included the line (kept after 2208, so a 2601 of the 2208
    /// settles exactly these lines again).
    pub setl_id: Option<String>,
    pub settled: bool,
}

/// What 2203/2203A recorded.
#[derive(Debug, Clone)]
pub struct Info {
    pub med_type: String,
    pub dise_codg: String,
    pub diagnoses: usize,
}

/// The last 2206 answer of a batch: the total it was asked for and the four amounts a 2207
/// must echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trial {
    pub medfee: Fen,
    pub echoed: Vec<(&'static str, Fen)>,
}

/// An outpatient visit (2201).
#[derive(Debug, Clone)]
pub struct Visit {
    pub psn_no: String,
    pub insutype: String,
    pub ipt_otp_no: String,
    pub fixmedins_code: String,
    pub begntime: String,
    pub begn: DateTime<Utc>,
    pub cancelled: bool,
    pub info: Option<Info>,
    pub lines: Vec<Line>,
    /// `feedetl_sn`s of lines revoked by 2205 (for `AnswerShapes::reuse_deleted_feedetl_sn`).
    pub deleted_sns: BTreeSet<String>,
    /// chrg_bchno → the last 2206 answer since the batch last changed.
    pub trials: BTreeMap<String, Trial>,
    /// Settlements (2207) of the visit's batches, in order.
    pub setl_ids: Vec<String>,
}

impl Visit {
    pub fn new(
        psn_no: String,
        insutype: String,
        ipt_otp_no: String,
        fixmedins_code: String,
        begntime: String,
        begn: DateTime<Utc>,
    ) -> Self {
        Visit {
            psn_no,
            insutype,
            ipt_otp_no,
            fixmedins_code,
            begntime,
            begn,
            cancelled: false,
            info: None,
            lines: Vec::new(),
            deleted_sns: BTreeSet::new(),
            trials: BTreeMap::new(),
            setl_ids: Vec::new(),
        }
    }

    pub fn batch(&self, chrg_bchno: &str) -> impl Iterator<Item = &Line> {
        self.lines
            .iter()
            .filter(move |l| l.chrg_bchno == chrg_bchno)
    }

    /// Whether any line of the batch is part of an effective settlement.
    pub fn batch_settled(&self, chrg_bchno: &str) -> bool {
        self.batch(chrg_bchno).any(|l| l.settled)
    }

    /// Marks the lines included in `setl_id` settled or not.
    pub fn mark_settled(&mut self, setl_id: &str, settled: bool) {
        for l in &mut self.lines {
            if l.setl_id.as_deref() == Some(setl_id) {
                l.settled = settled;
            }
        }
    }

    /// The snapshot, with the settlements' current status.
    pub fn record(&self, mdtrt_id: &str, settlements: &[SettlementRecord]) -> VisitRecord {
        VisitRecord {
            mdtrt_id: mdtrt_id.to_owned(),
            ipt_otp_no: self.ipt_otp_no.clone(),
            psn_no: self.psn_no.clone(),
            insutype: self.insutype.clone(),
            fixmedins_code: self.fixmedins_code.clone(),
            begntime: self.begntime.clone(),
            status: if self.cancelled {
                VisitStatus::Cancelled
            } else {
                VisitStatus::Open
            },
            info_uploaded: self.info.is_some(),
            med_type: self.info.as_ref().map(|i| i.med_type.clone()),
            dise_codg: self
                .info
                .as_ref()
                .map(|i| i.dise_codg.clone())
                .unwrap_or_default(),
            diagnoses: self.info.as_ref().map_or(0, |i| i.diagnoses),
            lines: self
                .lines
                .iter()
                .map(|l| FeeLineRecord {
                    feedetl_sn: l.feedetl_sn.clone(),
                    chrg_bchno: l.chrg_bchno.clone(),
                    med_list_codg: l.med_list_codg.clone(),
                    dise_codg: l.dise_codg.clone(),
                    amount: l.amount,
                    settled: l.settled,
                })
                .collect(),
            settlements: self
                .setl_ids
                .iter()
                .filter_map(|id| settlements.iter().find(|s| &s.setl_id == id))
                .map(|s| VisitSettlement {
                    setl_id: s.setl_id.clone(),
                    chrg_bchno: s.chrg_bchno.clone(),
                    status: s.status,
                })
                .collect(),
        }
    }
}

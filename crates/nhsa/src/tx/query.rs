//! 5203 结算信息查询 settlement query (upstream.md "Settlement query (5203) and unknown
//! outcomes"): re-reads a settlement whose `setl_id` the terminal holds — to confirm its state
//! before acting again (e.g. after a lost 2103/2208 answer), to reprint a receipt, or to finish
//! an answer that was logged but not applied. It cannot find a settlement from a msgid: the
//! input refuses to be built without a `setl_id` and a `psn_no`.
//!
//! The answer is the settlement field set under cancellation-style names (`psn_pay`,
//! `cash_payamt`), plus `refd_setl_flag` (`1` = refunded/cancelled), `medins_setl_id` (the
//! settling request's msgid) and more, parsed as tolerantly as any settlement answer
//! ([`Settlement`]).

use std::fmt;

use serde::Serialize;
use serde::de::{Deserialize, Deserializer};

use super::settle::Settlement;
use crate::error::UpstreamError;
use crate::money::Fen;
use medsettle_base::pii::PsnNo;

pub const SETTLEMENT_QUERY: &str = "5203";

/// 5203 input: `{"data": {"psn_no", "setl_id", "mdtrt_id"}}`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct SettlementQueryInput {
    pub data: SettlementQueryData,
}

#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct SettlementQueryData {
    pub psn_no: PsnNo,
    pub setl_id: String,
    /// Optional in the contract; sent empty when unknown.
    pub mdtrt_id: String,
}

impl SettlementQueryInput {
    /// The query of settlement `setl_id` of `psn_no`. Both are required (the platform finds
    /// nothing without them): an empty one is refused before anything is sent.
    pub fn new(
        psn_no: &str,
        setl_id: &str,
        mdtrt_id: Option<&str>,
    ) -> Result<SettlementQueryInput, UpstreamError> {
        let (psn_no, setl_id) = (psn_no.trim(), setl_id.trim());
        if psn_no.is_empty() || setl_id.is_empty() {
            return Err(UpstreamError::NotSent {
                detail: "5203 needs the psn_no and the setl_id of the settlement".into(),
            });
        }
        Ok(SettlementQueryInput {
            data: SettlementQueryData {
                psn_no: PsnNo::new(psn_no),
                setl_id: setl_id.to_owned(),
                mdtrt_id: mdtrt_id.unwrap_or_default().trim().to_owned(),
            },
        })
    }
}

impl fmt::Debug for SettlementQueryInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SettlementQueryInput")
            .field("psn_no", &self.data.psn_no)
            .field("setl_id", &self.data.setl_id)
            .field("mdtrt_id", &self.data.mdtrt_id)
            .finish()
    }
}

/// A 5203 answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettlementQuery {
    pub settlement: Settlement,
}

impl<'de> Deserialize<'de> for SettlementQuery {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Settlement::deserialize(deserializer).map(|settlement| SettlementQuery { settlement })
    }
}

/// What 5203 says about the settlement's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refund {
    /// `refd_setl_flag` `0`: the settlement stands.
    Effective,
    /// `refd_setl_flag` `1`: it was refunded (cancelled).
    Refunded,
    /// Absent or another value: the answer does not say.
    Unstated,
}

impl SettlementQuery {
    /// The settlement the platform found, or a protocol error when the answer names none.
    pub fn setl_id(&self) -> Result<&str, UpstreamError> {
        self.settlement
            .setl_id()
            .ok_or_else(|| UpstreamError::Protocol {
                detail: "5203 answer without setlinfo.setl_id".into(),
            })
    }

    /// `refd_setl_flag`.
    pub fn refund(&self) -> Refund {
        match self
            .settlement
            .setlinfo
            .refd_setl_flag
            .as_deref()
            .map(str::trim)
        {
            Some("1") => Refund::Refunded,
            Some("0") => Refund::Effective,
            _ => Refund::Unstated,
        }
    }

    /// The settling request's msgid (`medins_setl_id`), when given.
    pub fn msgid(&self) -> Option<&str> {
        self.settlement.setlinfo.medins_setl_id.as_deref()
    }

    /// The patient's cash: `cash_payamt` (5203's name), else `psn_cash_pay`.
    pub fn cash(&self) -> Option<Fen> {
        let s = &self.settlement.setlinfo;
        s.cash_payamt.or(s.psn_cash_pay)
    }

    /// The patient's share: `psn_pay` (5203's name), else `psn_part_amt`.
    pub fn patient_part(&self) -> Option<Fen> {
        let s = &self.settlement.setlinfo;
        s.psn_pay.or(s.psn_part_amt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::classify;

    #[test]
    fn the_input_needs_psn_no_and_setl_id_and_masks_psn_no() {
        let q = SettlementQueryInput::new("P11010519491231", "S1", None).unwrap();
        assert_eq!(
            serde_json::to_value(&q).unwrap(),
            serde_json::json!({"data": {"psn_no": "P11010519491231", "setl_id": "S1", "mdtrt_id": ""}})
        );
        assert!(!format!("{q:?}").contains("P11010519491231"));
        for (psn, setl) in [("", "S1"), ("P1", " "), ("", "")] {
            let e = SettlementQueryInput::new(psn, setl, Some("M1")).unwrap_err();
            assert!(!e.outcome_unknown(), "nothing was sent: {e}");
        }
    }

    #[test]
    fn the_answer_reads_the_cancellation_style_names() {
        let r = classify(
            200,
            include_bytes!("../../../../fixtures/upstream/5203_response.json"),
        )
        .unwrap();
        let q: SettlementQuery = r.output_as().unwrap();
        assert_eq!(q.setl_id().unwrap(), "S110105202611230001");
        assert_eq!(q.refund(), Refund::Refunded);
        assert_eq!(q.msgid(), Some("H11010500001202611231000000042"));
        assert_eq!(q.cash(), Some(Fen(1_820)));
        assert_eq!(q.patient_part(), Some(Fen(4_820)));
        assert_eq!(q.settlement.setlinfo.medfee_sumamt, Fen(12_850));
        assert_eq!(
            q.settlement.setlinfo.invono.as_deref(),
            Some("INV20261123000001")
        );
        assert_eq!(q.settlement.setldetail.len(), 1);
        let empty = SettlementQuery::default();
        assert!(empty.setl_id().is_err());
        assert_eq!(empty.refund(), Refund::Unstated);
        assert_eq!(empty.cash(), None);
    }
}

//! The settlement answer shared by 2101/2102 (pharmacy), 2206/2207 (outpatient) and, negated,
//! 2103/2208 (cancellation): `setlinfo` and `setldetail[]`, amounts in [`Fen`].
//!
//! [`Settlement::check`] enforces upstream.md's invariants to the fen — `medfee_sumamt =
//! fund_pay_sumamt + acct_pay + psn_cash_pay`, and the `setldetail` fund payments add up to
//! `fund_pay_sumamt` — so an answer that does not balance is a protocol error the settlement
//! engine treats as an unknown outcome, never money it records.

use serde::Deserialize;

use crate::upstream::envelope::lenient_text;
use crate::upstream::error::UpstreamError;
use crate::upstream::money::Fen;

/// The settlement output node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Settlement {
    pub setlinfo: SetlInfo,
    pub setldetail: Vec<SetlDetail>,
}

/// `setlinfo`: who pays what.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SetlInfo {
    #[serde(deserialize_with = "lenient_text")]
    pub setl_id: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub mdtrt_id: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub psn_no: Option<String>,
    /// Total medical fees.
    pub medfee_sumamt: Fen,
    /// Paid by the funds.
    pub fund_pay_sumamt: Fen,
    /// Paid from the personal account.
    pub acct_pay: Fen,
    /// Paid by the patient in cash.
    pub psn_cash_pay: Fen,
    /// Personal account balance after settlement.
    pub balc: Option<Fen>,
    #[serde(deserialize_with = "lenient_text")]
    pub insutype: Option<String>,
    #[serde(deserialize_with = "lenient_text")]
    pub setl_time: Option<String>,
}

/// One fund's share.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SetlDetail {
    #[serde(deserialize_with = "lenient_text")]
    pub fund_pay_type: Option<String>,
    pub fund_payamt: Fen,
    #[serde(deserialize_with = "lenient_text")]
    pub setl_proc_info: Option<String>,
}

impl Settlement {
    /// Checks the invariants; the error names which one failed and by how much.
    pub fn check(&self) -> Result<(), UpstreamError> {
        let s = &self.setlinfo;
        if s.setl_id.as_deref().is_none_or(str::is_empty) {
            return Err(protocol("setlinfo.setl_id is missing".into()));
        }
        let parts = Fen::checked_sum([s.fund_pay_sumamt, s.acct_pay, s.psn_cash_pay])
            .ok_or_else(|| protocol("setlinfo amounts overflow".into()))?;
        if parts != s.medfee_sumamt {
            return Err(protocol(format!(
                "setlinfo does not balance: medfee_sumamt {} ≠ fund {} + account {} + cash {}",
                s.medfee_sumamt, s.fund_pay_sumamt, s.acct_pay, s.psn_cash_pay
            )));
        }
        if !self.setldetail.is_empty() {
            let funds = Fen::checked_sum(self.setldetail.iter().map(|d| d.fund_payamt))
                .ok_or_else(|| protocol("setldetail amounts overflow".into()))?;
            if funds != s.fund_pay_sumamt {
                return Err(protocol(format!(
                    "setldetail fund payments {funds} ≠ fund_pay_sumamt {}",
                    s.fund_pay_sumamt
                )));
            }
        }
        Ok(())
    }
}

fn protocol(detail: String) -> UpstreamError {
    UpstreamError::Protocol { detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::envelope::classify;

    fn settlement(fixture: &str) -> Settlement {
        classify(200, fixture.as_bytes())
            .unwrap()
            .output_as::<Settlement>()
            .unwrap()
    }

    #[test]
    fn a_balanced_answer_parses_to_the_fen() {
        let s = settlement(include_str!(
            "../../../fixtures/upstream/2102_response.json"
        ));
        s.check().unwrap();
        assert_eq!(s.setlinfo.medfee_sumamt, Fen(12_850));
        assert_eq!(s.setlinfo.fund_pay_sumamt, Fen(8_030));
        assert_eq!(s.setlinfo.balc, Some(Fen(127_050)));
        assert_eq!(s.setldetail.len(), 2);
        assert_eq!(s.setldetail[1].fund_payamt, Fen(1_000));
    }

    #[test]
    fn an_unbalanced_answer_is_a_protocol_error() {
        let s = settlement(include_str!(
            "../../../fixtures/upstream/2102_response_unbalanced.json"
        ));
        let e = s.check().unwrap_err();
        assert!(
            e.outcome_unknown(),
            "an answer that does not add up is not trusted"
        );
        assert!(e.to_string().contains("does not balance"), "{e}");
    }

    #[test]
    fn fund_details_must_add_up() {
        let mut s = settlement(include_str!(
            "../../../fixtures/upstream/2102_response.json"
        ));
        s.setldetail[0].fund_payamt = Fen(7_031);
        let e = s.check().unwrap_err();
        assert!(e.to_string().contains("setldetail"), "{e}");
        s.setldetail.clear();
        s.check().unwrap();
        s.setlinfo.setl_id = None;
        assert!(s.check().is_err());
    }
}

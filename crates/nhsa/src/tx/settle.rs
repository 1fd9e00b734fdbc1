//! The settlement answer shared by 2101/2102 (pharmacy), 2206/2207 (outpatient) and, negated,
//! 2103/2208 (cancellation): `setlinfo` and `setldetail[]`, amounts in [`Fen`].
//!
//! [`Settlement::check`] enforces upstream.md's invariants to the fen — `medfee_sumamt =
//! fund_pay_sumamt + acct_pay + psn_cash_pay`, and the `setldetail` fund payments add up to
//! `fund_pay_sumamt` — so an answer that does not balance is a protocol error the settlement
//! engine treats as an unknown outcome, never money it records.

use serde::Deserialize;

use crate::envelope::lenient_text;
use crate::error::UpstreamError;
use crate::money::Fen;
use medsettle_base::pii::PsnNo;

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
    pub psn_no: Option<PsnNo>,
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
    /// 全自费金额: carried from a 2206 answer into the 2207 request.
    pub fulamt_ownpay_amt: Option<Fen>,
    /// 超限价自费费用.
    pub overlmt_selfpay: Option<Fen>,
    /// 先行自付金额.
    pub preselfpay_amt: Option<Fen>,
    /// 符合政策范围金额.
    pub inscp_scp_amt: Option<Fen>,
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
    /// Checks a final answer (2102/2207, and negated 2103/2208): a `setl_id` and the amount
    /// invariants; the error names which one failed and by how much.
    pub fn check(&self) -> Result<(), UpstreamError> {
        if self.setlinfo.setl_id.as_deref().is_none_or(str::is_empty) {
            return Err(protocol("setlinfo.setl_id is missing".into()));
        }
        self.check_balance()
    }

    /// The amount invariants only, for pre-settlement answers (2101/2206), which need not carry
    /// a `setl_id`. They are sign-agnostic, so negated cancellation answers satisfy them too.
    pub fn check_balance(&self) -> Result<(), UpstreamError> {
        // Exact sums in i128: a running i64 sum could overflow part-way through amounts whose
        // total is in range, and then a balanced answer (or the negation of one, a valid
        // cancellation) would be refused (the `upstream` fuzz target checks this).
        let exact = |amounts: &mut dyn Iterator<Item = Fen>| -> i128 {
            amounts.map(|f| i128::from(f.0)).sum()
        };
        let s = &self.setlinfo;
        let parts = exact(&mut [s.fund_pay_sumamt, s.acct_pay, s.psn_cash_pay].into_iter());
        if parts != i128::from(s.medfee_sumamt.0) {
            return Err(protocol(format!(
                "setlinfo does not balance: medfee_sumamt {} ≠ fund {} + account {} + cash {}",
                s.medfee_sumamt, s.fund_pay_sumamt, s.acct_pay, s.psn_cash_pay
            )));
        }
        if !self.setldetail.is_empty() {
            let funds = exact(&mut self.setldetail.iter().map(|d| d.fund_payamt));
            if funds != i128::from(s.fund_pay_sumamt.0) {
                let shown =
                    i64::try_from(funds).map_or(format!("{funds} fen"), |f| Fen(f).to_string());
                return Err(protocol(format!(
                    "setldetail fund payments {shown} ≠ fund_pay_sumamt {}",
                    s.fund_pay_sumamt
                )));
            }
        }
        Ok(())
    }
}

impl Settlement {
    /// Checks a 2103/2208 cancellation answer against the settlement it cancels: [`check`]
    /// holds, and `medfee_sumamt`, `fund_pay_sumamt`, `acct_pay` and `psn_cash_pay` are the
    /// exact negations of the original's (the balance `balc` is not compared: it moves).
    ///
    /// [`check`]: Settlement::check
    pub fn check_cancels(&self, original: &Settlement) -> Result<(), UpstreamError> {
        self.check()?;
        let (c, o) = (&self.setlinfo, &original.setlinfo);
        for (name, cancel, orig) in [
            ("medfee_sumamt", c.medfee_sumamt, o.medfee_sumamt),
            ("fund_pay_sumamt", c.fund_pay_sumamt, o.fund_pay_sumamt),
            ("acct_pay", c.acct_pay, o.acct_pay),
            ("psn_cash_pay", c.psn_cash_pay, o.psn_cash_pay),
        ] {
            if orig.0.checked_neg() != Some(cancel.0) {
                return Err(protocol(format!(
                    "cancellation {name} {cancel} does not negate the settled {orig}"
                )));
            }
        }
        Ok(())
    }

    /// The amounts negated (`setldetail` too), identifiers kept: what a 2103/2208 answer for
    /// this settlement is expected to carry. `None` on `i64::MIN`.
    pub fn negated(&self) -> Option<Settlement> {
        let neg = |f: Fen| f.0.checked_neg().map(Fen);
        let s = &self.setlinfo;
        let opt = |f: Option<Fen>| match f {
            None => Some(None),
            Some(v) => neg(v).map(Some),
        };
        let setlinfo = SetlInfo {
            medfee_sumamt: neg(s.medfee_sumamt)?,
            fund_pay_sumamt: neg(s.fund_pay_sumamt)?,
            acct_pay: neg(s.acct_pay)?,
            psn_cash_pay: neg(s.psn_cash_pay)?,
            fulamt_ownpay_amt: opt(s.fulamt_ownpay_amt)?,
            overlmt_selfpay: opt(s.overlmt_selfpay)?,
            preselfpay_amt: opt(s.preselfpay_amt)?,
            inscp_scp_amt: opt(s.inscp_scp_amt)?,
            ..s.clone()
        };
        let setldetail = self
            .setldetail
            .iter()
            .map(|d| {
                Some(SetlDetail {
                    fund_payamt: neg(d.fund_payamt)?,
                    ..d.clone()
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Settlement {
            setlinfo,
            setldetail,
        })
    }
}

fn protocol(detail: String) -> UpstreamError {
    UpstreamError::Protocol { detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::classify;

    fn settlement(fixture: &str) -> Settlement {
        classify(200, fixture.as_bytes())
            .unwrap()
            .output_as::<Settlement>()
            .unwrap()
    }

    #[test]
    fn a_balanced_answer_parses_to_the_fen() {
        let s = settlement(include_str!(
            "../../../../fixtures/upstream/2102_response.json"
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
            "../../../../fixtures/upstream/2102_response_unbalanced.json"
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
            "../../../../fixtures/upstream/2102_response.json"
        ));
        s.setldetail[0].fund_payamt = Fen(7_031);
        let e = s.check().unwrap_err();
        assert!(e.to_string().contains("setldetail"), "{e}");
        s.setldetail.clear();
        s.check().unwrap();
        s.setlinfo.setl_id = None;
        assert!(s.check().is_err());
        s.check_balance().unwrap();
    }

    #[test]
    fn a_negated_cancellation_answer_balances_and_cancels_the_original() {
        let original = settlement(include_str!(
            "../../../../fixtures/upstream/2102_response.json"
        ));
        let cancel = settlement(include_str!(
            "../../../../fixtures/upstream/2103_response.json"
        ));
        cancel.check().unwrap();
        assert_eq!(cancel.setlinfo.medfee_sumamt, Fen(-12_850));
        assert_eq!(cancel.setldetail[0].fund_payamt, Fen(-7_030));
        cancel.check_cancels(&original).unwrap();
        let expected = original.negated().unwrap();
        assert_eq!(expected.setlinfo.acct_pay, Fen(-3_000));
        assert_eq!(expected.setldetail, cancel.setldetail);
        expected.check().unwrap();
        // Cancelling a different amount is a protocol error.
        let mut other = original.clone();
        other.setlinfo.psn_cash_pay = Fen(1_821);
        let e = cancel.check_cancels(&other).unwrap_err();
        assert!(e.to_string().contains("psn_cash_pay"), "{e}");
        // A negated answer that does not balance fails the ordinary check.
        let mut off = cancel.clone();
        off.setlinfo.acct_pay = Fen(-2_999);
        assert!(off.check_cancels(&original).is_err());
        let min = Settlement {
            setlinfo: SetlInfo {
                medfee_sumamt: Fen(i64::MIN),
                ..SetlInfo::default()
            },
            setldetail: vec![],
        };
        assert_eq!(min.negated(), None);
    }

    #[test]
    fn balances_exactly_even_when_a_running_sum_would_overflow() {
        // fund + account = i64::MIN exactly, then cash brings the total back in range; the
        // negation's running sum overflowed. Input kept in fixtures/fuzz/upstream/.
        let half = Fen(-(1 << 62));
        let s = Settlement {
            setlinfo: SetlInfo {
                setl_id: Some("1".into()),
                medfee_sumamt: Fen(i64::MIN + 5),
                fund_pay_sumamt: half,
                acct_pay: half,
                psn_cash_pay: Fen(5),
                ..SetlInfo::default()
            },
            setldetail: vec![],
        };
        assert!(s.check().is_ok());
        let cancel = s.negated().unwrap();
        assert!(cancel.check_balance().is_ok());
        assert!(cancel.check_cancels(&s).is_ok());
    }
}

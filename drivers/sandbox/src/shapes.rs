//! [`AnswerShapes`]: which of the public answer shapes of upstream.md the sandbox writes, so a
//! client is tested against each of them. Settlements may carry a hospital share
//! (`hosp_part_amt`) and a co-payment from a family account (`acct_mulaid_pay`), for everyone
//! or for the persons listed; cancellations may answer in the transcriptions' names (2103
//! `psn_pay`/`cash_payamt`, 2208 `pdn_cash_pay`). Two outpatient points the contract leaves
//! uncertain are flags here too (reuse of a revoked `feedetl_sn`, 5201 listing open visits), and
//! so are a person's clearing institution and how 3201 counts a cancellation.
//! Deterministic: the same bill and person give the same answer. Set at start ([`SandboxConfig::shapes`](crate::config::SandboxConfig)) or
//! through `POST /admin/shapes`.

use std::collections::BTreeMap;

use medsettle_nhsa::money::Fen;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The shapes of the sandbox's answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnswerShapes {
    /// Per-mille of the patient's cash share the institution bears (`hosp_part_amt`, truncated
    /// to the fen): `psn_cash_pay` is that much lower and `medfee_sumamt = fund_pay_sumamt +
    /// psn_part_amt + hosp_part_amt`. 0 = never.
    pub hosp_part_permille: u32,
    /// Per-mille of the account payment reported as `acct_mulaid_pay` (a share of `acct_pay`,
    /// which stays what the account paid). 0 = never.
    pub acct_mulaid_permille: u32,
    /// The persons (`psn_no`) whose settlements carry the two above; empty = everyone's.
    pub psn_nos: Vec<String>,
    /// Of those, only this per-mille of the bills (chosen by a hash of `seed` and the bill's
    /// `chrg_bchno`, so the same bill always gets the same answer); `None` = every bill.
    pub bills_permille: Option<u16>,
    /// Seed of the per-bill choice.
    pub seed: u64,
    /// Cancellation answers in the public transcriptions' names: 2103 `psn_pay` and
    /// `cash_payamt` (no `psn_part_amt`/`psn_cash_pay`), 2208 `pdn_cash_pay`.
    pub public_cancellations: bool,
    /// Whether 2204 accepts a `feedetl_sn` whose line 2205 revoked (outpatient.md leaves it
    /// open: "not known whether the platform accepts reused `feedetl_sn` after 2205").
    /// Default true; false refuses the reuse, so a client's resend under a new batch is
    /// tested both ways.
    pub reuse_deleted_feedetl_sn: bool,
    /// Whether 5201 lists an open visit without an effective settlement (outpatient.md
    /// "Uncertain"). Default true; false hides such visits, so a client recovering a lost
    /// 2201 is tested against a platform that does not show it.
    pub list_open_visits_in_5201: bool,
    /// 清算经办机构 (`clr_optins`) of a person's settlements, by `psn_no`, instead of the
    /// insurance's 参保地 (`insuplc_admdvs`): two clearing institutions in one test without a
    /// person file of another region.
    pub clr_optins: BTreeMap<String, String>,
    /// How a cancellation counts in 3201's `fixmedins_setl_cnt` when refunds are included
    /// (upstream.md "Uncertain"; the client's `[settle] reconcile_refund_count`). Default
    /// `plus`.
    pub reconcile_refund_count: RefundCount,
    /// 3505/3506 answer `{retRslt: "1", msgRslt}` (true, the default) or an empty `output`
    /// (traceability.md: both are seen).
    pub trace_result_object: bool,
    /// 3505/3506 also require `hi_feesetl_type`, `psn_cert_type`, `expy_end` and
    /// `rx_circ_flag`, as one transcription marks them (traceability.md "Uncertain").
    pub trace_strict_optional: bool,
    /// A 3505/3506 resent under a msgid the platform already answered (the client lost the
    /// answer): answered again, recording nothing twice, as every request is (false, the
    /// default), or refused as a repeat upload (true; traceability.md names no behaviour),
    /// so the client's resend is tested both ways.
    pub trace_repeat_refused: bool,
}

pub use medsettle_nhsa::tx::reverse::RefundCount;

impl Default for AnswerShapes {
    fn default() -> Self {
        AnswerShapes {
            hosp_part_permille: 0,
            acct_mulaid_permille: 0,
            psn_nos: Vec::new(),
            bills_permille: None,
            seed: 0,
            public_cancellations: false,
            reuse_deleted_feedetl_sn: true,
            list_open_visits_in_5201: true,
            clr_optins: BTreeMap::new(),
            reconcile_refund_count: RefundCount::Plus,
            trace_result_object: true,
            trace_strict_optional: false,
            trace_repeat_refused: false,
        }
    }
}

impl AnswerShapes {
    /// The clearing institution of `psn_no`'s settlements whose 参保地 is `insuplc_admdvs`.
    pub fn clearing_institution(&self, psn_no: &str, insuplc_admdvs: &str) -> String {
        self.clr_optins
            .get(psn_no)
            .cloned()
            .unwrap_or_else(|| insuplc_admdvs.to_owned())
    }

    /// Whether `psn_no`'s settlements carry the hospital share and the co-payment.
    pub fn applies_to(&self, psn_no: &str) -> bool {
        self.psn_nos.is_empty() || self.psn_nos.iter().any(|p| p == psn_no)
    }

    /// Whether the bill `chrg_bchno` is among [`AnswerShapes::bills_permille`].
    fn bill_chosen(&self, chrg_bchno: &str) -> bool {
        let Some(permille) = self.bills_permille else {
            return true;
        };
        // FNV-1a over the seed and the batch number: stable across runs and platforms.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.seed.to_le_bytes().iter().chain(chrg_bchno.as_bytes()) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        h % 1000 < u64::from(permille)
    }

    /// (hospital share of `cash`, co-payment share of `acct`) for bill `chrg_bchno` of
    /// `psn_no`.
    pub fn shares(&self, psn_no: &str, chrg_bchno: &str, cash: Fen, acct: Fen) -> (Fen, Fen) {
        if !self.applies_to(psn_no) || !self.bill_chosen(chrg_bchno) {
            return (Fen(0), Fen(0));
        }
        let part = |amount: Fen, rate: u32| {
            Fen(
                i64::try_from(i128::from(amount.0.max(0)) * i128::from(rate.min(1000)) / 1000)
                    .unwrap_or(0),
            )
        };
        (
            part(cash, self.hosp_part_permille),
            part(acct, self.acct_mulaid_permille),
        )
    }

    /// Rewrites a cancellation answer of `infno` into the public names when configured.
    pub fn cancellation(&self, infno: &str, mut output: Value) -> Value {
        if !self.public_cancellations {
            return output;
        }
        let Some(info) = output.get_mut("setlinfo").and_then(Value::as_object_mut) else {
            return output;
        };
        let renames: &[(&str, &str)] = match infno {
            "2103" => &[("psn_part_amt", "psn_pay"), ("psn_cash_pay", "cash_payamt")],
            "2208" => &[("psn_cash_pay", "pdn_cash_pay")],
            _ => &[],
        };
        for (from, to) in renames {
            if let Some(v) = info.remove(*from) {
                info.insert((*to).to_owned(), v);
            }
        }
        output
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shares_are_per_person_and_truncated() {
        let s = AnswerShapes {
            hosp_part_permille: 100,
            acct_mulaid_permille: 500,
            psn_nos: vec!["P1".into()],
            ..AnswerShapes::default()
        };
        assert_eq!(
            s.shares("P1", "B", Fen(1_999), Fen(301)),
            (Fen(199), Fen(150))
        );
        assert_eq!(s.shares("P2", "B", Fen(1_999), Fen(301)), (Fen(0), Fen(0)));
        assert_eq!(
            AnswerShapes::default().shares("P1", "B", Fen(100), Fen(100)),
            (Fen(0), Fen(0))
        );
    }

    #[test]
    fn some_bills_only_chosen_by_seed() {
        let s = |seed| AnswerShapes {
            hosp_part_permille: 100,
            bills_permille: Some(300),
            seed,
            ..AnswerShapes::default()
        };
        let chosen = |seed| {
            (0..1000)
                .map(|i| s(seed).shares("P1", &format!("B{i}"), Fen(100), Fen(0)).0 != Fen(0))
                .collect::<Vec<_>>()
        };
        let a = chosen(7);
        assert_eq!(a, chosen(7), "the same seed, the same bills");
        assert_ne!(a, chosen(8));
        let n = a.iter().filter(|c| **c).count();
        assert!((200..400).contains(&n), "{n}");
    }

    #[test]
    fn the_uncertain_outpatient_flags_default_to_true() {
        let s: AnswerShapes = serde_json::from_value(json!({})).unwrap();
        assert!(s.reuse_deleted_feedetl_sn && s.list_open_visits_in_5201);
        let s: AnswerShapes =
            serde_json::from_value(json!({"reuse_deleted_feedetl_sn": false})).unwrap();
        assert!(!s.reuse_deleted_feedetl_sn && s.list_open_visits_in_5201);
    }

    #[test]
    fn public_cancellation_names() {
        let answer = json!({"setlinfo": {"psn_part_amt": "-1.00", "psn_cash_pay": "-0.50"}});
        let s = AnswerShapes {
            public_cancellations: true,
            ..AnswerShapes::default()
        };
        assert_eq!(
            s.cancellation("2103", answer.clone()),
            json!({"setlinfo": {"psn_pay": "-1.00", "cash_payamt": "-0.50"}})
        );
        assert_eq!(
            s.cancellation("2208", answer.clone()),
            json!({"setlinfo": {"psn_part_amt": "-1.00", "pdn_cash_pay": "-0.50"}})
        );
        assert_eq!(
            AnswerShapes::default().cancellation("2103", answer.clone()),
            answer
        );
    }
}

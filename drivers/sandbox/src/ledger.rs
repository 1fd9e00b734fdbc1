//! The [`Ledger`]: a serialisable snapshot of what the sandbox insurer has booked, for tests
//! and `GET /admin/ledger` to assert on ("exactly one effective settlement per sale", "the
//! balance went back"). A copy: changing it changes nothing in the sandbox.

use std::collections::BTreeMap;

use medsettle_nhsa::money::Fen;
use serde::{Deserialize, Serialize};

/// Where a settlement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementStatus {
    /// Settled and counted by 3201.
    Effective,
    /// Cancelled by 2103/2208.
    Cancelled,
    /// Undone by 2601.
    Reversed,
}

/// One settlement (2102 or 2207).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRecord {
    pub setl_id: String,
    pub mdtrt_id: String,
    /// The msgid of the settling request.
    pub msgid: String,
    /// `2102` or `2207`.
    pub infno: String,
    pub psn_no: String,
    pub insutype: String,
    pub fixmedins_code: String,
    pub chrg_bchno: String,
    pub medfee_sumamt: Fen,
    pub fund_pay_sumamt: Fen,
    pub acct_pay: Fen,
    pub psn_cash_pay: Fen,
    /// The institution's share (医院负担金额), when the answer shapes give one.
    #[serde(default)]
    pub hosp_part_amt: Fen,
    /// The share of `acct_pay` reported as `acct_mulaid_pay`.
    #[serde(default)]
    pub acct_mulaid_pay: Fen,
    /// Deductible this settlement consumed.
    pub deductible_used: Fen,
    /// Pooled-fund cap this settlement consumed.
    pub cap_used: Fen,
    pub status: SettlementStatus,
    /// CST day of `setl_time` (`yyyy-MM-dd`): the day 3201 counts the settlement on.
    pub day: String,
    /// The msgid of the effective cancellation, if any.
    pub cancel_msgid: Option<String>,
    /// 清算类别 the answer named: `41` for a pharmacy sale (2102), `11` for a visit (2207).
    #[serde(default)]
    pub clr_type: String,
    /// 清算经办机构 the answer named (3201's `setl_optins`): the patient's 参保地 for the
    /// insurance, or the per-person value of [`AnswerShapes::clr_optins`](crate::shapes::AnswerShapes).
    #[serde(default)]
    pub clr_optins: String,
    /// The answer's `setl_time`, CST `yyyy-MM-dd HH:mm:ss`.
    #[serde(default)]
    pub setl_time: String,
    /// The cancellation answer's `setl_time` (CST) while a cancellation is effective or was
    /// last made; 3201 counts a refund on its day only while the status is `cancelled`.
    #[serde(default)]
    pub cancel_time: Option<String>,
    /// CST day of `cancel_time` (`yyyy-MM-dd`).
    #[serde(default)]
    pub cancel_day: Option<String>,
    /// The settlement's trace-code counts (`minpacunt_drug_trac_cnt`, `mcs_trac_cnt`), when the
    /// request carried them: how many codes the 3505 reports of this `setl_id` announce.
    #[serde(default)]
    pub trace_counts: Option<(u32, u32)>,
}

/// Whether an outpatient visit (2201) is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitStatus {
    Open,
    /// Cancelled by 2202.
    Cancelled,
}

/// One fee line uploaded by 2204 and not revoked by 2205.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeLineRecord {
    pub feedetl_sn: String,
    pub chrg_bchno: String,
    pub med_list_codg: String,
    /// Empty for an ordinary visit.
    pub dise_codg: String,
    pub amount: Fen,
    /// Part of an effective 2207 settlement (cleared by 2208, or 2601 of the 2207).
    pub settled: bool,
}

/// A settlement (2207) of one of the visit's batches, as it stands now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitSettlement {
    pub setl_id: String,
    pub chrg_bchno: String,
    pub status: SettlementStatus,
}

/// An outpatient visit as the platform holds it (`GET /admin/visits`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitRecord {
    pub mdtrt_id: String,
    pub ipt_otp_no: String,
    pub psn_no: String,
    pub insutype: String,
    pub fixmedins_code: String,
    /// 2201 `begntime` as sent.
    pub begntime: String,
    pub status: VisitStatus,
    /// Whether 2203/2203A has been accepted.
    pub info_uploaded: bool,
    /// From 2203/2203A; `None` before.
    pub med_type: Option<String>,
    /// From 2203/2203A; empty when none.
    pub dise_codg: String,
    /// Rows of the last accepted `diseinfo`.
    pub diagnoses: usize,
    /// In upload order.
    pub lines: Vec<FeeLineRecord>,
    /// In settlement order.
    pub settlements: Vec<VisitSettlement>,
}

impl VisitRecord {
    pub fn is_open(&self) -> bool {
        self.status == VisitStatus::Open
    }

    /// Whether the platform still holds something of the visit: it is open, or fee lines
    /// remain uploaded (what a client's undo chain must clear).
    pub fn holds(&self) -> bool {
        self.is_open() || !self.lines.is_empty()
    }
}

/// A person's current account for one insurance type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    pub psn_no: String,
    pub insutype: String,
    pub balc: Fen,
    pub deductible_remaining: Fen,
    pub cap_remaining: Fen,
}

/// The snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// In settlement order.
    pub settlements: Vec<SettlementRecord>,
    pub accounts: Vec<AccountSnapshot>,
    /// Requests received on the protocol endpoint per infno (faulted ones included).
    pub requests: BTreeMap<String, u64>,
    /// Msgids reversed by 2601 (with or without something to undo).
    pub reversed_msgids: Vec<String>,
    /// Msgids refused because they came back carrying a different request, in arrival order
    /// (a msgid repeats once per refusal). Empty when every client kept its msgids unique: a
    /// fleet of terminals sharing one institution code asserts exactly that.
    #[serde(default)]
    pub reused_msgids: Vec<String>,
}

impl Ledger {
    /// The settlements that count.
    pub fn effective(&self) -> impl Iterator<Item = &SettlementRecord> {
        self.settlements
            .iter()
            .filter(|s| s.status == SettlementStatus::Effective)
    }

    /// The settlement made by request `msgid`.
    pub fn by_msgid(&self, msgid: &str) -> Option<&SettlementRecord> {
        self.settlements.iter().find(|s| s.msgid == msgid)
    }

    pub fn by_setl_id(&self, setl_id: &str) -> Option<&SettlementRecord> {
        self.settlements.iter().find(|s| s.setl_id == setl_id)
    }

    /// The account of `psn_no` for its first (usually only) insurance type.
    pub fn account(&self, psn_no: &str) -> Option<&AccountSnapshot> {
        self.accounts.iter().find(|a| a.psn_no == psn_no)
    }

    /// The personal-account balance of `psn_no`.
    pub fn balance(&self, psn_no: &str) -> Option<Fen> {
        self.account(psn_no).map(|a| a.balc)
    }

    /// Requests received for `infno`.
    pub fn request_count(&self, infno: &str) -> u64 {
        self.requests.get(infno).copied().unwrap_or(0)
    }
}

//! The sandbox insurer's books, in memory: accounts, sign-in sessions, settlements, the
//! answer of every msgid, which request each msgid carried, reversed msgids, outpatient visits, e-voucher codes and tokens,
//! fault rules. One `std::sync::Mutex` guards it (see `lib.rs`); nothing here awaits or does
//! I/O, so a lock is never held across an await.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use medsettle_nhsa::time;
use serde::{Deserialize, Serialize};

use crate::fault::FaultSet;
use crate::ledger::{AccountSnapshot, Ledger, SettlementRecord, SettlementStatus, VisitRecord};
use crate::persons::Person;
use crate::split::Account;
use crate::visits::Visit;

/// The start of the refusal of a msgid reused for a different request.
pub const MSGID_REUSED: &str = "报文ID重复";

/// What a remembered msgid did, for 2601 to undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A 2102/2207 that created this settlement.
    Settled(String),
    /// A 2103/2208 that cancelled this settlement.
    Cancelled(String),
}

/// A `sign_no` issued by 9001.
#[derive(Debug, Clone)]
pub struct Session {
    /// CST day of the sign-in.
    pub day: NaiveDate,
    pub active: bool,
}

/// A short-lived e-voucher code or token.
#[derive(Debug, Clone)]
pub struct Expiring {
    pub psn_no: String,
    pub expires: DateTime<Utc>,
}

/// The books.
#[derive(Debug, Default)]
pub struct State {
    pub persons: Vec<Person>,
    pub accounts: BTreeMap<(String, String), Account>,
    pub sessions: HashMap<String, Session>,
    pub settlements: Vec<SettlementRecord>,
    pub effects: HashMap<String, Effect>,
    /// msgid → the full response body sent for it.
    pub answers: HashMap<String, String>,
    pub reversed: Vec<String>,
    pub reversed_set: HashSet<String>,
    /// msgid → fingerprint of the request it first carried ([`crate::envelope::fingerprint`]),
    /// so a msgid reused for another request is caught; one entry per msgid keeps it cheap.
    pub msgid_requests: HashMap<String, u64>,
    /// msgids refused because they came back with a different request, in arrival order.
    pub reused_msgids: Vec<String>,
    /// mdtrt_id → outpatient visit.
    pub visits: BTreeMap<String, Visit>,
    pub ec_codes: HashMap<String, Expiring>,
    pub ec_tokens: HashMap<String, Expiring>,
    pub faults: FaultSet,
    pub requests: BTreeMap<String, u64>,
    pub clock_offset: chrono::Duration,
    /// The answer shapes written.
    pub shapes: crate::shapes::AnswerShapes,
    /// Set by a `settle_other_amount` fault for the request being processed: the 2102/2207
    /// settles this much more (fen) than it was asked for.
    pub settle_delta: Option<i64>,
    /// Every trace code reported by 3505/3506, in arrival order.
    pub trace: Vec<TraceEvent>,
    counter: u64,
}

impl State {
    pub fn new(
        persons: Vec<Person>,
        faults: FaultSet,
        shapes: crate::shapes::AnswerShapes,
    ) -> Self {
        let mut accounts = BTreeMap::new();
        for p in &persons {
            for i in &p.insuinfo {
                let rule = &p.funds[&i.insutype];
                accounts.insert(
                    (p.psn_no.clone(), i.insutype.clone()),
                    Account {
                        balc: i.balc,
                        deductible_remaining: rule.deductible_remaining,
                        cap_remaining: rule.cap_remaining,
                    },
                );
            }
        }
        State {
            persons,
            accounts,
            faults,
            shapes,
            ..State::default()
        }
    }

    /// The sandbox's clock for expiries (real time plus the test offset).
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    /// A fresh id: `prefix` + CST stamp of `at` + a zero-padded counter, `len` characters.
    pub fn next_id(&mut self, prefix: &str, at: DateTime<Utc>, len: usize) -> String {
        self.counter += 1;
        let head = format!("{prefix}{}", time::format_stamp(at));
        let width = len.saturating_sub(head.len());
        format!("{head}{:0width$}", self.counter)
    }

    pub fn person(&self, psn_no: &str) -> Option<&Person> {
        self.persons.iter().find(|p| p.psn_no == psn_no)
    }

    pub fn person_by_certno(&self, certno: &str) -> Option<&Person> {
        self.persons
            .iter()
            .find(|p| p.certno.eq_ignore_ascii_case(certno))
    }

    pub fn person_by_card(&self, card_number: &str) -> Option<&Person> {
        self.persons.iter().find(|p| {
            p.card
                .as_ref()
                .is_some_and(|c| c.card_number == card_number)
        })
    }

    /// The person a live e-voucher token stands for.
    pub fn person_by_token(&self, token: &str) -> Option<&Person> {
        let now = self.now();
        let t = self.ec_tokens.get(token).filter(|t| now < t.expires)?;
        self.person(&t.psn_no)
    }

    pub fn account(&self, psn_no: &str, insutype: &str) -> Option<Account> {
        self.accounts
            .get(&(psn_no.to_owned(), insutype.to_owned()))
            .copied()
    }

    /// Whether `code` stands reported sold by `fixmedins_code` (more 3505 than 3506).
    pub fn trace_sold(&self, fixmedins_code: &str, code: &str) -> bool {
        let balance: i64 = self
            .trace
            .iter()
            .filter(|e| e.code == code && e.fixmedins_code == fixmedins_code)
            .map(|e| if e.infno == "3506" { -1 } else { 1 })
            .sum();
        balance > 0
    }

    pub fn settlement_index(&self, setl_id: &str) -> Option<usize> {
        self.settlements.iter().position(|s| s.setl_id == setl_id)
    }

    /// Takes a settlement's money out of the account (settle, or un-cancel).
    pub fn book(&mut self, index: usize) {
        self.move_money(index, -1);
    }

    /// Puts a settlement's money back (cancel, reverse).
    pub fn unbook(&mut self, index: usize) {
        self.move_money(index, 1);
    }

    fn move_money(&mut self, index: usize, sign: i64) {
        let s = &self.settlements[index];
        let key = (s.psn_no.clone(), s.insutype.clone());
        let (acct, ded, cap) = (s.acct_pay.0, s.deductible_used.0, s.cap_used.0);
        if let Some(a) = self.accounts.get_mut(&key) {
            a.balc.0 += sign * acct;
            a.deductible_remaining.0 += sign * ded;
            a.cap_remaining.0 += sign * cap;
        }
    }

    pub fn mark_reversed(&mut self, msgid: &str) {
        if self.reversed_set.insert(msgid.to_owned()) {
            self.reversed.push(msgid.to_owned());
        }
    }

    /// Records that `msgid` carries the request with `fingerprint`, or refuses it when the
    /// msgid already carried another request: msgids are unique per request, and only a retry
    /// of the same request may reuse one (upstream.md, "Request envelope").
    pub fn claim_msgid(&mut self, msgid: &str, fingerprint: u64) -> Result<(), String> {
        match self.msgid_requests.get(msgid) {
            Some(&first) if first != fingerprint => {
                self.reused_msgids.push(msgid.to_owned());
                Err(format!(
                    "{MSGID_REUSED} msgid {msgid} already carried a different request \
                     (only a retry of the same request may reuse its msgid)"
                ))
            }
            Some(_) => Ok(()),
            None => {
                self.msgid_requests.insert(msgid.to_owned(), fingerprint);
                Ok(())
            }
        }
    }

    pub fn count_request(&mut self, infno: &str) {
        *self.requests.entry(infno.to_owned()).or_default() += 1;
    }

    /// Whether a settlement of this sale (same institution, person and batch) counts already.
    pub fn batch_settled(&self, fixmedins_code: &str, psn_no: &str, chrg_bchno: &str) -> bool {
        !chrg_bchno.is_empty()
            && self.settlements.iter().any(|s| {
                s.status == SettlementStatus::Effective
                    && s.fixmedins_code == fixmedins_code
                    && s.psn_no == psn_no
                    && s.chrg_bchno == chrg_bchno
            })
    }

    /// The visit `mdtrt_id` of `psn_no`, open.
    pub fn open_visit(&self, mdtrt_id: &str, psn_no: &str) -> Result<&Visit, String> {
        self.visits
            .get(mdtrt_id)
            .filter(|v| v.psn_no == psn_no && !v.cancelled)
            .ok_or_else(|| visit_not_found(mdtrt_id))
    }

    /// Marks the fee lines of the 2207 settlement `index` settled or not (2207, 2208, 2601).
    pub fn mark_lines(&mut self, index: usize, settled: bool) {
        let s = &self.settlements[index];
        if s.infno != "2207" {
            return;
        }
        let setl_id = s.setl_id.clone();
        if let Some(v) = self.visits.get_mut(&s.mdtrt_id) {
            v.mark_settled(&setl_id, settled);
        }
    }

    /// Every visit, in `mdtrt_id` order.
    pub fn visit_records(&self) -> Vec<VisitRecord> {
        self.visits
            .iter()
            .map(|(id, v)| v.record(id, &self.settlements))
            .collect()
    }

    pub fn ledger(&self) -> Ledger {
        Ledger {
            settlements: self.settlements.clone(),
            accounts: self
                .accounts
                .iter()
                .map(|((psn_no, insutype), a)| AccountSnapshot {
                    psn_no: psn_no.clone(),
                    insutype: insutype.clone(),
                    balc: a.balc,
                    deductible_remaining: a.deductible_remaining,
                    cap_remaining: a.cap_remaining,
                })
                .collect(),
            requests: self.requests.clone(),
            reversed_msgids: self.reversed.clone(),
            reused_msgids: self.reused_msgids.clone(),
        }
    }
}

/// The refusal for a visit that does not exist for this person (or was cancelled).
pub fn visit_not_found(mdtrt_id: &str) -> String {
    format!(
        "就诊信息不存在 visit not found: mdtrt_id {mdtrt_id} (unknown, another person's or cancelled)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::fingerprint;
    use serde_json::json;

    const MSGID: &str = "H11010500001202611231000000001";

    #[test]
    fn a_msgid_may_carry_one_request_only() {
        let mut state = State::default();
        let query = json!({"data": {"psn_no": "P1", "insutype": "310"}});
        let first = fingerprint("1101", &query);
        assert_eq!(state.claim_msgid(MSGID, first), Ok(()));
        // A retry of the same request (same infno and input) is fine, again and again.
        assert_eq!(
            state.claim_msgid(MSGID, fingerprint("1101", &query)),
            Ok(())
        );
        assert_eq!(state.claim_msgid(MSGID, first), Ok(()));
        assert!(state.reused_msgids.is_empty());
        assert!(state.ledger().reused_msgids.is_empty());

        let other_input = json!({"data": {"psn_no": "P2", "insutype": "310"}});
        let err = state
            .claim_msgid(MSGID, fingerprint("1101", &other_input))
            .unwrap_err();
        assert!(err.starts_with(MSGID_REUSED), "{err}");
        assert!(err.contains(MSGID), "{err}");
        assert!(
            state
                .claim_msgid(MSGID, fingerprint("2101", &query))
                .is_err(),
            "another transaction under the same msgid"
        );
        assert_eq!(state.reused_msgids, [MSGID, MSGID]);
        // The snapshot tests and `GET /admin/ledger` read shows them too.
        assert_eq!(state.ledger().reused_msgids, [MSGID, MSGID]);
        // The first request stays the one the msgid belongs to.
        assert_eq!(state.claim_msgid(MSGID, first), Ok(()));
        let other = "H11010500001202611231000000002";
        assert_eq!(
            state.claim_msgid(other, fingerprint("1101", &other_input)),
            Ok(())
        );
    }
}

/// One report of a trace code (3505/3506), in arrival order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    pub code: String,
    /// `3505` sold, `3506` returned.
    pub infno: String,
    pub msgid: String,
    pub fixmedins_code: String,
    pub setl_id: String,
    pub fixmedins_bchno: String,
    pub rtal_docno: String,
    pub med_list_codg: String,
    /// `1`: sold split (拆零) from this box.
    pub trdn_flag: String,
    pub sel_retn_time: String,
}

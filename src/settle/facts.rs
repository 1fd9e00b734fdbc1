//! Settlement facts: what the platform counts of a sale or visit, one line per settlement and
//! one per cancellation (upstream.md "Reconciliation"). 3201 totals, the 3202 detail file and
//! the fleet ledger are all built from these lines, so the three never disagree about what a
//! sale was.
//!
//! The grouping fields come from the platform's own answer: `clr_optins`, `clr_type` and
//! `setl_time` as the settlement (or cancellation) answer gave them; the terminal's guesses
//! (the patient's 参保地, the sale kind's clearing type, the local day) are used only when the
//! answer left a field out, and the fact says so (`from_answer`).
//!
//! Pure: a [`Sale`] in, facts out.

use serde::{Deserialize, Serialize};

use super::sale::Sale;
use super::state::{SaleKind, SaleState};
use crate::upstream::Fen;

/// `clr_type` of a pharmacy sale when the answer names none (定点药店购药).
pub const PHARMACY_CLR_TYPE: &str = "41";
/// `clr_type` of an outpatient visit when the answer names none (门诊).
pub const OUTPATIENT_CLR_TYPE: &str = "11";

/// One line the platform counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// The sale or visit id.
    pub sale_id: String,
    pub kind: SaleKind,
    /// `false`: the settlement (`refd_setl_flag` 0). `true`: its cancellation (1).
    pub refund: bool,
    /// The msgid of the request that settled (2102/2207) or cancelled (2103/2208); empty when
    /// an older document did not record it.
    pub msgid: String,
    /// The settlement's `setl_id`; for a cancellation, its own id when the answer gave one,
    /// else the original's.
    pub setl_id: String,
    /// For a cancellation: the `setl_id` it cancelled.
    pub original_setl_id: Option<String>,
    pub mdtrt_id: String,
    /// Clear: the fact never leaves the terminal with it (the fleet ledger keeps a keyed hash).
    pub psn_no: String,
    pub insutype: String,
    pub clr_type: String,
    /// 清算经办机构: 3201's `setl_optins`.
    pub clr_optins: String,
    /// `setl_time` as the answer gave it (`yyyy-MM-dd HH:mm:ss` CST), if it did.
    pub setl_time: Option<String>,
    /// The CST day the platform counts it on: `setl_time`'s date, else the local day.
    pub day: String,
    /// Negative for a cancellation.
    pub medfee: Fen,
    pub fund: Fen,
    pub account: Fen,
    /// `psn_cash_pay` (3202's `cash_payamt`); negative for a cancellation.
    pub cash: Fen,
    /// Whether `clr_type`, `clr_optins` and the day all came from the platform's answer.
    pub from_answer: bool,
}

impl Fact {
    /// `refd_setl_flag` of the 3202 detail line.
    pub fn refd_setl_flag(&self) -> &'static str {
        if self.refund { "1" } else { "0" }
    }

    /// The 3201 group: (`insutype`, `clr_type`, `clr_optins`).
    pub fn group(&self) -> (&str, &str, &str) {
        (&self.insutype, &self.clr_type, &self.clr_optins)
    }
}

/// The default clearing type of a kind of sale.
pub fn default_clr_type(kind: SaleKind) -> &'static str {
    match kind {
        SaleKind::Pharmacy => PHARMACY_CLR_TYPE,
        SaleKind::Outpatient => OUTPATIENT_CLR_TYPE,
    }
}

/// The states in which a sale's settlement may stand: settled, being cancelled, cancelled
/// (a visit closing after 2208), or a cancellation in doubt (unknown, reversing, held: the
/// settlement stands until the platform says otherwise). A sale in any other state counts
/// nothing whatever its document holds (an abandoned or reversed sale never settled).
pub const COUNTED_STATES: [SaleState; 7] = [
    SaleState::Settled,
    SaleState::Cancelling,
    SaleState::Cancelled,
    SaleState::Closing,
    SaleState::Unknown,
    SaleState::Reversing,
    SaleState::Held,
];

/// The facts of a sale: nothing until it settled; its settlement; and its cancellation once
/// the platform answered one. A settlement restored by a reversed cancellation has no
/// cancellation fact (the sale's `cancellation` is gone).
pub fn facts_of(sale: &Sale) -> Vec<Fact> {
    if !COUNTED_STATES.contains(&sale.state) {
        return Vec::new();
    }
    let Some(split) = sale.settlement.as_ref() else {
        return Vec::new();
    };
    let Some(setl_id) = split.setl_id.clone().filter(|s| !s.is_empty()) else {
        return Vec::new();
    };
    let (psn_no, insutype, region) = match &sale.person {
        Some(p) => (
            p.psn_no.expose().to_owned(),
            p.insutype.clone(),
            p.insuplc_admdvs.clone(),
        ),
        None => Default::default(),
    };
    let answer = &split.answer;
    let clr_type = text(answer, "clr_type");
    let clr_optins = text(answer, "clr_optins");
    let setl_time = text(answer, "setl_time");
    let answer_day = setl_time.as_deref().and_then(day_of);
    let from_answer = clr_type.is_some() && clr_optins.is_some() && answer_day.is_some();
    let clr_type = clr_type.unwrap_or_else(|| default_clr_type(sale.kind).to_owned());
    let clr_optins = clr_optins.unwrap_or(region);
    let msgid = split
        .msgid
        .clone()
        .or_else(|| text(answer, "medins_setl_id"))
        .unwrap_or_default();
    let settlement = Fact {
        sale_id: sale.id.clone(),
        kind: sale.kind,
        refund: false,
        msgid,
        setl_id: setl_id.clone(),
        original_setl_id: None,
        mdtrt_id: split.mdtrt_id.clone().unwrap_or_default(),
        psn_no,
        insutype: text(answer, "insutype").unwrap_or(insutype),
        clr_type,
        clr_optins,
        day: answer_day.unwrap_or_else(|| split.day.clone()),
        setl_time,
        medfee: split.medfee,
        fund: split.fund,
        account: split.account,
        cash: split.cash.unwrap_or(Fen(0)),
        from_answer,
    };
    let mut facts = vec![settlement];
    let cancelled = matches!(sale.state, SaleState::Cancelled) || sale.cancellation.is_some();
    // A cancellation an operator resolved as done (`queue resolve --not-settled` on a 2103/2208
    // in doubt) has no answer: it counts all the same, under its request's msgid.
    let resolved;
    let cancellation = match (&sale.cancellation, sale.state) {
        (Some(c), _) => Some(c),
        (None, SaleState::Cancelled) => {
            resolved = super::sale::Cancellation {
                setl_id: None,
                original_setl_id: Some(setl_id.clone()),
                cash_refunded: None,
                cash_from: "settlement".to_owned(),
                answer: serde_json::Value::Null,
                msgid: sale
                    .attempt
                    .as_ref()
                    .filter(|a| matches!(a.infno.as_str(), "2103" | "2208"))
                    .map(|a| a.msgid.clone()),
                day: None,
            };
            Some(&resolved)
        }
        (None, _) => None,
    };
    if let (true, Some(c)) = (cancelled, cancellation) {
        let original = &facts[0];
        let setl_time = text(&c.answer, "setl_time");
        let answer_day = setl_time.as_deref().and_then(day_of);
        let day = answer_day
            .clone()
            .or_else(|| c.day.clone().filter(|d| !d.is_empty()))
            .unwrap_or_else(|| original.day.clone());
        let refund = Fact {
            refund: true,
            msgid: c.msgid.clone().unwrap_or_default(),
            setl_id: c.setl_id.clone().unwrap_or_else(|| setl_id.clone()),
            original_setl_id: Some(setl_id),
            clr_type: text(&c.answer, "clr_type").unwrap_or_else(|| original.clr_type.clone()),
            clr_optins: text(&c.answer, "clr_optins")
                .unwrap_or_else(|| original.clr_optins.clone()),
            from_answer: original.from_answer && answer_day.is_some(),
            setl_time,
            day,
            medfee: negative(original.medfee),
            fund: negative(original.fund),
            account: negative(original.account),
            cash: negative(c.cash_refunded.unwrap_or(original.cash)),
            ..original.clone()
        };
        facts.push(refund);
    }
    facts
}

/// A cancellation counts with the settlement's amounts negated, whatever sign its answer
/// used (the captured answers carry negated amounts; a transcription shows positive ones).
fn negative(f: Fen) -> Fen {
    Fen(-f.0.abs())
}

/// A non-empty text (or number) field of an answer.
fn text(v: &serde_json::Value, key: &str) -> Option<String> {
    match v.get(key)? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The CST date of a `setl_time`: `yyyy-MM-dd HH:mm:ss`, `yyyy-MM-dd`, or `yyyyMMddHHmmss`.
fn day_of(setl_time: &str) -> Option<String> {
    let t = setl_time.trim();
    let date = if t.len() >= 10 && t.as_bytes()[4] == b'-' {
        chrono::NaiveDate::parse_from_str(&t[..10], "%Y-%m-%d").ok()?
    } else if t.len() >= 8 && t.bytes().take(8).all(|b| b.is_ascii_digit()) {
        chrono::NaiveDate::parse_from_str(&t[..8], "%Y%m%d").ok()?
    } else {
        return None;
    };
    Some(date.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settle::sale::{Cancellation, Person, Split};
    use medsettle_base::pii::PsnNo;
    use serde_json::json;

    fn split(answer: serde_json::Value) -> Split {
        Split {
            setl_id: Some("S1".into()),
            mdtrt_id: Some("M1".into()),
            medfee: Fen(1000),
            fund: Fen(600),
            account: Fen(300),
            cash: Some(Fen(100)),
            hosp_part: None,
            balance_after: None,
            day: "2026-12-02".into(),
            funds: vec![],
            answer,
            mismatches: vec![],
            mismatches_acknowledged: None,
            msgid: Some("H11010500001202612022359590001".into()),
        }
    }

    fn sale(kind: SaleKind, answer: serde_json::Value) -> Sale {
        let mut s = Sale::captured(
            "S20261202-0001".into(),
            0,
            crate::settle::options::SaleMode::PreferOnline,
            crate::settle::sale::Credential::Card {
                card_no: "M12345678".into(),
                card_sn: "110105D15600000500A1B2C3D4E5F601".into(),
                id_number: "110105199003071239".into(),
                name: "测试张三".into(),
            },
        );
        s.kind = kind;
        s.state = SaleState::Settled;
        s.person = Some(Person {
            psn_no: PsnNo::new("P1"),
            insuplc_admdvs: "110105".into(),
            insutype: "310".into(),
            balance: Fen(0),
            insurances: vec![],
        });
        s.settlement = Some(split(answer));
        s
    }

    #[test]
    fn grouping_fields_come_from_the_answer() {
        let s = sale(
            SaleKind::Pharmacy,
            json!({"clr_type": "41", "clr_optins": "110199", "setl_time": "2026-12-02 23:59:59"}),
        );
        let f = facts_of(&s);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].group(), ("310", "41", "110199"));
        assert_eq!(f[0].day, "2026-12-02");
        assert!(f[0].from_answer);
        assert_eq!(f[0].refd_setl_flag(), "0");
    }

    #[test]
    fn a_settlement_at_one_second_to_midnight_counts_on_its_platform_day() {
        // The local clock said the next day (the answer was stored after midnight).
        let mut s = sale(
            SaleKind::Pharmacy,
            json!({"clr_type": "41", "clr_optins": "110199", "setl_time": "2026-12-02 23:59:59"}),
        );
        s.settlement.as_mut().unwrap().day = "2026-12-03".into();
        assert_eq!(facts_of(&s)[0].day, "2026-12-02");
    }

    #[test]
    fn missing_answer_fields_fall_back_and_say_so() {
        let s = sale(SaleKind::Outpatient, json!({}));
        let f = &facts_of(&s)[0];
        assert_eq!(f.group(), ("310", OUTPATIENT_CLR_TYPE, "110105"));
        assert_eq!(f.day, "2026-12-02");
        assert!(!f.from_answer);
    }

    #[test]
    fn a_cancellation_is_a_second_line_with_negated_amounts() {
        let mut s = sale(
            SaleKind::Pharmacy,
            json!({"clr_type": "41", "clr_optins": "110199", "setl_time": "2026-12-02 10:00:00"}),
        );
        s.state = SaleState::Cancelled;
        s.cancellation = Some(Cancellation {
            setl_id: Some("C1".into()),
            original_setl_id: Some("S1".into()),
            cash_refunded: Some(Fen(100)),
            cash_from: "answer".into(),
            answer: json!({"setl_time": "2026-12-03 00:00:01", "medfee_sumamt": "-10.00"}),
            msgid: Some("H11010500001202612030000010001".into()),
            day: Some("2026-12-03".into()),
        });
        let f = facts_of(&s);
        assert_eq!(f.len(), 2);
        let r = &f[1];
        assert!(r.refund);
        assert_eq!(r.refd_setl_flag(), "1");
        assert_eq!(
            (r.medfee, r.fund, r.account, r.cash),
            (Fen(-1000), Fen(-600), Fen(-300), Fen(-100))
        );
        assert_eq!(r.day, "2026-12-03");
        assert_eq!(r.setl_id, "C1");
        assert_eq!(r.original_setl_id.as_deref(), Some("S1"));
        assert_eq!(r.group(), ("310", "41", "110199"));
        assert_eq!(f[0].day, "2026-12-02");
    }

    #[test]
    fn a_sale_in_a_state_without_a_standing_settlement_counts_nothing() {
        let mut s = sale(SaleKind::Pharmacy, json!({}));
        for state in [
            SaleState::Abandoned,
            SaleState::Reversed,
            SaleState::Expired,
        ] {
            s.state = state;
            assert!(facts_of(&s).is_empty(), "{state:?}");
        }
        // A cancellation in doubt: the settlement stands.
        s.state = SaleState::Unknown;
        assert_eq!(facts_of(&s).len(), 1);
    }

    #[test]
    fn nothing_counts_before_a_setl_id() {
        let mut s = sale(SaleKind::Pharmacy, json!({}));
        s.settlement.as_mut().unwrap().setl_id = None;
        assert!(facts_of(&s).is_empty());
        s.settlement = None;
        assert!(facts_of(&s).is_empty());
    }

    #[test]
    fn setl_time_shapes() {
        assert_eq!(day_of("2026-12-02 23:59:59").as_deref(), Some("2026-12-02"));
        assert_eq!(day_of("20261202235959").as_deref(), Some("2026-12-02"));
        assert_eq!(day_of("2026-12-02").as_deref(), Some("2026-12-02"));
        assert_eq!(day_of("yesterday"), None);
        assert_eq!(day_of(""), None);
    }
}

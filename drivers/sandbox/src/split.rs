//! The fund split engine: who pays what of a bill, in integer fen. Pure: it reads the
//! account's current deductible, cap and balance and returns the split; committing it is the
//! caller's business (2101/2206 never commit, 2102/2207 do).
//!
//! Rules: items whose `med_list_codg` starts with `Z` are self-pay (自费) and not eligible;
//! the deductible is consumed first (the patient pays it); the pooled fund (310100) pays its
//! rate of the rest, truncated to the fen, up to the remaining annual cap; medical assistance
//! (610100), when the person has it, pays its rate of the eligible remainder the pool left;
//! the personal account pays what it can of the patient's share when `acct_used_flag=1`;
//! cash is the rest. `medfee = fund + account + cash` holds by construction.

use medsettle_nhsa::money::Fen;

use crate::persons::FundRule;

/// One billed item as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub med_list_codg: String,
    pub amount: Fen,
}

/// The account a split is computed against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub balc: Fen,
    pub deductible_remaining: Fen,
    pub cap_remaining: Fen,
}

/// The result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Split {
    pub medfee: Fen,
    pub selfpay: Fen,
    pub deductible_used: Fen,
    /// 310100 统筹基金.
    pub pool: Fen,
    /// 610100 医疗救助.
    pub assistance: Fen,
    pub fund: Fen,
    pub acct: Fen,
    pub cash: Fen,
    /// 医院负担 (answer shapes; 0 from [`split`]): `medfee = fund + acct + cash + hosp`.
    pub hosp: Fen,
    /// `acct_mulaid_pay`, a share of `acct` (answer shapes; 0 from [`split`]).
    pub mulaid: Fen,
}

/// Whether an item is on the self-pay list.
pub fn is_selfpay(med_list_codg: &str) -> bool {
    med_list_codg.starts_with('Z')
}

fn permille(amount: i64, rate: u32) -> i64 {
    // i128 so that a large bill times 1000 cannot overflow.
    i64::try_from(i128::from(amount) * i128::from(rate) / 1000).unwrap_or(i64::MAX)
}

/// Splits a bill of `items` (whose sum the caller has checked against `medfee_sumamt`).
pub fn split(items: &[Item], rule: &FundRule, account: Account, use_account: bool) -> Split {
    let medfee: i64 = items.iter().map(|i| i.amount.0).sum();
    let selfpay: i64 = items
        .iter()
        .filter(|i| is_selfpay(&i.med_list_codg))
        .map(|i| i.amount.0)
        .sum();
    let eligible = (medfee - selfpay).max(0);
    let deductible_used = eligible.min(account.deductible_remaining.0.max(0));
    let rest = eligible - deductible_used;
    let pool = permille(rest, rule.rate_permille()).min(account.cap_remaining.0.max(0));
    let assistance = rule
        .assistance_permille
        .map_or(0, |rate| permille(rest - pool, rate));
    let fund = pool + assistance;
    let patient = medfee - fund;
    let acct = if use_account {
        patient.min(account.balc.0.max(0)).max(0)
    } else {
        0
    };
    Split {
        medfee: Fen(medfee),
        selfpay: Fen(selfpay),
        deductible_used: Fen(deductible_used),
        pool: Fen(pool),
        assistance: Fen(assistance),
        fund: Fen(fund),
        acct: Fen(acct),
        cash: Fen(patient - acct),
        hosp: Fen(0),
        mulaid: Fen(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pct: u32, assist: Option<u32>) -> FundRule {
        FundRule {
            deductible_remaining: Fen(0),
            coinsurance_percent: Some(pct),
            coinsurance_permille: None,
            cap_remaining: Fen(0),
            assistance_permille: assist,
        }
    }

    fn item(code: &str, fen: i64) -> Item {
        Item {
            med_list_codg: code.into(),
            amount: Fen(fen),
        }
    }

    fn acct(balc: i64, ded: i64, cap: i64) -> Account {
        Account {
            balc: Fen(balc),
            deductible_remaining: Fen(ded),
            cap_remaining: Fen(cap),
        }
    }

    fn balanced(s: &Split) {
        assert_eq!(s.medfee.0, s.fund.0 + s.acct.0 + s.cash.0);
        assert_eq!(s.fund.0, s.pool.0 + s.assistance.0);
    }

    #[test]
    fn deductible_then_rate_then_account() {
        let s = split(
            &[item("X01", 20_000), item("Z01", 5_000)],
            &rule(70, None),
            acct(100_000, 10_000, 500_000),
            true,
        );
        balanced(&s);
        assert_eq!(s.selfpay, Fen(5_000));
        assert_eq!(s.deductible_used, Fen(10_000));
        assert_eq!(s.pool, Fen(7_000));
        assert_eq!(s.acct, Fen(18_000));
        assert_eq!(s.cash, Fen(0));
    }

    #[test]
    fn cap_account_flag_and_assistance() {
        let s = split(
            &[item("X", 10_001)],
            &rule(70, None),
            acct(500, 0, 1_000),
            false,
        );
        balanced(&s);
        assert_eq!((s.pool, s.acct, s.cash), (Fen(1_000), Fen(0), Fen(9_001)));
        let s = split(
            &[item("X", 10_001)],
            &rule(70, None),
            acct(500, 0, 1_000),
            true,
        );
        balanced(&s);
        assert_eq!((s.acct, s.cash), (Fen(500), Fen(8_501)));
        let s = split(
            &[item("X", 10_001)],
            &rule(50, Some(500)),
            acct(0, 0, 99_999),
            true,
        );
        balanced(&s);
        assert_eq!((s.pool, s.assistance), (Fen(5_000), Fen(2_500)));
    }
}

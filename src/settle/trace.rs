//! Drug traceability codes (药品追溯码) on a sale's item lines: what the cashier program sends
//! with a line ([`NewLineTrace`]), the contract's checks (traceability.md, "Terminal rules"),
//! and the counts the settlement announces. Pure: no store, no platform.
//!
//! A line carries one code per box sold (`drugtracinfo`), whether the drug is sold split from a
//! box (拆零, `trdn_flag`), and the batch data the 3505 report of the line needs and the
//! catalogue line does not say (the institution's batch serial, the manufacturer's lot and
//! dates, the prescription-drug flag).

use medsettle_nhsa::trace::TraceCode;
use medsettle_nhsa::tx::trace::TraceCounts;
use serde::Deserialize;

use super::error::SaleError;
use super::sale::{Item, LineTrace};

/// A line's traceability data as the cashier program sends it (codes as scanned text).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLineTrace {
    /// One per box sold, as scanned (GS1 group separators kept).
    #[serde(default)]
    pub codes: Vec<String>,
    /// Sold split from a box (拆零). Default false.
    #[serde(default)]
    pub trdn_flag: bool,
    /// The codes are of medical consumables (耗材), counted as `mcs_trac_cnt`. Default false.
    #[serde(default)]
    pub consumable: bool,
    /// 定点医药机构批次流水号 (c30).
    #[serde(default)]
    pub fixmedins_bchno: String,
    /// 生产批号 (c30).
    #[serde(default)]
    pub manu_lotnum: String,
    /// 生产日期 `yyyy-MM-dd`.
    #[serde(default)]
    pub manu_date: String,
    /// 有效期止 `yyyy-MM-dd`.
    #[serde(default)]
    pub expy_end: String,
    /// 处方药标志 (c3 dictionary value).
    #[serde(default)]
    pub rx_flag: String,
}

/// Checks line `i`'s traceability data: every code by the contract's scan rules, the batch
/// fields against the 3505 capacities. Duplicates across lines are [`check_sale`]'s.
pub(super) fn line(i: usize, new: NewLineTrace) -> Result<LineTrace, SaleError> {
    if new.codes.len() > 1000 {
        return Err(SaleError::Invalid {
            field: format!("items[{i}].trace.codes"),
            problem: "at most 1000 codes per line".into(),
        });
    }
    let mut codes = Vec::with_capacity(new.codes.len());
    for (j, text) in new.codes.iter().enumerate() {
        let (code, _warning) = TraceCode::parse(text.as_bytes()).map_err(|e| SaleError::Trace {
            field: format!("items[{i}].trace.codes[{j}]"),
            error: Some(e),
        })?;
        codes.push(code);
    }
    for (field, value, max) in [
        ("fixmedins_bchno", &new.fixmedins_bchno, 30),
        ("manu_lotnum", &new.manu_lotnum, 30),
        ("rx_flag", &new.rx_flag, 3),
    ] {
        if value.chars().count() > max {
            return Err(SaleError::Invalid {
                field: format!("items[{i}].trace.{field}"),
                problem: format!("at most {max} characters"),
            });
        }
    }
    for (field, value) in [("manu_date", &new.manu_date), ("expy_end", &new.expy_end)] {
        let ok = value.is_empty()
            || (value.len() == 10 && chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok());
        if !ok {
            return Err(SaleError::Invalid {
                field: format!("items[{i}].trace.{field}"),
                problem: "a date yyyy-MM-dd".into(),
            });
        }
    }
    Ok(LineTrace {
        codes,
        trdn_flag: new.trdn_flag,
        consumable: new.consumable,
        fixmedins_bchno: new.fixmedins_bchno,
        manu_lotnum: new.manu_lotnum,
        manu_date: new.manu_date,
        expy_end: new.expy_end,
        rx_flag: new.rx_flag,
    })
}

/// What `POST /v1/sales/{id}/trace` adds to line `line` of an open sale: more codes (scanned
/// box by box while the sale is open) and, when given, the batch data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceAttach {
    /// The item line, counted from 0 as in the sale's `items`.
    pub line: usize,
    #[serde(flatten)]
    pub trace: NewLineTrace,
}

/// Line `i` of `items` with `add` merged in: its codes appended (each checked), the flags and
/// any batch field given replaced; then the whole sale checked for a code twice.
pub(super) fn attach(items: &mut [Item], add: TraceAttach) -> Result<(), SaleError> {
    let i = add.line;
    let mut next = items.to_vec();
    let Some(item) = next.get_mut(i) else {
        return Err(SaleError::Invalid {
            field: "line".into(),
            problem: format!("the sale has {} item line(s), counted from 0", items.len()),
        });
    };
    let new = line(i, add.trace)?;
    match &mut item.trace {
        None => item.trace = Some(new),
        Some(t) => {
            t.codes.extend(new.codes);
            t.trdn_flag = new.trdn_flag;
            t.consumable = new.consumable;
            for (to, from) in [
                (&mut t.fixmedins_bchno, new.fixmedins_bchno),
                (&mut t.manu_lotnum, new.manu_lotnum),
                (&mut t.manu_date, new.manu_date),
                (&mut t.expy_end, new.expy_end),
                (&mut t.rx_flag, new.rx_flag),
            ] {
                if !from.is_empty() {
                    *to = from;
                }
            }
        }
    }
    check_sale(&next)?;
    items.clone_from_slice(&next);
    Ok(())
}

/// One code per box: the same code twice in one sale is refused (rule 4), naming the second.
pub(super) fn check_sale(items: &[Item]) -> Result<(), SaleError> {
    let mut seen = std::collections::HashSet::new();
    for (i, item) in items.iter().enumerate() {
        for (j, code) in item.trace.iter().flat_map(|t| t.codes.iter()).enumerate() {
            if !seen.insert(code) {
                return Err(SaleError::Trace {
                    field: format!("items[{i}].trace.codes[{j}]"),
                    error: None,
                });
            }
        }
    }
    Ok(())
}

/// The counts the settlement announces, when any line carries codes.
pub(super) fn counts(items: &[Item]) -> Option<TraceCounts> {
    let (mut drugs, mut consumables) = (0u32, 0u32);
    for t in items.iter().filter_map(|i| i.trace.as_ref()) {
        let n = u32::try_from(t.codes.len()).unwrap_or(u32::MAX);
        if t.consumable {
            consumables = consumables.saturating_add(n);
        } else {
            drugs = drugs.saturating_add(n);
        }
    }
    (drugs + consumables > 0).then_some(TraceCounts {
        minpacunt_drug_trac_cnt: drugs,
        mcs_trac_cnt: consumables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::UserFacing as _;

    fn new(codes: &[&str]) -> NewLineTrace {
        NewLineTrace {
            codes: codes.iter().map(|c| (*c).to_owned()).collect(),
            trdn_flag: false,
            consumable: false,
            fixmedins_bchno: "B1".into(),
            manu_lotnum: "L1".into(),
            manu_date: "2026-01-01".into(),
            expy_end: String::new(),
            rx_flag: "0".into(),
        }
    }

    fn item(trace: Option<LineTrace>) -> Item {
        Item {
            code: "XA01".into(),
            local_code: "XA01".into(),
            name: String::new(),
            cnt: crate::upstream::Qty(10_000),
            pric: crate::upstream::Price(10_000),
            amount: crate::upstream::Fen(100),
            visit: None,
            trace,
        }
    }

    #[test]
    fn codes_are_checked_by_the_scan_rules_with_their_place() {
        let ok = line(
            0,
            new(&["81234567890123456789", "0106901234567892\u{1d}10L"]),
        )
        .unwrap();
        assert_eq!(ok.codes.len(), 2);
        let e = line(2, new(&["81234567890123456789", "6901234567892"])).unwrap_err();
        assert_eq!(e.code(), "trace.commodity_code");
        assert!(
            e.message_en().starts_with("items[2].trace.codes[1]: "),
            "{}",
            e.message_en()
        );
        assert!(e.message_zh().contains("药品追溯码"), "{}", e.message_zh());
        assert_eq!(e.http_status(), 400);
        let e = line(0, new(&["86901234000012"])).unwrap_err();
        assert_eq!(e.code(), "trace.standard_code");
        let mut long = new(&[]);
        long.fixmedins_bchno = "B".repeat(31);
        assert_eq!(line(0, long).unwrap_err().code(), "visit.invalid_field");
        let mut date = new(&[]);
        date.manu_date = "2026-13-01".into();
        assert!(
            line(0, date)
                .unwrap_err()
                .message_en()
                .contains("manu_date")
        );
    }

    #[test]
    fn one_code_per_box_in_a_sale_and_the_counts_it_announces() {
        let a = line(0, new(&["81234567890123456789"])).unwrap();
        let mut b = line(1, new(&["81234567890123456780", "81234567890123456781"])).unwrap();
        b.consumable = true;
        let items = [item(Some(a.clone())), item(None), item(Some(b))];
        check_sale(&items).unwrap();
        assert_eq!(
            counts(&items),
            Some(TraceCounts {
                minpacunt_drug_trac_cnt: 1,
                mcs_trac_cnt: 2
            })
        );
        assert_eq!(counts(&[item(None)]), None, "no codes: nothing announced");
        let twice = [item(Some(a.clone())), item(Some(a))];
        let e = check_sale(&twice).unwrap_err();
        assert_eq!(e.code(), "trace.duplicate");
        assert!(
            e.message_en().contains("items[1].trace.codes[0]"),
            "{}",
            e.message_en()
        );
    }

    #[test]
    fn codes_scanned_while_the_sale_is_open_are_appended_to_their_line() {
        let mut items = [item(None), item(None)];
        let add = |line: usize, codes: &[&str]| TraceAttach {
            line,
            trace: NewLineTrace {
                manu_lotnum: String::new(),
                ..new(codes)
            },
        };
        attach(&mut items, add(1, &["81234567890123456789"])).unwrap();
        attach(&mut items, add(1, &["81234567890123456790"])).unwrap();
        let t = items[1].trace.as_ref().unwrap();
        assert_eq!(t.codes.len(), 2);
        assert_eq!(t.fixmedins_bchno, "B1");
        assert_eq!(t.manu_lotnum, "", "a batch field left out stays as it was");
        assert!(items[0].trace.is_none());
        // The same box again, on any line, is refused and changes nothing; so is a line the
        // sale does not have.
        let before = items.clone();
        let e = attach(&mut items, add(0, &["81234567890123456789"])).unwrap_err();
        assert_eq!(e.code(), "trace.duplicate");
        let e = attach(&mut items, add(5, &["81234567890123456791"])).unwrap_err();
        assert_eq!(e.code(), "visit.invalid_field");
        assert_eq!(items, before);
    }
}

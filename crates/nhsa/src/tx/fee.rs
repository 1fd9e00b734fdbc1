//! Fee lines (`feedetail[]`) shared by 2101/2102 (pharmacy) and 2204 (outpatient upload), and
//! the arithmetic check every builder runs before anything is sent.
//!
//! [`check_lines`] refuses a line whose `det_item_fee_sumamt` is not `cnt × pric` rounded to
//! the fen, a line without a positive quantity, and a total that overflows; builders then
//! compare the sum with their `medfee_sumamt`. A refused list is a bug or a tampered sale on
//! this side: it must never reach the platform, where a mismatch surfaces late as a rejected
//! or, worse, an unbalanced settlement. No I/O here.

use serde::Serialize;

use crate::money::Fen;
use crate::quantity::{Price, Qty, line_amount};
use medsettle_base::pii::PsnNo;

/// One fee line. Fields the terminal does not use stay empty strings, as the platform expects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeeDetail {
    /// Line serial number, unique within the sale (the 2204 answer refers to it).
    pub feedetl_sn: String,
    /// From 2201; empty for a pharmacy sale (2101/2102).
    pub mdtrt_id: String,
    pub psn_no: PsnNo,
    /// 收费批次号 of the sale.
    pub chrg_bchno: String,
    /// 处方号, empty for over-the-counter goods.
    pub rxno: String,
    /// 外购处方标志 `0`/`1`.
    pub rx_circ_flag: String,
    /// `yyyy-MM-dd HH:mm:ss` CST.
    pub fee_ocur_time: String,
    /// National catalogue code (医保目录编码).
    pub med_list_codg: String,
    /// The institution's own catalogue code.
    pub medins_list_codg: String,
    pub det_item_fee_sumamt: Fen,
    pub cnt: Qty,
    pub pric: Price,
    pub bilg_dept_codg: String,
    pub bilg_dept_name: String,
    pub bilg_dr_codg: String,
    pub bilg_dr_name: String,
    /// 医院审批标志.
    pub hosp_appr_flag: String,
    /// 病种编码 (2204 only; the same in every line of a batch): left out when empty, so the
    /// pharmacy requests stay as they were.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dise_codg: String,
    /// 单次剂量描述 (2204, optional).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sin_dos_dscr: String,
    /// 使用频次描述 (2204, optional).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub used_frqu_dscr: String,
    /// 用药途径描述 (2204, optional).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub medc_way_dscr: String,
}

/// Why a list of fee lines was refused before sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeeError {
    #[error("no fee lines")]
    Empty,
    #[error("fee line {feedetl_sn:?}: quantity {cnt} is not positive")]
    NonPositiveQty { feedetl_sn: String, cnt: Qty },
    #[error("fee line {feedetl_sn:?}: amount {stated} ≠ {cnt} × {pric} = {expected}")]
    LineMismatch {
        feedetl_sn: String,
        cnt: Qty,
        pric: Price,
        stated: Fen,
        expected: Fen,
    },
    #[error("medfee_sumamt {stated} ≠ sum of the fee lines {sum}")]
    TotalMismatch { stated: Fen, sum: Fen },
    #[error("fee line {feedetl_sn:?} is missing {field}")]
    MissingField {
        feedetl_sn: String,
        field: &'static str,
    },
    #[error("fee line serial number {0:?} appears twice")]
    DuplicateSn(String),
    #[error("fee amounts overflow")]
    Overflow,
}

/// Checks every line (positive quantity, unique serial number, amount = `cnt × pric` to the
/// fen) and returns their sum.
pub fn check_lines(lines: &[FeeDetail]) -> Result<Fen, FeeError> {
    if lines.is_empty() {
        return Err(FeeError::Empty);
    }
    let mut seen = std::collections::HashSet::new();
    for line in lines {
        if !seen.insert(line.feedetl_sn.as_str()) {
            return Err(FeeError::DuplicateSn(line.feedetl_sn.clone()));
        }
        if line.cnt.0 <= 0 {
            return Err(FeeError::NonPositiveQty {
                feedetl_sn: line.feedetl_sn.clone(),
                cnt: line.cnt,
            });
        }
        let expected = line_amount(line.cnt, line.pric).ok_or(FeeError::Overflow)?;
        if expected != line.det_item_fee_sumamt {
            return Err(FeeError::LineMismatch {
                feedetl_sn: line.feedetl_sn.clone(),
                cnt: line.cnt,
                pric: line.pric,
                stated: line.det_item_fee_sumamt,
                expected,
            });
        }
    }
    Fen::checked_sum(lines.iter().map(|l| l.det_item_fee_sumamt)).ok_or(FeeError::Overflow)
}

/// [`check_lines`], then the stated total against their sum.
pub fn check_total(stated: Fen, lines: &[FeeDetail]) -> Result<(), FeeError> {
    let sum = check_lines(lines)?;
    if sum != stated {
        return Err(FeeError::TotalMismatch { stated, sum });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A line of `cnt` × `pric` with the correct amount.
    pub(crate) fn line(sn: &str, code: &str, cnt: &str, pric: &str) -> FeeDetail {
        let (cnt, pric): (Qty, Price) = (cnt.parse().unwrap(), pric.parse().unwrap());
        FeeDetail {
            feedetl_sn: sn.into(),
            psn_no: "P11010519491231".into(),
            chrg_bchno: "CB20261123000001".into(),
            fee_ocur_time: "2026-11-23 10:00:00".into(),
            med_list_codg: code.into(),
            medins_list_codg: format!("YP-{sn}"),
            det_item_fee_sumamt: line_amount(cnt, pric).unwrap(),
            cnt,
            pric,
            rx_circ_flag: "0".into(),
            ..FeeDetail::default()
        }
    }

    #[test]
    fn good_lines_sum_to_the_fen() {
        let lines = [
            line("1", "XJ01CAA040A001010104459", "2", "12.5"),
            line("2", "XA02BCA080A001010100394", "1.5", "3.333333"),
        ];
        assert_eq!(check_lines(&lines), Ok(Fen(3_000)));
        assert_eq!(check_total(Fen(3_000), &lines), Ok(()));
    }

    #[test]
    fn each_refusal() {
        assert_eq!(check_lines(&[]), Err(FeeError::Empty));
        let good = line("1", "X", "2", "12.5");
        let mut off = good.clone();
        off.det_item_fee_sumamt = Fen(2_501);
        assert!(matches!(
            check_lines(&[off]),
            Err(FeeError::LineMismatch {
                expected: Fen(2_500),
                stated: Fen(2_501),
                ..
            })
        ));
        let mut zero = good.clone();
        zero.cnt = Qty(0);
        zero.det_item_fee_sumamt = Fen(0);
        assert!(matches!(
            check_lines(&[zero]),
            Err(FeeError::NonPositiveQty { .. })
        ));
        assert_eq!(
            check_lines(&[good.clone(), good.clone()]),
            Err(FeeError::DuplicateSn("1".into()))
        );
        assert_eq!(
            check_total(Fen(2_499), std::slice::from_ref(&good)),
            Err(FeeError::TotalMismatch {
                stated: Fen(2_499),
                sum: Fen(2_500)
            })
        );
        let mut huge = good.clone();
        huge.cnt = Qty(i64::MAX);
        huge.pric = Price(i64::MAX);
        assert_eq!(check_lines(&[huge]), Err(FeeError::Overflow));
        let e = FeeError::LineMismatch {
            feedetl_sn: "1".into(),
            cnt: Qty(20_000),
            pric: Price(12_500_000),
            stated: Fen(2_501),
            expected: Fen(2_500),
        };
        assert_eq!(
            e.to_string(),
            r#"fee line "1": amount 25.01 ≠ 2.0000 × 12.500000 = 25.00"#
        );
    }
}

//! 2101 药店预结算 pharmacy pre-settlement and 2102 药店结算 pharmacy settlement inputs.
//!
//! Both carry a header and the fee lines, whose node names are not settled (upstream.md
//! "Pharmacy settlement"): public pharmacy clients send `druginfo` + `drugdetail[]` (the
//! default), another form is `data` + `feedetail[]`; [`FeeNode`] is configuration, never
//! guessed.
//! [`PharmacyInput::presettle`] refuses lines whose amounts do not add up (see [`fee`](super::fee));
//! [`PharmacyInput::into_settle`] turns the checked 2101 input into the 2102 one by adding the
//! invoice number. Both answer a [`Settlement`](super::settle::Settlement). `Debug` masks the
//! certificate number; nothing here sends or logs.

use std::fmt;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::fee::{FeeDetail, FeeError, check_total};
use super::person::CertType;
use crate::money::Fen;
use medsettle_base::pii::PsnNo;
use medsettle_base::pii::mask_id;

pub const PHARMACY_PRESETTLE: &str = "2101";
pub const PHARMACY_SETTLE: &str = "2102";

/// The node names of a pharmacy sale, a per-deployment setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeeNode {
    /// `{"data": {...}, "feedetail": [...]}`.
    Feedetail,
    /// `{"druginfo": {...}, "drugdetail": [...]}` (two public pharmacy clients; the default).
    #[default]
    Drugdetail,
    /// Other names a deployment configures.
    Named { header: String, lines: String },
}

impl FeeNode {
    /// The node pair called `header` + `lines` (the known pairs by their variant).
    pub fn named(header: &str, lines: &str) -> FeeNode {
        match (header, lines) {
            ("data", "feedetail") => FeeNode::Feedetail,
            ("druginfo", "drugdetail") => FeeNode::Drugdetail,
            _ => FeeNode::Named {
                header: header.to_owned(),
                lines: lines.to_owned(),
            },
        }
    }

    /// (header node, lines node).
    pub fn names(&self) -> (&str, &str) {
        match self {
            Self::Feedetail => ("data", "feedetail"),
            Self::Drugdetail => ("druginfo", "drugdetail"),
            Self::Named { header, lines } => (header, lines),
        }
    }
}

/// The header of a 2101/2102 sale.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PharmacySale {
    pub psn_no: PsnNo,
    pub mdtrt_cert_type: CertType,
    pub mdtrt_cert_no: String,
    /// `yyyy-MM-dd HH:mm:ss` CST.
    pub begntime: String,
    pub medfee_sumamt: Fen,
    pub ipt_otp_no: String,
    pub atddr_no: String,
    pub dr_name: String,
    pub fixmedins_code: String,
    pub fixmedins_name: String,
    pub insutype: String,
    pub med_type: String,
    /// `"1"` when the personal account pays, `"0"` otherwise.
    #[serde(serialize_with = "flag")]
    pub acct_used_flag: bool,
    pub psn_setlway: String,
    pub chrg_bchno: String,
    /// Invoice number, 2102 only: absent from a 2101 request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invono: Option<String>,
    /// The trace-code counts, only when the sale carries codes.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub trace_counts: Option<super::trace::TraceCounts>,
}

/// A checked 2101 (or, after [`into_settle`](Self::into_settle), 2102) input.
#[derive(Clone, PartialEq, Eq)]
pub struct PharmacyInput {
    sale: PharmacySale,
    lines: Vec<FeeDetail>,
    node: FeeNode,
}

impl PharmacyInput {
    /// The 2101 input: every line is `cnt × pric` to the fen and `medfee_sumamt` is their sum.
    /// An `invono` set on `sale` is dropped (2101 has none).
    pub fn presettle(
        mut sale: PharmacySale,
        lines: Vec<FeeDetail>,
        node: FeeNode,
    ) -> Result<PharmacyInput, FeeError> {
        check_total(sale.medfee_sumamt, &lines)?;
        sale.invono = None;
        Ok(PharmacyInput { sale, lines, node })
    }

    /// The 2102 input: the same sale and lines as the 2101 it follows, plus the invoice number.
    pub fn into_settle(mut self, invono: &str) -> PharmacyInput {
        self.sale.invono = Some(invono.to_owned());
        self
    }

    /// [`PHARMACY_SETTLE`] once an invoice number is set, else [`PHARMACY_PRESETTLE`].
    pub fn infno(&self) -> &'static str {
        if self.sale.invono.is_some() {
            PHARMACY_SETTLE
        } else {
            PHARMACY_PRESETTLE
        }
    }

    pub fn sale(&self) -> &PharmacySale {
        &self.sale
    }

    pub fn lines(&self) -> &[FeeDetail] {
        &self.lines
    }
}

impl Serialize for PharmacyInput {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (header, lines) = self.node.names();
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(header, &self.sale)?;
        map.serialize_entry(lines, &self.lines)?;
        map.end()
    }
}

/// The certificate number may be an ID number or an e-voucher token: masked.
impl fmt::Debug for PharmacySale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PharmacySale")
            .field("psn_no", &self.psn_no)
            .field("mdtrt_cert_type", &self.mdtrt_cert_type)
            .field("mdtrt_cert_no", &mask_id(&self.mdtrt_cert_no))
            .field("medfee_sumamt", &self.medfee_sumamt)
            .field("chrg_bchno", &self.chrg_bchno)
            .field("invono", &self.invono)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PharmacyInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PharmacyInput")
            .field("infno", &self.infno())
            .field("sale", &self.sale)
            .field("lines", &self.lines.len())
            .field("node", &self.node)
            .finish()
    }
}

/// `true` → `"1"`, `false` → `"0"`.
pub(crate) fn flag<S: Serializer>(value: &bool, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(if *value { "1" } else { "0" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::classify;
    use crate::tx::fee::tests::line;
    use crate::tx::settle::Settlement;

    fn sale(total: Fen) -> PharmacySale {
        PharmacySale {
            psn_no: "P11010519491231".into(),
            mdtrt_cert_type: CertType::IdNumber,
            mdtrt_cert_no: "11010519491231002X".into(),
            begntime: "2026-11-23 10:00:00".into(),
            medfee_sumamt: total,
            ipt_otp_no: "MZ20261123000001".into(),
            atddr_no: String::new(),
            dr_name: String::new(),
            fixmedins_code: "P11010500123".into(),
            fixmedins_name: "朝阳示例大药房".into(),
            insutype: "310".into(),
            med_type: "41".into(),
            acct_used_flag: true,
            psn_setlway: "01".into(),
            chrg_bchno: "CB20261123000001".into(),
            invono: Some("ignored by 2101".into()),
            trace_counts: None,
        }
    }

    fn lines() -> Vec<FeeDetail> {
        vec![
            line("1", "XJ01CAA040A001010104459", "2", "12.5"),
            line("2", "XA02BCA080A001010100394", "1.5", "3.333333"),
            line("3", "XC09CAC048A001010100890", "1", "98.5"),
        ]
    }

    fn json(fixture: &str) -> serde_json::Value {
        serde_json::from_str(fixture).unwrap()
    }

    #[test]
    fn presettle_serialises_exactly_as_the_fixture() {
        let input =
            PharmacyInput::presettle(sale(Fen(12_850)), lines(), FeeNode::Feedetail).unwrap();
        assert_eq!(input.infno(), PHARMACY_PRESETTLE);
        let expected = json(include_str!(
            "../../../../fixtures/upstream/2101_input.json"
        ));
        assert_eq!(serde_json::to_value(&input).unwrap(), expected);
        let text = serde_json::to_string(&input).unwrap();
        assert!(!text.contains("invono"), "2101 has no invoice number");
        assert!(text.contains(r#""medfee_sumamt":"128.50""#));
        assert!(text.contains(r#""cnt":"1.5000","pric":"3.333333""#));
        assert!(text.contains(r#""acct_used_flag":"1""#));
    }

    #[test]
    fn settle_adds_the_invoice_number() {
        let input = PharmacyInput::presettle(sale(Fen(12_850)), lines(), FeeNode::Feedetail)
            .unwrap()
            .into_settle("INV0001");
        assert_eq!(input.infno(), PHARMACY_SETTLE);
        let mut expected = json(include_str!(
            "../../../../fixtures/upstream/2101_input.json"
        ));
        expected["data"]["invono"] = "INV0001".into();
        assert_eq!(serde_json::to_value(&input).unwrap(), expected);
    }

    #[test]
    fn druginfo_provinces_get_the_same_items_under_their_names() {
        let input =
            PharmacyInput::presettle(sale(Fen(12_850)), lines(), FeeNode::Drugdetail).unwrap();
        let value = serde_json::to_value(&input).unwrap();
        let expected = json(include_str!(
            "../../../../fixtures/upstream/2101_input_druginfo.json"
        ));
        assert_eq!(value, expected);
        let national = json(include_str!(
            "../../../../fixtures/upstream/2101_input.json"
        ));
        assert_eq!(value["druginfo"], national["data"]);
        assert_eq!(value["drugdetail"], national["feedetail"]);
    }

    #[test]
    fn sums_that_do_not_add_up_are_refused() {
        let e = PharmacyInput::presettle(sale(Fen(12_851)), lines(), FeeNode::Feedetail);
        assert_eq!(
            e.unwrap_err(),
            FeeError::TotalMismatch {
                stated: Fen(12_851),
                sum: Fen(12_850)
            }
        );
        let mut bad = lines();
        bad[1].det_item_fee_sumamt = Fen(499); // 1.5 × 3.333333 rounds to 5.00
        let e = PharmacyInput::presettle(sale(Fen(12_849)), bad, FeeNode::Feedetail);
        assert!(matches!(e, Err(FeeError::LineMismatch { .. })), "{e:?}");
        let e = PharmacyInput::presettle(sale(Fen::ZERO), vec![], FeeNode::Feedetail);
        assert_eq!(e.unwrap_err(), FeeError::Empty);
    }

    #[test]
    fn debug_masks_the_certificate_number() {
        let input =
            PharmacyInput::presettle(sale(Fen(12_850)), lines(), FeeNode::Feedetail).unwrap();
        let shown = format!("{input:?}");
        assert!(!shown.contains("11010519491231002X"), "{shown}");
        assert!(shown.contains("110105********002X"), "{shown}");
    }

    #[test]
    fn node_names_are_configuration() {
        assert_eq!(FeeNode::default().names(), ("druginfo", "drugdetail"));
        assert_eq!(FeeNode::named("data", "feedetail"), FeeNode::Feedetail);
        let other = FeeNode::named("drugInfo", "drugList");
        assert_eq!(other.names(), ("drugInfo", "drugList"));
        let input = PharmacyInput::presettle(sale(Fen(12_850)), lines(), other).unwrap();
        let v = serde_json::to_value(&input).unwrap();
        assert!(v.get("drugInfo").is_some() && v["drugList"].as_array().unwrap().len() == 3);
    }

    #[test]
    fn the_answer_is_an_estimate() {
        let s: Settlement = classify(
            200,
            include_bytes!("../../../../fixtures/upstream/2101_response.json"),
        )
        .unwrap()
        .output_as()
        .unwrap();
        assert!(s.check().is_err(), "a pre-settlement has no setl_id");
        assert_eq!(s.setlinfo.medfee_sumamt, Fen(12_850));
        assert_eq!(s.setlinfo.psn_cash_pay, Some(Fen(1_820)));
        assert_eq!(s.setlinfo.balc, None, "missing optional amount");
    }
}

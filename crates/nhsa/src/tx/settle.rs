//! The settlement answer shared by 2101/2102 (pharmacy), 2206/2207 (outpatient), the
//! cancellations 2103/2208 and the 5203 query: `setlinfo` and `setldetail[]`, amounts in
//! [`Fen`] (upstream.md "Settlement answers", "Cancellation answers").
//!
//! Parsing never fails on what the platform may fill in: every field is optional, an amount may
//! be a string, a number, `null` or `""`, an unknown field is ignored, a malformed value reads
//! as absent. The node as received (personal fields removed) is kept in [`Settlement::answer`],
//! so a sale records every amount field it got, including the ones this terminal does not know.
//!
//! [`Settlement::check`] is the only gate of a final answer: infcode 0 with a non-empty
//! `setl_id` is a settlement, whatever its amounts say. The contract's arithmetic checks are
//! advisory ([`Settlement::advisories`]): a failure is reported, never a reason to reverse.
//! `setldetail` is for display and receipts; its sum is never compared with `fund_pay_sumamt`.

use serde::Serialize;
use serde::de::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::error::UpstreamError;
use crate::money::Fen;
use medsettle_base::pii::PsnNo;

/// Fields of `setlinfo` that name or identify the patient: left out of [`Settlement::answer`]
/// (the typed `psn_no` keeps the one the terminal needs, masked in `Debug`).
pub const PERSONAL_FIELDS: &[&str] = &[
    "psn_no",
    "psn_name",
    "certno",
    "psn_cert_type",
    "gend",
    "naty",
    "brdy",
    "age",
    "mdtrt_cert_no",
    "card_sn",
    "emp_name",
    "tel",
    "addr",
];

/// The settlement output node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    pub setlinfo: SetlInfo,
    /// Display only: never summed against `fund_pay_sumamt`.
    pub setldetail: Vec<SetlDetail>,
    /// `setlinfo` as received, [`PERSONAL_FIELDS`] removed (`Null` when there was none).
    pub answer: Value,
}

/// `setlinfo`. Identity and code fields are text; every amount is optional except the three
/// the terminal always books (absent, null or malformed read as 0 there; the raw value stays in
/// [`Settlement::answer`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct SetlInfo {
    #[serde(deserialize_with = "text")]
    pub setl_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub mdtrt_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub psn_no: Option<PsnNo>,
    #[serde(deserialize_with = "text")]
    pub insutype: Option<String>,
    #[serde(deserialize_with = "text")]
    pub psn_type: Option<String>,
    #[serde(deserialize_with = "text")]
    pub med_type: Option<String>,
    #[serde(deserialize_with = "text")]
    pub setl_time: Option<String>,
    /// The settlement request's msgid, echoed back.
    #[serde(deserialize_with = "text")]
    pub medins_setl_id: Option<String>,
    /// 清算经办机构 (3201's `setl_optins`).
    #[serde(deserialize_with = "text")]
    pub clr_optins: Option<String>,
    #[serde(deserialize_with = "text")]
    pub clr_way: Option<String>,
    #[serde(deserialize_with = "text")]
    pub clr_type: Option<String>,
    /// 5203: `1` when the settlement was refunded (cancelled).
    #[serde(deserialize_with = "text")]
    pub refd_setl_flag: Option<String>,
    #[serde(deserialize_with = "text")]
    pub invono: Option<String>,
    /// 统筹支付比例, a ratio (4 decimals), kept as text.
    #[serde(deserialize_with = "text")]
    pub pool_prop_selfpay: Option<String>,
    /// Total medical fees.
    #[serde(deserialize_with = "amount_or_zero")]
    pub medfee_sumamt: Fen,
    /// Paid by the funds.
    #[serde(deserialize_with = "amount_or_zero")]
    pub fund_pay_sumamt: Fen,
    /// Paid from the personal account.
    #[serde(deserialize_with = "amount_or_zero")]
    pub acct_pay: Fen,
    /// 个人现金支出: the cash the patient pays, as given; `None` = the operator decides.
    #[serde(deserialize_with = "amount")]
    pub psn_cash_pay: Option<Fen>,
    /// 个人负担总金额.
    #[serde(deserialize_with = "amount")]
    pub psn_part_amt: Option<Fen>,
    /// 医院负担金额.
    #[serde(deserialize_with = "amount")]
    pub hosp_part_amt: Option<Fen>,
    /// 个人账户共济支付金额.
    #[serde(deserialize_with = "amount")]
    pub acct_mulaid_pay: Option<Fen>,
    /// Personal account balance after settlement.
    #[serde(deserialize_with = "amount")]
    pub balc: Option<Fen>,
    /// 统筹基金.
    #[serde(deserialize_with = "amount")]
    pub hifp_pay: Option<Fen>,
    /// 公务员补助.
    #[serde(deserialize_with = "amount")]
    pub cvlserv_pay: Option<Fen>,
    /// 企业补充.
    #[serde(deserialize_with = "amount")]
    pub hifes_pay: Option<Fen>,
    /// 居民大病.
    #[serde(deserialize_with = "amount")]
    pub hifmi_pay: Option<Fen>,
    /// 职工大额.
    #[serde(deserialize_with = "amount")]
    pub hifob_pay: Option<Fen>,
    /// 医疗救助.
    #[serde(deserialize_with = "amount")]
    pub maf_pay: Option<Fen>,
    /// 其他.
    #[serde(deserialize_with = "amount")]
    pub oth_pay: Option<Fen>,
    /// 伤残人员 (newer transcriptions).
    #[serde(deserialize_with = "amount")]
    pub hifdm_pay: Option<Fen>,
    /// 实际支付起付线.
    #[serde(deserialize_with = "amount")]
    pub act_pay_dedc: Option<Fen>,
    /// 全自费金额: carried from a 2206 answer into the 2207 request.
    #[serde(deserialize_with = "amount")]
    pub fulamt_ownpay_amt: Option<Fen>,
    /// 超限价自费费用.
    #[serde(deserialize_with = "amount")]
    pub overlmt_selfpay: Option<Fen>,
    /// 先行自付金额.
    #[serde(deserialize_with = "amount")]
    pub preselfpay_amt: Option<Fen>,
    /// 符合政策范围金额.
    #[serde(deserialize_with = "amount")]
    pub inscp_scp_amt: Option<Fen>,
    /// Cancellation-style (2103 transcription, 2305, 5203): 个人支付金额.
    #[serde(deserialize_with = "amount")]
    pub psn_pay: Option<Fen>,
    /// Cancellation-style: 现金支付金额.
    #[serde(deserialize_with = "amount")]
    pub cash_payamt: Option<Fen>,
    /// 2208 transcriptions' spelling of 个人现金支出.
    #[serde(deserialize_with = "amount")]
    pub pdn_cash_pay: Option<Fen>,
    /// A captured 2305's camel-case 现金支付金额.
    #[serde(rename = "cashPayamt", deserialize_with = "amount")]
    pub cash_payamt_camel: Option<Fen>,
    /// 自费中医院负担部分 (Chongqing).
    #[serde(deserialize_with = "amount")]
    pub ownpay_hosp_part: Option<Fen>,
}

/// One line of `setldetail[]` (display only).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(default)]
pub struct SetlDetail {
    #[serde(deserialize_with = "text")]
    pub fund_pay_type: Option<String>,
    #[serde(deserialize_with = "text")]
    pub fund_pay_type_name: Option<String>,
    #[serde(deserialize_with = "amount_or_zero")]
    pub fund_payamt: Fen,
    #[serde(deserialize_with = "amount")]
    pub inscp_scp_amt: Option<Fen>,
    #[serde(deserialize_with = "amount")]
    pub crt_payb_lmt_amt: Option<Fen>,
    #[serde(deserialize_with = "text")]
    pub setl_proc_info: Option<String>,
}

impl<'de> Deserialize<'de> for Settlement {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Settlement::from_output(&Value::deserialize(deserializer)?))
    }
}

impl Settlement {
    /// The settlement in an `output` node, however the platform filled it: never fails (a
    /// missing or malformed `setlinfo` reads as empty, and then [`check`](Self::check) fails).
    pub fn from_output(output: &Value) -> Settlement {
        let node = output.get("setlinfo").filter(|v| v.is_object());
        let setlinfo = node
            .and_then(|v| serde_json::from_value::<SetlInfo>(v.clone()).ok())
            .unwrap_or_default();
        let setldetail = output
            .get("setldetail")
            .and_then(Value::as_array)
            .map(|lines| {
                lines
                    .iter()
                    .filter(|l| l.is_object())
                    .filter_map(|l| serde_json::from_value::<SetlDetail>(l.clone()).ok())
                    .collect()
            })
            .unwrap_or_default();
        let answer = match node {
            Some(Value::Object(m)) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !PERSONAL_FIELDS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Map<String, Value>>(),
            ),
            _ => Value::Null,
        };
        Settlement {
            setlinfo,
            setldetail,
            answer,
        }
    }

    /// The gate of a final answer (2102/2207): a non-empty `setl_id`. Nothing else: amounts,
    /// nulls and unknown fields never make a settlement doubtful (see [`advisories`]).
    ///
    /// [`advisories`]: Settlement::advisories
    pub fn check(&self) -> Result<(), UpstreamError> {
        match self.setl_id() {
            Some(_) => Ok(()),
            None => Err(UpstreamError::Protocol {
                detail: "setlinfo.setl_id is missing".into(),
            }),
        }
    }

    /// The non-empty `setl_id`, if any.
    pub fn setl_id(&self) -> Option<&str> {
        self.setlinfo
            .setl_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// The contract's advisory checks that `checks` enables, against what the terminal sent.
    /// Each failure names its check and the amounts (never personal data); an empty list means
    /// every enabled check held or could not be evaluated (its fields absent).
    pub fn advisories(&self, sent: &Sent<'_>, checks: &AdvisoryChecks) -> Vec<Mismatch> {
        let s = &self.setlinfo;
        let mut out = Vec::new();
        if checks.psn_no {
            let got = s.psn_no.as_ref().map(|p| p.expose().trim().to_owned());
            if let (Some(got), Some(want)) = (got, sent.psn_no) {
                if got != want.trim() {
                    out.push(Mismatch::new(
                        CHECK_PSN_NO,
                        "the answer's psn_no is not the request's".to_owned(),
                    ));
                }
            }
        }
        if checks.medfee_sent && s.medfee_sumamt != sent.medfee_sumamt {
            out.push(Mismatch::new(
                CHECK_MEDFEE_SENT,
                format!(
                    "medfee_sumamt {} ≠ {} sent",
                    s.medfee_sumamt, sent.medfee_sumamt
                ),
            ));
        }
        if checks.medfee_parts {
            if let Some(psn_part) = s.psn_part_amt {
                let hosp = s.hosp_part_amt.unwrap_or(Fen(0));
                let sum = exact(&[s.fund_pay_sumamt, psn_part, hosp]);
                if sum != i128::from(s.medfee_sumamt.0) {
                    out.push(Mismatch::new(
                        CHECK_MEDFEE_PARTS,
                        format!(
                            "medfee_sumamt {} ≠ fund {} + psn_part {} + hosp_part {}",
                            s.medfee_sumamt, s.fund_pay_sumamt, psn_part, hosp
                        ),
                    ));
                }
            }
        }
        if checks.psn_part && s.acct_mulaid_pay.is_none_or(|m| m.0 == 0) {
            if let (Some(psn_part), Some(cash)) = (s.psn_part_amt, s.psn_cash_pay) {
                if exact(&[s.acct_pay, cash]) != i128::from(psn_part.0) {
                    out.push(Mismatch::new(
                        CHECK_PSN_PART,
                        format!(
                            "psn_part_amt {psn_part} ≠ acct_pay {} + psn_cash_pay {cash}",
                            s.acct_pay
                        ),
                    ));
                }
            }
        }
        out
    }

    /// Cash refunded by a cancellation answer (2103/2208/2305): the first present of
    /// `psn_cash_pay`, `pdn_cash_pay`, `cash_payamt`, `cashPayamt`, sign ignored; `None` when
    /// the answer names none (the caller then takes the original settlement's `psn_cash_pay`).
    pub fn cash_refunded(&self) -> Option<Fen> {
        let s = &self.setlinfo;
        [
            s.psn_cash_pay,
            s.pdn_cash_pay,
            s.cash_payamt,
            s.cash_payamt_camel,
        ]
        .into_iter()
        .flatten()
        .next()
        .map(|f| Fen(f.0.checked_abs().unwrap_or(i64::MAX)))
    }
}

/// Exact sum (i128: no overflow part-way).
fn exact(amounts: &[Fen]) -> i128 {
    amounts.iter().map(|f| i128::from(f.0)).sum()
}

/// What the terminal sent, for the advisory checks.
#[derive(Debug, Clone, Copy)]
pub struct Sent<'a> {
    pub medfee_sumamt: Fen,
    /// The request's `psn_no` in clear (compared, never shown).
    pub psn_no: Option<&'a str>,
}

/// Which advisory checks run (upstream.md "Settlement answers", rule 3), per deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdvisoryChecks {
    /// The answer's `psn_no` is the request's (the answer belongs to this sale).
    pub psn_no: bool,
    /// `medfee_sumamt` equals the one sent.
    pub medfee_sent: bool,
    /// `medfee_sumamt` = `fund_pay_sumamt` + `psn_part_amt` + `hosp_part_amt` (evaluated when
    /// `psn_part_amt` is present; `hosp_part_amt` absent = 0). Turn off where
    /// `fund_pay_sumamt` includes the account payment.
    pub medfee_parts: bool,
    /// `psn_part_amt` = `acct_pay` + `psn_cash_pay` (evaluated when both are present and
    /// `acct_mulaid_pay` is 0 or absent).
    pub psn_part: bool,
}

impl Default for AdvisoryChecks {
    fn default() -> Self {
        AdvisoryChecks {
            psn_no: true,
            medfee_sent: true,
            medfee_parts: true,
            psn_part: true,
        }
    }
}

pub const CHECK_PSN_NO: &str = "psn_no";
pub const CHECK_MEDFEE_SENT: &str = "medfee_sent";
pub const CHECK_MEDFEE_PARTS: &str = "medfee_parts";
pub const CHECK_PSN_PART: &str = "psn_part";

/// A failed advisory check: which one, and the amounts involved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
pub struct Mismatch {
    pub check: String,
    pub detail: String,
}

impl Mismatch {
    fn new(check: &str, detail: String) -> Mismatch {
        Mismatch {
            check: check.to_owned(),
            detail,
        }
    }
}

/// Text, a number or a boolean as text; `null`, `""`, arrays and objects read as absent.
fn text<'de, D: Deserializer<'de>, T: From<String>>(d: D) -> Result<Option<T>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.into()),
        Value::Number(n) => Some(n.to_string().into()),
        Value::Bool(b) => Some(b.to_string().into()),
        _ => None,
    })
}

/// An amount in yuan as text or a number; `null`, `""` and anything malformed read as absent.
fn amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Fen>, D::Error> {
    Ok(parse_amount(&Value::deserialize(d)?))
}

fn amount_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<Fen, D::Error> {
    Ok(parse_amount(&Value::deserialize(d)?).unwrap_or(Fen(0)))
}

fn parse_amount(v: &Value) -> Option<Fen> {
    match v {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Fen::parse_yuan(s.trim()).ok(),
        Value::Number(_) => serde_json::from_value::<Fen>(v.clone()).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests;

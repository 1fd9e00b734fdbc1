//! 2101/2102 (pharmacy) pre-settlement and settlement, and the settling both families share
//! (2206/2207 check their visit in `outpatient.rs`, then come here). The split comes from
//! `split.rs`; pre-settlements only compute, settlements also take the money out
//! of the account, consume deductible and cap, and record the settlement (one effective
//! settlement per sale: a batch already settled is refused).

use medsettle_nhsa::money::Fen;
use medsettle_nhsa::time;
use serde_json::{Value, json};

use super::{
    TxResult, active_insurance, amount, check_cert, list, node, object, opt_text, person, text,
};
use crate::config::SandboxConfig;
use crate::envelope::Req;
use crate::ledger::{SettlementRecord, SettlementStatus};
use crate::split::{self, Item, Split};
use crate::state::{Effect, State};

/// What both families settle.
pub(super) struct Bill {
    pub(super) psn_no: String,
    pub(super) insutype: String,
    /// `None` for a pharmacy sale (the sandbox makes one up).
    pub(super) mdtrt_id: Option<String>,
    pub(super) chrg_bchno: String,
    pub(super) med_type: String,
    pub(super) acct_used_flag: String,
    pub(super) items: Vec<Item>,
    /// 清算类别: `41` 药店购药 (2101/2102), `11` 门诊 (2206/2207).
    pub(super) clr_type: &'static str,
    /// 清算经办机构; [`run`] fills it in from the person.
    pub(super) clr_optins: String,
}

/// `clr_type` of a pharmacy sale (定点药店购药).
pub(super) const PHARMACY_CLR_TYPE: &str = "41";
/// `clr_type` of an outpatient visit (门诊).
pub(super) const OUTPATIENT_CLR_TYPE: &str = "11";

/// The 2101/2102 node names of `req`: the configured pair, or (unconfigured) whichever of
/// `druginfo`+`drugdetail` and `data`+`feedetail` the request carries. A mixed or missing
/// pair is refused.
fn pharmacy_nodes(req: &Req, config: &SandboxConfig) -> Result<(String, String), String> {
    if let Some((header, lines)) = &config.pharmacy_nodes {
        return Ok((header.clone(), lines.clone()));
    }
    for (header, lines) in [("druginfo", "drugdetail"), ("data", "feedetail")] {
        if req.input.get(header).is_some() || req.input.get(lines).is_some() {
            return Ok((header.to_owned(), lines.to_owned()));
        }
    }
    Err("入参缺少节点 input.druginfo/drugdetail (or data/feedetail) missing".to_owned())
}

/// 2101 (`commit = false`) / 2102.
pub fn pharmacy(state: &mut State, config: &SandboxConfig, req: &Req, commit: bool) -> TxResult {
    let (header, lines) = pharmacy_nodes(req, config)?;
    let data = node(req, &header)?;
    let mut items = Vec::new();
    for detail in list(req, &lines)? {
        let d = object(detail)?;
        items.push(Item {
            med_list_codg: text(d, "med_list_codg")?,
            amount: amount(d, "det_item_fee_sumamt")?,
        });
    }
    if commit {
        text(data, "chrg_bchno")?;
        // upstream.md: invono is at most 20 characters.
        let invono = opt_text(data, "invono");
        if invono.chars().count() > 20 {
            return Err(format!(
                "发票号长度超过20位 invono {invono:?} is longer than 20 characters"
            ));
        }
    }
    let bill = Bill {
        psn_no: text(data, "psn_no")?,
        insutype: text(data, "insutype")?,
        mdtrt_id: None,
        chrg_bchno: opt_text(data, "chrg_bchno"),
        med_type: opt_text(data, "med_type"),
        acct_used_flag: text(data, "acct_used_flag")?,
        items,
        clr_type: PHARMACY_CLR_TYPE,
        clr_optins: String::new(),
    };
    run(state, req, data, bill, commit, "2102")
}

/// The trace-code counts a settlement may carry (traceability.md, "In the settlement itself":
/// 2207, and 2101/2102's `druginfo` in one pharmacy client): both or neither, each a
/// non-negative whole number.
fn trace_counts(data: &serde_json::Map<String, Value>) -> Result<Option<(u32, u32)>, String> {
    let count = |key: &str| -> Result<Option<u32>, String> {
        let value = opt_text(data, key);
        if value.is_empty() {
            return Ok(None);
        }
        value
            .parse::<u32>()
            .map(Some)
            .map_err(|_| format!("追溯码数量错误 {key} {value:?} is not a whole number"))
    };
    match (count("minpacunt_drug_trac_cnt")?, count("mcs_trac_cnt")?) {
        (Some(drugs), Some(consumables)) => Ok(Some((drugs, consumables))),
        (None, None) => Ok(None),
        _ => Err(
            "追溯码数量须同时填写 minpacunt_drug_trac_cnt and mcs_trac_cnt go together".to_owned(),
        ),
    }
}

/// The settlement of `bill`: computes the split and, when `commit`, books it (2102/2207).
pub(super) fn run(
    state: &mut State,
    req: &Req,
    data: &serde_json::Map<String, Value>,
    mut bill: Bill,
    commit: bool,
    infno: &str,
) -> TxResult {
    let medfee = amount(data, "medfee_sumamt")?;
    let trace_counts = trace_counts(data)?;
    let p = person(state, &bill.psn_no)?;
    active_insurance(p, &bill.insutype)?;
    check_cert(state, data, p)?;
    // upstream.md "Settlement answers": the clearing institution is the patient's 参保地 for
    // this insurance (a configured person may clear elsewhere).
    let region = p
        .insurance(&bill.insutype)
        .map_or(p.region(), |i| i.insuplc_admdvs.as_str());
    bill.clr_optins = state.shapes.clearing_institution(&bill.psn_no, region);
    let use_account = match bill.acct_used_flag.as_str() {
        "1" => true,
        "0" => false,
        other => return Err(format!("个人账户使用标志错误 acct_used_flag {other}")),
    };
    let sum =
        Fen::checked_sum(bill.items.iter().map(|i| i.amount)).ok_or("金额溢出 amounts overflow")?;
    if sum != medfee {
        return Err(format!(
            "医疗费总额与明细不符 medfee_sumamt {medfee} ≠ sum of details {sum}"
        ));
    }
    if bill.items.iter().any(|i| i.amount.0 < 0) {
        return Err("明细金额不能为负 negative detail amount".to_owned());
    }
    // Consent: no password in cainfo (upstream.md "Patient consent": only a configured
    // provincial practice carries one; this platform has none). The card verified the PIN.
    // A pharmacy sale is one batch; an outpatient batch belongs to its visit (checked there).
    if commit
        && bill.mdtrt_id.is_none()
        && state.batch_settled(&req.fixmedins_code, &bill.psn_no, &bill.chrg_bchno)
    {
        return Err(format!(
            "收费批次已结算 chrg_bchno {} already settled",
            bill.chrg_bchno
        ));
    }
    // A `settle_other_amount` fault: the platform settles another total than it was asked.
    if let Some(delta) = state.settle_delta.filter(|_| commit) {
        let total = medfee.0.checked_add(delta).filter(|t| *t >= 0);
        let total = total.ok_or("金额溢出 other amount out of range")?;
        bill.items.push(Item {
            med_list_codg: "SANDBOX-OTHER-AMOUNT".to_owned(),
            amount: Fen(total - medfee.0),
        });
    }
    let rule = p.funds[&bill.insutype].clone();
    let account = state
        .account(&bill.psn_no, &bill.insutype)
        .ok_or("账户不存在 no account")?;
    let mut s = split::split(&bill.items, &rule, account, use_account);
    let (hosp, mulaid) = state
        .shapes
        .shares(&bill.psn_no, &bill.chrg_bchno, s.cash, s.acct);
    s.hosp = hosp;
    s.cash = Fen(s.cash.0 - hosp.0);
    s.mulaid = mulaid;
    let balc_after = Fen(account.balc.0 - s.acct.0);
    let mdtrt_id = match &bill.mdtrt_id {
        Some(id) => id.clone(),
        None => state.next_id("M", req.inf_time, 30),
    };
    let setl_id = state.next_id(if commit { "S" } else { "Y" }, req.inf_time, 30);
    // The platform stamps the settlement at the request's time, in CST whatever the client's
    // clock zone; 3201 counts it on that day.
    let setl_time = time::format_inf_time(req.inf_time);
    let out = output(&setl_id, &mdtrt_id, &bill, &s, balc_after, &setl_time, 1);
    if commit {
        state.settlements.push(SettlementRecord {
            setl_id: setl_id.clone(),
            mdtrt_id,
            msgid: req.msgid.clone(),
            infno: infno.to_owned(),
            psn_no: bill.psn_no.clone(),
            insutype: bill.insutype.clone(),
            fixmedins_code: req.fixmedins_code.clone(),
            chrg_bchno: bill.chrg_bchno.clone(),
            medfee_sumamt: s.medfee,
            fund_pay_sumamt: s.fund,
            acct_pay: s.acct,
            psn_cash_pay: s.cash,
            hosp_part_amt: s.hosp,
            acct_mulaid_pay: s.mulaid,
            deductible_used: s.deductible_used,
            cap_used: s.pool,
            status: SettlementStatus::Effective,
            day: time::format_date(time::cst_day(req.inf_time)),
            cancel_msgid: None,
            clr_type: bill.clr_type.to_owned(),
            clr_optins: bill.clr_optins.clone(),
            setl_time,
            cancel_time: None,
            cancel_day: None,
            trace_counts,
        });
        let index = state.settlements.len() - 1;
        state.book(index);
        state
            .effects
            .insert(req.msgid.clone(), Effect::Settled(setl_id));
    }
    Ok(out)
}

/// `setlinfo` + `setldetail[]`; `sign = -1` writes a cancellation's negated amounts.
pub(super) fn output(
    setl_id: &str,
    mdtrt_id: &str,
    bill: &Bill,
    s: &Split,
    balc_after: Fen,
    setl_time: &str,
    sign: i64,
) -> Value {
    let n = |f: Fen| Fen(f.0 * sign);
    let mut detail = vec![json!({
        "fund_pay_type": "310100",
        "fund_payamt": n(s.pool),
        "setl_proc_info": "统筹基金支出",
    })];
    if s.assistance.0 != 0 {
        detail.push(json!({
            "fund_pay_type": "610100",
            "fund_payamt": n(s.assistance),
            "setl_proc_info": "医疗救助基金支出",
        }));
    }
    json!({
        "setlinfo": {
            "setl_id": setl_id,
            "mdtrt_id": mdtrt_id,
            "psn_no": bill.psn_no,
            "insutype": bill.insutype,
            "med_type": bill.med_type,
            "clr_type": bill.clr_type,
            "clr_optins": bill.clr_optins,
            "chrg_bchno": bill.chrg_bchno,
            "medfee_sumamt": n(s.medfee),
            "fulamt_ownpay_amt": n(s.selfpay),
            "overlmt_selfpay": n(Fen(0)),
            "preselfpay_amt": n(Fen(0)),
            "inscp_scp_amt": n(Fen(s.medfee.0 - s.selfpay.0)),
            "act_pay_dedc": n(s.deductible_used),
            "hifp_pay": n(s.pool),
            "maf_pay": n(s.assistance),
            "fund_pay_sumamt": n(s.fund),
            "psn_part_amt": n(Fen(s.acct.0 + s.cash.0)),
            "acct_pay": n(s.acct),
            "acct_mulaid_pay": n(s.mulaid),
            "psn_cash_pay": n(s.cash),
            "hosp_part_amt": n(s.hosp),
            "balc": balc_after,
            "acct_used_flag": bill.acct_used_flag,
            "setl_time": setl_time,
        },
        "setldetail": detail,
    })
}

/// The bill of a recorded settlement, for writing its negated output.
pub(super) fn recorded(record: &SettlementRecord) -> (Bill, Split) {
    let bill = Bill {
        psn_no: record.psn_no.clone(),
        insutype: record.insutype.clone(),
        mdtrt_id: Some(record.mdtrt_id.clone()),
        chrg_bchno: record.chrg_bchno.clone(),
        med_type: String::new(),
        acct_used_flag: if record.acct_pay.0 > 0 { "1" } else { "0" }.to_owned(),
        items: Vec::new(),
        clr_type: if record.infno == "2207" {
            OUTPATIENT_CLR_TYPE
        } else {
            PHARMACY_CLR_TYPE
        },
        clr_optins: record.clr_optins.clone(),
    };
    let s = Split {
        medfee: record.medfee_sumamt,
        selfpay: Fen(0),
        deductible_used: record.deductible_used,
        pool: record.cap_used,
        assistance: Fen(record.fund_pay_sumamt.0 - record.cap_used.0),
        fund: record.fund_pay_sumamt,
        acct: record.acct_pay,
        cash: record.psn_cash_pay,
        hosp: record.hosp_part_amt,
        mulaid: record.acct_mulaid_pay,
    };
    (bill, s)
}

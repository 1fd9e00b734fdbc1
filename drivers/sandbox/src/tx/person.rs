//! 1101 人员信息获取: finds a person by card (`03`: 卡号 + 卡识别码), ID number (`02`) or a
//! live e-voucher token (`01`) and answers `baseinfo`, `insuinfo[]` (current balances) and
//! `idetinfo[]`. Read-only.

use chrono::{Datelike as _, NaiveDate};
use serde_json::{Value, json};

use super::{TxResult, node, opt_text, text};
use crate::envelope::Req;
use crate::persons::Person;
use crate::state::State;

const NOT_FOUND: &str = "未查询到参保信息 person not found";

pub fn query(state: &mut State, req: &Req) -> TxResult {
    let data = node(req, "data")?;
    let cert_type = text(data, "mdtrt_cert_type")?;
    let cert_no = opt_text(data, "mdtrt_cert_no");
    let person = match cert_type.as_str() {
        "03" => {
            let card_sn = opt_text(data, "card_sn");
            state.person_by_card(&cert_no).filter(|p| {
                p.card.as_ref().is_some_and(|c| {
                    !card_sn.is_empty() && c.card_sn.eq_ignore_ascii_case(&card_sn)
                })
            })
        }
        "02" => {
            let no = if cert_no.is_empty() {
                opt_text(data, "certno")
            } else {
                cert_no
            };
            state.person_by_certno(&no)
        }
        "01" => state.person_by_token(&cert_no),
        other => return Err(format!("就诊凭证类型错误 mdtrt_cert_type {other}")),
    };
    let person = person.ok_or(NOT_FOUND)?;
    Ok(output(state, person, req.day))
}

fn output(state: &State, p: &Person, today: NaiveDate) -> Value {
    let insuinfo: Vec<Value> = p
        .insuinfo
        .iter()
        .map(|i| {
            let balc = state
                .account(&p.psn_no, &i.insutype)
                .map_or(i.balc, |a| a.balc);
            json!({
                "balc": balc,
                "insutype": i.insutype,
                "psn_type": i.psn_type,
                "psn_insu_stas": i.psn_insu_stas,
                "psn_insu_date": "2010-01-01",
                "paus_insu_date": if i.psn_insu_stas == "1" { "" } else { "2024-01-01" },
                "cvlserv_flag": "0",
                "insuplc_admdvs": i.insuplc_admdvs,
                "emp_name": i.emp_name,
            })
        })
        .collect();
    json!({
        "baseinfo": {
            "psn_no": p.psn_no,
            "psn_cert_type": "01",
            "certno": p.certno,
            "psn_name": p.psn_name,
            "gend": p.gend,
            "naty": p.naty,
            "brdy": p.brdy,
            "age": age(&p.brdy, today),
        },
        "insuinfo": insuinfo,
        "idetinfo": p.idetinfo,
    })
}

/// Whole years from `brdy` (`yyyy-MM-dd`) to `today`.
fn age(brdy: &str, today: NaiveDate) -> u32 {
    let Ok(born) = NaiveDate::parse_from_str(brdy, "%Y-%m-%d") else {
        return 0;
    };
    let mut years = today.year() - born.year();
    if (today.month(), today.day()) < (born.month(), born.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

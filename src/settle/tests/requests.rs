//! The pure request builders: the person taken from a 1101 answer and the 2101/2102 input of
//! a sale, amounts in fen.

use serde_json::json;

use super::*;
use crate::error::UserFacing;
use crate::settle::requests::{person_of, pharmacy_input};
use crate::settle::sale::Insurance;
use crate::terminal::TerminalConfig;
use crate::upstream::Fen;
use crate::upstream::tx::person::PersonInfo;

fn info(insuinfo: serde_json::Value) -> PersonInfo {
    serde_json::from_value(json!({
        "baseinfo": { "psn_no": "P1" },
        "insuinfo": insuinfo,
        "idetinfo": [],
    }))
    .unwrap()
}

#[test]
fn the_person_is_the_insurance_in_force_else_the_first() {
    let two = info(json!([
        { "insutype": "390", "psn_insu_stas": "2", "insuplc_admdvs": "110101", "balc": "1.00" },
        { "insutype": "310", "psn_insu_stas": "1", "insuplc_admdvs": "110105", "balc": "1234.50" },
    ]));
    let p = person_of(&two, &[]).unwrap();
    assert_eq!(
        (
            p.psn_no.expose(),
            p.insuplc_admdvs.as_str(),
            p.insutype.as_str(),
            p.balance
        ),
        ("P1", "110105", "310", Fen(123_450))
    );
    assert_eq!(
        p.insurances,
        vec![
            Insurance {
                insutype: "390".into(),
                insuplc_admdvs: "110101".into(),
                psn_type: String::new(),
                active: false,
                balance: Fen(100),
            },
            Insurance {
                insutype: "310".into(),
                insuplc_admdvs: "110105".into(),
                psn_type: String::new(),
                active: true,
                balance: Fen(123_450),
            },
        ]
    );
    let none_in_force = info(json!([{ "insutype": "390", "psn_insu_stas": "2" }]));
    assert_eq!(person_of(&none_in_force, &[]).unwrap().insutype, "390");
    assert!(
        person_of(&info(json!([])), &[]).is_err(),
        "no insurance is a protocol error"
    );
}

#[test]
fn the_preference_and_the_cashier_choose_among_the_rows() {
    let both = info(json!([
        { "insutype": "310", "psn_insu_stas": "1", "insuplc_admdvs": "110105", "balc": "10.00" },
        { "insutype": "390", "psn_insu_stas": "1", "insuplc_admdvs": "110101", "balc": "0" },
        { "insutype": "320", "psn_insu_stas": "2", "insuplc_admdvs": "110102", "balc": "0" },
    ]));
    let prefer = |list: &[&str]| {
        let list: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        person_of(&both, &list).unwrap()
    };
    assert_eq!(prefer(&[]).insutype, "310", "the first in force");
    assert_eq!(prefer(&["390", "310"]).insuplc_admdvs, "110101");
    assert_eq!(
        prefer(&["320", "390"]).insutype,
        "390",
        "a suspended row is not preferred"
    );
    let mut p = prefer(&[]);
    p.choose("390").unwrap();
    assert_eq!(
        (p.insutype.as_str(), p.insuplc_admdvs.as_str()),
        ("390", "110101")
    );
    assert_eq!(p.balance, Fen(0));
    let before = p.clone();
    let e = crate::settle::requests::choose_insutype(&mut p, "999").unwrap_err();
    assert_eq!(e.code(), "sale.insutype_not_offered");
    assert_eq!(e.http_status(), 409);
    assert!(
        e.message_zh().contains("310、390、320"),
        "{}",
        e.message_zh()
    );
    assert!(
        e.message_en().contains("310, 390, 320"),
        "{}",
        e.message_en()
    );
    assert_eq!(p, before, "a refused choice changes nothing");
}

#[tokio::test]
async fn the_2102_input_carries_the_sale_in_fen_and_its_invoice() {
    let rig = Rig::new(presettle_script(platform()));
    let sale = rig.card_sale("prefer_online").await;
    let sale = rig.engine.presettle(&sale.id).await.unwrap();
    let now = t0();
    let settle = SettleConfig::default();
    let presettle = pharmacy_input(&sale, None, &settle, &TerminalConfig::demo(), now).unwrap();
    assert_eq!(presettle.infno(), "2101");
    let input = pharmacy_input(&sale, Some("INV1"), &settle, &TerminalConfig::demo(), now).unwrap();
    assert_eq!(input.infno(), "2102");
    let v = serde_json::to_value(&input).unwrap();
    let text = v.to_string();
    assert!(text.contains("\"invono\":\"INV1\""), "{text}");
    assert!(text.contains(&sale.chrg_bchno), "chrg_bchno: {text}");
    assert!(text.contains("\"med_type\":\"41\""), "{text}");
    rig.finish();
}

#[tokio::test]
async fn a_sale_before_1101_has_no_settlement_input() {
    let rig = Rig::new(platform());
    let sale = rig.card_sale("prefer_online").await;
    let e = pharmacy_input(
        &sale,
        None,
        &SettleConfig::default(),
        &TerminalConfig::demo(),
        t0(),
    );
    assert!(matches!(
        e,
        Err(crate::settle::SaleError::WrongState { .. })
    ));
    assert!(rig.finish().is_empty());
}

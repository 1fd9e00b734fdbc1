//! The pure request builders: the person taken from a 1101 answer and the 2101/2102 input of
//! a sale, amounts in fen.

use serde_json::json;

use super::*;
use crate::settle::requests::{person_of, pharmacy_input};
use crate::settle::sale::Person;
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
    let p = person_of(&two).unwrap();
    assert_eq!(
        p,
        Person {
            psn_no: "P1".into(),
            insuplc_admdvs: "110105".into(),
            insutype: "310".into(),
            balance: Fen(123_450),
        }
    );
    let none_in_force = info(json!([{ "insutype": "390", "psn_insu_stas": "2" }]));
    assert_eq!(person_of(&none_in_force).unwrap().insutype, "390");
    assert!(
        person_of(&info(json!([]))).is_err(),
        "no insurance is a protocol error"
    );
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

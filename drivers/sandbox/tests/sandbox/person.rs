//! 1101 by card, ID number, e-voucher token; unknown persons; 参保地 on requests.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn finds_a_person_by_card_and_by_id_number() {
    let mut c = Client::signed_in().await;
    let by_card = c
        .call(
            "1101",
            json!({"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": ZHANG.card, "card_sn": ZHANG.card_sn,
                "begntime": "2026-11-23 10:00:00", "psn_cert_type": "01", "certno": ZHANG.certno, "psn_name": "测试张三"}}),
        )
        .await;
    ok(&by_card);
    let info: medsettle_nhsa::tx::person::PersonInfo =
        serde_json::from_value(by_card["output"].clone()).unwrap();
    assert_eq!(
        info.baseinfo.psn_no.as_ref().map(|p| p.expose()),
        Some(ZHANG.psn_no)
    );
    assert_eq!(by_card["output"]["baseinfo"]["age"], 36);
    assert_eq!(by_card["output"]["insuinfo"][0]["balc"], "1500.00");
    assert_eq!(by_card["output"]["insuinfo"][0]["insuplc_admdvs"], "110105");

    let by_id = c
        .call(
            "1101",
            json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": LI.certno}}),
        )
        .await;
    ok(&by_id);
    assert_eq!(by_id["output"]["baseinfo"]["psn_name"], "测试李四");
    assert_eq!(by_id["output"]["insuinfo"][0]["insuplc_admdvs"], "310104");
}

#[tokio::test]
async fn unknown_cards_and_ids_are_not_found() {
    let mut c = Client::signed_in().await;
    for data in [
        json!({"mdtrt_cert_type": "03", "mdtrt_cert_no": ZHANG.card, "card_sn": "WRONG"}),
        json!({"mdtrt_cert_type": "03", "mdtrt_cert_no": "B00000001", "card_sn": "X"}),
        json!({"mdtrt_cert_type": "02", "mdtrt_cert_no": "110105199003071247"}),
        json!({"mdtrt_cert_type": "01", "mdtrt_cert_no": "0".repeat(40)}),
    ] {
        refused(
            &c.call("1101", json!({ "data": data })).await,
            "未查询到参保信息",
        );
    }
}

#[tokio::test]
async fn requests_about_a_person_must_name_their_region() {
    let mut c = Client::signed_in().await;
    let input = pharmacy(&ZHANG, &[("X001", "10.00")], "1", "B1");
    let env = c.env("2101", input.clone());
    refused(&c.send(&env).await, "参保地区划错误");
    let env = c.env("2101", input).region("310104");
    refused(&c.send(&env).await, "参保地区划错误");
    let env = c.env_for(
        "2101",
        &ZHANG,
        pharmacy(&ZHANG, &[("X001", "10.00")], "1", "B1"),
    );
    settled(&c.send(&env).await);
}

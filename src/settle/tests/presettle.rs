//! Presettlement (1101 + 2101, neither moves money) and the e-voucher intake (`ec.query`):
//! what is sent, what is recorded, and how a refusal or an unreachable platform ends.

use serde_json::json;

use super::*;
use crate::settle::{SaleError, SaleState};
use crate::upstream::Fen;
use crate::upstream::scripted::EC_QUERY;

#[tokio::test]
async fn presettle_sends_1101_then_2101_and_records_the_estimate_in_fen() {
    let rig = Rig::new(
        platform()
            .expect_with(
                "1101",
                |s| {
                    let d = &s.input["data"];
                    assert_eq!(d["mdtrt_cert_type"], "03", "a card is cert type 03");
                    assert_eq!(d["mdtrt_cert_no"], "X00000019");
                    assert_eq!(d["card_sn"], "110100D156000005A1B2C3D4E5F60718");
                },
                Answer::fixture("1101_response.json"),
            )
            .expect_with(
                "2101",
                |s| {
                    assert_eq!(s.insuplc_admdvs, "110105", "the 参保地 of 1101");
                    let text = s.input.to_string();
                    assert!(
                        text.contains("11000000000000000000012345"),
                        "psn_no: {text}"
                    );
                    assert!(text.contains("128.5"), "medfee_sumamt: {text}");
                },
                Answer::fixture("2101_response.json"),
            ),
    );
    let sale = rig.card_sale("prefer_online").await;
    assert_eq!(sale.amount, Fen(12_850));
    let sale = rig.engine.presettle(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Presettled);
    let estimate = sale.estimate.clone().unwrap();
    assert_eq!(
        (
            estimate.medfee,
            estimate.fund,
            estimate.account,
            estimate.cash
        ),
        (Fen(12_850), Fen(8_030), Fen(3_000), Some(Fen(1_820)))
    );
    assert_eq!(estimate.setl_id, None, "2101 settles nothing");
    let person = sale.person.clone().unwrap();
    assert_eq!(
        (person.psn_no.expose(), person.insutype.as_str()),
        ("11000000000000000000012345", "310")
    );
    let sent = rig.finish();
    assert!(
        sent.iter().all(|s| !s.prepared),
        "1101/2101 go through call"
    );
    assert_eq!(stored(&rig, &sale.id).await, sale);
    assert_eq!(
        history(&rig, &sale.id).await,
        ["create", "identify", "presettle"]
    );
}

#[tokio::test]
async fn presettle_refused_by_the_platform_rejects_the_sale() {
    let rig = Rig::new(platform().expect("1101", Answer::fixture("business_error.json")));
    let sale = rig.card_sale("prefer_online").await;
    let e = rig.engine.presettle(&sale.id).await.unwrap_err();
    assert!(
        matches!(
            e,
            SaleError::Upstream(crate::upstream::UpstreamError::Business { .. })
        ),
        "{e:?}"
    );
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Rejected);
    assert_eq!(after.last_error.unwrap().code, "upstream.business");
    assert_eq!(rig.finish().len(), 1, "no 2101 after a refused 1101");
}

#[tokio::test]
async fn presettle_unreachable_leaves_the_sale_and_offers_to_store_it() {
    let rig = Rig::new(platform().expect("1101", Answer::Unreachable));
    let sale = rig.card_sale("prefer_online").await;
    let e = rig.engine.presettle(&sale.id).await.unwrap_err();
    assert!(
        matches!(
            e,
            SaleError::Offline {
                can_store: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Captured);
    rig.finish();
}

#[tokio::test]
async fn evoucher_sale_is_decoded_by_ec_query_and_identified_by_its_token() {
    let ok = crate::upstream::scripted::fixture("ec_query_ok.json");
    let token = ok["data"]["ecToken"].as_str().unwrap().to_owned();
    let t = token.clone();
    let rig = Rig::new(
        platform()
            .expect(EC_QUERY, Answer::Body(ok))
            .expect_with(
                "1101",
                move |s| {
                    assert_eq!(s.input["data"]["mdtrt_cert_type"], "01");
                    assert_eq!(s.input["data"]["mdtrt_cert_no"], json!(t));
                    assert_eq!(s.insuplc_admdvs, "110105", "insuOrg of the e-voucher");
                },
                Answer::fixture("1101_response.json"),
            )
            .expect("2101", Answer::fixture("2101_response.json")),
    );
    let code = crate::qr::evoucher::EVoucherCode::parse(&"6".repeat(40)).unwrap();
    let id = rig.credentials.insert(Fresh::EVoucher(code));
    let sale = rig
        .engine
        .create(new_sale(&id, "require_online"))
        .await
        .unwrap();
    assert_eq!(sale.credential.cert_no(), token);
    let sale = rig.engine.presettle(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Presettled);
    assert_eq!(rig.platform.infnos(), [EC_QUERY, "1101", "2101"]);
    rig.finish();
}

#[tokio::test]
async fn evoucher_sale_cannot_be_stored_offline() {
    let rig = Rig::new(platform().expect(EC_QUERY, Answer::fixture("ec_query_ok.json")));
    let code = crate::qr::evoucher::EVoucherCode::parse(&"6".repeat(40)).unwrap();
    let id = rig.credentials.insert(Fresh::EVoucher(code));
    let e = rig
        .engine
        .create(new_sale(&id, "force_offline"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SaleError::NotStorable { kind: "evoucher" }),
        "{e:?}"
    );
    rig.finish();
}

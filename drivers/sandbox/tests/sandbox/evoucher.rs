//! `ec.query`: codes the sandbox issued become short-lived tokens for 1101 (`01`); e-SSC
//! codes minted by the sandbox verify under its published key.

use std::time::Duration;

use medsettle_essc::{KeyRing, MemoryReplayGuard, Verifier};
use serde_json::{Value, json};

use crate::support::*;

fn ec_body(code: &str) -> Value {
    json!({"data": {"businessType": "02121", "ecQrCode": code, "orgId": CODE, "operatorId": "KIOSK-0001",
        "operatorName": "自助终端1号", "officeId": "", "officeName": "", "deviceType": "SelfService"},
        "transType": "ec.query", "orgId": CODE})
}

async fn ec_query(c: &Client, code: &str) -> Value {
    c.http
        .post(c.sb.ec_url())
        .json(&ec_body(code))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn by_token(token: &str) -> Value {
    json!({"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": token}})
}

#[tokio::test]
async fn an_issued_code_gives_a_token_that_identifies_the_person() {
    let mut c = Client::signed_in().await;
    let code = c.sb.issue_evoucher(LI.certno).unwrap();
    assert_eq!(code.len(), 64);
    let answer = ec_query(&c, &code).await;
    assert_eq!(answer["code"], 0, "{answer}");
    let data = &answer["data"];
    assert_eq!(data["idNo"], LI.certno);
    assert_eq!(data["idType"], "01");
    assert_eq!(data["insuOrg"], "310104");
    let token = data["ecToken"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 40);
    let person = c.call("1101", by_token(&token)).await;
    ok(&person);
    assert_eq!(person["output"]["baseinfo"]["psn_no"], LI.psn_no);
    // Re-query within the code's life works.
    assert_eq!(ec_query(&c, &code).await["code"], 0);
    // A settlement by token needs no password even when signed.
    let mut bill = pharmacy(&LI, &[("X1", "10.00")], "1", "B1");
    bill["data"]["mdtrt_cert_type"] = json!("01");
    bill["data"]["mdtrt_cert_no"] = json!(token);
    let sm3 =
        medsettle_nhsa::signing::RequestSigner::new(medsettle_nhsa::signing::SignType::Sm3, None)
            .unwrap();
    let env = c.env_for("2102", &LI, bill).signed(&sm3);
    settled(&c.send(&env).await);
}

#[tokio::test]
async fn unknown_codes_and_expired_codes_or_tokens_are_refused() {
    let mut c = Client::signed_in().await;
    let unknown = ec_query(&c, &"A".repeat(64)).await;
    assert_eq!(
        unknown,
        json!({"code": -1, "message": "电子凭证无效或已过期", "data": null})
    );
    let code = c.sb.issue_evoucher(ZHANG.certno).unwrap();
    let token = ec_query(&c, &code).await["data"]["ecToken"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&c.call("1101", by_token(&token)).await);
    c.sb.advance_clock(Duration::from_secs(301));
    refused(&c.call("1101", by_token(&token)).await, "未查询到参保信息");
    assert_eq!(ec_query(&c, &code).await["code"], -1);
    assert!(c.sb.issue_evoucher("110105199003071247").is_err());
}

#[tokio::test]
async fn admin_endpoints_mint_codes_and_show_the_ledger() {
    let c = Client::signed_in().await;
    let base = c.sb.base_url();
    let keys: Value = c
        .http
        .get(format!("{base}/admin/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys["essc_public_key_hex"], c.sb.essc_public_key_hex());
    let minted: Value = c
        .http
        .post(format!("{base}/admin/essc"))
        .json(&json!({"certno": ZHANG.certno}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = minted["code"].as_str().unwrap();
    let keys = KeyRing::from_hex([(
        c.sb.essc_kid().as_str(),
        c.sb.essc_public_key_hex().as_str(),
    )])
    .unwrap();
    let verifier = Verifier::new(keys);
    let guard = MemoryReplayGuard::new(16);
    let id = verifier
        .verify(code, chrono::Utc::now().timestamp(), &guard)
        .unwrap();
    assert_eq!(id.sn.expose(), ZHANG.certno);

    let voucher: Value = c
        .http
        .post(format!("{base}/admin/evoucher"))
        .json(&json!({"certno": ZHANG.certno}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ec_query(&c, voucher["ecQrCode"].as_str().unwrap()).await["code"],
        0
    );
    let missing = c
        .http
        .post(format!("{base}/admin/evoucher"))
        .json(&json!({"certno": "0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let ledger: medsettle_sandbox::Ledger = c
        .http
        .get(format!("{base}/admin/ledger"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ledger.request_count("9001"), 1);
}

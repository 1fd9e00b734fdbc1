//! Envelope validation and signatures.

use medsettle_essc::generate_secret_hex;
use medsettle_nhsa::signing::RequestSigner;
use medsettle_nhsa::signing::SignType;
use medsettle_sandbox::SandboxConfig;
use serde_json::{Value, json};

use crate::support::*;

fn query() -> Value {
    json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": ZHANG.certno}})
}

#[tokio::test]
async fn malformed_envelopes_are_refused_with_a_specific_message() {
    let mut c = Client::signed_in().await;
    let good = c.env("1101", query()).json();

    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("infver");
    let v: Value = serde_json::from_str(&c.post_text(&missing).await).unwrap();
    refused(&v, "报文缺少字段 infver");

    let mut bad_msgid = good.clone();
    bad_msgid["msgid"] = json!("H11010500001202611231000000001");
    let v: Value = serde_json::from_str(&c.post_text(&bad_msgid).await).unwrap();
    refused(&v, "报文ID与定点机构编码不符");

    let mut short = good.clone();
    short["msgid"] = json!("P11010500123");
    let v: Value = serde_json::from_str(&c.post_text(&short).await).unwrap();
    refused(&v, "报文ID格式错误");

    let mut time = c.env("1101", query()).json();
    time["inf_time"] = json!("2026-11-23T10:00:00");
    let v: Value = serde_json::from_str(&c.post_text(&time).await).unwrap();
    refused(&v, "交易时间格式错误");

    let unknown = c.env("9999", query());
    refused(&c.send(&unknown).await, "交易编号不存在");

    let r = c
        .http
        .post(c.sb.url())
        .body("not json")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    refused(&v, "请求报文不是合法JSON");
}

#[tokio::test]
async fn a_configured_fixmedins_code_is_enforced() {
    let mut c = Client::with(SandboxConfig {
        fixmedins_code: Some("H11010500001".into()),
        ..SandboxConfig::default()
    })
    .await;
    let env = c.env(
        "9001",
        json!({"signIn": {"opter_no": "1", "mac": "", "ip": ""}}),
    );
    refused(&c.send(&env).await, "定点机构编码无效");
}

#[tokio::test]
async fn sm3_signatures_are_checked() {
    let mut c = Client::signed_in().await;
    let sm3 = RequestSigner::new(SignType::Sm3, None).unwrap();
    let env = c.env("1101", query()).signed(&sm3);
    ok(&c.send(&env).await);
    let mut tampered = c.env("1101", query()).signed(&sm3);
    tampered.input["data"]["mdtrt_cert_no"] = json!(LI.certno);
    refused(&c.send(&tampered).await, "签名验证失败");
    let mut unsigned = c.env("1101", query());
    unsigned.signtype = "SM3".into();
    refused(&c.send(&unsigned).await, "签名验证失败");
}

#[tokio::test]
async fn sm2_signatures_are_checked_with_the_terminal_key() {
    let signer = RequestSigner::new(SignType::Sm2, Some(&generate_secret_hex())).unwrap();
    let mut c = Client::with(SandboxConfig {
        sm2_public_hex: signer.public_key_hex(),
        ..SandboxConfig::default()
    })
    .await;
    c.sign_in().await;
    let env = c.env("1101", query()).signed(&signer);
    ok(&c.send(&env).await);
    let other = RequestSigner::new(SignType::Sm2, Some(&generate_secret_hex())).unwrap();
    let env = c.env("1101", query()).signed(&other);
    refused(&c.send(&env).await, "签名验证失败 signature invalid");
}

//! 9001/9002 and the `签到信息无效` convention.

use serde_json::json;

use crate::support::*;

fn query_zhang() -> serde_json::Value {
    json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": ZHANG.certno}})
}

#[tokio::test]
async fn requests_need_a_live_sign_no_of_the_same_cst_day() {
    let mut c = Client::new().await;
    refused(
        &c.call("1101", query_zhang()).await,
        medsettle_sandbox::SIGN_IN_INVALID,
    );
    c.sign_in().await;
    let first = c.sign_no.clone();
    ok(&c.call("1101", query_zhang()).await);
    c.sign_in().await;
    assert_ne!(first, c.sign_no, "sign_no is unique");

    // The CST day changes at 16:00 UTC.
    c.now = medsettle_nhsa::time::parse_inf_time("2026-11-23 23:59:58").unwrap();
    ok(&c.call("1101", query_zhang()).await);
    let next_day = c.call("1101", query_zhang()).await;
    refused(&next_day, "签到信息无效");
    c.sign_in().await;
    ok(&c.call("1101", query_zhang()).await);
}

#[tokio::test]
async fn sign_out_invalidates_the_sign_no() {
    let mut c = Client::signed_in().await;
    let sign_no = c.sign_no.clone();
    let out = c
        .call(
            "9002",
            json!({"signOut": {"sign_no": sign_no, "opter_no": "KIOSK-0001"}}),
        )
        .await;
    ok(&out);
    refused(&c.call("1101", query_zhang()).await, "签到信息无效");
    c.sign_no = "X".repeat(30);
    refused(&c.call("1101", query_zhang()).await, "签到信息无效");
}

#[tokio::test]
async fn a_refused_session_is_not_remembered_so_the_same_msgid_can_be_retried() {
    let mut c = Client::new().await;
    let mut env = c.env("1101", query_zhang());
    refused(&c.send(&env).await, "签到信息无效");
    c.sign_in().await;
    env.sign_no = c.sign_no.clone();
    ok(&c.send(&env).await);
}

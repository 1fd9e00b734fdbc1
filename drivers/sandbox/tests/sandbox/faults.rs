//! Every fault kind: what the client sees and whether the effect happened.

use std::time::{Duration, Instant};

use medsettle_nhsa::envelope::classify;
use medsettle_sandbox::{Fault, FaultRule};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::*;

fn sale(c: &mut Client) -> Env {
    c.env_for(
        "2102",
        &ZHANG,
        pharmacy(&ZHANG, &[("X1", "300.00")], "1", "B1"),
    )
}

/// Posts over a raw socket and returns every byte the server sent before closing.
async fn raw_post(c: &Client, body: &Value) -> Vec<u8> {
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect(c.sb.addr()).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        medsettle_sandbox::DEFAULT_PATH,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn drop_before_commit_closes_without_a_byte_and_without_effect() {
    let mut c = Client::signed_in().await;
    c.sb.inject(FaultRule::times("2102", Fault::DropBeforeCommit, 2));
    let env = sale(&mut c);
    assert!(raw_post(&c, &env.json()).await.is_empty());
    let err = c.http.post(c.sb.url()).json(&env.json()).send().await;
    assert!(
        err.is_err(),
        "the client sees a transport error, not a status"
    );
    let ledger = c.sb.ledger();
    assert!(ledger.settlements.is_empty());
    assert_eq!(ledger.balance(ZHANG.psn_no), Some(fen("1500.00")));
    // The rule is used up: the same msgid now settles.
    settled(&c.send(&env).await);
}

#[tokio::test]
async fn drop_after_commit_closes_without_a_byte_but_the_effect_happened() {
    let mut c = Client::signed_in().await;
    c.sb.inject(FaultRule::times("2102", Fault::DropAfterCommit, 1));
    let env = sale(&mut c);
    assert!(raw_post(&c, &env.json()).await.is_empty());
    let ledger = c.sb.ledger();
    assert_eq!(ledger.effective().count(), 1);
    assert_eq!(ledger.balance(ZHANG.psn_no), Some(fen("1340.00")));
    // A retry of the same msgid gets the remembered answer, no second effect.
    settled(&c.send(&env).await);
    assert_eq!(c.sb.ledger().settlements.len(), 1);
}

#[tokio::test]
async fn server_errors_with_and_without_commit() {
    let mut c = Client::signed_in().await;
    for (commit, settlements) in [(false, 0), (true, 1)] {
        c.sb.inject(FaultRule::times(
            "2102",
            Fault::HttpStatus {
                status: 503,
                commit,
            },
            1,
        ));
        let env = sale(&mut c);
        let r = c
            .http
            .post(c.sb.url())
            .json(&env.json())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        let body = r.bytes().await.unwrap();
        assert!(serde_json::from_slice::<Value>(&body).is_err());
        assert!(classify(503, &body).unwrap_err().outcome_unknown());
        assert_eq!(c.sb.ledger().settlements.len(), settlements);
    }
}

#[tokio::test]
async fn malformed_json_with_and_without_commit() {
    let mut c = Client::signed_in().await;
    for (commit, settlements) in [(false, 0), (true, 1)] {
        c.sb.inject(FaultRule::times("2102", Fault::MalformedJson { commit }, 1));
        let env = sale(&mut c);
        let r = c
            .http
            .post(c.sb.url())
            .json(&env.json())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body = r.bytes().await.unwrap();
        assert!(serde_json::from_slice::<Value>(&body).is_err());
        assert!(classify(200, &body).unwrap_err().outcome_unknown());
        assert_eq!(c.sb.ledger().settlements.len(), settlements);
    }
}

#[tokio::test]
async fn business_error_refuses_without_effect() {
    let mut c = Client::signed_in().await;
    c.sb.inject(FaultRule::always(
        "2102",
        Fault::BusinessError {
            message: "医保中心维护中".into(),
        },
    ));
    let env = sale(&mut c);
    refused(&c.send(&env).await, "医保中心维护中");
    assert!(c.sb.ledger().settlements.is_empty());
    c.sb.clear_faults();
    // Not remembered: the same msgid settles once the fault is gone.
    settled(&c.send(&env).await);
}

#[tokio::test]
async fn latency_answers_late_after_the_effect() {
    let mut c = Client::signed_in().await;
    c.sb.inject(FaultRule::times("*", Fault::Latency { ms: 200 }, 1));
    let env = sale(&mut c);
    let started = Instant::now();
    settled(&c.send(&env).await);
    assert!(started.elapsed() >= Duration::from_millis(200));
    // A client that gives up early: the effect happened anyway.
    c.sb.inject(FaultRule::times("2102", Fault::Latency { ms: 2_000 }, 1));
    let env = c.env_for(
        "2102",
        &ZHANG,
        pharmacy(&ZHANG, &[("X1", "10.00")], "1", "B2"),
    );
    let r = c
        .http
        .post(c.sb.url())
        .timeout(Duration::from_millis(50))
        .json(&env.json())
        .send()
        .await;
    assert!(r.is_err());
    assert!(c.sb.ledger().by_msgid(&env.msgid).is_some());
}

#[tokio::test]
async fn faults_reach_the_evoucher_endpoint_and_the_admin_api() {
    let c = Client::signed_in().await;
    let base = c.sb.base_url();
    let rule = serde_json::json!({"infno": "ec.query", "fault": {"kind": "http_status", "status": 502, "commit": false}, "times": 1});
    let added = c
        .http
        .post(format!("{base}/admin/faults"))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    let code = c.sb.issue_evoucher(ZHANG.certno).unwrap();
    let body =
        serde_json::json!({"data": {"ecQrCode": code}, "transType": "ec.query", "orgId": CODE});
    let r = c.http.post(c.sb.ec_url()).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let r: Value = c
        .http
        .post(c.sb.ec_url())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 0);
    c.http
        .post(format!("{base}/admin/faults"))
        .json(&rule)
        .send()
        .await
        .unwrap();
    let cleared = c
        .http
        .delete(format!("{base}/admin/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 200);
    let r: Value = c
        .http
        .post(c.sb.ec_url())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 0);
}

#[tokio::test]
async fn hold_applies_the_effect_and_answers_only_when_released() {
    let mut c = Client::signed_in().await;
    c.sb.inject(FaultRule::times("2102", Fault::Hold { commit: true }, 1));
    let env = sale(&mut c);
    let (http, url, body) = (c.http.clone(), c.sb.url(), env.json());
    let pending = tokio::spawn(async move { http.post(url).json(&body).send().await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.sb.held() == 0 {
        assert!(Instant::now() < deadline, "the answer was never held");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Held: the settlement exists although no answer has left.
    assert!(c.sb.ledger().by_msgid(&env.msgid).is_some());
    assert!(!pending.is_finished());
    assert_eq!(c.sb.release(), 1);
    let answer = pending.await.unwrap().unwrap();
    assert_eq!(answer.status(), 200);
    let v: Value = answer.json().await.unwrap();
    assert_eq!(v["infcode"], 0, "{v}");
    assert_eq!(c.sb.held(), 0);
}

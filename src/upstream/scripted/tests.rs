//! The scripted platform is strict: these tests prove it fails on an unexpected, extra,
//! misrouted or missing request, and that it answers like the real client (classified
//! answers, msgids, audit rows).

use std::sync::Arc;

use serde_json::json;

use super::*;

fn options() -> CallOptions {
    CallOptions::default()
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
#[should_panic(expected = "expected 2101, got 1101")]
fn a_request_other_than_the_next_one_fails() {
    let p = ScriptedPlatform::new("H11010500001").expect("2101", Answer::Lost);
    let _ = block_on(p.call("1101", json!({}), &options()));
}

#[test]
#[should_panic(expected = "unexpected request 1101")]
fn an_extra_request_fails() {
    let p = ScriptedPlatform::new("H11010500001");
    let _ = block_on(p.call("1101", json!({}), &options()));
}

#[test]
#[should_panic(expected = "moves money and was sent through call")]
fn a_settlement_through_call_fails() {
    let p = ScriptedPlatform::new("H11010500001").expect("2102", Answer::Lost);
    let _ = block_on(p.call("2102", json!({}), &options()));
}

#[test]
#[should_panic(expected = "never sent: [\"2102\"]")]
fn finish_fails_on_a_request_never_sent() {
    let p = ScriptedPlatform::new("H11010500001").expect("2102", Answer::Lost);
    p.finish();
}

#[test]
#[should_panic(expected = "dropped with requests never sent")]
fn drop_fails_on_a_request_never_sent() {
    drop(ScriptedPlatform::new("H11010500001").expect("1101", Answer::Lost));
}

#[test]
#[should_panic(expected = "the check failed")]
fn a_failing_check_fails_the_test() {
    let p = ScriptedPlatform::new("H11010500001").expect_with(
        "1101",
        |_| panic!("the check failed"),
        Answer::Lost,
    );
    let _ = block_on(p.call("1101", json!({}), &options()));
}

#[test]
fn answers_are_classified_like_the_clients() {
    let p = ScriptedPlatform::new("H11010500001")
        .expect("1101", Answer::fixture("1101_response.json"))
        .expect("1101", Answer::fixture("business_error.json"))
        .expect("1101", Answer::Lost)
        .expect("1101", Answer::Unreachable);
    block_on(async {
        let ok = p.call("1101", json!({}), &options()).await.unwrap();
        assert_eq!(ok.response.infcode, 0);
        let refused = p.call("1101", json!({}), &options()).await.unwrap_err();
        assert!(
            matches!(refused, UpstreamError::Business { .. }),
            "{refused:?}"
        );
        let lost = p.call("1101", json!({}), &options()).await.unwrap_err();
        assert!(lost.is_retryable() && !matches!(lost, UpstreamError::Unreachable { .. }));
        let down = p.call("1101", json!({}), &options()).await.unwrap_err();
        assert!(
            matches!(down, UpstreamError::Unreachable { .. }),
            "{down:?}"
        );
    });
    let sent = p.finish();
    let ids: std::collections::HashSet<_> = sent.iter().map(|s| s.msgid.clone()).collect();
    assert_eq!(ids.len(), 4, "every call has its own msgid");
}

#[test]
fn prepare_records_the_request_before_send_and_send_records_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) =
        Store::open(&dir.path().join("m.db"), std::time::Duration::from_secs(5)).unwrap();
    let p = Arc::new(
        ScriptedPlatform::new("H11010500001")
            .recording_into(store.clone())
            .expect("2102", Answer::fixture("2102_response.json")),
    );
    block_on(async {
        let prepared = p
            .prepare("2102", json!({ "druginfo": {} }), &options())
            .await
            .unwrap();
        let row = store.audit(prepared.msgid.as_str()).await.unwrap().unwrap();
        assert_eq!((row.infno.as_str(), row.outcome.as_deref()), ("2102", None));
        assert!(p.sent().is_empty(), "prepare sends nothing");
        p.send(&prepared).await.unwrap();
        let row = store.audit(prepared.msgid.as_str()).await.unwrap().unwrap();
        assert_eq!(row.outcome.as_deref(), Some("ok"));
    });
    let sent = p.finish();
    assert!(sent[0].prepared);
}

#[test]
fn a_settlement_query_is_a_call_that_names_a_settlement() {
    let p = ScriptedPlatform::new("H11010500001")
        .expect_with(
            "5203",
            |sent| {
                assert_eq!(sent.input["data"]["setl_id"], "S110105202611230001");
                assert_eq!(sent.input["data"]["psn_no"], "P11010519491231");
                assert_eq!(sent.insuplc_admdvs, "110105");
                assert!(!sent.prepared, "5203 moves no money");
            },
            Answer::fixture("5203_response.json"),
        )
        .expect(
            "5203",
            Answer::output(json!({"setlinfo": {"refd_setl_flag": "0"}})),
        )
        .expect("5203", Answer::refused("结算信息不存在"));
    let input = SettlementQueryInput::new("P11010519491231", "S110105202611230001", None).unwrap();
    block_on(async {
        let q = p.settlement_query(&input, "110105").await.unwrap();
        assert_eq!(q.refund(), crate::upstream::tx::query::Refund::Refunded);
        assert_eq!(q.cash(), Some(crate::upstream::Fen(1_820)));
        let e = p.settlement_query(&input, "110105").await.unwrap_err();
        assert!(matches!(e, UpstreamError::Protocol { .. }), "{e:?}");
        let e = p.settlement_query(&input, "110105").await.unwrap_err();
        assert!(matches!(e, UpstreamError::Business { .. }), "{e:?}");
        let e = p.settlement_query(&input, "").await.unwrap_err();
        assert!(matches!(e, UpstreamError::NotSent { .. }), "{e:?}");
    });
    assert_eq!(p.finish().len(), 3);
}

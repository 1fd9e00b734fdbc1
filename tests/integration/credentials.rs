//! `POST /v1/credentials/wait` (long-poll for whatever is presented first) and the
//! `credential.ready` events: a card put in the reader while the call waits, a code submitted by
//! hand, and the timeout.

use std::sync::Arc;

use medsettle::card::SlotKind;
use medsettle_vcard::{InProcessReader, Profile, VirtualCard};
use serde_json::{Value, json};

use crate::support::{self, InProcess, TOKEN, Terminal};

async fn post(d: &InProcess, path: &str, body: Value) -> (u16, Value) {
    let r = support::client()
        .post(d.url(path))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn a_card_put_in_while_waiting_is_the_credential() {
    let reader = Arc::new(InProcessReader::new(SlotKind::Contact));
    let t = Terminal::new();
    let d = InProcess::start_with_readers(&t, Some(Arc::clone(&reader) as _)).await;
    let mut feed = d.events.subscribe(None);
    let waiting = tokio::spawn({
        let url = d.url("/v1/credentials/wait");
        async move {
            let r = support::client()
                .post(url)
                .bearer_auth(TOKEN)
                .json(&json!({ "wait_ms": 20000 }))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    });
    // The reader holds the card until a read takes it, so the wait finds it whenever it starts.
    let profile = Profile::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/cards/normal.json"
    ))
    .unwrap();
    reader.insert(VirtualCard::from_profile(profile).unwrap());
    let (status, body) = waiting.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "card");
    let id = body["credential_id"].as_str().unwrap().to_owned();
    assert_eq!(body["card"]["record"]["card_no"], "M12345678");
    // The same moment as an event, masked.
    loop {
        let e = feed.live.recv().await.unwrap();
        if e.topic == "credential.ready" {
            assert_eq!(e.data["credential_id"], id.as_str());
            assert_eq!(e.data["credential"]["kind"], "card");
            let text = e.data.to_string();
            assert!(
                !text.contains("M12345678") && !text.contains("测试张三"),
                "{text}"
            );
            break;
        }
    }
    d.shutdown().await;
}

#[tokio::test]
async fn a_code_submitted_by_hand_ends_the_wait_and_nothing_times_out() {
    let t = Terminal::new();
    let d = InProcess::start(&t).await;
    // Nothing presented: a clear timeout.
    let (status, body) = post(
        &d,
        "/v1/credentials/wait",
        json!({ "wait_ms": 200, "kinds": ["qr"] }),
    )
    .await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["code"], "credential.not_presented");
    // No card reader here: asking only for cards is refused.
    let (status, body) = post(&d, "/v1/credentials/wait", json!({ "kinds": ["card"] })).await;
    assert_eq!(status, 503, "{body}");
    let (status, _) = post(&d, "/v1/credentials/wait", json!({ "kinds": ["face"] })).await;
    assert_eq!(status, 400);
    // A code submitted while the call waits ends it. Nothing outside the daemon can see when
    // the call starts listening, so the code is submitted until the call answers: the answer
    // must carry one of the submitted codes' ids.
    let url = d.url("/v1/credentials/wait");
    let waiting = tokio::spawn(async move {
        let r = support::client()
            .post(url)
            .bearer_auth(TOKEN)
            .json(&json!({ "wait_ms": 20000 }))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    });
    let code = "6E3A0F9B2C1D4E5F6A7B8C9D0E1F2A3B4C5D6E7F8A9B0C1D2E3F4A5B6C7D8E9F";
    let mut submitted = Vec::new();
    while !waiting.is_finished() {
        let (status, scan) = post(&d, "/v1/qr/submit", json!({ "text": code })).await;
        assert_eq!(status, 200, "{scan}");
        assert_eq!(scan["kind"], "e-voucher");
        submitted.push(scan["credential_id"].clone());
        tokio::task::yield_now().await;
    }
    let (status, body) = waiting.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "qr");
    assert!(submitted.contains(&body["credential_id"]), "{body}");
    assert_eq!(body["scan"]["kind"], "e-voucher");
    assert_eq!(body["credential"]["kind"], "evoucher");
    d.shutdown().await;
}

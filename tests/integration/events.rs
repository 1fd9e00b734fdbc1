//! `/v1/events`: SSE framing, topic filters, resuming with Last-Event-ID, and streams that
//! end on shutdown without holding up the drain.

use serde_json::json;

use crate::support::{self, InProcess, TOKEN, Terminal};

/// Reads SSE frames from a response until `n` events (not comments) have arrived.
async fn read_events(resp: &mut reqwest::Response, n: usize) -> Vec<(String, String, String)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = resp.chunk().await.unwrap().expect("stream ended early");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if !event.is_empty() {
                out.push((id, event, data));
            }
        }
    }
    out
}

#[tokio::test]
async fn events_stream_filters_and_resumes() {
    let t = Terminal::new();
    let d = InProcess::start(&t).await;
    let c = support::client();
    let mut resp = c
        .get(d.url("/v1/events?topics=card"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    d.events.publish("card.inserted", json!({ "reader": "R0" }));
    d.events
        .publish("reader.removed", json!({ "reader": "R9" }));
    d.events.publish("card.removed", json!({ "reader": "R0" }));
    let got = read_events(&mut resp, 2).await;
    assert_eq!(got[0].0, "1");
    assert_eq!(got[0].1, "card.inserted");
    let body: serde_json::Value = serde_json::from_str(&got[0].2).unwrap();
    assert_eq!(body["data"]["reader"], "R0");
    assert_eq!(
        (got[1].0.as_str(), got[1].1.as_str()),
        ("3", "card.removed")
    );
    drop(resp);

    // Reconnect after event 1: events 2 and 3 are replayed (no filter this time).
    let mut again = c
        .get(d.url("/v1/events"))
        .bearer_auth(TOKEN)
        .header("Last-Event-ID", "1")
        .send()
        .await
        .unwrap();
    let got = read_events(&mut again, 2).await;
    let ids: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(ids, ["2", "3"]);

    // Shutdown ends the open stream and the drain is clean.
    d.control
        .send(medsettle::daemon::Control::Shutdown)
        .await
        .unwrap();
    while again.chunk().await.unwrap().is_some() {}
    d.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn events_refuse_bad_resume_ids_and_need_the_token() {
    let t = Terminal::new();
    let d = InProcess::start(&t).await;
    let c = support::client();
    let resp = c.get(d.url("/v1/events")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = c
        .get(d.url("/v1/events"))
        .bearer_auth(TOKEN)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "request.invalid");
    let resp = c
        .get(d.url("/v1/events?since=3"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    d.shutdown().await;
}

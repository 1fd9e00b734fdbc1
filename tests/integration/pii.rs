//! Personal data never reaches the log raw: requests carrying an ID number and a name in the
//! path, query, headers and body, with the most verbose log filter.

use crate::support::{self, Process, TOKEN, Terminal};

const ID: &str = "11010519491231002X";
const NAME: &str = "张三丰";

#[tokio::test]
async fn id_numbers_and_names_never_appear_raw_in_logs() {
    let t = Terminal::with(|x| x.push_str("\n[log]\nlevel = \"trace\"\nformat = \"text\"\n"));
    let p = Process::start(&t).await;
    let c = support::client();
    let encoded_name: String = NAME.bytes().map(|b| format!("%{b:02X}")).collect();
    let body = serde_json::json!({ "certno": ID, "psn_name": NAME }).to_string();
    c.get(p.url(&format!("/v1/status?certno={ID}&psn_name={encoded_name}")))
        .bearer_auth(TOKEN)
        .header("x-patient-id", ID)
        .send()
        .await
        .unwrap();
    c.post(p.url("/v1/status"))
        .bearer_auth(TOKEN)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    c.get(p.url(&format!("/v1/persons/{ID}/{encoded_name}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    c.get(p.url("/v1/status"))
        .bearer_auth(ID)
        .send()
        .await
        .unwrap();
    p.signal(15);
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0));
    // The requests were logged (so the assertions below are about real log lines) ...
    assert!(log.contains("api request"), "{log}");
    // ... and nothing personal is in them, raw or percent-encoded.
    for needle in [
        ID,
        &ID.to_lowercase(),
        NAME,
        &encoded_name,
        &encoded_name.to_lowercase(),
    ] {
        assert!(
            !log.contains(needle),
            "{needle:?} appears in the log:\n{log}"
        );
    }
}

//! API token rotation by SIGHUP through the real binary: a token file the daemon reads is
//! rotated by a reload; a systemd credential cannot be (systemd's copy does not change while
//! the service runs), and the log says so, with what to do instead, rather than "reloaded".

use medsettle::config::SecretRef;

use crate::support::{self, Process, TOKEN, Terminal};

const SIGHUP: i32 = 1;
const SIGTERM: i32 = 15;

async fn status_with(p: &Process, token: &str) -> u16 {
    support::client()
        .get(p.url("/v1/status"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_reload_under_a_credential_says_the_token_was_not_changed() {
    let t = Terminal::new();
    let creds = t.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("api-token"), format!("{TOKEN}\n")).unwrap();
    let config = t.config_with(|c| c.api.token = SecretRef::Credential("api-token".into()));
    let p = Process::start_config(t.path(), &config, |cmd| {
        cmd.env("CREDENTIALS_DIRECTORY", &creds);
    })
    .await;
    assert_eq!(status_with(&p, TOKEN).await, 200);
    // What an operator does: rotate the file systemd read at start, then reload. The
    // credential copy is what the daemon reads, and it is unchanged.
    std::fs::write(t.path().join("api-token"), "rotated-token-77\n").unwrap();
    p.signal(SIGHUP);
    p.notify
        .wait_for("STATUS=ready: configuration reloaded")
        .await;
    assert_eq!(status_with(&p, TOKEN).await, 200);
    assert_eq!(status_with(&p, "rotated-token-77").await, 401);
    p.signal(SIGTERM);
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains("reload: the API token was NOT changed: systemd credential `api-token`"),
        "{log}"
    );
    assert!(log.contains("systemctl restart medsettle"), "{log}");
    assert!(
        log.contains("configuration reloaded (API token unchanged)"),
        "{log}"
    );
    assert!(!log.contains("API token changed"), "{log}");
    assert!(
        !log.contains("rotated-token-77"),
        "the log shows no token: {log}"
    );
}

#[tokio::test]
async fn a_token_file_rotates_on_reload_and_an_unchanged_one_is_reported() {
    let t = Terminal::new();
    let p = Process::start(&t).await;
    // First reload with the file as it was: nothing rotated, and the log says so.
    p.signal(SIGHUP);
    p.notify
        .wait_for("STATUS=ready: configuration reloaded")
        .await;
    assert_eq!(status_with(&p, TOKEN).await, 200);
    // Then a real rotation.
    std::fs::write(t.path().join("api-token"), "rotated-token-88\n").unwrap();
    p.signal(SIGHUP);
    p.notify
        .wait_for("STATUS=ready: configuration reloaded")
        .await;
    assert_eq!(status_with(&p, TOKEN).await, 401);
    assert_eq!(status_with(&p, "rotated-token-88").await, 200);
    p.signal(SIGTERM);
    let (status, log) = p.wait();
    assert_eq!(status.code(), Some(0), "{log}");
    let unchanged = log
        .find("reload: the API token was NOT changed")
        .unwrap_or_else(|| panic!("no warning for the unchanged file: {log}"));
    let changed = log
        .find("reload: API token changed")
        .unwrap_or_else(|| panic!("no note of the rotation: {log}"));
    assert!(unchanged < changed, "{log}");
    assert!(log.contains("holds the same token as before"), "{log}");
    assert_eq!(log.matches("NOT changed").count(), 1, "{log}");
    assert!(
        !log.contains("rotated-token-88"),
        "the log shows no token: {log}"
    );
}

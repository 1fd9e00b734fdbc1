//! The real binary's log outputs: `log.format = "journald"` sends native-protocol entries
//! (read back here from a socket the test binds in journald's place,
//! `MEDSETTLE_JOURNAL_SOCKET`) with structured fields and ID numbers masked; `json` writes one
//! JSON object per line; text goes to stderr as before.

use std::time::Duration;

use medsettle::config::LogFormat;
use medsettle::telemetry::journald;

use crate::support::Terminal;
use crate::support::process::Process;

/// An ID number shaped value (a valid check character) that must never appear in a log.
const ID: &str = "11010519900307123X";

type Entry = Vec<(String, String)>;

/// Reads every entry sent to `socket` from now on (journald reads as entries arrive; a
/// reader that waited would let the daemon's non-blocking sends fall back to stderr).
fn collect(socket: tokio::net::UnixDatagram) -> tokio::sync::mpsc::UnboundedReceiver<Entry> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1 << 17];
        while let Ok(n) = socket.recv(&mut buf).await {
            let entry = journald::parse(&buf[..n]).expect("a well-formed native entry");
            if tx.send(entry).is_err() {
                break;
            }
        }
    });
    rx
}

/// Takes entries until one satisfies `want` (at most 30 s); returns it. Every entry taken is
/// kept in `seen`.
async fn entry_where(
    entries: &mut tokio::sync::mpsc::UnboundedReceiver<Entry>,
    seen: &mut Vec<Entry>,
    want: impl Fn(&[(String, String)]) -> bool,
) -> Entry {
    let got = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(entry) = entries.recv().await {
            seen.push(entry.clone());
            if want(&entry) {
                return Some(entry);
            }
        }
        None
    })
    .await;
    got.ok()
        .flatten()
        .unwrap_or_else(|| panic!("no such journal entry; got {seen:#?}"))
}

fn field<'a>(entry: &'a [(String, String)], name: &str) -> Option<&'a str> {
    entry
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

// Two workers: the reader keeps reading while the test waits for the daemon to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journald_entries_carry_fields_and_mask_id_numbers() {
    let t = Terminal::new();
    let sock_path = t.path().join("journal.sock");
    let mut entries = collect(tokio::net::UnixDatagram::bind(&sock_path).unwrap());
    let text = t.config_with(|c| c.log.format = LogFormat::Journald);
    let config_path = t.path().join("medsettle-run.toml");
    let p = Process::start_config(t.path(), &text, |cmd| {
        cmd.env("MEDSETTLE_JOURNAL_SOCKET", &sock_path);
    })
    .await;
    let mut seen = Vec::new();

    let ready = entry_where(&mut entries, &mut seen, |e| {
        field(e, "MESSAGE") == Some("medsettle ready")
    })
    .await;
    assert_eq!(field(&ready, "PRIORITY"), Some("6"));
    assert_eq!(field(&ready, "SYSLOG_IDENTIFIER"), Some("medsettle"));
    assert!(field(&ready, "TARGET").unwrap().starts_with("medsettle"));
    assert!(field(&ready, "CODE_LINE").unwrap().parse::<u32>().is_ok());
    let port = p.addr.port().to_string();
    assert!(
        field(&ready, "API").is_some_and(|a| a.contains(&port)),
        "{ready:?}"
    );

    // A reload refused for a value shaped like an ID number: the error names the value, and
    // the entry (a multi-line message: the protocol's length-prefixed form) masks it.
    let bad = text.replace("region = \"110105\"", &format!("region = \"{ID}\""));
    assert_ne!(bad, text);
    std::fs::write(&config_path, bad).unwrap();
    p.signal(1);
    let refused = entry_where(&mut entries, &mut seen, |e| {
        field(e, "MESSAGE").is_some_and(|m| m.starts_with("reload refused"))
    })
    .await;
    assert_eq!(field(&refused, "PRIORITY"), Some("3"));
    let message = field(&refused, "MESSAGE").unwrap();
    assert!(
        message.contains('\n') && message.contains("terminal.region"),
        "{message}"
    );
    assert!(message.contains("110105********123X"), "{message}");

    p.signal(15);
    let (status, stderr) = p.wait();
    assert!(status.success());
    // Everything went to the journal, nothing to stderr, and no entry held the ID number.
    assert!(!stderr.contains("medsettle ready"), "{stderr}");
    entry_where(&mut entries, &mut seen, |e| {
        field(e, "MESSAGE") == Some("medsettle stopped")
    })
    .await;
    assert!(!format!("{seen:?}").contains("19900307"), "{seen:#?}");
}

#[tokio::test]
async fn json_lines_on_request() {
    let t = Terminal::new();
    let text = t.config_with(|c| c.log.format = LogFormat::Json);
    let p = Process::start_config(t.path(), &text, |_| {}).await;
    // A reload refused for a value shaped like an ID number: the line names it, masked.
    let bad = text.replace("region = \"110105\"", &format!("region = \"{ID}\""));
    assert_ne!(bad, text);
    std::fs::write(t.path().join("medsettle-run.toml"), bad).unwrap();
    p.signal(1);
    p.notify.wait_for("reload refused").await;
    p.signal(15);
    let (status, stderr) = p.wait();
    assert!(status.success());
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let ready = lines
        .iter()
        .find(|l| l["message"] == "medsettle ready")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(ready["level"], "INFO");
    assert!(ready["fields"]["api"].is_string(), "{ready}");
    assert!(ready["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(lines.iter().any(|l| l["message"] == "medsettle stopped"));
    let refused = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("reload refused"))
        })
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(refused["level"], "ERROR");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("110105********123X"),
        "{refused}"
    );
    assert!(!stderr.contains("19900307"), "{stderr}");
}

/// `log.format = "auto"` (the default) picks the journal only when `JOURNAL_STREAM` names
/// the daemon's own stderr, as systemd sets it; an inherited variable naming another stream
/// (a child of a service whose stderr was redirected) keeps text on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_picks_the_journal_only_when_stderr_is_the_journal_stream() {
    use std::os::unix::fs::MetadataExt as _;
    for matching in [true, false] {
        let t = Terminal::new();
        let sock_path = t.path().join("journal.sock");
        // Without a matching stream no socket is bound: choosing the journal anyway would
        // show as `<6>`-prefixed fallback lines on stderr.
        let mut entries =
            matching.then(|| collect(tokio::net::UnixDatagram::bind(&sock_path).unwrap()));
        let err_path = t.path().join("stderr.log");
        let err = std::fs::File::create(&err_path).unwrap();
        let meta = err.metadata().unwrap();
        let ino = if matching { meta.ino() } else { meta.ino() + 1 };
        let notify = crate::support::NotifySocket::new(t.path());
        let mut child = std::process::Command::new(crate::support::process::bin())
            .arg("run")
            .arg("--config")
            .arg(t.write_config())
            .env("NOTIFY_SOCKET", notify.path())
            .env("JOURNAL_STREAM", format!("{}:{ino}", meta.dev()))
            .env("MEDSETTLE_JOURNAL_SOCKET", &sock_path)
            .env_remove("WATCHDOG_USEC")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        notify.wait_for("READY=1").await;
        let killed = std::process::Command::new("kill")
            .arg("-15")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        assert!(child.wait().unwrap().success());
        let stderr = std::fs::read_to_string(&err_path).unwrap();
        match entries.as_mut() {
            Some(entries) => {
                let mut seen = Vec::new();
                entry_where(entries, &mut seen, |e| {
                    field(e, "MESSAGE") == Some("medsettle stopped")
                })
                .await;
                assert!(!stderr.contains("medsettle"), "{stderr}");
            }
            None => {
                assert!(stderr.contains("medsettle ready"), "{stderr}");
                assert!(stderr.contains(" INFO "), "{stderr}");
                assert!(!stderr.lines().any(|l| l.starts_with('<')), "{stderr}");
            }
        }
    }
}

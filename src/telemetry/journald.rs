//! Logging to the systemd journal over its native protocol (one datagram per entry on
//! `/run/systemd/journal/socket`), so that each event's fields become journal fields an
//! operator can filter on: `journalctl -u medsettle SALE_ID=… ` or `INFNO=2102`.
//!
//! Field names are the event's field names in upper case, with a few renamed to the names
//! operators look for (`sale` → `SALE_ID`, `code` → `ERROR_CODE`, …). Every value, the
//! message included, is scrubbed of ID-shaped text before it leaves, like the text formats.
//! Nothing but this socket is written; an entry the socket refuses (too large, journald
//! gone or not keeping up: sends never block) is written to stderr as a text line instead of
//! being lost.

use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

use super::fields::{self, Fields};
use super::pii;

/// Where journald listens, unless `MEDSETTLE_JOURNAL_SOCKET` names another socket (tests
/// bind their own and read the entries back).
pub fn socket_path() -> PathBuf {
    std::env::var_os("MEDSETTLE_JOURNAL_SOCKET").map_or_else(
        || PathBuf::from("/run/systemd/journal/socket"),
        PathBuf::from,
    )
}

/// Whether stderr is the journal stream systemd connected (`JOURNAL_STREAM` is `dev:ino` of
/// that stream): the variable alone is inherited by children whose stderr is elsewhere.
pub fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    stream.to_string_lossy() == format!("{}:{}", meta.dev(), meta.ino())
}

/// The layer sending each event to the journal.
pub struct JournaldLayer {
    socket: UnixDatagram,
    path: PathBuf,
}

impl JournaldLayer {
    /// Connects to the journal's socket at `path`.
    pub fn connect(path: &Path) -> std::io::Result<JournaldLayer> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(path)?;
        // Logging must never stall the daemon: when journald is not reading (its queue is
        // full), the entry goes to stderr (which systemd also records) instead of waiting.
        socket.set_nonblocking(true)?;
        Ok(JournaldLayer {
            socket,
            path: path.to_owned(),
        })
    }
}

impl<S: Subscriber> Layer<S> for JournaldLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let entry = entry(event);
        if self.socket.send(&entry).is_err() && self.socket.send_to(&entry, &self.path).is_err() {
            let f = Fields::of(event);
            let line = format!("{}: {}\n", event.metadata().target(), f.message);
            let _ = std::io::stderr().write_all(pii::scrub(&line).as_bytes());
        }
    }
}

/// The syslog priority of a tracing level.
fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// The journal field an event field is stored under: the names operators search for where
/// the code's name is shorter, otherwise the name in upper case with anything but `A-Z`,
/// `0-9`, `_` made `_`. Names journald reserves or this writer sets itself get an `F_`
/// prefix (a field must not forge `PRIORITY` or a trusted `_PID`).
pub fn field_name(name: &str) -> String {
    let renamed = match name {
        "sale" | "sale_id" => return "SALE_ID".to_owned(),
        "visit" | "visit_id" => return "VISIT_ID".to_owned(),
        "code" | "error_code" => return "ERROR_CODE".to_owned(),
        other => other,
    };
    let mut out: String = renamed
        .chars()
        .map(|c| match c {
            'a'..='z' => c.to_ascii_uppercase(),
            'A'..='Z' | '0'..='9' => c,
            _ => '_',
        })
        .collect();
    let reserved = [
        "MESSAGE",
        "PRIORITY",
        "SYSLOG_IDENTIFIER",
        "TARGET",
        "CODE_FILE",
        "CODE_LINE",
        "CODE_FUNC",
        "MESSAGE_ID",
    ];
    if !out.starts_with(|c: char| c.is_ascii_uppercase()) || reserved.contains(&out.as_str()) {
        out.insert_str(0, "F_");
    }
    out.truncate(64);
    out
}

/// One journal entry in the native protocol.
pub fn entry(event: &Event<'_>) -> Vec<u8> {
    let meta = event.metadata();
    let f = Fields::of(event);
    let mut out = Vec::with_capacity(256);
    put(&mut out, "PRIORITY", &priority(*meta.level()).to_string());
    put(&mut out, "SYSLOG_IDENTIFIER", "medsettle");
    put(&mut out, "TARGET", meta.target());
    if let Some(file) = meta.file() {
        put(&mut out, "CODE_FILE", file);
    }
    if let Some(line) = meta.line() {
        put(&mut out, "CODE_LINE", &line.to_string());
    }
    put(&mut out, "MESSAGE", &pii::scrub(&f.message));
    for (name, value) in &f.fields {
        put(
            &mut out,
            &field_name(name),
            &pii::scrub(&fields::text(value)),
        );
    }
    out
}

/// Appends `NAME=value\n`, or for a value with a newline the length-prefixed form
/// (`NAME\n`, the length as 64-bit little endian, the value, `\n`).
fn put(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    if value.contains('\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

/// Parses an entry of the native protocol back into its fields (the tests read what the
/// daemon sent with it): `NAME=value` lines and length-prefixed binary-safe values.
pub fn parse(mut data: &[u8]) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let nl = data.iter().position(|b| *b == b'\n')?;
        let line = &data[..nl];
        if let Some(eq) = line.iter().position(|b| *b == b'=') {
            out.push((
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            ));
            data = &data[nl + 1..];
        } else {
            let name = String::from_utf8_lossy(line).into_owned();
            let rest = &data[nl + 1..];
            let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
            let value = rest.get(8..8 + len)?;
            out.push((name, String::from_utf8_lossy(value).into_owned()));
            if rest.get(8 + len) != Some(&b'\n') {
                return None;
            }
            data = &rest[9 + len..];
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn receive(run: impl FnOnce()) -> Vec<(String, String)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let layer = JournaldLayer::connect(&path).unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), run);
        let mut buf = vec![0; 65536];
        let n = server.recv(&mut buf).unwrap();
        parse(&buf[..n]).expect("a well-formed entry")
    }

    fn get<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn fields_are_journal_fields_and_personal_data_is_masked() {
        let f = receive(|| {
            tracing::warn!(
                sale = "S-1",
                infno = "2102",
                msgid = "H1101050000120261203",
                code = "upstream.timeout",
                note = "holder 11010519900307123X",
                elapsed_ms = 15u64,
                "settling failed\nfor 11010519900307123X"
            );
        });
        assert_eq!(get(&f, "PRIORITY"), Some("4"));
        assert_eq!(get(&f, "SYSLOG_IDENTIFIER"), Some("medsettle"));
        assert_eq!(get(&f, "SALE_ID"), Some("S-1"));
        assert_eq!(get(&f, "INFNO"), Some("2102"));
        assert_eq!(get(&f, "MSGID"), Some("H1101050000120261203"));
        assert_eq!(get(&f, "ERROR_CODE"), Some("upstream.timeout"));
        assert_eq!(get(&f, "ELAPSED_MS"), Some("15"));
        let everything = format!("{f:?}");
        assert!(!everything.contains("19900307"), "{everything}");
        assert!(get(&f, "NOTE").unwrap().starts_with("holder 110"), "{f:?}");
        // A message with a newline travels in the length-prefixed form, masked.
        let message = get(&f, "MESSAGE").unwrap();
        assert!(message.starts_with("settling failed\nfor "), "{message}");
        assert!(!message.contains("19900307"), "{message}");
    }

    #[test]
    fn a_field_cannot_forge_a_reserved_one() {
        assert_eq!(field_name("priority"), "F_PRIORITY");
        assert_eq!(field_name("_pid"), "F__PID");
        assert_eq!(field_name("9lives"), "F_9LIVES");
        assert_eq!(field_name("error.kind"), "ERROR_KIND");
        assert_eq!(field_name("visit"), "VISIT_ID");
    }

    #[test]
    fn the_parser_refuses_a_truncated_entry() {
        let mut e = Vec::new();
        put(&mut e, "MESSAGE", "a\nb");
        assert_eq!(
            parse(&e),
            Some(vec![("MESSAGE".to_owned(), "a\nb".to_owned())])
        );
        assert_eq!(parse(&e[..e.len() - 2]), None);
    }
}

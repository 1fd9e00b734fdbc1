//! A strict, scripted [`CardTransport`] for tests: it replays an APDU transcript and fails the
//! test (panics) on any command it did not expect, and on drop if expected commands were never
//! sent. Public so driver and API tests can replay the same transcripts.
//!
//! Transcript format, one item per line (`#` starts a comment, blank lines are ignored, spaces
//! inside hex are ignored):
//!
//! ```text
//! atr: 3B6C0000...          the ATR the transport reports (optional)
//! interface: contactless    contact (default) or contactless
//! > 00A404000F7378...       a command the code under test must send next
//! < 9000                    the card's answer to it: data then SW1 SW2
//! ! removed                 instead of an answer: removed | reset | timeout | service | reader | other
//! ```
//!
//! Pure: no files are read except by [`ScriptedTransport::from_file`].

use std::collections::VecDeque;
use std::path::Path;

use crate::transport::{CardTransport, Interface, TransportError};

/// What the scripted card does when the expected command arrives.
#[derive(Debug, Clone)]
enum Reply {
    Bytes(Vec<u8>),
    Fail(TransportError),
}

#[derive(Debug, Clone)]
struct Step {
    line: usize,
    command: Vec<u8>,
    reply: Reply,
}

/// A transcript that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transcript line {line}: {message}")]
pub struct ScriptError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// Replays a transcript; see the module documentation.
#[derive(Debug)]
pub struct ScriptedTransport {
    atr: Vec<u8>,
    interface: Interface,
    steps: VecDeque<Step>,
    sent: usize,
    check_finished: bool,
}

fn parse_hex(text: &str, line: usize) -> Result<Vec<u8>, ScriptError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(&compact).map_err(|e| ScriptError {
        line,
        message: format!("bad hex: {e}"),
    })
}

impl ScriptedTransport {
    /// Parses a transcript.
    pub fn parse(text: &str) -> Result<Self, ScriptError> {
        // Plain locals: a half-built transport would fail its own drop check on a parse error.
        let mut atr = Vec::new();
        let mut interface = Interface::Contact;
        let mut steps = VecDeque::new();
        let mut pending: Option<(usize, Vec<u8>)> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let item = raw.split('#').next().unwrap_or("").trim();
            if item.is_empty() {
                continue;
            }
            let err = |message: &str| ScriptError {
                line,
                message: message.to_owned(),
            };
            let reply = if let Some(v) = item.strip_prefix("atr:") {
                atr = parse_hex(v, line)?;
                None
            } else if let Some(v) = item.strip_prefix("interface:") {
                interface = match v.trim() {
                    "contact" => Interface::Contact,
                    "contactless" => Interface::Contactless,
                    _ => return Err(err("interface is `contact` or `contactless`")),
                };
                None
            } else if let Some(v) = item.strip_prefix('>') {
                if pending.is_some() {
                    return Err(err("a command follows a command without an answer"));
                }
                pending = Some((line, parse_hex(v, line)?));
                None
            } else if let Some(v) = item.strip_prefix('<') {
                Some(Reply::Bytes(parse_hex(v, line)?))
            } else if let Some(v) = item.strip_prefix('!') {
                let v = v.trim();
                Some(Reply::Fail(
                    match v.split_whitespace().next().unwrap_or("") {
                        "removed" => TransportError::CardRemoved,
                        "reset" => TransportError::CardReset,
                        "timeout" => TransportError::Timeout,
                        "service" => TransportError::ServiceGone,
                        "reader" => TransportError::ReaderGone("scripted".into()),
                        "other" => TransportError::Other("scripted".into()),
                        _ => return Err(err("unknown failure")),
                    },
                ))
            } else {
                return Err(err("expected `>`, `<`, `!`, `atr:` or `interface:`"));
            };
            if let Some(reply) = reply {
                let (line, command) = pending
                    .take()
                    .ok_or_else(|| err("an answer without a command"))?;
                steps.push_back(Step {
                    line,
                    command,
                    reply,
                });
            }
        }
        if let Some((line, _)) = pending {
            return Err(ScriptError {
                line,
                message: "command without an answer".into(),
            });
        }
        Ok(ScriptedTransport {
            atr,
            interface,
            steps,
            sent: 0,
            check_finished: true,
        })
    }

    /// Reads and parses a transcript file.
    pub fn from_file(path: &Path) -> Result<Self, ScriptError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScriptError {
            line: 0,
            message: format!("{}: {e}", path.display()),
        })?;
        Self::parse(&text)
    }

    /// Commands answered so far.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// Commands the transcript still expects.
    pub fn remaining(&self) -> usize {
        self.steps.len()
    }

    /// Do not fail on drop when the transcript was not used up (for tests that stop early on
    /// purpose).
    pub fn allow_unfinished(&mut self) {
        self.check_finished = false;
    }
}

impl CardTransport for ScriptedTransport {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let got = hex::encode_upper(command);
        let Some(step) = self.steps.pop_front() else {
            panic!("scripted card: unexpected command {got} after the end of the transcript");
        };
        if step.command != command {
            panic!(
                "scripted card: transcript line {} expects {}, got {got}",
                step.line,
                hex::encode_upper(&step.command)
            );
        }
        self.sent += 1;
        match step.reply {
            Reply::Bytes(b) => Ok(b),
            Reply::Fail(e) => Err(e),
        }
    }

    fn atr(&self) -> &[u8] {
        &self.atr
    }

    fn interface(&self) -> Interface {
        self.interface
    }
}

impl Drop for ScriptedTransport {
    fn drop(&mut self) {
        if self.check_finished && !std::thread::panicking() {
            if let Some(next) = self.steps.front() {
                panic!(
                    "scripted card: {} expected command(s) never sent, first at transcript line {}",
                    self.steps.len(),
                    next.line
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_replays() {
        let mut t = ScriptedTransport::parse(
            "# demo\natr: 3B 00\ninterface: contactless\n> 00 A4 0400\n< 9000 # ok\n> 0084000008\n! removed\n",
        )
        .unwrap();
        assert_eq!(t.atr(), &[0x3B, 0x00]);
        assert_eq!(t.interface(), Interface::Contactless);
        assert_eq!(t.remaining(), 2);
        assert_eq!(t.transmit(&[0, 0xA4, 4, 0]).unwrap(), vec![0x90, 0]);
        assert_eq!(
            t.transmit(&[0, 0x84, 0, 0, 8]),
            Err(TransportError::CardRemoved)
        );
        assert_eq!(t.sent(), 2);
    }

    #[test]
    fn every_failure_kind_parses() {
        for (word, e) in [
            ("reset", TransportError::CardReset),
            ("timeout", TransportError::Timeout),
            ("service", TransportError::ServiceGone),
            ("reader", TransportError::ReaderGone("scripted".into())),
            ("other", TransportError::Other("scripted".into())),
        ] {
            let mut t = ScriptedTransport::parse(&format!("> 00\n! {word}\n")).unwrap();
            assert_eq!(t.transmit(&[0]), Err(e));
        }
    }

    #[test]
    fn malformed_transcripts_name_the_line() {
        let e = ScriptedTransport::parse("> 00\n> 01\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(ScriptedTransport::parse("< 9000\n").unwrap_err().line, 1);
        assert_eq!(ScriptedTransport::parse("\n> 0G\n").unwrap_err().line, 2);
        assert_eq!(ScriptedTransport::parse("> 00\n").unwrap_err().line, 1);
        assert_eq!(
            ScriptedTransport::parse("> 00\n! melted\n")
                .unwrap_err()
                .line,
            2
        );
        assert_eq!(
            ScriptedTransport::parse("interface: nfc\n")
                .unwrap_err()
                .line,
            1
        );
        assert_eq!(ScriptedTransport::parse("hello\n").unwrap_err().line, 1);
        assert_eq!(
            ScriptedTransport::from_file(Path::new("/nonexistent"))
                .unwrap_err()
                .line,
            0
        );
    }

    #[test]
    #[should_panic(expected = "expects 00A40400, got 00B2")]
    fn unexpected_command_fails_the_test() {
        let mut t = ScriptedTransport::parse("> 00A40400\n< 9000\n").unwrap();
        let _ = t.transmit(&[0, 0xB2, 1, 4]);
    }

    #[test]
    #[should_panic(expected = "after the end of the transcript")]
    fn extra_command_fails_the_test() {
        let mut t = ScriptedTransport::parse("").unwrap();
        let _ = t.transmit(&[0]);
    }

    #[test]
    #[should_panic(expected = "never sent")]
    fn unused_commands_fail_on_drop() {
        let _t = ScriptedTransport::parse("> 00\n< 9000\n").unwrap();
    }

    #[test]
    fn unfinished_can_be_allowed() {
        let mut t = ScriptedTransport::parse("> 00\n< 9000\n").unwrap();
        t.allow_unfinished();
    }
}

//! Target `card_read`: a whole card read (`card::ssc::read_card_with`, SELECT, EF05, EF06, PIN,
//! authentication on demand with the virtual PSAM) against a card whose answers come from the
//! input, then the `iReadCardBas` line and the offline acceptance rules on the record.
//!
//! The input is an APDU transcript in the `fixtures/apdu/` format, so those files seed it:
//! `atr:` and `interface:` lines set the card, each `<` line is the card's next answer whatever
//! the command was (`>` lines are ignored), each `!` line a transport failure. When the answers
//! run out the card is removed.
//!
//! Invariants beyond "no panic": the read stays within the APDU budget the exchange layer
//! promises; a record has a 32-digit hex card id whose first six characters are the region; the
//! ATR and historical bytes are uppercase hex; both `iReadCardBas` lines have exactly 11 fields
//! and no control character; validating the record twice gives the same problems.

use chrono::NaiveDate;
use medsettle::card::transport::{CardTransport, Interface, TransportError};
use medsettle::card::{AuthPolicy, Pin, ReadOptions, ReadStyle, TerminalIds, VirtualPsam};
use medsettle::credential::blacklist::Blacklist;
use medsettle::credential::validate::{Policy, problems};

/// A card that answers from a list, ignoring what it is asked.
struct Replay {
    atr: Vec<u8>,
    interface: Interface,
    answers: std::vec::IntoIter<Result<Vec<u8>, TransportError>>,
    sent: u32,
}

impl CardTransport for Replay {
    fn transmit(&mut self, _command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.sent += 1;
        self.answers
            .next()
            .unwrap_or(Err(TransportError::CardRemoved))
    }

    fn atr(&self) -> &[u8] {
        &self.atr
    }

    fn interface(&self) -> Interface {
        self.interface
    }
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(compact).ok()
}

fn replay(text: &str) -> Replay {
    let mut card = Replay {
        atr: Vec::new(),
        interface: Interface::Contact,
        answers: Vec::new().into_iter(),
        sent: 0,
    };
    let mut answers = Vec::new();
    for line in text.lines() {
        let item = line.split('#').next().unwrap_or("").trim();
        if let Some(v) = item.strip_prefix("atr:") {
            card.atr = hex_bytes(v).unwrap_or_default();
        } else if let Some(v) = item.strip_prefix("interface:") {
            if v.trim() == "contactless" {
                card.interface = Interface::Contactless;
            }
        } else if let Some(v) = item.strip_prefix('<') {
            if let Some(bytes) = hex_bytes(v) {
                answers.push(Ok(bytes));
            }
        } else if let Some(v) = item.strip_prefix('!') {
            answers.push(Err(match v.trim() {
                "reset" => TransportError::CardReset,
                "timeout" => TransportError::Timeout,
                "service" => TransportError::ServiceGone,
                "reader" => TransportError::ReaderGone("fuzz".into()),
                "other" => TransportError::Other("fuzz".into()),
                _ => TransportError::CardRemoved,
            }));
        }
    }
    card.answers = answers.into_iter();
    card
}

/// The options a read runs with, picked by the input's length so every path is reachable.
fn options(seed: usize) -> (ReadOptions, bool, bool) {
    let style = match seed % 4 {
        0 => ReadStyle::RecordThenTag,
        1 => ReadStyle::TagThenRecord,
        2 => ReadStyle::RecordOnly,
        _ => ReadStyle::TagOnly,
    };
    let auth = match (seed / 4) % 3 {
        0 => AuthPolicy::OnDemand,
        1 => AuthPolicy::Before,
        _ => AuthPolicy::Never,
    };
    let opts = ReadOptions {
        style,
        auth,
        require_holder: (seed / 12) % 2 == 1,
        skip_holder: (seed / 24) % 5 == 4,
    };
    (opts, (seed / 120) % 2 == 1, (seed / 240) % 2 == 1)
}

fn is_upper_hex(s: &str) -> bool {
    s.len() % 2 == 0
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

/// Runs the target on one input.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut card = replay(&text);
    let (opts, with_pin, with_psam) = options(data.len());
    let pin = with_pin.then(|| Pin::new("123456").expect("a valid PIN"));
    let mut psam = VirtualPsam::default();
    let module: Option<&mut dyn medsettle::card::SecurityModule> =
        if with_psam { Some(&mut psam) } else { None };
    let result = medsettle::card::read_card_with(&mut card, &opts, pin.as_ref(), module);
    // Every logical command may take up to MAX_ROUNDS transmissions; a read is a few dozen.
    assert!(card.sent <= 64 * medsettle::card::exchange::MAX_ROUNDS);
    let Ok(read) = result else { return };
    assert_eq!(read.apdus, card.sent, "the channel counts every APDU");
    let r = &read.record;
    assert_eq!(r.card_id.len(), 32);
    assert!(is_upper_hex(&r.card_id));
    assert_eq!(r.region, r.card_id[..6]);
    assert!(is_upper_hex(&r.atr) && is_upper_hex(&r.atr_historical));
    assert!(r.atr.contains(&r.atr_historical));
    if opts.require_holder && !opts.skip_holder {
        assert!(r.holder.is_some());
    }
    if opts.skip_holder {
        assert!(r.holder.is_none());
    }
    let terminal = TerminalIds {
        terminal_no: "T|0001\n".into(),
        device_no: "D01".into(),
    };
    for line in [
        r.ireadcardbas_line(&terminal),
        r.ireadcardbas_step1_line(&terminal),
    ] {
        assert_eq!(line.matches('|').count(), 11, "{line:?}");
        assert!(line.ends_with('|'));
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
    let today = NaiveDate::from_ymd_opt(2026, 6, 1).expect("a date");
    let first = problems(r, &Policy::default(), &Blacklist::default(), today);
    let again = problems(r, &Policy::default(), &Blacklist::default(), today);
    assert_eq!(first, again);
    // Debug and Display mask the holder: the full ID number never shows.
    let maskable =
        |h: &&medsettle::card::Holder| h.id_number.len() >= 18 && !h.id_number.contains('*');
    if let Some(h) = r.holder.as_ref().filter(maskable) {
        let shown = format!("{h:?}");
        assert!(!shown.contains(&h.id_number), "ID number in clear: {shown}");
    }
}

//! The virtual card's APDU behaviour: a pure state machine from command bytes to response bytes
//! (or to "leave the reader"), driven by a [`Profile`]. No sockets, no sleeping — the vpcd
//! connection (`vpcd.rs`) carries the bytes and applies latency.
//!
//! Behaviour follows `shared/domain/card.md`; the quirk and fault switches come from the
//! profile so that each deviation is a fixture, not a code path chosen by a test.

use crate::auth;
use crate::profile::{
    EfData, Profile, ProfileError, RecordRead, ResponseMode, pin_bcd, profile_key,
};

/// The SSSE application identifier (`sx1.sh.` + GBK 社会保障).
pub const SSSE_AID: [u8; 15] = [
    0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF,
];

/// What the card does with one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardAction {
    /// Answer with this R-APDU (data followed by SW1 SW2).
    Reply(Vec<u8>),
    /// Leave the reader without answering (fault injection).
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ef {
    Ef05,
    Ef06,
}

/// State that a power cycle or reset clears.
#[derive(Debug, Default)]
struct Session {
    app_selected: bool,
    current_ef: Option<Ef>,
    pin_verified: bool,
    authenticated: bool,
    challenge: Option<[u8; 8]>,
    pending: Option<Vec<u8>>,
    /// PSAM: the diversified key loaded by `80 1A`.
    psam_key: Option<[u8; 16]>,
}

/// A third-generation social security card in memory.
#[derive(Debug)]
pub struct VirtualCard {
    profile: Profile,
    atr: Vec<u8>,
    ef05: EfData,
    ef06: EfData,
    aid_sw: u16,
    pin: Option<Vec<u8>>,
    /// Persistent like the card's EEPROM counter: survives resets and re-insertions.
    pin_tries_left: u8,
    key: Option<[u8; 16]>,
    /// The PSAM side's master key, when the profile has one.
    psam_master: Option<[u8; 16]>,
    session: Session,
    apdus_since_insert: u32,
}

fn sw(word: u16) -> Vec<u8> {
    word.to_be_bytes().to_vec()
}

fn with_sw(mut data: Vec<u8>, word: u16) -> Vec<u8> {
    data.extend_from_slice(&word.to_be_bytes());
    data
}

/// A parsed short command APDU.
struct Command<'a> {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: &'a [u8],
    /// `None` when absent; `Some(0)` means 256.
    le: Option<u8>,
}

fn parse(apdu: &[u8]) -> Option<Command<'_>> {
    let (&[cla, ins, p1, p2], body) = apdu.split_first_chunk::<4>()?;
    let (data, le) = match body {
        [] => (&body[..0], None),
        [le] => (&body[..0], Some(*le)),
        [lc, rest @ ..] => {
            let lc = *lc as usize;
            match rest.len().checked_sub(lc)? {
                0 => (rest, None),
                1 => (&rest[..lc], Some(rest[lc])),
                _ => return None,
            }
        }
    };
    Some(Command {
        cla,
        ins,
        p1,
        p2,
        data,
        le,
    })
}

impl VirtualCard {
    /// Builds a card from a checked profile.
    pub fn from_profile(profile: Profile) -> Result<VirtualCard, ProfileError> {
        let pin = profile
            .pin
            .as_ref()
            .map(|p| pin_bcd(&p.value))
            .transpose()?;
        let key = profile
            .auth
            .as_ref()
            .map(|a| profile_key(&a.key))
            .transpose()?
            .map(|master| {
                let card_id: [u8; 16] = hex::decode(&profile.ef05.card_id)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| ProfileError::Field {
                        field: "ef05.card_id".into(),
                        reason: "must be 32 hex digits".into(),
                    })?;
                Ok::<_, ProfileError>(auth::card_key(&master, &card_id))
            })
            .transpose()?;
        Ok(VirtualCard {
            atr: profile.atr_bytes()?,
            ef05: profile.ef05_data()?,
            ef06: profile.ef06_data()?,
            aid_sw: profile.select_aid_sw()?,
            pin_tries_left: profile.pin.as_ref().map_or(0, |p| p.tries_left),
            pin,
            key,
            psam_master: profile
                .psam
                .as_ref()
                .map(|p| profile_key(&p.master))
                .transpose()?,
            session: Session::default(),
            apdus_since_insert: 0,
            profile,
        })
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// PIN tries left (persistent across resets).
    pub fn pin_tries_left(&self) -> u8 {
        self.pin_tries_left
    }

    /// The card enters a reader: fault counters restart and the session is fresh.
    pub fn inserted(&mut self) {
        self.apdus_since_insert = 0;
        self.session = Session::default();
    }

    /// Power on, power off or warm reset: the session state is lost.
    pub fn reset(&mut self) {
        self.session = Session::default();
    }

    /// Handles one command APDU, including fault injection.
    pub fn process(&mut self, apdu: &[u8]) -> CardAction {
        if let Some(limit) = self.profile.faults.remove_after_apdus {
            if self.apdus_since_insert >= limit {
                return CardAction::Remove;
            }
        }
        self.apdus_since_insert += 1;
        CardAction::Reply(self.respond(apdu))
    }

    /// Handles one command APDU and returns the R-APDU (no fault injection).
    pub fn respond(&mut self, apdu: &[u8]) -> Vec<u8> {
        let Some(cmd) = parse(apdu) else {
            return sw(0x6700);
        };
        if cmd.cla == 0x80 && self.psam_master.is_some() {
            return self.psam(&cmd);
        }
        if cmd.cla != 0x00 {
            return sw(0x6E00);
        }
        if cmd.ins != 0xC0 {
            self.session.pending = None;
        }
        match cmd.ins {
            0xA4 => self.select(&cmd),
            0xB2 => self.read_record(&cmd),
            0x20 => self.verify(&cmd),
            0x84 => self.get_challenge(&cmd),
            0x82 => self.external_authenticate(&cmd),
            0xC0 => self.get_response(&cmd),
            _ => sw(0x6D00),
        }
    }

    /// The PSAM commands: key load with diversification, then one-block encryption.
    fn psam(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        let Some(master) = self.psam_master else {
            return sw(0x6E00);
        };
        match cmd.ins {
            0x1A => {
                let Ok(card_id) = <[u8; 16]>::try_from(cmd.data) else {
                    return sw(0x6700);
                };
                self.session.psam_key = Some(auth::card_key(&master, &card_id));
                sw(0x9000)
            }
            0xFA => {
                let Some(key) = self.session.psam_key else {
                    return sw(0x6985);
                };
                let Ok(block) = <[u8; 16]>::try_from(cmd.data) else {
                    return sw(0x6700);
                };
                let challenge: [u8; 8] = block[..8].try_into().expect("16-byte block");
                if block[8..] != [0; 8] {
                    return sw(0x6A80);
                }
                let mut out = auth::cryptogram(&key, &challenge).to_vec();
                out.extend_from_slice(&[0x90, 0x00]);
                out
            }
            _ => sw(0x6D00),
        }
    }

    fn select(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        if cmd.p2 != 0x00 && cmd.p2 != 0x0C {
            return sw(0x6A86);
        }
        match cmd.p1 {
            0x04 => {
                if cmd.data != SSSE_AID {
                    return sw(0x6A82);
                }
                self.session.current_ef = None;
                self.session.app_selected = self.aid_sw == 0x9000;
                sw(self.aid_sw)
            }
            0x00 | 0x02 => {
                if cmd.data.len() != 2 {
                    return sw(0x6700);
                }
                // A card with the 6A82 quirk lets EFs be selected without the application.
                if !self.session.app_selected && self.aid_sw == 0x9000 {
                    return sw(0x6A82);
                }
                let ef = match cmd.data {
                    [0xEF, 0x05] => Ef::Ef05,
                    [0xEF, 0x06] => Ef::Ef06,
                    _ => return sw(0x6A82),
                };
                self.session.current_ef = Some(ef);
                sw(0x9000)
            }
            _ => sw(0x6A86),
        }
    }

    fn ef06_locked(&self) -> bool {
        let pin_needed = self
            .profile
            .pin
            .as_ref()
            .is_some_and(|p| p.required_for_ef06);
        let auth_needed = self
            .profile
            .auth
            .as_ref()
            .is_some_and(|a| a.required_for_ef06);
        (pin_needed && !self.session.pin_verified) || (auth_needed && !self.session.authenticated)
    }

    fn read_record(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        let Some(ef) = self.session.current_ef else {
            return sw(0x6986);
        };
        let style = self.profile.quirks.record_read;
        let by_number = match cmd.p2 {
            0x04 => true,
            0x00 => false,
            _ => return sw(0x6A86),
        };
        let allowed = match style {
            RecordRead::Both => true,
            RecordRead::ByNumber => by_number,
            RecordRead::ByTag => !by_number,
        };
        if !allowed {
            return sw(0x6A81);
        }
        if ef == Ef::Ef06 && self.ef06_locked() {
            return sw(0x6982);
        }
        let file = match ef {
            Ef::Ef05 => &self.ef05,
            Ef::Ef06 => &self.ef06,
        };
        let record = if by_number {
            file.by_number(cmd.p1)
        } else {
            file.by_tag(cmd.p1)
        };
        match record {
            Some(r) => {
                let data = r.bytes.clone();
                self.deliver(data, cmd.le)
            }
            None => sw(0x6A83),
        }
    }

    fn verify(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        if cmd.p1 != 0x00 || cmd.p2 != 0x00 {
            return sw(0x6A86);
        }
        let Some(pin) = &self.pin else {
            return sw(0x6A88);
        };
        if self.pin_tries_left == 0 {
            return sw(0x6983);
        }
        if cmd.data.is_empty() {
            return sw(0x63C0 | u16::from(self.pin_tries_left.min(15)));
        }
        if cmd.data.len() != 3 {
            return sw(0x6700);
        }
        if cmd.data == pin.as_slice() {
            self.pin_tries_left = self.profile.pin.as_ref().map_or(3, |p| p.max_tries);
            self.session.pin_verified = true;
            sw(0x9000)
        } else {
            self.pin_tries_left -= 1;
            self.session.pin_verified = false;
            sw(0x63C0 | u16::from(self.pin_tries_left.min(15)))
        }
    }

    fn get_challenge(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return sw(0x6A86);
        }
        if self.key.is_none() {
            return sw(0x6D00);
        }
        if !matches!(cmd.le, Some(8) | Some(0)) {
            return sw(0x6700);
        }
        let challenge = auth::fresh_challenge();
        self.session.challenge = Some(challenge);
        self.deliver(challenge.to_vec(), cmd.le)
    }

    fn external_authenticate(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        let Some(key) = self.key else {
            return sw(0x6D00);
        };
        let key_ref = self.profile.auth.as_ref().map_or(0x0A, |a| a.key_ref);
        if cmd.p1 != 0x00 || cmd.p2 != key_ref {
            return sw(0x6A88);
        }
        if cmd.data.len() != 16 {
            return sw(0x6700);
        }
        let Some(challenge) = self.session.challenge.take() else {
            return sw(0x6985);
        };
        if cmd.data == auth::cryptogram(&key, &challenge) {
            self.session.authenticated = true;
            sw(0x9000)
        } else {
            self.session.authenticated = false;
            sw(0x6300)
        }
    }

    fn get_response(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        let Some(mut pending) = self.session.pending.take() else {
            return sw(0x6985);
        };
        let n = match cmd.le {
            None | Some(0) => 256,
            Some(n) => usize::from(n),
        };
        if n < pending.len() {
            let rest = pending.split_off(n);
            let more = rest.len().min(255) as u16;
            self.session.pending = Some(rest);
            with_sw(pending, 0x6100 | more)
        } else {
            with_sw(pending, 0x9000)
        }
    }

    /// Returns response data according to the profile's response mode.
    fn deliver(&mut self, data: Vec<u8>, le: Option<u8>) -> Vec<u8> {
        // Record values are at most 32 bytes and challenges 8, so the length fits SW2.
        let len = data.len().min(255) as u16;
        match self.profile.quirks.response {
            ResponseMode::Direct => match le {
                Some(n) if n != 0 && u16::from(n) < len => sw(0x6C00 | len),
                _ => with_sw(data, 0x9000),
            },
            ResponseMode::ExactLe6C => match le {
                Some(n) if u16::from(n) == len => with_sw(data, 0x9000),
                _ => sw(0x6C00 | len),
            },
            ResponseMode::Chain61 => {
                self.session.pending = Some(data);
                sw(0x6100 | len)
            }
        }
    }
}

#[cfg(test)]
mod tests;

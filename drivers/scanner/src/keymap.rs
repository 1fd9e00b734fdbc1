//! Decoding a keyboard-wedge scan box's key events into bytes (US layout).
//!
//! Pure data: Linux key codes (`linux/input-event-codes.h`) and press/release values in,
//! bytes out, so it is tested without `/dev/input`. Handles Shift (either side) and Caps Lock
//! for letters, the numeric keypad as digits (the boxes assume Num Lock on), and
//! **Alt+numpad codes**: in "Chinese mode" (or "GBK output") many boxes type every non-ASCII
//! character as Alt held + its code in decimal on the keypad + Alt released, the Windows
//! input convention. A value up to 255 is one byte; a larger value is a two-byte GBK code
//! (`中` = 0xD6D0 = Alt+54992), emitted big-endian; above 65535 the sequence is dropped. A
//! leading `0` (Windows' "ANSI" form) changes nothing here: bytes are decoded as GBK later.
//! Other known quirks: some boxes need the host keyboard layout set to US and send Shift as
//! a separate press for every capital; key auto-repeat (value 2) is ignored.
//!
//! **Control characters**: a GS1 DataMatrix trace code carries the group separator (GS, 0x1D)
//! between its fields, and a keyboard-wedge box types it as Ctrl+`]` (the ASCII control-key
//! convention: Ctrl + a key of `@`..`_` or a letter gives that character & 0x1F) or as
//! Alt+029 on the keypad; both arrive as the byte 0x1D, which the trace code keeps.

/// A key that ends or separates scans rather than carrying data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlKey {
    Enter,
    Tab,
}

/// Linux key codes used here.
pub mod code {
    pub const KEY_TAB: u16 = 15;
    pub const KEY_ENTER: u16 = 28;
    pub const KEY_LEFTSHIFT: u16 = 42;
    pub const KEY_RIGHTSHIFT: u16 = 54;
    pub const KEY_LEFTALT: u16 = 56;
    pub const KEY_LEFTCTRL: u16 = 29;
    pub const KEY_RIGHTCTRL: u16 = 97;
    pub const KEY_RIGHTBRACE: u16 = 27;
    pub const KEY_CAPSLOCK: u16 = 58;
    pub const KEY_RIGHTALT: u16 = 100;
    pub const KEY_KPENTER: u16 = 96;
    pub const KEY_A: u16 = 30;
    pub const KEY_1: u16 = 2;
    pub const KEY_KP0: u16 = 82;
    pub const KEY_KP1: u16 = 79;
    pub const KEY_KP5: u16 = 76;
}

/// Main-block keys: (code, unshifted, shifted).
const MAIN: &[(u16, u8, u8)] = &[
    (2, b'1', b'!'),
    (3, b'2', b'@'),
    (4, b'3', b'#'),
    (5, b'4', b'$'),
    (6, b'5', b'%'),
    (7, b'6', b'^'),
    (8, b'7', b'&'),
    (9, b'8', b'*'),
    (10, b'9', b'('),
    (11, b'0', b')'),
    (12, b'-', b'_'),
    (13, b'=', b'+'),
    (16, b'q', b'Q'),
    (17, b'w', b'W'),
    (18, b'e', b'E'),
    (19, b'r', b'R'),
    (20, b't', b'T'),
    (21, b'y', b'Y'),
    (22, b'u', b'U'),
    (23, b'i', b'I'),
    (24, b'o', b'O'),
    (25, b'p', b'P'),
    (26, b'[', b'{'),
    (27, b']', b'}'),
    (30, b'a', b'A'),
    (31, b's', b'S'),
    (32, b'd', b'D'),
    (33, b'f', b'F'),
    (34, b'g', b'G'),
    (35, b'h', b'H'),
    (36, b'j', b'J'),
    (37, b'k', b'K'),
    (38, b'l', b'L'),
    (39, b';', b':'),
    (40, b'\'', b'"'),
    (41, b'`', b'~'),
    (43, b'\\', b'|'),
    (44, b'z', b'Z'),
    (45, b'x', b'X'),
    (46, b'c', b'C'),
    (47, b'v', b'V'),
    (48, b'b', b'B'),
    (49, b'n', b'N'),
    (50, b'm', b'M'),
    (51, b',', b'<'),
    (52, b'.', b'>'),
    (53, b'/', b'?'),
    (57, b' ', b' '),
];

/// Keypad keys: (code, character). Digits also feed Alt+numpad codes.
const KEYPAD: &[(u16, u8)] = &[
    (71, b'7'),
    (72, b'8'),
    (73, b'9'),
    (74, b'-'),
    (75, b'4'),
    (76, b'5'),
    (77, b'6'),
    (78, b'+'),
    (79, b'1'),
    (80, b'2'),
    (81, b'3'),
    (82, b'0'),
    (83, b'.'),
    (55, b'*'),
    (98, b'/'),
];

/// Key decoding state for one device.
#[derive(Debug, Default)]
pub struct KeyDecoder {
    left_shift: bool,
    right_shift: bool,
    caps_lock: bool,
    alt: bool,
    /// Either Ctrl key held: a key then types its control character.
    ctrl: bool,
    /// Decimal value typed on the keypad while Alt is held; `None` when no digit yet.
    alt_code: Option<u32>,
}

impl KeyDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one key event (`value`: 1 press, 0 release, 2 auto-repeat). Data bytes are
    /// appended to `out`; a control key press is returned.
    pub fn feed(&mut self, key: u16, value: i32, out: &mut Vec<u8>) -> Option<ControlKey> {
        use code::*;
        let pressed = match value {
            1 => true,
            0 => false,
            _ => return None,
        };
        match key {
            KEY_LEFTSHIFT => self.left_shift = pressed,
            KEY_RIGHTSHIFT => self.right_shift = pressed,
            KEY_CAPSLOCK if pressed => self.caps_lock = !self.caps_lock,
            KEY_LEFTCTRL | KEY_RIGHTCTRL => self.ctrl = pressed,
            KEY_LEFTALT | KEY_RIGHTALT => {
                self.alt = pressed;
                if pressed {
                    self.alt_code = None;
                } else if let Some(v) = self.alt_code.take() {
                    push_alt_code(v, out);
                }
            }
            _ if !pressed => {}
            _ if self.alt => {
                // Only keypad digits count while Alt is held; anything else is ignored.
                let digit = KEYPAD.iter().find(|(c, _)| *c == key).map(|(_, ch)| *ch);
                if let Some(d @ b'0'..=b'9') = digit {
                    let v = self.alt_code.unwrap_or(0);
                    self.alt_code = Some(v.saturating_mul(10).saturating_add(u32::from(d - b'0')));
                }
            }
            KEY_ENTER | KEY_KPENTER => return Some(ControlKey::Enter),
            KEY_TAB => return Some(ControlKey::Tab),
            _ if self.ctrl => {
                // Ctrl + `]` is GS (0x1D); Ctrl + a letter or `@[\^_` its control character.
                if let Some(&(_, lower, upper)) = MAIN.iter().find(|(c, _, _)| *c == key) {
                    let base = if lower.is_ascii_lowercase() {
                        lower.to_ascii_uppercase()
                    } else if (0x40..=0x5f).contains(&upper) && !(0x40..=0x5f).contains(&lower) {
                        upper
                    } else {
                        lower
                    };
                    if (0x40..=0x5f).contains(&base) {
                        out.push(base & 0x1f);
                    }
                }
            }
            _ => {
                if let Some(&(_, lower, upper)) = MAIN.iter().find(|(c, _, _)| *c == key) {
                    let shift = self.left_shift || self.right_shift;
                    let shifted = if lower.is_ascii_lowercase() {
                        shift != self.caps_lock
                    } else {
                        shift
                    };
                    out.push(if shifted { upper } else { lower });
                } else if let Some(&(_, ch)) = KEYPAD.iter().find(|(c, _)| *c == key) {
                    out.push(ch);
                }
            }
        }
        None
    }
}

fn push_alt_code(v: u32, out: &mut Vec<u8>) {
    match v {
        1..=255 => out.push(v as u8),
        256..=65535 => out.extend_from_slice(&(v as u16).to_be_bytes()),
        _ => tracing::debug!("alt+numpad code out of range ignored"),
    }
}

#[cfg(test)]
mod tests {
    use super::code::*;
    use super::*;

    /// Types `text` the way a US-layout box does: Shift pressed around each shifted character.
    fn typed(text: &str) -> Vec<(u16, i32)> {
        let mut ev = Vec::new();
        for b in text.bytes() {
            let &(key, lower, _) = MAIN.iter().find(|(_, l, u)| *l == b || *u == b).unwrap();
            let shift = b != lower;
            if shift {
                ev.push((KEY_LEFTSHIFT, 1));
            }
            ev.extend([(key, 1), (key, 0)]);
            if shift {
                ev.push((KEY_LEFTSHIFT, 0));
            }
        }
        ev
    }

    fn decode(events: &[(u16, i32)]) -> (Vec<u8>, Vec<ControlKey>) {
        let mut d = KeyDecoder::new();
        let (mut out, mut ctl) = (Vec::new(), Vec::new());
        for &(k, v) in events {
            ctl.extend(d.feed(k, v, &mut out));
        }
        (out, ctl)
    }

    #[test]
    fn every_printable_ascii_character_round_trips() {
        let all: String = (0x20u8..0x7f).map(char::from).collect();
        assert_eq!(decode(&typed(&all)).0, all.as_bytes());
        let essc = "ESSC1.eyJ2IjoxfQ.a-b_C9";
        assert_eq!(decode(&typed(essc)).0, essc.as_bytes());
    }

    #[test]
    fn ctrl_right_bracket_types_the_group_separator() {
        // "01" GS "10AB" as a box types a GS1 DataMatrix code: Ctrl held around `]`.
        let mut ev = typed("01");
        ev.extend([
            (KEY_LEFTCTRL, 1),
            (KEY_RIGHTBRACE, 1),
            (KEY_RIGHTBRACE, 0),
            (KEY_LEFTCTRL, 0),
        ]);
        ev.extend(typed("10AB"));
        assert_eq!(decode(&ev).0, b"01\x1d10AB");
        // The right Ctrl too, and Ctrl+letter is that letter's control character.
        let ev = [
            (KEY_RIGHTCTRL, 1),
            (KEY_A, 1),
            (KEY_A, 0),
            (KEY_RIGHTCTRL, 0),
        ];
        assert_eq!(decode(&ev).0, b"\x01");
        // Alt+029 on the keypad gives the same byte.
        assert_eq!(decode(&alt_code("29")).0, b"\x1d");
    }

    #[test]
    fn control_keys_caps_lock_keypad_and_repeat() {
        let mut ev = typed("ab");
        ev.extend([(KEY_CAPSLOCK, 1), (KEY_CAPSLOCK, 0)]);
        ev.extend(typed("cD1"));
        ev.extend([
            (KEY_KP5, 1),
            (KEY_KP5, 2),
            (KEY_KP5, 0),
            (KEY_TAB, 1),
            (KEY_ENTER, 1),
        ]);
        ev.extend([(KEY_KPENTER, 1), (KEY_A, 2)]);
        let (out, ctl) = decode(&ev);
        assert_eq!(out, b"abCd15");
        assert_eq!(ctl, [ControlKey::Tab, ControlKey::Enter, ControlKey::Enter]);
    }

    fn alt_code(digits: &str) -> Vec<(u16, i32)> {
        let mut ev = vec![(KEY_LEFTALT, 1)];
        for d in digits.bytes() {
            let &(key, _) = KEYPAD.iter().find(|(_, c)| *c == d).unwrap();
            ev.extend([(key, 1), (key, 0)]);
        }
        ev.push((KEY_LEFTALT, 0));
        ev
    }

    #[test]
    fn alt_numpad_gbk_and_single_bytes() {
        // 张 = GBK D5C5 = 54725, 三 = C8FD = 51453.
        let mut ev = typed("nm=");
        ev.extend(alt_code("54725"));
        ev.extend(alt_code("51453"));
        ev.extend(alt_code("065")); // 'A' in the leading-zero form
        ev.extend(alt_code("99999")); // out of range: dropped
        ev.extend([(KEY_RIGHTALT, 1), (KEY_A, 1), (KEY_A, 0), (KEY_RIGHTALT, 0)]); // Alt+A: nothing
        let (out, _) = decode(&ev);
        assert_eq!(
            out,
            [b"nm=".as_slice(), &[0xd5, 0xc5, 0xc8, 0xfd], b"A"].concat()
        );
        assert_eq!(encoding_rs::GBK.decode(&out[3..7]).0, "张三");
    }
}

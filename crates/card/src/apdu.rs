//! Command APDUs as values: an [`Apdu`] builder with ISO 7816-4 short encoding, and the
//! commands the social security application uses (SELECT, READ RECORD, GET RESPONSE, VERIFY,
//! GET CHALLENGE, EXTERNAL AUTHENTICATE).
//!
//! Pure data: nothing here talks to a card. Command data is zeroized on drop and never shown by
//! `Debug` for VERIFY, so a PIN cannot leak through a log line or a dropped buffer.

use std::fmt;

use zeroize::Zeroizing;

/// INS of VERIFY; its data is a PIN and is never displayed.
pub const INS_VERIFY: u8 = 0x20;

/// The social security application identifier: ASCII `sx1.sh.` followed by GBK `社会保障`.
pub const SSSE_AID: [u8; 15] = [
    0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF,
];

/// One command APDU. Short encoding only: at most 255 data bytes, `Le` 1..=256.
#[derive(Clone, PartialEq, Eq)]
pub struct Apdu {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    data: Zeroizing<Vec<u8>>,
    le: Option<u16>,
}

impl Apdu {
    /// A command with no data and no expected response data (ISO case 1).
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Apdu {
            cla,
            ins,
            p1,
            p2,
            data: Zeroizing::new(Vec::new()),
            le: None,
        }
    }

    /// Sets the command data. Panics if longer than 255 bytes (a programming error: every
    /// command this crate builds is far shorter).
    pub fn with_data(mut self, data: &[u8]) -> Self {
        assert!(data.len() <= 255, "short APDU data is at most 255 bytes");
        self.data = Zeroizing::new(data.to_vec());
        self
    }

    /// Sets the expected response length, 1..=256 (256 is encoded as `00`). `0` is taken as 256.
    pub fn with_le(mut self, le: u16) -> Self {
        let le = if le == 0 { 256 } else { le.min(256) };
        self.le = Some(le);
        self
    }

    /// The command data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The expected response length, if any (1..=256).
    pub fn le(&self) -> Option<u16> {
        self.le
    }

    /// Short encoding: `CLA INS P1 P2 [Lc data] [Le]`. The buffer is zeroized on drop.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(6 + self.data.len()));
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if !self.data.is_empty() {
            out.push(self.data.len() as u8);
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            out.push((le % 256) as u8);
        }
        out
    }

    /// SELECT by DF name (AID): `00 A4 04 00 Lc AID`.
    pub fn select_aid(aid: &[u8]) -> Self {
        Apdu::new(0x00, 0xA4, 0x04, 0x00).with_data(aid)
    }

    /// SELECT an elementary file by its identifier: `00 A4 <p1> 00 02 <fid>`. `p1` is `02`
    /// (EF under the current DF) or, on some cards, `00`.
    pub fn select_ef(p1: u8, fid: u16) -> Self {
        Apdu::new(0x00, 0xA4, p1, 0x00).with_data(&fid.to_be_bytes())
    }

    /// READ RECORD by record number in the current EF: `00 B2 <rec> 04 <Le>`.
    pub fn read_record(rec: u8, le: u16) -> Self {
        Apdu::new(0x00, 0xB2, rec, 0x04).with_le(le)
    }

    /// READ RECORD by record identifier (the TLV tag): `00 B2 <tag> 00 <Le>`.
    pub fn read_tag(tag: u8, le: u16) -> Self {
        Apdu::new(0x00, 0xB2, tag, 0x00).with_le(le)
    }

    /// GET RESPONSE: `00 C0 00 00 <Le>`.
    pub fn get_response(le: u16) -> Self {
        Apdu::new(0x00, 0xC0, 0x00, 0x00).with_le(le)
    }

    /// GET CHALLENGE for 8 bytes: `00 84 00 00 08`.
    pub fn get_challenge() -> Self {
        Apdu::new(0x00, 0x84, 0x00, 0x00).with_le(8)
    }

    /// EXTERNAL AUTHENTICATE: `00 82 00 <keyref> 10 <cryptogram>`.
    pub fn external_authenticate(keyref: u8, cryptogram: &[u8; 16]) -> Self {
        Apdu::new(0x00, 0x82, 0x00, keyref).with_data(cryptogram)
    }

    /// VERIFY with the PIN already packed as BCD: `00 20 00 00 03 <pin>`.
    pub fn verify(pin_bcd: &[u8]) -> Self {
        Apdu::new(0x00, INS_VERIFY, 0x00, 0x00).with_data(pin_bcd)
    }
}

impl fmt::Debug for Apdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Apdu({:02X} {:02X} {:02X} {:02X}",
            self.cla, self.ins, self.p1, self.p2
        )?;
        if !self.data.is_empty() {
            if self.ins == INS_VERIFY {
                write!(f, " data=<{} bytes redacted>", self.data.len())?;
            } else {
                write!(f, " data={}", hex::encode_upper(&*self.data))?;
            }
        }
        if let Some(le) = self.le {
            write!(f, " le={le}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(a: &Apdu) -> String {
        hex::encode_upper(&*a.to_bytes())
    }

    #[test]
    fn encodes_the_four_iso_cases() {
        assert_eq!(hex(&Apdu::new(0x00, 0xA4, 0x04, 0x00)), "00A40400");
        assert_eq!(hex(&Apdu::get_response(0x1A)), "00C000001A");
        assert_eq!(hex(&Apdu::get_response(256)), "00C0000000");
        assert_eq!(hex(&Apdu::new(0, 0xB2, 1, 4).with_le(0)), "00B2010400");
        assert_eq!(hex(&Apdu::select_ef(0x02, 0xEF05)), "00A4020002EF05");
        assert_eq!(
            hex(&Apdu::new(0x80, 0x10, 1, 2).with_data(&[1, 2]).with_le(3)),
            "801001020201020 3".replace(' ', "")
        );
    }

    #[test]
    fn builds_the_card_md_commands() {
        assert_eq!(
            hex(&Apdu::select_aid(&SSSE_AID)),
            "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"
        );
        assert_eq!(hex(&Apdu::read_record(1, 0x12)), "00B2010412");
        assert_eq!(hex(&Apdu::read_tag(0x08, 0x14)), "00B2080014");
        assert_eq!(hex(&Apdu::get_challenge()), "0084000008");
        assert_eq!(hex(&Apdu::verify(&[0x12, 0x34, 0x56])), "0020000003123456");
        let a = Apdu::external_authenticate(0x0A, &[0xAB; 16]);
        assert_eq!(hex(&a), format!("0082000A10{}", "AB".repeat(16)));
        assert_eq!(a.le(), None);
        assert_eq!(a.data().len(), 16);
    }

    #[test]
    fn aid_is_ascii_then_gbk() {
        assert_eq!(&SSSE_AID[..7], b"sx1.sh.");
        let (text, _, bad) = encoding_rs::GBK.decode(&SSSE_AID[7..]);
        assert!(!bad);
        assert_eq!(text, "社会保障");
    }

    #[test]
    fn debug_never_shows_a_pin() {
        let d = format!("{:?}", Apdu::verify(&[0x12, 0x34, 0x56]));
        assert!(!d.contains("123456"), "{d}");
        assert!(d.contains("redacted"));
        let d = format!("{:?}", Apdu::select_ef(2, 0xEF06).with_le(4));
        assert_eq!(d, "Apdu(00 A4 02 00 data=EF06 le=4)");
    }

    #[test]
    #[should_panic(expected = "255")]
    fn rejects_extended_data() {
        let _ = Apdu::new(0, 0, 0, 0).with_data(&[0; 256]);
    }
}

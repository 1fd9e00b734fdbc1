//! vpcd's socket framing: every message both ways is a 2-byte big-endian length followed by the
//! payload. A 1-byte payload from vpcd is a control command; anything longer is a C-APDU.
//! Pure byte handling over `Read`/`Write`; it does not know about cards.

use std::io::{self, Read, Write};

/// One message from vpcd to the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpcdMessage {
    PowerOff,
    PowerOn,
    /// Warm reset; vpcd expects no answer.
    Reset,
    /// Answer with the ATR.
    GetAtr,
    /// A control byte this crate does not know.
    UnknownControl(u8),
    /// A command APDU.
    Apdu(Vec<u8>),
}

impl VpcdMessage {
    pub fn decode(payload: Vec<u8>) -> VpcdMessage {
        match payload.as_slice() {
            [0] => VpcdMessage::PowerOff,
            [1] => VpcdMessage::PowerOn,
            [2] => VpcdMessage::Reset,
            [4] => VpcdMessage::GetAtr,
            [b] => VpcdMessage::UnknownControl(*b),
            _ => VpcdMessage::Apdu(payload),
        }
    }
}

/// Reads one message. `Ok(None)` on a clean end of stream before a length prefix.
pub fn read_message(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
    r.read_exact(&mut payload)?;
    Ok(Some(payload))
}

/// Writes one message as a single buffer (one segment on the wire with TCP_NODELAY).
pub fn write_message(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len()).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, "vpcd message over 65535 bytes")
    })?;
    let mut buf = Vec::with_capacity(payload.len() + 2);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(payload);
    w.write_all(&buf)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_eof() {
        let mut wire = Vec::new();
        write_message(&mut wire, &[4]).unwrap();
        write_message(&mut wire, &[0x00, 0xA4, 0x04, 0x00]).unwrap();
        assert_eq!(wire[..3], [0, 1, 4]);
        let mut r = wire.as_slice();
        assert_eq!(
            VpcdMessage::decode(read_message(&mut r).unwrap().unwrap()),
            VpcdMessage::GetAtr
        );
        assert_eq!(
            VpcdMessage::decode(read_message(&mut r).unwrap().unwrap()),
            VpcdMessage::Apdu(vec![0x00, 0xA4, 0x04, 0x00])
        );
        assert_eq!(read_message(&mut r).unwrap(), None);
        // A truncated payload is an error, not a clean end.
        let mut r: &[u8] = &[0, 5, 1, 2];
        assert!(read_message(&mut r).is_err());
    }
}

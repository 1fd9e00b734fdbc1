//! The TLV coding of social security card records: tag (1 byte) | length (1 byte) | value.
//!
//! A record read answers one or more TLVs. Bytes `00` and `FF` in tag position are padding
//! (ISO 7816-4 never assigns them as tags) and end the parse. The parser borrows from its input,
//! never panics and never reads past the end, whatever the card sends (tested exhaustively on
//! short inputs and on seeded random garbage).

/// One tag-length-value item, borrowing its value from the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag.
    pub tag: u8,
    /// The value, exactly `length` bytes.
    pub value: &'a [u8],
}

/// A TLV stream that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// A tag at `offset` has no length byte.
    #[error("tag at offset {offset} has no length byte")]
    MissingLength {
        /// Offset of the tag.
        offset: usize,
    },
    /// A value announced `declared` bytes but only `available` follow.
    #[error("tag {tag:02X} at offset {offset} declares {declared} bytes, {available} follow")]
    Truncated {
        /// The tag.
        tag: u8,
        /// Offset of the tag.
        offset: usize,
        /// The length byte.
        declared: usize,
        /// Bytes left after the length byte.
        available: usize,
    },
}

/// Whether a byte in tag position is padding.
fn is_padding(b: u8) -> bool {
    b == 0x00 || b == 0xFF
}

/// Parses a whole TLV stream, stopping at padding.
pub fn parse(data: &[u8]) -> Result<Vec<Tlv<'_>>, TlvError> {
    let mut out = Vec::new();
    let mut offset = 0;
    while let Some(&tag) = data.get(offset) {
        if is_padding(tag) {
            break;
        }
        let Some(&len) = data.get(offset + 1) else {
            return Err(TlvError::MissingLength { offset });
        };
        let start = offset + 2;
        let declared = usize::from(len);
        let available = data.len() - start;
        let value = data
            .get(start..start + declared)
            .ok_or(TlvError::Truncated {
                tag,
                offset,
                declared,
                available,
            })?;
        out.push(Tlv { tag, value });
        offset = start + declared;
    }
    Ok(out)
}

/// The value of the first item with `tag`, if the stream parses and holds one.
pub fn find(data: &[u8], tag: u8) -> Result<Option<&[u8]>, TlvError> {
    Ok(parse(data)?
        .into_iter()
        .find(|t| t.tag == tag)
        .map(|t| t.value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn parses_records() {
        let data = [0x07, 0x02, b'X', b'0', 0x03, 0x01, b'3', 0x00, 0xFF];
        let items = parse(&data).unwrap();
        assert_eq!(
            items,
            vec![
                Tlv {
                    tag: 7,
                    value: b"X0"
                },
                Tlv {
                    tag: 3,
                    value: b"3"
                }
            ]
        );
        assert_eq!(find(&data, 3).unwrap(), Some(&b"3"[..]));
        assert_eq!(find(&data, 9).unwrap(), None);
        assert_eq!(parse(&[]).unwrap(), vec![]);
        assert_eq!(
            parse(&[0x05, 0x00]).unwrap(),
            vec![Tlv { tag: 5, value: b"" }]
        );
    }

    #[test]
    fn reports_truncation() {
        assert_eq!(parse(&[0x01]), Err(TlvError::MissingLength { offset: 0 }));
        assert_eq!(
            parse(&[0x01, 0x01, 0xAA, 0x02, 0x05, 1, 2]),
            Err(TlvError::Truncated {
                tag: 2,
                offset: 3,
                declared: 5,
                available: 2
            })
        );
        assert!(find(&[0x01, 0x10], 1).is_err());
    }

    fn check(data: &[u8]) {
        // Must not panic; a success must account for every byte it claims.
        if let Ok(items) = parse(data) {
            let used: usize = items.iter().map(|t| t.value.len() + 2).sum();
            assert!(used <= data.len());
        }
    }

    #[test]
    fn never_panics_on_short_inputs() {
        for a in 0..=255u8 {
            check(&[a]);
            for b in 0..=255u8 {
                check(&[a, b]);
            }
        }
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x55C_0001);
        for _ in 0..20_000 {
            let len = rng.random_range(0..300);
            let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            check(&data);
        }
    }
}

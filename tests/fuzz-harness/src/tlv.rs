//! Target `tlv`: the byte-level card codings — the TLV records of a READ RECORD answer, the ATR's
//! historical bytes, status words and the field codings (BCD dates and digits, GBK and ASCII
//! text) — on arbitrary bytes.
//!
//! Invariants beyond "no panic": a TLV stream that parses re-encodes to exactly the bytes it
//! consumed, and what it did not consume starts with padding; `find` agrees with `parse`; the
//! historical bytes are the ATR's own bytes; a status word round-trips through `u16`; a BCD
//! date that parses encodes back to the same four bytes.

use medsettle::card::{StatusWord, atr, codec, tlv};

/// Runs the target on one input.
pub fn check(data: &[u8]) {
    check_tlv(data);
    check_atr(data);
    check_status_words(data);
    check_fields(data);
}

fn check_tlv(data: &[u8]) {
    let Ok(items) = tlv::parse(data) else {
        // A refused stream is refused by `find` too, whatever the tag.
        assert!(tlv::find(data, data.first().copied().unwrap_or(1)).is_err());
        return;
    };
    let mut encoded = Vec::with_capacity(data.len());
    for item in &items {
        assert!(
            item.tag != 0x00 && item.tag != 0xFF,
            "padding parsed as a tag"
        );
        encoded.push(item.tag);
        encoded.push(u8::try_from(item.value.len()).expect("a value is at most 255 bytes"));
        encoded.extend_from_slice(item.value);
    }
    assert_eq!(
        &data[..encoded.len()],
        &encoded[..],
        "TLV does not re-encode to its input"
    );
    if let Some(&next) = data.get(encoded.len()) {
        assert!(next == 0x00 || next == 0xFF, "parse stopped before padding");
    }
    for item in &items {
        let first = items.iter().find(|t| t.tag == item.tag).map(|t| t.value);
        assert_eq!(tlv::find(data, item.tag).ok().flatten(), first);
    }
}

fn check_atr(data: &[u8]) {
    if let Ok(hist) = atr::historical_bytes(data) {
        assert!(hist.len() <= 15, "K is a nibble");
        let start = hist.as_ptr() as usize - data.as_ptr() as usize;
        assert!(start >= 2 && start + hist.len() <= data.len());
    }
}

fn check_status_words(data: &[u8]) {
    for pair in data.chunks_exact(2).take(8) {
        let sw = StatusWord::from_bytes(pair[0], pair[1]);
        assert_eq!(sw.to_u16(), u16::from_be_bytes([pair[0], pair[1]]));
        assert_eq!(sw.to_string(), hex::encode_upper(pair));
    }
}

fn check_fields(data: &[u8]) {
    if let Ok(digits) = codec::bcd_digits(data) {
        assert_eq!(digits.len(), data.len() * 2);
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
    }
    for window in data.windows(4).take(16) {
        if let Ok(Some(date)) = codec::bcd_date(window) {
            assert_eq!(&codec::date_to_bcd(date)[..], window, "BCD date round trip");
        }
    }
    if let Ok(text) = codec::ascii_text(data) {
        assert!(text.bytes().all(|b| (0x20..0x7F).contains(&b)));
    }
    if let Ok(text) = codec::gbk_text(data) {
        assert_eq!(text, text.trim(), "a name keeps no surrounding blanks");
    }
    let b = data.first().copied().unwrap_or(0);
    let code = codec::small_code(b);
    if b >> 4 <= 9 && b & 0x0F <= 9 {
        assert!(code <= 99);
    } else {
        assert_eq!(code, b);
    }
}

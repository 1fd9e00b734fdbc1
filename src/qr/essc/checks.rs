//! Value checks on e-SSC claims that need no key: GB 11643 ID numbers, regions, nonces.
//!
//! Private to the QR module on purpose: `src/credential` is getting its own GB 11643
//! validation and the two should be merged there (see the integration notes). Pure functions,
//! no allocation, nothing logged.

/// GB 11643-1999 citizen ID number: 17 digits and a check character (`0`–`9` or `X`; lower
/// case `x` is refused) from the ISO 7064 MOD 11-2 weights. Birth date plausibility is the
/// credential validator's job, not this checksum's.
pub(crate) fn gb11643_ok(id: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    b[17] == CHECK[(sum % 11) as usize]
}

/// A 参保地 region code: exactly 6 ASCII digits.
pub(crate) fn region_ok(ad: &str) -> bool {
    ad.len() == 6 && ad.bytes().all(|b| b.is_ascii_digit())
}

/// A nonce: exactly 32 hex digits (either case; the replay guard stores lower case).
pub(crate) fn nonce_ok(nonce: &str) -> bool {
    nonce.len() == 32 && nonce.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A text field: non-empty, at most `max` characters, no control characters.
pub(crate) fn field_ok(value: &str, max: usize) -> bool {
    !value.trim().is_empty() && value.chars().count() <= max && !value.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gb11643_checksum() {
        // The standard's example and a few synthetic numbers.
        assert!(gb11643_ok("11010519491231002X"));
        assert!(!gb11643_ok("110105194912310029"));
        assert!(!gb11643_ok("11010519491231002x"));
        assert!(!gb11643_ok("1101051949123100"));
        assert!(!gb11643_ok("1101051949123100２X"));
        assert!(gb11643_ok("440524188001010014"));
        assert!(!gb11643_ok("440524188001010013"));
    }

    #[test]
    fn region_nonce_fields() {
        assert!(region_ok("110105"));
        assert!(!region_ok("11010"));
        assert!(!region_ok("11010a"));
        assert!(nonce_ok("0123456789abcdefABCDEF0123456789"));
        assert!(!nonce_ok("0123456789abcdef0123456789abcde"));
        assert!(!nonce_ok("0123456789abcdef0123456789abcdeg"));
        assert!(field_ok("张三", 64));
        assert!(!field_ok(" ", 64));
        assert!(!field_ok("a\nb", 64));
        assert!(!field_ok(&"x".repeat(65), 64));
    }
}

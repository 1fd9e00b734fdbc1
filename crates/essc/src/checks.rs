//! Value checks on e-SSC claims that need no key: GB 11643 ID numbers, regions, nonces.
//!
//! The GB 11643 arithmetic itself lives in `credential::idnumber`. Pure functions, nothing
//! logged.

use medsettle_base::idnumber::check_char;

/// GB 11643-1999 citizen ID number: 17 digits and the check character from
/// [`check_char`] (lower case `x` is refused in a signed code: the issuer writes `X`). Birth
/// date plausibility is the credential validator's job, not this checksum's.
pub(crate) fn gb11643_ok(id: &str) -> bool {
    id.len() == 18
        && id.is_char_boundary(17)
        && check_char(&id[..17]).is_some_and(|c| id[17..] == *c.encode_utf8(&mut [0; 4]))
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

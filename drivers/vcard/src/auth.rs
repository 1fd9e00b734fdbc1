//! The test-key external authentication shared by the virtual card and a virtual PSAM.
//!
//! card.md leaves the cryptogram format to the card vendor; the project fixes one for tests and
//! the core's virtual PSAM implements the terminal side: card key = SM4(master, 卡识别码),
//! cryptogram = SM4(card key, challenge ‖ 00×8). Test keys only — nothing here is meant to
//! protect a real card.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// The card's own key: the profile's master key diversified by the 卡识别码, the scheme the
/// core's virtual PSAM uses (`medsettle_card::security`).
pub fn card_key(master: &[u8; 16], card_id: &[u8; 16]) -> [u8; 16] {
    medsettle_card::security::diversify(master, card_id)
}

/// The cryptogram EXTERNAL AUTHENTICATE expects for `challenge` under the card's key.
pub fn cryptogram(card_key: &[u8; 16], challenge: &[u8; 8]) -> [u8; 16] {
    medsettle_card::security::cryptogram(card_key, challenge)
}

/// Eight unpredictable-enough bytes for GET CHALLENGE (std's per-process random hasher keys
/// mixed with a counter; good for a test card, not for real security).
pub fn fresh_challenge() -> [u8; 8] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish().to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm4::Sm4;
    use sm4::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};

    #[test]
    fn sm4_matches_the_standard_example() {
        // GB/T 32907-2016 example 1: key = plaintext = 0123456789ABCDEFFEDCBA9876543210.
        let key: [u8; 16] = hex::decode("0123456789ABCDEFFEDCBA9876543210")
            .unwrap()
            .try_into()
            .unwrap();
        let cipher = Sm4::new(GenericArray::from_slice(&key));
        let mut block = GenericArray::clone_from_slice(&key);
        cipher.encrypt_block(&mut block);
        assert_eq!(hex::encode_upper(block), "681EDF34D206965E86B3E94F536E4246");
    }

    #[test]
    fn challenges_differ_and_cryptograms_depend_on_them() {
        let key = [7u8; 16];
        let (a, b) = (fresh_challenge(), fresh_challenge());
        assert_ne!(a, b);
        assert_ne!(cryptogram(&key, &a), cryptogram(&key, &b));
    }
}

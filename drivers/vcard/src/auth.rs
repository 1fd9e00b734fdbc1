//! The test-key external authentication shared by the virtual card and a virtual PSAM.
//!
//! card.md leaves the cryptogram format to the card vendor; this crate fixes one for tests:
//! cryptogram = SM4-ECB(key, challenge(8) ‖ 80 00 00 00 00 00 00 00). Test keys only — nothing
//! here is meant to protect a real card.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use sm4::Sm4;
use sm4::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};

/// The cryptogram EXTERNAL AUTHENTICATE expects for `challenge` under `key`.
pub fn cryptogram(key: &[u8; 16], challenge: &[u8; 8]) -> [u8; 16] {
    let cipher = Sm4::new(GenericArray::from_slice(key));
    let mut block = [0u8; 16];
    block[..8].copy_from_slice(challenge);
    block[8] = 0x80;
    let mut ga = GenericArray::from(block);
    cipher.encrypt_block(&mut ga);
    ga.into()
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

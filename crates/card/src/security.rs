//! Security modules for external authentication: the card proves nothing, the terminal proves
//! it holds the key. A [`SecurityModule`] turns the card's challenge into a 16-byte cryptogram;
//! the card-side exchange (GET CHALLENGE, EXTERNAL AUTHENTICATE) is [`crate::auth`]'s. This
//! file knows no APDU and no `CardError` (which wraps [`SecurityError`]).
//!
//! On real terminals the module is a PSAM in the reader's SAM slot or a vendor's remote HSM
//! (加密机); both live outside this crate. [`VirtualPsam`] pairs with the virtual card: SM4 with a
//! fixed **test** key, diversified per card: `card_key = SM4(master, 卡识别码)`,
//! `cryptogram = SM4(card_key, challenge ‖ 00×8)`. It must never hold a production key.

use sm4::Sm4;
use sm4::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};

/// The key reference card.md gives for reading protected data.
pub const KEYREF_READ: u8 = 0x0A;

/// The virtual PSAM's master key. A test key, public on purpose.
pub const VIRTUAL_PSAM_TEST_KEY: [u8; 16] = *b"medsettle-vpsam!";

/// A security module failed to produce a cryptogram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    /// The module cannot be reached (no PSAM in the slot, HSM offline).
    #[error("security module unavailable: {0}")]
    Unavailable(String),
    /// The module refused (unknown card, key not loaded).
    #[error("security module refused: {0}")]
    Refused(String),
}

/// Produces EXTERNAL AUTHENTICATE cryptograms.
pub trait SecurityModule {
    /// The cryptogram for `challenge`, from the card identified by `card_id` (卡识别码, 16 bytes).
    fn external_auth(
        &mut self,
        card_id: &[u8; 16],
        challenge: &[u8; 8],
    ) -> Result<[u8; 16], SecurityError>;

    /// The key reference to authenticate against.
    fn keyref(&self) -> u8 {
        KEYREF_READ
    }
}

fn sm4_encrypt(key: &[u8; 16], block: &[u8; 16]) -> [u8; 16] {
    let cipher = Sm4::new(GenericArray::from_slice(key));
    let mut b = GenericArray::clone_from_slice(block);
    cipher.encrypt_block(&mut b);
    b.into()
}

/// The per-card key: `SM4(master, card_id)`.
pub fn diversify(master: &[u8; 16], card_id: &[u8; 16]) -> [u8; 16] {
    sm4_encrypt(master, card_id)
}

/// The cryptogram for a challenge: `SM4(card_key, challenge ‖ 00×8)`.
pub fn cryptogram(card_key: &[u8; 16], challenge: &[u8; 8]) -> [u8; 16] {
    let mut block = [0u8; 16];
    block[..8].copy_from_slice(challenge);
    sm4_encrypt(card_key, &block)
}

/// A software PSAM for the virtual card and tests.
#[derive(Debug, Clone)]
pub struct VirtualPsam {
    master: [u8; 16],
}

impl VirtualPsam {
    /// A PSAM holding [`VIRTUAL_PSAM_TEST_KEY`].
    pub fn new() -> Self {
        Self::with_key(VIRTUAL_PSAM_TEST_KEY)
    }

    /// A PSAM holding another test key.
    pub fn with_key(master: [u8; 16]) -> Self {
        VirtualPsam { master }
    }
}

impl Default for VirtualPsam {
    fn default() -> Self {
        Self::new()
    }
}

impl SecurityModule for VirtualPsam {
    fn external_auth(
        &mut self,
        card_id: &[u8; 16],
        challenge: &[u8; 8],
    ) -> Result<[u8; 16], SecurityError> {
        Ok(cryptogram(&diversify(&self.master, card_id), challenge))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sm4_matches_the_standard_example() {
        let k: [u8; 16] = hex::decode("0123456789ABCDEFFEDCBA9876543210")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(
            hex::encode_upper(sm4_encrypt(&k, &k)),
            "681EDF34D206965E86B3E94F536E4246"
        );
    }

    #[test]
    fn virtual_psam_is_deterministic_and_per_card() {
        let mut psam = VirtualPsam::default();
        let a = psam.external_auth(&[1; 16], &[9; 8]).unwrap();
        assert_eq!(a, psam.external_auth(&[1; 16], &[9; 8]).unwrap());
        assert_ne!(a, psam.external_auth(&[2; 16], &[9; 8]).unwrap());
        assert_ne!(
            a,
            VirtualPsam::with_key([0; 16])
                .external_auth(&[1; 16], &[9; 8])
                .unwrap()
        );
        assert_eq!(
            a,
            cryptogram(&diversify(&VIRTUAL_PSAM_TEST_KEY, &[1; 16]), &[9; 8])
        );
        assert_eq!(psam.keyref(), 0x0A);
    }
}

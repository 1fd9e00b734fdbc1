//! External authentication: the card proves nothing, the terminal proves it holds the key. The
//! terminal asks the card for a challenge (GET CHALLENGE), a [`SecurityModule`] turns it into a
//! 16-byte cryptogram, and EXTERNAL AUTHENTICATE (`00 82 00 0A 10 ..`) presents it.
//!
//! On real terminals the module is a PSAM in the reader's SAM slot or a vendor's remote HSM
//! (加密机); both live outside this crate. [`VirtualPsam`] pairs with the virtual card: SM4 with a
//! fixed **test** key, diversified per card: `card_key = SM4(master, 卡识别码)`,
//! `cryptogram = SM4(card_key, challenge ‖ 00×8)`. It must never hold a production key.

use sm4::Sm4;
use sm4::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};

use crate::apdu::Apdu;
use crate::error::CardError;
use crate::exchange::Channel;
use crate::status::StatusWord;

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

/// GET CHALLENGE: 8 random bytes from the card.
pub fn get_challenge(channel: &mut Channel<'_>) -> Result<[u8; 8], CardError> {
    let r = channel.exchange(&Apdu::get_challenge())?;
    match (r.sw, <[u8; 8]>::try_from(r.data.as_slice())) {
        (StatusWord::Ok, Ok(c)) => Ok(c),
        (StatusWord::Ok, Err(_)) => Err(CardError::Protocol("challenge is not 8 bytes".into())),
        (sw, _) => Err(CardError::UnexpectedStatus {
            command: "GET CHALLENGE",
            sw,
        }),
    }
}

/// EXTERNAL AUTHENTICATE with a cryptogram computed elsewhere (the two-step HSM flow).
pub fn external_authenticate(
    channel: &mut Channel<'_>,
    keyref: u8,
    cryptogram: &[u8; 16],
) -> Result<(), CardError> {
    let r = channel.exchange(&Apdu::external_authenticate(keyref, cryptogram))?;
    match r.sw {
        StatusWord::Ok => Ok(()),
        sw => Err(CardError::AuthFailed { sw }),
    }
}

/// The whole exchange: challenge, cryptogram from `module`, EXTERNAL AUTHENTICATE.
pub fn authenticate(
    channel: &mut Channel<'_>,
    module: &mut dyn SecurityModule,
    card_id: &[u8; 16],
) -> Result<(), CardError> {
    let challenge = get_challenge(channel)?;
    let c = module.external_auth(card_id, &challenge)?;
    external_authenticate(channel, module.keyref(), &c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::ScriptedTransport;

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

    fn script_for(challenge: [u8; 8], answer: &str) -> String {
        let c = cryptogram(&diversify(&VIRTUAL_PSAM_TEST_KEY, &[1; 16]), &challenge);
        format!(
            "> 0084000008\n< {}9000\n> 0082000A10{}\n< {answer}\n",
            hex::encode(challenge),
            hex::encode(c)
        )
    }

    #[test]
    fn authenticates_over_the_channel() {
        let mut t = ScriptedTransport::parse(&script_for([7; 8], "9000")).unwrap();
        let mut ch = Channel::new(&mut t);
        authenticate(&mut ch, &mut VirtualPsam::new(), &[1; 16]).unwrap();
        assert_eq!(ch.apdus(), 2);

        let mut t = ScriptedTransport::parse(&script_for([7; 8], "6982")).unwrap();
        let mut ch = Channel::new(&mut t);
        assert_eq!(
            authenticate(&mut ch, &mut VirtualPsam::new(), &[1; 16]),
            Err(CardError::AuthFailed {
                sw: StatusWord::SecurityNotSatisfied
            })
        );
    }

    #[test]
    fn bad_challenges() {
        let mut t = ScriptedTransport::parse("> 0084000008\n< 0102 9000\n").unwrap();
        assert_eq!(
            get_challenge(&mut Channel::new(&mut t))
                .unwrap_err()
                .code_for_test(),
            "card.protocol"
        );
        let mut t = ScriptedTransport::parse("> 0084000008\n< 6D00\n").unwrap();
        assert_eq!(
            get_challenge(&mut Channel::new(&mut t)),
            Err(CardError::UnexpectedStatus {
                command: "GET CHALLENGE",
                sw: StatusWord::InsNotSupported
            })
        );
    }

    struct Offline;
    impl SecurityModule for Offline {
        fn external_auth(&mut self, _: &[u8; 16], _: &[u8; 8]) -> Result<[u8; 16], SecurityError> {
            Err(SecurityError::Unavailable("no PSAM".into()))
        }
    }

    #[test]
    fn module_failure_is_reported() {
        let mut t = ScriptedTransport::parse("> 0084000008\n< 0102030405060708 9000\n").unwrap();
        let e = authenticate(&mut Channel::new(&mut t), &mut Offline, &[1; 16]).unwrap_err();
        assert_eq!(
            e,
            CardError::Security(SecurityError::Unavailable("no PSAM".into()))
        );
    }

    trait CodeForTest {
        fn code_for_test(&self) -> &'static str;
    }
    impl CodeForTest for CardError {
        fn code_for_test(&self) -> &'static str {
            medsettle_base::UserFacing::code(self)
        }
    }
}

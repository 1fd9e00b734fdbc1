//! A PSAM (a secure access module card in the reader's SAM slot) as a [`SecurityModule`].
//!
//! card.md leaves the PSAM's command set to the vendor. medsettle speaks the common PBOC-style
//! pair, with the key derivation the virtual PSAM uses:
//!
//! 1. `80 1A 45 <keyref> 10 <卡识别码, 16 bytes>` — load the key `keyref`, diversified by the
//!    card's identification code (`9000`);
//! 2. `80 FA 00 00 10 <challenge ‖ 00×8>` — encrypt one block with it; the answer is the
//!    16-byte cryptogram and `9000`.
//!
//! A deployment whose PSAM differs gets another implementation of the trait, not a flag here.
//! Pure over [`CardTransport`]: the driver hands in the SAM slot's transport.

use super::apdu::Apdu;
use super::exchange::Channel;
use super::security::{KEYREF_READ, SecurityError, SecurityModule};
use super::status::StatusWord;
use super::transport::CardTransport;

/// The PSAM in a SAM slot.
pub struct Psam<'a> {
    channel: Channel<'a>,
    keyref: u8,
}

impl<'a> Psam<'a> {
    /// A PSAM reached through `transport` (the SAM slot's connected card).
    pub fn new(transport: &'a mut dyn CardTransport) -> Psam<'a> {
        Psam {
            channel: Channel::new(transport),
            keyref: KEYREF_READ,
        }
    }

    fn command(&mut self, apdu: &Apdu, what: &str) -> Result<Vec<u8>, SecurityError> {
        let r = self
            .channel
            .exchange(apdu)
            .map_err(|e| SecurityError::Unavailable(format!("PSAM {what}: {e}")))?;
        match r.sw {
            StatusWord::Ok => Ok(r.data.to_vec()),
            sw => Err(SecurityError::Refused(format!("PSAM {what} answered {sw}"))),
        }
    }
}

impl SecurityModule for Psam<'_> {
    fn external_auth(
        &mut self,
        card_id: &[u8; 16],
        challenge: &[u8; 8],
    ) -> Result<[u8; 16], SecurityError> {
        let init = Apdu::new(0x80, 0x1A, 0x45, self.keyref).with_data(card_id);
        self.command(&init, "key init")?;
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(challenge);
        let encrypt = Apdu::new(0x80, 0xFA, 0x00, 0x00)
            .with_data(&block)
            .with_le(16);
        let out = self.command(&encrypt, "encrypt")?;
        out.as_slice().try_into().map_err(|_| {
            SecurityError::Refused(format!("PSAM answered {} bytes, not 16", out.len()))
        })
    }

    fn keyref(&self) -> u8 {
        self.keyref
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::{VirtualPsam, cryptogram, diversify};
    use crate::{Interface, TransportError};

    /// A PSAM that derives keys like the virtual PSAM, answering the two commands.
    struct FakePsam {
        master: [u8; 16],
        key: Option<[u8; 16]>,
        seen: Vec<Vec<u8>>,
    }

    impl CardTransport for FakePsam {
        fn transmit(&mut self, c: &[u8]) -> Result<Vec<u8>, TransportError> {
            self.seen.push(c.to_vec());
            match (c[0], c[1]) {
                (0x80, 0x1A) => {
                    self.key = Some(diversify(&self.master, c[5..21].try_into().unwrap()));
                    Ok(vec![0x90, 0x00])
                }
                (0x80, 0xFA) => match self.key {
                    Some(k) => {
                        let mut r = cryptogram(&k, c[5..13].try_into().unwrap()).to_vec();
                        r.extend([0x90, 0x00]);
                        Ok(r)
                    }
                    None => Ok(vec![0x69, 0x85]),
                },
                _ => Ok(vec![0x6D, 0x00]),
            }
        }
        fn atr(&self) -> &[u8] {
            &[0x3B]
        }
        fn interface(&self) -> Interface {
            Interface::Contact
        }
    }

    #[test]
    fn a_psam_gives_the_same_cryptogram_as_the_virtual_psam() {
        let master = *b"medsettle-vpsam!";
        let mut t = FakePsam {
            master,
            key: None,
            seen: vec![],
        };
        let card_id = [0x11u8; 16];
        let challenge = [1, 2, 3, 4, 5, 6, 7, 8];
        let got = Psam::new(&mut t)
            .external_auth(&card_id, &challenge)
            .unwrap();
        let want = VirtualPsam::with_key(master)
            .external_auth(&card_id, &challenge)
            .unwrap();
        assert_eq!(got, want);
        assert_eq!(t.seen[0][..5], [0x80, 0x1A, 0x45, 0x0A, 0x10]);
        assert_eq!(t.seen[1][..5], [0x80, 0xFA, 0x00, 0x00, 0x10]);
    }

    #[test]
    fn a_refusing_psam_is_a_security_error() {
        struct Refuses;
        impl CardTransport for Refuses {
            fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, TransportError> {
                Ok(vec![0x69, 0x82])
            }
            fn atr(&self) -> &[u8] {
                &[]
            }
            fn interface(&self) -> Interface {
                Interface::Contact
            }
        }
        let mut t = Refuses;
        let e = Psam::new(&mut t)
            .external_auth(&[0; 16], &[0; 8])
            .unwrap_err();
        assert!(matches!(e, SecurityError::Refused(_)), "{e:?}");
    }
}

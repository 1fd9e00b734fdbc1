//! External authentication on the card: GET CHALLENGE, a cryptogram from a
//! [`SecurityModule`] (or from elsewhere, the two-step HSM flow), EXTERNAL AUTHENTICATE
//! (`00 82 00 0A 10 ..`). Pure APDU exchanges over a [`Channel`]; the modules and their keys
//! are [`crate::security`]'s, and nothing here holds a key.

use crate::apdu::Apdu;
use crate::error::CardError;
use crate::exchange::Channel;
use crate::security::SecurityModule;
use crate::status::StatusWord;

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
    use crate::security::{
        SecurityError, VIRTUAL_PSAM_TEST_KEY, VirtualPsam, cryptogram, diversify,
    };

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

//! The two-step read for remote security modules (`iReadCardBas_HSM_Step1/Step2`): step 1
//! reads EF05 and takes a card challenge the caller sends to the vendor HSM; step 2 presents the
//! HSM's cryptogram with EXTERNAL AUTHENTICATE and reads EF06.
//!
//! Both steps must run on the same card connection without a reset in between (the challenge
//! lives in the card's RAM). The HSM protocol itself is vendor-private and not here.

use crate::auth;
use crate::error::CardError;
use crate::exchange::Channel;
use crate::ssc::{CardRead, ReadOptions, Session, read_card};
use crate::transport::CardTransport;

/// Step 1 of the two-step (remote HSM) flow: EF05 and a fresh challenge. Send the challenge
/// and `read.record.card_id` to the HSM, then call [`two_step_finish`] on the same connection.
pub fn two_step_begin(
    t: &mut dyn CardTransport,
    opts: &ReadOptions,
) -> Result<(CardRead, [u8; 8]), CardError> {
    let step1 = ReadOptions {
        skip_holder: true,
        ..opts.clone()
    };
    let mut read = read_card(t, &step1)?;
    let mut ch = Channel::new(t);
    let challenge = auth::get_challenge(&mut ch)?;
    read.apdus += ch.apdus();
    Ok((read, challenge))
}

/// Step 2: EXTERNAL AUTHENTICATE with the HSM's cryptogram, then EF06.
pub fn two_step_finish(
    t: &mut dyn CardTransport,
    mut read: CardRead,
    keyref: u8,
    cryptogram: &[u8; 16],
) -> Result<CardRead, CardError> {
    let mut ch = Channel::new(t);
    auth::external_authenticate(&mut ch, keyref, cryptogram)?;
    let mut s = Session {
        ch: &mut ch,
        style: read.style,
        aid_missing: read.aid_missing,
    };
    let holder = s.read_ef06()?.ok_or(CardError::AuthRequired)?;
    read.style = s.style;
    read.record.holder = Some(holder);
    read.apdus += ch.apdus();
    read.authenticated = true;
    read.holder_protected = false;
    Ok(read)
}

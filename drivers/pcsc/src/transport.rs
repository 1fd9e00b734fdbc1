//! [`CardTransport`] over one connected PC/SC card inside an open transaction. Lives only for
//! the duration of one `with_card` closure; it does not connect, begin or end anything itself.

use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use medsettle_card::{CardTransport, Interface, TransportError};

use crate::error::map_error;

/// How long to wait for the reader to report a card that went silent as gone.
const SILENT_CARD_WAIT: Duration = Duration::from_secs(2);

pub(crate) struct PcscTransport<'a> {
    pub card: &'a pcsc::Card,
    pub ctx: &'a pcsc::Context,
    pub reader: &'a CStr,
    pub atr: Vec<u8>,
    pub interface: Interface,
    pub buf: Vec<u8>,
    pub apdus: &'a AtomicU64,
}

impl CardTransport for PcscTransport<'_> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.apdus.fetch_add(1, Ordering::Relaxed);
        let response = self
            .card
            .transmit(command, &mut self.buf)
            .map(<[u8]>::to_vec)
            .map_err(map_error)?;
        if response.len() >= 2 {
            return Ok(response);
        }
        // No status word: pcscd passes an empty answer when the reader lost the card mid-APDU
        // (seen with vpcd). Wait for the reader to report what happened.
        Err(self.why_silent(response.len()))
    }

    fn atr(&self) -> &[u8] {
        &self.atr
    }

    fn interface(&self) -> Interface {
        self.interface
    }
}

impl PcscTransport<'_> {
    fn why_silent(&self, len: usize) -> TransportError {
        let gone =
            |st: pcsc::State| !st.contains(pcsc::State::PRESENT) || st.contains(pcsc::State::MUTE);
        let mut states = [pcsc::ReaderState::new(
            self.reader.to_owned(),
            pcsc::State::UNAWARE,
        )];
        if let Err(e) = self
            .ctx
            .get_status_change(Some(Duration::ZERO), &mut states)
        {
            return map_error(e);
        }
        if gone(states[0].event_state()) {
            return TransportError::CardRemoved;
        }
        states[0].sync_current_state();
        match self
            .ctx
            .get_status_change(Some(SILENT_CARD_WAIT), &mut states)
        {
            Ok(()) if gone(states[0].event_state()) => TransportError::CardRemoved,
            Err(e) if e != pcsc::Error::Timeout => map_error(e),
            _ => TransportError::Other(format!("response of {len} bytes has no status word")),
        }
    }
}

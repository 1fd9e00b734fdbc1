//! [`CardTransport`] over one connected PC/SC card inside an open transaction. Lives only for
//! the duration of one `with_card` closure; it does not connect, begin or end anything itself.

use std::sync::atomic::{AtomicU64, Ordering};

use medsettle::card::{CardTransport, Interface, TransportError};

use crate::error::map_error;

pub(crate) struct PcscTransport<'a> {
    pub card: &'a pcsc::Card,
    pub atr: Vec<u8>,
    pub interface: Interface,
    pub buf: Vec<u8>,
    pub apdus: &'a AtomicU64,
}

impl CardTransport for PcscTransport<'_> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.apdus.fetch_add(1, Ordering::Relaxed);
        self.card
            .transmit(command, &mut self.buf)
            .map(<[u8]>::to_vec)
            .map_err(map_error)
    }

    fn atr(&self) -> &[u8] {
        &self.atr
    }

    fn interface(&self) -> Interface {
        self.interface
    }
}

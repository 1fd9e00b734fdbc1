//! The one intake: "wait for the next credential" for the API's `POST /v1/credentials/wait`
//! and the kiosk alike. [`Intake::next`] races a card read (through any [`CardSource`]) against
//! the cache's typed channel of processed codes (scanned by a device or submitted by hand),
//! holds a card it read in the cache, and answers with the first thing presented or with
//! [`IntakeError::NotPresented`] when the wait ends.
//!
//! It reads no device itself (the card source does, and decides validity), holds no state
//! between calls, and never matches event strings: SSE clients get the cache's
//! `credential.ready` events; waiters get typed values.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use medsettle_card::CardRecord;
use tokio::sync::broadcast::error::RecvError;

use super::cache::{Credentials, Fresh};
use super::scan::ScanResult;

/// Something that reads one card on request (the daemon's card service).
pub trait CardSource: Sync {
    /// A successful read, as the caller wants to show it.
    type Read: Send;
    /// Why a read failed (no card in time, a bad card, a refused card).
    type Error: Send;

    /// Waits up to `wait` for a card and reads and validates it.
    fn read_card(
        &self,
        wait: Duration,
    ) -> impl Future<Output = Result<Self::Read, Self::Error>> + Send;

    /// The card record inside a read, which the cache holds.
    fn record(read: &Self::Read) -> &CardRecord;
}

/// What a waiter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// How long to wait.
    pub wait: Duration,
    /// A card, read by this wait.
    pub card: bool,
    /// A code accepted by the local checks (scanned or submitted).
    pub codes: bool,
    /// A code refused by the local checks also ends the wait (the API asks for this when the
    /// terminal has a camera or scan box, so the cashier sees why a code was not taken).
    pub refused: bool,
}

/// The first credential presented.
#[derive(Debug)]
pub enum Presented<R> {
    /// A card this wait read; `id` is its `credential_id`.
    Card { id: String, read: R },
    /// A processed code (`credential_id` set when it was accepted and held).
    Code(Arc<ScanResult>),
}

impl<R> Presented<R> {
    /// The `credential_id` a sale is made with, when there is one.
    pub fn credential_id(&self) -> Option<&str> {
        match self {
            Presented::Card { id, .. } => Some(id),
            Presented::Code(scan) => scan.credential_id.as_deref(),
        }
    }
}

/// Why nothing usable was presented.
#[derive(Debug, PartialEq, Eq)]
pub enum IntakeError<E> {
    /// The wait ended first.
    NotPresented,
    /// The card read failed.
    Card(E),
}

/// The intake over a cache and, when the terminal has readers, a card source.
pub struct Intake<'a, C> {
    cache: &'a Credentials,
    card: Option<&'a C>,
}

impl<'a, C: CardSource> Intake<'a, C> {
    pub fn new(cache: &'a Credentials, card: Option<&'a C>) -> Self {
        Intake { cache, card }
    }

    /// Waits for the next credential `want` accepts. Listens from the moment of the call (not
    /// of the first poll), so a code posted right after cannot be missed.
    pub fn next(
        &self,
        want: Want,
    ) -> impl Future<Output = Result<Presented<C::Read>, IntakeError<C::Error>>> + Send + '_ {
        let mut scans = self.cache.scans();
        async move {
            let card = async {
                match self.card.filter(|_| want.card) {
                    // A little longer than the wait, which answers the timeout itself.
                    Some(card) => card.read_card(want.wait + Duration::from_secs(1)).await,
                    None => std::future::pending().await,
                }
            };
            let code = async {
                if !want.codes {
                    return std::future::pending().await;
                }
                loop {
                    match scans.recv().await {
                        Ok(scan) if accepts(&want, &scan) => return scan,
                        Ok(_) | Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return std::future::pending().await,
                    }
                }
            };
            tokio::select! {
                read = card => {
                    let read = read.map_err(IntakeError::Card)?;
                    let id = self.cache.insert(Fresh::Card(C::record(&read).clone()));
                    Ok(Presented::Card { id, read })
                }
                scan = code => Ok(Presented::Code(scan)),
                () = tokio::time::sleep(want.wait) => Err(IntakeError::NotPresented),
            }
        }
    }
}

/// A credential answers; a refused code too when the waiter asked for refusals. A box's trace
/// code (or its refused 商品码) is no answer to a wait for a credential: the cashier scanning
/// boxes while the patient looks for the e-voucher must not end the wait.
fn accepts(want: &Want, scan: &ScanResult) -> bool {
    scan.credential_id.is_some() || (want.refused && scan.kind != "trace")
}

#[cfg(test)]
mod tests;

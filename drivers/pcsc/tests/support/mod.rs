//! Test support: one private pcscd per test binary (see `medsettle_vcard::testbed`), virtual
//! cards from `fixtures/cards/`, and event waits with a deadline (no sleeps).
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use medsettle_pcsc::ReaderEvent;
use medsettle_vcard::{Profile, Testbed, VirtualCard, VpcdConnection};
use tokio::sync::broadcast;

/// Generous: only reached when something is broken.
pub const WAIT: Duration = Duration::from_secs(15);

static BED: OnceLock<Testbed> = OnceLock::new();

/// The testbed of this test binary (two readers, `<friendly_name> 00 00` and `00 01`), started
/// on first use. Every test must call this before any PC/SC use.
pub fn bed(friendly_name: &str) -> &'static Testbed {
    BED.get_or_init(|| {
        let bed = Testbed::start(friendly_name)
            .expect("starting a private pcscd (is pcscd + vsmartcard-vpcd installed?)");
        // SAFETY: this runs once, inside OnceLock initialisation, before this process's first
        // PC/SC call (every test goes through `bed` first and other callers block on the
        // OnceLock); no test code touches the environment concurrently.
        unsafe { bed.export_client_env() };
        bed
    })
}

pub fn profile(fixture: &str) -> Profile {
    Profile::load(format!(
        "{}/../../fixtures/cards/{fixture}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A card of `fixture` plugged into the testbed reader `reader` (inserted immediately).
pub fn insert(bed: &Testbed, reader: &str, fixture: &str) -> VpcdConnection {
    let card = VirtualCard::from_profile(profile(fixture)).unwrap();
    VpcdConnection::connect(bed.reader(reader).addr(), card).unwrap()
}

/// A card of `fixture` next to reader `reader`, not yet inserted.
pub fn card_for(bed: &Testbed, reader: &str, fixture: &str) -> VpcdConnection {
    let card = VirtualCard::from_profile(profile(fixture)).unwrap();
    VpcdConnection::new_removed(bed.reader(reader).addr(), card).unwrap()
}

/// Waits for the first event matching `pred`, skipping others; panics after [`WAIT`].
pub async fn wait_for(
    rx: &mut broadcast::Receiver<ReaderEvent>,
    what: &str,
    pred: impl Fn(&ReaderEvent) -> bool,
) -> ReaderEvent {
    let fut = async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => {
                    panic!("event channel closed waiting for {what}")
                }
            }
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
}

pub fn inserted(reader: &str) -> impl Fn(&ReaderEvent) -> bool + '_ {
    move |e| matches!(e, ReaderEvent::CardInserted { reader: r, .. } if r == reader)
}

pub fn removed(reader: &str) -> impl Fn(&ReaderEvent) -> bool + '_ {
    move |e| matches!(e, ReaderEvent::CardRemoved { reader: r } if r == reader)
}

pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

pub const SELECT_AID: &str = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF";

/// Serialises the tests of one binary: a testbed has only two reader slots.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits until `reader` shows no card (a previous test's card may still be leaving).
pub async fn wait_empty(
    h: &medsettle_pcsc::ReaderHandle,
    rx: &mut broadcast::Receiver<ReaderEvent>,
    reader: &str,
) {
    let present = h
        .readers()
        .iter()
        .any(|r| r.name == reader && r.card_present);
    if present {
        wait_for(rx, "previous card to leave", removed(reader)).await;
    }
}

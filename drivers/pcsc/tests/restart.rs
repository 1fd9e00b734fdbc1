//! pcscd restarts under a live `ReaderHandle`: ServiceLost, ServiceRestored, the card is seen
//! again and read without recreating the handle. Its own test binary, because it kills the
//! pcscd of its testbed.

mod support;

use medsettle_pcsc::{InterfacePolicy, PcscError, ReaderConfig, ReaderEvent, ReaderHandle};
use support::*;

const READER: &str = "Restart ICC 00 00";

fn select(h: &ReaderHandle) -> impl std::future::Future<Output = Result<Vec<u8>, PcscError>> + '_ {
    h.with_card(InterfacePolicy::Contact, Some(READER.into()), WAIT, |t| {
        t.transmit(&support::h(SELECT_AID)).unwrap()
    })
}

#[tokio::test]
async fn recovers_from_pcscd_restart() {
    let bed = bed("Restart ICC");
    let h = ReaderHandle::spawn(ReaderConfig {
        service_retry_ms: 20,
        ..ReaderConfig::default()
    });
    let mut rx = h.subscribe();
    let card = insert(bed, READER, "normal");
    wait_for(&mut rx, "CardInserted", inserted(READER)).await;
    assert_eq!(select(&h).await.unwrap(), [0x90, 0x00]);

    // Crash pcscd (SIGKILL) and bring it back; the handle is never recreated.
    let bed2 = bed;
    tokio::task::spawn_blocking(move || bed2.stop_pcscd().unwrap())
        .await
        .unwrap();
    wait_for(&mut rx, "ServiceLost", |e| *e == ReaderEvent::ServiceLost).await;
    assert!(h.readers().is_empty());
    // A read requested while pcscd is down is served after it comes back.
    let h2 = h.clone();
    let pending = tokio::spawn(async move { select(&h2).await });
    tokio::task::spawn_blocking(move || bed2.start_pcscd().unwrap())
        .await
        .unwrap();
    wait_for(&mut rx, "ServiceRestored", |e| {
        *e == ReaderEvent::ServiceRestored
    })
    .await;
    wait_for(&mut rx, "CardInserted after restart", inserted(READER)).await;
    assert_eq!(pending.await.unwrap().unwrap(), [0x90, 0x00]);
    assert_eq!(select(&h).await.unwrap(), [0x90, 0x00]);
    assert!(
        card.sessions() >= 2,
        "the vcard reconnected to the new vpcd"
    );
    assert_eq!(h.stats().service_losses, 1);
    h.shutdown();
}

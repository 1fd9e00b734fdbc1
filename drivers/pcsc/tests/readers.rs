//! The PC/SC driver through the real stack: a private pcscd with one vpcd entry (two reader
//! slots) and virtual cards from `fixtures/cards/`. The two slots are shared, so tests take
//! `SERIAL`; each builds its own `ReaderHandle` (with its own slot rules) and synchronises on
//! reader events.

mod support;

use std::time::Duration;

use medsettle_card::{Interface, TransportError};
use medsettle_pcsc::{
    InterfacePolicy, PcscError, ReaderConfig, ReaderEvent, ReaderHandle, SlotKind, SlotRule,
};
use support::*;

const NAME: &str = "Virtual PCD";
const SLOT0: &str = "Virtual PCD 00 00";
const SLOT1: &str = "Virtual PCD 00 01";

/// A handle whose second slot is classified as `slot1` by a config rule.
fn handle(slot1: SlotKind) -> ReaderHandle {
    bed(NAME);
    ReaderHandle::spawn(ReaderConfig {
        slot_rules: vec![SlotRule {
            pattern: SLOT1.into(),
            kind: slot1,
        }],
        ..ReaderConfig::default()
    })
}

#[tokio::test]
async fn enumerates_and_classifies_readers() {
    let _serial = SERIAL.lock().await;
    let bed = bed(NAME);
    let plain = ReaderHandle::spawn(ReaderConfig::default());
    assert!(plain.service_available());
    let names: Vec<String> = plain.readers().into_iter().map(|r| r.name).collect();
    let expected: Vec<String> = bed.readers().iter().map(|r| r.name.clone()).collect();
    assert_eq!(names, expected);
    assert!(
        plain.readers().iter().all(|r| r.slot == SlotKind::Contact),
        "vpcd names default to contact"
    );
    let h = handle(SlotKind::Sam);
    let kinds: Vec<SlotKind> = h.readers().into_iter().map(|r| r.slot).collect();
    assert_eq!(
        kinds,
        [SlotKind::Contact, SlotKind::Sam],
        "config rule wins"
    );
}

#[tokio::test]
async fn card_insert_and_remove_events() {
    let _serial = SERIAL.lock().await;
    let h = handle(SlotKind::Contactless);
    let bed = bed(NAME);
    let mut rx = h.subscribe();
    wait_empty(&h, &mut rx, SLOT0).await;
    let card = card_for(bed, SLOT0, "normal");
    card.insert();
    let ev = wait_for(&mut rx, "CardInserted", inserted(SLOT0)).await;
    let expected_atr = support::h("3B6A00004D534554544C45303031");
    assert_eq!(
        ev,
        ReaderEvent::CardInserted {
            reader: SLOT0.into(),
            slot: SlotKind::Contact,
            atr: expected_atr.clone()
        }
    );
    let info = h.readers().into_iter().find(|r| r.name == SLOT0).unwrap();
    assert!(info.card_present);
    assert_eq!(info.atr, Some(expected_atr));
    card.remove();
    wait_for(&mut rx, "CardRemoved", removed(SLOT0)).await;
    assert!(
        !h.readers()
            .into_iter()
            .find(|r| r.name == SLOT0)
            .unwrap()
            .card_present
    );
    // Hot-plug is repeatable, and dropping the card is a removal too.
    card.insert();
    wait_for(&mut rx, "CardInserted again", inserted(SLOT0)).await;
    drop(card);
    wait_for(&mut rx, "CardRemoved on drop", removed(SLOT0)).await;
}

#[tokio::test]
async fn select_and_read_records_in_one_transaction() {
    let _serial = SERIAL.lock().await;
    let h = handle(SlotKind::Contactless);
    let bed = bed(NAME);
    let mut rx = h.subscribe();
    wait_empty(&h, &mut rx, SLOT0).await;
    let card = insert(bed, SLOT0, "normal");
    let (atr, interface, answers) = h
        .with_card(InterfacePolicy::Contact, Some(SLOT0.into()), WAIT, |t| {
            let mut answers = Vec::new();
            for apdu in [
                SELECT_AID,
                "00A4020002EF05",
                "00B2010400",
                "00B2070000",
                "00A4020002EF06",
                "00B2020400",
            ] {
                answers.push(t.transmit(&support::h(apdu)).unwrap());
            }
            (t.atr().to_vec(), t.interface(), answers)
        })
        .await
        .unwrap();
    assert_eq!(atr, support::h("3B6A00004D534554544C45303031"));
    assert_eq!(interface, Interface::Contact);
    assert_eq!(answers[0], [0x90, 0x00]);
    assert_eq!(answers[1], [0x90, 0x00]);
    let ef05 = support::profile("normal").ef05_data().unwrap();
    let ef06 = support::profile("normal").ef06_data().unwrap();
    assert_eq!(
        answers[2][..answers[2].len() - 2],
        ef05.by_number(1).unwrap().bytes[..]
    );
    assert_eq!(
        answers[3][..answers[3].len() - 2],
        ef05.by_tag(0x07).unwrap().bytes[..]
    );
    assert_eq!(
        answers[5][..answers[5].len() - 2],
        ef06.by_number(2).unwrap().bytes[..]
    );
    assert_eq!(card.apdu_count(), 6);
    let stats = h.stats();
    assert_eq!(stats.jobs_run, 1);
    assert_eq!(stats.apdus, 6);
}

#[tokio::test]
async fn policy_prefers_contactless_and_waits_for_a_card() {
    let _serial = SERIAL.lock().await;
    let h = handle(SlotKind::Contactless);
    let bed = bed(NAME);
    let mut rx = h.subscribe();
    wait_empty(&h, &mut rx, SLOT0).await;
    wait_empty(&h, &mut rx, SLOT1).await;
    // Nothing on the contactless slot: contactless-only waits, then times out.
    let err = h
        .with_card(
            InterfacePolicy::Contactless,
            None,
            Duration::from_millis(300),
            |_| (),
        )
        .await
        .unwrap_err();
    assert_eq!(err, PcscError::NoCard(Duration::from_millis(300)));
    // Cards on both slots: iType 4 takes the contactless one, iType 3 the contact one.
    let _contact = insert(bed, SLOT0, "normal");
    let contactless = card_for(bed, SLOT1, "contactless");
    wait_for(&mut rx, "contact card", inserted(SLOT0)).await;
    // A request issued before the contactless card arrives is served when it does.
    let h2 = h.clone();
    let job = tokio::spawn(async move {
        h2.with_card(InterfacePolicy::Contactless, None, WAIT, |t| {
            (
                t.interface(),
                t.atr().to_vec(),
                t.transmit(&support::h(SELECT_AID)).unwrap(),
            )
        })
        .await
    });
    contactless.insert();
    let (interface, atr, sw) = job.await.unwrap().unwrap();
    assert_eq!(interface, Interface::Contactless);
    assert_eq!(atr, support::h("3B8A80014D534554544C452D434C7B"));
    assert_eq!(sw, [0x90, 0x00]);
    let first = |policy| h.with_card(policy, None, WAIT, |t| t.interface());
    assert_eq!(
        first(InterfacePolicy::AutoContactless).await.unwrap(),
        Interface::Contactless
    );
    assert_eq!(
        first(InterfacePolicy::AutoContact).await.unwrap(),
        Interface::Contact
    );
}

#[tokio::test]
async fn unknown_reader_is_reported() {
    let _serial = SERIAL.lock().await;
    let h = handle(SlotKind::Contact);
    let err = h
        .with_card(
            InterfacePolicy::Contact,
            Some("No Such Reader 00 00".into()),
            Duration::from_millis(100),
            |_| (),
        )
        .await
        .unwrap_err();
    assert_eq!(err, PcscError::UnknownReader("No Such Reader 00 00".into()));
}

#[tokio::test]
async fn card_removed_mid_transaction_on_a_sam_slot() {
    let _serial = SERIAL.lock().await;
    let h = handle(SlotKind::Sam);
    let bed = bed(NAME);
    let mut rx = h.subscribe();
    wait_empty(&h, &mut rx, SLOT1).await;
    let _card = insert(bed, SLOT1, "removed_mid_read");
    wait_for(&mut rx, "CardInserted", inserted(SLOT1)).await;
    let results = h
        .with_card(InterfacePolicy::Contact, Some(SLOT1.into()), WAIT, |t| {
            [
                SELECT_AID,
                "00A4020002EF05",
                "00B2010400",
                "00B2020400",
                "00B2030400",
            ]
            .iter()
            .map(|a| t.transmit(&support::h(a)))
            .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert!(
        results[..3]
            .iter()
            .all(|r| r.as_ref().is_ok_and(|v| v.ends_with(&[0x90, 0x00])))
    );
    assert_eq!(results[3], Err(TransportError::CardRemoved));
    wait_for(&mut rx, "CardRemoved", removed(SLOT1)).await;
    // With the card gone the next request finds nothing.
    let err = h
        .with_card(
            InterfacePolicy::Contact,
            Some(SLOT1.into()),
            Duration::from_millis(100),
            |_| (),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PcscError::NoCard(_)));
}

#[tokio::test]
async fn shutdown_fails_pending_jobs() {
    let _serial = SERIAL.lock().await;
    let h = handle(SlotKind::Contact);
    let mut rx = h.subscribe();
    wait_empty(&h, &mut rx, SLOT0).await;
    let (tx, started) = tokio::sync::oneshot::channel();
    let h2 = h.clone();
    let job = tokio::spawn(async move {
        let fut = h2.with_card(InterfacePolicy::Contact, Some(SLOT0.into()), WAIT, |_| ());
        let _ = tx.send(());
        fut.await
    });
    started.await.unwrap();
    tokio::task::spawn_blocking(move || h.shutdown())
        .await
        .unwrap();
    assert_eq!(job.await.unwrap(), Err(PcscError::Shutdown));
}

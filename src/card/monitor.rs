//! Turns a reader stack's [`DeviceEvent`]s into bus events for `/v1/events` and into the
//! `readers` component of `/v1/status`.
//!
//! It keeps its own picture of the readers from the events (plus one initial listing), so the
//! status answer never has to ask the reader thread. It must not touch cards: it only watches.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::access::{CardReaders, DeviceEvent, SlotInfo, SlotKind};
use crate::events::EventBus;
use crate::status::{Health, StatusBoard};

/// The status component name.
pub const COMPONENT: &str = "readers";

/// What the monitor knows about one reader.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    kind: SlotKind,
    card: bool,
}

/// Watches `readers` until `stop` is cancelled.
pub async fn run(
    readers: Arc<dyn CardReaders>,
    bus: EventBus,
    status: Arc<StatusBoard>,
    stop: CancellationToken,
) {
    let mut feed = readers.subscribe();
    let mut known: BTreeMap<String, Known> = BTreeMap::new();
    let mut service_up = true;
    match readers.slots().await {
        Ok(slots) => known.extend(slots.into_iter().map(known_from)),
        Err(e) => {
            service_up = false;
            tracing::warn!(error = %e, "card readers unavailable at start");
        }
    }
    report(&status, &known, service_up, readers.name());
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            e = feed.recv() => e,
        };
        let event = match event {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "reader events lagged; re-reading the slots");
                if let Ok(slots) = readers.slots().await {
                    known = slots.into_iter().map(known_from).collect();
                }
                report(&status, &known, service_up, readers.name());
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        apply(&event, &mut known, &mut service_up);
        publish(&bus, &event);
        report(&status, &known, service_up, readers.name());
    }
}

fn known_from(s: SlotInfo) -> (String, Known) {
    (
        s.reader,
        Known {
            kind: s.kind,
            card: s.card_present,
        },
    )
}

fn apply(event: &DeviceEvent, known: &mut BTreeMap<String, Known>, service_up: &mut bool) {
    match event {
        DeviceEvent::ReaderAdded { reader, kind } => {
            known.insert(
                reader.clone(),
                Known {
                    kind: *kind,
                    card: false,
                },
            );
        }
        DeviceEvent::ReaderRemoved { reader } => {
            known.remove(reader);
        }
        DeviceEvent::CardInserted { reader, kind, .. } => {
            known
                .entry(reader.clone())
                .or_insert(Known {
                    kind: *kind,
                    card: false,
                })
                .card = true;
        }
        DeviceEvent::CardRemoved { reader } => {
            if let Some(k) = known.get_mut(reader) {
                k.card = false;
            }
        }
        DeviceEvent::ServiceLost => {
            *service_up = false;
            known.clear();
        }
        DeviceEvent::ServiceRestored => *service_up = true,
    }
}

/// The bus topic and data of a device event. ATRs and reader names are not personal data.
pub fn topic_and_data(event: &DeviceEvent) -> (&'static str, serde_json::Value) {
    match event {
        DeviceEvent::ReaderAdded { reader, kind } => {
            ("reader.added", json!({ "reader": reader, "kind": kind }))
        }
        DeviceEvent::ReaderRemoved { reader } => ("reader.removed", json!({ "reader": reader })),
        DeviceEvent::CardInserted { reader, kind, atr } => (
            "card.inserted",
            json!({ "reader": reader, "kind": kind, "atr": atr }),
        ),
        DeviceEvent::CardRemoved { reader } => ("card.removed", json!({ "reader": reader })),
        DeviceEvent::ServiceLost => ("reader.service_lost", json!({})),
        DeviceEvent::ServiceRestored => ("reader.service_restored", json!({})),
    }
}

fn publish(bus: &EventBus, event: &DeviceEvent) {
    let (topic, data) = topic_and_data(event);
    bus.publish(topic, data);
}

fn report(status: &StatusBoard, known: &BTreeMap<String, Known>, service_up: bool, name: &str) {
    if !service_up {
        status.set(
            COMPONENT,
            Health::Down,
            format!("{name}: reader service unavailable (pcscd); retrying"),
        );
        return;
    }
    let patient_slots = known.values().filter(|k| k.kind != SlotKind::Sam).count();
    let cards = known
        .values()
        .filter(|k| k.card && k.kind != SlotKind::Sam)
        .count();
    let list: Vec<String> = known
        .iter()
        .map(|(r, k)| format!("{r} ({}{})", k.kind, if k.card { ", card" } else { "" }))
        .collect();
    let (health, detail) = if patient_slots == 0 {
        (
            Health::Degraded,
            format!("{name}: no card reader connected"),
        )
    } else {
        (
            Health::Ok,
            format!(
                "{name}: {} slot(s), {cards} card(s): {}",
                known.len(),
                list.join("; ")
            ),
        )
    };
    status.set(COMPONENT, health, detail);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_update_the_picture() {
        let mut known = BTreeMap::new();
        let mut up = true;
        let r = "Virtual PCD 00 00".to_owned();
        apply(
            &DeviceEvent::ReaderAdded {
                reader: r.clone(),
                kind: SlotKind::Contact,
            },
            &mut known,
            &mut up,
        );
        apply(
            &DeviceEvent::CardInserted {
                reader: r.clone(),
                kind: SlotKind::Contact,
                atr: "3B".into(),
            },
            &mut known,
            &mut up,
        );
        assert!(known[&r].card);
        apply(
            &DeviceEvent::CardRemoved { reader: r.clone() },
            &mut known,
            &mut up,
        );
        assert!(!known[&r].card);
        apply(&DeviceEvent::ServiceLost, &mut known, &mut up);
        assert!(!up && known.is_empty());
        apply(&DeviceEvent::ServiceRestored, &mut known, &mut up);
        assert!(up);
    }

    #[test]
    fn topics_are_stable() {
        let (t, d) = topic_and_data(&DeviceEvent::CardInserted {
            reader: "R".into(),
            kind: SlotKind::Contactless,
            atr: "3B8F".into(),
        });
        assert_eq!(t, "card.inserted");
        assert_eq!(d["kind"], "contactless");
        assert_eq!(
            topic_and_data(&DeviceEvent::ServiceLost).0,
            "reader.service_lost"
        );
    }
}

//! Credentials this terminal has just read or scanned, held briefly under an id the cashier
//! software passes to `POST /v1/sales` (`credential_id`). A sale can only be made with a
//! credential this daemon itself read or verified — never with card data typed or forged by a
//! client. Bounded (oldest evicted) and short-lived; in memory only, never logged.
//!
//! The cache is also where the intake's typed channel starts: every code the QR service
//! processed is posted here ([`Credentials::post_scan`]) for [`super::intake::Intake`] waiters.
//! Each held credential is announced as a masked `credential.ready` event for SSE clients;
//! nothing here reads a device or decides what a sale may do.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use medsettle_base::pii::{mask_id, mask_name};
use medsettle_card::CardRecord;
use medsettle_essc::EsscIdentity;
use tokio::sync::broadcast;

use super::evoucher::EVoucherCode;
use super::scan::ScanResult;
use crate::events::EventBus;

/// How many credentials are held at most.
const CAPACITY: usize = 256;
/// How long one is held.
const TTL: Duration = Duration::from_secs(600);
/// How many processed codes a slow waiter may fall behind.
const SCAN_BACKLOG: usize = 16;

/// A credential as read.
#[derive(Clone)]
pub enum Fresh {
    Card(CardRecord),
    Essc(EsscIdentity),
    EVoucher(EVoucherCode),
}

impl Fresh {
    /// `card`, `essc` or `evoucher`.
    pub fn kind(&self) -> &'static str {
        match self {
            Fresh::Card(_) => "card",
            Fresh::Essc(_) => "essc",
            Fresh::EVoucher(_) => "evoucher",
        }
    }

    /// Masked, for the `credential.ready` event.
    pub fn summary(&self) -> serde_json::Value {
        match self {
            Fresh::Card(r) => serde_json::json!({
                "kind": "card",
                "card_no": mask_id(&r.card_no),
                "name": r.holder.as_ref().map(|h| mask_name(&h.name)),
            }),
            Fresh::Essc(e) => serde_json::json!({
                "kind": "essc",
                "id_number": e.sn.masked(),
                "name": e.name.masked(),
            }),
            Fresh::EVoucher(_) => serde_json::json!({ "kind": "evoucher" }),
        }
    }
}

/// Held credentials by id, and the ids oldest first.
type Held = (HashMap<String, (Instant, Fresh)>, VecDeque<String>);

/// The cache.
pub struct Credentials {
    inner: Mutex<Held>,
    /// Where `credential.ready` is published (masked), when set.
    events: Option<EventBus>,
    /// The intake's typed channel: every processed code, accepted or refused.
    scans: broadcast::Sender<Arc<ScanResult>>,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            inner: Mutex::default(),
            events: None,
            scans: broadcast::channel(SCAN_BACKLOG).0,
        }
    }
}

impl Credentials {
    /// A cache that announces each new credential as a `credential.ready` event (masked: the
    /// id to make a sale with, the kind, a masked card number or ID number).
    pub fn with_events(events: EventBus) -> Credentials {
        Credentials {
            events: Some(events),
            ..Credentials::default()
        }
    }

    /// Holds `credential` and returns its id.
    pub fn insert(&self, credential: Fresh) -> String {
        let id = format!("C{}", hex::encode(rand::random::<[u8; 12]>()));
        if let Some(bus) = &self.events {
            bus.publish(
                "credential.ready",
                serde_json::json!({ "credential_id": id, "credential": credential.summary() }),
            );
        }
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *guard;
        while order.len() >= CAPACITY {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
        map.insert(id.clone(), (Instant::now(), credential));
        order.push_back(id.clone());
        id
    }

    /// The credential under `id`, if still held.
    pub fn get(&self, id: &str) -> Option<Fresh> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .0
            .get(id)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, c)| c.clone())
    }

    /// Hands a processed code (its credential, if valid, already held) to every intake waiter.
    pub fn post_scan(&self, scan: Arc<ScanResult>) {
        // No waiter is not an error: nobody is waiting.
        let _ = self.scans.send(scan);
    }

    /// The typed channel, from now on.
    pub(super) fn scans(&self) -> broadcast::Receiver<Arc<ScanResult>> {
        self.scans.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(n: usize) -> Fresh {
        Fresh::EVoucher(EVoucherCode::parse(&format!("{:0>40}", n)).unwrap())
    }

    #[test]
    fn held_by_id_and_bounded() {
        let c = Credentials::default();
        let first = c.insert(code(1));
        assert!(c.get(&first).is_some());
        assert!(c.get("C000").is_none());
        for i in 0..CAPACITY {
            c.insert(code(i + 2));
        }
        assert!(c.get(&first).is_none(), "the oldest is evicted");
        assert_eq!(c.inner.lock().unwrap().0.len(), CAPACITY);
    }

    #[tokio::test]
    async fn each_held_credential_is_announced_masked() {
        let bus = EventBus::default();
        let mut feed = bus.subscribe(None);
        let c = Credentials::with_events(bus);
        let id = c.insert(code(7));
        let e = feed.live.recv().await.unwrap();
        assert_eq!(e.topic, "credential.ready");
        assert_eq!(e.data["credential_id"], id.as_str());
        assert_eq!(
            e.data["credential"],
            serde_json::json!({ "kind": "evoucher" })
        );
    }
}

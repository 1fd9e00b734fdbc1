//! Credentials this terminal has just read or scanned, held briefly under an id the cashier
//! software passes to `POST /v1/sales` (`credential_id`). A sale can only be made with a
//! credential this daemon itself read or verified — never with card data typed or forged by a
//! client. Bounded (oldest evicted) and short-lived; in memory only, never logged.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::card::CardRecord;
use crate::qr::essc::EsscIdentity;
use crate::qr::evoucher::EVoucherCode;

/// How many credentials are held at most.
const CAPACITY: usize = 256;
/// How long one is held.
const TTL: Duration = Duration::from_secs(600);

/// A credential as read.
#[derive(Clone)]
pub enum Fresh {
    Card(CardRecord),
    Essc(EsscIdentity),
    EVoucher(EVoucherCode),
}

/// Held credentials by id, and the ids oldest first.
type Held = (HashMap<String, (Instant, Fresh)>, VecDeque<String>);

/// The cache.
#[derive(Default)]
pub struct Credentials {
    inner: Mutex<Held>,
    /// Where `credential.ready` is published (masked), when set.
    events: Option<crate::events::EventBus>,
}

impl Credentials {
    /// A cache that announces each new credential as a `credential.ready` event (masked: the
    /// id to make a sale with, the kind, a masked card number or ID number).
    pub fn with_events(events: crate::events::EventBus) -> Credentials {
        Credentials {
            events: Some(events),
            ..Credentials::default()
        }
    }

    /// Holds `credential` and returns its id.
    pub fn insert(&self, credential: Fresh) -> String {
        let id = format!("C{}", hex::encode(rand::random::<[u8; 12]>()));
        if let Some(bus) = &self.events {
            use crate::telemetry::pii::{mask_id, mask_name};
            let summary = match &credential {
                Fresh::Card(r) => serde_json::json!({
                    "kind": "card",
                    "card_no": mask_id(&r.card_no),
                    "name": r.holder.as_ref().map(|h| mask_name(&h.name)),
                }),
                Fresh::Essc(e) => serde_json::json!({
                    "kind": "essc",
                    "id_number": mask_id(e.sn.expose()),
                    "name": mask_name(e.name.expose()),
                }),
                Fresh::EVoucher(_) => serde_json::json!({ "kind": "evoucher" }),
            };
            bus.publish(
                "credential.ready",
                serde_json::json!({ "credential_id": id, "credential": summary }),
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
}

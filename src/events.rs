//! The daemon's event bus: everything a cashier program or kiosk UI may want to react to
//! (card inserted, card read, reader gone, QR scans, sale and kiosk state changes) is published
//! here once and fanned out to every `/v1/events` subscriber.
//!
//! Events are numbered from 1 in publication order. The last [`REPLAY`] events are kept so a
//! client that reconnects with `Last-Event-ID` misses nothing that is still held; a client that
//! fell further behind is told so (`events.lagged`) and should re-read state. Memory is bounded
//! both ways: the replay ring has a fixed size and each subscriber's backlog is bounded by the
//! broadcast channel. Event data never carries raw personal data: publishers put masked values
//! in it (`MaskedId`, `MaskedName`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::status::now_ms;

/// How many past events a reconnecting client can catch up on.
pub const REPLAY: usize = 512;
/// How many events a slow subscriber may fall behind before it is told it lagged.
const BACKLOG: usize = 256;

/// One published event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    /// Position in the daemon's event sequence, from 1; the SSE `id:`.
    pub id: u64,
    /// Topic, dotted: `card.inserted`, `card.read`, `reader.removed`, …; the SSE `event:`.
    pub topic: &'static str,
    /// When it was published, unix milliseconds.
    pub at_ms: i64,
    /// Topic-specific data, already masked.
    pub data: serde_json::Value,
}

impl Event {
    /// Whether the event matches a topic filter: an exact topic (`card.read`), a family
    /// (`card` or `card.*`) or `*`.
    pub fn matches(&self, filter: &str) -> bool {
        let family = filter.strip_suffix(".*").unwrap_or(filter);
        filter == "*"
            || self.topic == filter
            || self
                .topic
                .strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

struct Inner {
    next_id: u64,
    ring: VecDeque<Arc<Event>>,
}

/// The bus. Cheap to clone; all clones publish into the same sequence.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Mutex<Inner>>,
    tx: broadcast::Sender<Arc<Event>>,
    closed: CancellationToken,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            inner: Arc::new(Mutex::new(Inner {
                next_id: 1,
                ring: VecDeque::with_capacity(REPLAY),
            })),
            tx: broadcast::channel(BACKLOG).0,
            closed: CancellationToken::new(),
        }
    }
}

/// What a new subscriber gets: the held events it asked to replay, then the live feed.
pub struct Subscription {
    /// Events after the client's `Last-Event-ID` that are still held, oldest first.
    pub replay: Vec<Arc<Event>>,
    /// True when the client asked to resume from an event that is no longer held.
    pub gap: bool,
    /// Live events published after the replay.
    pub live: broadcast::Receiver<Arc<Event>>,
    /// Cancelled when the daemon shuts down; streams end then.
    pub closed: CancellationToken,
}

impl EventBus {
    /// Publishes an event and returns its id.
    pub fn publish(&self, topic: &'static str, data: serde_json::Value) -> u64 {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let id = inner.next_id;
        inner.next_id += 1;
        let event = Arc::new(Event {
            id,
            topic,
            at_ms: now_ms(),
            data,
        });
        if inner.ring.len() == REPLAY {
            inner.ring.pop_front();
        }
        inner.ring.push_back(Arc::clone(&event));
        // Sending under the lock keeps the live order equal to the id order. No receivers is
        // not an error: nobody is listening.
        let _ = self.tx.send(event);
        id
    }

    /// Subscribes, replaying what is held after `last_seen` (the client's `Last-Event-ID`).
    pub fn subscribe(&self, last_seen: Option<u64>) -> Subscription {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let live = self.tx.subscribe();
        let (replay, gap) = match last_seen {
            None => (Vec::new(), false),
            Some(seen) => {
                let replay: Vec<_> = inner.ring.iter().filter(|e| e.id > seen).cloned().collect();
                let oldest_held = inner.ring.front().map_or(inner.next_id, |e| e.id);
                (replay, seen + 1 < oldest_held && seen < inner.next_id)
            }
        };
        Subscription {
            replay,
            gap,
            live,
            closed: self.closed.clone(),
        }
    }

    /// The id the next event will get.
    pub fn next_id(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).next_id
    }

    /// Ends every subscriber's stream (shutdown).
    pub fn close(&self) {
        self.closed.cancel();
    }

    /// How many subscribers are connected.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_sequential_and_live_subscribers_see_them_in_order() {
        let bus = EventBus::default();
        let mut sub = bus.subscribe(None);
        assert!(sub.replay.is_empty());
        for i in 0..5 {
            assert_eq!(bus.publish("card.inserted", json!({ "n": i })), i + 1);
        }
        for i in 1..=5 {
            assert_eq!(sub.live.try_recv().unwrap().id, i);
        }
    }

    #[test]
    fn resume_replays_only_what_follows_last_seen() {
        let bus = EventBus::default();
        for _ in 0..10 {
            bus.publish("card.read", json!({}));
        }
        let sub = bus.subscribe(Some(7));
        let ids: Vec<u64> = sub.replay.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![8, 9, 10]);
        assert!(!sub.gap);
        assert!(bus.subscribe(Some(10)).replay.is_empty());
    }

    #[test]
    fn the_ring_is_bounded_and_a_gap_is_reported() {
        let bus = EventBus::default();
        for _ in 0..(REPLAY + 20) {
            bus.publish("card.removed", json!({}));
        }
        let sub = bus.subscribe(Some(3));
        assert_eq!(sub.replay.len(), REPLAY);
        assert_eq!(sub.replay[0].id, 21);
        assert!(sub.gap);
        // Resuming exactly at the oldest held event's predecessor is not a gap.
        assert!(!bus.subscribe(Some(20)).gap);
    }

    #[test]
    fn filters_match_topics_and_families() {
        let e = Event {
            id: 1,
            topic: "card.read",
            at_ms: 0,
            data: json!(null),
        };
        for f in ["card.read", "card", "card.*", "*"] {
            assert!(e.matches(f), "{f}");
        }
        for f in ["card.removed", "car", "cardx", "reader"] {
            assert!(!e.matches(f), "{f}");
        }
    }
}

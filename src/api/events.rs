//! `GET /v1/events`: the event bus as Server-Sent Events.
//!
//! Query `topics=card,reader.removed` filters (families or exact topics; default all): a
//! pharmacy sale's changes are `sale.state`, an outpatient visit's `visit.state` (`topics=visit`
//! follows visits only), both carrying the masked view the book published. A client
//! that reconnects sends `Last-Event-ID` (browsers do this by themselves) or `?last_event_id=`
//! and first receives the held events it missed. Missing events it can no longer get are
//! announced as an `events.lagged` event so it re-reads state instead of trusting a partial
//! picture. Streams end when the daemon shuts down, so they never hold up the drain.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::{ApiError, AppState};
use crate::events::{Event, Subscription};

/// Keep-alive comment interval: below common proxy idle timeouts.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    topics: Option<String>,
    last_event_id: Option<u64>,
}

pub(super) async fn events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return ApiError::bad_request(
            "topics: a comma-separated list of topics; last_event_id: an event id",
        )
        .into_response();
    };
    let last_seen = match headers.get("last-event-id") {
        Some(v) => match v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(id) => Some(id),
            None => {
                return ApiError::bad_request("Last-Event-ID must be an event id (a number)")
                    .into_response();
            }
        },
        None => query.last_event_id,
    };
    let filters: Vec<String> = query
        .topics
        .as_deref()
        .unwrap_or("*")
        .split(',')
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    let sub = state.events.subscribe(last_seen);
    Sse::new(stream_of(sub, filters))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

enum Step {
    Replay(std::vec::IntoIter<Arc<Event>>, bool),
    Live,
}

struct Feed {
    live: tokio::sync::broadcast::Receiver<Arc<Event>>,
    closed: tokio_util::sync::CancellationToken,
    filters: Vec<String>,
    step: Step,
}

fn stream_of(
    sub: Subscription,
    filters: Vec<String>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let Subscription {
        replay,
        gap,
        live,
        closed,
    } = sub;
    let feed = Feed {
        live,
        closed,
        filters,
        step: Step::Replay(replay.into_iter(), gap),
    };
    stream::unfold(feed, |mut feed| async move {
        loop {
            match &mut feed.step {
                Step::Replay(_, gap @ true) => {
                    *gap = false;
                    return Some((Ok(lagged(None)), feed));
                }
                Step::Replay(events, false) => match events.next() {
                    Some(e) if feed.wants(&e) => return Some((Ok(to_sse(&e)), feed)),
                    Some(_) => continue,
                    None => feed.step = Step::Live,
                },
                Step::Live => {
                    let next = tokio::select! {
                        _ = feed.closed.cancelled() => return None,
                        next = feed.live.recv() => next,
                    };
                    match next {
                        Ok(e) if feed.wants(&e) => return Some((Ok(to_sse(&e)), feed)),
                        Ok(_) => continue,
                        Err(RecvError::Lagged(missed)) => {
                            return Some((Ok(lagged(Some(missed))), feed));
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            }
        }
    })
}

impl Feed {
    fn wants(&self, e: &Event) -> bool {
        self.filters.iter().any(|f| e.matches(f))
    }
}

fn to_sse(e: &Event) -> SseEvent {
    let body = serde_json::to_string(e).unwrap_or_else(|_| "{}".to_owned());
    SseEvent::default()
        .id(e.id.to_string())
        .event(e.topic)
        .data(body)
}

/// Tells the client it missed events (`missed` when known) and should re-read state.
fn lagged(missed: Option<u64>) -> SseEvent {
    let data = serde_json::json!({
        "topic": "events.lagged",
        "data": {
            "missed": missed,
            "message_zh": "事件推送中断，部分事件已丢失，请刷新当前状态。",
            "message_en": "Some events were missed; re-read the current state.",
        }
    });
    SseEvent::default()
        .event("events.lagged")
        .data(data.to_string())
}

//! `log.format = "json"`: one JSON object per line for log shippers, e.g.
//! `{"timestamp":"…Z","level":"WARN","target":"medsettle::upstream::client","message":"…",
//! "fields":{"infno":"2102","msgid":"…"}}`. Fields keep their types; the call site's fields go
//! under `fields` so that none can overwrite the envelope. The line is written through
//! [`super::ScrubbingWriter`] like every other format, so ID-shaped text is masked.

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::fields::Fields;

/// The JSON lines event format.
pub struct JsonFormat;

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        writeln!(writer, "{}", line(event, chrono::Utc::now()))
    }
}

/// The JSON object for `event` at `now` (without the newline).
pub fn line(event: &Event<'_>, now: chrono::DateTime<chrono::Utc>) -> String {
    let meta = event.metadata();
    let f = Fields::of(event);
    let fields: serde_json::Map<String, serde_json::Value> = f
        .fields
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    serde_json::json!({
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "level": meta.level().as_str(),
        "target": meta.target(),
        "message": f.message,
        "fields": fields,
    })
    .to_string()
}

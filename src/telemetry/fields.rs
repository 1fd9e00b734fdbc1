//! An event's fields as data, for the structured outputs (JSON lines, the journal's native
//! protocol): the message apart, every other field by name with its type kept (numbers stay
//! numbers in JSON). Values are not masked here; each output scrubs what it writes.

use std::fmt;

use serde_json::Value;
use tracing::Event;
use tracing::field::{Field, Visit};

/// The fields of one event.
#[derive(Debug, Default)]
pub struct Fields {
    /// The `message` field (the format string's text), empty when there was none.
    pub message: String,
    /// Every other field, in the order the call site wrote them.
    pub fields: Vec<(&'static str, Value)>,
}

impl Fields {
    /// Collects `event`'s fields.
    pub fn of(event: &Event<'_>) -> Fields {
        let mut f = Fields::default();
        event.record(&mut f);
        f
    }

    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.fields.push((field.name(), value));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

/// A field's value as text: strings as they are, anything else in its JSON form.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

//! Turning TOML and serde failures into [`ConfigError`]s that carry a key path and a line.
//!
//! Syntax errors come from `toml_edit` (with a byte span), type and unknown-key errors from
//! serde through `serde_path_to_error` (with the key path), and validation findings are placed
//! on the line of their key by walking the parsed document.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml_edit::{ImDocument, Item};

use super::error::{ConfigError, ConfigErrors};

/// Deserialises `text` strictly; the error names the key and line.
pub(crate) fn deserialize<T: DeserializeOwned>(text: &str) -> Result<T, ConfigErrors> {
    if let Err(e) = ImDocument::parse(text) {
        let line = e.span().map(|s| line_of(text, s.start));
        let message = e.message().trim().to_owned();
        return Err(ConfigErrors::single(ConfigError::new(
            None,
            line,
            format!("TOML syntax error: {message}"),
        )));
    }
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.message().trim().to_owned();
        let mut key = if path == "." { None } else { Some(path) };
        // serde reports unknown and missing fields at the table that holds them; name the
        // field itself.
        if let Some(field) = field_named_in(&message) {
            key = Some(match key {
                Some(k) if k == field || k.ends_with(&format!(".{field}")) => k,
                Some(parent) => format!("{parent}.{field}"),
                None => field.to_owned(),
            });
        }
        let line = inner
            .span()
            .map(|s| line_of(text, s.start))
            .or_else(|| key.as_deref().and_then(|k| line_of_key(text, k)));
        ConfigErrors::single(ConfigError::new(key, line, message))
    })
}

/// Puts validation findings (key path, message) on their lines.
pub(crate) fn place(text: &str, problems: Vec<(String, String)>) -> ConfigErrors {
    ConfigErrors(
        problems
            .into_iter()
            .map(|(key, message)| {
                let line = line_of_key(text, &key);
                ConfigError::new(Some(key), line, message)
            })
            .collect(),
    )
}

/// The field named in serde's "unknown field `x`" and "missing field `x`" messages.
fn field_named_in(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next()
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The line where the dotted `key` is written. A key that is missing is placed on the line of
/// its closest written ancestor (usually the `[section]` header), so "required with …" errors
/// still point somewhere useful; `None` when not even the section is written.
pub(crate) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let doc = ImDocument::parse(text).ok()?;
    let mut table = doc.as_table() as &dyn toml_edit::TableLike;
    let parts: Vec<&str> = key.split('.').collect();
    let mut span: Option<Range<usize>> = None;
    for (i, part) in parts.iter().enumerate() {
        let Some((k, item)) = table.get_key_value(part) else {
            break;
        };
        span = k.span().or_else(|| item.span()).or(span);
        if i + 1 < parts.len() {
            table = match item {
                Item::Table(t) => t as &dyn toml_edit::TableLike,
                Item::Value(toml_edit::Value::InlineTable(t)) => t as &dyn toml_edit::TableLike,
                _ => break,
            };
        }
    }
    span.map(|s| line_of(text, s.start))
}

//! Turning TOML and serde failures into [`ConfigError`]s that carry a key path and a line.
//!
//! Syntax errors come from `toml_edit` (with a byte span), type and unknown-key errors from
//! serde through `serde_path_to_error` (with the key path), and validation findings are placed
//! on the line of their key by walking the parsed document.
//!
//! serde stops at the first problem, which made an operator fix a file one error per run. So
//! [`deserialize`] keeps going on a scratch copy of the document: it notes the error, takes the
//! offending key out (unknown key, bad value) or puts a stand-in where a key is missing, and
//! tries again, until the copy parses or nothing more can be patched. Every error is reported
//! on its line in the original text; problems inside a missing section are reported as the
//! section only.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml_edit::{ImDocument, Item};

use super::error::{ConfigError, ConfigErrors};

/// At most this many problems are collected from one file (each costs a parse).
const MAX_ERRORS: usize = 50;

/// Deserialises `text` strictly; the errors (all of them, see the module docs) name the key
/// and line.
pub(crate) fn deserialize<T: DeserializeOwned>(text: &str) -> Result<T, ConfigErrors> {
    let doc = match text.parse::<toml_edit::DocumentMut>() {
        Ok(d) => d,
        Err(e) => {
            let line = e.span().map(|s| line_of(text, s.start));
            let message = e.message().trim().to_owned();
            return Err(ConfigErrors::single(ConfigError::new(
                None,
                line,
                format!("TOML syntax error: {message}"),
            )));
        }
    };
    let first = match attempt::<T>(text, text, true) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    // Each error, and whether it is the operator's (not one inside a stand-in).
    let mut found = vec![(first, true)];
    let mut scratch = doc;
    // Keys given a stand-in value or taken out whole: errors inside them are not reported.
    let mut stand_ins: Vec<String> = Vec::new();
    while found.len() < MAX_ERRORS {
        let last = &found.last().expect("at least one error").0;
        let Some(key) = last.key.clone() else { break };
        let message = last.message.clone();
        if !patch::<T>(&mut scratch, &key, &message, &mut stand_ins) {
            break;
        }
        let e = match attempt::<T>(&scratch.to_string(), text, false) {
            Ok(_) => break,
            Err(e) => e,
        };
        if found
            .iter()
            .any(|(x, _)| x.key == e.key && x.message == e.message)
        {
            break;
        }
        let inside_stand_in = e.key.as_deref().is_some_and(|k| {
            stand_ins
                .iter()
                .any(|s| k.starts_with(&format!("{s}.")) || k.starts_with(&format!("{s}[")))
        });
        found.push((e, !inside_stand_in));
    }
    Err(ConfigErrors(
        found
            .into_iter()
            .filter_map(|(e, reported)| reported.then_some(e))
            .collect(),
    ))
}

/// One strict parse of `current`; an error is placed on its line in `original` (the text the
/// operator wrote): by its span while `current` is `unchanged`, else by its key.
fn attempt<T: DeserializeOwned>(
    current: &str,
    original: &str,
    unchanged: bool,
) -> Result<T, ConfigError> {
    let de = toml::Deserializer::new(current);
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
        let by_span = if unchanged {
            inner.span().map(|s| line_of(original, s.start))
        } else {
            None
        };
        let line = by_span.or_else(|| key.as_deref().and_then(|k| line_of_key(original, k)));
        ConfigError::new(key, line, message)
    })
}

/// Changes `doc` so the error at `key` goes away: an unknown key or a bad value is removed; a
/// missing key gets the first stand-in value that parses past it, or else the table lacking it
/// is taken out. False when nothing could be changed.
fn patch<T: DeserializeOwned>(
    doc: &mut toml_edit::DocumentMut,
    key: &str,
    message: &str,
    stand_ins: &mut Vec<String>,
) -> bool {
    let parts = split_key(key);
    let Some((last, parents)) = parts.split_last() else {
        return false;
    };
    if !message.starts_with("missing field") {
        return table_at(doc.as_table_mut(), parents).is_some_and(|t| t.remove(last).is_some());
    }
    let candidates = [
        Item::Table(toml_edit::Table::new()),
        toml_edit::value(""),
        toml_edit::value(0),
        toml_edit::value(false),
        toml_edit::value(toml_edit::Array::new()),
    ];
    for candidate in candidates {
        let Some(table) = table_at(doc.as_table_mut(), parents) else {
            return false;
        };
        table.insert(last, candidate);
        let still = match attempt::<T>(&doc.to_string(), "", false) {
            Ok(_) => false,
            Err(e) => e.key.as_deref() == Some(key),
        };
        if !still {
            stand_ins.push(key.to_owned());
            return true;
        }
        if let Some(table) = table_at(doc.as_table_mut(), parents) {
            table.remove(last);
        }
    }
    // No stand-in fits (an enum, say): take out the table that lacks the key — for an element
    // of an array, the whole array.
    let mut outer = parents.to_vec();
    while outer.last().is_some_and(|p| p.parse::<usize>().is_ok()) {
        outer.pop();
    }
    let Some((name, above)) = outer.split_last() else {
        return false;
    };
    stand_ins.push(outer.join("."));
    table_at(doc.as_table_mut(), above).is_some_and(|t| t.remove(name).is_some())
}

/// `a.b[2].c` → `["a", "b", "2", "c"]`: an array index is a part of its own.
fn split_key(key: &str) -> Vec<String> {
    key.replace('[', ".")
        .replace(']', "")
        .split('.')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The table at `path`: sections, inline tables and elements of arrays of tables.
fn table_at<'a>(
    mut table: &'a mut dyn toml_edit::TableLike,
    path: &[String],
) -> Option<&'a mut dyn toml_edit::TableLike> {
    let mut rest = path;
    while let Some((part, tail)) = rest.split_first() {
        let item = table.get_mut(part)?;
        let (next, tail): (&'a mut dyn toml_edit::TableLike, &[String]) = match item {
            Item::Table(t) => (t, tail),
            Item::Value(toml_edit::Value::InlineTable(t)) => (t, tail),
            Item::ArrayOfTables(a) => {
                let (index, tail) = tail.split_first()?;
                (a.get_mut(index.parse().ok()?)?, tail)
            }
            Item::Value(toml_edit::Value::Array(a)) => {
                let (index, tail) = tail.split_first()?;
                match a.get_mut(index.parse().ok()?)? {
                    toml_edit::Value::InlineTable(t) => (t, tail),
                    _ => return None,
                }
            }
            _ => return None,
        };
        table = next;
        rest = tail;
    }
    Some(table)
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
    /// Where the walk down the key path is.
    enum At<'a> {
        Table(&'a dyn toml_edit::TableLike),
        Tables(&'a toml_edit::ArrayOfTables),
        Values(&'a toml_edit::Array),
    }
    fn into(item: &Item) -> Option<At<'_>> {
        match item {
            Item::Table(t) => Some(At::Table(t)),
            Item::Value(toml_edit::Value::InlineTable(t)) => Some(At::Table(t)),
            Item::ArrayOfTables(a) => Some(At::Tables(a)),
            Item::Value(toml_edit::Value::Array(a)) => Some(At::Values(a)),
            _ => None,
        }
    }
    let doc = ImDocument::parse(text).ok()?;
    let mut at = Some(At::Table(doc.as_table()));
    let mut span: Option<Range<usize>> = None;
    for part in split_key(key) {
        let index = part.parse::<usize>().ok();
        at = match (at, index) {
            (Some(At::Table(t)), _) => {
                let Some((k, item)) = t.get_key_value(&part) else {
                    break;
                };
                span = k.span().or_else(|| item.span()).or(span);
                into(item)
            }
            (Some(At::Tables(a)), Some(i)) => {
                let Some(t) = a.get(i) else { break };
                span = t.span().or(span);
                Some(At::Table(t))
            }
            (Some(At::Values(a)), Some(i)) => {
                let Some(v) = a.get(i) else { break };
                span = v.span().or(span);
                match v {
                    toml_edit::Value::InlineTable(t) => Some(At::Table(t)),
                    _ => None,
                }
            }
            _ => break,
        };
    }
    span.map(|s| line_of(text, s.start))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    /// A config with five independent mistakes: all are reported, each on its line; the
    /// missing `[api]` section is one error, not one per key inside it.
    #[test]
    fn every_problem_is_reported_at_once_with_key_and_line() {
        let text = "\
[terminal]
id = \"T0001\"
fixmedins_code = \"H11010500001\"
fixmedins_name = \"x\"
colour = \"blue\"

[store]
busy_timeout_ms = \"soon\"

[readers]
backend = \"pcsc\"
slots = [{ pattern = \"00 01\" }]
";
        let err = Config::parse(text).unwrap_err();
        let got: Vec<(Option<&str>, Option<usize>)> =
            err.0.iter().map(|e| (e.key.as_deref(), e.line)).collect();
        assert_eq!(
            got,
            [
                (Some("terminal.colour"), Some(5)),
                (Some("terminal.region"), Some(1)),
                (Some("store.busy_timeout_ms"), Some(8)),
                (Some("readers.slots[0].kind"), Some(12)),
                (Some("api"), None),
            ],
            "{err}"
        );
    }

    #[test]
    fn a_good_file_still_parses_and_one_error_stays_one() {
        let good = "[terminal]\nid = \"T1\"\nfixmedins_code = \"H1\"\nfixmedins_name = \"x\"\nregion = \"110105\"\n[api]\ntoken = { file = \"/t\" }\n";
        assert!(Config::parse(good).is_ok());
        let err = Config::parse(&good.replace("[api]", "[api]\nlisten = 5")).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.first_key(), Some("api.listen"));
    }
}

//! The field table of a contract node, checked in one place: presence of the required (Req)
//! fields, maximum lengths counted in characters (`c30`), date-time and date formats, small
//! code lists and decimal places. A handler states its table and gets the first violation as
//! an `err_msg` (Chinese first, English after) or the checked texts back.

use std::collections::HashMap;

use chrono::NaiveDate;
use medsettle_nhsa::time;
use serde_json::{Map, Value};

use crate::envelope::field_text;

/// The type of a field, as outpatient.md writes it.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `cN`: text of at most N characters.
    C(usize),
    /// `dt`: `yyyy-MM-dd HH:mm:ss`.
    Dt,
    /// `d`: `yyyy-MM-dd`.
    D,
    /// `nN`: an unsigned integer of at most N digits.
    N(usize),
    /// A value from a short code list.
    OneOf(&'static [&'static str]),
}

/// One row of a field table: name, type, required.
pub type Spec = (&'static str, Kind, bool);

/// The texts of the fields a table names (absent optional ones as empty text).
#[derive(Debug, Default)]
pub struct Fields(HashMap<&'static str, String>);

impl Fields {
    /// The text of `key` (empty when absent or not in the table).
    pub fn get(&self, key: &str) -> String {
        self.0.get(key).cloned().unwrap_or_default()
    }
}

/// Checks `obj` against `table`.
pub fn check(obj: &Map<String, Value>, table: &[Spec]) -> Result<Fields, String> {
    let mut out = Fields::default();
    for &(key, kind, required) in table {
        let value = match obj.get(key) {
            None => None,
            Some(_) => Some(
                field_text(obj, key)
                    .ok_or_else(|| format!("字段类型错误 {key} is not text or a number"))?,
            ),
        };
        let value = value.unwrap_or_default();
        if value.is_empty() {
            if required {
                return Err(format!("入参缺少字段 {key} missing"));
            }
            out.0.insert(key, value);
            continue;
        }
        check_value(key, kind, &value)?;
        out.0.insert(key, value);
    }
    Ok(out)
}

fn check_value(key: &str, kind: Kind, value: &str) -> Result<(), String> {
    match kind {
        Kind::C(max) => {
            let n = value.chars().count();
            if n > max {
                return Err(format!(
                    "字段超长 {key} has {n} characters, at most {max} allowed"
                ));
            }
        }
        Kind::Dt => {
            time::parse_inf_time(value)
                .map_err(|_| format!("时间格式错误 {key} {value:?} is not yyyy-MM-dd HH:mm:ss"))?;
        }
        Kind::D => {
            let shape = value.len() == 10;
            if !shape || NaiveDate::parse_from_str(value, "%Y-%m-%d").is_err() {
                return Err(format!("日期格式错误 {key} {value:?} is not yyyy-MM-dd"));
            }
        }
        Kind::N(digits) => {
            if value.len() > digits || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "数值格式错误 {key} {value:?} is not an integer of at most {digits} digits"
                ));
            }
        }
        Kind::OneOf(codes) => {
            if !codes.contains(&value) {
                return Err(format!(
                    "字段值无效 {key} {value:?} is not one of {}",
                    codes.join("/")
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let table = [("dr_name", Kind::C(3), true)];
        assert!(check(&obj(json!({"dr_name": "王医生"})), &table).is_ok());
        let err = check(&obj(json!({"dr_name": "王医生A"})), &table).unwrap_err();
        assert!(err.starts_with("字段超长 dr_name"), "{err}");
    }

    #[test]
    fn required_optional_and_formats() {
        let table = [
            ("t", Kind::Dt, true),
            ("d", Kind::D, false),
            ("n", Kind::N(2), false),
            ("f", Kind::OneOf(&["0", "1"]), false),
        ];
        let err = check(&obj(json!({"t": ""})), &table).unwrap_err();
        assert_eq!(err, "入参缺少字段 t missing");
        let ok = check(&obj(json!({"t": "2026-11-23 10:00:00", "n": 12})), &table).unwrap();
        assert_eq!((ok.get("n"), ok.get("d")), ("12".to_owned(), String::new()));
        for bad in [
            json!({"t": "2026-11-23T10:00:00"}),
            json!({"t": "2026-11-23 10:00:00", "d": "2026-2-1"}),
            json!({"t": "2026-11-23 10:00:00", "n": "123"}),
            json!({"t": "2026-11-23 10:00:00", "n": "1a"}),
            json!({"t": "2026-11-23 10:00:00", "f": "2"}),
            json!({"t": ["x"]}),
        ] {
            assert!(check(&obj(bad.clone()), &table).is_err(), "{bad}");
        }
    }
}

//! China Standard Time (UTC+8) for everything the platform stamps, whatever the terminal's
//! own time zone.
//!
//! `inf_time` (`yyyy-MM-dd HH:mm:ss`), the msgid timestamp (`yyyyMMddHHmmss`), response times
//! (`yyyyMMddHHmmssSSS`) and the "day" of sign-in and reconciliation are all CST. Instants are
//! [`DateTime<Utc>`]; these helpers are the only place that converts. Nothing here reads the
//! clock or the machine's `TZ`: callers pass the instant in.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// A platform time stamp that does not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("time stamp {text:?} is not of the form {expected}")]
pub struct TimeError {
    pub text: String,
    pub expected: &'static str,
}

const INF_TIME: &str = "%Y-%m-%d %H:%M:%S";
const STAMP: &str = "%Y%m%d%H%M%S";

/// The fixed UTC+8 offset (China has no daylight saving time).
pub fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// `yyyy-MM-dd HH:mm:ss` in CST, for `inf_time`.
pub fn format_inf_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&cst()).format(INF_TIME).to_string()
}

/// Parses `yyyy-MM-dd HH:mm:ss` read as CST (`inf_time`, `sign_time`, `begntime`).
pub fn parse_inf_time(text: &str) -> Result<DateTime<Utc>, TimeError> {
    let err = || TimeError {
        text: text.to_owned(),
        expected: "yyyy-MM-dd HH:mm:ss",
    };
    let shape_ok = text.len() == 19
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b' ',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(err());
    }
    from_cst(NaiveDateTime::parse_from_str(text, INF_TIME).map_err(|_| err())?).ok_or_else(err)
}

/// `yyyyMMddHHmmss` in CST, the timestamp inside a msgid.
pub fn format_stamp(at: DateTime<Utc>) -> String {
    at.with_timezone(&cst()).format(STAMP).to_string()
}

/// Parses `yyyyMMddHHmmss` read as CST.
pub fn parse_stamp(text: &str) -> Result<DateTime<Utc>, TimeError> {
    let err = || TimeError {
        text: text.to_owned(),
        expected: "yyyyMMddHHmmss",
    };
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    from_cst(NaiveDateTime::parse_from_str(text, STAMP).map_err(|_| err())?).ok_or_else(err)
}

/// Parses `yyyyMMddHHmmssSSS` read as CST (`refmsg_time`, `respond_time`).
pub fn parse_response_time(text: &str) -> Result<DateTime<Utc>, TimeError> {
    let err = || TimeError {
        text: text.to_owned(),
        expected: "yyyyMMddHHmmssSSS",
    };
    if text.len() != 17 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let seconds = parse_stamp(&text[..14]).map_err(|_| err())?;
    let millis: i64 = text[14..].parse().map_err(|_| err())?;
    Ok(seconds + chrono::Duration::milliseconds(millis))
}

/// The CST calendar day of an instant: the "day" of sign-in and of 3201 reconciliation.
pub fn cst_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&cst()).date_naive()
}

/// `yyyy-MM-dd` of a CST day, as the platform writes dates (`stmt_begndate`).
pub fn format_date(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn from_cst(naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    cst()
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn formats_in_cst_whatever_the_instant() {
        let at = utc("2024-12-31T16:30:05Z");
        assert_eq!(format_inf_time(at), "2025-01-01 00:30:05");
        assert_eq!(format_stamp(at), "20250101003005");
        assert_eq!(cst_day(at), NaiveDate::from_ymd_opt(2025, 1, 1).unwrap());
        assert_eq!(format_date(cst_day(at)), "2025-01-01");
        let before = utc("2024-12-31T15:59:59Z");
        assert_eq!(
            cst_day(before),
            NaiveDate::from_ymd_opt(2024, 12, 31).unwrap()
        );
    }

    #[test]
    fn parses_back_to_the_same_instant() {
        let at = utc("2025-03-09T01:02:03Z");
        assert_eq!(parse_inf_time(&format_inf_time(at)), Ok(at));
        assert_eq!(parse_stamp(&format_stamp(at)), Ok(at));
        assert_eq!(parse_inf_time("2025-03-09 09:02:03"), Ok(at));
        assert_eq!(
            parse_response_time("20250309090203123"),
            Ok(at + chrono::Duration::milliseconds(123))
        );
    }

    #[test]
    fn round_trips_over_many_instants() {
        let start = utc("2020-01-01T00:00:00Z");
        for step in 0..5000i64 {
            let at = start + chrono::Duration::seconds(step * 7919 + step * step * 13);
            assert_eq!(parse_inf_time(&format_inf_time(at)), Ok(at));
            assert_eq!(parse_stamp(&format_stamp(at)), Ok(at));
        }
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in [
            "2025-3-9 09:02:03",
            "2025-03-09T09:02:03",
            "2025-03-09 09:02:03 ",
            "2025-02-30 00:00:00",
            "2025-03-09 24:00:00",
            "",
        ] {
            assert!(parse_inf_time(bad).is_err(), "{bad}");
        }
        for bad in [
            "2025030909020",
            "202503090902031",
            "2025-3-909020 ",
            "20251301000000",
        ] {
            assert!(parse_stamp(bad).is_err(), "{bad}");
        }
        for bad in ["20250309090203", "2025030909020312x", "202503090902031234"] {
            assert!(parse_response_time(bad).is_err(), "{bad}");
        }
    }
}

//! The JSON bodies the API's POST handlers accept, parsed and checked as pure functions: one
//! function per body kind turns the raw bytes (and the limits it depends on) into the values the
//! handler hands on, or the [`ApiError`] it answers with.
//!
//! The handlers call these and nothing else to read a body, and the `api_bodies` fuzz target
//! (`tests/fuzz`) calls the same functions, so what is fuzzed is what is served. Nothing here
//! touches the application state, the clock or the log; a PIN is wrapped in [`Pin`] at once.

use std::time::Duration;

use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::ApiError;
use crate::card::service::{CardServiceError, ReadRequest};
use crate::card::{InterfacePolicy, Pin};
use crate::settle::{Confirmation, Decision, NewDetails, NewItem, NewSale, NewVisit, Resolution};
use crate::upstream::Fen;

/// Parses a JSON body: no body at all reads as `{}` (every such endpoint's fields are
/// optional); anything else must be one JSON object.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return serde_json::from_slice(b"{}").map_err(|e| ApiError::bad_request(&e.to_string()));
    }
    // serde would also fill a struct from an array (`[null, null]`): the API takes objects only.
    // A syntax error's message names the position only, never a value.
    match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Err(e) => {
            return Err(ApiError::bad_request(&format!(
                "body must be a JSON object as documented ({e})"
            )));
        }
        Ok(_) if body.trim_ascii_start().first() != Some(&b'{') => {
            return Err(ApiError::bad_request(
                "body must be a JSON object as documented",
            ));
        }
        Ok(_) => {}
    }
    serde_json::from_slice(body).map_err(|e| {
        // serde_json's message names the field and position, and for a mistyped value quotes
        // it (`invalid type: integer `123456``): never for a PIN, which is named only.
        if e.is_data() && failing_field::<T>(body).is_some_and(|path| path.ends_with("pin")) {
            return ApiError::bad_request(&format!(
                "body must be a JSON object as documented (pin: a string of 6 digits, at line {} column {})",
                e.line(),
                e.column()
            ));
        }
        ApiError::bad_request(&format!("body must be a JSON object as documented ({})", e))
    })
}

/// The path of the field a body fails on (`pin`, `items[0].cnt`).
fn failing_field<T: DeserializeOwned>(body: &[u8]) -> Option<String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize::<_, T>(&mut de)
        .err()
        .map(|e| e.path().to_string())
}

/// A reader name sent empty (a form field left blank) means no preference, like none at all.
fn any_reader(reader: Option<String>) -> Option<String> {
    reader.filter(|r| !r.trim().is_empty())
}

/// A requested wait must end before the request timeout answers for it.
pub fn wait_within(
    request_timeout: Duration,
    wait_ms: Option<u64>,
) -> Result<Option<Duration>, ApiError> {
    let limit = request_timeout.as_millis() as u64;
    match wait_ms {
        // Saturating: a huge wait_ms must be refused, not wrap around into a small one.
        Some(ms) if ms == 0 || ms.saturating_add(1_000) > limit => {
            Err(ApiError::bad_request(&format!(
                "wait_ms must be between 1 and {} (api.request_timeout_ms minus one second)",
                limit.saturating_sub(1_000)
            )))
        }
        other => Ok(other.map(Duration::from_millis)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadBody {
    /// `contact`, `contactless`, `auto-contact`, `auto-contactless`.
    interface: Option<InterfacePolicy>,
    reader: Option<String>,
    wait_ms: Option<u64>,
    pin: Option<Zeroizing<String>>,
}

/// `POST /v1/card/read`.
pub fn card_read(body: &[u8], request_timeout: Duration) -> Result<ReadRequest, ApiError> {
    let body: ReadBody = parse(body)?;
    let wait = wait_within(request_timeout, body.wait_ms)?;
    let pin = body
        .pin
        .as_deref()
        .map(|p| Pin::new(p))
        .transpose()
        .map_err(|e| ApiError::from_card(&CardServiceError::Card(e)))?;
    Ok(ReadRequest {
        policy: body.interface,
        reader: any_reader(body.reader),
        wait,
        pin,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinBody {
    pin: Zeroizing<String>,
    interface: Option<InterfacePolicy>,
    reader: Option<String>,
    wait_ms: Option<u64>,
}

/// What `POST /v1/card/verify-pin` asks for.
#[derive(Debug)]
pub struct PinCheck {
    /// The PIN, already checked for shape.
    pub pin: Pin,
    /// Slot preference.
    pub interface: Option<InterfacePolicy>,
    /// Only this reader.
    pub reader: Option<String>,
    /// How long to wait for the card.
    pub wait: Option<Duration>,
}

/// `POST /v1/card/verify-pin`.
pub fn card_verify_pin(body: &[u8], request_timeout: Duration) -> Result<PinCheck, ApiError> {
    let body: PinBody = parse(body)?;
    let wait = wait_within(request_timeout, body.wait_ms)?;
    let pin = Pin::new(&body.pin).map_err(|e| ApiError::from_card(&CardServiceError::Card(e)))?;
    Ok(PinCheck {
        pin,
        interface: body.interface,
        reader: any_reader(body.reader),
        wait,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanBody {
    wait_ms: Option<u64>,
}

/// `POST /v1/qr/scan`: how long to wait for a code (20 s, or half the request timeout, by
/// default).
pub fn qr_scan_wait(body: &[u8], request_timeout: Duration) -> Result<Duration, ApiError> {
    let body: ScanBody = parse(body)?;
    let wait = wait_within(request_timeout, body.wait_ms)?;
    Ok(wait.unwrap_or(Duration::from_secs(20).min(request_timeout / 2)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    /// The code's text, as a scan box in keyboard mode typed it or a cashier pasted it.
    text: String,
}

/// The longest code text `POST /v1/qr/submit` takes, in bytes.
pub const MAX_SUBMIT_BYTES: usize = 4096;

/// `POST /v1/qr/submit`: the code's bytes, 1 to [`MAX_SUBMIT_BYTES`].
pub fn qr_submit_text(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let body: SubmitBody = parse(body)?;
    if body.text.is_empty() || body.text.len() > MAX_SUBMIT_BYTES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "request.invalid",
            "二维码内容为空或过长，请重新扫码。",
            "The code text is empty or longer than 4096 bytes.",
        ));
    }
    Ok(body.text.into_bytes())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitBody {
    wait_ms: Option<u64>,
    /// `card`, `qr` (both by default).
    kinds: Option<Vec<String>>,
}

/// What `POST /v1/credentials/wait` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialWait {
    /// How long to wait.
    pub wait: Duration,
    /// A card is wanted.
    pub card: bool,
    /// A QR code is wanted.
    pub qr: bool,
}

/// `POST /v1/credentials/wait`.
pub fn credentials_wait(
    body: &[u8],
    request_timeout: Duration,
) -> Result<CredentialWait, ApiError> {
    let body: WaitBody = parse(body)?;
    let limit = request_timeout.saturating_sub(Duration::from_secs(1));
    let wait = match body.wait_ms {
        Some(ms) if ms == 0 || Duration::from_millis(ms) > limit => {
            return Err(ApiError::bad_request(&format!(
                "wait_ms must be between 1 and {}",
                limit.as_millis()
            )));
        }
        Some(ms) => Duration::from_millis(ms),
        None => Duration::from_secs(20).min(limit),
    };
    let kinds = body
        .kinds
        .unwrap_or_else(|| vec!["card".into(), "qr".into()]);
    if kinds.is_empty() || kinds.iter().any(|k| k != "card" && k != "qr") {
        return Err(ApiError::bad_request(
            "kinds must list \"card\" and/or \"qr\"",
        ));
    }
    Ok(CredentialWait {
        wait,
        card: kinds.iter().any(|k| k == "card"),
        qr: kinds.iter().any(|k| k == "qr"),
    })
}

/// `POST /v1/sales`: the new sale (its items are checked by the engine).
pub fn sale_new(body: &[u8]) -> Result<NewSale, ApiError> {
    parse(body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    pin: Option<Zeroizing<String>>,
    /// Yuan, decimal text (`"128.50"`).
    collected: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresettleBody {
    /// The cashier's choice among the 1101 `insuinfo` rows.
    insutype: Option<String>,
}

/// `POST /v1/sales/{id}/presettle`: the optional `insutype` choice (body optional).
pub fn sale_presettle(body: &[u8]) -> Result<Option<String>, ApiError> {
    let body: PresettleBody = parse(body)?;
    Ok(body.insutype)
}

/// `POST /v1/sales/{id}/confirm`.
pub fn sale_confirm(body: &[u8]) -> Result<Confirmation, ApiError> {
    let body: ConfirmBody = parse(body)?;
    let pin = body
        .pin
        .as_deref()
        .map(|p| Pin::new(p))
        .transpose()
        .map_err(|_| ApiError::bad_request("pin must be 6 digits"))?;
    let collected = match body.collected.as_deref().map(Fen::parse_yuan).transpose() {
        Ok(Some(c)) if c.0 < 0 => {
            return Err(ApiError::bad_request("collected must not be negative"));
        }
        Ok(c) => c,
        Err(_) => {
            return Err(ApiError::bad_request(
                "collected must be an amount in yuan with at most 2 decimals, e.g. \"128.50\"",
            ));
        }
    };
    Ok(Confirmation { pin, collected })
}

/// [`parse`] for the nested visit bodies: a field that fails is named by its path
/// (`items[0].cnt: invalid type …`), since a line number says little in a body of fee lines.
fn parse_named<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    parse::<T>(body).map_err(|plain| {
        if body.is_empty() {
            return plain;
        }
        let mut de = serde_json::Deserializer::from_slice(body);
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Err(e) if e.inner().is_data() && e.path().to_string() != "." => {
                ApiError::bad_request(&format!(
                    "body must be a JSON object as documented ({}: {})",
                    e.path(),
                    e.inner()
                ))
            }
            _ => plain,
        }
    })
}

/// `POST /v1/visits`: the new visit (its fields are checked by the engine against
/// outpatient.md's lengths and codes, `visit.invalid_field`).
pub fn visit_new(body: &[u8]) -> Result<NewVisit, ApiError> {
    parse_named(body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

/// A route that takes no fields (`POST /v1/visits/{id}/presettle|cancel|refund`): no body or
/// `{}`; anything else is refused rather than silently ignored.
pub fn no_fields(body: &[u8]) -> Result<(), ApiError> {
    parse::<NoFields>(body).map(|_| ())
}

/// `POST /v1/visits/{id}/register`: the optional `insutype` choice (body optional), as for a
/// sale's presettle.
pub fn visit_register(body: &[u8]) -> Result<Option<String>, ApiError> {
    sale_presettle(body)
}

/// `PUT /v1/visits/{id}/details`: the fee lines that replace the visit's; no body at all
/// uploads the lines the visit already has (a retry after a failed upload).
pub fn visit_details(body: &[u8]) -> Result<Option<NewDetails>, ApiError> {
    if body.trim_ascii().is_empty() {
        return Ok(None);
    }
    parse_named(body).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconcileBody {
    /// `YYYY-MM-DD`, CST; default today.
    date: Option<String>,
    /// 3202 for every group, balanced or not (default: the unbalanced ones, per config).
    #[serde(default)]
    detail: bool,
}

/// `POST /v1/reconcile`: the CST day to reconcile (`today` when the body names none) and
/// whether every group gets a 3202.
pub fn reconcile_day(body: &[u8], today: NaiveDate) -> Result<(NaiveDate, bool), ApiError> {
    let body: ReconcileBody = parse(body)?;
    let day = match body.date.as_deref() {
        None => today,
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| ApiError::bad_request("date must be YYYY-MM-DD (a CST day)"))?,
    };
    Ok((day, body.detail))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    /// `settled` or `not_settled`.
    decision: String,
    /// With `settled`: the platform's setl_id.
    setl_id: Option<String>,
    note: Option<String>,
}

/// `POST /v1/queue/{id}/resolve`: an operator's decision on a sale in doubt.
pub fn queue_resolve(body: &[u8]) -> Result<Resolution, ApiError> {
    let body: ResolveBody = parse(body)?;
    let note = body
        .note
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let decision = match (body.decision.as_str(), body.setl_id) {
        ("settled", Some(setl_id)) if !setl_id.trim().is_empty() => Decision::Settled {
            setl_id: setl_id.trim().to_owned(),
        },
        ("settled", _) => {
            return Err(ApiError::bad_request(
                "decision settled needs setl_id: the platform's settlement id",
            ));
        }
        ("not_settled", None) => Decision::NotSettled,
        ("not_settled", Some(_)) => {
            return Err(ApiError::bad_request(
                "decision not_settled takes no setl_id",
            ));
        }
        _ => {
            return Err(ApiError::bad_request(
                "decision must be settled (with setl_id) or not_settled",
            ));
        }
    };
    Ok(Resolution { decision, note })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    by: Option<String>,
    note: Option<String>,
}

/// `POST /v1/queue/{id}/ack`: who acknowledges a sale's answer mismatches and why (both
/// optional; an empty body is an acknowledgement without either).
/// `POST /v1/sales/{id}/trace`: `{line, codes, …}` (the fields of an item's `trace`).
pub fn sale_trace(body: &[u8]) -> Result<crate::settle::trace::TraceAttach, ApiError> {
    parse(body)
}

pub fn queue_ack(body: &[u8]) -> Result<crate::settle::MismatchAck, ApiError> {
    let body: AckBody = parse(body)?;
    let clean = |v: Option<String>| v.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    Ok(crate::settle::MismatchAck {
        by: clean(body.by),
        note: clean(body.note),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    #[serde(default)]
    items: Option<Vec<NewItem>>,
    /// An outpatient visit the HIS created, to be paid at the kiosk.
    #[serde(default)]
    visit_id: Option<String>,
}

/// What a kiosk session is for: a pharmacy sale of these items, or the fees of a visit.
#[derive(Debug)]
pub enum KioskStart {
    Items(Vec<NewItem>),
    Visit(String),
}

/// `POST /v1/kiosk/sessions` with items: the items, at least one.
pub fn kiosk_items(body: &[u8]) -> Result<Vec<NewItem>, ApiError> {
    match kiosk_start(body)? {
        KioskStart::Items(items) => Ok(items),
        KioskStart::Visit(_) => Err(ApiError::bad_request("items must not be empty")),
    }
}

/// `POST /v1/kiosk/sessions`: either `items` (at least one) or a `visit_id` (`V…`), not both.
pub fn kiosk_start(body: &[u8]) -> Result<KioskStart, ApiError> {
    let body: StartBody = parse(body)?;
    match (body.items, body.visit_id) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "items or visit_id, not both: a kiosk session pays a new sale or an existing visit",
        )),
        (None, Some(id)) => {
            let id = id.trim();
            if id.len() < 2 || id.len() > 64 || !id.starts_with('V') || !id.is_ascii() {
                return Err(ApiError::bad_request(
                    "visit_id must be a visit id (V…) from POST /v1/visits",
                ));
            }
            Ok(KioskStart::Visit(id.to_owned()))
        }
        (Some(items), None) if !items.is_empty() => Ok(KioskStart::Items(items)),
        _ => Err(ApiError::bad_request("items must not be empty")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    pin: Option<Zeroizing<String>>,
}

/// `POST /v1/kiosk/sessions/{id}/consent`: the patient's PIN, if any.
pub fn kiosk_consent(body: &[u8]) -> Result<Option<Pin>, ApiError> {
    let body: ConsentBody = parse(body)?;
    body.pin
        .as_deref()
        .map(|p| Pin::new(p))
        .transpose()
        .map_err(|_| ApiError::bad_request("pin must be six digits"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    /// Validity in milliseconds, at most (and by default) `max_ms`.
    valid_ms: Option<u64>,
}

/// `POST /v1/ui/links`: how long the one-time link is valid, at most (and by default) `max_ms`.
pub fn link_valid_ms(body: &[u8], max_ms: u64) -> Result<u64, ApiError> {
    let body: LinkBody =
        parse(body).map_err(|_| ApiError::bad_request("valid_ms: milliseconds, at most 120000"))?;
    let valid_ms = body.valid_ms.unwrap_or(max_ms);
    if valid_ms > max_ms {
        return Err(ApiError::bad_request("valid_ms must be at most 120000"));
    }
    Ok(valid_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(30);

    #[test]
    fn a_huge_wait_is_refused_not_wrapped() {
        // u64::MAX + 1000 used to overflow (a panic in debug builds; in release builds a wrap
        // to 999, so u64::MAX ms was accepted). Input in fixtures/fuzz/api_bodies/.
        let e = wait_within(T, Some(u64::MAX)).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(card_read(br#"{"wait_ms":18446744073709551615}"#, T).is_err());
        assert_eq!(
            wait_within(T, Some(29_000)).unwrap(),
            Some(Duration::from_millis(29_000))
        );
        assert!(wait_within(T, Some(29_001)).is_err());
        assert!(wait_within(T, Some(0)).is_err());
        assert_eq!(wait_within(T, None).unwrap(), None);
    }

    #[test]
    fn a_mistyped_pin_is_named_not_quoted() {
        // serde_json quoted the value; the input is in fixtures/fuzz/api_bodies/.
        for body in [
            &br#"{"pin":123456}"#[..],
            br#"{"pin":1234567,"wait_ms":1000}"#,
        ] {
            for e in [
                card_read(body, T).unwrap_err(),
                card_verify_pin(body, T).unwrap_err(),
                sale_confirm(body).err().expect("refused"),
                kiosk_consent(body).unwrap_err(),
            ] {
                assert!(!e.message_en.contains("123456"), "{}", e.message_en);
                assert!(e.message_en.contains("pin"), "{}", e.message_en);
            }
        }
        // Other fields keep serde's precise message.
        let e = card_read(br#"{"wait_ms":"x"}"#, T).unwrap_err();
        assert!(
            e.message_en.contains("invalid type: string"),
            "{}",
            e.message_en
        );
    }

    #[test]
    fn bodies_parse_as_the_handlers_expect() {
        assert!(card_read(b"", T).unwrap().pin.is_none());
        assert!(card_read(br#"{"pin":"12345"}"#, T).is_err());
        assert!(card_verify_pin(br#"{"pin":"123456"}"#, T).is_ok());
        assert!(card_verify_pin(b"{}", T).is_err());
        assert_eq!(qr_scan_wait(b"", T).unwrap(), Duration::from_secs(15));
        assert!(
            qr_scan_wait(b" ", T).is_err(),
            "whitespace is not a JSON object"
        );
        assert!(
            qr_scan_wait(b"[null]", T).is_err(),
            "an array is not an object"
        );
        assert_eq!(qr_submit_text(br#"{"text":"abc"}"#).unwrap(), b"abc");
        assert!(qr_submit_text(br#"{"text":""}"#).is_err());
        let w = credentials_wait(br#"{"kinds":["qr"]}"#, T).unwrap();
        assert_eq!(
            (w.card, w.qr, w.wait),
            (false, true, Duration::from_secs(20))
        );
        assert!(credentials_wait(br#"{"kinds":[]}"#, T).is_err());
        let c = sale_confirm(br#"{"collected":"12.30"}"#).unwrap();
        assert_eq!(c.collected, Some(Fen(1230)));
        assert!(sale_confirm(br#"{"collected":"-1"}"#).is_err());
        let today = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        assert_eq!(reconcile_day(b"", today).unwrap(), (today, false));
        assert_eq!(
            reconcile_day(br#"{"date":"2026-01-01","detail":true}"#, today).unwrap(),
            (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), true)
        );
        assert!(reconcile_day(br#"{"date":"2026-13-01"}"#, today).is_err());
        assert!(kiosk_items(br#"{"items":[]}"#).is_err());
        assert!(kiosk_consent(br#"{"pin":"12a456"}"#).is_err());
        assert_eq!(link_valid_ms(b"", 120_000).unwrap(), 120_000);
        assert!(link_valid_ms(br#"{"valid_ms":120001}"#, 120_000).is_err());
        assert!(sale_new(br#"{"credential_id":"c","items":[]}"#).is_ok());
    }

    #[test]
    fn visit_bodies_are_strict_and_name_the_failing_field() {
        let visit = r#"{"credential_id":"c","dept_code":"A03","dept_name":"内科","caty":"A03",
            "atddr_no":"D1","dr_name":"李","diagnoses":[{"diag_srt_no":1,"diag_code":"J06.900",
            "diag_name":"感冒"}],"items":[{"code":"X","cnt":"1","pric":"2.00"}]}"#;
        let v = visit_new(visit.as_bytes()).unwrap();
        assert_eq!(v.items.len(), 1);
        let e = visit_new(br#"{"credential_id":"c","colour":"red"}"#).unwrap_err();
        assert_eq!(e.code, "request.invalid");
        assert!(e.message_en.contains("colour"), "{}", e.message_en);
        let bad_cnt = visit.replace(r#""cnt":"1""#, r#""cnt":true"#);
        let e = visit_new(bad_cnt.as_bytes()).unwrap_err();
        assert!(e.message_en.contains("items[0].cnt"), "{}", e.message_en);
        assert!(visit_new(b"").is_err(), "the required fields are missing");
        assert!(visit_new(b"[1]").is_err());

        assert!(
            visit_details(b"").unwrap().is_none(),
            "no body: upload again"
        );
        assert!(visit_details(b"{}").is_err(), "items are required");
        let d = visit_details(br#"{"items":[{"code":"X","cnt":"2","pric":"1"}]}"#).unwrap();
        assert_eq!(d.unwrap().items.len(), 1);
        assert!(visit_details(br#"{"items":[],"extra":1}"#).is_err());

        assert_eq!(visit_register(b"").unwrap(), None);
        assert_eq!(
            visit_register(br#"{"insutype":"310"}"#).unwrap().as_deref(),
            Some("310")
        );
        assert!(visit_register(br#"{"insutype":"310","x":1}"#).is_err());

        assert!(no_fields(b"").is_ok());
        assert!(no_fields(b"{}").is_ok());
        assert!(no_fields(br#"{"pin":"123456"}"#).is_err());
    }

    #[test]
    fn a_kiosk_session_is_for_items_or_a_visit() {
        assert!(matches!(
            kiosk_start(br#"{"visit_id":"V2612031000001a2b3c4d"}"#).unwrap(),
            KioskStart::Visit(id) if id == "V2612031000001a2b3c4d"
        ));
        assert!(matches!(
            kiosk_start(br#"{"items":[{"code":"X","cnt":"1","pric":"1"}]}"#).unwrap(),
            KioskStart::Items(i) if i.len() == 1
        ));
        for refused in [
            &br#"{}"#[..],
            br#"{"items":[]}"#,
            br#"{"visit_id":"S123"}"#,
            br#"{"visit_id":""}"#,
            br#"{"visit_id":"V1","items":[{"code":"X","cnt":"1","pric":"1"}]}"#,
        ] {
            assert!(
                kiosk_start(refused).is_err(),
                "{}",
                String::from_utf8_lossy(refused)
            );
        }
        assert!(kiosk_items(br#"{"visit_id":"V1"}"#).is_err());
    }
}

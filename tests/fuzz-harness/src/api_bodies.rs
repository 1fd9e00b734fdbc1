//! Target `api_bodies`: one request body fed to every POST body the local API accepts, through
//! `medsettle::api::bodies` — the functions the handlers themselves call.
//!
//! Invariants beyond "no panic": a refusal is a 4xx (a malformed body is the caller's fault,
//! never a 5xx); an accepted wait ends before the request timeout answers; accepted codes,
//! amounts, dates and link lifetimes are within their documented bounds; and no error message
//! quotes the PIN the body carried.

use std::time::Duration;

use chrono::NaiveDate;
use medsettle::api::ApiError;
use medsettle::api::bodies;
use serde_json::Value;

/// The request timeout the checks assume (`api.request_timeout_ms` default).
const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the target on one input.
pub fn check(data: &[u8]) {
    let pin = pin_text(data);
    let refused = |e: ApiError| {
        assert!(e.status.is_client_error(), "{} for a bad body", e.status);
        if let Some(pin) = &pin {
            for text in [&e.message_en, &e.message_zh] {
                assert!(!text.contains(pin.as_str()), "the PIN is quoted: {text}");
            }
        }
    };
    let wait_ok = |w: Duration| {
        assert!(
            w >= Duration::from_millis(1) && w + Duration::from_secs(1) <= TIMEOUT,
            "{w:?}"
        )
    };

    match bodies::card_read(data, TIMEOUT) {
        Ok(r) => r.wait.into_iter().for_each(wait_ok),
        Err(e) => refused(e),
    }
    match bodies::card_verify_pin(data, TIMEOUT) {
        Ok(c) => c.wait.into_iter().for_each(wait_ok),
        Err(e) => refused(e),
    }
    match bodies::qr_scan_wait(data, TIMEOUT) {
        Ok(w) => wait_ok(w),
        Err(e) => refused(e),
    }
    match bodies::qr_submit_text(data) {
        Ok(t) => assert!(!t.is_empty() && t.len() <= bodies::MAX_SUBMIT_BYTES),
        Err(e) => refused(e),
    }
    match bodies::credentials_wait(data, TIMEOUT) {
        Ok(w) => {
            wait_ok(w.wait);
            assert!(w.card || w.qr);
        }
        Err(e) => refused(e),
    }
    match bodies::sale_new(data) {
        Ok(s) => assert!(s.items.iter().all(|i| i.pric.0 >= 0)),
        Err(e) => refused(e),
    }
    match bodies::sale_confirm(data) {
        Ok(c) => assert!(c.collected.is_none_or(|f| f.0 >= 0)),
        Err(e) => refused(e),
    }
    let today = NaiveDate::from_ymd_opt(2026, 1, 2).expect("a date");
    match bodies::reconcile_day(data, today) {
        Ok(d) => {
            let _ = d.0.to_string();
        }
        Err(e) => refused(e),
    }
    match bodies::kiosk_items(data) {
        Ok(items) => assert!(!items.is_empty()),
        Err(e) => refused(e),
    }
    if let Err(e) = bodies::kiosk_consent(data) {
        refused(e);
    }
    match bodies::link_valid_ms(data, 120_000) {
        Ok(ms) => assert!(ms <= 120_000),
        Err(e) => refused(e),
    }
}

/// The `pin` the body carries, when it looks like one (6 or more digits: shorter runs could be
/// a line or column number in an honest message) and appears nowhere else in the body.
fn pin_text(data: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(data).ok()?;
    let text = match value.get("pin")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let digits = text.len() >= 6 && text.bytes().all(|b| b.is_ascii_digit());
    // Only when nothing else in the body carries the same digits: another field's value may be
    // quoted (`unknown variant …`), and it is not the PIN even if it contains the PIN's digits.
    let once = String::from_utf8_lossy(data).matches(text.as_str()).count() == 1;
    (digits && once).then_some(text)
}

//! Target `money`: amounts, quantities and unit prices as the platform and the cashier write
//! them — `Fen::parse_yuan`, `Qty::parse`, `Price::parse`, their JSON forms (string and number)
//! and `line_amount`, the one rounding.
//!
//! The input is text; `a|b` also prices quantity `a` at unit price `b`.
//!
//! Invariants: a parsed value prints in canonical form and parses back to itself; a canonical
//! input prints back unchanged; a plain decimal JSON number means the same amount as the same
//! digits in a string (never a binary-float rounding); a line amount is `cnt × pric` to the
//! nearest fen, half away from zero, computed exactly.

use medsettle::upstream::quantity::line_amount;
use medsettle::upstream::{Fen, Price, Qty};

/// Runs the target on one input.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_fen(text);
    check_scaled(text);
    if let Some((cnt, pric)) = text.split_once('|') {
        check_line(cnt, pric);
    }
}

/// `-?(0|[1-9][0-9]*)\.[0-9]{decimals}`, not negative zero: the form `Display` writes.
fn canonical(text: &str, decimals: usize) -> bool {
    let body = text.strip_prefix('-').unwrap_or(text);
    let Some((int, frac)) = body.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let zero = int.bytes().all(|b| b == b'0') && frac.bytes().all(|b| b == b'0');
    digits(int)
        && digits(frac)
        && frac.len() == decimals
        && (int == "0" || !int.starts_with('0'))
        && !(text.starts_with('-') && zero)
}

/// A JSON number token in plain notation with at most `decimals` decimals.
fn plain_number(text: &str, decimals: usize) -> bool {
    let body = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = body.split_once('.').unwrap_or((body, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(int) && digits(frac) && frac.len() <= decimals && (int == "0" || !int.starts_with('0'))
}

fn check_fen(text: &str) {
    if let Ok(fen) = Fen::parse_yuan(text) {
        let shown = fen.to_string();
        assert!(canonical(&shown, 2), "{shown}");
        assert_eq!(
            Fen::parse_yuan(&shown),
            Ok(fen),
            "{shown} does not parse back"
        );
        if canonical(text, 2) {
            assert_eq!(shown, text, "a canonical amount prints back the same");
        }
        let json = serde_json::to_string(&fen).expect("an amount serialises");
        assert_eq!(serde_json::from_str::<Fen>(&json).ok(), Some(fen));
    }
    // The same text as a JSON document: a string, a number, or anything else.
    if let Ok(fen) = serde_json::from_str::<Fen>(text) {
        let token = text.trim();
        if plain_number(token, 2) {
            assert_eq!(
                Fen::parse_yuan(token),
                Ok(fen),
                "number {token} read inexactly"
            );
        }
        assert_eq!(Fen::parse_yuan(&fen.to_string()), Ok(fen));
    }
}

fn check_scaled(text: &str) {
    if let Ok(q) = Qty::parse(text) {
        let shown = q.to_string();
        assert!(canonical(&shown, 4), "{shown}");
        assert_eq!(Qty::parse(&shown), Ok(q));
        if canonical(text, 4) {
            assert_eq!(shown, text);
        }
    }
    if let Ok(p) = Price::parse(text) {
        assert!(p.0 >= 0, "a unit price is never negative");
        let shown = p.to_string();
        assert!(canonical(&shown, 6), "{shown}");
        assert_eq!(Price::parse(&shown), Ok(p));
    }
    if let Ok(q) = serde_json::from_str::<Qty>(text) {
        let token = text.trim();
        if plain_number(token, 4) {
            assert_eq!(Qty::parse(token), Ok(q), "number {token} read inexactly");
        }
    }
    if let Ok(p) = serde_json::from_str::<Price>(text) {
        let token = text.trim();
        if plain_number(token, 6) {
            assert_eq!(Price::parse(token), Ok(p), "number {token} read inexactly");
        }
    }
}

fn check_line(cnt: &str, pric: &str) {
    let (Ok(cnt), Ok(pric)) = (Qty::parse(cnt), Price::parse(pric)) else {
        return;
    };
    // cnt is in 1e-4, pric in 1e-6 yuan: the product is in 1e-10 yuan, a fen is 1e8 of those.
    let product = i128::from(cnt.0) * i128::from(pric.0);
    match line_amount(cnt, pric) {
        Some(Fen(amount)) => {
            let error = i128::from(amount) * 100_000_000 - product;
            assert!(error.abs() <= 50_000_000, "{cnt} × {pric} = {amount} fen");
            if error.abs() == 50_000_000 {
                // A tie rounds away from zero.
                assert_eq!(error.signum(), product.signum());
            }
            if product == 0 {
                assert_eq!(amount, 0);
            }
        }
        None => {
            let nearest = product / 100_000_000;
            assert!(
                nearest >= i128::from(i64::MAX) || nearest <= i128::from(i64::MIN),
                "{cnt} × {pric} refused within range"
            );
        }
    }
}

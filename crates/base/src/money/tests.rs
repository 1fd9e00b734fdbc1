//! Tests of [`Fen`](super::Fen): the accepted and refused forms, and round trips over many
//! values through text, JSON strings and JSON numbers.

use super::*;

fn from_json(text: &str) -> Result<Fen, serde_json::Error> {
    serde_json::from_str(text)
}

/// A small deterministic generator, so the loops cover many values without a dependency.
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 11
}

#[test]
fn accepted_text_forms() {
    for (text, fen) in [
        ("12.30", 1230),
        ("12.3", 1230),
        ("12", 1200),
        ("-0.50", -50),
        ("-0.00", 0),
        ("0", 0),
        ("0.01", 1),
        ("007.05", 705),
        ("92233720368547758.07", i64::MAX),
        ("-92233720368547758.08", i64::MIN),
    ] {
        assert_eq!(Fen::parse_yuan(text), Ok(Fen(fen)), "{text}");
    }
}

#[test]
fn refused_text_forms() {
    assert_eq!(Fen::parse_yuan(""), Err(MoneyError::Empty));
    for text in [
        "1.2e1", "1e2", "NaN", "inf", " 1.00", "1.00 ", "+1", "--1", "1.", ".5", "-", "1,00", "¥1",
        "1.2.3", "0x10",
    ] {
        assert!(
            matches!(Fen::parse_yuan(text), Err(MoneyError::Syntax(_))),
            "{text}"
        );
    }
    for text in ["12.305", "0.001", "1.000"] {
        assert!(matches!(
            Fen::parse_yuan(text),
            Err(MoneyError::TooManyDecimals { max: 2, .. })
        ));
    }
    for text in [
        "92233720368547758.08",
        "-92233720368547758.09",
        "1000000000000000000000000000000",
    ] {
        assert!(matches!(
            Fen::parse_yuan(text),
            Err(MoneyError::OutOfRange(_))
        ));
    }
}

#[test]
fn json_strings_and_numbers() {
    assert_eq!(from_json(r#""12.30""#).unwrap(), Fen(1230));
    assert_eq!(from_json("12.3").unwrap(), Fen(1230));
    assert_eq!(from_json("12.30").unwrap(), Fen(1230));
    assert_eq!(from_json("12").unwrap(), Fen(1200));
    assert_eq!(from_json("-0.5").unwrap(), Fen(-50));
    assert_eq!(from_json("0.1").unwrap(), Fen(10));
    assert_eq!(
        from_json("9999999999999.99").unwrap(),
        Fen(999_999_999_999_999)
    );
    assert_eq!(
        from_json("92233720368547758").unwrap(),
        Fen(9_223_372_036_854_775_800)
    );
    assert!(from_json("92233720368547759").is_err());
    assert!(from_json("18446744073709551615").is_err());
    assert!(from_json("12.345").is_err());
    assert!(
        from_json("10000000000000.5").is_err(),
        "beyond the exact f64 range"
    );
    assert!(from_json(r#""1e3""#).is_err());
    assert!(from_json("true").is_err());
    assert!(from_json("null").is_err());
}

#[test]
fn display_is_canonical() {
    assert_eq!(Fen(1230).to_string(), "12.30");
    assert_eq!(Fen(-50).to_string(), "-0.50");
    assert_eq!(Fen(0).to_yuan_string(), "0.00");
    assert_eq!(Fen(i64::MIN).to_string(), "-92233720368547758.08");
    assert_eq!(serde_json::to_string(&Fen(5)).unwrap(), r#""0.05""#);
}

#[test]
fn round_trip_small_values_exhaustively() {
    for n in -100_000..=100_000 {
        let fen = Fen(n);
        let text = fen.to_string();
        assert_eq!(Fen::parse_yuan(&text), Ok(fen));
        assert_eq!(from_json(&text).unwrap(), fen, "as a JSON number: {text}");
        assert_eq!(
            from_json(&serde_json::to_string(&fen).unwrap()).unwrap(),
            fen
        );
    }
}

#[test]
fn round_trip_random_values() {
    let mut state = 0x5eed;
    for _ in 0..200_000 {
        let raw = lcg(&mut state) as i64;
        // Full range through text and JSON strings.
        let fen = Fen(raw.wrapping_mul(if raw % 2 == 0 { 1 } else { -1 }));
        assert_eq!(Fen::parse_yuan(&fen.to_string()), Ok(fen));
        assert_eq!(
            from_json(&serde_json::to_string(&fen).unwrap()).unwrap(),
            fen
        );
        // Number tokens within the documented exact range (below 10^13 yuan).
        let small = Fen(fen.0 % 1_000_000_000_000_000);
        assert_eq!(from_json(&small.to_string()).unwrap(), small, "{small}");
    }
}

#[test]
fn one_decimal_number_forms_round_trip() {
    for n in -20_000..20_000i64 {
        let text = format!(
            "{}{}.{}",
            if n < 0 { "-" } else { "" },
            n.abs() / 10,
            n.abs() % 10
        );
        assert_eq!(from_json(&text).unwrap(), Fen(n * 10), "{text}");
    }
}

#[test]
fn sums() {
    assert_eq!(Fen::checked_sum([Fen(1), Fen(2), Fen(-3)]), Some(Fen(0)));
    assert_eq!(Fen::checked_sum([Fen(i64::MAX), Fen(1)]), None);
    assert_eq!(Fen(5).checked_sub(Fen(7)), Some(Fen(-2)));
}

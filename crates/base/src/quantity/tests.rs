//! Tests of [`Qty`](super::Qty), [`Price`](super::Price) and [`line_amount`](super::line_amount):
//! accepted and refused forms, JSON strings and numbers, and rounding to the fen.

use super::*;

#[test]
fn quantities_parse_exactly() {
    for (text, units) in [
        ("1", 10_000),
        ("1.5", 15_000),
        ("0.0001", 1),
        ("2.0000", 20_000),
        ("-1.25", -12_500),
        ("007", 70_000),
    ] {
        assert_eq!(Qty::parse(text), Ok(Qty(units)), "{text}");
    }
    assert_eq!(Qty::parse(""), Err(QuantityError::Empty));
    assert_eq!(
        Qty::parse("1.00001"),
        Err(QuantityError::TooManyDecimals {
            text: "1.00001".into(),
            max: 4
        })
    );
    for text in ["1e2", " 1", "+1", "1.", ".5", "1,5", "NaN"] {
        assert!(
            matches!(Qty::parse(text), Err(QuantityError::Syntax(_))),
            "{text}"
        );
    }
    assert!(matches!(
        Qty::parse("922337203685478"),
        Err(QuantityError::OutOfRange(_))
    ));
}

#[test]
fn prices_parse_exactly_and_are_never_negative() {
    assert_eq!(Price::parse("12.5"), Ok(Price(12_500_000)));
    assert_eq!(Price::parse("3.333333"), Ok(Price(3_333_333)));
    assert_eq!(Price::parse("0.000001"), Ok(Price(1)));
    assert!(matches!(
        Price::parse("3.3333333"),
        Err(QuantityError::TooManyDecimals { max: 6, .. })
    ));
    assert_eq!(
        Price::parse("-1.00"),
        Err(QuantityError::Negative("-1.00".into()))
    );
    assert_eq!(Price::parse("-0"), Ok(Price(0)));
}

#[test]
fn display_and_serde_keep_every_decimal() {
    assert_eq!(Qty(15_000).to_string(), "1.5000");
    assert_eq!(Qty(-1).to_string(), "-0.0001");
    assert_eq!(Price(3_333_333).to_string(), "3.333333");
    assert_eq!(Price(12_500_000).to_string(), "12.500000");
    assert_eq!(serde_json::to_string(&Qty::ONE).unwrap(), r#""1.0000""#);
    assert_eq!(serde_json::to_string(&Price(1)).unwrap(), r#""0.000001""#);
    for n in -30_000..30_000 {
        let q = Qty(n * 7);
        assert_eq!(q.to_string().parse::<Qty>(), Ok(q));
        let q2: Qty = serde_json::from_str(&q.to_string()).unwrap();
        assert_eq!(q2, q, "as a JSON number");
        let p = Price(n.abs() * 13);
        assert_eq!(p.to_string().parse::<Price>(), Ok(p));
        let p2: Price = serde_json::from_str(&p.to_string()).unwrap();
        assert_eq!(p2, p, "as a JSON number");
    }
}

#[test]
fn json_numbers_and_strings_are_accepted_within_the_exact_range() {
    let q: Qty = serde_json::from_str("2").unwrap();
    assert_eq!(q, Qty(20_000));
    let q: Qty = serde_json::from_str(r#""0.5""#).unwrap();
    assert_eq!(q, Qty(5_000));
    let p: Price = serde_json::from_str("3.333333").unwrap();
    assert_eq!(p, Price(3_333_333));
    assert!(serde_json::from_str::<Price>("3.3333333").is_err());
    assert!(serde_json::from_str::<Price>("-1").is_err());
    assert!(
        serde_json::from_str::<Price>("1000000000.5").is_err(),
        "beyond 15 significant digits"
    );
    assert!(serde_json::from_str::<Qty>("null").is_err());
}

#[test]
fn line_amounts_round_half_away_from_zero_to_the_fen() {
    let amount = |cnt: &str, pric: &str| line_amount(cnt.parse().unwrap(), pric.parse().unwrap());
    assert_eq!(amount("2", "12.5"), Some(Fen(2_500)));
    // 1.5 × 3.333333 = 4.9999995 → 5.00
    assert_eq!(amount("1.5", "3.333333"), Some(Fen(500)));
    // 3 × 0.001666 = 0.004998 → 0.00; 3 × 0.001667 = 0.005001 → 0.01
    assert_eq!(amount("3", "0.001666"), Some(Fen(0)));
    assert_eq!(amount("3", "0.001667"), Some(Fen(1)));
    // Exactly half a fen rounds away from zero, for returns too.
    assert_eq!(amount("1", "0.005"), Some(Fen(1)));
    assert_eq!(amount("-1", "0.005"), Some(Fen(-1)));
    assert_eq!(amount("-1.5", "3.333333"), Some(Fen(-500)));
    assert_eq!(amount("0.0001", "0.000001"), Some(Fen(0)));
    assert_eq!(line_amount(Qty(i64::MAX), Price(i64::MAX)), None);
}

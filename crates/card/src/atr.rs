//! The answer to reset (ISO 7816-3): just enough parsing to find the historical bytes, which the
//! `iReadCardBas` line reports as 卡复位信息.
//!
//! Walks TS, T0 and the chain of interface bytes (TAi TBi TCi TDi) to the K historical bytes.
//! Never panics on any input; a contactless card's ATR as synthesised by PC/SC parses the same
//! way. It does not interpret protocol parameters (that is the reader's business).

/// An ATR that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AtrError {
    /// TS is not `3B` (direct) or `3F` (inverse convention).
    #[error("ATR does not start with 3B or 3F")]
    BadTs,
    /// The ATR ends before its interface or historical bytes do.
    #[error("ATR is truncated")]
    Truncated,
}

/// The historical bytes of `atr`.
pub fn historical_bytes(atr: &[u8]) -> Result<&[u8], AtrError> {
    match atr.first() {
        Some(0x3B | 0x3F) => {}
        Some(_) => return Err(AtrError::BadTs),
        None => return Err(AtrError::Truncated),
    }
    let t0 = *atr.get(1).ok_or(AtrError::Truncated)?;
    let k = usize::from(t0 & 0x0F);
    let mut y = t0 >> 4;
    let mut i = 2;
    loop {
        // TAi, TBi, TCi are skipped; TDi (bit 8 of Y) announces the next group.
        i += usize::from((y & 0x1) + ((y >> 1) & 0x1) + ((y >> 2) & 0x1));
        if y & 0x8 == 0 {
            break;
        }
        let td = *atr.get(i).ok_or(AtrError::Truncated)?;
        i += 1;
        y = td >> 4;
    }
    atr.get(i..i + k).ok_or(AtrError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn contact_atr_without_td() {
        // TS T0=6C (TB1 TC1, 12 historical bytes).
        let atr = h("3B6C00004D534153534533304E010000");
        assert_eq!(historical_bytes(&atr).unwrap(), &atr[4..]);
    }

    #[test]
    fn contactless_atr_with_td_chain_and_tck() {
        // PC/SC synthesised ATR: T0=8F, TD1=80, TD2=01, 15 historical bytes, TCK.
        let atr = h("3B8F8001804F0CA0000003060300030000000068");
        assert_eq!(historical_bytes(&atr).unwrap(), &atr[4..19]);
    }

    #[test]
    fn ta1_and_td_with_more_groups() {
        // T0=D3: TA1 TC1 TD1, K=3; TD1=81: TD2 (T=1); TD2=31: TA3 TB3, T=1.
        let atr = h("3BD3 11 FF 81 31 FE 45 414243 00".replace(' ', "").as_str());
        assert_eq!(historical_bytes(&atr).unwrap(), b"ABC");
    }

    #[test]
    fn rejects_bad_atrs() {
        assert_eq!(historical_bytes(&[]), Err(AtrError::Truncated));
        assert_eq!(historical_bytes(&[0x3B]), Err(AtrError::Truncated));
        assert_eq!(historical_bytes(&[0x12, 0x00]), Err(AtrError::BadTs));
        assert_eq!(historical_bytes(&h("3B8F")), Err(AtrError::Truncated));
        assert_eq!(historical_bytes(&h("3B02AA")), Err(AtrError::Truncated));
        assert_eq!(historical_bytes(&h("3B00")).unwrap(), &[] as &[u8]);
    }

    #[test]
    fn never_panics() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7816);
        for _ in 0..20_000 {
            let len = rng.random_range(0..40);
            let mut atr: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if let Some(b) = atr.first_mut() {
                *b = 0x3B;
            }
            let _ = historical_bytes(&atr);
        }
    }
}

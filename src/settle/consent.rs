//! The record of the patient's consent that a sale keeps (upstream.md "Patient consent").
//!
//! The card PIN is verified by the card itself (VERIFY APDU, `cashier.rs`); the platform is
//! told nothing about it unless the deployment configures a provincial practice
//! (`upstream.consent`, only `none` in this build: `cainfo` carries no password). What the
//! terminal keeps is a *seal*: a keyed hash (HMAC-SHA256 under the database's own key,
//! [`Store::keyed_hash`]) over the sale's `chrg_bchno`, its amount in fen and the consent fact.
//! It contains nothing derived from the PIN, so it cannot be brute-forced into a PIN; it is
//! bound to one sale and one amount, so it proves nothing for another; and it is dropped from
//! the sale document once the sale is final ([`ends_consent`]).

use medsettle_base::Fen;

use super::state::SaleState;
use crate::store::Store;

/// The keyed-hash domain of consent seals (versioned with the message layout).
const DOMAIN: &str = "medsettle.consent.v1";

/// What the consent was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fact {
    /// The card in the reader verified the PIN (VERIFY answered 9000).
    PinVerifiedByCard,
    /// A PIN was entered for a credential nothing on this terminal can verify it against (a
    /// signed e-SSC without its card); kept as entered, never sent under practice `none`.
    PinEntered,
}

impl Fact {
    fn as_str(self) -> &'static str {
        match self {
            Fact::PinVerifiedByCard => "pin-verified-by-card",
            Fact::PinEntered => "pin-entered",
        }
    }
}

fn message(chrg_bchno: &str, amount: Fen, fact: Fact) -> Vec<u8> {
    // `|` cannot occur in a chrg_bchno (the sale id: `S` + digits + hex).
    format!("{chrg_bchno}|{}|{}", amount.0, fact.as_str()).into_bytes()
}

/// The seal of `fact` for the sale `chrg_bchno` of `amount`.
pub(super) fn seal(store: &Store, chrg_bchno: &str, amount: Fen, fact: Fact) -> String {
    store.keyed_hash(DOMAIN, &message(chrg_bchno, amount, fact))
}

/// Whether `seal` is the seal of `fact` for this sale and amount (constant-time compare).
#[cfg(test)]
pub(super) fn verify(store: &Store, seal: &str, chrg_bchno: &str, amount: Fen, fact: Fact) -> bool {
    let expected = self::seal(store, chrg_bchno, amount, fact);
    let (a, b) = (expected.as_bytes(), seal.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A sale in `state` needs its consent no longer: the seal is dropped from its document.
/// (`reversed` keeps it: the sale settles again under the same consent.)
pub(super) fn ends_consent(state: SaleState) -> bool {
    matches!(
        state,
        SaleState::Settled
            | SaleState::Cancelled
            | SaleState::Abandoned
            | SaleState::Expired
            | SaleState::Rejected
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) =
            Store::open(&dir.path().join("medsettle.db"), Duration::from_secs(5)).unwrap();
        (dir, store)
    }

    #[test]
    fn a_seal_verifies_for_its_own_sale_amount_and_fact_only() {
        let (_dir, store) = store();
        let f = Fact::PinVerifiedByCard;
        let s = seal(&store, "S2611231000001a2b3c4d", Fen(12_850), f);
        assert_eq!(s.len(), 64, "hex HMAC-SHA256");
        assert!(verify(&store, &s, "S2611231000001a2b3c4d", Fen(12_850), f));
        // Another sale, another amount, another fact: refused.
        assert!(!verify(&store, &s, "S2611231000002a2b3c4d", Fen(12_850), f));
        assert!(!verify(&store, &s, "S2611231000001a2b3c4d", Fen(12_851), f));
        assert!(!verify(
            &store,
            &s,
            "S2611231000001a2b3c4d",
            Fen(12_850),
            Fact::PinEntered
        ));
        assert!(!verify(&store, "", "S2611231000001a2b3c4d", Fen(12_850), f));
    }

    #[test]
    fn a_seal_is_keyed_by_the_database_and_holds_nothing_of_a_pin() {
        let (_d1, one) = store();
        let (_d2, two) = store();
        let f = Fact::PinVerifiedByCard;
        let a = seal(&one, "S1", Fen(100), f);
        // Another database (another key) computes another seal for the same sale.
        assert_ne!(a, seal(&two, "S1", Fen(100), f));
        assert!(!verify(&two, &a, "S1", Fen(100), f));
        // The same database, the same sale: stable (the seal can be checked later).
        assert_eq!(a, seal(&one, "S1", Fen(100), f));
        // No PIN goes in: the seal is the same whatever PIN the patient typed, and it is not
        // the old unsalted SM3(cert_no:PIN) of any PIN.
        for pin in ["123456", "000000"] {
            let old = medsettle_nhsa::signing::sm3_hex(format!("M12345678:{pin}").as_bytes());
            assert_ne!(a, old);
        }
    }
}

//! A sale's settlement facts as fleet ledger rows: the lines `settle::facts::facts_of` derives
//! (so the ledger, 3201 and 3202 never disagree about what a sale was), with `psn_no` replaced
//! by its keyed hash and its sealed value, and amounts as integer fen.
//!
//! Pure: a sale in, rows out. Both come from the fleet's `psn_key` ([`PsnHasher`]):
//! - the keyed hash is HMAC-SHA256 under the key: every terminal of the fleet computes the same
//!   value for the same insured person, and nobody without the key can go back from the hash
//!   to the number (a plain hash of a structured number could be reversed by trying them all);
//! - the sealed value is AES-256-GCM under a key derived from it (HKDF-SHA256), because the
//!   institution-wide 3202 must write each settlement's `psn_no` into its detail file
//!   (upstream.md, 9101): the terminal that runs it opens the numbers of every terminal's
//!   settlements, and PostgreSQL, its backups and its administrators only ever hold ciphertext.

use chrono::NaiveDate;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};

use super::FleetError;
use crate::settle::facts::{Fact, facts_of};
use crate::settle::sale::Sale;

/// The shortest `psn_key` accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

/// The first bytes of a sealed `psn_no` (format version 1): then the nonce, the ciphertext and
/// the tag.
const SEALED_MAGIC: &[u8; 2] = b"F1";
/// The HKDF `info` of the sealing key, and the associated data of every sealed value.
const SEAL_INFO: &[u8] = b"medsettle/fleet/psn_sealed/1";

/// The fleet's keyed hash and sealing of `psn_no`, both from `psn_key`.
pub struct PsnHasher {
    key: hmac::Key,
    seal: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for PsnHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PsnHasher(****)")
    }
}

impl PsnHasher {
    /// A hasher under `key` (the secret's bytes); at least [`MIN_KEY_BYTES`].
    pub fn new(key: &[u8]) -> Result<PsnHasher, FleetError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(FleetError::WeakKey {
                min: MIN_KEY_BYTES,
                found: key.len(),
            });
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"medsettle fleet").extract(key);
        let okm = prk
            .expand(&[SEAL_INFO], &AES_256_GCM)
            .expect("HKDF-SHA256 yields 32 bytes");
        Ok(PsnHasher {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            seal: LessSafeKey::new(UnboundKey::from(okm)),
            rng: SystemRandom::new(),
        })
    }

    /// The keyed hash of `psn_no`, lowercase hex; empty for an empty number (a sale without
    /// a person).
    pub fn hash(&self, psn_no: &str) -> String {
        if psn_no.is_empty() {
            return String::new();
        }
        hex::encode(hmac::sign(&self.key, psn_no.as_bytes()).as_ref())
    }

    /// `psn_no` sealed under a fresh random nonce; `None` for an empty number.
    pub fn seal(&self, psn_no: &str) -> Option<Vec<u8>> {
        if psn_no.is_empty() {
            return None;
        }
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .expect("the system random source works");
        let mut body = psn_no.as_bytes().to_vec();
        self.seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(SEAL_INFO),
                &mut body,
            )
            .expect("AES-GCM seals any psn_no");
        let mut out = Vec::with_capacity(SEALED_MAGIC.len() + NONCE_LEN + body.len());
        out.extend_from_slice(SEALED_MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Some(out)
    }

    /// The `psn_no` a [`PsnHasher::seal`] under the same key made. A value sealed under
    /// another key, cut short or altered is refused.
    pub fn open(&self, sealed: &[u8]) -> Result<String, FleetError> {
        let refused = |reason: &str| FleetError::Sealed(reason.to_owned());
        let rest = sealed
            .strip_prefix(SEALED_MAGIC)
            .ok_or_else(|| refused("not a sealed psn_no (unknown format)"))?;
        if rest.len() < NONCE_LEN {
            return Err(refused("too short"));
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused("bad nonce"))?;
        let mut buf = body.to_vec();
        let plain = self
            .seal
            .open_in_place(nonce, Aad::from(SEAL_INFO), &mut buf)
            .map_err(|_| refused("does not open under this fleet's psn_key"))?;
        String::from_utf8(plain.to_vec()).map_err(|_| refused("not text"))
    }
}

/// One ledger line of a sale (`settlement_facts`), without the sale-wide columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub refund: bool,
    pub kind: &'static str,
    pub msgid: String,
    pub setl_id: String,
    pub original_setl_id: Option<String>,
    pub mdtrt_id: String,
    /// The keyed hash of `psn_no` ([`PsnHasher`]).
    pub psn_hash: String,
    /// `psn_no` sealed ([`PsnHasher::seal`]); `None` without a person.
    pub psn_sealed: Option<Vec<u8>>,
    pub insutype: String,
    pub clr_type: String,
    pub clr_optins: String,
    pub setl_time: Option<String>,
    /// `None` when the fact's day is not a date (never from a well-formed answer).
    pub day: Option<NaiveDate>,
    pub medfee_fen: i64,
    pub fund_fen: i64,
    pub account_fen: i64,
    pub cash_fen: i64,
    pub from_answer: bool,
}

impl LedgerRow {
    fn of(fact: &Fact, hasher: &PsnHasher) -> LedgerRow {
        LedgerRow {
            refund: fact.refund,
            kind: fact.kind.as_str(),
            msgid: fact.msgid.clone(),
            setl_id: fact.setl_id.clone(),
            original_setl_id: fact.original_setl_id.clone(),
            mdtrt_id: fact.mdtrt_id.clone(),
            psn_hash: hasher.hash(&fact.psn_no),
            psn_sealed: hasher.seal(&fact.psn_no),
            insutype: fact.insutype.clone(),
            clr_type: fact.clr_type.clone(),
            clr_optins: fact.clr_optins.clone(),
            setl_time: fact.setl_time.clone(),
            day: NaiveDate::parse_from_str(&fact.day, "%Y-%m-%d").ok(),
            medfee_fen: fact.medfee.0,
            fund_fen: fact.fund.0,
            account_fen: fact.account.0,
            cash_fen: fact.cash.0,
            from_answer: fact.from_answer,
        }
    }
}

/// A sale as the ledger receives it: its lines (none: the sale has no facts, and any line the
/// ledger holds for it is void) at `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleFacts {
    pub sale_id: String,
    pub version: i64,
    pub state: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub rows: Vec<LedgerRow>,
}

/// The ledger rows of `sale`.
pub fn rows_of(sale: &Sale, hasher: &PsnHasher) -> Vec<LedgerRow> {
    facts_of(sale)
        .iter()
        .map(|f| LedgerRow::of(f, hasher))
        .collect()
}

/// The sale stored as `doc` (JSON) at `version`, as the ledger receives it.
pub(super) fn sale_facts(
    id: &str,
    doc: &str,
    version: i64,
    updated_at_ms: i64,
    hasher: &PsnHasher,
) -> Result<SaleFacts, FleetError> {
    let sale: Sale = serde_json::from_str(doc).map_err(|e| FleetError::Doc {
        id: id.to_owned(),
        // The position only: the text around it may be personal data.
        reason: format!("line {} column {}", e.line(), e.column()),
    })?;
    Ok(SaleFacts {
        sale_id: sale.id.clone(),
        version,
        state: sale.state.as_str().to_owned(),
        created_at_ms: sale.created_at_ms,
        updated_at_ms,
        rows: rows_of(&sale, hasher),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settle::SaleState;
    use crate::settle::sale::{Cancellation, Person, Split};
    use crate::upstream::Fen;
    use medsettle_base::pii::PsnNo;
    use serde_json::json;

    const KEY: &[u8] = b"fleet-test-key-0123456789";

    fn settled() -> Sale {
        let mut s = Sale::captured(
            "S20261202-0001".into(),
            1_796_000_000_000,
            crate::settle::options::SaleMode::PreferOnline,
            crate::settle::sale::Credential::Card {
                card_no: "M12345678".into(),
                card_sn: "110105D15600000500A1B2C3D4E5F601".into(),
                id_number: "110105199003071239".into(),
                name: "测试张三".into(),
            },
        );
        s.state = SaleState::Settled;
        s.person = Some(Person {
            psn_no: PsnNo::new("P110105000001"),
            insuplc_admdvs: "110105".into(),
            insutype: "310".into(),
            balance: Fen(0),
            insurances: vec![],
        });
        s.settlement = Some(Split {
            setl_id: Some("S1".into()),
            mdtrt_id: Some("M1".into()),
            medfee: Fen(9_100),
            fund: Fen(5_000),
            account: Fen(3_000),
            cash: Some(Fen(1_100)),
            hosp_part: None,
            balance_after: None,
            day: "2026-12-02".into(),
            funds: vec![],
            answer: json!({"clr_type": "41", "clr_optins": "110199",
                           "setl_time": "2026-12-02 23:59:59"}),
            mismatches: vec![],
            mismatches_acknowledged: None,
            msgid: Some("H11010500001202612022359590001".into()),
        });
        s
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(matches!(
            PsnHasher::new(b"short"),
            Err(FleetError::WeakKey { min: 16, found: 5 })
        ));
    }

    #[test]
    fn the_hash_is_hmac_sha256_and_depends_on_the_key() {
        let a = PsnHasher::new(KEY).unwrap();
        let b = PsnHasher::new(b"another-fleet-key-0123456789").unwrap();
        let h = a.hash("P110105000001");
        assert_eq!(h.len(), 64);
        assert!(h.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(h, a.hash("P110105000001"), "stable");
        assert_ne!(h, b.hash("P110105000001"), "keyed");
        assert_ne!(h, a.hash("P110105000002"));
        assert_eq!(a.hash(""), "");
        // RFC 4231 test case 2: "Jefe" / "what do ya want for nothing?" (key padded to the
        // minimum length is a different key, so check the primitive through ring directly).
        let k = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        assert_eq!(
            hex::encode(hmac::sign(&k, b"what do ya want for nothing?").as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_sealed_psn_no_opens_only_under_the_fleets_key_and_never_twice_the_same() {
        let a = PsnHasher::new(KEY).unwrap();
        let b = PsnHasher::new(b"another-fleet-key-0123456789").unwrap();
        let one = a.seal("P110105000001").unwrap();
        let two = a.seal("P110105000001").unwrap();
        assert_ne!(one, two, "a fresh nonce each time");
        assert!(one.starts_with(b"F1"));
        assert!(
            !one.windows(13).any(|w| w == b"P110105000001"),
            "no clear text in the sealed value"
        );
        assert_eq!(a.open(&one).unwrap(), "P110105000001");
        assert_eq!(a.open(&two).unwrap(), "P110105000001");
        assert!(matches!(b.open(&one), Err(FleetError::Sealed(_))));
        let mut altered = one.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(matches!(a.open(&altered), Err(FleetError::Sealed(_))));
        assert!(matches!(a.open(&one[..10]), Err(FleetError::Sealed(_))));
        assert!(matches!(
            a.open(b"P110105000001"),
            Err(FleetError::Sealed(_))
        ));
        assert_eq!(a.seal(""), None);
    }

    #[test]
    fn a_settled_sale_is_one_line_without_clear_personal_data() {
        let h = PsnHasher::new(KEY).unwrap();
        let rows = rows_of(&settled(), &h);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert!(!r.refund);
        assert_eq!(r.kind, "pharmacy");
        assert_eq!(r.psn_hash, h.hash("P110105000001"));
        assert_eq!(
            h.open(r.psn_sealed.as_deref().unwrap()).unwrap(),
            "P110105000001"
        );
        assert_eq!((r.insutype.as_str(), r.clr_type.as_str()), ("310", "41"));
        assert_eq!(r.clr_optins, "110199");
        assert_eq!(r.day, NaiveDate::from_ymd_opt(2026, 12, 2));
        assert_eq!(
            (r.medfee_fen, r.fund_fen, r.account_fen, r.cash_fen),
            (9_100, 5_000, 3_000, 1_100)
        );
        let text = format!("{r:?}");
        for clear in [
            "P110105000001",
            "110105199003071239",
            "测试张三",
            "M12345678",
        ] {
            assert!(!text.contains(clear), "{clear} in {text}");
        }
    }

    #[test]
    fn a_cancelled_sale_adds_its_negative_line() {
        let h = PsnHasher::new(KEY).unwrap();
        let mut s = settled();
        s.state = SaleState::Cancelled;
        s.cancellation = Some(Cancellation {
            setl_id: Some("C1".into()),
            original_setl_id: Some("S1".into()),
            cash_refunded: Some(Fen(1_100)),
            cash_from: "answer".into(),
            answer: json!({"setl_time": "2026-12-03 08:00:00"}),
            msgid: Some("H11010500001202612030800000001".into()),
            day: Some("2026-12-03".into()),
        });
        let doc = serde_json::to_string(&s).unwrap();
        let f = sale_facts(&s.id, &doc, 9, 1_796_000_100_000, &h).unwrap();
        assert_eq!(f.state, "cancelled");
        assert_eq!(f.version, 9);
        assert_eq!(f.rows.len(), 2);
        let r = &f.rows[1];
        assert!(r.refund);
        assert_eq!(r.original_setl_id.as_deref(), Some("S1"));
        assert_eq!(r.medfee_fen, -9_100);
        assert_eq!(r.day, NaiveDate::from_ymd_opt(2026, 12, 3));
    }

    #[test]
    fn an_unreadable_document_names_the_sale_not_its_content() {
        let h = PsnHasher::new(KEY).unwrap();
        let e = sale_facts("S9", r#"{"id": "110105199003071239""#, 1, 0, &h).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("S9"), "{text}");
        assert!(!text.contains("110105199003071239"), "{text}");
    }
}

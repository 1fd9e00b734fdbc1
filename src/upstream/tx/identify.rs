//! From a validated credential to the 1101 person query (upstream.md): a social security card
//! is `mdtrt_cert_type = 03` with `mdtrt_cert_no` = 卡号 and `card_sn` = 卡识别码; a signed
//! e-SSC is `02` with the 社会保障号码 as certificate number; an e-voucher is `01` with the
//! `ecToken` the platform's `ec.query` returned.

use chrono::{DateTime, Utc};

use super::person::{CertType, PersonQuery, PersonQueryInput};
use crate::card::CardRecord;
use crate::qr::essc::EsscIdentity;
use crate::upstream::time::format_inf_time;

/// `psn_cert_type` of a resident identity card (居民身份证).
const RESIDENT_ID: &str = "01";

/// The 1101 query for a card read at `at`. The card's holder data, when it was read, fills
/// `certno`/`psn_name`; the platform identifies the card by number and 卡识别码 either way.
pub fn for_card(card: &CardRecord, at: DateTime<Utc>) -> PersonQueryInput {
    let (certno, name) = card
        .holder
        .as_ref()
        .map(|h| (h.id_number.clone(), h.name.clone()))
        .unwrap_or_default();
    PersonQueryInput {
        data: PersonQuery {
            mdtrt_cert_type: CertType::SocialSecurityCard,
            mdtrt_cert_no: card.card_no.clone(),
            card_sn: card.card_id.clone(),
            begntime: format_inf_time(at),
            psn_cert_type: if certno.is_empty() {
                String::new()
            } else {
                RESIDENT_ID.to_owned()
            },
            certno,
            psn_name: name,
        },
    }
}

/// The 1101 query for a verified e-SSC code.
pub fn for_essc(id: &EsscIdentity, at: DateTime<Utc>) -> PersonQueryInput {
    PersonQueryInput {
        data: PersonQuery {
            mdtrt_cert_type: CertType::IdNumber,
            mdtrt_cert_no: id.sn.expose().to_owned(),
            card_sn: String::new(),
            begntime: format_inf_time(at),
            psn_cert_type: RESIDENT_ID.to_owned(),
            certno: id.sn.expose().to_owned(),
            psn_name: id.name.expose().to_owned(),
        },
    }
}

/// The 1101 query for a citizen ID number typed or scanned by staff (`02`), with the name when
/// known.
pub fn for_id_number(certno: &str, name: &str, at: DateTime<Utc>) -> PersonQueryInput {
    PersonQueryInput {
        data: PersonQuery {
            mdtrt_cert_type: CertType::IdNumber,
            mdtrt_cert_no: certno.to_owned(),
            card_sn: String::new(),
            begntime: format_inf_time(at),
            psn_cert_type: RESIDENT_ID.to_owned(),
            certno: certno.to_owned(),
            psn_name: name.to_owned(),
        },
    }
}

/// The 1101 query for an e-voucher, by the token `ec.query` returned.
pub fn for_ec_token(ec_token: &str, at: DateTime<Utc>) -> PersonQueryInput {
    PersonQueryInput {
        data: PersonQuery {
            mdtrt_cert_type: CertType::EVoucher,
            mdtrt_cert_no: ec_token.to_owned(),
            card_sn: String::new(),
            begntime: format_inf_time(at),
            psn_cert_type: String::new(),
            certno: String::new(),
            psn_name: String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::script::ScriptedTransport;
    use crate::card::{ReadOptions, read_card};

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn a_card_is_cert_type_03_with_number_and_identification_code() {
        let mut t =
            ScriptedTransport::parse(include_str!("../../../fixtures/apdu/normal.txt")).unwrap();
        let card = read_card(&mut t, &ReadOptions::default()).unwrap().record;
        let q = serde_json::to_value(for_card(&card, at())).unwrap();
        let d = &q["data"];
        assert_eq!(d["mdtrt_cert_type"], "03");
        assert_eq!(d["mdtrt_cert_no"], card.card_no.as_str());
        assert_eq!(d["card_sn"], card.card_id.as_str());
        assert_eq!(d["begntime"], "2026-11-23 10:00:00", "China Standard Time");
        let h = card.holder.as_ref().unwrap();
        assert_eq!(d["certno"], h.id_number.as_str());
        // A card read before authentication still identifies by number and 卡识别码.
        let mut protected = card.clone();
        protected.holder = None;
        let q = serde_json::to_value(for_card(&protected, at())).unwrap();
        assert_eq!(
            (
                q["data"]["certno"].as_str(),
                q["data"]["psn_cert_type"].as_str()
            ),
            (Some(""), Some(""))
        );
    }

    #[test]
    fn an_essc_is_cert_type_02_with_the_id_number() {
        use crate::qr::essc::{Issuer, KeyRing, MemoryReplayGuard, Verifier};
        let issuer = Issuer::generate("k1");
        let now = at().timestamp();
        let code = issuer.mint(&issuer.claims(
            "11010519491231002X",
            "张三",
            "A12345678",
            "110105",
            now,
            60,
        ));
        let keys = KeyRing::from_hex([("k1", issuer.public_key_hex().as_str())]).unwrap();
        let id = Verifier::new(keys)
            .verify(&code, now, &MemoryReplayGuard::new(4))
            .unwrap();
        let q = serde_json::to_value(for_essc(&id, at())).unwrap();
        assert_eq!(q["data"]["mdtrt_cert_type"], "02");
        assert_eq!(q["data"]["mdtrt_cert_no"], "11010519491231002X");
        assert_eq!(q["data"]["psn_name"], "张三");
        assert_eq!(q["data"]["card_sn"], "");
    }

    #[test]
    fn an_evoucher_is_cert_type_01_with_its_token() {
        let q = serde_json::to_value(for_ec_token("T0KEN-40-CHARS", at())).unwrap();
        assert_eq!(q["data"]["mdtrt_cert_type"], "01");
        assert_eq!(q["data"]["mdtrt_cert_no"], "T0KEN-40-CHARS");
    }
}

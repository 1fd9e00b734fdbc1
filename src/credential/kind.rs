//! [`Credential`]: what a sale is made with, as the sale document stores it (`sales.doc`,
//! sealed JSON) — a card this terminal read, a verified e-SSC, or an e-voucher the platform
//! decoded. Personal data is held in the `medsettle_base::pii` newtypes, so `{:?}` of a
//! credential (or of a sale holding one) is masked while the JSON keeps its clear shape.
//!
//! Pure data: no I/O, no platform calls (decoding an e-voucher is the engine's job); nothing
//! here may print a field in clear except [`Credential::masked`]'s deliberate masking.

use std::fmt;

use medsettle_base::pii::{CardNumber, IdNumber, PersonName, mask_card, mask_id, mask_name};
use medsettle_card::CardRecord;
use medsettle_essc::EsscIdentity;
use medsettle_nhsa::tx::person::CertType;
use serde::{Deserialize, Serialize};

/// The credential a sale is made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// A social security card read by this terminal (`mdtrt_cert_type=03`).
    Card {
        card_no: CardNumber,
        card_sn: String,
        #[serde(default)]
        id_number: IdNumber,
        #[serde(default)]
        name: PersonName,
    },
    /// A verified signed e-SSC (`02`, the ID number).
    Essc {
        id_number: IdNumber,
        name: PersonName,
        region: String,
    },
    /// An e-voucher decoded by `ec.query` (`01`, the short-lived token).
    EVoucher {
        ec_token: BearerToken,
        insu_org: String,
        id_number: IdNumber,
        name: PersonName,
    },
}

/// The e-voucher's `ecToken` in a sale: a bearer credential for a few minutes. Serialized
/// clear (the sealed document needs it); `Debug` shows only its length.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token, for the upstream request that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerToken({} chars)", self.0.len())
    }
}

impl Credential {
    /// A card as this terminal read it; a card that withheld its holder data gives empty ID
    /// number and name.
    pub fn from_card(record: &CardRecord) -> Credential {
        let (id_number, name) = record
            .holder
            .as_ref()
            .map(|h| (IdNumber::new(&*h.id_number), PersonName::new(&*h.name)))
            .unwrap_or_default();
        Credential::Card {
            card_no: CardNumber::new(&*record.card_no),
            card_sn: record.card_id.clone(),
            id_number,
            name,
        }
    }

    /// A verified e-SSC.
    pub fn from_essc(identity: &EsscIdentity) -> Credential {
        Credential::Essc {
            id_number: identity.sn.clone(),
            name: identity.name.clone(),
            region: identity.region.clone(),
        }
    }

    /// `mdtrt_cert_type`.
    pub fn cert_type(&self) -> CertType {
        match self {
            Credential::Card { .. } => CertType::SocialSecurityCard,
            Credential::Essc { .. } => CertType::IdNumber,
            Credential::EVoucher { .. } => CertType::EVoucher,
        }
    }

    /// `mdtrt_cert_no` (clear: it goes into the upstream request).
    pub fn cert_no(&self) -> &str {
        match self {
            Credential::Card { card_no, .. } => card_no.expose(),
            Credential::Essc { id_number, .. } => id_number.expose(),
            Credential::EVoucher { ec_token, .. } => ec_token.expose(),
        }
    }

    /// The holder's ID number (empty for a card that withheld it).
    pub fn id_number(&self) -> &IdNumber {
        match self {
            Credential::Card { id_number, .. }
            | Credential::Essc { id_number, .. }
            | Credential::EVoucher { id_number, .. } => id_number,
        }
    }

    /// The holder's name (empty for a card that withheld it).
    pub fn name(&self) -> &PersonName {
        match self {
            Credential::Card { name, .. }
            | Credential::Essc { name, .. }
            | Credential::EVoucher { name, .. } => name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Credential::Card { .. } => "card",
            Credential::Essc { .. } => "essc",
            Credential::EVoucher { .. } => "evoucher",
        }
    }

    /// Masked, for views and events.
    pub fn masked(&self) -> serde_json::Value {
        match self {
            Credential::Card {
                card_no,
                id_number,
                name,
                ..
            } => serde_json::json!({
                "kind": "card", "card_no": mask_card(card_no.expose()),
                "id_number": mask_id(id_number.expose()), "name": mask_name(name.expose()),
            }),
            Credential::Essc {
                id_number, name, ..
            }
            | Credential::EVoucher {
                id_number, name, ..
            } => serde_json::json!({
                "kind": self.kind(), "id_number": id_number.masked(), "name": name.masked(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> Credential {
        Credential::Card {
            card_no: "M12345678".into(),
            card_sn: "110105D15600000500A1B2C3D4E5F601".into(),
            id_number: "110105199003071239".into(),
            name: "测试张三".into(),
        }
    }

    #[test]
    fn debug_shows_no_personal_data() {
        let token = "T".repeat(40);
        for c in [
            card(),
            Credential::Essc {
                id_number: "110105199003071239".into(),
                name: "测试张三".into(),
                region: "110105".into(),
            },
            Credential::EVoucher {
                ec_token: BearerToken::new(&*token),
                insu_org: "110000".into(),
                id_number: "110105199003071239".into(),
                name: "测试张三".into(),
            },
        ] {
            let text = format!("{c:?} {c:#?}");
            for secret in ["110105199003071239", "测试张三", "M12345678", &token] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
    }

    #[test]
    fn the_stored_json_keeps_its_clear_shape() {
        let json = serde_json::to_value(card()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "card", "card_no": "M12345678",
                "card_sn": "110105D15600000500A1B2C3D4E5F601",
                "id_number": "110105199003071239", "name": "测试张三",
            })
        );
        let back: Credential = serde_json::from_value(json).unwrap();
        assert_eq!(back, card());
        // A card document written without holder data still reads.
        let bare = serde_json::json!({ "kind": "card", "card_no": "M1", "card_sn": "S" });
        let bare: Credential = serde_json::from_value(bare).unwrap();
        assert!(bare.id_number().is_empty());
    }

    #[test]
    fn masked_keeps_the_view_shape() {
        assert_eq!(
            card().masked(),
            serde_json::json!({
                "kind": "card", "card_no": "M*****678",
                "id_number": "110105********1239", "name": "测***",
            })
        );
        assert_eq!(card().cert_no(), "M12345678");
    }
}

//! How the daemon reaches card readers, whatever they are: [`CardReaders`] is implemented by
//! the PC/SC driver (`drivers/pcsc`) and by the in-process virtual reader (`drivers/vcard`).
//!
//! The contract is deliberately small. A reader stack reports its readers and slots, streams
//! [`DeviceEvent`]s, and runs a [`CardJob`] — a blocking closure over a [`CardTransport`] —
//! against the first suitable card within a deadline, inside one exclusive transaction. The card
//! application logic (`ssc`) runs inside the job; nothing here knows about files or TLV.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::security::SecurityModule;
use super::transport::{CardTransport, Interface, TransportError};
use medsettle_base::UserFacing;

/// What a reader slot is for, from its name (defaults) or the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotKind {
    /// ISO 7816 contacts: the card goes into the slot.
    Contact,
    /// ISO 14443 antenna: the card is held over the reader.
    Contactless,
    /// A secure access module (PSAM) slot; never used for patient cards.
    Sam,
}

impl SlotKind {
    /// The card interface a patient card in this slot answers on (none for SAM slots).
    pub fn interface(self) -> Option<Interface> {
        match self {
            SlotKind::Contact => Some(Interface::Contact),
            SlotKind::Contactless => Some(Interface::Contactless),
            SlotKind::Sam => None,
        }
    }
}

/// Which slots to take a patient card from, like the 通用接口 `iType` 1–4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterfacePolicy {
    /// iType 1: contact only.
    Contact,
    /// iType 2: contactless only.
    Contactless,
    /// iType 3: either; if both hold a card, the contact one.
    #[default]
    AutoContact,
    /// iType 4: either; if both hold a card, the contactless one.
    AutoContactless,
}

impl InterfacePolicy {
    /// The slot kinds acceptable under this policy, in order of preference.
    pub fn preference(self) -> &'static [SlotKind] {
        match self {
            InterfacePolicy::Contact => &[SlotKind::Contact],
            InterfacePolicy::Contactless => &[SlotKind::Contactless],
            InterfacePolicy::AutoContact => &[SlotKind::Contact, SlotKind::Contactless],
            InterfacePolicy::AutoContactless => &[SlotKind::Contactless, SlotKind::Contact],
        }
    }

    /// The policy for a 通用接口 iType (1–4).
    pub fn from_itype(itype: u8) -> Option<InterfacePolicy> {
        Some(match itype {
            1 => InterfacePolicy::Contact,
            2 => InterfacePolicy::Contactless,
            3 => InterfacePolicy::AutoContact,
            4 => InterfacePolicy::AutoContactless,
            _ => return None,
        })
    }
}

/// One reader slot as the stack sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotInfo {
    /// The reader's PC/SC name.
    pub reader: String,
    /// What the slot is for.
    pub kind: SlotKind,
    /// Whether a card is present.
    pub card_present: bool,
    /// The present card's ATR, hex (not personal data).
    pub atr: Option<String>,
}

/// Something that happened at the readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    /// A reader appeared (plugged in, or present at start).
    ReaderAdded { reader: String, kind: SlotKind },
    /// A reader disappeared.
    ReaderRemoved { reader: String },
    /// A card arrived in a slot.
    CardInserted {
        reader: String,
        kind: SlotKind,
        atr: String,
    },
    /// The card left the slot.
    CardRemoved { reader: String },
    /// The reader service (pcscd) went away; readers are unknown until it is back.
    ServiceLost,
    /// The reader service answers again.
    ServiceRestored,
}

/// Which card to run a job on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRequest {
    /// Slot preference.
    pub policy: InterfacePolicy,
    /// Only this reader (exact name), if given.
    pub reader: Option<String>,
    /// How long to wait for a suitable card to be presented.
    pub wait: Duration,
}

/// A blocking job over one connected card, run on the reader's thread inside one exclusive
/// transaction. It gets the transport, the slot it was connected in, and the reader stack's
/// security module (a PSAM in a SAM slot, or the virtual PSAM) when it has one.
pub type CardJob =
    Box<dyn FnOnce(&mut dyn CardTransport, &SlotInfo, Option<&mut dyn SecurityModule>) + Send>;

/// A boxed future, so the trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a job could not be run on a card. Failures inside the job are the job's own business.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No reader with a slot acceptable under the policy (or the named reader) exists.
    #[error("no suitable card reader is connected")]
    NoReader,
    /// No card was presented before the deadline.
    #[error("no card presented within {} ms", .0.as_millis())]
    NoCard(Duration),
    /// The reader service is not running.
    #[error("the card reader service is unavailable")]
    ServiceUnavailable,
    /// Connecting to the presented card failed.
    #[error("cannot connect to the card: {0}")]
    Connect(TransportError),
    /// The reader stack is shutting down.
    #[error("the card reader stack is shutting down")]
    ShuttingDown,
}

impl UserFacing for AccessError {
    fn code(&self) -> &'static str {
        match self {
            AccessError::NoReader => "reader.none",
            AccessError::NoCard(_) => "card.not_presented",
            AccessError::ServiceUnavailable => "reader.service_unavailable",
            AccessError::Connect(_) => "card.connect_failed",
            AccessError::ShuttingDown => "daemon.stopping",
        }
    }

    fn message_zh(&self) -> String {
        match self {
            AccessError::NoReader => "未连接可用的读卡器，请检查读卡器连接。".into(),
            AccessError::NoCard(_) => "等待读卡超时：请插入社保卡或将卡片放在感应区。".into(),
            AccessError::ServiceUnavailable => "读卡服务（pcscd）未运行，请联系运维人员。".into(),
            AccessError::Connect(_) => "无法连接卡片，请重新插卡或重新放置卡片。".into(),
            AccessError::ShuttingDown => "结算服务正在停止，暂不受理新业务。".into(),
        }
    }

    fn message_en(&self) -> String {
        match self {
            AccessError::NoReader => "No suitable card reader is connected.".into(),
            AccessError::NoCard(_) => {
                "No card was presented in time: insert the card or hold it over the reader.".into()
            }
            AccessError::ServiceUnavailable => {
                "The card reader service (pcscd) is not running; call IT.".into()
            }
            AccessError::Connect(_) => "Cannot connect to the card: present it again.".into(),
            AccessError::ShuttingDown => {
                "The settlement service is stopping and takes no new work.".into()
            }
        }
    }
}

/// A reader stack the daemon can use.
pub trait CardReaders: Send + Sync + 'static {
    /// The slots known now.
    fn slots(&self) -> BoxFuture<'_, Result<Vec<SlotInfo>, AccessError>>;

    /// A feed of reader and card events. Lagging receivers lose the oldest events.
    fn subscribe(&self) -> broadcast::Receiver<DeviceEvent>;

    /// Waits for a suitable card (per `request`) and runs `job` on it.
    fn run(&self, request: CardRequest, job: CardJob) -> BoxFuture<'_, Result<(), AccessError>>;

    /// A short name for logs and status (`pcsc`, `virtual`).
    fn name(&self) -> &'static str;

    /// Shutdown: waits for a card end at once with [`AccessError::ShuttingDown`], a job already
    /// running on a card finishes, later requests are refused.
    fn close(&self);
}

/// Default classification: "PICC", "Contactless" or a word "CL" → contactless; a word "SAM" or
/// "PSAM" → SAM; anything else (including vpcd's "Virtual PCD 00 00") → contact.
pub fn default_slot_kind(reader_name: &str) -> SlotKind {
    let upper = reader_name.to_uppercase();
    let words: Vec<&str> = upper.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    if upper.contains("PICC") || upper.contains("CONTACTLESS") || words.contains(&"CL") {
        SlotKind::Contactless
    } else if words.iter().any(|w| *w == "SAM" || *w == "PSAM") {
        SlotKind::Sam
    } else {
        SlotKind::Contact
    }
}

impl fmt::Display for SlotKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SlotKind::Contact => "contact",
            SlotKind::Contactless => "contactless",
            SlotKind::Sam => "sam",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itypes_map_to_policies_in_order() {
        assert_eq!(
            InterfacePolicy::from_itype(1),
            Some(InterfacePolicy::Contact)
        );
        assert_eq!(
            InterfacePolicy::from_itype(4).unwrap().preference(),
            &[SlotKind::Contactless, SlotKind::Contact]
        );
        assert_eq!(InterfacePolicy::from_itype(0), None);
        assert_eq!(InterfacePolicy::from_itype(5), None);
        assert!(
            !InterfacePolicy::Contact
                .preference()
                .contains(&SlotKind::Sam)
        );
    }

    #[test]
    fn policies_parse_from_their_cli_names() {
        for (text, p) in [
            ("\"contact\"", InterfacePolicy::Contact),
            ("\"contactless\"", InterfacePolicy::Contactless),
            ("\"auto-contact\"", InterfacePolicy::AutoContact),
            ("\"auto-contactless\"", InterfacePolicy::AutoContactless),
        ] {
            assert_eq!(serde_json::from_str::<InterfacePolicy>(text).unwrap(), p);
        }
    }
}

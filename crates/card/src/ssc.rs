//! The social security application (SSSE) as a sequence of APDUs: SELECT the AID, read EF05
//! (card and issuer) and EF06 (holder) field by field, optionally VERIFY a PIN and run external
//! authentication, and assemble a [`CardRecord`]. Pure over a [`CardTransport`].
//!
//! Tolerances from card.md, each with a transcript in `fixtures/apdu/`: `6A82` on SELECT AID is
//! not fatal when EF05 still selects; SELECT EF with P1=`02` falls back to P1=`00` on `6A86`;
//! a field read by record number falls back to a read by tag (or the reverse, per
//! [`ReadStyle`]) and the style that worked is kept for the rest of the card; `6982` on EF06
//! means "authenticate first". A normal read without PIN takes 13 APDUs. The two-step (remote
//! HSM) variant is in `two_step`.

use chrono::NaiveDate;

use crate::apdu::{Apdu, SSSE_AID};
use crate::auth;
use crate::codec::{self, FieldError};
use crate::error::CardError;
use crate::exchange::Channel;
use crate::pin::{Pin, verify_pin};
use crate::record::{CardRecord, Holder, Sex};
use crate::security::SecurityModule;
use crate::status::StatusWord;
use crate::transport::CardTransport;
use crate::{atr, tlv};

/// EF05: card and issuer.
pub const EF05: u16 = 0xEF05;
/// EF06: holder.
pub const EF06: u16 = 0xEF06;

/// One field of EF05/EF06: its record number, its tag and its size.
#[derive(Debug, Clone, Copy)]
struct Field {
    rec: u8,
    tag: u8,
    len: u8,
}

const CARD_ID: Field = Field {
    rec: 1,
    tag: 0x01,
    len: 16,
};
const SPEC_VERSION: Field = Field {
    rec: 3,
    tag: 0x03,
    len: 4,
};
const ISSUE_DATE: Field = Field {
    rec: 5,
    tag: 0x05,
    len: 4,
};
const EXPIRY_DATE: Field = Field {
    rec: 6,
    tag: 0x06,
    len: 4,
};
const CARD_NO: Field = Field {
    rec: 7,
    tag: 0x07,
    len: 9,
};
const ID_NUMBER: Field = Field {
    rec: 1,
    tag: 0x08,
    len: 18,
};
const NAME: Field = Field {
    rec: 2,
    tag: 0x09,
    len: 30,
};
const SEX: Field = Field {
    rec: 4,
    tag: 0x0A,
    len: 1,
};
const NATION: Field = Field {
    rec: 5,
    tag: 0x0B,
    len: 1,
};
const BIRTH_DATE: Field = Field {
    rec: 7,
    tag: 0x0D,
    len: 4,
};

/// How records are addressed; a card that refuses the first form is asked the second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadStyle {
    /// `00 B2 <rec> 04`, then `00 B2 <tag> 00` if refused.
    #[default]
    RecordThenTag,
    /// `00 B2 <tag> 00`, then `00 B2 <rec> 04` if refused.
    TagThenRecord,
    /// By record number only.
    RecordOnly,
    /// By tag only.
    TagOnly,
}

/// When to run external authentication (needs a [`SecurityModule`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthPolicy {
    /// Only when EF06 answers `6982`.
    #[default]
    OnDemand,
    /// Before reading EF06, always.
    Before,
    /// Never; a protected EF06 leaves the holder empty.
    Never,
}

/// What to read and how.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Record addressing (a card quirk; learnt per card during the read).
    pub style: ReadStyle,
    /// External authentication policy.
    pub auth: AuthPolicy,
    /// Fail with [`CardError::AuthRequired`] instead of returning a record without holder.
    pub require_holder: bool,
    /// Skip EF06 altogether (step 1 of the two-step flow).
    pub skip_holder: bool,
}

/// A finished read.
#[derive(Debug, Clone)]
pub struct CardRead {
    /// What the card said.
    pub record: CardRecord,
    /// APDUs transmitted, GET RESPONSEs and resends included.
    pub apdus: u32,
    /// The addressing style the card ended up answering to.
    pub style: ReadStyle,
    /// The card answered `6A82` to SELECT AID (tolerated).
    pub aid_missing: bool,
    /// External authentication ran and succeeded.
    pub authenticated: bool,
    /// EF06 was refused for lack of authentication; `record.holder` is `None`.
    pub holder_protected: bool,
}

/// Reads a card without PIN or security module.
pub fn read_card(t: &mut dyn CardTransport, opts: &ReadOptions) -> Result<CardRead, CardError> {
    read_card_with(t, opts, None, None)
}

/// Reads a card, presenting `pin` after SELECT and authenticating with `module` per
/// `opts.auth`.
pub fn read_card_with(
    t: &mut dyn CardTransport,
    opts: &ReadOptions,
    pin: Option<&Pin>,
    mut module: Option<&mut dyn SecurityModule>,
) -> Result<CardRead, CardError> {
    let mut ch = Channel::new(t);
    let mut s = Session {
        ch: &mut ch,
        style: opts.style,
        aid_missing: false,
    };
    s.select_app()?;
    if let Some(pin) = pin {
        verify_pin(s.ch, pin)?;
    }
    let (mut record, card_id) = s.read_ef05()?;
    let mut authenticated = false;
    let mut holder = None;
    if !opts.skip_holder {
        if let (AuthPolicy::Before, Some(m)) = (opts.auth, module.as_deref_mut()) {
            auth::authenticate(s.ch, m, &card_id)?;
            authenticated = true;
        }
        holder = s.read_ef06()?;
        if holder.is_none() && !authenticated && opts.auth != AuthPolicy::Never {
            if let Some(m) = module {
                auth::authenticate(s.ch, m, &card_id)?;
                authenticated = true;
                holder = s.read_ef06()?;
            }
        }
        if holder.is_none() && opts.require_holder {
            return Err(CardError::AuthRequired);
        }
    }
    let holder_protected = !opts.skip_holder && holder.is_none();
    record.holder = holder;
    let (style, aid_missing) = (s.style, s.aid_missing);
    Ok(CardRead {
        record,
        apdus: ch.apdus(),
        style,
        aid_missing,
        authenticated,
        holder_protected,
    })
}

/// A field's raw value, or the card's refusal to show it before authentication.
enum Got {
    Value(Vec<u8>),
    Protected,
}

pub(crate) struct Session<'c, 't> {
    pub(crate) ch: &'c mut Channel<'t>,
    pub(crate) style: ReadStyle,
    pub(crate) aid_missing: bool,
}

fn malformed(file: u16, tag: u8) -> impl Fn(FieldError) -> CardError {
    move |e| CardError::Malformed {
        file,
        tag,
        reason: e.to_string(),
    }
}

impl Session<'_, '_> {
    fn select_app(&mut self) -> Result<(), CardError> {
        match self.ch.exchange(&Apdu::select_aid(&SSSE_AID))?.sw {
            StatusWord::Ok => Ok(()),
            StatusWord::FileNotFound => {
                self.aid_missing = true;
                Ok(())
            }
            sw => Err(CardError::UnexpectedStatus {
                command: "SELECT AID",
                sw,
            }),
        }
    }

    /// `Ok(false)`: the card wants authentication first.
    fn select_ef(&mut self, file: u16) -> Result<bool, CardError> {
        let mut sw = self.ch.exchange(&Apdu::select_ef(0x02, file))?.sw;
        if sw == StatusWord::IncorrectP1P2 {
            sw = self.ch.exchange(&Apdu::select_ef(0x00, file))?.sw;
        }
        match sw {
            StatusWord::Ok => Ok(true),
            StatusWord::SecurityNotSatisfied => Ok(false),
            StatusWord::FileNotFound if file == EF05 && self.aid_missing => {
                Err(CardError::NotSocialSecurityCard)
            }
            StatusWord::FileNotFound => Err(CardError::FileNotFound { file }),
            sw => Err(CardError::UnexpectedStatus {
                command: "SELECT EF",
                sw,
            }),
        }
    }

    fn read_field(&mut self, file: u16, f: Field) -> Result<Got, CardError> {
        use ReadStyle::*;
        let by_record = |by_rec: bool| {
            if by_rec {
                Apdu::read_record(f.rec, u16::from(f.len) + 2)
            } else {
                Apdu::read_tag(f.tag, u16::from(f.len) + 2)
            }
        };
        let order: &[bool] = match self.style {
            RecordThenTag => &[true, false],
            TagThenRecord => &[false, true],
            RecordOnly => &[true],
            TagOnly => &[false],
        };
        for (i, &by_rec) in order.iter().enumerate() {
            let r = self.ch.exchange(&by_record(by_rec))?;
            match r.sw {
                StatusWord::Ok => {
                    let found = tlv::find(&r.data, f.tag).map_err(|e| CardError::Malformed {
                        file,
                        tag: f.tag,
                        reason: e.to_string(),
                    })?;
                    // A well-formed answer with another tag: this card numbers records differently.
                    if let Some(v) = found {
                        if i > 0 {
                            self.style = if by_rec { RecordThenTag } else { TagThenRecord };
                        }
                        return Ok(Got::Value(v.to_vec()));
                    }
                }
                StatusWord::SecurityNotSatisfied => return Ok(Got::Protected),
                StatusWord::RecordNotFound
                | StatusWord::IncorrectP1P2
                | StatusWord::WrongP1P2
                | StatusWord::ReferencedDataNotFound
                | StatusWord::FunctionNotSupported => {}
                sw => {
                    return Err(CardError::UnexpectedStatus {
                        command: "READ RECORD",
                        sw,
                    });
                }
            }
        }
        Err(CardError::FieldMissing { file, tag: f.tag })
    }

    fn value(&mut self, file: u16, f: Field) -> Result<Vec<u8>, CardError> {
        match self.read_field(file, f)? {
            Got::Value(v) => Ok(v),
            Got::Protected => Err(CardError::AuthRequired),
        }
    }

    fn date(&mut self, file: u16, f: Field) -> Result<Option<NaiveDate>, CardError> {
        codec::bcd_date(&self.value(file, f)?).map_err(malformed(file, f.tag))
    }

    fn read_ef05(&mut self) -> Result<(CardRecord, [u8; 16]), CardError> {
        if !self.select_ef(EF05)? {
            return Err(CardError::AuthRequired);
        }
        let id = self.value(EF05, CARD_ID)?;
        let card_id: [u8; 16] = id.as_slice().try_into().map_err(|_| {
            malformed(EF05, CARD_ID.tag)(FieldError::WrongLength {
                expected: 16,
                got: id.len(),
            })
        })?;
        let hex_id = codec::upper_hex(&card_id);
        let spec_version = codec::ascii_text(&self.value(EF05, SPEC_VERSION)?)
            .map_err(malformed(EF05, SPEC_VERSION.tag))?;
        let issue_date = self.date(EF05, ISSUE_DATE)?;
        let expiry_date = self.date(EF05, EXPIRY_DATE)?;
        let card_no =
            codec::ascii_text(&self.value(EF05, CARD_NO)?).map_err(malformed(EF05, CARD_NO.tag))?;
        let atr = self.ch.atr();
        let record = CardRecord {
            region: hex_id[..6].to_owned(),
            card_id: hex_id,
            card_no,
            spec_version,
            issue_date,
            expiry_date,
            holder: None,
            interface: self.ch.interface(),
            atr_historical: atr::historical_bytes(&atr)
                .map(codec::upper_hex)
                .unwrap_or_default(),
            atr: codec::upper_hex(&atr),
        };
        Ok((record, card_id))
    }

    /// `None` when the card wants authentication first.
    pub(crate) fn read_ef06(&mut self) -> Result<Option<Holder>, CardError> {
        if !self.select_ef(EF06)? {
            return Ok(None);
        }
        let mut raw = Vec::new();
        for f in [ID_NUMBER, NAME, SEX, NATION, BIRTH_DATE] {
            match self.read_field(EF06, f)? {
                Got::Value(v) => raw.push(v),
                Got::Protected => return Ok(None),
            }
        }
        let m = |f: Field| malformed(EF06, f.tag);
        let one_byte = |v: &[u8], f: Field| {
            v.first().copied().ok_or(m(f)(FieldError::WrongLength {
                expected: 1,
                got: 0,
            }))
        };
        Ok(Some(Holder {
            id_number: codec::ascii_text(&raw[0])
                .map_err(m(ID_NUMBER))?
                .to_ascii_uppercase(),
            name: codec::gbk_text(&raw[1]).map_err(m(NAME))?,
            sex: Sex::from_code(one_byte(&raw[2], SEX)?),
            nation: codec::small_code(one_byte(&raw[3], NATION)?),
            birth_date: codec::bcd_date(&raw[4]).map_err(m(BIRTH_DATE))?,
        }))
    }
}

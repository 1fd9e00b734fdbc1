//! A card profile: the data and behaviour of one virtual card, loaded from a JSON fixture in
//! `fixtures/cards/`. This module only parses and encodes; it never answers APDUs (see `card`).
//!
//! Readable values in the JSON (dates, GBK names, ASCII numbers) are encoded here into the
//! exact record bytes that `shared/domain/card.md` describes for EF05 and EF06.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read profile {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("profile is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("profile field {field}: {reason}")]
    Field { field: String, reason: String },
}

fn field_err(field: &str, reason: impl Into<String>) -> ProfileError {
    ProfileError::Field {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// One virtual card, as written in a fixture file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// What the fixture is for (one line).
    pub description: String,
    /// Answer to reset, hex.
    pub atr: String,
    /// The interface this card is meant to be presented on (informational: the vcard answers
    /// the same way whichever vpcd reader it is plugged into).
    #[serde(default = "default_interface")]
    pub interface: String,
    pub ef05: Ef05,
    pub ef06: Ef06,
    #[serde(default)]
    pub quirks: Quirks,
    #[serde(default)]
    pub pin: Option<PinConfig>,
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    #[serde(default)]
    pub faults: Faults,
    /// Also answer as a PSAM (the SAM-slot security module), with this test master key.
    #[serde(default)]
    pub psam: Option<PsamConfig>,
    /// Delay before every APDU answer, milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// What a correct reader should conclude from this card (for data-driven tests).
    pub expect: Expect,
}

fn default_interface() -> String {
    "contact".to_owned()
}

/// EF05 — card and issuer, readable values.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ef05 {
    /// 卡识别码, 32 hex digits (16 bytes).
    pub card_id: String,
    /// 卡类别, 1 ASCII character.
    pub card_type: String,
    /// 规范版本, 4 ASCII characters such as `3.00`.
    pub spec_version: String,
    /// 初始化机构编号, 24 hex digits (12 bytes).
    pub init_org: String,
    /// 发卡日期 `YYYYMMDD`.
    pub issue_date: String,
    /// 卡有效期 `YYYYMMDD`.
    pub expiry_date: String,
    /// 卡号, 9 ASCII characters.
    pub card_number: String,
}

/// EF06 — holder, readable values.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ef06 {
    /// 社会保障号码, 18 ASCII characters.
    pub ssn: String,
    /// 姓名, encoded to GBK and padded to 30 bytes.
    pub name: String,
    /// Padding byte for the name: `zero` (0x00, default) or `space` (0x20).
    #[serde(default)]
    pub name_padding: NamePadding,
    /// 性别, `1` or `2`.
    pub sex: String,
    /// 民族, numeric code (one byte).
    pub ethnic: u8,
    /// 出生地, 6 digits (3 BCD bytes).
    pub birthplace: String,
    /// 出生日期 `YYYYMMDD`.
    pub birth_date: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamePadding {
    #[default]
    Zero,
    Space,
}

/// Deviations seen in the field, as data.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quirks {
    /// Status word answered to SELECT of the SSSE AID (default `9000`). With `6A82` the card
    /// still lets the reader select EF05/EF06 afterwards.
    #[serde(default)]
    pub select_aid_sw: Option<String>,
    /// Which READ RECORD styles the card supports.
    #[serde(default)]
    pub record_read: RecordRead,
    /// How response data is delivered.
    #[serde(default)]
    pub response: ResponseMode,
}

/// READ RECORD styles a card accepts; the other style answers `6A81` (function not supported).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordRead {
    /// `00 B2 <rec> 04` and `00 B2 <tag> 00` both work.
    #[default]
    Both,
    /// Only by record number.
    ByNumber,
    /// Only by tag.
    ByTag,
}

/// How response data comes back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Data + `9000` directly; a non-zero Le shorter than the data answers `6Cxx`.
    #[default]
    Direct,
    /// `61xx` first; the data comes with GET RESPONSE `00 C0 00 00 xx`.
    #[serde(rename = "chain_61")]
    Chain61,
    /// Any Le other than the exact length (including `00`) answers `6Cxx`.
    #[serde(rename = "exact_le_6c")]
    ExactLe6C,
}

/// Card-holder PIN.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinConfig {
    /// Six digits.
    pub value: String,
    /// Tries left when the card is inserted; `0` = blocked.
    pub tries_left: u8,
    /// Tries restored by a correct PIN.
    #[serde(default = "default_max_tries")]
    pub max_tries: u8,
    /// EF06 records answer `6982` until a correct VERIFY.
    #[serde(default)]
    pub required_for_ef06: bool,
}

fn default_max_tries() -> u8 {
    3
}

/// External authentication with an SM4 test key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// 32 hex digits: the SM4 test key.
    pub key: String,
    /// Key reference expected in P2 of EXTERNAL AUTHENTICATE (default `0A`).
    #[serde(default = "default_key_ref")]
    pub key_ref: u8,
    /// EF06 records answer `6982` until EXTERNAL AUTHENTICATE succeeds.
    #[serde(default)]
    pub required_for_ef06: bool,
}

fn default_key_ref() -> u8 {
    0x0A
}

/// The PSAM side: `80 1A 45 kk 10 <卡识别码>` loads the master key diversified by the card id,
/// `80 FA 00 00 10 <block>` encrypts one block with it (see `medsettle_card::psam`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PsamConfig {
    /// 32 hex digits: the SM4 test master key.
    pub master: String,
}

/// Fault injection.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// The card answers this many APDUs after insertion, then leaves the reader instead of
    /// answering the next one.
    #[serde(default)]
    pub remove_after_apdus: Option<u32>,
    /// Raw record bytes replacing the well-formed TLV, keyed `EF05/07` or `EF06/09`
    /// (file / tag), hex. Used for garbled TLV.
    #[serde(default)]
    pub raw_records: BTreeMap<String, String>,
}

/// What the reader software should conclude.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `ok` or a stable error code such as `card.expired`.
    pub outcome: String,
    /// Input a test must give (for example the PIN to present), free text.
    #[serde(default)]
    pub given: Option<String>,
    /// For `ok`: the decoded record fields.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// One EF as the card stores it: records in order, each `(record number, tag, TLV bytes)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EfData {
    pub records: Vec<Record>,
}

/// One record of an EF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub number: u8,
    pub tag: u8,
    /// The bytes READ RECORD answers: normally `tag | len | value`.
    pub bytes: Vec<u8>,
}

impl EfData {
    pub fn by_number(&self, number: u8) -> Option<&Record> {
        self.records.iter().find(|r| r.number == number)
    }
    pub fn by_tag(&self, tag: u8) -> Option<&Record> {
        self.records.iter().find(|r| r.tag == tag)
    }
}

impl Profile {
    /// Loads and checks a profile file.
    pub fn load(path: impl AsRef<Path>) -> Result<Profile, ProfileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Profile::from_json(&text)
    }

    /// Parses and checks a profile.
    pub fn from_json(text: &str) -> Result<Profile, ProfileError> {
        let profile: Profile = serde_json::from_str(text)?;
        profile.ef05_data()?;
        profile.ef06_data()?;
        profile.atr_bytes()?;
        profile.select_aid_sw()?;
        if let Some(pin) = &profile.pin {
            pin_bcd(&pin.value)?;
        }
        if let Some(auth) = &profile.auth {
            profile_key(&auth.key)?;
        }
        Ok(profile)
    }

    pub fn atr_bytes(&self) -> Result<Vec<u8>, ProfileError> {
        let atr = hex::decode(&self.atr).map_err(|e| field_err("atr", e.to_string()))?;
        if atr.len() < 2 || atr.len() > 33 {
            return Err(field_err("atr", "must be 2..=33 bytes"));
        }
        Ok(atr)
    }

    pub fn select_aid_sw(&self) -> Result<u16, ProfileError> {
        match &self.quirks.select_aid_sw {
            None => Ok(0x9000),
            Some(s) => {
                let b =
                    hex::decode(s).map_err(|e| field_err("quirks.select_aid_sw", e.to_string()))?;
                if b.len() != 2 {
                    return Err(field_err("quirks.select_aid_sw", "must be 4 hex digits"));
                }
                Ok(u16::from_be_bytes([b[0], b[1]]))
            }
        }
    }

    /// EF05 records as the card answers them.
    pub fn ef05_data(&self) -> Result<EfData, ProfileError> {
        let e = &self.ef05;
        let card_id = fixed_hex("ef05.card_id", &e.card_id, 16)?;
        let init_org = fixed_hex("ef05.init_org", &e.init_org, 12)?;
        let values: Vec<(u8, u8, Vec<u8>)> = vec![
            (1, 0x01, card_id),
            (2, 0x02, fixed_ascii("ef05.card_type", &e.card_type, 1)?),
            (
                3,
                0x03,
                fixed_ascii("ef05.spec_version", &e.spec_version, 4)?,
            ),
            (4, 0x04, init_org),
            (5, 0x05, bcd("ef05.issue_date", &e.issue_date, 8)?),
            (6, 0x06, bcd("ef05.expiry_date", &e.expiry_date, 8)?),
            (7, 0x07, fixed_ascii("ef05.card_number", &e.card_number, 9)?),
        ];
        self.build_ef("EF05", values)
    }

    /// EF06 records as the card answers them (record 3 does not exist).
    pub fn ef06_data(&self) -> Result<EfData, ProfileError> {
        let e = &self.ef06;
        let (gbk, _, unmappable) = encoding_rs::GBK.encode(&e.name);
        if unmappable {
            return Err(field_err("ef06.name", "not encodable in GBK"));
        }
        if gbk.len() > 30 {
            return Err(field_err("ef06.name", "longer than 30 GBK bytes"));
        }
        let mut name = gbk.into_owned();
        let pad = match e.name_padding {
            NamePadding::Zero => 0x00,
            NamePadding::Space => 0x20,
        };
        name.resize(30, pad);
        let values: Vec<(u8, u8, Vec<u8>)> = vec![
            (1, 0x08, fixed_ascii("ef06.ssn", &e.ssn, 18)?),
            (2, 0x09, name),
            (4, 0x0A, fixed_ascii("ef06.sex", &e.sex, 1)?),
            (5, 0x0B, vec![e.ethnic]),
            (6, 0x0C, bcd("ef06.birthplace", &e.birthplace, 6)?),
            (7, 0x0D, bcd("ef06.birth_date", &e.birth_date, 8)?),
        ];
        self.build_ef("EF06", values)
    }

    fn build_ef(&self, ef: &str, values: Vec<(u8, u8, Vec<u8>)>) -> Result<EfData, ProfileError> {
        let mut records = Vec::with_capacity(values.len());
        for (number, tag, value) in values {
            let key = format!("{ef}/{tag:02X}");
            let bytes = match self.faults.raw_records.get(&key) {
                Some(raw) => hex::decode(raw)
                    .map_err(|e| field_err(&format!("faults.raw_records.{key}"), e.to_string()))?,
                None => {
                    let mut tlv = Vec::with_capacity(value.len() + 2);
                    tlv.push(tag);
                    // Every value above is at most 30 bytes, so the length fits one byte.
                    tlv.push(value.len() as u8);
                    tlv.extend_from_slice(&value);
                    tlv
                }
            };
            records.push(Record { number, tag, bytes });
        }
        Ok(EfData { records })
    }
}

/// The SM4 key of an `auth` block.
pub(crate) fn profile_key(hex_key: &str) -> Result<[u8; 16], ProfileError> {
    let v = fixed_hex("auth.key", hex_key, 16)?;
    let mut key = [0u8; 16];
    key.copy_from_slice(&v);
    Ok(key)
}

/// A six-digit PIN as the 3 BCD bytes VERIFY carries.
pub fn pin_bcd(pin: &str) -> Result<Vec<u8>, ProfileError> {
    bcd("pin.value", pin, 6)
}

fn fixed_hex(field: &str, s: &str, len: usize) -> Result<Vec<u8>, ProfileError> {
    let v = hex::decode(s).map_err(|e| field_err(field, e.to_string()))?;
    if v.len() != len {
        return Err(field_err(field, format!("must be {len} bytes")));
    }
    Ok(v)
}

fn fixed_ascii(field: &str, s: &str, len: usize) -> Result<Vec<u8>, ProfileError> {
    if !s.is_ascii() || s.len() != len {
        return Err(field_err(field, format!("must be {len} ASCII characters")));
    }
    Ok(s.as_bytes().to_vec())
}

fn bcd(field: &str, s: &str, digits: usize) -> Result<Vec<u8>, ProfileError> {
    if s.len() != digits || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(field_err(field, format!("must be {digits} digits")));
    }
    Ok(s.as_bytes()
        .chunks(2)
        .map(|p| ((p[0] - b'0') << 4) | (p[1] - b'0'))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_packs_two_digits_per_byte() {
        assert_eq!(
            bcd("x", "20310315", 8).unwrap(),
            vec![0x20, 0x31, 0x03, 0x15]
        );
        assert!(bcd("x", "2031031", 8).is_err());
        assert!(bcd("x", "2031031A", 8).is_err());
    }

    #[test]
    fn every_fixture_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/cards");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                Profile::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                n += 1;
            }
        }
        assert!(n >= 17, "expected every fixture, found {n}");
    }
}

//! [`CardRecord`]: what a social security card says about itself and its holder, and the
//! de-facto `iReadCardBas` output line cashier software expects (full and step-1 forms).
//!
//! `Debug` and `Display` mask the ID number, the name and the card number (`telemetry::pii`),
//! so a record can be logged; only [`CardRecord::ireadcardbas_line`] and serde output carry them
//! in clear, for the cashier software and the API response that need them.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::transport::Interface;
use medsettle_base::pii::{MaskedId, MaskedName, mask_id};

/// 性别 as EF06 codes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// `1`.
    Male,
    /// `2`.
    Female,
    /// Any other code (`0` unknown, `9` unspecified, garbage): no cross-check is possible.
    Unspecified,
}

impl Sex {
    /// From the ASCII code byte.
    pub fn from_code(b: u8) -> Sex {
        match b {
            b'1' => Sex::Male,
            b'2' => Sex::Female,
            _ => Sex::Unspecified,
        }
    }
}

/// EF06: the holder. Absent from a read the card refused before authentication.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// 社会保障号码 (= citizen ID number), 18 characters.
    pub id_number: String,
    /// 姓名.
    pub name: String,
    /// 性别.
    pub sex: Sex,
    /// 民族 code (GB/T 3304: 1 = 汉族).
    pub nation: u8,
    /// 出生日期.
    pub birth_date: Option<NaiveDate>,
}

/// One card as read.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRecord {
    /// 发卡地区行政区划代码: the first six digits of the 卡识别码.
    pub region: String,
    /// 卡识别码, 32 uppercase hex digits.
    pub card_id: String,
    /// 卡号, e.g. `X00000019` (= `mdtrt_cert_no` for settlement).
    pub card_no: String,
    /// 规范版本, e.g. `3.00`.
    pub spec_version: String,
    /// 发卡日期.
    pub issue_date: Option<NaiveDate>,
    /// 卡有效期.
    pub expiry_date: Option<NaiveDate>,
    /// EF06, when it was read.
    pub holder: Option<Holder>,
    /// The interface the card was read on.
    pub interface: Interface,
    /// The ATR, uppercase hex.
    pub atr: String,
    /// 卡复位信息: the ATR's historical bytes, uppercase hex.
    pub atr_historical: String,
}

/// The two terminal fields that end the `iReadCardBas` line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalIds {
    /// 终端机编号.
    pub terminal_no: String,
    /// 终端设备号.
    pub device_no: String,
}

fn date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.format("%Y%m%d").to_string())
        .unwrap_or_default()
}

impl CardRecord {
    /// The card generation from the spec version (`3.00` → 3), if it has that shape.
    pub fn generation(&self) -> Option<u8> {
        let (major, _) = self.spec_version.split_once('.')?;
        major.parse().ok()
    }

    /// The full `iReadCardBas` line: 11 fields, each followed by `|`. Holder fields are empty
    /// when EF06 was not read. Carries personal data in clear: never log it.
    pub fn ireadcardbas_line(&self, terminal: &TerminalIds) -> String {
        let (id, name) = match &self.holder {
            Some(h) => (h.id_number.as_str(), h.name.as_str()),
            None => ("", ""),
        };
        self.line(id, &self.card_no, name, terminal)
    }

    /// The step-1 form (before authentication): 社会保障号码, 卡号 and 姓名 empty.
    pub fn ireadcardbas_step1_line(&self, terminal: &TerminalIds) -> String {
        self.line("", "", "", terminal)
    }

    fn line(&self, id: &str, card_no: &str, name: &str, t: &TerminalIds) -> String {
        let fields = [
            self.region.as_str(),
            id,
            card_no,
            &self.card_id,
            name,
            &self.atr_historical,
            &self.spec_version,
            &date(self.issue_date),
            &date(self.expiry_date),
            &t.terminal_no,
            &t.device_no,
        ];
        let mut out = String::new();
        for f in fields {
            // A separator or line break inside a field would shift every later field.
            out.extend(f.chars().filter(|c| *c != '|' && !c.is_control()));
            out.push('|');
        }
        out
    }
}

impl fmt::Debug for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Holder")
            .field("id_number", &format_args!("{}", MaskedId(&self.id_number)))
            .field("name", &format_args!("{}", MaskedName(&self.name)))
            .field("sex", &self.sex)
            .field("nation", &self.nation)
            .field("birth_date", &self.birth_date.map(|_| "****"))
            .finish()
    }
}

impl fmt::Debug for CardRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardRecord")
            .field("region", &self.region)
            .field("card_id", &self.card_id)
            .field("card_no", &format_args!("{}", mask_id(&self.card_no)))
            .field("spec_version", &self.spec_version)
            .field("issue_date", &self.issue_date)
            .field("expiry_date", &self.expiry_date)
            .field("holder", &self.holder)
            .field("interface", &self.interface)
            .field("atr", &self.atr)
            .finish()
    }
}

impl fmt::Display for CardRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "card {} v{} ({})",
            self.card_id, self.spec_version, self.interface
        )?;
        if let Some(h) = &self.holder {
            write!(
                f,
                " holder {} {}",
                MaskedName(&h.name),
                MaskedId(&h.id_number)
            )?;
        }
        Ok(())
    }
}

/// A valid record of the test person (王秀英, fixtures/cards/normal.json), for tests of code
/// built on this crate.
pub mod sample {
    use super::*;

    pub fn sample() -> CardRecord {
        CardRecord {
            region: "110100".into(),
            card_id: "110100D156000005A1B2C3D4E5F60718".into(),
            card_no: "X00000019".into(),
            spec_version: "3.00".into(),
            issue_date: NaiveDate::from_ymd_opt(2024, 3, 15),
            expiry_date: NaiveDate::from_ymd_opt(2034, 3, 15),
            holder: Some(Holder {
                id_number: "11010519491231002X".into(),
                name: "王秀英".into(),
                sex: Sex::Female,
                nation: 1,
                birth_date: NaiveDate::from_ymd_opt(1949, 12, 31),
            }),
            interface: Interface::Contact,
            atr: "3B6C00004D534153534533304E010000".into(),
            atr_historical: "4D534153534533304E010000".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sample::sample;
    use super::*;

    fn term() -> TerminalIds {
        TerminalIds {
            terminal_no: "T0001".into(),
            device_no: "D|01".into(),
        }
    }

    #[test]
    fn full_line_has_eleven_fields() {
        let line = sample().ireadcardbas_line(&term());
        assert_eq!(
            line,
            "110100|11010519491231002X|X00000019|110100D156000005A1B2C3D4E5F60718|王秀英|\
             4D534153534533304E010000|3.00|20240315|20340315|T0001|D01|"
        );
        assert_eq!(line.matches('|').count(), 11);
    }

    #[test]
    fn step1_line_leaves_protected_fields_empty() {
        assert_eq!(
            sample().ireadcardbas_step1_line(&term()),
            "110100|||110100D156000005A1B2C3D4E5F60718||\
             4D534153534533304E010000|3.00|20240315|20340315|T0001|D01|"
        );
        let mut no_holder = sample();
        no_holder.holder = None;
        no_holder.expiry_date = None;
        assert_eq!(
            no_holder.ireadcardbas_line(&TerminalIds::default()),
            "110100||X00000019|110100D156000005A1B2C3D4E5F60718||\
             4D534153534533304E010000|3.00|20240315||||"
        );
    }

    #[test]
    fn debug_and_display_mask_personal_data() {
        let r = sample();
        for text in [format!("{r:?}"), format!("{r}"), format!("{r:#?}")] {
            assert!(!text.contains("11010519491231002X"), "{text}");
            assert!(!text.contains("王秀英"), "{text}");
            assert!(!text.contains("X00000019"), "{text}");
            assert!(!text.contains("1949"), "{text}");
        }
        assert!(format!("{r}").contains("王**"));
        assert!(format!("{r:?}").contains("110105********002X"));
    }

    #[test]
    fn generation_and_sex_codes() {
        assert_eq!(sample().generation(), Some(3));
        let mut r = sample();
        r.spec_version = "x".into();
        assert_eq!(r.generation(), None);
        assert_eq!(Sex::from_code(b'1'), Sex::Male);
        assert_eq!(Sex::from_code(b'2'), Sex::Female);
        assert_eq!(Sex::from_code(b'9'), Sex::Unspecified);
    }

    #[test]
    fn serde_round_trip() {
        let r = sample();
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"issue_date\":\"2024-03-15\""));
        assert_eq!(serde_json::from_str::<CardRecord>(&json).unwrap(), r);
    }
}

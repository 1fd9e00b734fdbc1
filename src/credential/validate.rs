//! The offline acceptance rules for a card that was read: blacklist, validity dates, spec
//! version, 卡识别码 structure and region, and the ID number cross-checks (check character,
//! birth date, sex parity, region) against EF06.
//!
//! Pure: the date is a parameter (`today`, from [`today_in_china`] in production), the
//! blacklist and policy are values. Holder checks are skipped when EF06 was not read.

use chrono::{FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::credential::blacklist::Blacklist;
use crate::credential::error::CredentialError;
use crate::credential::{idnumber, region};
use medsettle_card::record::{CardRecord, Sex};

/// The fixed text after the region in every 卡识别码.
pub const CARD_ID_MARKER: &str = "D156000005";

/// What this terminal accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Accepted 规范版本 values (default `2.00`, `3.00`).
    pub spec_versions: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            spec_versions: vec!["2.00".into(), "3.00".into()],
        }
    }
}

/// Today's date in China (UTC+8, no daylight saving), whatever the host's time zone.
pub fn today_in_china() -> NaiveDate {
    let china = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    Utc::now().with_timezone(&china).date_naive()
}

/// The first rule the card breaks, in the order of [`problems`].
pub fn validate(
    record: &CardRecord,
    policy: &Policy,
    blacklist: &Blacklist,
    today: NaiveDate,
) -> Result<(), CredentialError> {
    match problems(record, policy, blacklist, today)
        .into_iter()
        .next()
    {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Every rule the card breaks: blacklist, dates, spec version, card id and region, then holder.
pub fn problems(
    record: &CardRecord,
    policy: &Policy,
    blacklist: &Blacklist,
    today: NaiveDate,
) -> Vec<CredentialError> {
    let mut out = Vec::new();
    if blacklist.contains(&record.card_no, &record.card_id) {
        out.push(CredentialError::Blacklisted);
    }
    if let Some(expiry) = record.expiry_date.filter(|e| *e < today) {
        out.push(CredentialError::Expired { expiry });
    }
    if let Some(issued) = record.issue_date.filter(|i| *i > today) {
        out.push(CredentialError::NotYetValid { issued });
    }
    if !policy.spec_versions.contains(&record.spec_version) {
        out.push(CredentialError::SpecVersion {
            version: record.spec_version.clone(),
        });
    }
    out.extend(check_card_id(record).err());
    if let Some(h) = &record.holder {
        match idnumber::parse(&h.id_number) {
            Err(e) => out.push(e),
            Ok(id) => {
                if id.birth_date > today {
                    out.push(CredentialError::IdBirthInvalid);
                }
                if !region::is_known(id.region) {
                    out.push(CredentialError::IdRegionUnknown {
                        region: id.region.to_owned(),
                    });
                }
                if h.birth_date != Some(id.birth_date) {
                    out.push(CredentialError::BirthMismatch);
                }
                if h.sex != Sex::Unspecified && h.sex != id.sex() {
                    out.push(CredentialError::SexMismatch);
                }
            }
        }
    }
    out
}

/// 卡识别码: 32 uppercase hex digits, `RRRRRR` `D156000005` ...; its region equals the record's
/// issuing region and is a known code.
fn check_card_id(record: &CardRecord) -> Result<(), CredentialError> {
    let id = &record.card_id;
    let hex = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex || id.get(6..16) != Some(CARD_ID_MARKER) {
        return Err(CredentialError::CardIdFormat);
    }
    let card_id_region = &id[..6];
    if card_id_region != record.region {
        return Err(CredentialError::RegionMismatch {
            card_id_region: card_id_region.to_owned(),
            region: record.region.clone(),
        });
    }
    if !region::is_known(&record.region) {
        return Err(CredentialError::RegionUnknown {
            region: record.region.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::UserFacing;
    use medsettle_card::record::sample::sample;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn codes(r: &CardRecord, today: NaiveDate) -> Vec<&'static str> {
        problems(r, &Policy::default(), &Blacklist::default(), today)
            .iter()
            .map(|e| e.code())
            .collect()
    }

    const TODAY: (i32, u32, u32) = (2026, 1, 10);

    fn today() -> NaiveDate {
        day(TODAY.0, TODAY.1, TODAY.2)
    }

    #[test]
    fn a_good_card_passes() {
        assert_eq!(
            validate(
                &sample(),
                &Policy::default(),
                &Blacklist::default(),
                today()
            ),
            Ok(())
        );
        let mut no_holder = sample();
        no_holder.holder = None;
        assert!(codes(&no_holder, today()).is_empty());
    }

    #[test]
    fn dates() {
        let r = sample();
        assert!(
            codes(&r, day(2034, 3, 15)).is_empty(),
            "valid through its expiry day"
        );
        assert_eq!(codes(&r, day(2034, 3, 16)), ["card.expired"]);
        assert_eq!(codes(&r, day(2024, 3, 14)), ["card.not_yet_valid"]);
        let mut r = sample();
        r.expiry_date = None;
        assert!(codes(&r, day(2099, 1, 1)).is_empty());
    }

    #[test]
    fn spec_version_policy() {
        let mut r = sample();
        r.spec_version = "1.00".into();
        assert_eq!(codes(&r, today()), ["card.spec_version"]);
        let only3 = Policy {
            spec_versions: vec!["3.00".into()],
        };
        r.spec_version = "2.00".into();
        assert!(validate(&r, &only3, &Blacklist::default(), today()).is_err());
        assert!(validate(&r, &Policy::default(), &Blacklist::default(), today()).is_ok());
    }

    #[test]
    fn card_id_and_region() {
        let mut r = sample();
        r.card_id = "110100D156000006A1B2C3D4E5F60718".into();
        assert_eq!(codes(&r, today()), ["card.card_id_format"]);
        r.card_id = "110100D156000005".into();
        assert_eq!(codes(&r, today()), ["card.card_id_format"]);
        let mut r = sample();
        r.region = "310100".into();
        assert_eq!(codes(&r, today()), ["card.region_mismatch"]);
        let mut r = sample();
        r.region = "999900".into();
        r.card_id = "999900D156000005A1B2C3D4E5F60718".into();
        assert_eq!(codes(&r, today()), ["card.region_unknown"]);
    }

    #[test]
    fn holder_cross_checks() {
        let with = |f: &dyn Fn(&mut medsettle_card::record::Holder)| {
            let mut r = sample();
            f(r.holder.as_mut().unwrap());
            codes(&r, today())
        };
        assert_eq!(
            with(&|h| h.id_number = "110105194912310021".into()),
            ["card.id_checksum"]
        );
        assert_eq!(
            with(&|h| h.id_number = "1101051949".into()),
            ["card.id_format"]
        );
        assert_eq!(
            with(&|h| h.birth_date = Some(day(1949, 12, 30))),
            ["card.birth_mismatch"]
        );
        assert_eq!(with(&|h| h.birth_date = None), ["card.birth_mismatch"]);
        assert_eq!(with(&|h| h.sex = Sex::Male), ["card.sex_mismatch"]);
        assert!(with(&|h| h.sex = Sex::Unspecified).is_empty());
        // Valid check character, region not a GB/T 2260 code.
        let first17 = "99990119491231002";
        let id = format!("{first17}{}", idnumber::check_char(first17).unwrap());
        assert_eq!(
            with(&|h| h.id_number = id.clone()),
            ["card.id_region_unknown"]
        );
        // Born after today.
        let first17 = "11010520300101002";
        let id = format!("{first17}{}", idnumber::check_char(first17).unwrap());
        let born = day(2030, 1, 1);
        assert_eq!(
            with(&|h| {
                h.id_number = id.clone();
                h.birth_date = Some(born);
            }),
            ["card.id_birth_invalid"]
        );
        let first17 = "11010519490230002";
        let id = format!("{first17}{}", idnumber::check_char(first17).unwrap());
        assert_eq!(
            with(&|h| h.id_number = id.clone()),
            ["card.id_birth_invalid"]
        );
    }

    #[test]
    fn blacklist_comes_first() {
        let b = Blacklist::parse("X00000019\n").unwrap();
        let mut r = sample();
        r.spec_version = "1.00".into();
        let e = validate(&r, &Policy::default(), &b, today()).unwrap_err();
        assert_eq!(e.code(), "card.blacklisted");
        assert_eq!(problems(&r, &Policy::default(), &b, today()).len(), 2);
    }

    #[test]
    fn china_date_is_close_to_utc() {
        let utc = Utc::now().date_naive();
        let cn = today_in_china();
        assert!(cn == utc || cn == utc.succ_opt().unwrap());
    }
}

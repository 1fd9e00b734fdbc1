//! [`CredentialError`]: why a card that was read correctly is still not accepted, one stable
//! code per rule ([`UserFacing`]).
//!
//! No variant carries the ID number, the name or the card number; region codes, dates and the
//! spec version are not personal data and are kept for the operator.

use chrono::NaiveDate;

use crate::error::UserFacing;

/// A validation rule the credential breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The ID number is not 17 digits and a check character.
    #[error("ID number is not 17 digits followed by a digit or X")]
    IdFormat,
    /// The GB 11643 check character does not match.
    #[error("ID number check character is wrong")]
    IdChecksum,
    /// The birth date inside the ID number is not a real date, or lies in the future.
    #[error("ID number holds an impossible birth date")]
    IdBirthInvalid,
    /// The ID number's region prefix is not a GB/T 2260 code.
    #[error("ID number region {region} is not a known administrative code")]
    IdRegionUnknown {
        /// The six-digit prefix.
        region: String,
    },
    /// EF06 出生日期 differs from the ID number's birth date.
    #[error("birth date on the card differs from the ID number")]
    BirthMismatch,
    /// EF06 性别 disagrees with the parity of the ID number's sequence.
    #[error("sex on the card disagrees with the ID number")]
    SexMismatch,
    /// The card is past its expiry date.
    #[error("card expired on {expiry}")]
    Expired {
        /// 卡有效期.
        expiry: NaiveDate,
    },
    /// The card's issue date lies in the future (clock or card wrong).
    #[error("card issue date {issued} is in the future")]
    NotYetValid {
        /// 发卡日期.
        issued: NaiveDate,
    },
    /// The spec version is not accepted by policy.
    #[error("card spec version `{version}` is not accepted")]
    SpecVersion {
        /// 规范版本 as read (printable ASCII).
        version: String,
    },
    /// The 卡识别码 is not 32 hex digits with `D156000005` after the region.
    #[error("card identification code is malformed")]
    CardIdFormat,
    /// The 卡识别码 region prefix differs from the card's issuing region.
    #[error(
        "card identification code region {card_id_region} differs from the issuing region {region}"
    )]
    RegionMismatch {
        /// First six characters of the 卡识别码.
        card_id_region: String,
        /// 发卡地区行政区划代码 as recorded.
        region: String,
    },
    /// The issuing region is not a GB/T 2260 code.
    #[error("issuing region {region} is not a known administrative code")]
    RegionUnknown {
        /// The code.
        region: String,
    },
    /// The card number or 卡识别码 is on the blacklist.
    #[error("card is blacklisted")]
    Blacklisted,
}

impl UserFacing for CredentialError {
    fn code(&self) -> &'static str {
        match self {
            CredentialError::IdFormat => "card.id_format",
            CredentialError::IdChecksum => "card.id_checksum",
            CredentialError::IdBirthInvalid => "card.id_birth_invalid",
            CredentialError::IdRegionUnknown { .. } => "card.id_region_unknown",
            CredentialError::BirthMismatch => "card.birth_mismatch",
            CredentialError::SexMismatch => "card.sex_mismatch",
            CredentialError::Expired { .. } => "card.expired",
            CredentialError::NotYetValid { .. } => "card.not_yet_valid",
            CredentialError::SpecVersion { .. } => "card.spec_version",
            CredentialError::CardIdFormat => "card.card_id_format",
            CredentialError::RegionMismatch { .. } => "card.region_mismatch",
            CredentialError::RegionUnknown { .. } => "card.region_unknown",
            CredentialError::Blacklisted => "card.blacklisted",
        }
    }

    fn message_zh(&self) -> String {
        match self {
            CredentialError::IdFormat => "卡内社会保障号码格式错误，本卡不能使用；请改用医保码，并请持卡人到社保经办机构核查".into(),
            CredentialError::IdChecksum => "卡内社会保障号码校验位错误，本卡不能使用；请改用医保码，并请持卡人到社保经办机构核查".into(),
            CredentialError::IdBirthInvalid => "卡内社会保障号码中的出生日期无效，本卡不能使用；请改用医保码，并请持卡人到社保经办机构核查".into(),
            CredentialError::IdRegionUnknown { region } => {
                format!(
                    "卡内社会保障号码的地区码 {region} 不存在，本卡不能使用；请改用医保码，并请持卡人到社保经办机构核查"
                )
            }
            CredentialError::BirthMismatch => "卡内出生日期与社会保障号码不一致，本卡不能使用；请改用医保码，并请持卡人到社保经办机构核查".into(),
            CredentialError::SexMismatch => "卡内性别与社会保障号码不一致，本卡不能使用；请改用医保码，并请持卡人到社保经办机构核查".into(),
            CredentialError::Expired { expiry } => {
                format!(
                    "社会保障卡已过有效期（{}），请改用医保码或电子社保卡码，并请持卡人到社保经办机构换卡",
                    expiry.format("%Y-%m-%d")
                )
            }
            CredentialError::NotYetValid { issued } => {
                format!(
                    "社会保障卡发卡日期（{}）晚于今天，可能是终端时间不对，请联系信息科校准时间",
                    issued.format("%Y-%m-%d")
                )
            }
            CredentialError::SpecVersion { version } => {
                format!("本终端不支持该社会保障卡的规范版本 {version}，请改用医保码，并联系信息科")
            }
            CredentialError::CardIdFormat => "卡识别码格式错误，本卡不能使用；请改用医保码，并请持卡人到社保经办机构核查".into(),
            CredentialError::RegionMismatch {
                card_id_region,
                region,
            } => {
                format!(
                    "卡识别码地区 {card_id_region} 与发卡地区 {region} 不一致，本卡不能使用；请改用医保码，并请持卡人到社保经办机构核查"
                )
            }
            CredentialError::RegionUnknown { region } => format!(
                "发卡地区代码 {region} 不存在，本卡不能使用；请改用医保码，并请持卡人到社保经办机构核查"
            ),
            CredentialError::Blacklisted => "该卡已被列入黑名单（可能已挂失或停用），不能使用；请持卡人到社保经办机构咨询".into(),
        }
    }

    fn message_en(&self) -> String {
        let mut s = self.to_string();
        if let Some(c) = s.get_mut(0..1) {
            c.make_ascii_uppercase();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_messages_present() {
        let day = NaiveDate::from_ymd_opt(2020, 1, 2).unwrap();
        let all = [
            CredentialError::IdFormat,
            CredentialError::IdChecksum,
            CredentialError::IdBirthInvalid,
            CredentialError::IdRegionUnknown {
                region: "999999".into(),
            },
            CredentialError::BirthMismatch,
            CredentialError::SexMismatch,
            CredentialError::Expired { expiry: day },
            CredentialError::NotYetValid { issued: day },
            CredentialError::SpecVersion {
                version: "1.00".into(),
            },
            CredentialError::CardIdFormat,
            CredentialError::RegionMismatch {
                card_id_region: "110100".into(),
                region: "310100".into(),
            },
            CredentialError::RegionUnknown {
                region: "999999".into(),
            },
            CredentialError::Blacklisted,
        ];
        let mut codes: Vec<_> = all.iter().map(|e| e.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        for e in &all {
            assert!(e.code().starts_with("card."));
            assert!(!e.message_zh().is_empty());
            assert!(e.message_en().chars().next().unwrap().is_ascii_uppercase());
        }
        assert!(
            all[6]
                .message_zh()
                .starts_with("社会保障卡已过有效期（2020-01-02），请改用医保码")
        );
        assert_eq!(all[6].message_en(), "Card expired on 2020-01-02");
    }
}

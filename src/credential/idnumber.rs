//! The citizen ID number (GB 11643, 社会保障号码): structure, the ISO 7064 MOD 11-2 check
//! character, and the facts a terminal can check offline (birth date, sex from the sequence).
//!
//! Pure string arithmetic; nothing here looks up regions (see `region`) or compares with the
//! card (see `validate`). Errors never echo the number.

use chrono::NaiveDate;

use crate::credential::error::CredentialError;
use medsettle_card::codec::parse_yyyymmdd;
use medsettle_card::record::Sex;

pub use medsettle_base::idnumber::check_char;

/// What an 18-character ID number says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdFacts<'a> {
    /// GB/T 2260 region where it was first issued.
    pub region: &'a str,
    /// Birth date.
    pub birth_date: NaiveDate,
    /// Sequence number (odd: male, even: female).
    pub sequence: u16,
}

impl IdFacts<'_> {
    /// The sex the sequence parity encodes.
    pub fn sex(&self) -> Sex {
        if self.sequence % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }
}

/// Checks format, check character and birth date; a lowercase `x` is accepted.
pub fn parse(id: &str) -> Result<IdFacts<'_>, CredentialError> {
    let b = id.as_bytes();
    let well_formed = b.len() == 18
        && b[..17].iter().all(u8::is_ascii_digit)
        && (b[17].is_ascii_digit() || b[17] == b'X' || b[17] == b'x');
    if !well_formed {
        return Err(CredentialError::IdFormat);
    }
    if check_char(&id[..17]) != Some(char::from(b[17].to_ascii_uppercase())) {
        return Err(CredentialError::IdChecksum);
    }
    let birth_date = parse_yyyymmdd(&id[6..14]).ok_or(CredentialError::IdBirthInvalid)?;
    Ok(IdFacts {
        region: &id[..6],
        birth_date,
        sequence: id[14..17].parse().map_err(|_| CredentialError::IdFormat)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_from_card_md() {
        assert_eq!(check_char("11010519491231002"), Some('X'));
        assert_eq!(check_char("31011519850715031"), Some('5'));
        assert_eq!(check_char("1101051949123100"), None);
        assert_eq!(check_char("1101051949123100a"), None);
    }

    #[test]
    fn parses_valid_numbers() {
        let f = parse("11010519491231002X").unwrap();
        assert_eq!(f.region, "110105");
        assert_eq!(f.birth_date, NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert_eq!((f.sequence, f.sex()), (2, Sex::Female));
        assert_eq!(parse("11010519491231002x").unwrap().sequence, 2);
        assert_eq!(parse("310115198507150315").unwrap().sex(), Sex::Male);
    }

    #[test]
    fn rejects_each_way() {
        for bad in [
            "",
            "11010519491231002",
            "11010519491231002XX",
            "1101051949123100AX",
            "11010519491231002Y",
            "１１0105194912310021",
        ] {
            assert_eq!(parse(bad), Err(CredentialError::IdFormat), "{bad}");
        }
        assert_eq!(
            parse("110105194912310021"),
            Err(CredentialError::IdChecksum)
        );
        // 1949-02-30 with a correct check character.
        let first17 = "11010519490230002";
        let id = format!("{first17}{}", check_char(first17).unwrap());
        assert_eq!(parse(&id), Err(CredentialError::IdBirthInvalid));
    }
}

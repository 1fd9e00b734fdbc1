//! The insured persons the sandbox knows: one JSON file per person in `fixtures/persons/`
//! (format in that directory's README). Loading validates each file (GB 11643 check digit,
//! 6-digit password and region, fund rules for every insurance) so a broken fixture fails at
//! start, not in the middle of a test. Static data only; balances that change live in the
//! state's accounts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use medsettle_nhsa::money::Fen;
use serde::{Deserialize, Serialize};

use crate::error::SandboxError;

/// One insured person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub psn_no: String,
    /// 18-character ID number (GB 11643).
    pub certno: String,
    pub psn_name: String,
    /// `1` male, `2` female.
    pub gend: String,
    pub naty: String,
    /// `yyyy-MM-dd`.
    pub brdy: String,
    #[serde(default)]
    pub card: Option<Card>,
    /// 6 digits: the card PIN the consent proof is made from.
    pub password: String,
    pub insuinfo: Vec<Insurance>,
    #[serde(default)]
    pub idetinfo: Vec<serde_json::Value>,
    /// Fund rules per `insutype`.
    pub funds: BTreeMap<String, FundRule>,
}

/// The social security card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub card_number: String,
    /// 卡识别码.
    pub card_sn: String,
}

/// One `insuinfo` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Insurance {
    /// `310` employee, `390` resident.
    pub insutype: String,
    pub psn_type: String,
    /// `1` active, `2` suspended.
    pub psn_insu_stas: String,
    /// Personal account balance at start.
    pub balc: Fen,
    pub insuplc_admdvs: String,
    #[serde(default)]
    pub emp_name: String,
}

/// How the pooled fund pays for one insurance type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundRule {
    /// Deductible (起付线) still to be paid by the patient this year.
    pub deductible_remaining: Fen,
    /// Share the pooled fund (310100) pays above the deductible, in percent…
    #[serde(default)]
    pub coinsurance_percent: Option<u32>,
    /// …or in per-mille (takes precedence).
    #[serde(default)]
    pub coinsurance_permille: Option<u32>,
    /// What the pooled fund may still pay this year.
    pub cap_remaining: Fen,
    /// Medical assistance (610100 医疗救助): per-mille of the eligible remainder the pooled
    /// fund left to the patient. Absent for people outside an assistance group.
    #[serde(default)]
    pub assistance_permille: Option<u32>,
}

impl FundRule {
    /// The pooled fund's rate in per-mille.
    pub fn rate_permille(&self) -> u32 {
        self.coinsurance_permille
            .or(self.coinsurance_percent.map(|p| p * 10))
            .unwrap_or(0)
    }
}

impl Person {
    /// The person's first insurance, or the one of `insutype`.
    pub fn insurance(&self, insutype: &str) -> Option<&Insurance> {
        self.insuinfo.iter().find(|i| i.insutype == insutype)
    }

    /// The 参保地 the envelope must name for requests about this person.
    pub fn region(&self) -> &str {
        self.insuinfo
            .first()
            .map(|i| i.insuplc_admdvs.as_str())
            .unwrap_or("")
    }
}

/// Whether `id` is an 18-character GB 11643 number with a valid check digit.
pub fn gb11643_valid(id: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK[(sum % 11) as usize] == b[17].to_ascii_uppercase()
}

/// Loads and validates every `*.json` in `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Person>, SandboxError> {
    let io = |source| SandboxError::PersonsDir {
        dir: dir.to_owned(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out: Vec<Person> = Vec::new();
    for file in files {
        let bad = |reason: String| SandboxError::Person {
            file: file.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&file).map_err(|e| bad(e.to_string()))?;
        let person: Person = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        validate(&person).map_err(bad)?;
        if out
            .iter()
            .any(|p| p.psn_no == person.psn_no || p.certno == person.certno)
        {
            return Err(bad("duplicate psn_no or certno".to_owned()));
        }
        out.push(person);
    }
    if out.is_empty() {
        return Err(SandboxError::NoPersons(dir.to_owned()));
    }
    Ok(out)
}

fn validate(p: &Person) -> Result<(), String> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if p.psn_no.is_empty() {
        return Err("psn_no is empty".into());
    }
    if !gb11643_valid(&p.certno) {
        return Err(format!("certno {} fails GB 11643", p.certno));
    }
    if !digits(&p.password, 6) {
        return Err("password must be 6 digits".into());
    }
    if p.insuinfo.is_empty() {
        return Err("insuinfo is empty".into());
    }
    for i in &p.insuinfo {
        if !digits(&i.insuplc_admdvs, 6) {
            return Err(format!(
                "insuplc_admdvs {:?} is not 6 digits",
                i.insuplc_admdvs
            ));
        }
        if i.balc.0 < 0 {
            return Err("balc is negative".into());
        }
        let rule = p
            .funds
            .get(&i.insutype)
            .ok_or_else(|| format!("no fund rule for insutype {}", i.insutype))?;
        if rule.rate_permille() > 1000 || rule.assistance_permille.is_some_and(|a| a > 1000) {
            return Err("a rate is above 100%".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digit() {
        assert!(gb11643_valid("110105199003071239"));
        assert!(!gb11643_valid("110105199003071238"));
        assert!(!gb11643_valid("11010519900307123"));
    }

    #[test]
    fn the_fixtures_load() {
        let persons = load_dir(&crate::config::default_persons_dir()).unwrap();
        assert!(persons.iter().any(|p| p.certno == "110105199003071239"));
        assert!(persons.iter().any(|p| p.certno == "310104198511202465"));
        assert!(
            persons
                .iter()
                .all(|p| p.card.as_ref().is_none_or(|c| c.card_number != "B00000001"))
        );
    }
}

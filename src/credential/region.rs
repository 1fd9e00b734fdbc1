//! GB/T 2260 administrative division codes, shipped as data (`fixtures/regions/gb2260.txt`,
//! `code<TAB>name`, compiled in with `include_str!`) and looked up by six-digit code.
//!
//! The list is the union of the published revisions 2002–2014, so codes newer than the list
//! exist. Rule: a code is *known* when it is listed, or when its prefecture (`XXXX00`) is listed;
//! the validator asks no more than that. Nothing here reads files at run time.

use std::collections::HashMap;
use std::sync::OnceLock;

const DATA: &str = include_str!("../../fixtures/regions/gb2260.txt");

fn table() -> &'static HashMap<&'static str, &'static str> {
    static TABLE: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        DATA.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| l.split_once('\t'))
            .collect()
    })
}

fn is_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// The name listed for exactly this code (`110105` → `朝阳区`).
pub fn name(code: &str) -> Option<&'static str> {
    if !is_code(code) {
        return None;
    }
    table().get(code).copied()
}

/// Whether `code` is a listed code or lies in a listed prefecture.
pub fn is_known(code: &str) -> bool {
    is_code(code) && (name(code).is_some() || name(&format!("{}00", &code[..4])).is_some())
}

/// The province-level name for a code (`110105` → `北京市`).
pub fn province(code: &str) -> Option<&'static str> {
    code.get(..2).and_then(|p| name(&format!("{p}0000")))
}

/// Number of listed codes.
pub fn len() -> usize {
    table().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_file_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for (i, line) in DATA.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let (code, name) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("line {}", i + 1));
            assert!(is_code(code) && !name.is_empty(), "line {}", i + 1);
            assert!(seen.insert(code), "duplicate {code}");
        }
        assert!(len() > 3000);
    }

    #[test]
    fn all_provinces_are_listed() {
        let provinces = [
            11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50,
            51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
        ];
        for p in provinces {
            assert!(name(&format!("{p}0000")).is_some(), "{p}");
        }
        assert_eq!(province("110105"), Some("北京市"));
        assert_eq!(province("4403"), Some("广东省"));
        assert_eq!(province("9"), None);
    }

    #[test]
    fn fixture_regions_and_prefecture_rule() {
        assert_eq!(name("110105"), Some("朝阳区"));
        assert_eq!(name("310115"), Some("浦东新区"));
        assert_eq!(name("440300"), Some("深圳市"));
        assert!(is_known("110100") && is_known("310100") && is_known("110105"));
        // An unlisted county in a listed prefecture.
        assert!(name("440399").is_none() && is_known("440399"));
        assert!(!is_known("999999") && !is_known("11010") && !is_known("11010a"));
        assert_eq!(name("abcdef"), None);
    }
}

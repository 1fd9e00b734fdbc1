//! The blacklist of cards that must be refused: 卡号 (card numbers) and 卡识别码 (32 hex digits),
//! one per line, `#` starts a comment. Loading fails with the line number of the first bad entry.
//!
//! Matching is exact after normalisation (trimmed, uppercase). This module reads one file when
//! asked to; it does not watch it (reload is the daemon's business).

use std::collections::HashSet;
use std::path::Path;

use crate::error::UserFacing;

/// A blacklist file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlacklistError {
    /// The file could not be read.
    #[error("cannot read blacklist {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// A line is neither a card number nor a card identification code.
    #[error("blacklist line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl UserFacing for BlacklistError {
    fn code(&self) -> &'static str {
        match self {
            BlacklistError::Unreadable { .. } => "blacklist.unreadable",
            BlacklistError::Malformed { .. } => "blacklist.malformed",
        }
    }

    fn message_zh(&self) -> String {
        match self {
            BlacklistError::Unreadable { path, .. } => format!("无法读取黑名单文件 {path}"),
            BlacklistError::Malformed { line, .. } => format!("黑名单文件第 {line} 行格式错误"),
        }
    }

    fn message_en(&self) -> String {
        let s = self.to_string();
        format!("{}{}", s[..1].to_ascii_uppercase(), &s[1..])
    }
}

/// Blacklisted card numbers and card identification codes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blacklist {
    entries: HashSet<String>,
}

fn check_entry(e: &str) -> Result<(), &'static str> {
    if !e.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("an entry is letters and digits only, one per line");
    }
    if e.len() == 32 {
        return if e.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(())
        } else {
            Err("a 32-character entry must be a card identification code in hex")
        };
    }
    if (6..=20).contains(&e.len()) {
        Ok(())
    } else {
        Err("a card number has 6 to 20 characters, a card identification code 32")
    }
}

impl Blacklist {
    /// Parses the file contents.
    pub fn parse(text: &str) -> Result<Blacklist, BlacklistError> {
        let mut entries = HashSet::new();
        for (i, raw) in text.lines().enumerate() {
            let entry = raw.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            check_entry(entry).map_err(|reason| BlacklistError::Malformed {
                line: i + 1,
                reason,
            })?;
            entries.insert(entry.to_ascii_uppercase());
        }
        Ok(Blacklist { entries })
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Blacklist, BlacklistError> {
        let text = std::fs::read_to_string(path).map_err(|e| BlacklistError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text)
    }

    /// Whether the card number or the card identification code is listed.
    pub fn contains(&self, card_no: &str, card_id: &str) -> bool {
        [card_no, card_id]
            .iter()
            .any(|k| !k.is_empty() && self.entries.contains(&k.trim().to_ascii_uppercase()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments_and_both_kinds() {
        let b = Blacklist::parse(
            "# lost cards\n\nX00000019\n  s12345678   # stolen\n110100d156000005a1b2c3d4e5f60718\n",
        )
        .unwrap();
        assert_eq!(b.len(), 3);
        assert!(b.contains("X00000019", ""));
        assert!(b.contains("S12345678", "whatever"));
        assert!(b.contains("", "110100D156000005A1B2C3D4E5F60718"));
        assert!(!b.contains("X00000020", "110100D156000005A1B2C3D4E5F60719"));
        assert!(!b.contains("", ""));
        assert!(Blacklist::default().is_empty());
    }

    #[test]
    fn malformed_lines_are_named() {
        let e = Blacklist::parse("X00000019\n# ok\nX0000 0019\n").unwrap_err();
        assert!(
            matches!(e, BlacklistError::Malformed { line: 3, .. }),
            "{e:?}"
        );
        assert_eq!(e.code(), "blacklist.malformed");
        assert!(
            e.message_en().starts_with("Blacklist line 3: "),
            "{}",
            e.message_en()
        );
        assert_eq!(e.message_zh(), "黑名单文件第 3 行格式错误");
        let e = Blacklist::parse("110100G156000005A1B2C3D4E5F60718\n").unwrap_err();
        assert!(matches!(e, BlacklistError::Malformed { line: 1, .. }));
        assert!(matches!(
            Blacklist::parse("X1\n"),
            Err(BlacklistError::Malformed { line: 1, .. })
        ));
        assert!(matches!(
            Blacklist::parse("身份证号\n"),
            Err(BlacklistError::Malformed { line: 1, .. })
        ));
    }

    #[test]
    fn loads_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blacklist.txt");
        std::fs::write(&path, "X00000019\n").unwrap();
        assert_eq!(Blacklist::load(&path).unwrap().len(), 1);
        let e = Blacklist::load(&dir.path().join("missing")).unwrap_err();
        assert_eq!(e.code(), "blacklist.unreadable");
        assert!(e.message_zh().contains("missing"));
    }
}

//! Masking of personal data held as plain text (citizen ID numbers, names, card numbers) for
//! logs, CLI output, events and the status page. Typed personal data uses the newtypes of
//! [`super`], which mask through these same helpers.
//!
//! Everything that may show personal data to a person or a log goes through these helpers:
//! ID numbers keep the 6-digit region and the last 4 characters (`110105********002X`), names
//! keep the family name (`张*`). [`scrub`] is the last line of defence the log writer applies
//! to every line: it masks anything shaped like an ID number. Nothing here unmasks.

use std::borrow::Cow;
use std::fmt;

/// Masks a citizen ID / social security number: first 6 and last 4 characters kept, the rest
/// replaced by `*`, one per character. Short values are masked completely.
pub fn mask_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 11 {
        return "*".repeat(chars.len());
    }
    let keep_tail = chars.len() - 4;
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < 6 || i >= keep_tail { *c } else { '*' })
        .collect()
}

/// Masks a person's name: the first character kept, every other character replaced by `*`
/// (`张三` → `张*`, `欧阳娜娜` → `欧***`). A one-character name becomes `*`.
pub fn mask_name(name: &str) -> String {
    let n = name.chars().count();
    match name.chars().next() {
        None => String::new(),
        Some(_) if n == 1 => "*".to_owned(),
        Some(first) => std::iter::once(first)
            .chain(std::iter::repeat_n('*', n - 1))
            .collect(),
    }
}

/// Masks a card number as the sale views show it: the first character and the last three
/// kept (`M12345678` → `M*****678`).
pub fn mask_card(card_no: &str) -> String {
    let n = card_no.chars().count();
    card_no
        .chars()
        .enumerate()
        .map(|(i, c)| if i < 1 || i + 3 >= n { c } else { '*' })
        .collect()
}

/// Displays an ID number masked: `tracing::info!(id = %MaskedId(&id))`.
pub struct MaskedId<'a>(pub &'a str);

impl fmt::Display for MaskedId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask_id(self.0))
    }
}

/// Displays a name masked.
pub struct MaskedName<'a>(pub &'a str);

impl fmt::Display for MaskedName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask_name(self.0))
    }
}

/// Masks every run of text shaped like an 18-character citizen ID number (17 digits and a
/// digit or `X`, not part of a longer digit run) or an old 15-digit one. Returns the input
/// unchanged (borrowed) when there is nothing to mask.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let mut len = digits;
        if digits == 17 && matches!(b.get(i + 17), Some(b'X' | b'x')) {
            len = 18;
        }
        let next_is_word = b.get(i + len).is_some_and(|c| c.is_ascii_alphanumeric());
        if (len == 18 || len == 15) && !next_is_word {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..i]);
            o.push_str(&mask_id(&text[i..i + len]));
            copied = i + len;
        }
        i += len.max(1);
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_region_and_tail() {
        assert_eq!(mask_id("11010519491231002X"), "110105********002X");
        assert_eq!(mask_id("110105491231002"), "110105*****1002");
        assert_eq!(mask_id("12345"), "*****");
        assert_eq!(mask_id(""), "");
    }

    #[test]
    fn names_keep_the_family_name() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(mask_name("王"), "*");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_name("Li Lei"), "L*****");
    }

    #[test]
    fn card_numbers_keep_first_and_last_three() {
        assert_eq!(mask_card("M12345678"), "M*****678");
        assert_eq!(mask_card("AB1"), "AB1");
    }

    #[test]
    fn scrub_masks_id_shaped_runs_only() {
        assert_eq!(
            scrub("certno=11010519491231002X&x=1"),
            "certno=110105********002X&x=1"
        );
        assert_eq!(scrub("a 110105194912310021."), "a 110105********0021.");
        assert_eq!(scrub("old 110105491231002 id"), "old 110105*****1002 id");
        // Longer digit runs (timestamps, msgids) and ids glued to letters are left alone.
        let msgid = "H110105000012026112301330000001";
        assert_eq!(scrub(msgid), msgid);
        assert_eq!(scrub("1234567890123456789"), "1234567890123456789");
        assert!(matches!(scrub("nothing here 42"), Cow::Borrowed(_)));
    }

    #[test]
    fn scrub_handles_multibyte_text() {
        assert_eq!(
            scrub("姓名张三 证件11010519491231002X。"),
            "姓名张三 证件110105********002X。"
        );
    }
}

//! A strict reader of udev rules syntax (udev(7)), for udev versions without `udevadm
//! verify` (before systemd 254, e.g. Debian 12): every rule is a comma-separated list of
//! `KEY[{attr}] OP "value"`, match keys take `==`/`!=`, assignment keys take `=`, `+=`, `-=`,
//! `:=`, and every `GOTO` has its `LABEL`. It does not evaluate rules against devices.

/// One `KEY{attr} OP "value"` of a rule.
#[derive(Debug, PartialEq, Eq)]
pub struct Token {
    pub key: String,
    pub attr: Option<String>,
    pub op: String,
    pub value: String,
}

/// Keys, whether they take an `{attr}` (`Some(true)` required, `Some(false)` never, `None`
/// optional), whether they match and whether they assign.
const KEYS: &[(&str, Option<bool>, bool, bool)] = &[
    ("ACTION", Some(false), true, false),
    ("DEVPATH", Some(false), true, false),
    ("KERNEL", Some(false), true, false),
    ("KERNELS", Some(false), true, false),
    ("SUBSYSTEM", Some(false), true, false),
    ("SUBSYSTEMS", Some(false), true, false),
    ("DRIVER", Some(false), true, false),
    ("DRIVERS", Some(false), true, false),
    ("ATTRS", Some(true), true, false),
    ("TAGS", Some(false), true, false),
    ("CONST", Some(true), true, false),
    ("TEST", None, true, false),
    ("PROGRAM", Some(false), true, false),
    ("RESULT", Some(false), true, false),
    ("NAME", Some(false), true, true),
    ("SYMLINK", Some(false), true, true),
    ("ATTR", Some(true), true, true),
    ("SYSCTL", Some(true), true, true),
    ("ENV", Some(true), true, true),
    ("TAG", Some(false), true, true),
    ("IMPORT", Some(true), true, false),
    ("OWNER", Some(false), false, true),
    ("GROUP", Some(false), false, true),
    ("MODE", Some(false), false, true),
    ("SECLABEL", Some(true), false, true),
    ("RUN", None, false, true),
    ("LABEL", Some(false), false, true),
    ("GOTO", Some(false), false, true),
    ("OPTIONS", Some(false), false, true),
];

const OPS: [&str; 6] = ["==", "!=", "+=", "-=", ":=", "="];

/// Parses rules text into rules (each a list of tokens), or every error found, by line.
pub fn parse(text: &str) -> Result<Vec<Vec<Token>>, Vec<String>> {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    let mut logical = String::new();
    let mut first_line = 0;
    for (i, line) in text.lines().enumerate() {
        if logical.is_empty() {
            first_line = i + 1;
        }
        if let Some(head) = line.strip_suffix('\\') {
            logical.push_str(head);
            continue;
        }
        logical.push_str(line);
        let rule = std::mem::take(&mut logical);
        let trimmed = rule.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match parse_rule(trimmed) {
            Ok(tokens) => rules.push(tokens),
            Err(e) => errors.push(format!("line {first_line}: {e}: {trimmed}")),
        }
    }
    if !logical.is_empty() {
        errors.push(format!("line {first_line}: continuation at end of file"));
    }
    let labels: Vec<&str> = tokens_with(&rules, "LABEL").collect();
    for goto in tokens_with(&rules, "GOTO") {
        if !labels.contains(&goto) {
            errors.push(format!("GOTO=\"{goto}\" has no LABEL"));
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

fn tokens_with<'a>(rules: &'a [Vec<Token>], key: &'a str) -> impl Iterator<Item = &'a str> {
    rules
        .iter()
        .flatten()
        .filter(move |t| t.key == key)
        .map(|t| t.value.as_str())
}

fn parse_rule(mut rest: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    loop {
        rest = rest.trim_start();
        let key_len = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .unwrap_or(rest.len());
        let key = &rest[..key_len];
        rest = &rest[key_len..];
        let attr = match rest.strip_prefix('{') {
            Some(r) => {
                let end = r.find('}').ok_or("unclosed `{`")?;
                rest = &r[end + 1..];
                Some(r[..end].to_owned())
            }
            None => None,
        };
        let &(_, wants_attr, matches, assigns) = KEYS
            .iter()
            .find(|(k, ..)| *k == key)
            .ok_or_else(|| format!("unknown key `{key}`"))?;
        if wants_attr.is_some_and(|w| w != attr.is_some()) {
            return Err(format!(
                "`{key}` {} an {{attribute}}",
                if attr.is_some() { "takes no" } else { "needs" }
            ));
        }
        rest = rest.trim_start();
        let op = *OPS
            .iter()
            .find(|op| rest.starts_with(**op))
            .ok_or_else(|| format!("no operator after `{key}`"))?;
        rest = rest[op.len()..].trim_start();
        let is_match = op == "==" || op == "!=";
        if (is_match && !matches) || (!is_match && !assigns) {
            return Err(format!("`{key}` does not take `{op}`"));
        }
        let (value, after) =
            quoted(rest).ok_or_else(|| format!("`{key}{op}` needs a \"value\""))?;
        tokens.push(Token {
            key: key.to_owned(),
            attr,
            op: op.to_owned(),
            value,
        });
        rest = after.trim_start();
        if rest.is_empty() {
            return Ok(tokens);
        }
        rest = rest
            .strip_prefix(',')
            .ok_or("tokens must be separated by `,`")?;
    }
}

/// A double-quoted value (backslash escapes kept as written), optionally prefixed `e` or `r`.
fn quoted(s: &str) -> Option<(String, &str)> {
    let s = s.strip_prefix(['e', 'r', 'E', 'R']).unwrap_or(s);
    let body = s.strip_prefix('"')?;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some((body[..i].to_owned(), &body[i + 1..])),
            _ => escaped = false,
        }
    }
    None
}

#[test]
fn the_reader_refuses_what_udev_refuses() {
    for bad in [
        "SUBSYSTEM=\"tty\"\n",               // a match key with an assignment operator
        "GROUP==\"medsettle\"\n",            // an assignment key used as a match
        "KERNEL==\"ttyACM*\" GROUP=\"x\"\n", // no comma between tokens
        "ENV==\"1\"\n",                      // ENV without {name}
        "MODE=\"0660\n",                     // unterminated value
        "FOO==\"1\"\n",                      // unknown key
        "GOTO=\"nowhere\"\n",                // no LABEL
        "KERNEL==\"a\", \\\n",               // continuation at the end
    ] {
        assert!(parse(bad).is_err(), "accepted {bad:?}");
    }
    let ok = parse("# c\nSUBSYSTEM==\"tty\", \\\n  ENV{X}!=\"1\", GOTO=\"end\"\nLABEL=\"end\"\n");
    assert_eq!(ok.map(|r| r.len()), Ok(2));
}

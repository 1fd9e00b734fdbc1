//! One list of systemd credential names ([`CREDENTIAL_NAMES`]), checked against every shipped
//! file that spells one: the packaged config, the every-key example, the unit, its drop-in
//! example and the docs. A name that differs between the config and `LoadCredential=` is not a
//! config error anyone would see: the daemon just finds no file. (Issue 18: the drop-in once
//! loaded `upstream-client-cert` while the config asked for `upstream-cert`.)

use std::collections::BTreeSet;

use crate::secret::CREDENTIAL_NAMES;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `(dotted key, credential name)` of every `key = { credential = "name" }` in a TOML file,
/// commented-out lines included (they are what an operator uncomments).
fn toml_references(text: &str) -> Vec<(String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim().trim_start_matches('#').trim();
        if line.starts_with('[') && line.ends_with(']') && !line.contains('=') {
            section = line.trim_matches(['[', ']']).to_owned();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        if let Some(rest) = value.strip_prefix("{ credential = \"") {
            let name = rest.split('"').next().unwrap_or_default();
            out.push((format!("{section}.{}", key.trim()), name.to_owned()));
        }
    }
    out
}

/// The names `LoadCredential=NAME:` / `LoadCredentialEncrypted=NAME:` load in a unit file;
/// `active_only` skips commented-out lines.
fn loaded(text: &str, active_only: bool) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !active_only || !l.trim_start().starts_with('#'))
        .map(|l| l.trim().trim_start_matches('#'))
        .filter_map(|l| {
            l.strip_prefix("LoadCredential=")
                .or_else(|| l.strip_prefix("LoadCredentialEncrypted="))
        })
        .filter_map(|rest| rest.split(':').next())
        .map(str::to_owned)
        .collect()
}

/// Every credential name a prose or config text mentions, in the ways the docs spell them.
fn mentioned(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let prefixes = [
        "credential = \"",
        "LoadCredential=",
        "LoadCredentialEncrypted=",
        "$CREDENTIALS_DIRECTORY/",
        "credential `",
    ];
    for prefix in prefixes {
        for (i, _) in text.match_indices(prefix) {
            let name: String = text[i + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect();
            let name = name.trim_end_matches('.');
            if !name.is_empty() && name != "NAME" {
                out.insert(name.to_owned());
            }
        }
    }
    out
}

fn known() -> BTreeSet<String> {
    CREDENTIAL_NAMES
        .iter()
        .map(|(_, n)| (*n).to_owned())
        .collect()
}

/// What is wrong with the names in the conffile, the unit and the drop-in, one line each.
fn problems(conffile: &str, example: &str, unit: &str, dropin: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (file, text) in [("conffile", conffile), ("example", example)] {
        for (key, name) in toml_references(text) {
            match CREDENTIAL_NAMES.iter().find(|(k, _)| *k == key) {
                Some((_, want)) if *want == name => {}
                Some((_, want)) => out.push(format!(
                    "{file}: `{key}` uses `{name}`, the list says `{want}`"
                )),
                None => out.push(format!("{file}: `{key}` is not a secret key of the list")),
            }
        }
    }
    let mut by_units = loaded(unit, true);
    by_units.extend(loaded(dropin, true));
    for (file, text) in [("unit", unit), ("drop-in", dropin)] {
        for name in loaded(text, false) {
            if !known().contains(&name) {
                out.push(format!("{file}: loads `{name}`, which no config key uses"));
            }
        }
    }
    for (key, name) in toml_references(conffile) {
        if !by_units.contains(&name) {
            out.push(format!(
                "conffile: `{key}` = credential `{name}`, but neither the unit nor the drop-in loads it"
            ));
        }
    }
    out
}

#[test]
fn the_list_maps_each_key_to_one_distinct_name() {
    assert_eq!(known().len(), CREDENTIAL_NAMES.len(), "a name used twice");
    let keys: BTreeSet<&str> = CREDENTIAL_NAMES.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys.len(), CREDENTIAL_NAMES.len(), "a key listed twice");
}

#[test]
fn shipped_files_agree_with_the_list() {
    let conffile = read("systemd/medsettle.toml");
    let example = read("fixtures/config/medsettle.example.toml");
    let unit = read("systemd/medsettle.service");
    let dropin = read("systemd/medsettle.service.d/upstream.conf.example");
    let found = problems(&conffile, &example, &unit, &dropin);
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The check saw what it should: the conffile's three and the example's every secret key.
    let conf: Vec<String> = toml_references(&conffile)
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(conf, ["api-token", "upstream-cert", "upstream-key"]);
    let example_keys: BTreeSet<String> = toml_references(&example)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let all: BTreeSet<String> = CREDENTIAL_NAMES
        .iter()
        .map(|(k, _)| (*k).to_owned())
        .collect();
    assert_eq!(example_keys, all, "the example shows every secret key");
}

#[test]
fn docs_name_only_listed_credentials() {
    for rel in [
        "README.md",
        "systemd/README.md",
        "systemd/medsettle.toml",
        "systemd/medsettle.service",
        "systemd/medsettle.service.d/upstream.conf.example",
        "fixtures/config/medsettle.example.toml",
    ] {
        let names = mentioned(&read(rel));
        let known = known();
        let unknown: Vec<&String> = names.difference(&known).collect();
        assert!(unknown.is_empty(), "{rel} names {unknown:?}");
        if rel.ends_with("README.md") {
            assert!(names.contains("api-token"), "{rel}: {names:?}");
        }
    }
}

#[test]
fn the_old_drop_in_spelling_is_caught() {
    let conffile = read("systemd/medsettle.toml");
    let example = read("fixtures/config/medsettle.example.toml");
    let unit = read("systemd/medsettle.service");
    let old = read("systemd/medsettle.service.d/upstream.conf.example")
        .replace("=upstream-cert:", "=upstream-client-cert:")
        .replace("=upstream-key:", "=upstream-client-key:");
    let found = problems(&conffile, &example, &unit, &old).join("\n");
    assert!(
        found.contains("drop-in: loads `upstream-client-cert`"),
        "{found}"
    );
    assert!(
        found.contains("`upstream.client_cert` = credential `upstream-cert`, but neither"),
        "{found}"
    );
    let renamed = conffile.replace("\"upstream-key\"", "\"upstream-client-key\"");
    let found = problems(&renamed, &example, &unit, &old).join("\n");
    assert!(
        found.contains(
            "`upstream.client_key` uses `upstream-client-key`, the list says `upstream-key`"
        ),
        "{found}"
    );
}

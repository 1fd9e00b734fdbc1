//! Unit tests for config parsing: every error names its key and line.

use super::*;

const MINIMAL: &str = r#"
[terminal]
id = "T0001"
fixmedins_code = "H11010500001"
fixmedins_name = "测试药店"
region = "110105"

[api]
token = { file = "/etc/medsettle/api-token" }
"#;

fn example() -> &'static str {
    include_str!("../../fixtures/config/medsettle.example.toml")
}

#[test]
fn minimal_config_gets_defaults() {
    let c = Config::parse(MINIMAL).unwrap();
    assert_eq!(c.api.listen, "127.0.0.1:8790".parse().unwrap());
    assert_eq!(
        c.store.path,
        PathBuf::from("/var/lib/medsettle/medsettle.db")
    );
    assert_eq!(c.terminal.mode, TerminalMode::Counter);
    assert_eq!(c.daemon.shutdown_grace_ms, 10_000);
}

#[test]
fn example_file_parses() {
    let c = Config::parse(example()).unwrap();
    assert_eq!(c.api.token, SecretRef::Credential("api-token".into()));
    assert_eq!(
        c.api.unix_socket,
        Some(PathBuf::from("/run/medsettle/api.sock"))
    );
}

#[test]
fn every_key_is_documented_in_the_example() {
    // The effective config of the example, rendered back, must use only keys the example
    // itself writes down; a new key added to the structs without documentation fails here.
    let c = Config::parse(example()).unwrap();
    let rendered: toml::Table = toml::from_str(&c.to_toml()).unwrap();
    let documented: toml::Table = toml::from_str(example()).unwrap();
    for (section, value) in &rendered {
        let doc = documented
            .get(section)
            .and_then(|v| v.as_table())
            .unwrap_or_else(|| panic!("section [{section}] missing from the example"));
        for key in value.as_table().unwrap().keys() {
            assert!(
                doc.contains_key(key),
                "`{section}.{key}` missing from the example"
            );
        }
    }
}

#[test]
fn unknown_key_names_key_and_line() {
    let text = MINIMAL.replace("[api]\n", "[api]\nlisten_addr = \"127.0.0.1:1\"\n");
    let err = Config::parse(&text).unwrap_err();
    let e = &err.0[0];
    assert_eq!(e.key.as_deref(), Some("api.listen_addr"));
    assert_eq!(e.line, Some(9));
    assert!(e.message.contains("unknown field"), "{}", e.message);
}

#[test]
fn unknown_section_is_an_error() {
    let text = format!("{MINIMAL}\n[upstrem]\nurl = \"x\"\n");
    let err = Config::parse(&text).unwrap_err();
    assert_eq!(err.first_key(), Some("upstrem"));
}

#[test]
fn bad_type_names_key_and_line() {
    let text = MINIMAL.replace("[api]\n", "[api]\nlisten = \"not an address\"\n");
    let err = Config::parse(&text).unwrap_err();
    assert_eq!(err.first_key(), Some("api.listen"));
    assert_eq!(err.0[0].line, Some(9));
}

#[test]
fn missing_required_key_is_named() {
    let text = MINIMAL.replace("region = \"110105\"\n", "");
    let err = Config::parse(&text).unwrap_err();
    assert_eq!(err.first_key(), Some("terminal.region"));
}

#[test]
fn validation_errors_name_key_and_line() {
    let text = MINIMAL
        .replace("region = \"110105\"", "region = \"11010\"")
        .replace("[api]\n", "[api]\nunix_socket_mode = \"0666\"\n");
    let err = Config::parse(&text).unwrap_err();
    let keys: Vec<_> = err.0.iter().map(|e| e.key.clone().unwrap()).collect();
    assert_eq!(keys, ["terminal.region", "api.unix_socket_mode"]);
    assert_eq!(err.0[0].line, Some(6));
    assert_eq!(err.0[1].line, Some(9));
    let shown = err.to_string();
    assert!(shown.contains("line 6: `terminal.region`"), "{shown}");
}

#[test]
fn bad_log_filter_is_refused() {
    let text = format!("{MINIMAL}\n[log]\nlevel = \"info,[bad\"\n");
    let err = Config::parse(&text).unwrap_err();
    assert_eq!(err.first_key(), Some("log.level"));
    assert_eq!(err.0[0].line, Some(12));
}

#[test]
fn bare_word_log_level_is_refused() {
    for level in ["loud", "info,verbose", "medsettle=chatty"] {
        let text = format!("{MINIMAL}\n[log]\nlevel = \"{level}\"\n");
        let err = Config::parse(&text).unwrap_err();
        assert_eq!(err.first_key(), Some("log.level"), "{level}");
    }
    let ok = format!("{MINIMAL}\n[log]\nlevel = \"warn,medsettle::store=DEBUG\"\n");
    Config::parse(&ok).unwrap();
}

#[test]
fn syntax_error_names_line() {
    let text = MINIMAL.replace("id = \"T0001\"", "id = \"T0001");
    let err = Config::parse(&text).unwrap_err();
    assert_eq!(err.0[0].key, None);
    assert_eq!(err.0[0].line, Some(3));
    assert!(err.0[0].message.contains("syntax"));
}

#[test]
fn inline_secret_is_not_accepted() {
    let text = MINIMAL.replace(
        "token = { file = \"/etc/medsettle/api-token\" }",
        "token = \"s3cret\"",
    );
    let err = Config::parse(&text).unwrap_err();
    assert_eq!(err.first_key(), Some("api.token"));
}

#[test]
fn relative_paths_resolve_against_the_config_dir() {
    let dir = tempfile::tempdir().unwrap();
    let text = MINIMAL
        .replace("/etc/medsettle/api-token", "secrets/token")
        .replace("[api]\n", "[api]\nunix_socket = \"api.sock\"\n")
        + "\n[store]\npath = \"data/m.db\"\n";
    let path = dir.path().join("m.toml");
    std::fs::write(&path, text).unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.store.path, dir.path().join("data/m.db"));
    assert_eq!(c.api.unix_socket, Some(dir.path().join("api.sock")));
    assert_eq!(
        c.api.token,
        SecretRef::File(dir.path().join("secrets/token"))
    );
}

#[test]
fn load_error_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    std::fs::write(&path, MINIMAL.replace("110105", "x")).unwrap();
    let shown = Config::load(&path).unwrap_err().to_string();
    assert!(
        shown.starts_with(&format!("{}:6: ", path.display())),
        "{shown}"
    );
}

#[test]
fn restart_required_lists_only_restart_keys() {
    let a = Config::parse(MINIMAL).unwrap();
    let mut b = a.clone();
    b.log.level = "debug".into();
    assert!(a.restart_required(&b).is_empty());
    b.api.listen = "127.0.0.1:9999".parse().unwrap();
    assert_eq!(a.restart_required(&b), ["api.listen"]);
    // The engine holds [settle] and [trace] from its start.
    b.settle.offline_max_count += 1;
    b.trace.phar_name = "王药师".into();
    assert_eq!(a.restart_required(&b), ["api.listen", "settle", "trace"]);
}

#[test]
fn secrets_load_from_file_and_credentials() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tok"), "abc123\n").unwrap();
    let s = Secret::load(&SecretRef::File(dir.path().join("tok")), None).unwrap();
    assert_eq!(s.expose(), "abc123");
    assert_eq!(format!("{s:?}"), "Secret(****)");

    let cred = SecretRef::Credential("tok".into());
    assert!(matches!(
        Secret::load(&cred, None),
        Err(SecretError::NoCredentialsDirectory(_))
    ));
    assert_eq!(
        Secret::load(&cred, Some(dir.path())).unwrap().expose(),
        "abc123"
    );
    let escape = SecretRef::Credential("../tok".into());
    assert!(matches!(
        Secret::load(&escape, Some(dir.path())),
        Err(SecretError::BadCredentialName(_))
    ));
    std::fs::write(dir.path().join("empty"), " \n").unwrap();
    assert!(matches!(
        Secret::load(&SecretRef::File(dir.path().join("empty")), None),
        Err(SecretError::Empty(_))
    ));
}

#[test]
fn rendered_config_never_contains_secret_values() {
    let c = Config::parse(MINIMAL).unwrap();
    let shown = c.to_toml();
    assert!(shown.contains("/etc/medsettle/api-token"));
    assert!(
        Config::parse(&shown).is_ok(),
        "the rendering must parse back:\n{shown}"
    );
}

#[test]
fn reader_and_card_settings_are_checked() {
    let cases = [
        ("[readers]\nwait_ms = 5\n", "readers.wait_ms"),
        (
            "[readers]\nbackend = \"virtual\"\n",
            "readers.virtual_profile",
        ),
        ("[readers]\npolicy = \"contact-first\"\n", "readers.policy"),
        (
            "[readers]\nslots = [{ pattern = \" \", kind = \"sam\" }]\n",
            "readers.slots",
        ),
        ("[card]\nspec_versions = [\"3.0\"]\n", "card.spec_versions"),
        ("[card]\nspec_versions = []\n", "card.spec_versions"),
        ("[qr]\nessc_keys = { k1 = \"04abcd\" }\n", "qr.essc_keys.k1"),
        ("[qr]\nessc_skew_secs = -1\n", "qr.essc_skew_secs"),
        (
            "[upstream]\nbase_url = \"http://10.0.0.1\"\n",
            "upstream.base_url",
        ),
        ("[upstream]\nbase_url = \"ftp://x\"\n", "upstream.base_url"),
        (
            "[upstream]\nbase_url = \"https://x\"\npool_idle_timeout_ms = 60000\n",
            "upstream.pool_idle_timeout_ms",
        ),
        (
            "[upstream]\nbase_url = \"https://x\"\nclient_cert = { file = \"c.pem\" }\n",
            "upstream.client_key",
        ),
        (
            "[upstream]\nbase_url = \"https://x\"\nsigntype = \"MD5\"\n",
            "upstream.signtype",
        ),
    ];
    for (extra, key) in cases {
        let text = format!("{MINIMAL}\n{extra}");
        let err = Config::parse(&text).unwrap_err();
        assert_eq!(err.first_key(), Some(key), "{extra}");
        assert!(err.0[0].line.is_some(), "{extra}");
    }
}

#[test]
fn a_sandbox_platform_may_use_plain_http_when_allowed() {
    let text = format!(
        "{MINIMAL}\n[upstream]\nbase_url = \"http://127.0.0.1:9100\"\nallow_plain_http = true\nsigntype = \"MOCK\"\n"
    );
    let c = Config::parse(&text).unwrap();
    let u = c.upstream.unwrap();
    assert_eq!(u.signtype, crate::config::SignType::Mock);
    assert_eq!(u.path, "/fsi/api/rsfComIfsService/callService");
    assert!(
        Config::parse(MINIMAL).unwrap().upstream.is_none(),
        "the section is optional"
    );
}

#[test]
fn file_transfers_take_their_encoding_and_own_paths() {
    let base = format!(
        "{MINIMAL}\n[upstream]\nbase_url = \"http://127.0.0.1:9100/\"\nallow_plain_http = true\n"
    );
    let u = Config::parse(&base).unwrap().upstream.unwrap();
    assert_eq!(
        u.file_in_encoding,
        crate::config::upstream::InEncoding::Base64
    );
    assert_eq!(
        u.url_for("9101"),
        "http://127.0.0.1:9100/fsi/api/rsfComIfsService/callService"
    );
    let text = format!(
        "{base}file_in_encoding = \"bytes\"\npaths = {{ \"9101\" = \"/fsi/api/fileupload/upload\", \"9102\" = \"/fsi/api/fileupload/download\" }}\n"
    );
    let u = Config::parse(&text).unwrap().upstream.unwrap();
    assert_eq!(
        u.file_in_encoding,
        crate::config::upstream::InEncoding::Bytes
    );
    assert_eq!(
        u.url_for("9101"),
        "http://127.0.0.1:9100/fsi/api/fileupload/upload"
    );
    assert_eq!(
        u.url_for("9102"),
        "http://127.0.0.1:9100/fsi/api/fileupload/download"
    );
    assert!(u.url_for("3202").ends_with("/callService"));
    for bad in [
        "paths = { \"9101\" = \"fsi/upload\" }",
        "paths = { \"91-01\" = \"/x\" }",
        "file_in_encoding = \"hex\"",
    ] {
        let err = Config::parse(&format!("{base}{bad}\n")).unwrap_err();
        assert!(
            err.first_key().is_some_and(|k| k.starts_with("upstream.")),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn pharmacy_node_names_and_insutype_preference_are_checked() {
    let ok = format!(
        "{MINIMAL}\n[settle]\npharmacy_input_node = \"data\"\npharmacy_detail_node = \"feedetail\"\n\
         insutype_preference = [\"390\", \"310\"]\n\n[settle.answer_checks]\nmedfee_parts = false\n"
    );
    let c = Config::parse(&ok).unwrap();
    assert_eq!(c.settle.fee_node().names(), ("data", "feedetail"));
    assert_eq!(c.settle.insutype_preference, ["390", "310"]);
    assert!(!c.settle.answer_checks.medfee_parts && c.settle.answer_checks.medfee_sent);
    let default = Config::parse(MINIMAL).unwrap();
    assert_eq!(
        default.settle.fee_node().names(),
        ("druginfo", "drugdetail")
    );
    for (text, key) in [
        (
            "pharmacy_input_node = \"drug info\"",
            "settle.pharmacy_input_node",
        ),
        ("pharmacy_detail_node = \"\"", "settle.pharmacy_detail_node"),
        (
            "pharmacy_input_node = \"drugdetail\"",
            "settle.pharmacy_detail_node",
        ),
        (
            "insutype_preference = [\"31a\"]",
            "settle.insutype_preference",
        ),
    ] {
        let err = Config::parse(&format!("{MINIMAL}\n[settle]\n{text}\n")).unwrap_err();
        assert_eq!(err.first_key(), Some(key), "{text}: {err}");
    }
    let err = Config::parse(&format!(
        "{MINIMAL}\n[settle.answer_checks]\nmedfee_part = false\n"
    ))
    .unwrap_err();
    assert!(err.to_string().contains("medfee_part"), "{err}");
}

#[test]
fn consent_practice_timeouts_and_the_unix_reserve_are_checked() {
    let c = Config::parse(MINIMAL).unwrap();
    assert_eq!(c.api.header_read_timeout_ms, 10_000);
    assert_eq!(c.api.idle_timeout_ms, 60_000);
    assert_eq!(c.api.unix_reserved_connections, 16);
    assert!(!c.settle.skip_pin_consent);
    let up = format!("{MINIMAL}\n[upstream]\nbase_url = \"https://x\"\n");
    assert_eq!(
        Config::parse(&up).unwrap().upstream.unwrap().consent,
        "none"
    );
    let cases = [
        (
            "[upstream]\nbase_url = \"https://x\"\nconsent = \"rsa\"\n",
            "upstream.consent",
        ),
        (
            "[api]\nheader_read_timeout_ms = 0\n",
            "api.header_read_timeout_ms",
        ),
        ("[api]\nidle_timeout_ms = 10\n", "api.idle_timeout_ms"),
        (
            "[api]\nunix_socket = \"/run/m.sock\"\nmax_connections = 8\nunix_reserved_connections = 5\n",
            "api.unix_reserved_connections",
        ),
    ];
    for (extra, key) in cases {
        // `[api]` is in MINIMAL already: its extra keys go there.
        let text = if let Some(keys) = extra.strip_prefix("[api]\n") {
            MINIMAL.replace("[api]\n", &format!("[api]\n{keys}"))
        } else {
            format!("{MINIMAL}\n{extra}")
        };
        let err = Config::parse(&text).unwrap_err();
        assert_eq!(err.first_key(), Some(key), "{extra}");
    }
    let err = Config::parse(&format!(
        "{MINIMAL}\n[upstream]\nbase_url = \"https://x\"\nconsent = \"rsa\"\n"
    ))
    .unwrap_err();
    assert!(err.to_string().contains("supports only \"none\""), "{err}");
    // Without a Unix socket the reserve is not used, so it is not checked.
    let text = MINIMAL.replace(
        "[api]\n",
        "[api]\nmax_connections = 8\nunix_reserved_connections = 5\n",
    );
    assert!(Config::parse(&text).is_ok());
    // skip_pin_consent: only builds with the demo feature accept it.
    let skip = Config::parse(&format!("{MINIMAL}\n[settle]\nskip_pin_consent = true\n"));
    assert_eq!(skip.is_ok(), cfg!(feature = "demo"), "{skip:?}");
}

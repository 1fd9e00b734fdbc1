//! The e-SSC test keys published in this repository (their private halves are committed, so
//! anyone can mint codes they verify) are refused by `config check` and by `run`, through the
//! real binary, with the stable code, the key, why and what to do; the tests' explicit opt-in
//! (`qr.allow_test_keys`, honoured only in builds with the demo feature) lets them through.

use crate::support::Terminal;
use crate::support::process::run_cli;

/// The committed test issuer's public key, from the fixture that also holds its secret.
fn test_key() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("fixtures/qr/essc/cases.json")).unwrap(),
    )
    .unwrap();
    cases["public_key_hex"].as_str().unwrap().to_owned()
}

#[test]
fn config_check_and_run_refuse_a_committed_test_key() {
    let key = test_key();
    let t = Terminal::with(|x| {
        x.push_str(&format!(
            "\n[qr]\nessc_keys = {{ \"test-2026\" = \"{key}\" }}\n"
        ))
    });
    let path = t.write_config();
    let path = path.to_str().unwrap();
    let line = t
        .config_text()
        .lines()
        .position(|l| l.starts_with("essc_keys"))
        .unwrap()
        + 1;
    for args in [vec!["config", "check", path], vec!["run", "--config", path]] {
        let (status, _, err) = run_cli(&args, None);
        assert_eq!(status.code(), Some(78), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                ":{line}: `qr.essc_keys.test-2026`: [config.test_key] `test-2026` is the e-SSC test issuer key"
            )),
            "{args:?}: {err}"
        );
        assert!(err.contains("anyone could mint e-SSC codes"), "{err}");
        assert!(
            err.contains("configure the public key your e-SSC issuer published"),
            "{err}"
        );
        assert!(
            !err.contains("allow_test_keys"),
            "the error never offers the opt-in: {err}"
        );
    }
    assert!(
        !t.db_path().exists(),
        "`run` stopped before opening the database"
    );
}

#[test]
fn the_tests_opt_in_lets_a_test_key_through_in_a_demo_build() {
    let key = test_key();
    let t = Terminal::with(|x| {
        x.push_str(&format!(
            "\n[qr]\nallow_test_keys = true\nessc_keys = {{ \"test-2026\" = \"{key}\" }}\n"
        ))
    });
    let path = t.write_config();
    let (status, _, err) = run_cli(&["config", "check", path.to_str().unwrap()], None);
    // The integration tests build with the default features, demo included.
    assert!(status.success(), "{err}");
}

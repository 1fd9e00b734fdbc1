//! Known test keys: e-SSC issuer public keys whose private halves are committed to this
//! repository. A terminal trusting one accepts codes anyone can mint, so `config check` and
//! `run` refuse them, unless the config says `qr.allow_test_keys = true` in a build with the
//! `demo` feature.
//!
//! Why that opt-in cannot be tripped over by a hospital IT engineer: the Debian package is
//! built without `demo` and refuses the key itself (so there is nothing to set there); the key
//! is in no shipped config, example or doc, and the error for a test key tells the operator to
//! configure the issuer's real key, never to allow test keys. The demo generates a fresh issuer
//! key per run and needs no opt-in; the tests that verify codes minted with the committed key
//! set it on their typed config.

use super::super::QrConfig;

/// A public key whose private half is published, and where.
pub(crate) struct KnownKey {
    /// Uncompressed SEC1 hex, lowercase.
    pub public_hex: &'static str,
    /// A name for messages.
    pub name: &'static str,
    /// Where the private half is committed.
    pub source: &'static str,
}

/// Every e-SSC issuer key of this repository whose private half is committed. The test
/// `every_committed_secret_is_listed` derives the public half of each secret it finds in the
/// repository and fails when one is missing here.
pub(crate) const KNOWN_TEST_KEYS: &[KnownKey] = &[
    KnownKey {
        public_hex: "048f8e23dd666c1f07ead90e50e4ab56b0febde001a6ff98c5c67e9987b92f2ed8a975fc5a030cb000c7c9367b0ee38d608198e9ef6f4b1f61f550ef49a80a7088",
        name: "the e-SSC test issuer key `test-2026`",
        source: "crates/essc/src/fixtures.rs and fixtures/qr/essc/cases.json",
    },
    KnownKey {
        public_hex: "04106b522a220eb0434e093e9e0fcb296246b386facdade1ba4e87b114f7b4d5f6e16ba1f4a7a35bd8d4859780a9d7be37b563dd0a1ca84124d335d5768ecb4e60",
        name: "the e-SSC \"other issuer\" test key",
        source: "crates/essc/src/fixtures.rs",
    },
    KnownKey {
        public_hex: "0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13",
        name: "the gmssl cross-check key `gmssl-test`",
        source: "scripts/gmssl_sign_essc.py",
    },
];

/// The stable code of the refusal (in the message: config errors carry key, line and text).
pub(crate) const CODE: &str = "config.test_key";

/// The known test key `hex` is, if any.
pub(crate) fn known(hex: &str) -> Option<&'static KnownKey> {
    let hex = hex.trim().to_ascii_lowercase();
    KNOWN_TEST_KEYS.iter().find(|k| k.public_hex == hex)
}

/// (dotted key, message) for every test key the config trusts without the opt-in, and for the
/// opt-in itself in a build that does not honour it.
pub(crate) fn problems(qr: &QrConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let allowed = qr.allow_test_keys && cfg!(feature = "demo");
    if qr.allow_test_keys && !cfg!(feature = "demo") {
        out.push((
            "qr.allow_test_keys".to_owned(),
            format!(
                "[{CODE}] this build (without the demo feature, like the Debian package) never \
                 trusts test keys; remove the line and configure the public keys your e-SSC \
                 issuer published (本版本不接受测试密钥)"
            ),
        ));
    }
    if allowed {
        return out;
    }
    for (kid, hex) in &qr.essc_keys {
        if let Some(k) = known(hex) {
            out.push((
                format!("qr.essc_keys.{kid}"),
                format!(
                    "[{CODE}] `{kid}` is {}, a TEST key: its private half is published in the \
                     medsettle source ({}), so anyone could mint e-SSC codes this terminal \
                     would accept as genuine. Remove it and configure the public key your e-SSC \
                     issuer published for this kid (拒绝：这是公开的测试密钥，任何人都能伪造电子社保卡码；\
                     请改用发卡机构公布的公钥)",
                    k.name, k.source
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const ROOT: &str = env!("CARGO_MANIFEST_DIR");

    fn config(qr: &str) -> Result<Config, crate::config::ConfigErrors> {
        Config::parse(&format!(
            "[terminal]\nid = \"T1\"\nfixmedins_code = \"H1\"\nfixmedins_name = \"x\"\n\
             region = \"110105\"\n[api]\ntoken = {{ file = \"/t\" }}\n[qr]\n{qr}\n"
        ))
    }

    /// Every 64-hex-digit value on a line that calls it a secret, in the places signing keys
    /// of this repository live (fixtures, scripts, the e-SSC crate, the sandbox insurer).
    fn committed_secrets() -> Vec<(String, String)> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        for dir in [
            "fixtures",
            "scripts",
            "crates/essc/src",
            "drivers/sandbox",
            "tests",
        ] {
            walk(&std::path::Path::new(ROOT).join(dir), &mut files);
        }
        let mut out = Vec::new();
        for f in files {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            for line in text.lines() {
                if !line.to_ascii_lowercase().contains("secret") {
                    continue;
                }
                for word in line.split(|c: char| !c.is_ascii_hexdigit()) {
                    if word.len() == 64 {
                        out.push((f.display().to_string(), word.to_owned()));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_committed_secret_is_listed() {
        let secrets = committed_secrets();
        // The ones this test was written against must be found, or the search is broken.
        assert!(secrets.len() >= 3, "{secrets:?}");
        for (file, secret) in secrets {
            let public = crate::qr::essc::Issuer::from_secret_hex("k", &secret)
                .map(|i| i.public_key_hex())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(
                known(&public).is_some(),
                "{file} commits a secret key whose public half {public} is not in KNOWN_TEST_KEYS"
            );
        }
    }

    #[test]
    fn the_example_config_trusts_no_key() {
        let example = include_str!("../../../fixtures/config/medsettle.example.toml");
        let c = Config::parse(example).unwrap();
        assert!(c.qr.essc_keys.is_empty());
        assert!(!c.qr.allow_test_keys);
        assert!(
            !example.contains("allow_test_keys"),
            "the opt-in is not documented there"
        );
    }

    #[test]
    fn every_committed_public_key_is_listed() {
        for rel in ["fixtures/qr/essc/cases.json", "fixtures/qr/essc/gmssl.json"] {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(format!("{ROOT}/{rel}")).unwrap())
                    .unwrap();
            let public = v["public_key_hex"].as_str().unwrap();
            assert!(known(public).is_some(), "{rel}: {public}");
        }
    }

    #[test]
    fn a_test_key_is_refused_with_its_code_name_and_remedy() {
        let hex = KNOWN_TEST_KEYS[0].public_hex;
        let err = config(&format!("essc_keys = {{ \"test-2026\" = \"{hex}\" }}")).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        let e = &err.0[0];
        assert_eq!(e.key.as_deref(), Some("qr.essc_keys.test-2026"));
        assert_eq!(e.line, Some(9));
        assert!(
            e.message.starts_with("[config.test_key] `test-2026`"),
            "{e}"
        );
        assert!(e.message.contains("anyone could mint"), "{e}");
        assert!(e.message.contains("crates/essc/src/fixtures.rs"), "{e}");
        assert!(
            e.message.contains("public key your e-SSC issuer published"),
            "{e}"
        );
        assert!(
            !e.message.contains("allow_test_keys"),
            "never suggest the opt-in: {e}"
        );
        // Under another kid and in capitals it is the same key.
        let upper = hex.to_ascii_uppercase();
        let err = config(&format!("essc_keys = {{ \"issuer-1\" = \"{upper}\" }}")).unwrap_err();
        assert_eq!(err.first_key(), Some("qr.essc_keys.issuer-1"));
        // A key nobody published is fine.
        let fresh = crate::qr::essc::Issuer::generate("k").public_key_hex();
        assert!(config(&format!("essc_keys = {{ \"issuer-1\" = \"{fresh}\" }}")).is_ok());
    }

    #[test]
    fn the_opt_in_works_only_in_demo_builds() {
        let hex = KNOWN_TEST_KEYS[1].public_hex;
        let c = config(&format!(
            "allow_test_keys = true\nessc_keys = {{ \"gmssl-test\" = \"{hex}\" }}"
        ));
        if cfg!(feature = "demo") {
            let c = c.unwrap();
            assert!(c.qr.allow_test_keys);
            // The flag survives the round trip tests use to edit configs.
            assert!(Config::parse(&c.to_toml()).is_ok());
        } else {
            let err = c.unwrap_err();
            assert_eq!(err.first_key(), Some("qr.allow_test_keys"));
        }
        // Not set, it is not rendered either: an effective config shows no such line.
        let plain = config("").unwrap();
        assert!(!plain.to_toml().contains("allow_test_keys"));
    }
}

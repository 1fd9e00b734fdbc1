//! Target `config`: configuration text through `Config::parse` (TOML, typed fields with
//! line-located errors, then validation). `fixtures/config/` seeds it.
//!
//! Invariants beyond "no panic": parsing is deterministic; a refused file has at least one
//! error and every line an error names exists; an accepted file renders (`to_toml`, what
//! `medsettle config check --print` shows) to text that parses and validates to the same
//! configuration, and comparing it with itself asks for no restart.

use medsettle::config::Config;

/// Runs the target on one input.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = Config::parse(text);
    assert_eq!(first, Config::parse(text), "parsing is not deterministic");
    match first {
        Ok(config) => {
            let rendered = config.to_toml();
            match Config::parse(&rendered) {
                Ok(again) => assert_eq!(again, config, "to_toml does not round-trip"),
                Err(e) => panic!("the rendered config is refused: {e:?}\n{rendered}"),
            }
            assert!(config.restart_required(&config).is_empty());
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "refused without a reason");
            let lines = text.lines().count().max(1);
            for e in &errors.0 {
                if let Some(line) = e.line {
                    assert!(
                        (1..=lines + 1).contains(&line),
                        "line {line} of {lines}: {e}"
                    );
                }
                assert!(!e.message.is_empty());
            }
        }
    }
}

//! Semantic checks on a parsed [`Config`]: values serde accepts but the daemon cannot run
//! with. Each finding is (dotted key, message); `locate` puts it on its line.

use super::{Config, SecretRef};

pub(crate) mod test_keys;

pub(crate) fn validate(c: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut bad = |key: &str, msg: String| out.push((key.to_owned(), msg));

    let t = &c.terminal;
    if !is_code(&t.id, 30) {
        bad(
            "terminal.id",
            "must be 1-30 ASCII letters, digits, '-' or '_'".into(),
        );
    }
    if t.device_no.chars().count() > 100 {
        bad(
            "terminal.device_no",
            "must be at most 100 characters".into(),
        );
    }
    if !is_code(&t.fixmedins_code, 30) {
        bad(
            "terminal.fixmedins_code",
            "must be 1-30 ASCII letters or digits (usually 12, e.g. H11010500001)".into(),
        );
    }
    let name_len = t.fixmedins_name.chars().count();
    if name_len == 0 || name_len > 200 {
        bad("terminal.fixmedins_name", "must be 1-200 characters".into());
    }
    if t.region.len() != 6 || !t.region.bytes().all(|b| b.is_ascii_digit()) {
        bad(
            "terminal.region",
            format!(
                "must be a 6-digit region code (e.g. 110105), got {:?}",
                t.region
            ),
        );
    }

    if c.store.alarm_size_mib == 0 {
        bad("store.alarm_size_mib", "must be at least 1".into());
    }
    if let Err(e) = t.msgid_layout() {
        bad(e.key, e.message);
    }

    if c.store.path.as_os_str().is_empty() || c.store.path.file_name().is_none() {
        bad("store.path", "must name a database file".into());
    }
    if !(1..=600_000).contains(&c.store.busy_timeout_ms) {
        bad(
            "store.busy_timeout_ms",
            "must be between 1 and 600000".into(),
        );
    }

    match u32::from_str_radix(&c.api.unix_socket_mode, 8) {
        Ok(m) if m <= 0o777 && m & 0o002 == 0 && m & 0o600 == 0o600 => {}
        Ok(_) => bad(
            "api.unix_socket_mode",
            "must let the owner read and write and must not be world-writable (e.g. \"0660\")"
                .into(),
        ),
        Err(_) => bad(
            "api.unix_socket_mode",
            format!(
                "must be octal like \"0660\", got {:?}",
                c.api.unix_socket_mode
            ),
        ),
    }
    if let SecretRef::Credential(name) = &c.api.token {
        if name.is_empty() || name.contains('/') {
            bad(
                "api.token",
                "credential name must be non-empty and contain no '/'".into(),
            );
        }
    }
    if !(4..=65_536).contains(&c.api.max_connections) {
        bad(
            "api.max_connections",
            format!("must be between 4 and 65536, not {}", c.api.max_connections),
        );
    }
    if c.api.unix_socket.is_some() && c.api.unix_reserved_connections > c.api.max_connections / 2 {
        bad(
            "api.unix_reserved_connections",
            format!(
                "must be at most half of api.max_connections ({}), not {}",
                c.api.max_connections / 2,
                c.api.unix_reserved_connections
            ),
        );
    }
    if !(100..=600_000).contains(&c.api.header_read_timeout_ms) {
        bad(
            "api.header_read_timeout_ms",
            "must be between 100 and 600000".into(),
        );
    }
    if !(100..=3_600_000).contains(&c.api.idle_timeout_ms) {
        bad(
            "api.idle_timeout_ms",
            "must be between 100 and 3600000".into(),
        );
    }
    if !(1024..=16 * 1024 * 1024).contains(&c.api.max_body_bytes) {
        bad(
            "api.max_body_bytes",
            "must be between 1024 and 16777216".into(),
        );
    }
    if !(1..=8_760).contains(&c.api.idempotency_ttl_hours) {
        bad(
            "api.idempotency_ttl_hours",
            "must be between 1 and 8760".into(),
        );
    }
    if !(100..=600_000).contains(&c.api.request_timeout_ms) {
        bad(
            "api.request_timeout_ms",
            "must be between 100 and 600000".into(),
        );
    }
    if c.daemon.shutdown_grace_ms > 300_000 {
        bad(
            "daemon.shutdown_grace_ms",
            "must be at most 300000 (5 minutes)".into(),
        );
    }
    let r = &c.readers;
    if !(100..=600_000).contains(&r.wait_ms) {
        bad("readers.wait_ms", "must be between 100 and 600000".into());
    } else if r.wait_ms + 1_000 > c.api.request_timeout_ms {
        bad(
            "readers.wait_ms",
            format!(
                "must be at least one second below api.request_timeout_ms ({}), or card reads time out before the card is waited for",
                c.api.request_timeout_ms
            ),
        );
    }
    if r.slots.iter().any(|s| s.pattern.trim().is_empty()) {
        bad(
            "readers.slots",
            "every rule needs a non-empty pattern".into(),
        );
    }
    if r.reader.as_deref().is_some_and(|n| n.trim().is_empty()) {
        bad(
            "readers.reader",
            "must be a reader name; leave it out for any reader".into(),
        );
    }
    if r.backend == super::ReaderBackend::Virtual && r.virtual_profile.is_none() {
        bad(
            "readers.virtual_profile",
            "is required with backend = \"virtual\" (a card profile JSON file)".into(),
        );
    }
    let versions = &c.card.spec_versions;
    if versions.is_empty() {
        bad(
            "card.spec_versions",
            "must list at least one version, e.g. \"3.00\"".into(),
        );
    }
    if let Some(v) = versions.iter().find(|v| !is_spec_version(v)) {
        bad(
            "card.spec_versions",
            format!("`{v}` is not a version like \"2.00\" or \"3.00\""),
        );
    }
    for (kid, hex) in &c.qr.essc_keys {
        if let Err(e) = crate::qr::essc::KeyRing::from_hex([(kid.as_str(), hex.as_str())]) {
            bad(&format!("qr.essc_keys.{kid}"), e.to_string());
        }
    }
    for (key, message) in test_keys::problems(&c.qr) {
        bad(&key, message);
    }
    if !(0..=600).contains(&c.qr.essc_skew_secs) {
        bad(
            "qr.essc_skew_secs",
            "must be between 0 and 600 seconds".into(),
        );
    }
    if c.qr.debounce_ms > 60_000 {
        bad("qr.debounce_ms", "must be at most 60000".into());
    }
    if let Err(e) = c.qr.live_camera() {
        bad("qr.camera_device", e);
    }
    if let Some(path) = &c.qr.camera_device
        && !path.is_absolute()
    {
        bad(
            "qr.camera_device",
            format!(
                "{path:?} must be an absolute device path, best /dev/v4l/by-id/usb-…-video-index0"
            ),
        );
    }
    if let Some(u) = &c.upstream {
        for (key, message) in u.problems() {
            bad(&key, message);
        }
    }
    for origin in &c.api.cors_origins {
        let ok = origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https")
                && !rest.is_empty()
                && !rest.contains('/')
                && !rest.contains('*')
        });
        if !ok {
            bad(
                "api.cors_origins",
                format!(
                    "{origin:?} must be an origin like \"http://localhost:8080\" (scheme, host, optional port; no path, no wildcard)"
                ),
            );
        }
    }
    for (key, message) in c.settle.problems() {
        bad(&key, message);
    }
    for (key, message) in c.trace.problems() {
        bad(&format!("trace.{key}"), message);
    }
    if let Some(f) = &c.fleet {
        for (key, message) in f.problems() {
            bad(&key, message);
        }
    }
    if let Err(e) = check_log_filter(&c.log.level) {
        bad("log.level", e);
    }
    if c.log.repeat_burst > 0 && !(1..=86_400).contains(&c.log.repeat_window_s) {
        bad(
            "log.repeat_window_s",
            "must be between 1 and 86400 seconds".to_owned(),
        );
    }
    out
}

/// A log filter is a comma-separated list of `LEVEL` or `target=LEVEL`. A bare word that is
/// not a level is refused: tracing would read it as a target name and silently log nothing
/// for it, which is never what an operator who wrote `level = "verbose"` meant.
fn check_log_filter(filter: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    for directive in filter.split(',').map(str::trim) {
        let level = match directive.rsplit_once('=') {
            Some((target, level)) if !target.is_empty() => level,
            _ => directive,
        };
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "`{directive}` is not a level; use one of {} or `target=level`",
                LEVELS.join(", ")
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(drop)
        .map_err(|e| format!("is not a valid log filter: {e}"))
}

fn is_spec_version(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 4 && b[0].is_ascii_digit() && b[1] == b'.' && b[2..].iter().all(u8::is_ascii_digit)
}

fn is_code(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod credential_names;

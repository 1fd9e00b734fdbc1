//! SIGHUP: apply what can change safely while running, and say what needs a restart.
//!
//! Reloadable now: the API token (rotated without dropping connections), the metrics token and
//! the log filter.
//! Everything else is compared with the running config and listed in a warning; the running
//! values stay in force. Never touches the database or the listeners.
//!
//! Token rotation works by reload only when the token comes from a file the service reads
//! (`token = { file = "…" }`): a systemd credential (`{ credential = "api-token" }`, the
//! packaged unit's `LoadCredential=`) is a copy systemd makes when the service starts, and it
//! does not change while the service runs, whatever happens to `/etc/medsettle/api-token`.
//! So a reload says plainly whether the token changed, and when it did not, what to do.

use crate::api::AppState;
use crate::config::{Config, Secret, SecretRef};
use crate::secret::SinceLastLoad;

use super::Environment;

pub(super) fn apply(running: &mut Config, new: Config, state: &AppState, env: &Environment) {
    let restart = running.restart_required(&new);

    // The token is re-read even when its reference is unchanged: rewriting the file is the
    // usual way to rotate it.
    let token_unchanged = match Secret::load(&new.api.token, env.credentials_dir.as_deref()) {
        Ok(token) => {
            let moved = new.api.token != running.api.token;
            let since = token.since_last_load();
            state.replace_token(token);
            running.api.token = new.api.token.clone();
            if moved || since != SinceLastLoad::Same {
                tracing::info!(source = %new.api.token, "reload: API token changed (the new one is in force)");
                false
            } else {
                warn_unchanged(&new.api.token);
                true
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "reload: the API token was NOT changed (keeping the old one)");
            true
        }
    };
    match metrics_token(&new, env) {
        Ok(token) => {
            state.replace_metrics_token(token);
            running.api.metrics_token = new.api.metrics_token.clone();
        }
        Err(e) => tracing::error!(error = %e, "reload: keeping the old metrics token"),
    }
    if new.log.level != running.log.level {
        match env.log.as_ref().map(|h| h.set_level(&new.log.level)) {
            Some(Err(e)) => tracing::error!(error = %e, "reload: keeping the old log filter"),
            _ => running.log.level = new.log.level.clone(),
        }
    }
    if new.daemon != running.daemon {
        running.daemon = new.daemon.clone();
    }
    let token_note = if token_unchanged {
        " (API token unchanged)"
    } else {
        ""
    };
    if restart.is_empty() {
        tracing::info!("configuration reloaded{token_note}");
    } else {
        tracing::warn!(keys = ?restart, "configuration reloaded{token_note}; these changes need a restart to take effect");
    }
}

/// The reloaded token is the one already in force: say so, and how to rotate it.
fn warn_unchanged(source: &SecretRef) {
    match source {
        SecretRef::Credential(name) => tracing::warn!(
            "reload: the API token was NOT changed: systemd credential `{name}` is a copy systemd \
             made when the service started, and a reload cannot change it. To rotate the token, \
             write the new one to the file the unit's LoadCredential={name}:… names \
             (/etc/medsettle/api-token for the packaged unit) and run `systemctl restart \
             medsettle`; or set api.token = {{ file = \"…\" }} to a file the service user can \
             read, and a reload will pick it up"
        ),
        SecretRef::File(path) => tracing::warn!(
            "reload: the API token was NOT changed: {} holds the same token as before. To rotate \
             it, write the new token to that file, then reload",
            path.display()
        ),
    }
}

/// The read-only metrics token `api.metrics_token` names, if any (read at start and on SIGHUP).
pub(super) fn metrics_token(
    config: &Config,
    env: &Environment,
) -> Result<Option<Secret>, super::DaemonError> {
    let Some(r) = &config.api.metrics_token else {
        return Ok(None);
    };
    Secret::load(r, env.credentials_dir.as_deref())
        .map(Some)
        .map_err(|source| super::DaemonError::Secret {
            key: "api.metrics_token",
            source,
        })
}

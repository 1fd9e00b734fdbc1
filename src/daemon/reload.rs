//! SIGHUP: apply what can change safely while running, and say what needs a restart.
//!
//! Reloadable now: the API token (rotated without dropping connections), the metrics token and
//! the log filter.
//! Everything else is compared with the running config and listed in a warning; the running
//! values stay in force. Never touches the database or the listeners.

use crate::api::AppState;
use crate::config::{Config, Secret};

use super::Environment;

pub(super) fn apply(running: &mut Config, new: Config, state: &AppState, env: &Environment) {
    let restart = running.restart_required(&new);

    // The token is re-read even when its reference is unchanged: rewriting the file is the
    // usual way to rotate it.
    match Secret::load(&new.api.token, env.credentials_dir.as_deref()) {
        Ok(token) => {
            state.replace_token(token);
            running.api.token = new.api.token.clone();
        }
        Err(e) => tracing::error!(error = %e, "reload: keeping the old API token"),
    }
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
    if restart.is_empty() {
        tracing::info!("configuration reloaded");
    } else {
        tracing::warn!(keys = ?restart, "configuration reloaded; these changes need a restart to take effect");
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

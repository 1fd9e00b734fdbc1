//! The card service as `[readers]`, `[card]` and `[terminal]` describe it: the config converts
//! into the card subsystem's own values here (the card module never reads the config). Loads
//! the blacklist file; opens no device.

use std::sync::Arc;
use std::time::Duration;

use super::Config;
use crate::card::CardReaders;
use crate::card::TerminalIds;
use crate::card::service::{CardDefaults, CardService};
use crate::credential::{self, Blacklist, Policy};
use crate::events::EventBus;

impl CardService {
    /// The service `[readers]`, `[card]` and `[terminal]` describe, over `readers`. Fails only
    /// when the blacklist file cannot be loaded.
    pub fn from_config(
        config: &Config,
        readers: Arc<dyn CardReaders>,
        bus: EventBus,
    ) -> Result<CardService, credential::BlacklistError> {
        let blacklist = match &config.card.blacklist {
            Some(path) => Blacklist::load(path)?,
            None => Blacklist::default(),
        };
        if !blacklist.is_empty() {
            tracing::info!(entries = blacklist.len(), "card blacklist loaded");
        }
        Ok(CardService::new(
            readers,
            bus,
            CardDefaults {
                policy: config.readers.policy,
                reader: config.readers.reader.clone(),
                wait: Duration::from_millis(config.readers.wait_ms),
            },
            Policy {
                spec_versions: config.card.spec_versions.clone(),
            },
            blacklist,
            TerminalIds {
                terminal_no: config.terminal.id.clone(),
                device_no: config.terminal.device_no.clone(),
            },
        ))
    }
}

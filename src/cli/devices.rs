//! Builds the reader stack `[readers]` asks for: the link between the core, which knows only
//! the `CardReaders` trait, and the driver crates.

use std::sync::Arc;

use anyhow::Context as _;
use medsettle::card::CardReaders;
use medsettle::config::{Config, ReaderBackend};
use medsettle_vcard::{InProcessReader, Profile, VirtualCard};

/// The reader stack for `config`, or `None` when the terminal has no card readers.
pub(super) fn readers(config: &Config) -> anyhow::Result<Option<Arc<dyn CardReaders>>> {
    match config.readers.backend {
        ReaderBackend::None => Ok(None),
        ReaderBackend::Virtual => {
            let path = config
                .readers
                .virtual_profile
                .as_deref()
                .context("`readers.virtual_profile` is required with backend = \"virtual\"")?;
            let profile = Profile::load(path).with_context(|| {
                format!("`readers.virtual_profile`: cannot load {}", path.display())
            })?;
            let kind = if profile.interface == "contactless" {
                medsettle::card::SlotKind::Contactless
            } else {
                medsettle::card::SlotKind::Contact
            };
            let card = VirtualCard::from_profile(profile)
                .with_context(|| format!("`readers.virtual_profile`: {}", path.display()))?;
            let reader = InProcessReader::new(kind);
            reader.insert(card);
            Ok(Some(Arc::new(reader)))
        }
        ReaderBackend::Pcsc => {
            let rules = config
                .readers
                .slots
                .iter()
                .map(|r| medsettle_pcsc::SlotRule {
                    pattern: r.pattern.clone(),
                    kind: r.kind,
                })
                .collect();
            let driver = medsettle_pcsc::ReaderConfig {
                slot_rules: rules,
                ..Default::default()
            };
            Ok(Some(Arc::new(medsettle_pcsc::PcscReaders::spawn(driver))))
        }
    }
}

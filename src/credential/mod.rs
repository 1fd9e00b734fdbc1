//! Credential validation (stub; filled by the card issue).

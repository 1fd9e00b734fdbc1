//! What every error a person sees has in common: a stable code and a message in Chinese and
//! English.
//!
//! Boundary error enums (card, credential, store, upstream, API) implement [`UserFacing`] so the
//! API, the CLI and the status page render them the same way. Codes are dotted, lowercase and
//! stable (`card.expired`); they are part of the API contract and never reused for another
//! meaning. Messages must never contain personal data in clear (ID numbers, names).

/// An error a cashier, a kiosk user or an operator may see.
pub trait UserFacing {
    /// Stable machine-readable code, e.g. `card.expired`.
    fn code(&self) -> &'static str;
    /// Message in simplified Chinese, for the cashier or the patient.
    fn message_zh(&self) -> String;
    /// The same message in English, for IT staff and logs.
    fn message_en(&self) -> String;
}

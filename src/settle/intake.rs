//! What the cashier sends to make and confirm a sale ([`NewSale`], [`NewItem`],
//! [`Confirmation`]) and the checks that turn the lines into priced items. Pure: no store, no
//! platform; a refusal here creates nothing.

use super::error::SaleError;
use super::options::SaleMode;
use super::sale::Item;
use crate::card::Pin;
use crate::upstream::{Fen, Price, Qty};

/// A new sale as the cashier describes it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSale {
    /// From `POST /v1/card/read` or `POST /v1/qr/scan`.
    pub credential_id: String,
    pub items: Vec<NewItem>,
    /// Default per credential (`[settle] card_mode`, `qr_mode`).
    #[serde(default)]
    pub mode: Option<SaleMode>,
    /// The personal account may pay. Default true.
    #[serde(default)]
    pub use_account: Option<bool>,
    /// Who dispensed and prescribed, for the trace reports of lines with codes (default
    /// `[trace]`).
    #[serde(default)]
    pub dispensing: Option<super::dispensing::Dispensing>,
}

/// One line as the cashier sends it (quantities and prices as decimal text).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    pub code: String,
    #[serde(default)]
    pub local_code: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub name: String,
    pub cnt: Qty,
    pub pric: Price,
    /// The boxes' traceability codes (药品追溯码) and batch data, for lines that have them.
    #[serde(default)]
    pub trace: Option<super::trace::NewLineTrace>,
}

/// An optional text field sent as `null` is the same as one left out.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(<Option<String> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

/// What `confirm` carries.
#[derive(Default)]
pub struct Confirmation {
    /// The card PIN (card and e-SSC sales, unless the platform is `MOCK`).
    pub pin: Option<Pin>,
    /// For a sale stored offline: what the patient paid now. Default the full amount.
    pub collected: Option<Fen>,
}

/// The priced items of a sale and its positive total, or why not.
pub(super) fn items_of(lines: Vec<NewItem>) -> Result<(Vec<Item>, Fen), SaleError> {
    if lines.is_empty() {
        return Err(SaleError::BadRequest(
            "a sale needs at least one item".into(),
        ));
    }
    if lines.len() > 200 {
        return Err(SaleError::BadRequest("at most 200 items per sale".into()));
    }
    let mut items = Vec::with_capacity(lines.len());
    for (i, it) in lines.into_iter().enumerate() {
        if it.code.trim().is_empty() || it.code.len() > 50 {
            return Err(SaleError::BadRequest(format!(
                "item {i}: code must be 1-50 characters"
            )));
        }
        if it.cnt.0 <= 0 {
            return Err(SaleError::BadRequest(format!(
                "item {i}: cnt must be positive"
            )));
        }
        let amount = crate::upstream::quantity::line_amount(it.cnt, it.pric)
            .ok_or_else(|| SaleError::BadRequest(format!("item {i}: amount overflows")))?;
        let trace = it.trace.map(|t| super::trace::line(i, t)).transpose()?;
        items.push(Item {
            local_code: it.local_code.unwrap_or_else(|| it.code.clone()),
            code: it.code,
            name: it.name,
            cnt: it.cnt,
            pric: it.pric,
            amount,
            visit: None,
            trace,
        });
    }
    super::trace::check_sale(&items)?;
    let amount = Fen::checked_sum(items.iter().map(|i| i.amount))
        .filter(|a| a.0 > 0)
        .ok_or_else(|| SaleError::BadRequest("the sale amount must be positive".into()))?;
    Ok((items, amount))
}

//! The offline limits a stored sale is checked against, and which of them a sale would pass.
//! Plain values: the check itself is SQL in `sales.rs`, run in the storing transaction; this
//! file must not grow logic (the error type and the sales SQL both name these).

/// Offline limits, checked atomically when a sale is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineLimits {
    pub per_sale_fen: i64,
    pub total_fen: i64,
    pub count: u32,
}

/// Which offline limit a sale would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    PerSale,
    Total,
    Count,
}

//! Sales in doubt, for people: how a refused 2601 is read (the platform's message patterns, kept
//! here and nowhere else), and the `sale.in_doubt` alarm on the status board — raised while a
//! sale is `held` (the platform refused its 2601: only an operator can end it) or has been in
//! doubt (`settling`, `unknown`, `reversing`, `cancelling`) longer than
//! `[settle] in_doubt_alarm_minutes`; cleared when none is left.
//!
//! It reads the sale book and writes nothing but the alarm.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::book::SaleBook;
use super::sale::Sale;
use super::state::SaleState;
use crate::status::StatusBoard;

/// The alarm naming the sales in doubt.
pub const ALARM: &str = "sale.in_doubt";

/// How often the alarm is re-evaluated when nothing else asks.
const CHECK_EVERY: Duration = Duration::from_secs(30);

/// How the platform refused a 2601.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The platform knows no request with that msgid (原交易不存在): it may never have arrived,
    /// or the platform does not reverse this transaction.
    NotFound,
    /// The original was already reversed (已冲正).
    AlreadyReversed,
    /// Any other refusal.
    Other,
}

/// Message fragments, compared after removing whitespace and folding ASCII case. Provinces word
/// these differently; a message matching none is [`Refusal::Other`], which is handled the same
/// way (held for an operator), so a missing pattern costs a less precise label, never money.
const ALREADY_REVERSED: &[&str] = &[
    "已冲正",
    "已经冲正",
    "已被冲正",
    "重复冲正",
    "冲正过",
    "alreadyreversed",
];
const NOT_FOUND: &[&str] = &[
    "原交易不存在",
    "原交易记录不存在",
    "原交易信息不存在",
    "原交易未找到",
    "未找到原交易",
    "找不到原交易",
    "查无原交易",
    "无原交易",
    "原报文不存在",
    "原msgid不存在",
    "originalnotfound",
    "notfound",
];

impl Refusal {
    /// Reads the platform's `err_msg` of a refused 2601.
    pub fn of(err_msg: &str) -> Refusal {
        let text: String = err_msg
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        if ALREADY_REVERSED.iter().any(|p| text.contains(p)) {
            Refusal::AlreadyReversed
        } else if NOT_FOUND.iter().any(|p| text.contains(p)) {
            Refusal::NotFound
        } else {
            Refusal::Other
        }
    }

    /// The refusal named by [`Refusal::as_str`] (`other` for any other name).
    pub fn of_name(name: &str) -> Refusal {
        match name {
            "not_found" => Refusal::NotFound,
            "already_reversed" => Refusal::AlreadyReversed,
            _ => Refusal::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotFound => "not_found",
            Refusal::AlreadyReversed => "already_reversed",
            Refusal::Other => "other",
        }
    }
}

/// The `sale.in_doubt` alarm.
pub(super) struct Doubts {
    book: Arc<SaleBook>,
    status: Option<Arc<StatusBoard>>,
    alarm_after_ms: i64,
}

impl Doubts {
    pub(super) fn new(
        book: Arc<SaleBook>,
        status: Option<Arc<StatusBoard>>,
        alarm_after_minutes: u32,
    ) -> Doubts {
        Doubts {
            book,
            status,
            alarm_after_ms: i64::from(alarm_after_minutes) * 60_000,
        }
    }

    /// The sales the alarm names now: every `held` one, and those in doubt for longer than the
    /// configured time (since their request was recorded), oldest first.
    pub(super) async fn overdue(&self) -> Result<Vec<Sale>, super::SaleError> {
        let states: Vec<&str> = SaleState::IN_DOUBT
            .iter()
            .chain(&[
                SaleState::Registering,
                SaleState::Undoing,
                SaleState::Closing,
            ])
            .map(|s| s.as_str())
            .collect();
        let rows = self
            .book
            .store()
            .sales_in(&states, false, None, 10_000)
            .await?;
        let now_ms = self.book.now().timestamp_millis();
        let mut out = Vec::new();
        for row in rows {
            let Ok(sale) = serde_json::from_str::<Sale>(&row.doc) else {
                continue;
            };
            let since = if sale.state.visit_pending() {
                row.created_at_ms.max(
                    sale.visit
                        .as_ref()
                        .and_then(|v| v.step.as_ref())
                        .map_or(0, |s| s.at_ms),
                )
            } else {
                sale.attempt.as_ref().map_or(row.updated_at_ms, |a| a.at_ms)
            };
            // An undo the platform refused names the visit at once, like a held sale.
            let refused = sale.visit.as_ref().is_some_and(|v| v.undo_refusals > 0);
            if sale.state == SaleState::Held || refused || now_ms - since >= self.alarm_after_ms {
                out.push(sale);
            }
        }
        Ok(out)
    }

    /// Raises or clears the alarm from the sale book.
    pub(super) async fn show(&self) {
        let Some(status) = &self.status else { return };
        let sales = match self.overdue().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "could not check the sales in doubt");
                return;
            }
        };
        if sales.is_empty() {
            status.clear(ALARM);
            return;
        }
        let held = sales.iter().filter(|s| s.state == SaleState::Held).count();
        let names: Vec<&str> = sales.iter().map(|s| s.id.as_str()).collect();
        let list = names.join(", ");
        let minutes = self.alarm_after_ms / 60_000;
        status.raise(
            ALARM,
            format!(
                "有 {} 笔交易结果未知（其中 {held} 笔医保平台拒绝冲正），需运维人员核实后处理：{list}（medsettle queue show / queue resolve）。",
                sales.len()
            ),
            format!(
                "{} sale(s) in doubt for over {minutes} min or held after the platform refused the 2601 ({held} held); an operator must check and resolve them: {list} (medsettle queue show / queue resolve).",
                sales.len()
            ),
            serde_json::json!({
                "sales": sales.iter().map(|s| serde_json::json!({
                    "id": s.id,
                    "state": s.state,
                    "msgid": s.attempt.as_ref().map(|a| &a.msgid),
                    "infno": s.attempt.as_ref().map(|a| &a.infno),
                    "evidence": s.evidence.last().map(super::sale::Evidence::summary),
                })).collect::<Vec<_>>(),
            }),
        );
    }

    /// Re-evaluates the alarm every little while until `stop`.
    pub(super) async fn run(&self, stop: CancellationToken) {
        loop {
            self.show().await;
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(CHECK_EVERY) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_read_from_the_message_tolerantly() {
        for (msg, want) in [
            ("原交易不存在", Refusal::NotFound),
            ("冲正失败：原交易不存在！", Refusal::NotFound),
            ("未找到原交易记录 [omsgid=H1101…]", Refusal::NotFound),
            ("原 交易 记录不存在", Refusal::NotFound),
            ("Original NOT FOUND", Refusal::NotFound),
            ("该交易已冲正，不能重复冲正", Refusal::AlreadyReversed),
            ("原交易已被冲正", Refusal::AlreadyReversed),
            ("already reversed", Refusal::AlreadyReversed),
            ("系统繁忙", Refusal::Other),
            ("", Refusal::Other),
        ] {
            assert_eq!(Refusal::of(msg), want, "{msg}");
        }
        assert_eq!(Refusal::NotFound.as_str(), "not_found");
        assert_eq!(Refusal::AlreadyReversed.as_str(), "already_reversed");
        assert_eq!(Refusal::Other.as_str(), "other");
    }
}

//! Fault injection: rules that make the sandbox slow, silent or wrong on purpose, so a client's
//! unknown-outcome handling (timeouts, dropped connections, 5xx, garbage, business errors) can
//! be tested. [`FaultSet`] picks the fault for one request; the HTTP layer carries it out.
//! Selection is deterministic for a given `seed`.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer normally after `ms` milliseconds; the effect happens before the delay.
    Latency { ms: u64 },
    /// Close the connection without any response byte; no effect.
    DropBeforeCommit,
    /// Apply the effect (and remember the answer), then close without any response byte.
    DropAfterCommit,
    /// Answer this HTTP status with a non-JSON body, with or without the effect.
    HttpStatus { status: u16, commit: bool },
    /// HTTP 200 with a truncated body, with or without the effect.
    MalformedJson { commit: bool },
    /// `infcode -1` with this `err_msg`; no effect.
    BusinessError { message: String },
    /// Apply the effect when `commit`, then hold the answer until an operator of the sandbox
    /// releases it (`POST /admin/release`) or the client gives up and closes the connection.
    Hold { commit: bool },
    /// A 2102/2207 is settled, booked and answered for `medfee_sumamt + delta_fen` (a platform
    /// that settled another amount); other transactions answer normally.
    SettleOtherAmount { delta_fen: i64 },
}

impl Fault {
    /// Whether the request's effect is applied before the fault is carried out.
    pub fn commits(&self) -> bool {
        match self {
            Fault::Latency { .. } | Fault::DropAfterCommit => true,
            Fault::HttpStatus { commit, .. }
            | Fault::MalformedJson { commit }
            | Fault::Hold { commit } => *commit,
            Fault::SettleOtherAmount { .. } => true,
            Fault::DropBeforeCommit | Fault::BusinessError { .. } => false,
        }
    }
}

/// When a fault applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Transaction code (`2102`, `ec.query` for the e-voucher endpoint) or `*`.
    pub infno: String,
    pub fault: Fault,
    /// How many matching requests it hits; `None` = every one.
    #[serde(default)]
    pub times: Option<u32>,
    /// Chance per matching request in per-mille; `None` = always.
    #[serde(default)]
    pub probability_permille: Option<u16>,
    /// Seed of the rule's random draws.
    #[serde(default)]
    pub seed: u64,
}

impl FaultRule {
    /// A rule hitting every `infno` request with `fault`.
    pub fn always(infno: &str, fault: Fault) -> Self {
        FaultRule {
            infno: infno.to_owned(),
            fault,
            times: None,
            probability_permille: None,
            seed: 0,
        }
    }

    /// A rule hitting the next `times` `infno` requests.
    pub fn times(infno: &str, fault: Fault, times: u32) -> Self {
        FaultRule {
            times: Some(times),
            ..FaultRule::always(infno, fault)
        }
    }
}

/// The answers [`Fault::Hold`] is holding, and the gate that releases them.
#[derive(Debug, Default)]
pub struct Holds {
    held: AtomicUsize,
    gate: Notify,
}

impl Holds {
    /// Waits until [`Holds::release`]. Counted in [`Holds::held`] from the moment the waiter
    /// is registered (so a caller that sees the count can release it) until it returns or is
    /// dropped (the client closed the connection).
    pub async fn wait(&self) {
        struct Counted<'a>(&'a AtomicUsize);
        impl Drop for Counted<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let released = self.gate.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        self.held.fetch_add(1, Ordering::SeqCst);
        let _counted = Counted(&self.held);
        released.await;
    }

    /// How many answers are held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Lets every held answer go; returns how many were held.
    pub fn release(&self) -> usize {
        let n = self.held();
        self.gate.notify_waiters();
        n
    }
}

/// The active rules, in order.
#[derive(Debug, Default)]
pub struct FaultSet {
    rules: Vec<(FaultRule, StdRng)>,
}

impl FaultSet {
    pub fn add(&mut self, rule: FaultRule) {
        let rng = StdRng::seed_from_u64(rule.seed);
        self.rules.push((rule, rng));
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.iter().map(|(r, _)| r.clone()).collect()
    }

    /// The fault for a request of `infno`: the first rule that matches, has uses left and
    /// wins its draw. A use is consumed; a rule with none left is removed.
    pub fn pick(&mut self, infno: &str) -> Option<Fault> {
        let mut hit = None;
        for (i, (rule, rng)) in self.rules.iter_mut().enumerate() {
            if rule.infno != "*" && rule.infno != infno {
                continue;
            }
            if let Some(p) = rule.probability_permille
                && rng.random_range(0..1000u16) >= p
            {
                continue;
            }
            hit = Some(i);
            break;
        }
        let i = hit?;
        let fault = self.rules[i].0.fault.clone();
        if let Some(left) = self.rules[i].0.times.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.rules.remove(i);
            }
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form() {
        let rule: FaultRule = serde_json::from_str(
            r#"{"infno":"2102","fault":{"kind":"http_status","status":503,"commit":true},"times":1}"#,
        )
        .unwrap();
        assert_eq!(
            rule.fault,
            Fault::HttpStatus {
                status: 503,
                commit: true
            }
        );
        let f: Fault = serde_json::from_str(r#"{"kind":"latency","ms":200}"#).unwrap();
        assert_eq!(f, Fault::Latency { ms: 200 });
        let f: Fault = serde_json::from_str(r#"{"kind":"hold","commit":true}"#).unwrap();
        assert_eq!(f, Fault::Hold { commit: true });
        assert!(f.commits());
    }

    #[test]
    fn times_and_wildcard() {
        let mut set = FaultSet::default();
        set.add(FaultRule::times("2102", Fault::DropBeforeCommit, 2));
        set.add(FaultRule::always("*", Fault::Latency { ms: 1 }));
        assert_eq!(set.pick("2102"), Some(Fault::DropBeforeCommit));
        assert_eq!(set.pick("2102"), Some(Fault::DropBeforeCommit));
        assert_eq!(set.pick("2102"), Some(Fault::Latency { ms: 1 }));
        assert_eq!(set.pick("1101"), Some(Fault::Latency { ms: 1 }));
        set.clear();
        assert_eq!(set.pick("1101"), None);
    }

    #[tokio::test]
    async fn holds_wait_for_release_and_count_while_waiting() {
        let holds = std::sync::Arc::new(Holds::default());
        assert_eq!(holds.release(), 0);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let waiter = {
            let holds = holds.clone();
            tokio::spawn(async move {
                let wait = holds.wait();
                tokio::pin!(wait);
                // Registered and counted before the first poll returns.
                assert!(futures_poll_once(wait.as_mut()).await.is_none());
                tx.send(()).unwrap();
                wait.await;
            })
        };
        rx.recv().await.unwrap();
        assert_eq!(holds.held(), 1);
        assert_eq!(holds.release(), 1);
        waiter.await.unwrap();
        assert_eq!(holds.held(), 0);
        // A dropped waiter (the client went away) is no longer counted.
        {
            let wait = holds.wait();
            tokio::pin!(wait);
            assert!(futures_poll_once(wait.as_mut()).await.is_none());
            assert_eq!(holds.held(), 1);
        }
        assert_eq!(holds.held(), 0);
    }

    /// Polls `f` once: `Some` when it completed.
    async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
        let mut f = f;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }

    #[test]
    fn probability_is_seeded() {
        let draws = |seed| {
            let mut set = FaultSet::default();
            set.add(FaultRule {
                probability_permille: Some(500),
                seed,
                ..FaultRule::always("*", Fault::DropBeforeCommit)
            });
            (0..200)
                .map(|_| set.pick("x").is_some())
                .collect::<Vec<_>>()
        };
        let a = draws(7);
        assert_eq!(a, draws(7));
        let hits = a.iter().filter(|h| **h).count();
        assert!((50..150).contains(&hits), "{hits}");
    }
}

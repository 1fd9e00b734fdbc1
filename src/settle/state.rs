//! The sale lifecycle as an explicit state machine: which event may move a sale from which
//! state to which. Pure; the engine persists every transition (an append-only history row and
//! the new state, compared-and-set in one transaction) BEFORE the effect it announces.
//!
//! ```text
//! captured ─identify→ identified ─presettle→ presettled ─confirm→ confirmed ─send→ settling
//!    │  └─────────────── store (offline, card) ──────────→ queued ─send→ settling
//! settling ─settled→ settled | ─refused→ rejected | ─lost→ unknown ─reverse→ reversing
//! reversing ─reversed→ reversed ─retry→ settling (new msgid)   (a reversed 2103/2208: → settled)
//! settled ─cancel→ cancelling ─cancelled→ cancelled | ─refused→ settled | ─lost→ unknown
//! queued ─expire→ expired;  rejected|expired ─requeue→ queued;  before settling ─abandon→ abandoned
//! settling ─unsent→ confirmed (online) | ─requeue→ queued (stored);  cancelling ─unsent→ settled
//! reversing ─hold→ held (the platform refused the 2601: an operator decides)
//! settling|unknown|reversing|held|cancelling ─resolve_settled→ settled (operator)
//! settling|unknown|reversing|held ─resolve_unsettled→ reversed;  cancelling|unknown|reversing|held
//!   ─resolve_cancelled→ cancelled (operator, for a cancellation in doubt)
//! settled ─refunded→ cancelled (5203 reports it refunded after a cancellation in doubt)
//! ```
//!
//! An outpatient visit (`SaleKind::Outpatient`, outpatient.md) has its own table,
//! [`VISIT_TRANSITIONS`]: the platform holds a registration and fee lines before any money
//! moves, so abandoning or refunding a visit runs an undo chain (2205, 2202) in the states
//! `undoing` (→ `abandoned`) and `closing` (after the 2208, → `cancelled`):
//!
//! ```text
//! captured ─(identify→ identified)─register→ registering ─registered→ registered (2201+2203A)
//! registered ─upload→ uploaded (2204) ─presettle→ presettled (2206) ─confirm→ confirmed ─send→
//!   settling ─settled→ settled (2207);  uploaded|presettled|confirmed|rejected ─reprice→ registered (2205)
//! settled ─cancel→ cancelling (2208) ─cancelled→ closing ─undone→ cancelled (2205, 2202)
//! registering|registered|uploaded|presettled|confirmed|rejected|reversed ─undo→ undoing ─undone→ abandoned
//! undoing|closing ─resolve_undone→ abandoned|cancelled (operator, an undo the platform refuses)
//! ```
//! The money states (settling … held) and their ways out are the pharmacy's.
//!
//! `unsent` is a money-moving request that provably never reached the platform (no connection,
//! a local failure before sending, a gateway refusal): the sale goes back to where it can be
//! tried again under a NEW msgid, with no 2601.

use serde::{Deserialize, Serialize};

/// Where a sale is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleState {
    /// Created: items, amount and credential recorded.
    Captured,
    /// 1101 answered: the platform's person and insurance are known.
    Identified,
    /// 2101/2206 answered: the split and the patient's share are known.
    Presettled,
    /// The patient consented (card PIN or e-voucher); ready to settle online.
    Confirmed,
    /// Stored offline (card sales only, within the limits); the forwarder settles it.
    Queued,
    /// 2102/2207 recorded (msgid in the audit table) and sent or about to be.
    Settling,
    /// The platform settled it: split recorded.
    Settled,
    /// The platform refused it (business error): an operator or the cashier must act.
    Rejected,
    /// A money-moving request's outcome is unknown: it must be reversed (2601).
    Unknown,
    /// 2601 recorded and sent (retried until the platform answers).
    Reversing,
    /// The settlement was reversed; a retry settles afresh under a new msgid.
    Reversed,
    /// 2103/2208 recorded and sent.
    Cancelling,
    /// The settlement was cancelled.
    Cancelled,
    /// A stored sale passed its maximum age: not sent, flagged for an operator.
    Expired,
    /// Given up before anything was settled.
    Abandoned,
    /// In doubt, and the platform refused the 2601 (original not found, already reversed, …):
    /// no automatic retry; an operator resolves it (`medsettle queue resolve`).
    Held,
    /// A visit's 2201 is recorded and sent; its answer is awaited (or was lost: 5201 finds it).
    Registering,
    /// The platform holds the visit (`mdtrt_id`, 2201 answered) and, once 2203/2203A answered,
    /// its diagnoses; no fee lines.
    Registered,
    /// The visit's fee lines are uploaded (2204 answered).
    Uploaded,
    /// An abandoned visit: the platform's fee lines (2205) and registration (2202) are being
    /// undone; ends `abandoned`.
    Undoing,
    /// A refunded visit (2208 answered): its fee lines and registration are being undone; ends
    /// `cancelled`.
    Closing,
}

/// What a sale is: a pharmacy sale (2101/2102) or an outpatient visit (2201–2208).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleKind {
    #[default]
    Pharmacy,
    Outpatient,
}

impl SaleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SaleKind::Pharmacy => "pharmacy",
            SaleKind::Outpatient => "outpatient",
        }
    }

    /// Its transition table.
    pub fn table(self) -> &'static [(SaleState, SaleEvent, SaleState)] {
        match self {
            SaleKind::Pharmacy => TRANSITIONS,
            SaleKind::Outpatient => VISIT_TRANSITIONS,
        }
    }
}

/// What happened to a sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleEvent {
    Identify,
    Presettle,
    Confirm,
    Store,
    Send,
    Settled,
    Refused,
    Lost,
    Reverse,
    Reversed,
    /// A reversed cancellation: the settlement stands again.
    Restored,
    Retry,
    Cancel,
    Cancelled,
    Expire,
    Requeue,
    Abandon,
    /// The money-moving request never reached the platform: try again with a new msgid.
    Unsent,
    /// The platform refused the 2601: held for an operator.
    Hold,
    /// An operator: the platform holds the settlement (or the cancellation did not happen).
    ResolveSettled,
    /// An operator: the settlement in doubt did not happen.
    ResolveUnsettled,
    /// An operator: the cancellation in doubt happened.
    ResolveCancelled,
    /// 5203 reports the settlement refunded (after a cancellation in doubt): cancelled
    /// without another 2103.
    Refunded,
    /// A visit's 2201 is recorded and about to be sent.
    Register,
    /// 2201 answered (or 5201 found the visit), and 2203/2203A with it.
    Registered,
    /// 2204 answered: the fee lines are on the platform.
    Upload,
    /// 2205 answered: the unsettled fee lines are gone; new ones may be uploaded.
    Reprice,
    /// Abandon a visit the platform holds something of: the undo chain starts.
    Undo,
    /// The undo chain finished: the platform holds nothing of the visit.
    Undone,
    /// An operator: the undo the platform refuses is done (or was done by hand).
    ResolveUndone,
}

/// A transition that the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a sale in state {from} cannot {event:?}")]
pub struct TransitionError {
    pub from: SaleState,
    pub event: SaleEvent,
}

use SaleEvent as E;
use SaleState as S;

/// Every allowed (from, event, to).
pub const TRANSITIONS: &[(SaleState, SaleEvent, SaleState)] = &[
    (S::Captured, E::Identify, S::Identified),
    (S::Captured, E::Refused, S::Rejected),
    (S::Captured, E::Store, S::Queued),
    (S::Identified, E::Presettle, S::Presettled),
    (S::Identified, E::Refused, S::Rejected),
    (S::Identified, E::Store, S::Queued),
    (S::Presettled, E::Confirm, S::Confirmed),
    (S::Presettled, E::Refused, S::Rejected),
    (S::Presettled, E::Store, S::Queued),
    (S::Confirmed, E::Send, S::Settling),
    (S::Confirmed, E::Store, S::Queued),
    (S::Queued, E::Send, S::Settling),
    (S::Queued, E::Refused, S::Rejected),
    (S::Queued, E::Expire, S::Expired),
    (S::Settling, E::Settled, S::Settled),
    (S::Settling, E::Refused, S::Rejected),
    (S::Settling, E::Lost, S::Unknown),
    (S::Unknown, E::Reverse, S::Reversing),
    (S::Reversing, E::Reversed, S::Reversed),
    (S::Reversing, E::Restored, S::Settled),
    (S::Reversed, E::Retry, S::Settling),
    (S::Settled, E::Cancel, S::Cancelling),
    (S::Cancelling, E::Cancelled, S::Cancelled),
    (S::Cancelling, E::Refused, S::Settled),
    (S::Cancelling, E::Lost, S::Unknown),
    (S::Rejected, E::Requeue, S::Queued),
    (S::Expired, E::Requeue, S::Queued),
    (S::Captured, E::Abandon, S::Abandoned),
    (S::Identified, E::Abandon, S::Abandoned),
    (S::Presettled, E::Abandon, S::Abandoned),
    (S::Confirmed, E::Abandon, S::Abandoned),
    (S::Queued, E::Abandon, S::Abandoned),
    (S::Rejected, E::Abandon, S::Abandoned),
    (S::Expired, E::Abandon, S::Abandoned),
    (S::Reversed, E::Abandon, S::Abandoned),
    (S::Settling, E::Unsent, S::Confirmed),
    (S::Settling, E::Requeue, S::Queued),
    (S::Cancelling, E::Unsent, S::Settled),
    (S::Reversing, E::Hold, S::Held),
    (S::Settling, E::ResolveSettled, S::Settled),
    (S::Unknown, E::ResolveSettled, S::Settled),
    (S::Reversing, E::ResolveSettled, S::Settled),
    (S::Held, E::ResolveSettled, S::Settled),
    (S::Cancelling, E::ResolveSettled, S::Settled),
    (S::Settling, E::ResolveUnsettled, S::Reversed),
    (S::Unknown, E::ResolveUnsettled, S::Reversed),
    (S::Reversing, E::ResolveUnsettled, S::Reversed),
    (S::Held, E::ResolveUnsettled, S::Reversed),
    (S::Cancelling, E::ResolveCancelled, S::Cancelled),
    (S::Unknown, E::ResolveCancelled, S::Cancelled),
    (S::Reversing, E::ResolveCancelled, S::Cancelled),
    (S::Held, E::ResolveCancelled, S::Cancelled),
    (S::Settled, E::Refunded, S::Cancelled),
];

/// Every allowed (from, event, to) of an outpatient visit (outpatient.md "Order" and "Undo
/// chain"). Its money states are the pharmacy's; a visit is abandoned outright only while the
/// platform holds nothing of it.
pub const VISIT_TRANSITIONS: &[(SaleState, SaleEvent, SaleState)] = &[
    (S::Captured, E::Identify, S::Identified),
    (S::Captured, E::Refused, S::Rejected),
    (S::Captured, E::Abandon, S::Abandoned),
    (S::Identified, E::Refused, S::Rejected),
    (S::Identified, E::Abandon, S::Abandoned),
    (S::Identified, E::Register, S::Registering),
    // 1101 answered and 2201 recorded in one write (the person needed no choice).
    (S::Captured, E::Register, S::Registering),
    (S::Registering, E::Registered, S::Registered),
    (S::Registering, E::Unsent, S::Identified),
    (S::Registering, E::Refused, S::Rejected),
    (S::Registered, E::Upload, S::Uploaded),
    (S::Uploaded, E::Presettle, S::Presettled),
    (S::Rejected, E::Presettle, S::Presettled),
    (S::Uploaded, E::Reprice, S::Registered),
    (S::Presettled, E::Reprice, S::Registered),
    (S::Confirmed, E::Reprice, S::Registered),
    (S::Rejected, E::Reprice, S::Registered),
    (S::Presettled, E::Confirm, S::Confirmed),
    (S::Confirmed, E::Send, S::Settling),
    (S::Settling, E::Settled, S::Settled),
    (S::Settling, E::Refused, S::Rejected),
    (S::Settling, E::Lost, S::Unknown),
    (S::Settling, E::Unsent, S::Confirmed),
    (S::Unknown, E::Reverse, S::Reversing),
    (S::Reversing, E::Reversed, S::Reversed),
    (S::Reversing, E::Restored, S::Settled),
    (S::Reversing, E::Hold, S::Held),
    (S::Reversed, E::Retry, S::Settling),
    (S::Settled, E::Cancel, S::Cancelling),
    (S::Cancelling, E::Cancelled, S::Closing),
    (S::Cancelling, E::Refused, S::Settled),
    (S::Cancelling, E::Lost, S::Unknown),
    (S::Cancelling, E::Unsent, S::Settled),
    (S::Settled, E::Refunded, S::Closing),
    (S::Closing, E::Undone, S::Cancelled),
    (S::Rejected, E::Abandon, S::Abandoned),
    (S::Registering, E::Undo, S::Undoing),
    (S::Registered, E::Undo, S::Undoing),
    (S::Uploaded, E::Undo, S::Undoing),
    (S::Presettled, E::Undo, S::Undoing),
    (S::Confirmed, E::Undo, S::Undoing),
    (S::Rejected, E::Undo, S::Undoing),
    (S::Reversed, E::Undo, S::Undoing),
    (S::Undoing, E::Undone, S::Abandoned),
    (S::Undoing, E::ResolveUndone, S::Abandoned),
    (S::Closing, E::ResolveUndone, S::Cancelled),
    (S::Settling, E::ResolveSettled, S::Settled),
    (S::Unknown, E::ResolveSettled, S::Settled),
    (S::Reversing, E::ResolveSettled, S::Settled),
    (S::Held, E::ResolveSettled, S::Settled),
    (S::Cancelling, E::ResolveSettled, S::Settled),
    (S::Settling, E::ResolveUnsettled, S::Reversed),
    (S::Unknown, E::ResolveUnsettled, S::Reversed),
    (S::Reversing, E::ResolveUnsettled, S::Reversed),
    (S::Held, E::ResolveUnsettled, S::Reversed),
    (S::Cancelling, E::ResolveCancelled, S::Closing),
    (S::Unknown, E::ResolveCancelled, S::Closing),
    (S::Reversing, E::ResolveCancelled, S::Closing),
    (S::Held, E::ResolveCancelled, S::Closing),
];

impl SaleState {
    pub const ALL: [SaleState; 21] = [
        S::Captured,
        S::Identified,
        S::Presettled,
        S::Confirmed,
        S::Queued,
        S::Settling,
        S::Settled,
        S::Rejected,
        S::Unknown,
        S::Reversing,
        S::Reversed,
        S::Cancelling,
        S::Cancelled,
        S::Expired,
        S::Abandoned,
        S::Held,
        S::Registering,
        S::Registered,
        S::Uploaded,
        S::Undoing,
        S::Closing,
    ];

    /// The state of a pharmacy sale after `event`, or why not.
    pub fn next(self, event: SaleEvent) -> Result<SaleState, TransitionError> {
        self.next_for(SaleKind::Pharmacy, event)
    }

    /// The state after `event` in `kind`'s table, or why not.
    pub fn next_for(self, kind: SaleKind, event: SaleEvent) -> Result<SaleState, TransitionError> {
        kind.table()
            .iter()
            .find(|(from, e, _)| *from == self && *e == event)
            .map(|(_, _, to)| *to)
            .ok_or(TransitionError { from: self, event })
    }

    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            S::Captured => "captured",
            S::Identified => "identified",
            S::Presettled => "presettled",
            S::Confirmed => "confirmed",
            S::Queued => "queued",
            S::Settling => "settling",
            S::Settled => "settled",
            S::Rejected => "rejected",
            S::Unknown => "unknown",
            S::Reversing => "reversing",
            S::Reversed => "reversed",
            S::Cancelling => "cancelling",
            S::Cancelled => "cancelled",
            S::Expired => "expired",
            S::Abandoned => "abandoned",
            S::Held => "held",
            S::Registering => "registering",
            S::Registered => "registered",
            S::Uploaded => "uploaded",
            S::Undoing => "undoing",
            S::Closing => "closing",
        }
    }

    pub fn parse(text: &str) -> Option<SaleState> {
        SaleState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// No event moves the sale on by itself from here (an operator may still requeue a
    /// rejected or expired sale, or cancel a settled one).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            S::Settled | S::Rejected | S::Reversed | S::Cancelled | S::Expired | S::Abandoned
        )
    }

    /// A pharmacy sale the patient has not consented to yet: it may still be (re)priced and
    /// its lines completed (trace codes).
    pub fn before_consent(self) -> bool {
        matches!(self, S::Captured | S::Identified | S::Presettled)
    }

    /// The platform may hold money for this sale right now, or might: a request is in flight
    /// or its outcome is unknown. Crash recovery resolves these first; `held` ones wait for an
    /// operator.
    pub fn in_doubt(self) -> bool {
        matches!(
            self,
            S::Settling | S::Unknown | S::Reversing | S::Cancelling | S::Held
        )
    }

    /// A visit step that changes what the platform holds is pending: a registration whose
    /// answer is awaited or lost, or an undo chain not yet finished. The forwarder drives them
    /// on; the `sale.in_doubt` alarm names them when they take too long.
    pub fn visit_pending(self) -> bool {
        matches!(self, S::Registering | S::Undoing | S::Closing)
    }

    /// Every state [`SaleState::in_doubt`] holds.
    pub const IN_DOUBT: [SaleState; 5] = [
        S::Settling,
        S::Unknown,
        S::Reversing,
        S::Cancelling,
        S::Held,
    ];
}

impl std::fmt::Display for SaleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: [SaleEvent; 30] = [
        E::Identify,
        E::Presettle,
        E::Confirm,
        E::Store,
        E::Send,
        E::Settled,
        E::Refused,
        E::Lost,
        E::Reverse,
        E::Reversed,
        E::Restored,
        E::Retry,
        E::Cancel,
        E::Cancelled,
        E::Expire,
        E::Requeue,
        E::Abandon,
        E::Unsent,
        E::Hold,
        E::ResolveSettled,
        E::ResolveUnsettled,
        E::ResolveCancelled,
        E::Refunded,
        E::Register,
        E::Registered,
        E::Upload,
        E::Reprice,
        E::Undo,
        E::Undone,
        E::ResolveUndone,
    ];

    #[test]
    fn every_listed_transition_is_allowed_and_nothing_else() {
        for kind in [SaleKind::Pharmacy, SaleKind::Outpatient] {
            let mut allowed = 0;
            for from in SaleState::ALL {
                for event in EVENTS {
                    let listed = kind
                        .table()
                        .iter()
                        .filter(|(f, e, _)| *f == from && *e == event)
                        .count();
                    assert!(listed <= 1, "{kind:?} {from} {event:?} listed twice");
                    match from.next_for(kind, event) {
                        Ok(_) => {
                            assert_eq!(listed, 1);
                            allowed += 1;
                        }
                        Err(e) => {
                            assert_eq!(listed, 0);
                            assert_eq!(e, TransitionError { from, event });
                        }
                    }
                }
            }
            assert_eq!(allowed, kind.table().len());
        }
    }

    #[test]
    fn a_visit_runs_its_steps_and_its_undo_chains() {
        let v = |from: SaleState, events: &[SaleEvent]| {
            events
                .iter()
                .try_fold(from, |s, e| s.next_for(SaleKind::Outpatient, *e))
        };
        let settle = [
            E::Identify,
            E::Register,
            E::Registered,
            E::Upload,
            E::Presettle,
            E::Confirm,
            E::Send,
            E::Settled,
        ];
        assert_eq!(v(S::Captured, &settle), Ok(S::Settled));
        assert_eq!(
            v(S::Settled, &[E::Cancel, E::Cancelled, E::Undone]),
            Ok(S::Cancelled)
        );
        assert_eq!(
            v(S::Presettled, &[E::Reprice, E::Upload, E::Presettle]),
            Ok(S::Presettled)
        );
        for held in [
            S::Registering,
            S::Registered,
            S::Uploaded,
            S::Presettled,
            S::Confirmed,
            S::Reversed,
        ] {
            assert_eq!(v(held, &[E::Undo, E::Undone]), Ok(S::Abandoned), "{held}");
            // What the platform holds is never dropped without its undo.
            assert!(held.next_for(SaleKind::Outpatient, E::Abandon).is_err());
        }
        // Money in flight is never undone, and a settled visit is refunded, not undone.
        for s in [
            S::Settling,
            S::Unknown,
            S::Reversing,
            S::Held,
            S::Settled,
            S::Cancelling,
        ] {
            assert!(s.next_for(SaleKind::Outpatient, E::Undo).is_err(), "{s}");
            assert!(s.next_for(SaleKind::Outpatient, E::Reprice).is_err(), "{s}");
        }
        // The pharmacy table knows none of the visit steps.
        for e in [E::Register, E::Upload, E::Reprice, E::Undo, E::Undone] {
            for s in SaleState::ALL {
                assert!(s.next(e).is_err(), "{s} {e:?}");
            }
        }
        for s in [S::Registering, S::Undoing, S::Closing] {
            assert!(s.visit_pending());
        }
    }

    #[test]
    fn the_happy_paths() {
        let online = [E::Identify, E::Presettle, E::Confirm, E::Send, E::Settled];
        let end = online
            .iter()
            .try_fold(S::Captured, |s, e| s.next(*e))
            .unwrap();
        assert_eq!(end, S::Settled);
        let offline = [
            E::Store,
            E::Send,
            E::Lost,
            E::Reverse,
            E::Reversed,
            E::Retry,
            E::Settled,
        ];
        let end = offline
            .iter()
            .try_fold(S::Captured, |s, e| s.next(*e))
            .unwrap();
        assert_eq!(end, S::Settled);
        let cancel = [
            E::Cancel,
            E::Lost,
            E::Reverse,
            E::Restored,
            E::Cancel,
            E::Cancelled,
        ];
        let end = cancel
            .iter()
            .try_fold(S::Settled, |s, e| s.next(*e))
            .unwrap();
        assert_eq!(end, S::Cancelled);
    }

    #[test]
    fn money_in_flight_can_never_be_abandoned_or_sent_again() {
        for s in [
            S::Settling,
            S::Unknown,
            S::Reversing,
            S::Cancelling,
            S::Settled,
            S::Held,
        ] {
            assert!(s.next(E::Abandon).is_err(), "{s}");
            assert!(s.next(E::Send).is_err(), "{s}");
            assert!(s.next(E::Retry).is_err(), "{s}");
        }
        // An unknown outcome has exactly one automatic way out: reversal; the others are an
        // operator's decision.
        let outs: Vec<_> = TRANSITIONS
            .iter()
            .filter(|(f, e, _)| *f == S::Unknown && !OPERATOR.contains(e))
            .collect();
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0].1, E::Reverse);
        // A held sale moves only by an operator's decision.
        for (from, event, _) in TRANSITIONS {
            if *from == S::Held {
                assert!(OPERATOR.contains(event), "{event:?}");
            }
        }
    }

    const OPERATOR: [SaleEvent; 3] = [E::ResolveSettled, E::ResolveUnsettled, E::ResolveCancelled];

    #[test]
    fn a_request_that_never_left_goes_back_to_where_it_can_be_tried_again() {
        assert_eq!(S::Settling.next(E::Unsent), Ok(S::Confirmed));
        assert_eq!(S::Settling.next(E::Requeue), Ok(S::Queued));
        assert_eq!(S::Cancelling.next(E::Unsent), Ok(S::Settled));
        // Only a request in flight can be unsent: a lost one stays in doubt.
        for s in [S::Unknown, S::Reversing, S::Held, S::Settled] {
            assert!(s.next(E::Unsent).is_err(), "{s}");
        }
        // Confirmed and queued are where a settlement starts again (new msgid).
        assert_eq!(S::Confirmed.next(E::Send), Ok(S::Settling));
        assert_eq!(S::Queued.next(E::Send), Ok(S::Settling));
    }

    #[test]
    fn only_sales_in_doubt_can_be_resolved_by_an_operator() {
        for from in SaleState::ALL {
            for e in OPERATOR {
                if from.next(e).is_ok() {
                    assert!(from.in_doubt(), "{from} {e:?}");
                }
            }
        }
        for s in SaleState::IN_DOUBT {
            assert!(s.in_doubt());
            assert_eq!(s.next(E::ResolveSettled), Ok(S::Settled), "{s}");
        }
        assert_eq!(S::Held.next(E::ResolveUnsettled), Ok(S::Reversed));
        assert_eq!(S::Held.next(E::ResolveCancelled), Ok(S::Cancelled));
        assert!(S::Cancelling.next(E::ResolveUnsettled).is_err());
        assert!(S::Settling.next(E::ResolveCancelled).is_err());
        assert_eq!(S::Reversing.next(E::Hold), Ok(S::Held));
        assert!(
            S::Held.next(E::Reverse).is_err(),
            "no automatic 2601 after a refusal"
        );
    }

    #[test]
    fn names_round_trip() {
        for s in SaleState::ALL {
            assert_eq!(SaleState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(SaleState::parse("paid"), None);
    }
}

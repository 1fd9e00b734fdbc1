//! The intake against a scripted card source and posted codes: what ends a wait, what is
//! held, and that a wait listens from the moment it is asked for. No test sleeps: a card
//! source that never answers is `pending`, and the one timeout is the behaviour under test.

use std::sync::Mutex;

use medsettle_card::record::sample::sample;
use tokio::sync::oneshot;

use super::*;

/// A card source that answers once, when the test says so.
#[derive(Default)]
struct ScriptedCard {
    answer: Mutex<Option<oneshot::Receiver<Result<CardRecord, &'static str>>>>,
}

impl ScriptedCard {
    fn answering() -> (Self, oneshot::Sender<Result<CardRecord, &'static str>>) {
        let (tx, rx) = oneshot::channel();
        let card = ScriptedCard {
            answer: Mutex::new(Some(rx)),
        };
        (card, tx)
    }
}

impl CardSource for ScriptedCard {
    type Read = CardRecord;
    type Error = &'static str;

    fn read_card(
        &self,
        _wait: Duration,
    ) -> impl Future<Output = Result<CardRecord, &'static str>> + Send {
        let rx = self.answer.lock().unwrap().take();
        async move {
            match rx {
                Some(rx) => rx.await.unwrap_or(Err("dropped")),
                None => std::future::pending().await,
            }
        }
    }

    fn record(read: &CardRecord) -> &CardRecord {
        read
    }
}

const LONG: Duration = Duration::from_secs(600);

fn want(card: bool, codes: bool) -> Want {
    Want {
        wait: LONG,
        card,
        codes,
        refused: false,
    }
}

fn scan(credential_id: Option<&str>) -> Arc<ScanResult> {
    Arc::new(ScanResult {
        kind: "e-voucher",
        valid: credential_id.is_some(),
        code: "0123456789ABCDEF0123".into(),
        identity: None,
        error: None,
        credential_id: credential_id.map(str::to_owned),
        source: "manual".into(),
        decoder: None,
        decode_ms: None,
        at_ms: 1,
        trace: None,
    })
}

#[tokio::test]
async fn a_card_read_by_the_wait_is_held_and_answered() {
    let cache = Credentials::default();
    let (card, answer) = ScriptedCard::answering();
    let intake = Intake::new(&cache, Some(&card));
    let waiting = intake.next(want(true, true));
    answer.send(Ok(sample())).unwrap();
    let Ok(Presented::Card { id, read }) = waiting.await else {
        panic!("a card was presented");
    };
    assert_eq!(read.card_no, sample().card_no);
    assert!(matches!(cache.get(&id), Some(Fresh::Card(r)) if r.card_no == read.card_no));
}

#[tokio::test]
async fn a_failed_read_ends_the_wait_with_its_error() {
    let cache = Credentials::default();
    let (card, answer) = ScriptedCard::answering();
    let intake = Intake::new(&cache, Some(&card));
    let waiting = intake.next(want(true, false));
    answer.send(Err("card.blacklisted")).unwrap();
    assert_eq!(
        waiting.await.unwrap_err(),
        IntakeError::Card("card.blacklisted")
    );
}

#[tokio::test]
async fn a_code_posted_right_after_the_call_is_not_missed() {
    let cache = Credentials::default();
    let intake = Intake::<ScriptedCard>::new(&cache, None);
    // The future is not polled before the code arrives.
    let waiting = intake.next(want(true, true));
    cache.post_scan(scan(Some("C1")));
    let presented = waiting.await.unwrap();
    assert_eq!(presented.credential_id(), Some("C1"));
}

#[tokio::test]
async fn refused_codes_end_the_wait_only_when_asked() {
    let cache = Credentials::default();
    let intake = Intake::<ScriptedCard>::new(&cache, None);
    let waiting = intake.next(want(false, true));
    cache.post_scan(scan(None));
    cache.post_scan(scan(Some("C2")));
    assert_eq!(waiting.await.unwrap().credential_id(), Some("C2"));

    let waiting = intake.next(Want {
        refused: true,
        ..want(false, true)
    });
    cache.post_scan(scan(None));
    let Ok(Presented::Code(refused)) = waiting.await else {
        panic!("the refused code ends the wait");
    };
    assert!(!refused.valid);
}

/// A box's trace code (or its refused 商品码) scanned while the patient looks for the
/// e-voucher is no answer to the wait, even one that takes refusals.
#[tokio::test]
async fn a_drug_boxs_code_does_not_end_a_wait_for_a_credential() {
    let cache = Credentials::default();
    let intake = Intake::<ScriptedCard>::new(&cache, None);
    let waiting = intake.next(Want {
        refused: true,
        ..want(false, true)
    });
    let trace = |valid: bool| {
        let mut s = (*scan(None)).clone();
        s.kind = "trace";
        s.valid = valid;
        Arc::new(s)
    };
    cache.post_scan(trace(true));
    cache.post_scan(trace(false));
    cache.post_scan(scan(Some("C4")));
    assert_eq!(waiting.await.unwrap().credential_id(), Some("C4"));
}

#[tokio::test]
async fn codes_are_ignored_when_not_wanted_and_nothing_times_out() {
    let cache = Credentials::default();
    let (card, _never) = ScriptedCard::answering();
    let intake = Intake::new(&cache, Some(&card));
    let waiting = intake.next(Want {
        wait: Duration::from_millis(1),
        ..want(true, false)
    });
    cache.post_scan(scan(Some("C3")));
    assert_eq!(waiting.await.unwrap_err(), IntakeError::NotPresented);
}

//! Confirming online: 2102 recorded in the audit table before it leaves, a settlement, a
//! refusal, and a lost answer (→ `unknown` → 2601 → a fresh 2102 under a new msgid).

use super::*;
use crate::error::UserFacing as _;
use crate::settle::{Confirmation, SaleError, SaleState};
use crate::upstream::Fen;

/// A presettled card sale on `rig`.
async fn presettled(rig: &Rig) -> Sale {
    let sale = rig.card_sale("prefer_online").await;
    rig.engine.presettle(&sale.id).await.unwrap()
}

#[tokio::test]
async fn confirm_online_settles_with_2102_recorded_before_it_is_sent() {
    let rig = Rig::new(presettle_script(platform()).expect_with(
        "2102",
        |s| {
            assert!(s.prepared, "2102 goes through prepare/send");
            let text = s.input.to_string();
            assert!(text.contains("\"invono\""), "2102 carries invono: {text}");
        },
        Answer::fixture("2102_response.json"),
    ));
    let sale = presettled(&rig).await;
    let sale = rig.confirm(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Settled);
    let s = sale.settlement.clone().unwrap();
    assert_eq!(s.setl_id.as_deref(), Some("S110105202611230001"));
    assert_eq!(
        (s.medfee, s.fund, s.account, s.cash),
        (Fen(12_850), Fen(8_030), Fen(3_000), Some(Fen(1_820)))
    );
    assert_eq!(s.day, "2026-11-23", "the CST day of the settlement");
    assert_eq!(sale.patient_share(), Some(Fen(1_820)));
    let sent = rig.finish();
    let settle = &sent[2];
    assert_eq!(sale.attempt.as_ref().unwrap().msgid, msgid(settle));
    let audit = rig.store.audit(msgid(settle)).await.unwrap().unwrap();
    assert_eq!(audit.infno, "2102");
    assert!(audit.sent_at_ms <= audit.answered_at_ms.unwrap());
    assert_eq!(audit.outcome.as_deref(), Some("ok"));
    assert_eq!(
        history(&rig, &sale.id).await,
        [
            "create",
            "identify",
            "presettle",
            "confirm",
            "send",
            "settled"
        ]
    );
}

#[tokio::test]
async fn refused_2102_rejects_the_sale_and_sends_no_reversal() {
    let rig = Rig::new(presettle_script(platform()).expect("2102", Answer::refused("余额不足")));
    let sale = presettled(&rig).await;
    let e = rig.confirm(&sale.id).await.unwrap_err();
    assert!(
        matches!(
            e,
            SaleError::Upstream(crate::upstream::UpstreamError::Business { .. })
        ),
        "{e:?}"
    );
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Rejected);
    assert_eq!(after.settlement, None);
    let sent = rig.finish();
    assert_eq!(sent.len(), 3, "no 2601 after a refusal");
    assert_eq!(
        after.attempt.unwrap().msgid,
        msgid(&sent[2]),
        "the refused request is kept"
    );
    assert_eq!(after.last_error.unwrap().code, "upstream.business");
}

#[tokio::test]
async fn lost_2102_is_reversed_then_settled_afresh_under_a_new_msgid() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::Lost)
            .expect_with(
                "2601",
                |s| {
                    assert!(s.prepared, "2601 is recorded before it leaves");
                    assert_eq!(s.input["data"]["oinfno"], "2102");
                },
                Answer::fixture("2601_response.json"),
            )
            .expect("2102", Answer::fixture("2102_response.json")),
    );
    let sale = presettled(&rig).await;
    let sale = rig.confirm(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Settled);
    let sent = rig.finish();
    assert_eq!(
        rig.platform.infnos(),
        ["1101", "2101", "2102", "2601", "2102"]
    );
    let (first, reversal, second) = (msgid(&sent[2]), &sent[3], msgid(&sent[4]));
    assert_eq!(
        reversal.input["data"]["omsgid"], first,
        "2601 names the lost request"
    );
    assert_ne!(
        first, second,
        "a new settlement after a reversal has a new msgid"
    );
    assert_ne!(msgid(reversal), first);
    assert_eq!(sale.reversed_attempts.len(), 1);
    assert_eq!(sale.reversed_attempts[0].msgid, first);
    assert_eq!(sale.attempt.as_ref().unwrap().msgid, second);
    assert_eq!(sale.settlement.unwrap().cash, Some(Fen(1_820)));
    assert_eq!(
        history(&rig, &sale.id).await[4..],
        ["send", "lost", "reverse", "reversed", "retry", "settled"]
    );
}

#[tokio::test]
async fn unanswered_2601_is_resent_under_its_own_msgid_until_answered() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::Lost)
            .expect("2601", Answer::Unreachable)
            .expect("2601", Answer::fixture("2601_response.json"))
            .expect("2102", Answer::fixture("2102_response.json")),
    );
    let sale = presettled(&rig).await;
    let e = rig.confirm(&sale.id).await.unwrap_err();
    assert!(matches!(e, SaleError::Upstream(_)), "{e:?}");
    let after = stored(&rig, &sale.id).await;
    assert_eq!(after.state, SaleState::Reversing);
    // The forwarder drives a sale in doubt to an end, backoff or not when flushed.
    rig.engine.flush();
    let pass = rig.engine.forward_pass().await.unwrap();
    assert_eq!(pass.progressed, 1);
    let after = stored(&rig, &sale.id).await;
    assert_eq!(
        after.state,
        SaleState::Reversed,
        "an online sale waits for its cashier"
    );
    // The cashier confirms again: a fresh 2102.
    let sale = rig.confirm(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Settled);
    let sent = rig.finish();
    assert_eq!(
        msgid(&sent[3]),
        msgid(&sent[4]),
        "a 2601 retry reuses its msgid"
    );
    assert_eq!(sent[3].input, sent[4].input);
    assert_ne!(msgid(&sent[2]), msgid(&sent[5]));
}

#[tokio::test]
async fn the_forwarder_never_sends_for_a_sale_the_cashier_is_working_on() {
    let rig = Rig::new(
        presettle_script(platform())
            .expect("2102", Answer::Lost)
            .expect("2601", Answer::Crash(None)),
    );
    let sale = presettled(&rig).await;
    // The cashier's confirm waits on its 2601 (it holds the sale): the future stays alive.
    let confirm = rig.engine.confirm(&sale.id, Confirmation::default());
    tokio::pin!(confirm);
    tokio::select! {
        r = &mut confirm => panic!("confirm finished: {r:?}"),
        () = rig.platform.crashed() => {}
    }
    assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Reversing);
    rig.engine.flush();
    let pass = rig.engine.forward_pass().await.unwrap();
    assert_eq!(pass.progressed, 0, "the sale is skipped, not sent twice");
    assert_eq!(
        rig.finish().len(),
        4,
        "no second 2601 while the first is in flight"
    );
}

/// The PIN is asked whatever the platform's `signtype` (MOCK included): only
/// `settle.skip_pin_consent` skips it. `cainfo` carries nothing of the consent; the sale keeps
/// a seal bound to it while it settles and drops it once settled.
#[tokio::test]
async fn the_pin_is_asked_under_any_signtype_and_nothing_of_it_reaches_cainfo() {
    for signtype in ["MOCK", "SM3"] {
        let rig = Rig::with_settle(
            presettle_script(platform().with_signtype(signtype)).expect_with(
                "2102",
                |s| assert_eq!(s.password_proof, None, "no password material in cainfo"),
                Answer::fixture("2102_response.json"),
            ),
            super::pin_settle(true),
        );
        let sale = presettled(&rig).await;
        let e = rig.confirm(&sale.id).await.unwrap_err();
        assert!(matches!(e, SaleError::PinRequired), "{signtype}: {e:?}");
        assert_eq!(stored(&rig, &sale.id).await.state, SaleState::Presettled);
        let pin = crate::card::Pin::new("123456").unwrap();
        let settled = rig
            .engine
            .confirm(
                &sale.id,
                Confirmation {
                    pin: Some(pin),
                    collected: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(settled.state, SaleState::Settled);
        assert_eq!(settled.consent, None, "dropped once the sale is final");
        let doc = serde_json::to_string(&stored(&rig, &sale.id).await).unwrap();
        assert!(!doc.contains("123456") && !doc.contains("seal"), "{doc}");
        rig.finish();
    }
}

/// While a sale waits to settle, its consent is a seal bound to its chrg_bchno and amount
/// (`consent.rs`), not the PIN or a hash of it.
#[tokio::test]
async fn a_stored_sale_keeps_a_seal_bound_to_it_and_never_the_pin() {
    let rig = Rig::with_settle(platform(), super::pin_settle(true));
    let sale = rig.card_sale("force_offline").await;
    let pin = crate::card::Pin::new("123456").unwrap();
    let queued = rig
        .engine
        .confirm(
            &sale.id,
            Confirmation {
                pin: Some(pin),
                collected: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(queued.state, SaleState::Queued);
    let Some(crate::settle::sale::Consent::Pin { seal }) = stored(&rig, &sale.id).await.consent
    else {
        panic!("a PIN consent");
    };
    let fact = crate::settle::consent::Fact::PinEntered;
    assert!(crate::settle::consent::verify(
        &rig.store,
        &seal,
        &sale.chrg_bchno,
        sale.amount,
        fact
    ));
    let other = crate::upstream::Fen(sale.amount.0 + 1);
    assert!(!crate::settle::consent::verify(
        &rig.store,
        &seal,
        &sale.chrg_bchno,
        other,
        fact
    ));
    let old = crate::upstream::signing::sm3_hex(b"M12345678:123456");
    let doc = serde_json::to_string(&stored(&rig, &sale.id).await).unwrap();
    assert!(!doc.contains("123456") && !doc.contains(&old), "{doc}");
    rig.finish();
}

/// A sale whose line carries traceability codes announces their count in 2101 and, after a
/// box scanned while the sale was open, the new count in 2102 (traceability.md, "In the
/// settlement itself"); the amounts are the same as without codes.
#[tokio::test]
async fn trace_codes_are_counted_in_2101_and_2102() {
    let counts = |s: &Sent| {
        let d = &s.input["druginfo"];
        (
            d["minpacunt_drug_trac_cnt"].clone(),
            d["mcs_trac_cnt"].clone(),
        )
    };
    let rig = Rig::new(
        platform()
            .expect("1101", Answer::fixture("1101_response.json"))
            .expect_with(
                "2101",
                move |s| assert_eq!(counts(s), (json!(1), json!(0)), "{}", s.input),
                Answer::fixture("2101_response.json"),
            )
            .expect_with(
                "2102",
                move |s| assert_eq!(counts(s), (json!(2), json!(0)), "{}", s.input),
                Answer::fixture("2102_response.json"),
            ),
    );
    let dispensing = json!({ "phar_name": "王药师", "phar_prac_cert_no": "YS1",
                             "prsc_dr_name": "李医生", "opter_name": "收银员" });
    let sale = traced_sale(&rig, Some(dispensing)).await;
    rig.engine.presettle(&sale.id).await.unwrap();
    let add: crate::settle::trace::TraceAttach =
        serde_json::from_value(json!({ "line": 0, "codes": ["81234567890123456790"] })).unwrap();
    let sale = rig.engine.attach_trace(&sale.id, add).await.unwrap();
    assert_eq!(
        sale.state,
        SaleState::Presettled,
        "money unchanged: still pre-settled"
    );
    let sale = rig.confirm(&sale.id).await.unwrap();
    assert_eq!(sale.state, SaleState::Settled);
    assert_eq!(sale.settlement.unwrap().medfee, Fen(12_850));
    assert_eq!(rig.finish().len(), 3);
}

/// A sale whose line carries codes but whose 3505 could not be made (no pharmacist anywhere)
/// is refused at consent: `trace.incomplete`, the sale stays pre-settled, nothing is sent.
#[tokio::test]
async fn a_traced_sale_without_its_pharmacist_is_refused_at_consent_and_nothing_is_sent() {
    let rig = Rig::new(presettle_script(platform()));
    let sale = traced_sale(&rig, None).await;
    rig.engine.presettle(&sale.id).await.unwrap();
    let e = rig.confirm(&sale.id).await.unwrap_err();
    assert_eq!(e.code(), "trace.incomplete");
    assert!(
        e.message_en()
            .contains("dispensing.prsc_dr_name (or [trace] prsc_dr_name)"),
        "{}",
        e.message_en()
    );
    assert!(
        e.message_zh().contains("药品追溯码上报"),
        "{}",
        e.message_zh()
    );
    let now = rig.engine.get(&sale.id).await.unwrap();
    assert_eq!(now.state, SaleState::Presettled);
    assert_eq!(rig.finish().len(), 2, "1101 and 2101 only");
}

/// A card sale of one 128.50 line carrying one box's code and its batch data, with
/// `dispensing` (none: only the rig's `[trace]`, which is empty).
async fn traced_sale(rig: &Rig, dispensing: Option<serde_json::Value>) -> crate::settle::Sale {
    let record = crate::card::record::sample::sample();
    let credential = rig.credentials.insert(Fresh::Card(record));
    let mut body = json!({
        "credential_id": credential,
        "items": [{
            "code": "XA01AAA0000000001", "name": "测试药品", "cnt": "1", "pric": "128.50",
            "trace": { "codes": ["81234567890123456789"], "manu_lotnum": "L1",
                       "fixmedins_bchno": "B1", "manu_date": "2025-11-01", "rx_flag": "0" },
        }],
        "mode": "prefer_online",
    });
    if let Some(d) = dispensing {
        body["dispensing"] = d;
    }
    let new: NewSale = serde_json::from_value(body).unwrap();
    rig.engine.create(new).await.unwrap()
}

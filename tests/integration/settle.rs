//! The settlement engine against the sandbox insurer over loopback HTTP, with a real SQLite
//! store: each path through the state machine, the offline forwarder, crash recovery from the
//! audit table, expiry, cancellation and reconciliation. The API layer is tested in `sales`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::Utc;
use medsettle::card::Pin;
use medsettle::config::SaleMode;
use medsettle::credential::{Credentials, Fresh};
use medsettle::settle::{
    Confirmation, Engine, EngineParts, NewItem, NewSale, SaleError, SaleState,
};
use medsettle::store::Store;
use medsettle::upstream::{Fen, Price, Qty};
use medsettle_sandbox::{Fault, FaultRule, Sandbox, SandboxConfig, SettlementStatus};

use crate::support::{Terminal, zhang_card};

const PSN: &str = "P110105000001";

struct Rig {
    sandbox: Sandbox,
    terminal: Terminal,
    store: Store,
    engine: Arc<Engine>,
    credentials: Arc<Credentials>,
    offset: Arc<AtomicI64>,
    status: Arc<medsettle::status::StatusBoard>,
}

fn section(base: &str, extra: &str) -> String {
    format!(
        "\n[upstream]\nbase_url = \"{base}\"\nec_url = \"{base}/localcfc/api/hsecfc/localQrCodeQuery\"\n\
         allow_plain_http = true\nsigntype = \"SM3\"\n\
         connect_timeout_ms = 300\nread_timeout_ms = 1000\ntimeout_ms = 1500\n\n[settle]\n\
         retry_first_ms = 100\nretry_max_ms = 200\n{extra}"
    )
}

async fn rig_at(base: Option<String>, extra: &str) -> Rig {
    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let base = base.unwrap_or_else(|| sandbox.base_url());
    let text = section(&base, extra);
    let terminal = Terminal::with(|t| t.push_str(&text));
    let (store, engine, credentials, offset, status) = build(&terminal).await;
    Rig {
        sandbox,
        terminal,
        store,
        engine,
        credentials,
        offset,
        status,
    }
}

async fn rig() -> Rig {
    rig_at(None, "").await
}

type Built = (
    Store,
    Arc<Engine>,
    Arc<Credentials>,
    Arc<AtomicI64>,
    Arc<medsettle::status::StatusBoard>,
);

async fn build(terminal: &Terminal) -> Built {
    let status = Arc::new(medsettle::status::StatusBoard::default());
    let config = terminal.config();
    let (store, _) = Store::open(&terminal.db_path(), Duration::from_secs(5)).unwrap();
    let offset = Arc::new(AtomicI64::new(0));
    let o = Arc::clone(&offset);
    let clock: medsettle::upstream::client::Clock =
        Arc::new(move || Utc::now() + chrono::Duration::seconds(o.load(Ordering::SeqCst)));
    let client = Arc::new(
        medsettle::daemon::upstream::build(&config, store.clone(), None, Some(Arc::clone(&clock)))
            .unwrap(),
    );
    let credentials = Arc::new(Credentials::default());
    let engine = Arc::new(Engine::new(EngineParts {
        store: store.clone(),
        platform: Some(client),
        card: None,
        events: medsettle::events::EventBus::default(),
        config: config.settle.clone(),
        terminal: config.terminal.clone(),
        credentials: Arc::clone(&credentials),
        clock: Some(clock),
        status: Some(Arc::clone(&status)),
    }));
    (store, engine, credentials, offset, status)
}

impl Rig {
    async fn sale(&self, mode: Option<SaleMode>, pric: &str) -> String {
        let credential_id = self.credentials.insert(zhang_card());
        let sale = self
            .engine
            .create(NewSale {
                credential_id,
                items: vec![NewItem {
                    code: "XA01BAA123A001010100001".into(),
                    local_code: None,
                    name: "阿莫西林胶囊".into(),
                    cnt: Qty::parse("2").unwrap(),
                    pric: Price::parse(pric).unwrap(),
                    trace: None,
                }],
                mode,
                use_account: Some(true),
            })
            .await
            .unwrap();
        assert_eq!(sale.state, SaleState::Captured);
        sale.id
    }

    fn pin(&self) -> Confirmation {
        Confirmation {
            pin: Some(Pin::new("123456").unwrap()),
            collected: None,
        }
    }

    async fn online(&self, pric: &str) -> String {
        let id = self.sale(None, pric).await;
        self.engine.presettle(&id).await.unwrap();
        let sale = self.engine.confirm(&id, self.pin()).await.unwrap();
        assert_eq!(sale.state, SaleState::Settled, "{:?}", sale.last_error);
        id
    }

    async fn history(&self, id: &str) -> Vec<String> {
        self.store
            .sale_events(id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect()
    }

    fn effective(&self) -> usize {
        self.sandbox.ledger().effective().count()
    }

    async fn close(self) {
        self.store.close().await.unwrap();
        self.sandbox.shutdown().await;
    }
}

#[tokio::test]
async fn an_online_sale_settles_once_with_its_whole_history() {
    let rig = rig().await;
    let before = rig.sandbox.ledger().balance(PSN).unwrap();
    let id = rig.online("45.50").await;
    let sale = rig.engine.get(&id).await.unwrap();
    let split = sale.settlement.clone().unwrap();
    assert_eq!(split.medfee, Fen(9_100));
    assert_eq!(
        Fen(split.fund.0 + split.account.0 + split.cash.unwrap().0),
        split.medfee
    );
    assert_eq!(sale.patient_share(), split.cash);
    assert_eq!(rig.effective(), 1);
    assert_eq!(
        rig.sandbox.ledger().balance(PSN),
        Some(Fen(before.0 - split.account.0))
    );
    assert_eq!(
        rig.history(&id).await,
        [
            "create",
            "identify",
            "presettle",
            "confirm",
            "send",
            "settled"
        ]
    );
    // The msgid of the settlement is the one the platform booked.
    let booked = rig.sandbox.ledger().settlements[0].msgid.clone();
    assert_eq!(sale.attempt.unwrap().msgid, booked);
    // Settled is final for confirm: a repeated confirm answers the settlement, sends nothing.
    let again = rig.engine.confirm(&id, rig.pin()).await.unwrap();
    assert_eq!(again.state, SaleState::Settled);
    assert_eq!(again.settlement, sale.settlement);
    assert_eq!(rig.sandbox.ledger().settlements.len(), 1);
    rig.close().await;
}

#[tokio::test]
async fn a_lost_settlement_is_reversed_and_settled_afresh_exactly_once() {
    let rig = rig().await;
    rig.sandbox
        .inject(FaultRule::times("2102", Fault::DropAfterCommit, 1));
    let id = rig.online("10.00").await;
    let sale = rig.engine.get(&id).await.unwrap();
    assert_eq!(sale.reversed_attempts.len(), 1);
    assert_ne!(
        sale.reversed_attempts[0].msgid,
        sale.attempt.as_ref().unwrap().msgid
    );
    let l = rig.sandbox.ledger();
    assert_eq!(l.effective().count(), 1, "one effective settlement");
    let reversed = l.by_msgid(&sale.reversed_attempts[0].msgid).unwrap();
    assert_eq!(reversed.status, SettlementStatus::Reversed);
    assert_eq!(
        rig.history(&id).await,
        [
            "create",
            "identify",
            "presettle",
            "confirm",
            "send",
            "lost",
            "reverse",
            "reversed",
            "retry",
            "settled"
        ]
    );
    rig.close().await;
}

#[tokio::test]
async fn a_refusal_rejects_the_sale_and_nothing_is_booked() {
    let rig = rig().await;
    rig.sandbox.inject(FaultRule::times(
        "2102",
        Fault::BusinessError {
            message: "超过限购数量".into(),
        },
        1,
    ));
    let id = rig.sale(None, "10.00").await;
    rig.engine.presettle(&id).await.unwrap();
    let e = rig.engine.confirm(&id, rig.pin()).await.unwrap_err();
    assert!(matches!(e, SaleError::Upstream(_)), "{e:?}");
    let sale = rig.engine.get(&id).await.unwrap();
    assert_eq!(sale.state, SaleState::Rejected);
    assert_eq!(sale.last_error.unwrap().code, "upstream.business");
    assert_eq!(rig.effective(), 0);
    // (A wrong PIN is refused by the card itself, before anything is sent: no password goes
    // to the platform — upstream.md "Patient consent"; see sales::online and edges.)
    rig.close().await;
}

#[tokio::test]
async fn a_stored_sale_is_forwarded_and_the_refund_is_known() {
    let rig = rig().await;
    let id = rig.sale(Some(SaleMode::ForceOffline), "30.00").await;
    // force_offline never presettles.
    assert!(rig.engine.presettle(&id).await.is_err());
    let c = Confirmation {
        pin: Some(Pin::new("123456").unwrap()),
        collected: Some(Fen(6_000)),
    };
    let sale = rig.engine.confirm(&id, c).await.unwrap();
    assert_eq!((sale.state, sale.stored), (SaleState::Queued, true));
    assert_eq!(rig.effective(), 0, "nothing sent before the forwarder runs");
    let pass = rig.engine.forward_pass().await.unwrap();
    assert_eq!(pass.progressed, 1);
    let sale = rig.engine.get(&id).await.unwrap();
    assert_eq!(sale.state, SaleState::Settled);
    let cash = sale.settlement.as_ref().unwrap().cash.unwrap();
    assert_eq!(sale.refund_due(), Some(Fen(6_000 - cash.0)));
    assert_eq!(rig.effective(), 1);
    assert_eq!(
        rig.history(&id).await,
        ["create", "store", "send", "settled"]
    );
    let totals = rig.store.offline_totals().await.unwrap();
    assert_eq!(totals.count, 0);
    rig.close().await;
}

#[tokio::test]
async fn while_the_platform_is_down_stored_sales_wait_and_online_ones_are_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rig = rig_at(Some(format!("http://127.0.0.1:{port}")), "").await;
    let id = rig.sale(None, "10.00").await;
    let e = rig.engine.presettle(&id).await.unwrap_err();
    assert!(
        matches!(
            e,
            SaleError::Offline {
                can_store: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        rig.engine.get(&id).await.unwrap().state,
        SaleState::Captured
    );
    let sale = rig.engine.confirm(&id, rig.pin()).await.unwrap();
    assert_eq!(sale.state, SaleState::Queued);
    let pass = rig.engine.forward_pass().await.unwrap();
    assert!(pass.link_down && pass.progressed == 0, "{pass:?}");
    let row = rig.store.sale(&id).await.unwrap().unwrap();
    assert_eq!(row.state, "queued");
    assert!(row.next_attempt_at_ms.is_some());
    let sale = rig.engine.get(&id).await.unwrap();
    assert_eq!(sale.tries, 1);
    assert_eq!(sale.last_error.unwrap().code, "upstream.unreachable");
    // A require_online sale cannot be stored.
    let strict = rig.sale(Some(SaleMode::RequireOnline), "10.00").await;
    let e = rig.engine.confirm(&strict, rig.pin()).await.unwrap_err();
    assert!(matches!(e, SaleError::OnlineRequired), "{e:?}");
    assert_eq!(
        rig.engine.get(&strict).await.unwrap().state,
        SaleState::Captured
    );
    rig.close().await;
}

#[tokio::test]
async fn an_old_stored_sale_expires_unsent_until_an_operator_requeues_it() {
    let rig = rig_at(None, "offline_max_age_hours = 1\n").await;
    let id = rig.sale(Some(SaleMode::ForceOffline), "10.00").await;
    rig.engine.confirm(&id, rig.pin()).await.unwrap();
    rig.offset.store(2 * 3600, Ordering::SeqCst);
    rig.engine.forward_pass().await.unwrap();
    assert_eq!(rig.engine.get(&id).await.unwrap().state, SaleState::Expired);
    let attention = |rig: &Rig| {
        rig.status
            .snapshot()
            .alarms
            .iter()
            .any(|a| a.code == "queue.attention")
    };
    assert!(
        attention(&rig),
        "an expired stored sale is flagged for an operator"
    );
    assert_eq!(rig.effective(), 0);
    assert_eq!(rig.sandbox.ledger().request_count("2102"), 0, "never sent");
    rig.engine.requeue(&id).await.unwrap();
    assert!(!attention(&rig), "requeued: nothing waits for an operator");
    rig.engine.forward_pass().await.unwrap();
    assert_eq!(rig.engine.get(&id).await.unwrap().state, SaleState::Settled);
    rig.close().await;
}

#[tokio::test]
async fn cancelling_a_settled_sale_and_a_lost_cancellation() {
    let rig = rig().await;
    let before = rig.sandbox.ledger().balance(PSN).unwrap();
    let id = rig.online("20.00").await;
    let sale = rig.engine.cancel(&id).await.unwrap();
    assert_eq!(sale.state, SaleState::Cancelled);
    assert_eq!(rig.sandbox.ledger().balance(PSN), Some(before));
    assert_eq!(rig.effective(), 0);
    // A cancellation whose answer is lost is reversed: the settlement stands again.
    let id = rig.online("20.00").await;
    rig.sandbox
        .inject(FaultRule::times("2103", Fault::DropAfterCommit, 1));
    rig.engine.cancel(&id).await.unwrap();
    let sale = rig.engine.get(&id).await.unwrap();
    assert_eq!(sale.state, SaleState::Settled);
    assert_eq!(rig.effective(), 1, "the cancellation was undone");
    // Before settlement, cancel abandons.
    let id = rig.sale(None, "1.00").await;
    assert_eq!(
        rig.engine.cancel(&id).await.unwrap().state,
        SaleState::Abandoned
    );
    rig.close().await;
}

/// Crash states made exactly: a sale left `settling` with the answer recorded, and one without.
#[tokio::test]
async fn recovery_finishes_from_the_audit_table_or_reverses() {
    let rig = rig().await;
    let answered = rig.online("10.00").await;
    let unanswered = rig.online("11.00").await;
    let Rig {
        sandbox,
        terminal,
        store,
        engine,
        ..
    } = rig;
    let msgid = engine
        .get(&unanswered)
        .await
        .unwrap()
        .attempt
        .unwrap()
        .msgid;
    drop(engine);
    // Back to `settling` with no settlement, as a crash between the request and its answer
    // leaves them (the document is sealed at rest: rewritten through the store).
    for id in [&answered, &unanswered] {
        let row = store.sale(id).await.unwrap().unwrap();
        let mut doc: serde_json::Value = serde_json::from_str(&row.doc).unwrap();
        doc["state"] = serde_json::json!("settling");
        doc["settlement"] = serde_json::Value::Null;
        store
            .transition_sale(medsettle::store::SaleTransition {
                id: id.to_string(),
                from: row.state.clone(),
                to: "settling".into(),
                event: "test.crash".into(),
                at_ms: row.updated_at_ms,
                doc: doc.to_string(),
                detail: "{}".into(),
                next_attempt_at_ms: None,
                store_offline: None,
            })
            .await
            .unwrap();
    }
    store.close().await.unwrap();
    {
        let db = rusqlite::Connection::open(terminal.db_path()).unwrap();
        db.execute(
            "UPDATE upstream_audit SET outcome = NULL, response = NULL, http_status = NULL WHERE msgid = ?1",
            [&msgid],
        )
        .unwrap();
    }
    let (store, engine, _, _, _) = build(&terminal).await;
    assert_eq!(engine.recover().await.unwrap(), 2);
    let a = engine.get(&answered).await.unwrap();
    assert_eq!(
        a.state,
        SaleState::Settled,
        "finished from the recorded answer"
    );
    assert!(a.settlement.is_some());
    assert_eq!(
        engine.get(&unanswered).await.unwrap().state,
        SaleState::Unknown
    );
    // The forwarder reverses the one in doubt; the platform undoes its booking.
    engine.forward_pass().await.unwrap();
    let u = engine.get(&unanswered).await.unwrap();
    assert_eq!(u.state, SaleState::Reversed);
    assert_eq!(
        sandbox.ledger().by_msgid(&msgid).unwrap().status,
        SettlementStatus::Reversed
    );
    // The cashier retries: settled afresh under a new msgid, one effective booking.
    let pin = Confirmation {
        pin: Some(Pin::new("123456").unwrap()),
        collected: None,
    };
    assert_eq!(
        engine.confirm(&unanswered, pin).await.unwrap().state,
        SaleState::Settled
    );
    assert_eq!(sandbox.ledger().effective().count(), 2);
    store.close().await.unwrap();
    sandbox.shutdown().await;
}

#[tokio::test]
async fn reconciliation_balances_and_flags_a_difference() {
    let rig = rig().await;
    rig.online("10.00").await;
    rig.online("12.34").await;
    let today = medsettle::upstream::time::cst_day(Utc::now());
    let report = rig.engine.reconcile(today).await.unwrap();
    assert!(report.balanced, "{report:?}");
    // One group of the answers' clearing fields; the configured home groups are empty.
    let line = report.lines.iter().find(|l| l.totals.count != 0).unwrap();
    assert_eq!((line.totals.count, line.totals.medfee), (2, Fen(4_468)));
    assert_eq!(
        (
            line.totals.insutype.as_str(),
            line.totals.clr_type.as_str(),
            line.totals.guessed
        ),
        ("310", "41", 0),
        "grouped by the platform's own answer"
    );
    assert_eq!(
        report.lines.iter().filter(|l| l.totals.count != 0).count(),
        1
    );
    // A settlement the terminal does not know about (booked by someone else under this
    // institution) makes the platform's totals differ.
    let id = rig.online("5.00").await;
    let db = rusqlite::Connection::open(rig.terminal.db_path()).unwrap();
    db.execute("UPDATE sales SET state = 'abandoned' WHERE id = ?1", [&id])
        .unwrap();
    let report = rig.engine.reconcile(today).await.unwrap();
    assert!(!report.balanced);
    let status = medsettle::status::StatusBoard::default();
    medsettle::settle::reconcile::show(&status, &report);
    assert!(
        status
            .snapshot()
            .alarms
            .iter()
            .any(|a| a.code == "reconcile.imbalance")
    );
    rig.close().await;
}

/// Through the daemon: a day that does not balance raises an alarm in `/v1/status` and
/// `/metrics`; the offline queue is visible in both.
#[tokio::test]
async fn an_imbalance_is_an_alarm_in_status_and_metrics() {
    let rig = rig().await;
    // A booking the daemon does not know: made by this institution through another client.
    rig.online("10.00").await;
    // A second terminal of the institution: its own msgid node.
    let text = format!("msgid_node = 2\n{}", section(&rig.sandbox.base_url(), ""));
    let daemon_terminal = Terminal::with(|t| t.push_str(&text));
    let daemon = crate::support::InProcess::start(&daemon_terminal).await;
    let today =
        medsettle::upstream::time::format_date(medsettle::upstream::time::cst_day(Utc::now()));
    let r = crate::support::client()
        .post(daemon.url("/v1/reconcile"))
        .bearer_auth(crate::support::TOKEN)
        .json(&serde_json::json!({ "date": today }))
        .send()
        .await
        .unwrap();
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(report["balanced"], false, "{report}");
    let status = crate::support::get_json(&daemon.url("/v1/status")).await;
    let alarms = status["alarms"].as_array().unwrap();
    assert!(
        alarms.iter().any(|a| a["code"] == "reconcile.imbalance"),
        "{status}"
    );
    assert_eq!(status["offline_queue"]["count"], 0);
    let metrics = crate::support::client()
        .get(daemon.url("/metrics"))
        .bearer_auth(crate::support::TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("medsettle_alarm{code=\"reconcile.imbalance\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("medsettle_offline_sales 0"), "{metrics}");
    daemon.shutdown().await;
    rig.close().await;
}

#[tokio::test]
async fn a_failed_attempt_backs_off_and_a_flush_overrides_the_wait() {
    // Long backoff, so only the flush can explain the second attempt.
    let rig = rig_at(None, "").await;
    let text = section(&rig.sandbox.base_url(), "")
        .replace("retry_first_ms = 100", "retry_first_ms = 60000")
        .replace("retry_max_ms = 200", "retry_max_ms = 60000");
    let terminal = Terminal::with(|t| t.push_str(&text));
    let (store, engine, credentials, _, status) = build(&terminal).await;
    let slow = Rig {
        sandbox: rig.sandbox,
        terminal,
        store,
        engine,
        credentials,
        offset: rig.offset,
        status,
    };
    rig.store.close().await.unwrap();
    let id = slow.sale(Some(SaleMode::ForceOffline), "10.00").await;
    slow.engine.confirm(&id, slow.pin()).await.unwrap();
    slow.sandbox
        .inject(FaultRule::times("1101", Fault::DropBeforeCommit, 1));
    let pass = slow.engine.forward_pass().await.unwrap();
    assert!(pass.link_down, "{pass:?}");
    let pass = slow.engine.forward_pass().await.unwrap();
    assert_eq!((pass.progressed, pass.waiting), (0, 1), "backing off");
    slow.engine.flush();
    let pass = slow.engine.forward_pass().await.unwrap();
    assert_eq!(pass.progressed, 1, "{pass:?}");
    assert_eq!(
        slow.engine.get(&id).await.unwrap().state,
        SaleState::Settled
    );
    slow.close().await;
}

async fn qr_sale(rig: &Rig, fresh: Fresh, mode: Option<SaleMode>) -> Result<String, SaleError> {
    let credential_id = rig.credentials.insert(fresh);
    rig.engine
        .create(NewSale {
            credential_id,
            items: vec![NewItem {
                code: "XA01".into(),
                local_code: None,
                name: String::new(),
                cnt: Qty::parse("1").unwrap(),
                pric: Price::parse("8.80").unwrap(),
                trace: None,
            }],
            mode,
            use_account: Some(true),
        })
        .await
        .map(|s| s.id)
}

#[tokio::test]
async fn an_evoucher_sale_settles_online_with_its_token_and_is_never_stored() {
    let rig = rig().await;
    let code = rig.sandbox.issue_evoucher("110105199003071239").unwrap();
    let fresh = || Fresh::EVoucher(medsettle::qr::evoucher::EVoucherCode::parse(&code).unwrap());
    let e = qr_sale(&rig, fresh(), Some(SaleMode::ForceOffline))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SaleError::NotStorable { kind: "evoucher" }),
        "{e:?}"
    );
    let id = qr_sale(&rig, fresh(), None).await.unwrap();
    let sale = rig.engine.get(&id).await.unwrap();
    assert_eq!(
        sale.mode,
        SaleMode::RequireOnline,
        "QR sales default to require_online"
    );
    rig.engine.presettle(&id).await.unwrap();
    // The token is the consent: no PIN.
    let done = rig
        .engine
        .confirm(&id, Confirmation::default())
        .await
        .unwrap();
    assert_eq!(done.state, SaleState::Settled, "{:?}", done.last_error);
    assert_eq!(rig.effective(), 1);
    assert_eq!(rig.sandbox.ledger().settlements[0].psn_no, PSN);
    rig.close().await;
}

#[tokio::test]
async fn a_signed_essc_sale_is_stored_only_when_policy_allows() {
    for allowed in [false, true] {
        let extra = format!("store_essc_offline = {allowed}\n");
        let rig = rig_at(None, &extra).await;
        let code = rig.sandbox.mint_essc("110105199003071239").unwrap();
        let mut keys = medsettle::qr::essc::KeyRing::new();
        keys.insert_hex(&rig.sandbox.essc_kid(), &rig.sandbox.essc_public_key_hex())
            .unwrap();
        let guard = medsettle::qr::essc::MemoryReplayGuard::new(4);
        let id = medsettle::qr::essc::Verifier::new(keys)
            .verify(&code, Utc::now().timestamp(), &guard)
            .unwrap();
        let result = qr_sale(&rig, Fresh::Essc(id), Some(SaleMode::ForceOffline)).await;
        if allowed {
            let id = result.unwrap();
            rig.engine.confirm(&id, rig.pin()).await.unwrap();
            rig.engine.forward_pass().await.unwrap();
            let sale = rig.engine.get(&id).await.unwrap();
            assert_eq!(sale.state, SaleState::Settled, "{:?}", sale.last_error);
        } else {
            let e = result.unwrap_err();
            assert!(
                matches!(e, SaleError::NotStorable { kind: "essc" }),
                "{e:?}"
            );
            assert!(
                rig.store
                    .sales_in(&["captured"], false, None, 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
        rig.close().await;
    }
}

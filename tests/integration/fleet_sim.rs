//! The hospital fleet, simulated (issue 17, "Must show"): twenty real `medsettle` processes,
//! each with its own store and terminal id and a distinct two-digit msgid node, all under ONE
//! institution code, against ONE sandbox insurer and ONE PostgreSQL ledger. Every terminal
//! makes card sales (online, and stored offline for the forwarder) and e-voucher QR sales
//! through its local API, and refunds some. In the middle PostgreSQL goes down while sales go
//! on, and a few terminals are SIGKILLed (one sale in flight, facts waiting in the outbox) and
//! started again on the same store. Afterwards: no msgid reused (the sandbox's own check, and
//! every settlement's msgid distinct), every settlement and refund in the ledger exactly once
//! with the platform's amounts, the institution-wide 3201 balanced, and an injected
//! platform-only settlement found by 3202, with one runner at a time.
//! Waiting is on conditions (`support::poll::until`), never on sleeps.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use medsettle::upstream::Fen;
use medsettle_sandbox::{
    Fault, FaultRule, Injected, Ledger, Sandbox, SandboxConfig, SettlementRecord, SettlementStatus,
};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::support::poll::until;
use crate::support::{Api, NORMAL_CARD, Postgres, Process, TOKEN, Terminal, client, memory};

/// Terminals of the institution.
const TERMINALS: usize = 20;
/// Sales each terminal makes.
const SALES: usize = 5;
/// The terminals SIGKILLed while PostgreSQL is down.
const VICTIMS: [usize; 4] = [2, 7, 12, 17];
/// The victims killed once the platform has committed their 2102 and holds its answer (the
/// others are killed with the confirmation just sent, usually before it arrives).
const HELD_VICTIMS: [usize; 2] = [7, 12];
/// The sale of a victim that is in flight when it is killed.
const KILLED_SALE: usize = 3;
const FIXMEDINS: &str = "H11010500001";
/// 张三 holds the virtual card (`fixtures/cards/normal.json`); 李四 (insured in Shanghai, so
/// another 3201 group) pays by e-voucher.
const ZHANG_PSN: &str = "P110105000001";
const LISI_ID: &str = "310104198511202465";
const LISI_PSN: &str = "P310104000002";
const PSN_KEY: &str = "fleet-sim-psn-key-0123456789abcdef";
/// The bound on every wait of the simulation.
const WAIT: Duration = Duration::from_secs(90);
/// What each daemon may use at most.
const RSS_BUDGET_KIB: u64 = 160 * 1024;

/// One terminal of the fleet: its folder (store, config), its process and its sales.
struct Node {
    index: usize,
    id: String,
    terminal: Terminal,
    config: PathBuf,
    process: Option<Process>,
    api: Arc<Api>,
    sales: Vec<Sale>,
    kills: usize,
    /// The state the killed sale was found in once the daemon was back.
    after_kill: Option<String>,
}

/// A sale the simulation made and what became of it.
#[derive(Debug, Clone)]
struct Sale {
    id: String,
    kind: &'static str,
    killed: bool,
    refunded: bool,
    state: String,
}

/// What the terminals' tasks share with the conductor.
struct Shared {
    sandbox: Arc<Sandbox>,
    /// Sales finished (final state) so far, by all terminals.
    done: AtomicUsize,
    /// Sales finished while PostgreSQL was down.
    done_while_down: AtomicUsize,
    /// Victims killed and started again.
    restarted: AtomicUsize,
    /// `true` while PostgreSQL is down.
    down: watch::Receiver<bool>,
    /// Held while a victim holds the sandbox's 2102 answers (one at a time).
    holding: tokio::sync::Mutex<()>,
    /// Set when a terminal's task panicked, so the conductor stops waiting at once.
    failed: std::sync::atomic::AtomicBool,
}

/// Marks the simulation failed when a terminal's task unwinds.
struct FailFlag(Arc<Shared>);

impl Drop for FailFlag {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.failed.store(true, Ordering::SeqCst);
        }
    }
}

/// The msgid node of terminal `i`: two digits, distinct for the twenty (7 is prime to 100).
fn node_of(i: usize) -> u16 {
    u16::try_from((7 * i + 3) % 100).unwrap()
}

/// The config of terminal `i`: the sandbox (protocol and e-voucher endpoints), 张三's virtual
/// card, no PIN, fast retries, its id and msgid node, and `[fleet]` with a 1 s heartbeat.
fn node_config(i: usize, sandbox: &Sandbox, secrets: &Path) -> (Terminal, PathBuf) {
    let base = sandbox.base_url();
    let ec = sandbox.ec_url();
    let terminal = Terminal::with(|t| {
        t.push_str(&format!(
            "\n[upstream]\nbase_url = \"{base}\"\nec_url = \"{ec}\"\nallow_plain_http = true\n\
             signtype = \"MOCK\"\nconnect_timeout_ms = 500\nread_timeout_ms = 3000\n\
             timeout_ms = 4000\n\n[settle]\nskip_pin_consent = true\nreconcile_at = \"\"\n\
             retry_first_ms = 100\nretry_max_ms = 400\n\n[qr]\ndebounce_ms = 0\n"
        ));
    });
    let text = terminal.config_with(|c| {
        c.terminal.id = format!("T{i:04}");
        c.terminal.msgid_node = Some(node_of(i));
        c.terminal.msgid_node_digits = Some(2);
        c.readers.backend = medsettle::config::ReaderBackend::Virtual;
        c.readers.virtual_profile = Some(NORMAL_CARD.into());
        c.fleet = Some(crate::support::fleet_section(
            &secrets.join("psn-key"),
            &secrets.join("url"),
            "heartbeat_s = 1\nretry_first_ms = 50\nretry_max_ms = 300",
        ));
    });
    assert!(text.contains(FIXMEDINS), "one institution for all");
    let path = terminal.path().join("fleet-sim.toml");
    std::fs::write(&path, text).unwrap();
    (terminal, path)
}

/// Runs the daemon on `config`, its notification socket in a folder of its own for each run
/// (a restarted daemon gets a fresh one), and waits for READY.
async fn launch(terminal: &Terminal, config: &Path, run: usize) -> Process {
    let dir = terminal.path().join(format!("run-{run}"));
    std::fs::create_dir_all(&dir).unwrap();
    let args = ["run".as_ref(), "--config".as_ref(), config.as_os_str()];
    Process::launch(&dir, &args, |c| {
        c.env("RUST_LOG", "warn");
    })
    .await
}

impl Node {
    async fn start(index: usize, sandbox: &Sandbox, secrets: &Path) -> Node {
        let (terminal, config) = node_config(index, sandbox, secrets);
        let process = launch(&terminal, &config, 0).await;
        Node {
            index,
            id: format!("T{index:04}"),
            api: Arc::new(Api::new(&process)),
            terminal,
            config,
            process: Some(process),
            sales: Vec::new(),
            kills: 0,
            after_kill: None,
        }
    }

    fn process(&self) -> &Process {
        self.process.as_ref().expect("the daemon runs")
    }

    /// SIGKILL, whatever is in flight; the process is reaped and must have died of it.
    fn kill(&mut self) {
        let p = self.process.take().expect("the daemon runs");
        p.signal(9);
        let (status, _) = p.wait();
        assert_eq!(status.signal(), Some(9), "{} died of SIGKILL", self.id);
        self.kills += 1;
    }

    /// Starts the daemon again on the same store.
    async fn restart(&mut self) {
        let p = launch(&self.terminal, &self.config, self.kills).await;
        self.api = Arc::new(Api::new(&p));
        self.process = Some(p);
    }

    /// `medsettle_fleet_outbox_rows` from `/metrics`.
    async fn outbox_rows(&self) -> u64 {
        outbox_rows(&self.process().url("/metrics")).await
    }
}

async fn outbox_rows(url: &str) -> u64 {
    let text = client()
        .get(url)
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("medsettle_fleet_outbox_rows "))
        .unwrap_or_else(|| panic!("no outbox gauge in {text}"));
    value.parse::<f64>().unwrap() as u64
}

/// A credential for a sale: 张三's card from the virtual reader, or an e-voucher of 李四 the
/// sandbox issued, submitted as a scan.
async fn credential(api: &Api, sandbox: &Sandbox, qr: bool) -> String {
    if !qr {
        return api.credential().await;
    }
    let code = sandbox.issue_evoucher(LISI_ID).unwrap();
    let (status, scan) = api.post("/v1/qr/submit", json!({ "text": code })).await;
    assert_eq!(status, 200, "{scan}");
    assert_eq!(scan["kind"], "e-voucher", "{scan}");
    scan["credential_id"].as_str().unwrap().to_owned()
}

/// Starts sale `k` of terminal `i` up to the confirmation: card sales alternate between
/// online and stored offline (the forwarder settles those), e-voucher sales are online.
async fn begin(api: &Api, sandbox: &Sandbox, i: usize, k: usize) -> (String, &'static str) {
    let qr = (i + k) % 3 == 2;
    let offline = !qr && (i + k) % 4 == 1;
    let cred = credential(api, sandbox, qr).await;
    let pric = format!("{}.{:02}", 3 + (i + k) % 7, (i * 13 + k * 29) % 100);
    let mode = if offline {
        "force_offline"
    } else {
        "require_online"
    };
    let id = api.new_sale(&cred, mode, &pric).await;
    if !offline {
        let (status, v) = api
            .post(&format!("/v1/sales/{id}/presettle"), json!({}))
            .await;
        assert_eq!(status, 200, "{v}");
    }
    let kind = match (qr, offline) {
        (true, _) => "qr",
        (false, true) => "card-offline",
        (false, false) => "card",
    };
    (id, kind)
}

/// Drives sale `id` to a final state the way a cashier would (confirm what waits for it,
/// abandon what was never presettled) while the daemon works on the rest; its final state.
async fn finish(api: &Arc<Api>, id: &str) -> String {
    until(&format!("sale {id} ends"), WAIT, || {
        let api = Arc::clone(api);
        let id = id.to_owned();
        async move {
            let v = api.sale(&id).await;
            let sale = &v["sale"];
            let stored = sale["stored"].as_bool().unwrap_or(false);
            match sale["state"].as_str().unwrap_or_default() {
                "settled" | "cancelled" | "abandoned" => true,
                "presettled" | "confirmed" => {
                    api.post(&format!("/v1/sales/{id}/confirm"), json!({}))
                        .await;
                    false
                }
                "reversed" if !stored => {
                    api.post(&format!("/v1/sales/{id}/confirm"), json!({}))
                        .await;
                    false
                }
                "captured" | "identified" if !stored => {
                    api.post(&format!("/v1/sales/{id}/cancel"), json!({})).await;
                    false
                }
                "held" | "expired" | "rejected" => panic!("sale {id} needs an operator: {v}"),
                _ => false,
            }
        }
    })
    .await;
    api.sale(id).await["sale"]["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Refunds (2103) settled sale `id` and waits until it is cancelled.
async fn refund(api: &Arc<Api>, id: &str) {
    let (status, v) = api.post(&format!("/v1/sales/{id}/cancel"), json!({})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(finish(api, id).await, "cancelled");
}

impl Shared {
    fn finished(&self) {
        self.done.fetch_add(1, Ordering::SeqCst);
        if *self.down.borrow() {
            self.done_while_down.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// One terminal's day. A victim, once PostgreSQL is down, makes one more sale (its facts wait
/// in the outbox), then is killed with its next sale's confirmation in flight, is started
/// again on the same store and finishes that sale and the rest.
async fn work_day(mut node: Node, shared: Arc<Shared>) -> Node {
    let _flag = FailFlag(Arc::clone(&shared));
    let victim = VICTIMS.contains(&node.index);
    let sandbox = Arc::clone(&shared.sandbox);
    for k in 0..SALES {
        if victim && k == KILLED_SALE - 1 {
            let mut down = shared.down.clone();
            down.wait_for(|d| *d).await.unwrap();
        }
        let (id, kind) = begin(&node.api, &sandbox, node.index, k).await;
        let killed = victim && k == KILLED_SALE;
        if killed {
            assert!(
                node.outbox_rows().await > 0,
                "{}: the facts of the sale made while PostgreSQL is down wait in the outbox",
                node.id
            );
            // The cashier confirms; the terminal dies with the request in flight.
            let api = Arc::clone(&node.api);
            let path = format!("/v1/sales/{id}/confirm");
            if HELD_VICTIMS.contains(&node.index) {
                // The platform settles and holds every 2102 answer until this victim's
                // settlement is booked; then the victim dies before it hears the answer, and
                // the answers held (other terminals' too) go out.
                let _turn = shared.holding.lock().await;
                sandbox.inject(FaultRule {
                    infno: "2102".into(),
                    fault: Fault::Hold { commit: true },
                    times: None,
                    probability_permille: None,
                    seed: 0,
                });
                let confirm =
                    tokio::spawn(async move { api.post_keyed(&path, None, &json!({})).await });
                until(&format!("the platform books {id}"), WAIT, || {
                    let booked = sandbox
                        .ledger()
                        .settlements
                        .iter()
                        .any(|s| s.chrg_bchno == id);
                    async move { booked }
                })
                .await;
                node.kill();
                sandbox.clear_faults();
                sandbox.release();
                let _ = confirm.await;
            } else {
                // Killed right after sending the confirmation (or before it arrived: either
                // way the restarted daemon must end the sale exactly once).
                let confirm =
                    tokio::spawn(async move { api.post_keyed(&path, None, &json!({})).await });
                tokio::task::yield_now().await;
                node.kill();
                let _ = confirm.await;
            }
            node.restart().await;
            let found = node.api.sale(&id).await["sale"]["state"].clone();
            node.after_kill = Some(found.as_str().unwrap_or_default().to_owned());
            shared.restarted.fetch_add(1, Ordering::SeqCst);
        } else {
            // Usually settled (or queued) at once; a 2102 answer a victim's kill held past
            // this terminal's timeout leaves the sale in doubt instead, and `finish` waits for
            // the daemon to clear that up. Either way the final state is what counts.
            let (status, v) = node
                .api
                .post(&format!("/v1/sales/{id}/confirm"), json!({}))
                .await;
            assert!(!(300..500).contains(&status), "{}: {v}", node.id);
        }
        let mut state = finish(&node.api, &id).await;
        let refunded = state == "settled" && (node.index + k) % 5 == 3;
        if refunded {
            refund(&node.api, &id).await;
            state = "cancelled".into();
        }
        node.sales.push(Sale {
            id,
            kind,
            killed,
            refunded,
            state,
        });
        shared.finished();
    }
    node
}

/// psql's rows, split on `|`.
fn rows(pg: &Postgres, sql: &str) -> Vec<Vec<String>> {
    pg.query(sql)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

fn number(pg: &Postgres, sql: &str) -> i64 {
    pg.query(sql).trim().parse().unwrap()
}

/// `POST /v1/fleet/reconcile` of `day` on `api`: (status, body).
async fn fleet_reconcile(api: &Api, day: &str) -> (u16, Value) {
    api.post(
        "/v1/fleet/reconcile",
        json!({ "date": day, "detail": false }),
    )
    .await
}

/// The differences 3202 found in a report, by class: (local only, platform only, amount
/// differs), summed over its groups (as `Report::differences`).
fn differences(report: &Value) -> (u64, u64, u64) {
    let count = |d: &Value, key: &str| d["report"]["counts"][key].as_u64().unwrap_or(0);
    report["details"]
        .as_array()
        .into_iter()
        .flatten()
        .fold((0, 0, 0), |(l, p, a), d| {
            (
                l + count(d, "local_only"),
                p + count(d, "platform_only"),
                a + count(d, "amount_differs"),
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fleet_of_twenty_terminals_through_a_postgres_outage_and_kills() {
    let started = Instant::now();
    let mut pg = Postgres::start_new();
    let sandbox = Arc::new(
        medsettle_sandbox::start(SandboxConfig::default())
            .await
            .unwrap(),
    );
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("url"), pg.url()).unwrap();
    std::fs::write(secrets.path().join("psn-key"), PSN_KEY).unwrap();

    // Twenty daemons, started at once.
    let starting: Vec<_> = (0..TERMINALS)
        .map(|i| {
            let sandbox = Arc::clone(&sandbox);
            let secrets = secrets.path().to_owned();
            tokio::spawn(async move { Node::start(i, &sandbox, &secrets).await })
        })
        .collect();
    let mut nodes = Vec::new();
    for s in starting {
        nodes.push(s.await.unwrap());
    }
    let up_at = started.elapsed();
    let (set_down, down) = watch::channel(false);
    let shared = Arc::new(Shared {
        sandbox: Arc::clone(&sandbox),
        done: AtomicUsize::new(0),
        done_while_down: AtomicUsize::new(0),
        restarted: AtomicUsize::new(0),
        down,
        holding: tokio::sync::Mutex::new(()),
        failed: std::sync::atomic::AtomicBool::new(false),
    });
    let alive = |shared: &Shared| {
        assert!(
            !shared.failed.load(Ordering::SeqCst),
            "a terminal failed (its panic is above)"
        );
    };
    let days: Vec<_> = nodes
        .into_iter()
        .map(|n| tokio::spawn(work_day(n, Arc::clone(&shared))))
        .collect();

    // Once every terminal has sold about once, PostgreSQL goes down while sales go on; it
    // comes back once the victims were killed and restarted and sales were made meanwhile.
    until("a sale per terminal", WAIT, || {
        alive(&shared);
        let n = shared.done.load(Ordering::SeqCst);
        async move { n >= TERMINALS }
    })
    .await;
    tokio::task::block_in_place(|| pg.stop());
    set_down.send(true).unwrap();
    until(
        "the victims killed and restarted, sales made meanwhile",
        WAIT,
        || {
            alive(&shared);
            let restarted = shared.restarted.load(Ordering::SeqCst);
            let sold = shared.done_while_down.load(Ordering::SeqCst);
            async move { restarted == VICTIMS.len() && sold >= 2 * VICTIMS.len() }
        },
    )
    .await;
    set_down.send(false).unwrap();
    tokio::task::block_in_place(|| pg.start());
    let sold_while_down = shared.done_while_down.load(Ordering::SeqCst);

    let mut nodes = Vec::new();
    for d in days {
        nodes.push(d.await.unwrap());
    }
    let sales_at = started.elapsed();

    // Every daemon fits the budget.
    let rss: Vec<(u64, u64)> = nodes.iter().map(|n| memory(n.process().pid())).collect();
    let total_rss: u64 = rss.iter().map(|r| r.0).sum();
    let peak = rss.iter().map(|r| r.1).max().unwrap();
    for (n, (now, hwm)) in nodes.iter().zip(&rss) {
        assert!(
            *hwm < RSS_BUDGET_KIB,
            "{} peaked at {hwm} KiB (now {now} KiB)",
            n.id
        );
    }

    // Every outbox drains and the heartbeats say so.
    let metrics: Vec<String> = nodes.iter().map(|n| n.process().url("/metrics")).collect();
    until("every terminal's outbox drained", WAIT, || {
        let metrics = metrics.clone();
        let beats = number(
            &pg,
            &format!(
                "SELECT count(*) FROM terminals WHERE fixmedins_code = '{FIXMEDINS}' \
                 AND outbox_rows = 0"
            ),
        );
        async move {
            if beats != TERMINALS as i64 {
                return false;
            }
            for url in &metrics {
                if outbox_rows(url).await != 0 {
                    return false;
                }
            }
            true
        }
    })
    .await;
    let drained_at = started.elapsed();

    let sales: Vec<(&Node, &Sale)> = nodes
        .iter()
        .flat_map(|n| n.sales.iter().map(move |s| (n, s)))
        .collect();
    assert_eq!(sales.len(), TERMINALS * SALES);
    for (n, s) in &sales {
        let allowed: &[&str] = if s.killed {
            &["settled", "cancelled", "abandoned"]
        } else {
            &["settled", "cancelled"]
        };
        assert!(
            allowed.contains(&s.state.as_str()),
            "{} sale {s:?} ended {}",
            n.id,
            s.state
        );
    }
    for kind in ["card", "card-offline", "qr"] {
        assert!(
            sales
                .iter()
                .any(|(_, s)| s.kind == kind && s.state != "abandoned"),
            "no {kind} sale settled"
        );
    }
    assert!(sales.iter().any(|(_, s)| s.refunded), "no refund made");
    assert_eq!(
        nodes.iter().map(|n| n.kills).sum::<usize>(),
        VICTIMS.len(),
        "each victim killed once"
    );

    // 1. No msgid reused. 2. Every settlement and refund in the ledger exactly once.
    let ledger = sandbox.ledger();
    assert_no_msgid_reused(&ledger, &sales);
    let counts = assert_ledger_matches_platform(&pg, &ledger, &sales);
    let checked_at = started.elapsed();
    println!(
        "fleet sim: {TERMINALS} terminals up in {:.1} s; {} sales ({} settled, {} refunded, \
         {} while PostgreSQL was down), {} kills (killed sales found {:?} after the restart), \
         {} platform settlements reversed; sales done at {:.1} s, outboxes drained at \
         {:.1} s, ledger checked at {:.1} s; RSS total {} MiB, peak of one daemon {} MiB",
        up_at.as_secs_f64(),
        sales.len(),
        counts.settled,
        counts.refunded,
        sold_while_down,
        VICTIMS.len(),
        nodes
            .iter()
            .filter_map(|n| n.after_kill.clone())
            .collect::<Vec<_>>(),
        counts.reversed,
        sales_at.as_secs_f64(),
        drained_at.as_secs_f64(),
        checked_at.as_secs_f64(),
        total_rss / 1024,
        peak / 1024,
    );

    // 3. The institution-wide reconciliation.
    let ran = assert_fleet_reconcile(&pg, &sandbox, &nodes, &counts.days).await;
    println!(
        "fleet sim: reconciled at {:.1} s ({} 3201 groups; two runs at once: {ran} ran, {} busy)",
        started.elapsed().as_secs_f64(),
        counts.groups,
        2 - ran
    );
    drop(nodes);
    drop(shared);
    if let Ok(s) = Arc::try_unwrap(sandbox) {
        s.shutdown().await;
    }
}

/// No msgid reused: the sandbox refused none, no two settlements or refunds share one, and
/// each terminal's msgids carry its own node in the sequence's first two digits.
fn assert_no_msgid_reused(ledger: &Ledger, sales: &[(&Node, &Sale)]) {
    assert!(
        ledger.reused_msgids.is_empty(),
        "msgids reused across the fleet: {:?}",
        ledger.reused_msgids
    );
    let mut msgids = BTreeSet::new();
    for s in &ledger.settlements {
        assert!(msgids.insert(s.msgid.clone()), "msgid {} twice", s.msgid);
        if let Some(c) = &s.cancel_msgid {
            assert!(msgids.insert(c.clone()), "msgid {c} twice");
        }
    }
    let node_by_sale: HashMap<&str, u16> = sales
        .iter()
        .map(|(n, s)| (s.id.as_str(), node_of(n.index)))
        .collect();
    for s in &ledger.settlements {
        assert_eq!(s.fixmedins_code, FIXMEDINS);
        let node = node_by_sale[s.chrg_bchno.as_str()];
        let seq = &s.msgid[s.msgid.len() - 4..];
        assert_eq!(&seq[..2], format!("{node:02}"), "msgid {}", s.msgid);
    }
}

/// What the ledger check counted.
struct Counts {
    /// Sales settled (and maybe refunded since).
    settled: usize,
    refunded: usize,
    /// Settlements the platform reversed (2601 after a kill).
    reversed: usize,
    /// 3201 groups (clearing institutions) of the day.
    groups: usize,
    /// The CST days the settlements count on.
    days: BTreeSet<String>,
}

/// Every settlement the platform holds (effective or cancelled) is in the ledger exactly
/// once, of the terminal and sale that made it, under its msgid, with the platform's
/// amounts and state; each refund once, as a negative line under its 2103 msgid; nothing
/// else. psn_no only as the keyed hash, one per person.
fn assert_ledger_matches_platform(
    pg: &Postgres,
    ledger: &Ledger,
    sales: &[(&Node, &Sale)],
) -> Counts {
    let platform: BTreeMap<&str, &SettlementRecord> = ledger
        .settlements
        .iter()
        .filter(|s| s.status != SettlementStatus::Reversed)
        .map(|s| (s.setl_id.as_str(), s))
        .collect();
    let facts = rows(
        pg,
        &format!(
            "SELECT setl_id, state, msgid, medfee_fen, fund_fen, account_fen, terminal_id, \
             sale_id FROM settlement_facts WHERE fixmedins_code = '{FIXMEDINS}' \
             AND NOT refund AND state <> 'void' ORDER BY setl_id"
        ),
    );
    let mut seen = BTreeSet::new();
    for f in &facts {
        assert!(
            seen.insert(f[0].clone()),
            "setl_id {} twice: {facts:?}",
            f[0]
        );
        let p = platform
            .get(f[0].as_str())
            .unwrap_or_else(|| panic!("the ledger's {f:?} is not on the platform"));
        let state = match p.status {
            SettlementStatus::Effective => "settled",
            _ => "cancelled",
        };
        let amounts = [
            p.medfee_sumamt.0.to_string(),
            p.fund_pay_sumamt.0.to_string(),
            p.acct_pay.0.to_string(),
        ];
        assert_eq!(
            (f[1].as_str(), f[2].as_str(), &f[3..6]),
            (state, p.msgid.as_str(), &amounts[..]),
            "{f:?} against {p:?}"
        );
        assert_eq!(f[7], p.chrg_bchno, "{f:?}");
        let (n, _) = sales.iter().find(|(_, s)| s.id == f[7]).unwrap();
        assert_eq!(f[6], n.id, "{f:?}");
    }
    assert_eq!(
        seen.iter().map(String::as_str).collect::<Vec<_>>(),
        platform.keys().copied().collect::<Vec<_>>(),
        "the ledger and the platform hold the same settlements"
    );
    let settled = sales
        .iter()
        .filter(|(_, s)| s.state == "settled" || s.state == "cancelled")
        .count();
    assert_eq!(facts.len(), settled, "one line per settled sale");
    let refunds = rows(
        pg,
        &format!(
            "SELECT original_setl_id, msgid, medfee_fen FROM settlement_facts \
             WHERE fixmedins_code = '{FIXMEDINS}' AND refund AND state <> 'void' \
             ORDER BY original_setl_id"
        ),
    );
    let cancelled: Vec<Vec<String>> = platform
        .values()
        .filter(|p| p.status == SettlementStatus::Cancelled)
        .map(|p| {
            vec![
                p.setl_id.clone(),
                p.cancel_msgid.clone().unwrap_or_default(),
                (-p.medfee_sumamt.0).to_string(),
            ]
        })
        .collect();
    assert_eq!(refunds, cancelled, "each refund once");
    let refunded = sales.iter().filter(|(_, s)| s.state == "cancelled").count();
    assert_eq!(cancelled.len(), refunded);
    // Two 3201 groups (张三 clears in Beijing, 李四 in Shanghai); in the ledger psn_no only
    // as the keyed hash, one per person, never in clear.
    let groups: BTreeSet<&str> = platform.values().map(|p| p.clr_optins.as_str()).collect();
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert_eq!(
        number(pg, "SELECT count(DISTINCT psn_hash) FROM settlement_facts"),
        2
    );
    let dump = pg.query("SELECT string_agg(row_to_json(t)::text, E'\\n') FROM settlement_facts t");
    for clear in [ZHANG_PSN, LISI_PSN, LISI_ID] {
        assert!(!dump.contains(clear), "{clear} reached PostgreSQL");
    }
    Counts {
        settled,
        refunded,
        reversed: ledger.settlements.len() - platform.len(),
        groups: groups.len(),
        days: platform.values().map(|p| p.day.clone()).collect(),
    }
}

/// The institution-wide 3201 from the ledger balances on every sale day; after a settlement
/// only the platform has is injected, 3202 finds it (and nothing else); two terminals asking
/// at once never run at the same time: one is refused as busy, or they run one after the
/// other, each run whole and stored once. Answers how many of the two ran.
async fn assert_fleet_reconcile(
    pg: &Postgres,
    sandbox: &Sandbox,
    nodes: &[Node],
    days: &BTreeSet<String>,
) -> usize {
    for (k, d) in days.iter().enumerate() {
        let (status, v) = fleet_reconcile(&nodes[k].api, d).await;
        assert_eq!(status, 200, "fleet reconcile of {d}: {v}");
        assert_eq!(v["ran"], true, "{v}");
        assert_eq!(v["runner"], nodes[k].id, "{v}");
        assert_eq!(v["report"]["day"], d.as_str(), "{v}");
        assert_eq!(v["report"]["balanced"], true, "{v}");
        assert_eq!(v["incomplete"], json!([]), "every outbox drained: {v}");
        assert_eq!(differences(&v["report"]), (0, 0, 0), "{v}");
    }
    let day = days.last().unwrap().clone();
    let injected = "SIMINJECTED0000000000000001";
    sandbox.inject_settlement(Injected {
        setl_id: injected.into(),
        mdtrt_id: "SIMINJECTEDMDTRT0001".into(),
        psn_no: ZHANG_PSN.into(),
        insutype: "310".into(),
        fixmedins_code: FIXMEDINS.into(),
        day: day.clone(),
        medfee_sumamt: Fen(4_321),
        fund_pay_sumamt: Fen(0),
        acct_pay: Fen(4_321),
        msgid: String::new(),
        clr_type: "41".into(),
        clr_optins: "110105".into(),
    });
    let found = |v: &Value| {
        assert_eq!(v["ran"], true, "{v}");
        assert_eq!(v["report"]["balanced"], false, "{v}");
        assert_eq!(differences(&v["report"]), (0, 1, 0), "{v}");
        let names_it = v["report"]["details"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|d| d["report"]["entries"].as_array().into_iter().flatten())
            .any(|e| e["setl_id"] == injected && e["class"] == "platform_only");
        assert!(names_it, "3202 names the injected settlement: {v}");
    };
    let (status, v) = fleet_reconcile(&nodes[5].api, &day).await;
    assert_eq!(status, 200, "{v}");
    found(&v);
    let verdicts = format!(
        "SELECT count(*) FROM reconciliations WHERE fixmedins_code = '{FIXMEDINS}' \
         AND day = '{day}' AND group_key = ''"
    );
    let before = number(pg, &verdicts);
    let (a, b) = tokio::join!(
        fleet_reconcile(&nodes[0].api, &day),
        fleet_reconcile(&nodes[1].api, &day)
    );
    let mut ran = 0;
    for ((status, v), other) in [(&a, &nodes[1].id), (&b, &nodes[0].id)] {
        match status {
            200 => {
                found(v);
                ran += 1;
            }
            // Refused while the other terminal held the institution-day lock, which is
            // named (a run that ended before the look-up leaves the day free and this one runs).
            409 => {
                assert_eq!(v["code"], "fleet.reconcile_busy", "{v}");
                assert_eq!(v["details"]["runner"], other.as_str(), "{v}");
            }
            status => panic!("fleet reconcile answered {status}: {v}"),
        }
    }
    assert!(ran >= 1, "one of them ran: {a:?} {b:?}");
    assert_eq!(
        number(pg, &verdicts),
        before + i64::try_from(ran).unwrap(),
        "each run stored its verdict once"
    );
    ran
}

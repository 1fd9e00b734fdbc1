//! The platform client's cost per settlement, next to the loopback round trip it rides on.
//! Run with `cargo bench --bench upstream` (release; the sandbox insurer runs in-process on
//! 127.0.0.1 with no injected latency).
//!
//! 1. Client overhead, pure CPU: build + sign (SM3 digest, then SM2 signature) a 2102 envelope, and parse + classify +
//!    type + check its answer — what the client adds to every settlement besides I/O.
//! 2. Raw loopback round trip: a prebuilt 1101 body POSTed to the sandbox with reqwest and the
//!    body read (the sandbox's own work included), no client logic.
//! 3. Full client calls: 1101 through `Client::call` and 2102 through `prepare` + `send` (the
//!    audit request and the audit answer committed to SQLite with synchronous=FULL — two
//!    durable commits per request; the msgid counter is reserved in blocks of 64 — plus the
//!    HTTP exchange).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use medsettle::config::{Config, SignType};
use medsettle::store::Store;
use medsettle::upstream::calls::settlement;
use medsettle::upstream::client::{CallOptions, Envelope, build_body};
use medsettle::upstream::envelope::{Terminal, classify};
use medsettle::upstream::signing::RequestSigner;
use medsettle::upstream::tx::fee::FeeDetail;
use medsettle::upstream::tx::identify;
use medsettle::upstream::tx::person::CertType;
use medsettle::upstream::tx::pharmacy::{FeeNode, PharmacyInput, PharmacySale};
use medsettle::upstream::tx::settle::Settlement;
use medsettle::upstream::{Fen, MsgId, Price, Qty, time};

const PURE_ROUNDS: usize = 20_000;
const NET_ROUNDS: usize = 2_000;
const PSN: &str = "P110105000001";

fn main() {
    medsettle::upstream::transport::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    pure_overhead();
    rt.block_on(network());
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what:<44} p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms  ({} runs)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
        samples.len()
    );
}

fn sale(bchno: &str) -> PharmacyInput {
    let at = time::format_inf_time(Utc::now());
    let line = |sn: &str, code: &str, cnt: &str, pric: &str| {
        let (cnt, pric) = (Qty::parse(cnt).unwrap(), Price::parse(pric).unwrap());
        FeeDetail {
            feedetl_sn: sn.into(),
            psn_no: PSN.into(),
            chrg_bchno: bchno.into(),
            fee_ocur_time: at.clone(),
            med_list_codg: code.into(),
            medins_list_codg: format!("L-{code}"),
            cnt,
            pric,
            det_item_fee_sumamt: medsettle::upstream::quantity::line_amount(cnt, pric).unwrap(),
            ..FeeDetail::default()
        }
    };
    let lines = vec![
        line("1", "XA01BAA123A001010100001", "2", "0.450000"),
        line("2", "XB02CAA456B002020200002", "1", "0.370000"),
    ];
    let total = Fen::checked_sum(lines.iter().map(|l| l.det_item_fee_sumamt)).unwrap();
    let sale = PharmacySale {
        psn_no: PSN.into(),
        mdtrt_cert_type: CertType::SocialSecurityCard,
        mdtrt_cert_no: "M12345678".into(),
        begntime: at,
        medfee_sumamt: total,
        ipt_otp_no: bchno.into(),
        atddr_no: String::new(),
        dr_name: String::new(),
        fixmedins_code: "H11010500001".into(),
        fixmedins_name: "基准测试药房".into(),
        insutype: "310".into(),
        med_type: "41".into(),
        acct_used_flag: true,
        psn_setlway: "01".into(),
        chrg_bchno: bchno.into(),
        invono: None,
        trace_counts: None,
    };
    PharmacyInput::presettle(sale, lines, FeeNode::Feedetail)
        .unwrap()
        .into_settle(&format!("INV{bchno}"))
}

fn pure_overhead() {
    let terminal = Terminal {
        mdtrtarea_admvs: "110105".into(),
        recer_sys_code: "YBXT".into(),
        dev_no: "BENCH".into(),
        infver: "V1.0".into(),
        opter_type: "1".into(),
        opter: "0001".into(),
        opter_name: "收费员".into(),
        fixmedins_code: "H11010500001".into(),
        fixmedins_name: "基准测试药房".into(),
        ..Terminal::default()
    };
    let secret = medsettle::qr::essc::generate_secret_hex();
    for (name, signer) in [
        ("SM3", RequestSigner::new(SignType::Sm3, None).unwrap()),
        (
            "SM2",
            RequestSigner::new(SignType::Sm2, Some(&secret)).unwrap(),
        ),
    ] {
        overhead_with(name, &terminal, &signer);
    }
}

fn overhead_with(name: &str, terminal: &Terminal, signer: &RequestSigner) {
    let input = serde_json::to_value(sale("B1")).unwrap();
    let answer = include_bytes!("../fixtures/upstream/2102_response.json");
    let mut build = Vec::with_capacity(PURE_ROUNDS);
    let mut parse = Vec::with_capacity(PURE_ROUNDS);
    let mut both = Vec::with_capacity(PURE_ROUNDS);
    for i in 0..PURE_ROUNDS {
        let msgid = MsgId::new("H11010500001", Utc::now(), (i % 10_000) as u16).unwrap();
        let t0 = Instant::now();
        let body = build_body(
            terminal,
            signer,
            &Envelope {
                infno: "2102",
                msgid: &msgid,
                at: Utc::now(),
                sign_no: "SIGN00000000000000000000000001",
                insuplc_admdvs: "110105",
                pwd: None,
            },
            &input,
        )
        .unwrap();
        let t1 = Instant::now();
        let response = classify(200, answer).unwrap();
        let s: Settlement = response.output_as().unwrap();
        s.check().unwrap();
        let t2 = Instant::now();
        std::hint::black_box(body);
        build.push(t1 - t0);
        parse.push(t2 - t1);
        both.push(t2 - t0);
    }
    println!("client overhead per 2102 (pure CPU, {name} signature):");
    report("  build + sign envelope", &mut build);
    report("  parse + classify + type + check answer", &mut parse);
    report("  total client overhead", &mut both);
}

async fn network() {
    let sandbox = medsettle_sandbox::start(medsettle_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::demo(dir.path(), "127.0.0.1:0".parse().unwrap());
    std::fs::write(dir.path().join("api-token"), "bench-token-0123456789\n").unwrap();
    config.upstream = Some(
        toml::from_str(&format!(
            "base_url = \"{}\"\nallow_plain_http = true\nsigntype = \"SM3\"\n",
            sandbox.base_url()
        ))
        .unwrap(),
    );
    let (store, _) = Store::open(&config.store.path, Duration::from_secs(5)).unwrap();
    let client =
        Arc::new(medsettle::daemon::upstream::build(&config, store.clone(), None, None).unwrap());
    let query = identify::for_id_number("110105199003071239", "", Utc::now());
    // Warm up: sign in, fill the pool.
    client
        .call("1101", &query, &CallOptions::default())
        .await
        .unwrap();

    // Raw: one prebuilt body (the sandbox answers a repeated msgid from its replay cache, so
    // this is HTTP + a lookup, the floor under any client).
    let exchange = client
        .call("1101", &query, &CallOptions::default())
        .await
        .unwrap();
    let row = store.audit(exchange.msgid.as_str()).await.unwrap().unwrap();
    let raw_body = row.request.into_bytes();
    let http = reqwest::Client::builder().http1_only().build().unwrap();
    let mut raw = Vec::with_capacity(NET_ROUNDS);
    for _ in 0..NET_ROUNDS {
        let t0 = Instant::now();
        let r = http
            .post(sandbox.url())
            .header("content-type", "application/json")
            .body(raw_body.clone())
            .send()
            .await
            .unwrap();
        let b = r.bytes().await.unwrap();
        raw.push(t0.elapsed());
        std::hint::black_box(b);
    }
    let mut call = Vec::with_capacity(NET_ROUNDS);
    for _ in 0..NET_ROUNDS {
        let t0 = Instant::now();
        let info = client
            .person_info(&query, &CallOptions::default())
            .await
            .unwrap();
        call.push(t0.elapsed());
        std::hint::black_box(info);
    }
    let mut settle = Vec::with_capacity(NET_ROUNDS / 4);
    let options = CallOptions {
        insuplc_admdvs: Some("110105".into()),
        password_proof: None,
    };
    for i in 0..NET_ROUNDS / 4 {
        let input = sale(&format!("S{i}"));
        let t0 = Instant::now();
        let p = client.prepare("2102", &input, &options).await.unwrap();
        let x = client.send(&p).await.unwrap();
        let s = settlement(&x).unwrap();
        settle.push(t0.elapsed());
        std::hint::black_box(s);
    }
    println!("loopback round trips to the sandbox (zero injected latency):");
    report("  raw POST (prebuilt 1101 body, replayed)", &mut raw);
    report("  Client 1101 (audit request + answer commits)", &mut call);
    report("  Client 2102 prepare+send+check (2 commits)", &mut settle);
    store.close().await.unwrap();
    sandbox.shutdown().await;
}

//! What the benchmarks share: their runtime, an engine over a store and a platform, the sales
//! they feed it, latency quantiles and a process's resident memory. Measurements only; nothing
//! here asserts a time.

use std::time::Duration;

/// The two-worker runtime every benchmark runs on (the terminal PC has two cores).
pub fn runtime() -> tokio::runtime::Runtime {
    medsettle::upstream::transport::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The `q` quantile (0.0–1.0, nearest rank) of sorted `samples`.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Resident memory of process `pid` in KiB (0 when it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// An engine over `store` with `config`'s `[settle]` and `[terminal]`, `client` as its platform
/// (`None`: offline only), no card reader and no status board.
pub fn engine(
    store: &medsettle::store::Store,
    config: &medsettle::config::Config,
    credentials: &std::sync::Arc<medsettle::credential::Credentials>,
    client: Option<std::sync::Arc<medsettle::upstream::client::Client>>,
) -> std::sync::Arc<medsettle::settle::Engine> {
    std::sync::Arc::new(medsettle::settle::Engine::new(
        medsettle::settle::EngineParts {
            store: store.clone(),
            platform: client
                .map(|c| c as std::sync::Arc<dyn medsettle::upstream::platform::Platform>),
            card: None,
            events: medsettle::events::EventBus::default(),
            config: config.settle.clone(),
            terminal: config.terminal.clone(),
            credentials: std::sync::Arc::clone(credentials),
            clock: None,
            status: None,
        },
    ))
}

/// `n` new `force_offline` sales of one box at 0.10 yuan, each with a fresh read of the
/// sandbox's 张三 card: their ids (captured, not yet stored).
pub async fn new_sales(
    engine: &medsettle::settle::Engine,
    credentials: &medsettle::credential::Credentials,
    n: usize,
) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let sale = engine
            .create(medsettle::settle::NewSale {
                credential_id: credentials.insert(crate::zhang_card()),
                items: vec![medsettle::settle::NewItem {
                    code: "XA01BAA123A001010100001".into(),
                    local_code: None,
                    name: "阿莫西林胶囊".into(),
                    cnt: medsettle::upstream::Qty::parse("1").expect("a quantity"),
                    pric: medsettle::upstream::Price::parse("0.10").expect("a price"),
                    trace: None,
                }],
                mode: Some(medsettle::config::SaleMode::ForceOffline),
                use_account: Some(true),
            })
            .await
            .expect("a new sale");
        ids.push(sale.id);
    }
    ids
}

/// Proportional set size of process `pid` in KiB: its resident memory with every shared page
/// (the binary's text, shared libraries) divided among the processes that map it; what a
/// daemon really adds to the machine (0 when it cannot be read).
pub fn pss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

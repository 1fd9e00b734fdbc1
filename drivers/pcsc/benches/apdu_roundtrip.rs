//! SELECT round trip through pcscd + vpcd + the virtual card (latency 0), measured inside one
//! `with_card` transaction, plus the cost of a whole `with_card` (connect, transaction, reset).
//! Run: `cargo bench -p medsettle-pcsc --bench apdu_roundtrip`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use medsettle_pcsc::{InterfacePolicy, ReaderConfig, ReaderHandle};
use support::*;

const READER: &str = "Bench PCD 00 00";
const APDUS: usize = 5000;
const JOBS: usize = 200;

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    (at(0.50), at(0.99), *v.last().unwrap())
}

fn main() {
    let bed = bed("Bench PCD");
    let h = ReaderHandle::spawn(ReaderConfig::default());
    let _card = insert(bed, READER, "normal");
    let select = support::h(SELECT_AID);
    // The first job also waits for pcscd to see the card.
    let t0 = Instant::now();
    h.with_card_blocking(InterfacePolicy::Contact, Some(READER.into()), WAIT, |_| ())
        .expect("card seen");
    println!("card detected and first with_card after {:?}", t0.elapsed());

    let sel = select.clone();
    let samples = h
        .with_card_blocking(
            InterfacePolicy::Contact,
            Some(READER.into()),
            WAIT,
            move |t| {
                (0..APDUS)
                    .map(|_| {
                        let start = Instant::now();
                        let r = t.transmit(&sel).unwrap();
                        assert_eq!(r, [0x90, 0x00]);
                        start.elapsed()
                    })
                    .collect::<Vec<_>>()
            },
        )
        .unwrap();
    let (p50, p99, max) = percentiles(samples);
    println!(
        "SELECT round trip ({APDUS} APDUs in one transaction): p50 {p50:?}  p99 {p99:?}  max {max:?}"
    );

    let mut jobs = Vec::with_capacity(JOBS);
    for _ in 0..JOBS {
        let sel = select.clone();
        let start = Instant::now();
        h.with_card_blocking(
            InterfacePolicy::Contact,
            Some(READER.into()),
            WAIT,
            move |t| t.transmit(&sel).unwrap(),
        )
        .unwrap();
        jobs.push(start.elapsed());
    }
    let (p50, p99, max) = percentiles(jobs);
    println!(
        "with_card + 1 SELECT (connect, transaction, reset; {JOBS} jobs): p50 {p50:?}  p99 {p99:?}  max {max:?}"
    );
    h.shutdown();
}

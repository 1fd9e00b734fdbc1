//! QR decode benchmark on the committed camera-like frames (`fixtures/qr/frames`): for each
//! decoder alone (frame as captured) and for the default cascade, the decode rate and the time
//! per frame (p50/p90) at 640x480 and 1280x720, and the cost of a frame without a code.
//! Single-threaded (one core). Prints a markdown table; results go in `benches/README.md`.
//!
//!     cargo bench --bench qr_decode

use std::path::PathBuf;
use std::time::Duration;

use medsettle::qr::{Cascade, GreyImage};

const ROUNDS: usize = 3;

struct Frame {
    name: String,
    width: usize,
    height: usize,
    data: Vec<u8>,
    expected: String,
}

fn load() -> Vec<Frame> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/qr/frames");
    let truth = std::fs::read_to_string(dir.join("truth.tsv")).expect("truth.tsv");
    truth
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, expected) = l.split_once('\t').expect("file<TAB>text");
            let (w, h, data) = medsettle_camera::load_grey(&dir.join(name)).expect("frame");
            let (width, height) = (w as usize, h as usize);
            Frame {
                name: name.into(),
                width,
                height,
                data,
                expected: expected.into(),
            }
        })
        .collect()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// Decode rate (%), [p50, p90, no-code p50, no-code p90] in ms, and wrong decodes.
fn measure(
    cascade: &Cascade,
    frames: &[Frame],
    width: Option<usize>,
) -> (f64, [f64; 4], Vec<String>) {
    let (mut ok, mut n) = (0, 0);
    let (mut hit_times, mut empty_times) = (Vec::new(), Vec::new());
    let mut wrong = Vec::new();
    for f in frames.iter().filter(|f| width.is_none_or(|w| f.width == w)) {
        let img = GreyImage::new(f.width, f.height, &f.data).expect("dimensions");
        let mut best = Duration::MAX;
        let mut out = cascade.decode(img);
        for _ in 1..ROUNDS {
            out = cascade.decode(img);
            best = best.min(out.elapsed);
        }
        let texts: Vec<_> = out.decoded.iter().filter_map(|d| d.text.clone()).collect();
        if f.expected.is_empty() {
            empty_times.push(best);
            if !texts.is_empty() {
                wrong.push(format!("{}: {texts:?}", f.name));
            }
        } else {
            n += 1;
            hit_times.push(best);
            if texts.contains(&f.expected) {
                ok += 1;
            } else if !texts.is_empty() {
                wrong.push(format!("{}: {texts:?}", f.name));
            }
        }
    }
    hit_times.sort();
    empty_times.sort();
    let t = [
        pct(&hit_times, 0.5),
        pct(&hit_times, 0.9),
        pct(&empty_times, 0.5),
        pct(&empty_times, 0.9),
    ];
    (100.0 * ok as f64 / n as f64, t, wrong)
}

fn main() {
    let frames = load();
    let with_code = frames.iter().filter(|f| !f.expected.is_empty()).count();
    println!(
        "{} frames ({} with a code), best of {ROUNDS} runs per frame, one thread\n",
        frames.len(),
        with_code
    );
    println!("| decoder | frame | decoded | ms p50 | ms p90 | no code p50 | no code p90 |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let candidates: Vec<(&str, Cascade)> = vec![
        ("rqrr", Cascade::single("rqrr").expect("rqrr")),
        ("quircs", Cascade::single("quircs").expect("quircs")),
        ("rxing", Cascade::single("rxing").expect("rxing")),
        ("cascade (default)", Cascade::default()),
    ];
    for (label, cascade) in &candidates {
        for width in [Some(640), Some(1280), None] {
            let (rate, t, wrong) = measure(cascade, &frames, width);
            let size = match width {
                Some(640) => "640x480",
                Some(_) => "1280x720",
                None => "all",
            };
            let ms = |v: f64| {
                if v.is_nan() {
                    "–".to_string()
                } else {
                    format!("{v:.1}")
                }
            };
            let (a, b, c, d) = (ms(t[0]), ms(t[1]), ms(t[2]), ms(t[3]));
            println!("| {label} | {size} | {rate:.1}% | {a} | {b} | {c} | {d} |");
            for w in wrong {
                println!("|   wrong text: {w} | | | | | | |");
            }
        }
    }
}

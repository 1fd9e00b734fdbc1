//! Decode benchmark on the committed camera-like frames: the original QR set
//! (`fixtures/qr/frames`) and the wide sets of issue 19 (`fixtures/qr/tuning`, the tuning set,
//! and `fixtures/qr/heldback`, generated with another seed and never used for tuning). For
//! each single decoder on the frame as captured (rqrr, quircs, rxing's QR reader with
//! TryHarder, rxing's DataMatrix reader alone, and its multi-format reader for QR, DataMatrix
//! and Code 128 with TryHarder and AlsoInverted) and for the cascade (QR only, as before issue 19, and the default with the
//! trace-code readers): the decode rate, wrong decodes, and the time per frame (p50/p90) with
//! and without a code. A frame counts as decoded when the bytes (GS kept) and the symbology
//! match its truth row. Single-threaded. Prints markdown; results go in `benches/README.md`.
//!
//!     cargo bench --bench qr_decode
//!     QR_BENCH_SETS=heldback cargo bench --bench qr_decode    # sets (frames|tuning|heldback, or a path)
//!     QR_BENCH_DECODERS=cascade cargo bench --bench qr_decode # decoders whose label contains it
//!     QR_BENCH_DIAG=1 / QR_BENCH_TRACE=1                      # tuning aids (never the held-back set)

use std::path::PathBuf;
use std::time::Duration;

use medsettle::qr::{Cascade, GreyImage, Outcome};
use medsettle_nhsa::trace::Symbology;

const ROUNDS: usize = 3;

struct Frame {
    name: String,
    width: usize,
    height: usize,
    data: Vec<u8>,
    /// Empty for a frame without a code.
    expected: Vec<u8>,
    symbology: Option<Symbology>,
}

/// Undoes the truth table's escapes (`\\`, `\xNN`).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 4 <= b.len() {
            out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).expect("\\xNN"));
            i += 4;
        } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn symbology(name: &str) -> Option<Symbology> {
    serde_json::from_value(serde_json::Value::String(name.into())).ok()
}

/// Loads a set: `file<TAB>text` (the original set: QR, text unescaped) or
/// `file<TAB>symbology<TAB>escaped text` (the wide sets).
fn load(set: &str) -> Vec<Frame> {
    // A set is a directory under `fixtures/qr`, or a path to a generated scratch set.
    let dir = if set.contains('/') {
        PathBuf::from(set)
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/qr")
            .join(set)
    };
    let truth = std::fs::read_to_string(dir.join("truth.tsv")).expect("truth.tsv");
    truth
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let (name, sym, expected) = match cols[..] {
                [name, text] => (
                    name,
                    (!text.is_empty()).then_some(Symbology::Qr),
                    text.into(),
                ),
                [name, sym, text] => (name, symbology(sym), unescape(text)),
                _ => panic!("bad truth row {l:?}"),
            };
            let (w, h, data) = medsettle_camera::load_grey(&dir.join(name)).expect("frame");
            Frame {
                name: name.into(),
                width: w as usize,
                height: h as usize,
                data,
                expected,
                symbology: sym,
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

struct Measured {
    ok: usize,
    with_code: usize,
    /// p50, p90 with a code; p50, p90 without.
    ms: [f64; 4],
    wrong: Vec<String>,
    missed: Vec<String>,
}

/// The cascade on one frame: the first run warms caches and allocators; the best of the others
/// counts, with the outcome of the last.
fn best_of(cascade: &Cascade, f: &Frame) -> (Outcome, Duration) {
    let img = GreyImage::new(f.width, f.height, &f.data).expect("dimensions");
    let mut out = cascade.decode(img);
    let mut best = Duration::MAX;
    for _ in 1..ROUNDS {
        out = cascade.decode(img);
        best = best.min(out.elapsed);
    }
    (out, best)
}

fn measure(cascade: &Cascade, frames: &[&Frame]) -> Measured {
    let (mut ok, mut with_code) = (0, 0);
    let (mut hit_times, mut empty_times) = (Vec::new(), Vec::new());
    let (mut wrong, mut missed) = (Vec::new(), Vec::new());
    for f in frames {
        let (out, best) = best_of(cascade, f);
        let right =
            |d: &medsettle::qr::Decoded| d.bytes == f.expected && d.symbology == f.symbology;
        let show = |d: &medsettle::qr::Decoded| {
            format!("{:?} {:?}", String::from_utf8_lossy(&d.bytes), d.symbology)
        };
        if f.expected.is_empty() {
            empty_times.push(best);
        } else {
            with_code += 1;
            hit_times.push(best);
            if out.decoded.iter().any(right) {
                ok += 1;
            } else {
                missed.push(f.name.clone());
            }
        }
        for d in out.decoded.iter().filter(|d| !right(d)) {
            wrong.push(format!("{}: {}", f.name, show(d)));
        }
    }
    hit_times.sort();
    empty_times.sort();
    Measured {
        ok,
        with_code,
        ms: [
            pct(&hit_times, 0.5),
            pct(&hit_times, 0.9),
            pct(&empty_times, 0.5),
            pct(&empty_times, 0.9),
        ],
        wrong,
        missed,
    }
}

fn main() {
    let only = std::env::var("QR_BENCH_SETS").unwrap_or_default();
    let mut sets: Vec<(&str, &str)> = [
        ("frames", "original QR set (tuning)"),
        ("tuning", "wide tuning set"),
        ("heldback", "wide held-back set"),
    ]
    .into_iter()
    .filter(|(dir, _)| only.is_empty() || only.split(',').any(|s| s == *dir))
    .collect();
    // Extra tuning sets generated elsewhere (`--out /some/dir`), named by their path.
    sets.extend(
        only.split(',')
            .filter(|s| s.contains('/'))
            .map(|s| (s, "scratch tuning set")),
    );
    let candidates: Vec<(&str, Cascade)> = vec![
        ("rqrr", Cascade::single("rqrr").expect("rqrr")),
        ("quircs", Cascade::single("quircs").expect("quircs")),
        (
            "rxing (QR, TryHarder)",
            Cascade::single("rxing").expect("rxing"),
        ),
        (
            "rxing-all (QR+DM+128, TryHarder, AlsoInverted)",
            Cascade::single("rxing-all").expect("rxing-all"),
        ),
        (
            "datamatrix (full frame)",
            Cascade::single("datamatrix").expect("datamatrix"),
        ),
        ("cascade, QR only", Cascade::default().qr_only()),
        ("cascade (default)", Cascade::default()),
    ];
    let pick = std::env::var("QR_BENCH_DECODERS").unwrap_or_default();
    let candidates: Vec<_> = candidates
        .into_iter()
        .filter(|(label, _)| label.contains(pick.as_str()))
        .collect();
    println!(
        "best of {} timed runs per frame after a warm-up, one thread\n",
        ROUNDS - 1
    );
    for (dir, title) in sets {
        let frames = load(dir);
        let with_code = frames.iter().filter(|f| !f.expected.is_empty()).count();
        println!(
            "### {title} (`{}`): {} frames, {with_code} with a code\n",
            if dir.contains('/') {
                dir.to_string()
            } else {
                format!("fixtures/qr/{dir}")
            },
            frames.len()
        );
        println!(
            "| decoder | frame | decoded | wrong | ms p50 | ms p90 | no code p50 | no code p90 |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
        let mut notes = Vec::new();
        for (label, cascade) in &candidates {
            for width in [Some(640), Some(1280), None] {
                let sel: Vec<&Frame> = frames
                    .iter()
                    .filter(|f| width.is_none_or(|w| f.width == w))
                    .collect();
                let one_size = sel.iter().all(|f| f.width == frames[0].width);
                if sel.is_empty() || (width.is_none() && one_size) {
                    continue;
                }
                let m = measure(cascade, &sel);
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
                let rate = 100.0 * m.ok as f64 / m.with_code.max(1) as f64;
                println!(
                    "| {label} | {size} | {rate:.1}% ({}/{}) | {} | {} | {} | {} | {} |",
                    m.ok,
                    m.with_code,
                    m.wrong.len(),
                    ms(m.ms[0]),
                    ms(m.ms[1]),
                    ms(m.ms[2]),
                    ms(m.ms[3])
                );
                // Per-frame misses only for tuning sets: the held-back set is never tuned on.
                if label.starts_with("cascade (default)")
                    && width == Some(1280)
                    && dir != "heldback"
                {
                    notes.extend(m.wrong.iter().map(|w| format!("wrong: {w}")));
                    notes.extend(m.missed.iter().map(|w| format!("missed: {w}")));
                }
            }
        }
        for n in notes {
            println!("- {n}");
        }
        if std::env::var_os("QR_BENCH_DIAG").is_some() && dir != "heldback" {
            diagnose(&frames);
        }
        if std::env::var_os("QR_BENCH_TRACE").is_some() && dir != "heldback" {
            trace(&frames);
        }
        println!();
    }
}

/// Tuning aid (`QR_BENCH_DIAG=1`, never on the held-back set): for each frame the default
/// cascade misses, the gate's evidence and regions and which full-frame reader would read it.
fn diagnose(frames: &[Frame]) {
    let cascade = Cascade::default();
    let full: Vec<(&str, Cascade)> = ["rxing-all", "datamatrix", "code128", "rxing", "quircs"]
        .into_iter()
        .map(|n| (n, Cascade::single(n).expect("decoder")))
        .collect();
    let quircs = Cascade::single("quircs").expect("quircs");
    for f in frames.iter().filter(|f| f.expected.is_empty()) {
        let img = GreyImage::new(f.width, f.height, &f.data).expect("dimensions");
        let t = std::time::Instant::now();
        let q = quircs.decode(img);
        let t_q = t.elapsed();
        let ev = medsettle::qr::finder::scan(img);
        let t_f = t.elapsed() - t_q;
        let r = medsettle::qr::finder::regions(img);
        let t_r = t.elapsed() - t_q - t_f;
        let all = cascade.decode(img).elapsed;
        println!(
            "diag empty {}: quircs {t_q:?} ({}) finder {t_f:?} regions {t_r:?} all {all:?}; {ev:?} bars {} squares {:?}",
            f.name,
            q.decoded.len(),
            r.bars.len(),
            r.squares
        );
    }
    for f in frames.iter().filter(|f| !f.expected.is_empty()) {
        let img = GreyImage::new(f.width, f.height, &f.data).expect("dimensions");
        let q = quircs.decode(img);
        if !q.decoded.is_empty() {
            let ev = medsettle::qr::finder::scan(img);
            println!(
                "diag quircs-hit {}: patterns {} triangle {}",
                f.name, ev.patterns, ev.triangle
            );
        }
    }
    for f in frames.iter().filter(|f| !f.expected.is_empty()) {
        let img = GreyImage::new(f.width, f.height, &f.data).expect("dimensions");
        let out = cascade.decode(img);
        if out.decoded.iter().any(|d| d.bytes == f.expected) {
            continue;
        }
        let r = medsettle::qr::finder::regions(img);
        let readers: Vec<&str> = full
            .iter()
            .filter(|(_, c)| c.decode(img).decoded.iter().any(|d| d.bytes == f.expected))
            .map(|(n, _)| *n)
            .collect();
        println!(
            "diag {}: {:?} bars {:?} squares {:?} full-frame readers {readers:?}",
            f.name, out.evidence, r.bars, r.squares
        );
    }
}

/// Tuning aid (`QR_BENCH_TRACE=1`, never on the held-back set): per 1280x720 frame the default
/// cascade's best time, the step that read it and the evidence, slowest first.
fn trace(frames: &[Frame]) {
    let cascade = Cascade::default();
    let mut rows = Vec::new();
    for f in frames.iter().filter(|f| f.width == 1280) {
        let (out, best) = best_of(&cascade, f);
        let ok = out.decoded.iter().any(|d| d.bytes == f.expected);
        rows.push((best, f.name.clone(), ok, out.hit, out.evidence));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    for (t, name, ok, hit, ev) in rows {
        println!(
            "trace {:6.2} ms {name} ok={ok} {hit:?} pat={} tri={} bars={} sq={}",
            t.as_secs_f64() * 1e3,
            ev.patterns,
            ev.triangle,
            ev.bar_regions,
            ev.square_regions
        );
    }
}

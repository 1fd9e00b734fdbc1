//! The decode rate of the default cascade on the committed camera-like frames
//! (`fixtures/qr/frames`, truth in `truth.tsv`): ≥ 95% of the frames with a code decode to the
//! expected text, no frame decodes to a wrong text, and frames without a code decode to nothing.

use std::path::PathBuf;

use medsettle::qr::{Cascade, GreyImage};

fn frames_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/qr/frames")
}

/// (file, expected text) rows of truth.tsv; empty text for a frame without a code.
fn truth() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(frames_dir().join("truth.tsv")).expect("truth.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (f, t) = l.split_once('\t').expect("file<TAB>text");
            (f.to_owned(), t.to_owned())
        })
        .collect()
}

#[test]
fn cascade_decodes_at_least_95_percent_and_nothing_wrong() {
    let cascade = Cascade::default();
    let rows = truth();
    assert!(rows.len() >= 120, "fixture set of {} frames", rows.len());
    let (mut with_code, mut decoded, mut empty) = (0, 0, 0);
    let mut problems = Vec::new();
    for (file, expected) in &rows {
        let (w, h, data) = medsettle_camera::load_grey(&frames_dir().join(file)).expect("frame");
        let img = GreyImage::new(w as usize, h as usize, &data).expect("dimensions");
        let out = cascade.decode(img);
        let texts: Vec<_> = out
            .decoded
            .iter()
            .map(|d| d.text.clone().unwrap_or_default())
            .collect();
        if expected.is_empty() {
            empty += 1;
            if !texts.is_empty() {
                problems.push(format!("{file}: no code, decoded {texts:?}"));
            }
            continue;
        }
        with_code += 1;
        if texts.iter().any(|t| t == expected) {
            decoded += 1;
        }
        if texts.iter().any(|t| t != expected) {
            problems.push(format!("{file}: wrong text {texts:?}"));
        }
    }
    let rate = decoded as f64 / with_code as f64;
    println!(
        "cascade: {decoded}/{with_code} = {:.1}% decoded, {empty} empty frames",
        rate * 100.0
    );
    assert!(
        empty * 100 >= rows.len() * 8,
        "about 10% of the frames have no code"
    );
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(rate >= 0.95, "decode rate {:.1}% < 95%", rate * 100.0);
}

//! The generalised decoder (issue 19) on the wide frame sets (`fixtures/qr/tuning`, and
//! `fixtures/qr/heldback`, generated with another seed and never tuned on): the cascade reads
//! QR, GS1 QR, Code 128 and (GS1) DataMatrix codes with the exact bytes (GS 0x1D kept) and the
//! symbology, decodes nothing wrong and nothing on frames without a code. And the camera path:
//! frames of trace codes replayed by the frame-directory camera source through the decoder
//! loop come out as scans with the bytes and symbology of the code.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use medsettle::qr::{Cascade, Debouncer, GreyImage, Mailbox, run_decoder};
use medsettle_nhsa::trace::Symbology;

fn set_dir(set: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/qr")
        .join(set)
}

/// Undoes the truth table's escapes (`\\`, `\xNN`).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'\\', Some(b'x')) => {
                out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).expect("\\xNN"));
                i += 4;
            }
            (b'\\', Some(b'\\')) => {
                out.push(b'\\');
                i += 2;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

struct Row {
    file: String,
    symbology: Option<Symbology>,
    bytes: Vec<u8>,
}

/// The rows of a wide set's truth.tsv: file, symbology (empty: no code), escaped text.
fn truth(set: &str) -> Vec<Row> {
    let text = std::fs::read_to_string(set_dir(set).join("truth.tsv")).expect("truth.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "file<TAB>symbology<TAB>text: {l:?}");
            let symbology = (!cols[1].is_empty()).then(|| {
                serde_json::from_value(serde_json::Value::String(cols[1].into()))
                    .expect("a known symbology")
            });
            Row {
                file: cols[0].into(),
                symbology,
                bytes: unescape(cols[2]),
            }
        })
        .collect()
}

/// Decodes every frame of `set`: (decoded right, frames with a code, problems).
fn run_set(set: &str) -> (usize, usize, Vec<String>) {
    let cascade = Cascade::default();
    let rows = truth(set);
    assert!(rows.len() >= 120, "{set}: {} frames", rows.len());
    let (mut right, mut with_code) = (0, 0);
    let mut problems = Vec::new();
    for row in &rows {
        let (w, h, data) = medsettle_camera::load_grey(&set_dir(set).join(&row.file)).unwrap();
        let out = Cascade::decode(
            &cascade,
            GreyImage::new(w as usize, h as usize, &data).unwrap(),
        );
        if row.symbology.is_some() {
            with_code += 1;
        }
        for d in &out.decoded {
            if d.bytes == row.bytes && d.symbology == row.symbology {
                right += 1;
            } else {
                // Only the count goes in the message for the held-back set's sake: which frames
                // fail there is not looked at (it is never tuned on).
                problems.push(format!(
                    "{set}: wrong or unexpected decode ({:?})",
                    d.symbology
                ));
            }
        }
    }
    (right, with_code, problems)
}

#[test]
fn wide_tuning_set_decodes_every_symbology_and_nothing_wrong() {
    let (right, with_code, problems) = run_set("tuning");
    let rate = right as f64 / with_code as f64;
    println!("tuning: {right}/{with_code} = {:.1}%", rate * 100.0);
    assert!(problems.is_empty(), "{problems:#?}");
    // Measured 2026-12-04 (benches/README.md, "Decoding, generalised", fourth round): 98.4%.
    assert!(
        rate >= TUNING_FLOOR,
        "tuning decode rate {:.1}%",
        rate * 100.0
    );
}

#[test]
fn held_back_set_decodes_nothing_wrong() {
    let (right, with_code, problems) = run_set("heldback");
    let rate = right as f64 / with_code as f64;
    println!("held-back: {right}/{with_code} = {:.1}%", rate * 100.0);
    assert!(problems.is_empty(), "{} wrong decodes", problems.len());
    assert!(
        rate >= HELD_BACK_FLOOR,
        "held-back decode rate {:.1}%",
        rate * 100.0
    );
}

/// Lower bounds a little under the measured rates (see benches/README.md): a regression shows,
/// the noise of a changed dependency does not.
const TUNING_FLOOR: f64 = 0.96;
const HELD_BACK_FLOOR: f64 = 0.94;

/// One frame through the camera path: the frame-directory source replays a directory holding
/// only `file` (so the newest-wins mailbox drops nothing) into the decoder loop.
fn camera_scans(file: &Path) -> Vec<medsettle::qr::Scan> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(file, dir.path().join(file.file_name().unwrap())).unwrap();
    let source = medsettle_camera::DirectorySource::open(dir.path(), false).unwrap();
    let mailbox = Arc::new(Mailbox::new());
    let capture = medsettle_camera::spawn_capture(source, Arc::clone(&mailbox));
    let cascade = Cascade::default();
    let mut debounce = Debouncer::default();
    let mut scans = Vec::new();
    let frames = run_decoder(&mailbox, &cascade, &mut debounce, |s| scans.push(s));
    assert_eq!(capture.join().unwrap().unwrap(), 1);
    assert_eq!(frames, 1);
    scans
}

#[test]
fn camera_path_reads_code128_trace_codes_and_gs1_datamatrix_with_gs_kept() {
    let rows = truth("tuning");
    let mut checked = Vec::new();
    for (file, want) in CAMERA_FRAMES {
        let row = rows
            .iter()
            .find(|r| r.file == *file)
            .expect("frame in truth.tsv");
        assert_eq!(row.symbology, Some(*want), "{file}");
        let scans = camera_scans(&set_dir("tuning").join(file));
        assert_eq!(scans.len(), 1, "{file}: one scan");
        let d = &scans[0].decoded;
        assert_eq!(d.bytes, row.bytes, "{file}: the exact bytes");
        assert_eq!(d.symbology, Some(*want), "{file}");
        checked.push((want, d.bytes.clone()));
    }
    // The kinds this test is about are really there: 20-digit 8… codes in Code 128 and GS1
    // element strings with a group separator in a GS1 DataMatrix.
    assert!(checked.iter().any(|(s, b)| **s == Symbology::Code128
        && b.len() == 20
        && b[0] == b'8'
        && b.iter().all(u8::is_ascii_digit)));
    assert!(checked.iter().any(|(s, b)| **s == Symbology::Gs1DataMatrix
        && b.starts_with(b"01")
        && b.contains(&0x1d)));
}

#[test]
fn camera_path_reports_nothing_for_a_frame_without_a_code() {
    let rows = truth("tuning");
    let empty: Vec<&Row> = rows.iter().filter(|r| r.symbology.is_none()).collect();
    assert!(!empty.is_empty());
    for row in empty.iter().take(3) {
        assert!(
            camera_scans(&set_dir("tuning").join(&row.file)).is_empty(),
            "{}",
            row.file
        );
    }
}

/// Tuning-set frames read through the camera path (chosen among those the cascade decodes).
const CAMERA_FRAMES: &[(&str, Symbology)] = &[
    ("006-1280x720-trace128.jpg", Symbology::Code128),
    ("024-1280x720-trace128.jpg", Symbology::Code128),
    ("014-1280x720-gs1dm.jpg", Symbology::Gs1DataMatrix),
    ("026-1280x720-gs1dm.jpg", Symbology::Gs1DataMatrix),
];

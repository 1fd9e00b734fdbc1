//! The file sources: a directory replays its images in name order (once or looping) as
//! greyscale frames with rising sequence numbers; a Y4M stream (generated here) yields its luma
//! planes; a capture thread feeding the pump's mailbox ends by closing it.

use std::io::Write;
use std::sync::Arc;

use medsettle_camera::{
    DirectorySource, FrameSource, SourceError, Y4mHeader, Y4mSource, spawn_capture,
};
use medsettle_frame::Mailbox;

fn write_png(path: &std::path::Path, w: u32, h: u32, v: u8) {
    image::GrayImage::from_pixel(w, h, image::Luma([v]))
        .save(path)
        .expect("png");
}

#[test]
fn directory_in_name_order_once_and_looping() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_png(&dir.path().join("b.png"), 4, 3, 20);
    write_png(&dir.path().join("a.png"), 4, 3, 10);
    image::RgbImage::from_pixel(2, 2, image::Rgb([255, 255, 255]))
        .save(dir.path().join("c.jpg"))
        .expect("jpg");
    std::fs::write(dir.path().join("notes.txt"), "not an image").expect("txt");

    let mut once = DirectorySource::open(dir.path(), false).expect("open");
    let mut seen = Vec::new();
    while let Some(f) = once.next_frame().expect("frame") {
        seen.push((f.seq, f.width, f.height, f.data[0]));
    }
    assert_eq!(seen.len(), 3);
    assert_eq!(&seen[..2], &[(0, 4, 3, 10), (1, 4, 3, 20)]);
    assert_eq!((seen[2].0, seen[2].1, seen[2].2), (2, 2, 2));
    assert!(seen[2].3 > 240, "white JPEG stays white in grey");

    let mut looping = DirectorySource::open(dir.path(), true).expect("open");
    let values: Vec<u8> = (0..5)
        .map(|_| looping.next_frame().unwrap().unwrap().data[0])
        .collect();
    assert_eq!(&values[..2], &[10, 20]);
    assert_eq!(&values[3..], &[10, 20], "wraps around after the last file");
}

#[test]
fn a_broken_image_is_an_error_not_a_skip() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("x.png"), b"not a png").expect("write");
    let mut src = DirectorySource::open(dir.path(), false).expect("open");
    assert!(matches!(src.next_frame(), Err(SourceError::Image { .. })));
}

/// A 6x4 C420jpeg stream of `n` frames; frame i has luma (i % 25) * 10 and chroma 128.
fn tiny_y4m(n: u8) -> Vec<u8> {
    let mut out = b"YUV4MPEG2 W6 H4 F15:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n".to_vec();
    for i in 0..n {
        out.extend_from_slice(b"FRAME\n");
        out.extend(std::iter::repeat_n((i % 25) * 10, 24));
        out.extend(std::iter::repeat_n(128u8, 2 * 3 * 2));
    }
    out
}

#[test]
fn y4m_yields_the_luma_planes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clip.y4m");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(&tiny_y4m(3)))
        .expect("write");
    let mut src = Y4mSource::open(&path, None).expect("open");
    assert_eq!(
        src.header(),
        Y4mHeader {
            width: 6,
            height: 4,
            fps: Some(15.0),
            chroma_bytes: 12
        }
    );
    for i in 0..3u8 {
        let f = src.next_frame().expect("frame").expect("some");
        assert_eq!((f.seq, f.width, f.height), (i as u64, 6, 4));
        assert!(f.data.iter().all(|&v| v == i * 10));
    }
    assert!(src.next_frame().expect("end").is_none());
}

#[test]
fn y4m_rejects_bad_headers_and_truncated_frames() {
    assert!(Y4mHeader::parse("YUV4MPEG2 W6").is_err());
    assert!(Y4mHeader::parse("RIFF W6 H4").is_err());
    assert!(Y4mHeader::parse("YUV4MPEG2 W6 H4 Cfoo").is_err());
    assert_eq!(
        Y4mHeader::parse("YUV4MPEG2 W5 H3 Cmono")
            .unwrap()
            .chroma_bytes,
        0
    );
    let mut bytes = tiny_y4m(1);
    bytes.truncate(bytes.len() - 5);
    let mut src = Y4mSource::from_reader("t".into(), Box::new(std::io::Cursor::new(bytes)), None)
        .expect("header");
    assert!(matches!(src.next_frame(), Err(SourceError::Y4m { .. })));
}

#[test]
fn capture_thread_feeds_the_mailbox_and_closes_it() {
    let bytes = tiny_y4m(50);
    let src = Y4mSource::from_reader("t".into(), Box::new(std::io::Cursor::new(bytes)), None)
        .expect("header");
    let mailbox = Arc::new(Mailbox::new());
    let frames = spawn_capture(src, Arc::clone(&mailbox))
        .join()
        .expect("thread")
        .expect("ok");
    assert_eq!(frames, 50);
    // Nobody took frames while capturing: only the newest is left, the rest were dropped.
    assert_eq!(mailbox.len(), 1);
    assert_eq!(mailbox.dropped(), 49);
    assert_eq!(mailbox.recv().map(|f| f.seq), Some(49));
    assert!(mailbox.recv().is_none(), "closed at the end of the source");
}

//! 9101/3202/9102 shapes, the detail and result files, the ZIP container.

use serde_json::json;

use super::file::{self, DetailLine, FileError, ResultLine};
use super::zip;
use super::*;
use crate::envelope::classify;
use medsettle_base::pii::PsnNo;

fn detail(setl_id: &str, medfee: i64, refund: bool) -> DetailLine {
    DetailLine {
        setl_id: setl_id.into(),
        mdtrt_id: "M1".into(),
        psn_no: PsnNo::new("P11010519491231"),
        medfee_sumamt: Fen(medfee),
        fund_pay_sumamt: Fen(medfee / 2),
        acct_pay: Fen(medfee / 4),
        refund,
    }
}

#[test]
fn the_detail_file_round_trips_through_text_and_zip() {
    let lines = vec![detail("S1", 12_850, false), detail("S1", -12_850, true)];
    let text = file::write_detail(&lines);
    assert_eq!(
        text.lines().next().unwrap(),
        "S1\tM1\tP11010519491231\t128.50\t64.25\t32.12\t0"
    );
    assert!(text.ends_with("-32.12\t1\n"));
    assert_eq!(file::parse_detail(text.as_bytes()).unwrap(), lines);
    let archive = file::detail_zip("D20261202.zip", &lines);
    let inside = zip::read_single(&archive).unwrap();
    assert_eq!(inside.name, "D20261202.txt");
    assert_eq!(file::detail_from_zip(&archive).unwrap(), lines);
    assert!(!format!("{lines:?}").contains("P11010519491231"));
}

#[test]
fn a_tab_inside_a_field_cannot_shift_the_columns() {
    let mut l = detail("S1", 100, false);
    l.mdtrt_id = "M\t1\n".into();
    let text = file::write_detail(&[l]);
    assert_eq!(text.matches('\t').count(), 6);
    assert_eq!(
        file::parse_detail(text.as_bytes()).unwrap()[0].mdtrt_id,
        "M 1"
    );
}

fn result_line(setl_id: &str, msgid: &str, rslt: &str) -> ResultLine {
    ResultLine {
        psn_no: PsnNo::new("P1"),
        mdtrt_id: "M1".into(),
        setl_id: setl_id.into(),
        msgid: msgid.into(),
        stmt_rslt: rslt.into(),
        refund: false,
        memo: "对账一致".into(),
        medfee_sumamt: Some(Fen(100)),
        fund_pay_sumamt: Some(Fen(60)),
        acct_pay: None,
    }
}

#[test]
fn result_files_read_with_bom_crlf_blank_lines_and_extra_columns() {
    let lines = vec![result_line("S1", "H1", "0"), result_line("S2", "", "1")];
    let canonical = file::write_result(&lines);
    assert_eq!(file::parse_result(canonical.as_bytes()).unwrap(), lines);
    let messy = "\u{feff}P1\tM1\tS1\tH1\t0\t0\t对账一致\t1.00\t0.60\t\textra\r\n\r\n  \nP1\tM1\tS2\t\t1\t0\t对账一致\t1\t0.6\t\r\n";
    let parsed = file::parse_result(messy.as_bytes()).unwrap();
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0], lines[0]);
    assert_eq!(parsed[1].fund_pay_sumamt, Some(Fen(60)));
    assert!(parsed[0].consistent() && !parsed[1].consistent());
    // Without a trailing newline too.
    let last = canonical.trim_end_matches('\n');
    assert_eq!(file::parse_result(last.as_bytes()).unwrap().len(), 2);
}

#[test]
fn a_malformed_line_is_an_error_naming_it() {
    let good = "P1\tM1\tS1\tH1\t0\t0\tok\t1.00\t0.60\t0.00\n";
    let cases = [
        (format!("{good}\nP1\tM1\tS2\n"), 3, "3 fields"),
        (
            format!("{good}P1\tM1\tS2\tH2\t0\t2\tok\t1\t1\t1\n"),
            2,
            "refd_setl_flag",
        ),
        (
            format!("{good}P1\tM1\tS2\tH2\t0\t0\tok\tabc\t1\t1\n"),
            2,
            "medfee_sumamt",
        ),
        ("P1\tM1\t\t\t0\t0\tok\t1\t1\t1\n".to_owned(), 1, "neither"),
    ];
    for (text, line, what) in cases {
        let e = file::parse_result(text.as_bytes()).unwrap_err();
        assert!(
            matches!(&e, FileError::Line { line: l, why, .. } if *l == line && why.contains(what)),
            "{text:?}: {e}"
        );
        assert!(e.to_string().contains(&format!("line {line}")));
    }
    let e = file::parse_detail(b"S1\tM1\tP1\t1.00\t0.50\t0.10\n").unwrap_err();
    assert!(e.to_string().contains("line 1: 6 fields"), "{e}");
    let e = file::parse_detail(b"S1\tM1\tP1\t1.00\t0.50\t\t0\n").unwrap_err();
    assert!(e.to_string().contains("acct_pay"), "{e}");
    assert!(matches!(
        file::parse_result(&[0xff, 0xfe, b'\n']),
        Err(FileError::NotUtf8 { .. })
    ));
}

/// A deflated archive written as a stream (sizes only in the central directory and a data
/// descriptor), as Java's `ZipOutputStream` writes one.
fn streamed_deflate(name: &str, data: &[u8]) -> Vec<u8> {
    let packed = miniz_oxide::deflate::compress_to_vec(data, 6);
    let crc = crc32fast::hash(data);
    let mut out = Vec::new();
    let p16 = |o: &mut Vec<u8>, v: u16| o.extend_from_slice(&v.to_le_bytes());
    let p32 = |o: &mut Vec<u8>, v: u32| o.extend_from_slice(&v.to_le_bytes());
    p32(&mut out, 0x0403_4b50);
    for v in [20, 0x0808, 8, 0, 0x21] {
        p16(&mut out, v);
    }
    for _ in 0..3 {
        p32(&mut out, 0);
    }
    p16(&mut out, name.len() as u16);
    p16(&mut out, 0);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&packed);
    p32(&mut out, 0x0807_4b50);
    for v in [crc, packed.len() as u32, data.len() as u32] {
        p32(&mut out, v);
    }
    let cd = out.len();
    p32(&mut out, 0x0201_4b50);
    for v in [20, 20, 0x0808, 8, 0, 0x21] {
        p16(&mut out, v);
    }
    for v in [crc, packed.len() as u32, data.len() as u32] {
        p32(&mut out, v);
    }
    for v in [name.len() as u16, 0, 0, 0, 0] {
        p16(&mut out, v);
    }
    p32(&mut out, 0);
    p32(&mut out, 0);
    out.extend_from_slice(name.as_bytes());
    let cd_size = out.len() - cd;
    p32(&mut out, 0x0605_4b50);
    for v in [0, 0, 1, 1] {
        p16(&mut out, v);
    }
    p32(&mut out, cd_size as u32);
    p32(&mut out, cd as u32);
    p16(&mut out, 0);
    out
}

#[test]
fn the_reader_takes_deflated_streamed_archives_and_refuses_broken_ones() {
    let text = file::write_result(&[result_line("S1", "H1", "0")]).repeat(50);
    let archive = streamed_deflate("result.txt", text.as_bytes());
    assert!(archive.len() < text.len(), "it is compressed");
    assert_eq!(file::result_from_zip(&archive).unwrap().len(), 50);

    let stored = zip::write_single("a.txt", b"hello");
    let mut corrupt = stored.clone();
    corrupt[30 + 5] ^= 0x01; // first data byte
    assert!(zip::read_single(&corrupt).unwrap_err().0.contains("CRC"));
    assert!(zip::read_single(&stored[..stored.len() - 3]).is_err());
    assert!(zip::read_single(b"PK\x03\x04 not really").is_err());
    assert!(zip::read_single(b"").is_err());
}

#[test]
fn the_upload_input_carries_the_zip_in_either_encoding() {
    let archive = zip::write_single("a.txt", b"x");
    for encoding in [InEncoding::Base64, InEncoding::Bytes] {
        let input = UploadInput::new(&archive, "a.zip", "H11010500001", encoding).unwrap();
        let v = serde_json::to_value(&input).unwrap();
        let node = &v["fsUploadIn"];
        assert_eq!(node["filename"], "a.zip");
        assert_eq!(node["fixmedins_code"], "H11010500001");
        match encoding {
            InEncoding::Base64 => assert!(node["in"].is_string()),
            InEncoding::Bytes => assert_eq!(node["in"][0], 80),
        }
        assert_eq!(decode_bytes(&node["in"]).unwrap(), archive);
    }
    assert!(UploadInput::new(&archive, "", "H1", InEncoding::Base64).is_err());
    assert!(UploadInput::new(&archive, &"x".repeat(201), "H1", InEncoding::Base64).is_err());
    assert_eq!(decode_bytes(&json!([1, 256])), None);
    assert_eq!(decode_bytes(&json!("not base64!")), None);
    assert_eq!(decode_bytes(&json!(12)), None);
}

#[test]
fn file_infos_read_at_the_top_or_under_a_node() {
    let top = json!({"file_qury_no": 123, "filename": "a.zip", "dld_endtime": "2026-12-03 10:00:00", "other": 1});
    let info = upload_answer(&top).unwrap();
    assert_eq!(info.file_qury_no.as_deref(), Some("123"));
    let nested = json!({"fileinfo": {"file_qury_no": "F1", "filename": null, "dld_endtime": ""}});
    let info = detail_reconcile_answer(&nested).unwrap();
    assert_eq!(info.file_qury_no.as_deref(), Some("F1"));
    assert_eq!((info.filename, info.dld_endtime), (None, None));
    let other = json!({"result": {"file_qury_no": "F2"}});
    assert_eq!(
        detail_reconcile_answer(&other)
            .unwrap()
            .file_qury_no
            .as_deref(),
        Some("F2")
    );
    for bad in [
        json!({}),
        json!({"fileinfo": {"file_qury_no": ""}}),
        json!(null),
    ] {
        let e = detail_reconcile_answer(&bad).unwrap_err();
        assert!(matches!(e, UpstreamError::Protocol { .. }), "{bad}: {e:?}");
    }
}

#[test]
fn the_download_answer_is_accepted_in_every_plausible_shape() {
    let archive = zip::write_single("r.txt", b"x");
    let b64 = InEncoding::Base64.encode(&archive);
    let arr = InEncoding::Bytes.encode(&archive);
    assert_eq!(
        download_answer(&classify_file(200, &archive).unwrap()).unwrap(),
        archive
    );
    for output in [
        b64.clone(),
        arr.clone(),
        json!({"file": b64}),
        json!({"fsDownloadOut": {"data": arr}}),
    ] {
        let body = json!({"infcode": "0", "output": output}).to_string();
        let answer = classify_file(200, body.as_bytes()).unwrap();
        assert_eq!(download_answer(&answer).unwrap(), archive, "{output}");
    }
    // A refusal stays a refusal; garbage is unknown; an envelope without a ZIP is a protocol error.
    let refused = json!({"infcode": -1, "err_msg": "文件已过期"}).to_string();
    assert!(matches!(
        classify_file(200, refused.as_bytes()),
        Err(UpstreamError::Business { .. })
    ));
    assert!(
        classify_file(200, b"\x00\x01garbage")
            .unwrap_err()
            .outcome_unknown()
    );
    let empty = classify_file(200, br#"{"infcode":0,"output":{"x":"aGVsbG8="}}"#).unwrap();
    assert!(matches!(
        download_answer(&empty),
        Err(UpstreamError::Protocol { .. })
    ));
    // A ZIP body under an error status is not taken as the file.
    assert!(classify_file(502, &archive).is_err());
    let r = classify(200, br#"{"infcode":0}"#).unwrap();
    assert!(download_answer(&FileAnswer::Envelope(r)).is_err());
}

#[test]
fn the_detail_statement_serialises_the_contract_fields() {
    let input = DetailReconcileInput {
        data: DetailStatement {
            setl_optins: "110199".into(),
            file_qury_no: "F1".into(),
            stmt_begndate: "2026-12-02".into(),
            stmt_enddate: "2026-12-02".into(),
            medfee_sumamt: Fen(12_850),
            fund_pay_sumamt: Fen(8_000),
            cash_payamt: Fen(1_820),
            fixmedins_setl_cnt: 2,
            clr_type: "41".into(),
            refd_setl_flag: "1".into(),
        },
    };
    assert_eq!(
        serde_json::to_value(&input).unwrap(),
        json!({"data": {"setl_optins": "110199", "file_qury_no": "F1",
            "stmt_begndate": "2026-12-02", "stmt_enddate": "2026-12-02",
            "medfee_sumamt": "128.50", "fund_pay_sumamt": "80.00", "cash_payamt": "18.20",
            "fixmedins_setl_cnt": 2, "clr_type": "41", "refd_setl_flag": "1"}})
    );
    let d = DownloadInput::of(
        &FileInfo {
            file_qury_no: Some("F1".into()),
            filename: Some("r.zip".into()),
            ..FileInfo::default()
        },
        "H1",
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({"fsDownloadIn": {"file_qury_no": "F1", "filename": "r.zip", "fixmedins_code": "H1"}})
    );
    assert!(DownloadInput::of(&FileInfo::default(), "H1").is_err());
    let _ = classify(200, br#"{"infcode":0}"#).unwrap();
}

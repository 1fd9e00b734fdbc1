//! 9101 upload, 3202 detail reconciliation and 9102 download: both `in` encodings, the file
//! paths, the refusals, and a platform-only settlement found.

use medsettle_nhsa::money::Fen;
use medsettle_nhsa::tx::statement::file::{self, DetailLine, ResultLine};
use medsettle_nhsa::tx::statement::{InEncoding, zip};
use medsettle_sandbox::Injected;
use serde_json::{Value, json};

use crate::support::*;

/// The detail line of settlement `s` as a terminal writes it.
fn line_of(c: &Client, setl_id: &str, refund: bool) -> DetailLine {
    let ledger = c.sb.ledger();
    let s = ledger.by_setl_id(setl_id).unwrap();
    let sign = if refund { -1 } else { 1 };
    DetailLine {
        setl_id: s.setl_id.clone(),
        mdtrt_id: s.mdtrt_id.clone(),
        psn_no: s.psn_no.as_str().into(),
        medfee_sumamt: Fen(sign * s.medfee_sumamt.0),
        fund_pay_sumamt: Fen(sign * s.fund_pay_sumamt.0),
        acct_pay: Fen(sign * s.acct_pay.0),
        refund,
    }
}

fn upload_input(lines: &[DetailLine], encoding: InEncoding) -> Value {
    let archive = file::detail_zip("d.zip", lines);
    json!({"fsUploadIn": {"in": encoding.encode(&archive), "filename": "d.zip", "fixmedins_code": CODE}})
}

fn statement(file_qury_no: &str, lines: &[DetailLine]) -> Value {
    let sum = |f: fn(&DetailLine) -> Fen| Fen(lines.iter().map(|l| f(l).0).sum());
    json!({"data": {
        "setl_optins": "110105", "file_qury_no": file_qury_no,
        "stmt_begndate": "2026-11-23", "stmt_enddate": "2026-11-23",
        "medfee_sumamt": sum(|l| l.medfee_sumamt), "fund_pay_sumamt": sum(|l| l.fund_pay_sumamt),
        "cash_payamt": "0.00", "fixmedins_setl_cnt": lines.len(), "clr_type": "41",
        "refd_setl_flag": "1",
    }})
}

/// Two settlements of ZHANG, the second cancelled; their setl_ids.
async fn two_sales(c: &mut Client) -> (String, String) {
    let mut ids = Vec::new();
    for bchno in ["B1", "B2"] {
        let s = settled(
            &c.call_for(
                "2102",
                &ZHANG,
                pharmacy(&ZHANG, &[("X1", "100.00")], "1", bchno),
            )
            .await,
        );
        ids.push(s.setlinfo.setl_id.unwrap());
    }
    let cancel = json!({"data": {"setl_id": ids[1], "mdtrt_id": "", "psn_no": ZHANG.psn_no}});
    ok(&c.call_for("2103", &ZHANG, cancel).await);
    (ids[0].clone(), ids[1].clone())
}

/// POSTs `env` to `path` and returns (content type, body bytes).
async fn post_raw(c: &Client, path: &str, env: &Env) -> (String, Vec<u8>) {
    let r = c
        .http
        .post(format!("{}{path}", c.sb.base_url()))
        .json(&env.json())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    (ct, r.bytes().await.unwrap().to_vec())
}

async fn download(c: &mut Client, file_qury_no: &str, path: &str) -> Result<Vec<u8>, Value> {
    let env = c.env(
        "9102",
        json!({"fsDownloadIn": {"file_qury_no": file_qury_no, "filename": "", "fixmedins_code": CODE}}),
    );
    let (ct, body) = post_raw(c, path, &env).await;
    if ct == "application/zip" {
        Ok(body)
    } else {
        Err(serde_json::from_slice(&body).unwrap())
    }
}

#[tokio::test]
async fn uploads_accept_base64_and_byte_arrays_on_either_path() {
    let mut c = Client::signed_in().await;
    let (s1, _) = two_sales(&mut c).await;
    let lines = vec![line_of(&c, &s1, false)];
    let a = c
        .call("9101", upload_input(&lines, InEncoding::Base64))
        .await;
    ok(&a);
    assert_eq!(a["output"]["filename"], "d.zip");
    assert_eq!(a["output"]["fixmedins_code"], CODE);
    assert!(a["output"]["dld_endtime"].as_str().unwrap().len() == 19);
    let env = c.env("9101", upload_input(&lines, InEncoding::Bytes));
    let (ct, body) = post_raw(&c, "/fsi/api/fileupload/upload", &env).await;
    assert!(ct.starts_with("application/json"));
    let b: Value = serde_json::from_slice(&body).unwrap();
    ok(&b);
    assert_ne!(a["output"]["file_qury_no"], b["output"]["file_qury_no"]);
    let uploads = c.sb.detail_uploads();
    let encodings: Vec<_> = uploads.iter().map(|u| u.encoding.as_str()).collect();
    assert_eq!(encodings, ["base64", "bytes"]);
    assert!(uploads.iter().all(|u| u.lines == 1));
    // The same msgid again: the remembered answer, no second file.
    let again: Value =
        serde_json::from_slice(&post_raw(&c, "/fsi/api/fileupload/upload", &env).await.1).unwrap();
    assert_eq!(again, b);
    assert_eq!(c.sb.detail_uploads().len(), 2);
}

#[tokio::test]
async fn uploads_refuse_what_they_cannot_read() {
    let mut c = Client::signed_in().await;
    let good = upload_input(&[], InEncoding::Base64);
    let mut bad_in = good.clone();
    bad_in["fsUploadIn"]["in"] = json!([80, 75, 300]);
    refused(&c.call("9101", bad_in).await, "文件内容格式错误");
    let malformed = zip::write_single("d.txt", b"S1\tM1\tP1\t1.00\n");
    let input = json!({"fsUploadIn": {"in": InEncoding::Base64.encode(&malformed), "filename": "d.zip", "fixmedins_code": CODE}});
    let out = c.call("9101", input).await;
    refused(&out, "明细文件格式错误");
    assert!(out["err_msg"].as_str().unwrap().contains("line 1"), "{out}");
    let mut other = good.clone();
    other["fsUploadIn"]["fixmedins_code"] = json!("P99999999999");
    refused(&c.call("9101", other).await, "定点机构编码不符");
    let mut nameless = good;
    nameless["fsUploadIn"]
        .as_object_mut()
        .unwrap()
        .remove("filename");
    refused(&c.call("9101", nameless).await, "入参缺少字段 filename");
    // Without a session, like every request.
    c.sign_no = "X".repeat(30);
    refused(
        &c.call("9101", upload_input(&[], InEncoding::Base64)).await,
        medsettle_sandbox::SIGN_IN_INVALID,
    );
    assert!(c.sb.detail_uploads().is_empty());
}

#[tokio::test]
async fn reconcile_finds_each_difference_and_the_injected_settlement() {
    let mut c = Client::signed_in().await;
    let (s1, s2) = two_sales(&mut c).await;
    c.sb.inject_settlement(Injected {
        setl_id: "SETL-FOREIGN".into(),
        mdtrt_id: "M-FOREIGN".into(),
        psn_no: LI.psn_no.into(),
        insutype: "310".into(),
        fixmedins_code: CODE.into(),
        day: "2026-11-23".into(),
        medfee_sumamt: fen("55.00"),
        fund_pay_sumamt: fen("30.00"),
        acct_pay: fen("5.00"),
        msgid: String::new(),
        clr_type: "41".into(),
        clr_optins: "110105".into(),
    });
    // The terminal knows s1 (with a wrong account amount), s2 without its cancellation, and a
    // sale the platform never had.
    let mut wrong = line_of(&c, &s1, false);
    wrong.acct_pay = Fen(wrong.acct_pay.0 + 1);
    let ghost = DetailLine {
        setl_id: "SETL-GHOST".into(),
        ..line_of(&c, &s1, false)
    };
    let lines = vec![wrong, line_of(&c, &s2, false), ghost];
    let up = c
        .call("9101", upload_input(&lines, InEncoding::Bytes))
        .await;
    ok(&up);
    let no = up["output"]["file_qury_no"].as_str().unwrap().to_owned();
    let out = c.call("3202", statement(&no, &lines)).await;
    ok(&out);
    let info = &out["output"]["fileinfo"];
    let result_no = info["file_qury_no"].as_str().unwrap().to_owned();
    assert!(info["filename"].as_str().unwrap().ends_with(".zip"));
    let zip = download(&mut c, &result_no, medsettle_sandbox::DEFAULT_PATH)
        .await
        .unwrap();
    let result = file::result_from_zip(&zip).unwrap();
    let verdicts: Vec<(&str, bool, &str)> = result
        .iter()
        .map(|l: &ResultLine| (l.setl_id.as_str(), l.refund, l.stmt_rslt.as_str()))
        .collect();
    assert_eq!(
        verdicts,
        [
            (s1.as_str(), false, "1"),
            (s2.as_str(), false, "0"),
            ("SETL-GHOST", false, "2"),
            (s2.as_str(), true, "3"),
            ("SETL-FOREIGN", false, "3"),
        ]
    );
    let ledger = c.sb.ledger();
    let first = ledger.by_setl_id(&s1).unwrap();
    assert_eq!(
        result[0].acct_pay,
        Some(first.acct_pay),
        "the platform's amount"
    );
    assert_eq!(result[0].msgid, first.msgid);
    assert_eq!(result[2].medfee_sumamt, None);
    let cancelled = ledger.by_setl_id(&s2).unwrap();
    assert_eq!(result[3].msgid, cancelled.cancel_msgid.clone().unwrap());
    assert_eq!(
        result[3].medfee_sumamt,
        Some(Fen(-cancelled.medfee_sumamt.0))
    );
    assert_eq!(result[4].medfee_sumamt, Some(fen("55.00")));
    // The download path serves the same file.
    let again = download(&mut c, &result_no, "/fsi/api/fileupload/download")
        .await
        .unwrap();
    assert_eq!(again, zip);
}

#[tokio::test]
async fn reconcile_and_download_refuse_per_the_contract() {
    let mut c = Client::signed_in().await;
    let (s1, _) = two_sales(&mut c).await;
    let lines = vec![line_of(&c, &s1, false)];
    let up = c
        .call("9101", upload_input(&lines, InEncoding::Base64))
        .await;
    let no = up["output"]["file_qury_no"].as_str().unwrap().to_owned();
    refused(
        &c.call("3202", statement("F-NOPE", &lines)).await,
        "文件查询号不存在",
    );
    let mut off = statement(&no, &lines);
    off["data"]["medfee_sumamt"] = json!("1.00");
    refused(&c.call("3202", off).await, "汇总数据与明细文件不符");
    let mut count = statement(&no, &lines);
    count["data"]["fixmedins_setl_cnt"] = json!(2);
    refused(&c.call("3202", count).await, "汇总数据与明细文件不符");
    for key in ["setl_optins", "cash_payamt", "stmt_enddate"] {
        let mut missing = statement(&no, &lines);
        missing["data"].as_object_mut().unwrap().remove(key);
        refused(
            &c.call("3202", missing).await,
            &format!("入参缺少字段 {key}"),
        );
    }
    let out = c.call("3202", statement(&no, &lines)).await;
    ok(&out);
    let result_no = out["output"]["fileinfo"]["file_qury_no"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = download(&mut c, "R-NOPE", medsettle_sandbox::DEFAULT_PATH)
        .await
        .unwrap_err();
    refused(&e, "文件查询号不存在");
    assert!(
        download(&mut c, &result_no, medsettle_sandbox::DEFAULT_PATH)
            .await
            .is_ok()
    );
    // After dld_endtime the file is gone.
    c.sb.advance_clock(std::time::Duration::from_secs(61 * 60));
    let e = download(&mut c, &result_no, medsettle_sandbox::DEFAULT_PATH)
        .await
        .unwrap_err();
    refused(&e, "文件已过下载截止时间");
}

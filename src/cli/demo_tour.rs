//! The scripted tour `medsettle demo` runs once the daemon is up: every kind of sale through the
//! local API, exactly as cashier software would call it, against the in-process sandbox insurer
//! (whose admin endpoints stand in for the world: minting codes, cutting the link). It prints
//! each step; personal data only masked, as the API gives it.

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};

/// Where the tour reaches the daemon and the sandbox.
pub(super) struct Tour {
    pub api: String,
    pub token: String,
    pub sandbox: String,
}

/// The demo patient (the sandbox's 测试张三, card M12345678, PIN 123456).
const CERTNO: &str = "110105199003071239";
const PIN: &str = "123456";

struct Http {
    client: reqwest::Client,
    tour: Tour,
}

impl Http {
    async fn api(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        let r = self
            .client
            .post(format!("{}{path}", self.tour.api))
            .bearer_auth(&self.tour.token)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn ok(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let (status, v) = self.api(path, body).await?;
        if (200..300).contains(&status) {
            Ok(v)
        } else {
            Err(anyhow!(
                "{path}: HTTP {status}: {}",
                v["message_en"].as_str().unwrap_or("")
            ))
        }
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .client
            .get(format!("{}{path}", self.tour.api))
            .bearer_auth(&self.tour.token)
            .send()
            .await?;
        Ok(r.json().await?)
    }

    async fn sandbox(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let r = self
            .client
            .request(method, format!("{}{path}", self.tour.sandbox))
            .json(&body)
            .send()
            .await?;
        Ok(r.json().await.unwrap_or(Value::Null))
    }
}

fn yuan(v: &Value) -> String {
    v.as_str().unwrap_or("-").to_owned()
}

fn split_line(sale: &Value) -> String {
    let s = &sale["settlement"];
    format!(
        "医保基金 fund {} · 个人账户 account {} · 现金 cash {}",
        yuan(&s["fund"]),
        yuan(&s["account"]),
        yuan(&s["cash"])
    )
}

fn items(amount: &str) -> Value {
    json!([
        {"code": "XA01BAA123A001010100001", "name": "阿莫西林胶囊 Amoxicillin", "cnt": "2", "pric": amount},
        {"code": "ZB02CAA456B002020200002", "name": "维生素C Vitamin C (自费 self-pay)", "cnt": "1", "pric": "6.50"}
    ])
}

/// Prints a one-time link to the status page (valid two minutes, once).
pub(super) async fn print_status_link(tour: &Tour) {
    crate::upstream::transport::install_crypto_provider();
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    else {
        return;
    };
    let answer = client
        .post(format!("{}/v1/ui/links", tour.api))
        .bearer_auth(&tour.token)
        .send()
        .await;
    if let Ok(r) = answer {
        if let Ok(v) = r.json::<Value>().await {
            if let Some(path) = v["path"].as_str() {
                println!(
                    "  status    {}{path}  (状态页 status page; one-time link, 2 min — `medsettle status-link` makes more)",
                    tour.api
                );
            }
        }
    }
}

/// Runs the tour; prints each step. Errors end the tour (the daemon keeps serving).
pub(super) async fn run(tour: Tour) -> anyhow::Result<()> {
    crate::upstream::transport::install_crypto_provider();
    let http = Http {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        tour,
    };
    println!("\n== 演示 Tour: four sales, two clinic visits and the end of the day ==");

    // 1. Online card sale, its boxes' trace codes scanned.
    println!("\n① 刷卡结算 Online card sale, drug trace codes scanned box by box");
    let card = http.ok("/v1/card/read", json!({})).await?;
    println!(
        "   读卡 card read: {} (credential {})",
        card["record"]["card_no"]
            .as_str()
            .map(mask)
            .unwrap_or_default(),
        short(&card["credential_id"])
    );
    let sale = traced_card_sale(&http, &card, "12.80").await?;
    println!("   已结算 settled: {}", split_line(&sale));
    let id = sale["id"].as_str().unwrap_or_default();
    let reports = wait_reported(&http, id).await?;
    println!(
        "   追溯码上报 trace report (3505): {} line(s), {} box(es) → {}",
        reports.len(),
        reports
            .iter()
            .map(|r| r["codes"].as_u64().unwrap_or(0))
            .sum::<u64>(),
        reports
            .iter()
            .map(|r| r["state"].as_str().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // 2. Signed e-SSC QR sale.
    println!("\n② 电子社保卡码结算 e-SSC QR sale");
    let minted = http
        .sandbox(
            reqwest::Method::POST,
            "/admin/essc",
            json!({ "certno": CERTNO }),
        )
        .await?;
    let code = minted["code"]
        .as_str()
        .ok_or_else(|| anyhow!("sandbox minted no e-SSC"))?;
    let scan = http.ok("/v1/qr/submit", json!({ "text": code })).await?;
    println!(
        "   扫码 scanned: {} valid={} (verified offline with the issuer key)",
        scan["kind"], scan["valid"]
    );
    let sale = qr_sale(&http, &scan, json!({ "pin": PIN })).await?;
    println!("   已结算 settled: {}", split_line(&sale));

    // 3. E-voucher QR sale.
    println!("\n③ 医保码结算 e-voucher QR sale");
    let issued = http
        .sandbox(
            reqwest::Method::POST,
            "/admin/evoucher",
            json!({ "certno": CERTNO }),
        )
        .await?;
    let code = issued["ecQrCode"]
        .as_str()
        .ok_or_else(|| anyhow!("sandbox issued no e-voucher"))?;
    let scan = http.ok("/v1/qr/submit", json!({ "text": code })).await?;
    println!(
        "   扫码 scanned: {} (decoded by the platform's ec.query at sale time)",
        scan["kind"]
    );
    let sale = qr_sale(&http, &scan, json!({})).await?;
    println!("   已结算 settled: {}", split_line(&sale));

    // 4. Platform outage: stored offline, forwarded when the link is back.
    println!("\n④ 医保平台中断 Platform outage → stored offline → forwarded");
    http.sandbox(
        reqwest::Method::POST,
        "/admin/faults",
        json!({ "infno": "*", "fault": { "kind": "drop_before_commit" } }),
    )
    .await?;
    let card = http.ok("/v1/card/read", json!({})).await?;
    let created = http
        .ok(
            "/v1/sales",
            json!({ "credential_id": card["credential_id"], "items": items("9.90") }),
        )
        .await?;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let (status, offline) = http
        .api(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await?;
    println!(
        "   预结算 presettle: HTTP {status} {} — {}",
        offline["code"].as_str().unwrap_or(""),
        offline["message_zh"].as_str().unwrap_or("")
    );
    let collected = created["amount"].clone();
    let stored = http
        .ok(
            &format!("/v1/sales/{id}/confirm"),
            json!({ "pin": PIN, "collected": collected }),
        )
        .await?;
    println!(
        "   脱机保存 stored: state={} collected {} (patient paid in full)",
        stored["state"],
        yuan(&collected)
    );
    let queue = http.get("/v1/queue").await?;
    println!(
        "   队列 queue: {} sale(s), {} yuan",
        queue["totals"]["count"],
        yuan(&queue["totals"]["amount"])
    );
    http.sandbox(reqwest::Method::DELETE, "/admin/faults", Value::Null)
        .await?;
    println!("   网络恢复 link back: the forwarder settles it by itself");
    http.ok("/v1/queue/flush", json!({})).await?;
    let settled = wait_settled(&http, &id).await?;
    println!("   已结算 settled: {}", split_line(&settled));
    println!(
        "   收银通知 cashier event: refund due to the patient 应退 {} yuan",
        yuan(&settled["refund_due"])
    );

    // 5. An outpatient visit, registration to receipt.
    println!("\n⑤ 门诊就诊结算 Outpatient visit: register → fee details → presettle → settle");
    let card = http.ok("/v1/card/read", json!({})).await?;
    let visit = outpatient_visit(&http, &card, "MZ-DEMO-1").await?;
    let id = visit["id"].as_str().unwrap_or_default().to_owned();
    let pre = http
        .ok(&format!("/v1/visits/{id}/presettle"), json!({}))
        .await?;
    println!(
        "   预结算 presettle (2206): 总额 total {} · 患者自付 patient pays {}",
        yuan(&pre["amount"]),
        yuan(&pre["patient_share"])
    );
    println!("   患者输入密码 patient enters the card PIN");
    let settled = http
        .ok(&format!("/v1/visits/{id}/confirm"), json!({ "pin": PIN }))
        .await?;
    println!("   已结算 settled (2207): {}", split_line(&settled));
    println!(
        "   收据 receipt: 就诊 visit {} · 结算 setl_id {}",
        short(&settled["visit"]["mdtrt_id"]),
        short(&settled["settlement"]["setl_id"])
    );

    // 6. A visit the patient leaves before paying: the platform gets everything back.
    println!("\n⑥ 放弃就诊 Abandoned visit: the undo chain gives the platform back what it holds");
    let card = http.ok("/v1/card/read", json!({})).await?;
    let visit = outpatient_visit(&http, &card, "MZ-DEMO-2").await?;
    let id = visit["id"].as_str().unwrap_or_default().to_owned();
    let mdtrt_id = visit["visit"]["mdtrt_id"].clone();
    http.ok(&format!("/v1/visits/{id}/presettle"), json!({}))
        .await?;
    println!("   患者离开 the patient leaves before paying: 撤销 cancel");
    let cancelled = http
        .ok(&format!("/v1/visits/{id}/cancel"), json!({}))
        .await?;
    println!(
        "   撤销费用明细 2205 → 撤销挂号 2202: {} (platform holds nothing: {})",
        cancelled["state"].as_str().unwrap_or(""),
        cancelled["visit"]["holds"] == false
    );
    let books = http
        .sandbox(reqwest::Method::GET, "/admin/visits", Value::Null)
        .await?;
    if let Some(v) = books
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["mdtrt_id"] == mdtrt_id)
    {
        println!(
            "   医保平台账本 the platform's books: visit {} {} with {} fee line(s)",
            short(&v["mdtrt_id"]),
            v["status"].as_str().unwrap_or(""),
            v["lines"].as_array().map_or(0, Vec::len)
        );
    }

    // 7. End of day.
    println!("\n⑦ 日终对账 End-of-day reconciliation (3201)");
    let report = http.ok("/v1/reconcile", json!({})).await?;
    for line in report["lines"].as_array().into_iter().flatten() {
        let t = &line["totals"];
        println!(
            "   险种 insutype {} 清算 clr_type {} 经办机构 setl_optins {}: {} line(s), 医疗费 {} yuan, 基金 {}, 账户 {} — {}",
            t["insutype"].as_str().unwrap_or(""),
            t["clr_type"].as_str().unwrap_or(""),
            t["setl_optins"].as_str().unwrap_or(""),
            t["count"],
            yuan(&t["medfee"]),
            yuan(&t["fund"]),
            yuan(&t["account"]),
            if line["balanced"] == true {
                "平 balanced"
            } else {
                "不平 NOT balanced"
            }
        );
    }
    if report["balanced"] != true {
        bail!("reconciliation does not balance");
    }
    println!("\n== 演示完成 Tour done: every sale settled once, the day balances ==");
    Ok(())
}

/// An outpatient visit of 内科 for the card's holder with two fee lines: registered (1101,
/// 2201, 2203A) and its details uploaded (2204) by one `POST /v1/visits`.
async fn outpatient_visit(http: &Http, card: &Value, ipt_otp_no: &str) -> anyhow::Result<Value> {
    let visit = http
        .ok(
            "/v1/visits",
            json!({
                "credential_id": card["credential_id"],
                "ipt_otp_no": ipt_otp_no,
                "med_type": "11",
                "dept_code": "A03", "dept_name": "内科", "caty": "A03",
                "atddr_no": "D110105000001", "dr_name": "李医生 Dr Li",
                "diagnoses": [{"diag_srt_no": 1, "diag_code": "J06.900", "diag_name": "急性上呼吸道感染"}],
                "items": [
                    {"code": "001101000010000-110100001", "local_code": "GH001", "name": "普通门诊诊查费 consultation", "cnt": "1", "pric": "25.00"},
                    {"code": "XA01BAA123A001010100001", "local_code": "YP0101", "name": "阿莫西林胶囊 Amoxicillin", "cnt": "2", "pric": "12.80"}
                ]
            }),
        )
        .await?;
    println!(
        "   挂号 registered (2201 + 2203A): 门诊号 {} · 就诊 visit {} · 费用明细 {} line(s) uploaded (2204)",
        ipt_otp_no,
        short(&visit["visit"]["mdtrt_id"]),
        visit["items"].as_array().map_or(0, Vec::len)
    );
    Ok(visit)
}

/// The pharmacy counter's way: the sale is opened, each box sold is scanned (here handed to
/// `POST /v1/qr/submit` as a scan box would send it) and its trace code attached to the line;
/// the box's 商品码 scanned by mistake is refused with what to scan instead.
async fn traced_card_sale(http: &Http, card: &Value, pric: &str) -> anyhow::Result<Value> {
    let mut lines = items(pric);
    lines[0]["trace"] = json!({ "codes": [], "fixmedins_bchno": "B-DEMO-0001",
                                "manu_lotnum": "L2511", "manu_date": "2025-11-01",
                                "expy_end": "2027-10-31", "rx_flag": "1" });
    let sale = http
        .ok(
            "/v1/sales",
            json!({ "credential_id": card["credential_id"], "items": lines }),
        )
        .await?;
    let id = sale["id"].as_str().unwrap_or_default().to_owned();
    // Two boxes of line 1 (fresh codes each run), with the box's EAN-13 between them.
    let serial = rand::random::<u64>() % 1_000_000_000_000_000;
    let boxes = [
        format!("81{serial:018}"),
        "6901234567892".to_owned(),
        format!("81{:018}", serial + 1),
    ];
    for text in &boxes {
        let scan = http.ok("/v1/qr/submit", json!({ "text": text })).await?;
        let Some(code) = scan["trace"]["code"].as_str() else {
            println!(
                "   扫码 scanned {}: {} — {}",
                text,
                scan["error"]["code"].as_str().unwrap_or(""),
                scan["error"]["message_zh"].as_str().unwrap_or("")
            );
            continue;
        };
        let attached = http
            .ok(
                &format!("/v1/sales/{id}/trace"),
                json!({ "line": 0, "codes": [code] }),
            )
            .await?;
        println!(
            "   扫码 scanned trace code {} → line 1 now has {} box(es)",
            code,
            attached["items"][0]["trace"]["codes"]
                .as_array()
                .map_or(0, Vec::len)
        );
    }
    let pre = http
        .ok(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await?;
    println!(
        "   预结算 presettle: 总额 total {} · 患者自付 patient pays {}",
        yuan(&pre["amount"]),
        yuan(&pre["patient_share"])
    );
    println!("   患者输入密码 patient enters the card PIN");
    http.ok(&format!("/v1/sales/{id}/confirm"), json!({ "pin": PIN }))
        .await
}

/// Waits until every trace report of sale `id` left the outbox (sent, or refused).
async fn wait_reported(http: &Http, id: &str) -> anyhow::Result<Vec<Value>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut events = http
        .client
        .get(format!("{}/v1/events?topics=trace", http.tour.api))
        .bearer_auth(&http.tour.token)
        .timeout(Duration::from_secs(40))
        .send()
        .await?;
    loop {
        let v = http.get(&format!("/v1/trace?sale_id={id}")).await?;
        let reports = v["reports"].as_array().cloned().unwrap_or_default();
        if !reports.is_empty() && reports.iter().all(|r| r["state"] != "pending") {
            return Ok(reports);
        }
        if Instant::now() > deadline {
            bail!("the trace reports of {id} were not sent within 30 s: {v}");
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), events.chunk()).await;
    }
}

async fn qr_sale(http: &Http, scan: &Value, consent: Value) -> anyhow::Result<Value> {
    let sale = http
        .ok(
            "/v1/sales",
            json!({ "credential_id": scan["credential_id"], "items": items("15.00") }),
        )
        .await?;
    let id = sale["id"].as_str().unwrap_or_default();
    let pre = http
        .ok(&format!("/v1/sales/{id}/presettle"), json!({}))
        .await?;
    println!(
        "   预结算 presettle: 患者自付 patient pays {}",
        yuan(&pre["patient_share"])
    );
    http.ok(&format!("/v1/sales/{id}/confirm"), consent).await
}

/// Waits for the stored sale to settle (reading it again on each of the daemon's events).
async fn wait_settled(http: &Http, id: &str) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut events = http
        .client
        .get(format!("{}/v1/events?topics=sale", http.tour.api))
        .bearer_auth(&http.tour.token)
        .timeout(Duration::from_secs(70))
        .send()
        .await?;
    loop {
        let v = http.get(&format!("/v1/sales/{id}")).await?;
        if v["sale"]["state"] == "settled" {
            return Ok(v["sale"].clone());
        }
        if Instant::now() > deadline {
            bail!(
                "the stored sale did not settle within 60 s (state {})",
                v["sale"]["state"]
            );
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), events.chunk()).await;
    }
}

fn mask(s: &str) -> String {
    let n = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| if i == 0 || i + 3 >= n { c } else { '*' })
        .collect()
}

fn short(v: &Value) -> String {
    v.as_str()
        .map(|s| s.chars().take(9).collect::<String>() + "…")
        .unwrap_or_default()
}

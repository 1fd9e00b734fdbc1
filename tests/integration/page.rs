//! The status page at `/`: the login form, the session cookie and what it may (only `GET` on
//! the page's read routes) and may not do, one-time links (`POST /v1/ui/links`,
//! `medsettle status-link`), logout; and the page itself in headless Chromium with the virtual
//! card reader and stored sales: reader name, zh/en labels, no personal data, a new sale shown
//! live through the event stream, the connection-lost banner when the daemon stops, and a
//! screenshot kept under `target/test-artefacts/status.png`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::sales::{ID_NUMBER, NAME, PIN, Rig};
use crate::support::browser::Browser;
use crate::support::{BIN, InProcess, TOKEN, Terminal};

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    medsettle::upstream::transport::install_crypto_provider();
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `name=value` part of a 303's session cookie, after checking its attributes.
fn session_cookie(resp: &reqwest::Response) -> String {
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/");
    let set = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(attr), "{set}");
    }
    let pair = set.split(';').next().unwrap().to_owned();
    assert!(pair.starts_with("medsettle_session="), "{set}");
    assert!(pair.len() > "medsettle_session=".len() + 32, "{set}");
    pair
}

async fn get(d: &InProcess, path: &str, cookie: &str) -> reqwest::Response {
    client()
        .get(d.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

async fn login(d: &InProcess, token: &str) -> reqwest::Response {
    client()
        .post(d.url("/ui/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap()
}

/// `POST /v1/ui/links` with the token: the link's path.
async fn link(d: &InProcess, body: Value) -> String {
    let resp = client()
        .post(d.url("/v1/ui/links"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["path"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn page_without_a_session_shows_the_login_form() {
    let t = Terminal::new();
    let d = InProcess::start(&t).await;
    let resp = client().get(d.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"action="/ui/login""#), "{html}");
    assert!(html.contains("访问令牌") && html.contains("Access token"));
    assert!(!html.contains("/ui/app.js"), "no status page before login");
    // A made-up cookie changes nothing.
    let html = get(&d, "/", "medsettle_session=0123456789abcdef")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"action="/ui/login""#));
    let r = get(&d, "/v1/status", "medsettle_session=0123456789abcdef").await;
    assert_eq!(r.status(), 401);
    // The assets are plain, served from the binary.
    let js = client().get(d.url("/ui/app.js")).send().await.unwrap();
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.text().await.unwrap().contains("EventSource"));
    d.shutdown().await;
}

#[tokio::test]
async fn page_login_cookie_reads_but_never_writes_and_logout_ends_it() {
    let t = Terminal::new();
    let d = InProcess::start(&t).await;

    let wrong = login(&d, "not-the-token").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    let html = wrong.text().await.unwrap();
    assert!(
        html.contains("访问令牌无效") && html.contains("not valid"),
        "{html}"
    );
    assert_eq!(login(&d, "").await.status(), 401);

    let cookie = session_cookie(&login(&d, TOKEN).await);
    let page = get(&d, "/", &cookie).await.text().await.unwrap();
    assert!(page.contains("/ui/app.js"), "{page}");
    assert!(page.contains("读卡器") && page.contains("Readers"));

    // The page's reads work with the cookie alone.
    let status = get(&d, "/v1/status", &cookie).await;
    assert_eq!(status.status(), 200);
    let status: Value = status.json().await.unwrap();
    assert_eq!(status["terminal"]["id"], "T0001");
    assert_eq!(get(&d, "/v1/queue", &cookie).await.status(), 200);
    let events = get(&d, "/v1/events", &cookie).await;
    assert_eq!(events.status(), 200);
    drop(events);
    // Routes the page does not read, and every change, still need the token.
    for path in ["/v1/version", "/metrics", "/v1/openapi.json"] {
        assert_eq!(get(&d, path, &cookie).await.status(), 401, "{path}");
    }
    for path in [
        "/v1/sales",
        "/v1/ui/links",
        "/v1/queue/flush",
        "/v1/reconcile",
    ] {
        let r = client()
            .post(d.url(path))
            .header(COOKIE, &cookie)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}: a cookie never authorizes a POST");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "auth.missing_token");
    }
    // The bearer token keeps working beside it.
    let r = client()
        .get(d.url("/v1/version"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let out = client()
        .post(d.url("/ui/logout"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let cleared = out.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(get(&d, "/v1/status", &cookie).await.status(), 401);
    let html = get(&d, "/", &cookie).await.text().await.unwrap();
    assert!(html.contains(r#"action="/ui/login""#));
    d.shutdown().await;
}

#[tokio::test]
async fn page_one_time_links_work_once_and_expire() {
    let t = Terminal::new();
    let d = InProcess::start(&t).await;

    let path = link(&d, json!({})).await;
    assert!(path.starts_with("/ui/enter?code="), "{path}");
    let first = client().get(d.url(&path)).send().await.unwrap();
    let cookie = session_cookie(&first);
    assert_eq!(get(&d, "/v1/status", &cookie).await.status(), 200);

    let again = client().get(d.url(&path)).send().await.unwrap();
    assert_eq!(again.status(), 403);
    assert!(again.headers().get(SET_COOKIE).is_none());
    let html = again.text().await.unwrap();
    assert!(
        html.contains("已使用") && html.contains("already been used"),
        "{html}"
    );

    // A code valid for 0 ms is expired by the time anyone opens it.
    let expired = link(&d, json!({ "valid_ms": 0 })).await;
    let r = client().get(d.url(&expired)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("已过期") && html.contains("expired"),
        "{html}"
    );

    let r = client()
        .get(d.url("/ui/enter?code=0123456789abcdef"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("not valid"));
    assert_eq!(
        client()
            .get(d.url("/ui/enter"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );

    // Links last at most 2 minutes and need the token.
    let r = client()
        .post(d.url("/v1/ui/links"))
        .bearer_auth(TOKEN)
        .json(&json!({ "valid_ms": 120_001 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = client().post(d.url("/v1/ui/links")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    d.shutdown().await;
}

#[tokio::test]
async fn page_status_link_command_prints_a_working_link() {
    let t = Terminal::new();
    let d = InProcess::start(&t).await;
    let config = t.path().join("link.toml");
    let text = t.config_with(|c| c.api.listen = d.addr);
    std::fs::write(&config, text).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["status-link", "-c"])
            .arg(&config)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = stdout.trim();
    assert!(
        url.starts_with(&format!("http://{}/ui/enter?code=", d.addr)),
        "{url}"
    );
    let cookie = session_cookie(&client().get(url).send().await.unwrap());
    assert_eq!(get(&d, "/v1/readers", &cookie).await.status(), 503);
    assert_eq!(client().get(url).send().await.unwrap().status(), 403);
    d.shutdown().await;
}

/// Where test artefacts are kept: `target/test-artefacts` (or under `CARGO_TARGET_DIR`).
fn artefacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("test-artefacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn page_renders_in_chromium_updates_live_and_shows_a_lost_link() {
    // The virtual reader with the normal card, and one sale stored offline (platform down).
    let rig = Rig::platform_down("").await;
    let first = rig.sale("12.50", Some("force_offline")).await;
    let (status, body) = rig.confirm(&first, json!({ "pin": PIN })).await;
    assert_eq!(status, 200, "{body}");

    let url = rig.d.url(&link(&rig.d, json!({})).await);
    let browser = tokio::task::spawn_blocking(move || {
        let mut b = Browser::start(1280, 900);
        b.open(&url);
        // The first full read, and the event stream open.
        b.wait_for(
            &format!(
                "document.body.dataset.live === 'on' && document.getElementById('sales').textContent.includes('{first}')"
            ),
            Duration::from_secs(20),
        );
        b
    })
    .await
    .unwrap();
    let mut b = browser;
    let dom = b.html();
    assert!(
        dom.contains(medsettle_vcard::inprocess::READER_NAME),
        "the reader's name: {dom}"
    );
    for label in [
        "读卡器",
        "Readers",
        "脱机队列",
        "Offline queue",
        "最近交易",
        "Recent sales",
        "脱机待上传",
        "社保卡",
    ] {
        assert!(dom.contains(label), "{label}: {dom}");
    }
    assert!(dom.contains("T0001"), "terminal identity: {dom}");
    let banner_hidden = b.eval("document.getElementById('banner').hidden");
    assert_eq!(
        banner_hidden,
        json!(true),
        "no banner while the stream is open"
    );

    // Live: a second sale appears, and the queue totals follow, with no reload.
    b.eval("window.__not_reloaded = true");
    let second = rig.sale("7.30", Some("force_offline")).await;
    let (status, body) = rig.confirm(&second, json!({ "pin": PIN })).await;
    assert_eq!(status, 200, "{body}");
    let shown = second.clone();
    let mut b = tokio::task::spawn_blocking(move || {
        b.wait_for(
            &format!(
                "document.getElementById('sales').textContent.includes('{shown}') \
                 && document.getElementById('queue').textContent.includes('¥19.80')"
            ),
            Duration::from_secs(20),
        );
        b
    })
    .await
    .unwrap();
    assert_eq!(b.eval("window.__not_reloaded === true"), json!(true));
    let dom = b.html();
    assert!(!dom.contains(ID_NUMBER), "raw ID number on the page: {dom}");
    assert!(!dom.contains(NAME), "raw name on the page: {dom}");

    let png = artefacts().join("status.png");
    let _ = std::fs::remove_file(&png);
    let size = b.screenshot(&png);
    assert!(size > 20_000, "{} is only {size} bytes", png.display());
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "{}", png.display());

    // The daemon goes away: the page says the connection is lost and keeps what it showed.
    rig.stop().await;
    tokio::task::spawn_blocking(move || {
        b.wait_for(
            "document.body.dataset.live === 'off' && !document.getElementById('banner').hidden",
            Duration::from_secs(20),
        );
        let banner = b.eval("document.getElementById('banner').innerText");
        let banner = banner.as_str().unwrap();
        assert!(
            banner.contains("连接中断") && banner.contains("Connection lost"),
            "{banner}"
        );
        let sales = b.eval("document.getElementById('sales').textContent");
        assert!(sales.as_str().unwrap().contains(&second), "{sales}");
    })
    .await
    .unwrap();
}

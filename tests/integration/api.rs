//! The local API's base: token on every route but `/healthz`, JSON errors with stable codes,
//! limits and the Unix socket (the OpenAPI document against the routes: `openapi`).

use medsettle::api::{Access, ROUTES};
use serde_json::Value;

use crate::support::{self, InProcess, TOKEN, Terminal};

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message_zh"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["message_en"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["details"].is_object(), "{body}");
}

#[tokio::test]
async fn every_route_but_healthz_needs_the_token() {
    let t = Terminal::new();
    let d = InProcess::start(&t).await;
    let c = support::client();
    // The status page's routes answer browsers for themselves (`page` tests them).
    for r in ROUTES.iter().filter(|r| r.access != Access::Page) {
        let url = d.url(r.path);
        let method: reqwest::Method = r.method.parse().unwrap();
        let long_poll = r.path == "/v1/credentials/wait";
        let req = || {
            let b = c.request(method.clone(), &url);
            // The credential long-poll would wait its default 20 s for nothing: ask for 100 ms.
            if long_poll {
                b.json(&serde_json::json!({ "wait_ms": 100 }))
            } else {
                b
            }
        };
        let bare = req().send().await.unwrap();
        let wrong = req().bearer_auth("not-the-token").send().await.unwrap();
        let right = req().bearer_auth(TOKEN).send().await.unwrap();
        // With the token every route answers for itself (this terminal has no card reader,
        // nor QR source, so those routes say `*.disabled` (a code submitted by hand is still
        // processed: no body is a 400); nor a platform, so reconciliation
        // says `sale.no_platform`, nor a fleet ledger, so the institution's reconciliation says
        // `fleet.not_configured`; the sale routes are called with no body and a literal `{id}`);
        // none of them says 401.
        let expected = match (r.method, r.path) {
            ("POST", "/v1/qr/submit") => 400,
            ("POST", "/v1/credentials/wait") => 408,
            (_, p) if p.starts_with("/v1/kiosk") => 503,
            (_, p) if p.starts_with("/v1/card") || p.starts_with("/v1/qr") => 503,
            (_, "/v1/readers") | (_, "/v1/reconcile") => 503,
            (_, "/v1/fleet/reconcile") => 409,
            ("POST", "/v1/sales") | ("POST", "/v1/visits") => 400,
            (_, p) if p.contains("{id}") => 404,
            ("POST", "/v1/queue/flush") => 202,
            _ => 200,
        };
        assert_eq!(right.status(), expected, "{} with token", r.path);
        match r.access {
            Access::Public => {
                assert_eq!(bare.status(), 200, "{}", r.path);
            }
            Access::Page => unreachable!("filtered out above"),
            Access::Token | Access::Metrics => {
                assert_eq!(bare.status(), 401, "{}", r.path);
                assert_eq!(bare.headers()["www-authenticate"], "Bearer");
                assert_error(&bare.json().await.unwrap(), "auth.missing_token");
                assert_eq!(wrong.status(), 401, "{}", r.path);
                assert_error(&wrong.json().await.unwrap(), "auth.invalid_token");
            }
        }
    }
    d.shutdown().await;
}

#[tokio::test]
async fn status_reports_components_without_personal_data() {
    let t = Terminal::new();
    let d = InProcess::start(&t).await;
    let s: Value = support::get_json(&d.url("/v1/status")).await;
    assert_eq!(s["phase"], "running");
    assert_eq!(s["components"]["store"]["health"], "ok");
    assert_eq!(s["components"]["api"]["health"], "ok");
    assert_eq!(s["terminal"]["id"], "T0001");
    assert!(s["alarms"].as_array().unwrap().is_empty());
    d.shutdown().await;
}

#[tokio::test]
async fn errors_are_json_with_stable_codes() {
    let t = Terminal::new();
    let d = InProcess::start(&t).await;
    let c = support::client();
    let r = c
        .get(d.url("/v1/no-such-thing"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_error(&r.json().await.unwrap(), "request.not_found");
    let r = c
        .delete(d.url("/v1/status"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_error(&r.json().await.unwrap(), "request.method_not_allowed");
    d.shutdown().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let t = Terminal::with(|x| x.push_str("max_body_bytes = 2048\n"));
    let d = InProcess::start(&t).await;
    let r = support::client()
        .post(d.url("/v1/status"))
        .bearer_auth(TOKEN)
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_error(&body, "request.too_large");
    assert_eq!(body["details"]["limit_bytes"], 2048);
    d.shutdown().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let t = Terminal::new();
    let d = InProcess::start(&t).await;
    let c = support::client();
    for _ in 0..3 {
        c.get(d.url("/v1/version"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
    }
    let text = c
        .get(d.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"medsettle_http_requests_total{route="/v1/version",method="GET",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(text.contains("medsettle_component_up{component=\"store\"} 1"));
    d.shutdown().await;
}

#[tokio::test]
async fn unix_socket_serves_the_api_with_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = Terminal::new();
    let sock = t.path().join("run/api.sock");
    let t = Terminal {
        extra: format!(
            "unix_socket = \"{}\"\nunix_socket_mode = \"0660\"\n",
            sock.display()
        ),
        ..t
    };
    let d = InProcess::start(&t).await;
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let mut s = tokio::net::UnixStream::connect(&sock).await.unwrap();
    let req = format!(
        "GET /v1/version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("\"name\":\"medsettle\""), "{out}");
    d.shutdown().await;
    assert!(!sock.exists(), "the socket file is removed on shutdown");
}

/// CORS is off by default (no `Access-Control-Allow-Origin` for anyone); with
/// `api.cors_origins` only the listed origin is allowed, and a preflight needs no token.
#[tokio::test]
async fn cors_only_for_configured_origins() {
    for configured in [false, true] {
        let t = Terminal::new();
        let mut config = t.config();
        if configured {
            config.api.cors_origins = vec!["http://localhost:8080".into()];
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let env = medsettle::daemon::Environment {
            notifier: medsettle::daemon::Notifier::disabled(),
            credentials_dir: None,
            log: None,
            events: medsettle::events::EventBus::default(),
            readers: None,
            scans: None,
        };
        let d = medsettle::daemon::Daemon::start(config, listener, env)
            .await
            .unwrap();
        let base = format!("http://{}", d.local_addr().unwrap());
        let (control, rx) = tokio::sync::mpsc::channel(1);
        let task = tokio::spawn(d.serve(rx));
        let c = support::client();
        for origin in ["http://localhost:8080", "http://evil.example"] {
            let preflight = c
                .request(reqwest::Method::OPTIONS, format!("{base}/v1/status"))
                .header("origin", origin)
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "authorization")
                .send()
                .await
                .unwrap();
            let allowed = preflight
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_owned());
            let get = c
                .get(format!("{base}/v1/status"))
                .header("origin", origin)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            let get_allowed = get.headers().get("access-control-allow-origin").cloned();
            if configured && origin == "http://localhost:8080" {
                assert_eq!(allowed.as_deref(), Some(origin));
                assert!(preflight.status().is_success());
                assert_eq!(get_allowed.unwrap(), origin);
            } else {
                assert_eq!(allowed, None, "{origin} configured={configured}");
                assert!(get_allowed.is_none());
            }
        }
        control
            .send(medsettle::daemon::Control::Shutdown)
            .await
            .unwrap();
        task.await.unwrap().unwrap();
    }
}

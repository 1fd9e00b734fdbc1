//! HTTP: the accept loop, the routes and the carrying-out of faults, on hyper alone (a test
//! double needs no web framework: two protocol routes and the admin routes are one `match`).
//!
//! Each connection is served by hyper's HTTP/1 `serve_connection` inside a `select!` with a
//! per-connection kill signal. A handler that must drop the connection (the `drop_*` faults)
//! fires the signal and never answers, so the connection future is dropped and the socket
//! closed with no response byte: the client sees EOF (or a reset), never an HTTP status. The
//! state lock is taken only in synchronous sections, never across an await.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use http_body_util::BodyExt as _;
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::Shared;
use crate::envelope;
use crate::evoucher;
use crate::fault::Fault;
use crate::http::{Response, respond};
use crate::protocol;

/// Fired by a handler to close its connection without answering.
#[derive(Clone)]
pub struct Kill(Arc<Notify>);

impl Kill {
    async fn drop_connection(&self) -> Response {
        self.0.notify_one();
        std::future::pending::<()>().await;
        unreachable!("the connection task is dropped first")
    }
}

/// Accepts and serves connections until `shutdown` changes.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, shared.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "sandbox accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let kill = Arc::new(Notify::new());
    let handle = Kill(kill.clone());
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let (shared, kill) = (shared.clone(), handle.clone());
        async move { Ok::<_, Infallible>(route(shared, kill, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {}
    }
}

/// The route table: the file requests (9101/3202/9102, on the file paths or the protocol path;
/// `tx/detail.rs`), the protocol path, the e-voucher path, then the admin routes.
async fn route(shared: Arc<Shared>, kill: Kill, req: Request<Incoming>) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return respond(StatusCode::BAD_REQUEST, "text/plain", "unreadable body");
    };
    let path = parts.uri.path();
    if parts.method == Method::POST
        && crate::tx::detail::is_file_request(path, &shared.config.path, &body)
    {
        if let Some(refusal) = gateway_refusal(&shared, &parts.headers) {
            return refusal;
        }
        return crate::tx::detail::endpoint(&shared, &body);
    }
    if parts.method == Method::POST && path == "/admin/settlements" {
        return crate::tx::detail::admin_inject(&shared, &body);
    }
    if path == shared.config.path || path == shared.config.ec_path {
        if parts.method != Method::POST {
            return respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "POST only");
        }
        return if path == shared.config.path {
            protocol_endpoint(&shared, &kill, &parts.headers, &body).await
        } else {
            ec_endpoint(&shared, &kill, &parts.headers, &body).await
        };
    }
    crate::admin::route(&shared, &parts.method, path, &body)
}

fn json_body(text: String) -> Response {
    respond(StatusCode::OK, "application/json; charset=utf-8", text)
}

/// The gateway check of the `x-tif-*` headers (upstream.md, Transport), when configured.
fn gateway_refusal(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let (paasid, token) = shared.config.tif.as_ref()?;
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let timestamp = get("x-tif-timestamp");
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (t - shared.lock().now().timestamp()).abs() <= 300);
    let expected = medsettle_nhsa::tif::TifHeaders::sign(
        paasid,
        token,
        timestamp.parse().unwrap_or_default(),
        get("x-tif-nonce"),
    );
    let ok = get("x-tif-paasid") == paasid.as_str()
        && fresh
        && !get("x-tif-nonce").is_empty()
        && get("x-tif-signature") == expected.signature;
    (!ok).then(|| {
        respond(
            StatusCode::UNAUTHORIZED,
            "text/plain; charset=utf-8",
            "gateway: x-tif signature missing or invalid",
        )
    })
}

async fn protocol_endpoint(
    shared: &Shared,
    kill: &Kill,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if let Some(refusal) = gateway_refusal(shared, headers) {
        return refusal;
    }
    let received = Utc::now();
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let infno = parsed
        .as_ref()
        .and_then(|v| v.get("infno"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let msgid = parsed.as_ref().map(envelope::msgid_of).unwrap_or_default();
    let fault = {
        let mut state = shared.lock();
        state.count_request(&infno);
        state.faults.pick(&infno)
    };
    let answer = fault
        .as_ref()
        .is_none_or(Fault::commits)
        .then(|| match &parsed {
            Some(v) => {
                let mut state = shared.lock();
                state.settle_delta = match &fault {
                    Some(Fault::SettleOtherAmount { delta_fen }) => Some(*delta_fen),
                    _ => None,
                };
                let answer = protocol::process(&mut state, &shared.config, v, received);
                state.settle_delta = None;
                answer
            }
            None => envelope::respond(
                "",
                received,
                Err("请求报文不是合法JSON body is not JSON".to_owned()),
            ),
        });
    carry_out(shared, fault, answer, kill, |message| {
        envelope::respond(&msgid, received, Err(message))
    })
    .await
}

async fn ec_endpoint(shared: &Shared, kill: &Kill, headers: &HeaderMap, body: &Bytes) -> Response {
    if let Some(refusal) = gateway_refusal(shared, headers) {
        return refusal;
    }
    let fault = shared.lock().faults.pick("ec.query");
    let answer = fault.as_ref().is_none_or(Fault::commits).then(|| {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => evoucher::query(&mut shared.lock(), &shared.config, &v),
            Err(_) => evoucher::refuse("请求报文不是合法JSON"),
        }
        .to_string()
    });
    carry_out(shared, fault, answer, kill, |message| {
        evoucher::refuse(&message).to_string()
    })
    .await
}

/// Sends `answer` as the fault says. `answer` is `None` exactly when the fault does not commit.
async fn carry_out(
    shared: &Shared,
    fault: Option<Fault>,
    answer: Option<String>,
    kill: &Kill,
    business_error: impl FnOnce(String) -> String,
) -> Response {
    let answer = answer.unwrap_or_default();
    match fault {
        // The other amount was settled by the handler; the answer goes out as it is.
        None | Some(Fault::SettleOtherAmount { .. }) => json_body(answer),
        Some(Fault::Latency { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            json_body(answer)
        }
        Some(Fault::DropBeforeCommit | Fault::DropAfterCommit) => kill.drop_connection().await,
        Some(Fault::HttpStatus { status, .. }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            respond(
                status,
                "text/html",
                format!("<html><body><h1>{status}</h1>sandbox gateway fault</body></html>"),
            )
        }
        Some(Fault::MalformedJson { .. }) => {
            let cut = answer.len() / 2;
            let mut garbage: String = answer
                .char_indices()
                .take_while(|(i, _)| *i < cut)
                .map(|(_, c)| c)
                .collect();
            if garbage.is_empty() {
                garbage.push_str("{\"infcode\":0,\"output\":{");
            }
            garbage.push_str("\u{fffd}<!--");
            json_body(garbage)
        }
        Some(Fault::BusinessError { message }) => json_body(business_error(message)),
        Some(Fault::Hold { commit }) => {
            shared.holds.wait().await;
            if commit {
                json_body(answer)
            } else {
                kill.drop_connection().await
            }
        }
    }
}

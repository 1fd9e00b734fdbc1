//! Loopback control endpoints for tests and demos: the ledger, the outpatient visits, the trace
//! codes reported (3505/3506), fault
//! rules, minting e-SSC codes and e-voucher QR codes, and the issuer key. No authentication: the sandbox is a test
//! double and must only listen on loopback.

use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Shared;
use crate::fault::FaultRule;
use crate::http::{Response, respond};
use crate::shapes::AnswerShapes;

/// Answers an admin request, or 404/405/400 for anything else.
pub fn route(shared: &Shared, method: &Method, path: &str, body: &Bytes) -> Response {
    let known = matches!(
        path,
        "/admin/ledger"
            | "/admin/visits"
            | "/admin/faults"
            | "/admin/essc"
            | "/admin/evoucher"
            | "/admin/keys"
            | "/admin/held"
            | "/admin/release"
            | "/admin/shapes"
            | "/admin/trace"
    );
    if !known {
        return respond(StatusCode::NOT_FOUND, "text/plain", "no such route");
    }
    match (method, path) {
        (&Method::GET, "/admin/ledger") => json(&serde_json::to_value(shared.lock().ledger())),
        (&Method::GET, "/admin/visits") => {
            json(&serde_json::to_value(shared.lock().visit_records()))
        }
        (&Method::GET, "/admin/faults") => {
            json(&serde_json::to_value(shared.lock().faults.rules()))
        }
        (&Method::POST, "/admin/faults") => with_body(body, |rule: FaultRule| {
            shared.lock().faults.add(rule);
            ok()
        }),
        (&Method::GET, "/admin/trace") => {
            let state = shared.lock();
            json(&Ok(json!({
                "events": state.trace,
                "sold_twice": crate::tx::trace::sold_twice(&state.trace),
            })))
        }
        (&Method::GET, "/admin/shapes") => json(&serde_json::to_value(&shared.lock().shapes)),
        (&Method::POST, "/admin/shapes") => with_body(body, |shapes: AnswerShapes| {
            shared.lock().shapes = shapes;
            ok()
        }),
        (&Method::DELETE, "/admin/faults") => {
            shared.lock().faults.clear();
            ok()
        }
        (&Method::GET, "/admin/held") => json(&Ok(json!({"held": shared.holds.held()}))),
        (&Method::POST, "/admin/release") => json(&Ok(json!({"released": shared.holds.release()}))),
        (&Method::POST, "/admin/essc") => {
            with_body(body, |req: Certno| match shared.mint_essc(&req.certno) {
                Ok(code) => json(&Ok(json!({"code": code}))),
                Err(e) => not_found(e),
            })
        }
        (&Method::POST, "/admin/evoucher") => with_body(body, |req: Certno| {
            match shared.issue_evoucher(&req.certno) {
                Ok(code) => json(&Ok(json!({"ecQrCode": code}))),
                Err(e) => not_found(e),
            }
        }),
        (&Method::GET, "/admin/keys") => json(&Ok(json!({
            "essc_kid": shared.issuer.kid(),
            "essc_public_key_hex": shared.issuer.public_key_hex(),
        }))),
        _ => respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed",
        ),
    }
}

#[derive(Deserialize)]
struct Certno {
    certno: String,
}

/// `handle` of the JSON body as `T`, or a 400 saying why it is not one.
fn with_body<T: serde::de::DeserializeOwned>(
    body: &Bytes,
    handle: impl FnOnce(T) -> Response,
) -> Response {
    match serde_json::from_slice(body) {
        Ok(value) => handle(value),
        Err(e) => respond(
            StatusCode::BAD_REQUEST,
            "application/json",
            json!({"error": e.to_string()}).to_string(),
        ),
    }
}

fn json(value: &serde_json::Result<Value>) -> Response {
    match value {
        Ok(v) => respond(StatusCode::OK, "application/json", v.to_string()),
        Err(e) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            e.to_string(),
        ),
    }
}

fn ok() -> Response {
    json(&Ok(json!({"ok": true})))
}

fn not_found(e: impl std::fmt::Display) -> Response {
    respond(
        StatusCode::NOT_FOUND,
        "application/json",
        json!({"error": e.to_string()}).to_string(),
    )
}

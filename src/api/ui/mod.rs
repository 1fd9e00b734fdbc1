//! The live status page: `GET /` and its assets, the login form, one-time links, logout.
//!
//! The page is one HTML file with plain JS and CSS, all compiled into the binary from the files
//! beside this one; nothing is fetched from elsewhere. A browser gets a session cookie
//! (`HttpOnly; SameSite=Strict`) by posting the API token to `/ui/login` or by opening a
//! one-time link from `medsettle status-link`; the cookie then authorizes the few read-only
//! `GET` API calls the page makes ([`SESSION_READABLE`]) and nothing else. The page shows only
//! what those endpoints show: masked views, never a raw ID number or name.

pub mod session;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::AppState;
use session::LinkRefused;

/// The session cookie's name.
pub const COOKIE: &str = "medsettle_session";

/// API routes a session cookie may call (`GET` only); every other route needs the token.
pub const SESSION_READABLE: &[&str] = &[
    "/v1/status",
    "/v1/events",
    "/v1/queue",
    "/v1/readers",
    "/v1/visits",
];

const INDEX_HTML: &str = include_str!("index.html");
const LOGIN_HTML: &str = include_str!("login.html");
const APP_JS: &str = include_str!("app.js");
const APP_CSS: &str = include_str!("app.css");

/// No inline script or style, nothing from elsewhere, no framing.
const CSP: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The session id the request's cookie carries, if any.
pub(super) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

/// Whether the request carries a live session cookie.
pub(super) fn has_session(state: &AppState, headers: &HeaderMap) -> bool {
    session_cookie(headers).is_some_and(|id| state.sessions.is_valid(id, Instant::now()))
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The login page with a message (zh and en) above the form, or none.
fn login_page(status: StatusCode, message: Option<(&str, &str)>) -> Response {
    let msg = message.map_or_else(String::new, |(zh, en)| {
        format!(r#"<p class="error" id="error">{zh}<br><span class="en">{en}</span></p>"#)
    });
    html(status, LOGIN_HTML.replace("<!--message-->", &msg))
}

fn set_cookie(value: &str, max_age: u64) -> HeaderValue {
    let text = format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn see_other_with_cookie(cookie: HeaderValue) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, HeaderValue::from_static("/")),
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

fn open_session(state: &AppState) -> Response {
    let id = state.sessions.open(Instant::now());
    see_other_with_cookie(set_cookie(&id, session::SESSION_TTL.as_secs()))
}

/// `GET /`: the status page with a session, the login form without.
pub(super) async fn index(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if has_session(&state, &headers) {
        html(StatusCode::OK, INDEX_HTML.to_owned())
    } else {
        login_page(StatusCode::OK, None)
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `GET /ui/app.js`.
pub(super) async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /ui/app.css`.
pub(super) async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

/// The value of `name` in an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = char::from(bytes.next()?).to_digit(16)?;
                let lo = char::from(bytes.next()?).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
            }
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// `POST /ui/login`: the token in a form body opens a session.
pub(super) async fn login(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let presented = form_value(&body, "token").unwrap_or_default();
    let presented = presented.trim();
    let ok: bool = !presented.is_empty()
        && state.with_token(|t| t.expose().as_bytes().ct_eq(presented.as_bytes()).into());
    if !ok {
        tracing::warn!("status page login with an invalid token refused");
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some((
                "访问令牌无效，请重新输入。",
                "The access token is not valid; try again.",
            )),
        );
    }
    open_session(&state)
}

/// `POST /ui/logout`: ends the session and clears the cookie.
pub(super) async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        state.sessions.close(id);
    }
    see_other_with_cookie(set_cookie("", 0))
}

#[derive(Debug, Deserialize)]
pub(super) struct EnterQuery {
    code: Option<String>,
}

/// `GET /ui/enter?code=…`: a one-time link opens a session once.
pub(super) async fn enter(
    State(state): State<Arc<AppState>>,
    query: Result<Query<EnterQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let code = query.ok().and_then(|Query(q)| q.code).unwrap_or_default();
    match state.sessions.redeem(&code, Instant::now()) {
        Ok(id) => see_other_with_cookie(set_cookie(&id, session::SESSION_TTL.as_secs())),
        Err(why) => {
            let (zh, en) = match why {
                LinkRefused::Used => (
                    "此链接已使用过，每个链接只能使用一次。请运行 medsettle status-link 获取新链接，或输入访问令牌登录。",
                    "This link has already been used; each link works once. Run medsettle status-link for a new one, or log in with the access token.",
                ),
                LinkRefused::Expired => (
                    "此链接已过期（有效期 2 分钟）。请运行 medsettle status-link 获取新链接，或输入访问令牌登录。",
                    "This link has expired (links are valid for 2 minutes). Run medsettle status-link for a new one, or log in with the access token.",
                ),
                LinkRefused::Unknown => (
                    "链接无效。请运行 medsettle status-link 获取新链接，或输入访问令牌登录。",
                    "This link is not valid. Run medsettle status-link for a new one, or log in with the access token.",
                ),
            };
            login_page(StatusCode::FORBIDDEN, Some((zh, en)))
        }
    }
}

/// `POST /v1/ui/links`: a one-time code for `/ui/enter` (token only).
pub(super) async fn create_link(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let max = session::LINK_TTL.as_millis() as u64;
    let valid_ms = match crate::api::bodies::link_valid_ms(&body, max) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let code = state
        .sessions
        .issue_link(Duration::from_millis(valid_ms), Instant::now());
    Json(serde_json::json!({
        "path": format!("/ui/enter?code={code}"),
        "code": code,
        "valid_ms": valid_ms,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_names_every_sale_state_as_the_api_does() {
        let start = APP_JS.find("const SALE = {").unwrap();
        let table = &APP_JS[start..start + APP_JS[start..].find("};").unwrap()];
        for state in crate::settle::SaleState::ALL {
            let zh = crate::settle::error::state_zh(state);
            let entry = format!("{}: ['{zh}', '", state.as_str());
            assert!(table.contains(&entry), "app.js lacks {entry}");
        }
        assert_eq!(
            table.matches("', '").count(),
            crate::settle::SaleState::ALL.len(),
            "app.js names a state the API does not have"
        );
    }

    #[test]
    fn form_values_are_percent_decoded() {
        assert_eq!(
            form_value(b"a=1&token=ab%2Bc+d", "token").as_deref(),
            Some("ab+c d")
        );
        assert_eq!(form_value(b"token=%zz", "token"), None);
        assert_eq!(form_value(b"other=1", "token"), None);
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; medsettle_session=abc ; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("abc"));
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }
}

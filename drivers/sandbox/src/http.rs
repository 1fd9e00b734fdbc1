//! The one response type of the sandbox's handlers and its constructor, below both the protocol
//! server and the admin routes.

use http_body_util::Full;
use hyper::StatusCode;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};

/// What every handler answers.
pub type Response = hyper::Response<Full<Bytes>>;

/// A response with `status`, a content type and `body`.
pub fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response {
    let mut r = hyper::Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

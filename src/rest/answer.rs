//! What every handler shares: the state it is given, the authenticated user, and the plain
//! answers (text, binary).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::app::App;

/// The state of every handler: the application, whose services it calls.
pub type Ctx = State<Arc<App>>;
/// The routes of one part of the API.
pub type Routes = Router<Arc<App>>;

/// The authenticated user of a request, if any (recorded as `HttpUsername`).
#[derive(Debug, Clone)]
pub struct HttpUser(pub Option<String>);

/// A `text/plain` answer.
pub fn text(body: impl Into<String>) -> Response {
    let mut r = body.into().into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// A binary answer with a MIME type.
pub fn binary(body: Vec<u8>, mime: &str) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_str(mime).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    r
}

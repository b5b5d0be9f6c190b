//! ETag, `If-Match` and `If-None-Match` headers of metadata and attachments
//! (`"<revision>-<md5>"`); the revision rules are the services' (`services::revision`).

use axum::http::header::{ETAG, IF_MATCH, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiResult, ErrorCode};
use crate::services::revision::Etag;

fn header(etag: &Etag) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}-{}\"", etag.revision, etag.md5))
        .unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The revision a client expects, from `If-Match`; malformed values are a 400.
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<Etag>> {
    let Some(value) = headers.get(IF_MATCH) else {
        return Ok(None);
    };
    let raw = value.to_str().unwrap_or("");
    Etag::parse(raw).map(Some).ok_or_else(|| {
        ApiError::with_details(ErrorCode::ParameterOutOfRange, format!(
            "The \"if-match\" HTTP header should contain the ETag (revision followed by MD5 hash), but found: {}",
            raw.trim().trim_matches('"')
        ))
    })
}

/// True when `If-None-Match` names the current ETag (the client's copy is fresh: 304).
pub fn not_modified(headers: &HeaderMap, current: &Etag) -> bool {
    headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(Etag::parse)
        .is_some_and(|e| &e == current)
}

pub fn not_modified_response(current: &Etag) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    r.headers_mut().insert(ETAG, header(current));
    r
}

pub fn with_etag(mut r: Response, etag: &Etag) -> Response {
    r.headers_mut().insert(ETAG, header(etag));
    r
}

//! ETags and `If-Match` revisions of metadata and attachments (`"<revision>-<md5>"`).

use axum::http::header::{ETAG, IF_MATCH, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ApiResult, ErrorCode};

pub use crate::hashing::md5_hex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Etag {
    pub revision: i64,
    pub md5: String,
}

impl Etag {
    pub fn header(&self) -> HeaderValue {
        HeaderValue::from_str(&format!("\"{}-{}\"", self.revision, self.md5))
            .unwrap_or(HeaderValue::from_static("\"0\""))
    }

    fn parse(raw: &str) -> Option<Etag> {
        let s = raw.trim().trim_matches('"');
        let (rev, md5) = s.split_once('-')?;
        let revision = rev.parse().ok()?;
        (md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Etag {
            revision,
            md5: md5.to_ascii_lowercase(),
        })
    }
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
    r.headers_mut().insert(ETAG, current.header());
    r
}

pub fn with_etag(mut r: Response, etag: &Etag) -> Response {
    r.headers_mut().insert(ETAG, etag.header());
    r
}

/// The revision rules of a write over an existing item (`current`): a given `If-Match` must
/// name the current revision and content; without one, `CheckRevisions` refuses to overwrite.
/// Returns the revision to record.
pub fn next_revision(
    current: Option<&Etag>,
    expected: Option<&Etag>,
    check_revisions: bool,
) -> ApiResult<i64> {
    match (current, expected) {
        (Some(cur), Some(exp)) if cur == exp => Ok(cur.revision + 1),
        (Some(_), Some(_)) | (None, Some(_)) => Err(ApiError::new(ErrorCode::Revision)),
        (Some(_), None) if check_revisions => Err(ApiError::new(ErrorCode::Revision)),
        (Some(cur), None) => Ok(cur.revision + 1),
        (None, None) => Ok(0),
    }
}

/// The checks before deleting an item (`current`, absent: `None`): `If-Match` is required with
/// `CheckRevisions`, the item must exist, and a given `If-Match` must name it exactly.
pub fn check_delete(
    expected: Option<&Etag>,
    current: Option<&Etag>,
    check_revisions: bool,
) -> ApiResult<()> {
    if expected.is_none() && check_revisions {
        return Err(ApiError::with_details(
            ErrorCode::Revision,
            "HTTP header \"If-Match\" is missing, as \"CheckRevisions\" is \"true\"",
        ));
    }
    let Some(current) = current else {
        return Err(ApiError::new(ErrorCode::UnknownResource));
    };
    match expected {
        Some(e) if e != current => Err(ApiError::new(ErrorCode::Revision)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(rev: i64, md5: &str) -> Etag {
        Etag {
            revision: rev,
            md5: md5.repeat(32),
        }
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            Etag::parse(&format!("\"3-{}\"", "a".repeat(32))),
            Some(e(3, "a"))
        );
        assert_eq!(Etag::parse("\"999\""), None);
        assert_eq!(Etag::parse("\"1-xyz\""), None);
    }

    #[test]
    fn revision_rules() {
        assert_eq!(next_revision(None, None, true).unwrap(), 0);
        assert_eq!(
            next_revision(Some(&e(2, "a")), Some(&e(2, "a")), true).unwrap(),
            3
        );
        assert!(next_revision(Some(&e(2, "a")), Some(&e(1, "a")), false).is_err());
        assert!(next_revision(Some(&e(2, "a")), Some(&e(2, "b")), false).is_err());
        assert!(next_revision(Some(&e(2, "a")), None, true).is_err());
        assert_eq!(next_revision(Some(&e(2, "a")), None, false).unwrap(), 3);
        assert!(check_delete(None, Some(&e(1, "a")), true).is_err());
        assert!(check_delete(None, Some(&e(1, "a")), false).is_ok());
        assert!(check_delete(None, None, false).is_err());
        assert!(check_delete(Some(&e(0, "a")), Some(&e(1, "a")), false).is_err());
        assert!(check_delete(Some(&e(1, "a")), Some(&e(1, "a")), true).is_ok());
    }
}

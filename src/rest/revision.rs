//! ETags and `If-Match` revisions of metadata and attachments (`"<revision>-<md5>"`).

use axum::http::header::{ETAG, IF_MATCH, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use stowage_core::Precondition;

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

/// The precondition of a write, checked by the index atomically with it: a given `If-Match`
/// must name the current revision and content (the write then records revision + 1); without
/// one, `CheckRevisions` refuses to overwrite an existing item, else anything goes (a new item
/// gets revision 0, an overwrite revision + 1). A refused write is a revision error.
pub fn write_precondition(expected: Option<Etag>, check_revisions: bool) -> Precondition {
    match expected {
        Some(Etag { revision, md5 }) => Precondition::Matches { revision, md5 },
        None if check_revisions => Precondition::Absent,
        None => Precondition::Any,
    }
}

/// The precondition of a delete: `If-Match` is required with `CheckRevisions` (checked here);
/// a given one must name the current revision and content (checked by the index, atomically
/// with the delete). Deleting an absent item is the caller's `UnknownResource`.
pub fn delete_precondition(
    expected: Option<Etag>,
    check_revisions: bool,
) -> ApiResult<Precondition> {
    match expected {
        Some(Etag { revision, md5 }) => Ok(Precondition::Matches { revision, md5 }),
        None if check_revisions => Err(ApiError::with_details(
            ErrorCode::Revision,
            "HTTP header \"If-Match\" is missing, as \"CheckRevisions\" is \"true\"",
        )),
        None => Ok(Precondition::Any),
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
        let matches = Precondition::Matches {
            revision: 2,
            md5: "a".repeat(32),
        };
        for check in [false, true] {
            assert_eq!(write_precondition(Some(e(2, "a")), check), matches);
            assert_eq!(
                delete_precondition(Some(e(2, "a")), check).unwrap(),
                matches
            );
        }
        assert_eq!(write_precondition(None, true), Precondition::Absent);
        assert_eq!(write_precondition(None, false), Precondition::Any);
        assert!(delete_precondition(None, true).is_err());
        assert_eq!(delete_precondition(None, false).unwrap(), Precondition::Any);
    }
}

//! Revisions of metadata and attachments: the rules of a write or a delete against what the
//! client expects (`If-Match`: `"<revision>-<md5>"`).

use super::error::{ErrorCode, Verdict};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Etag {
    pub revision: i64,
    pub md5: String,
}

impl Etag {
    /// Parses `"<revision>-<md5>"` (quotes optional); `None` if malformed.
    pub fn parse(raw: &str) -> Option<Etag> {
        let s = raw.trim().trim_matches('"');
        let (rev, md5) = s.split_once('-')?;
        let revision = rev.parse().ok()?;
        (md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Etag {
            revision,
            md5: md5.to_ascii_lowercase(),
        })
    }
}

/// A write or delete refused by the revision rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevisionError {
    /// The expected revision is not the current one (or the item is absent).
    #[error("revision mismatch")]
    Mismatch,
    /// `CheckRevisions` asks for an `If-Match`, and there is none.
    #[error("HTTP header \"If-Match\" is missing, as \"CheckRevisions\" is \"true\"")]
    IfMatchMissing,
    /// The item to delete does not exist.
    #[error("no such item")]
    Absent,
}

impl RevisionError {
    pub fn verdict(&self) -> Verdict {
        match self {
            RevisionError::Mismatch => Verdict::error(ErrorCode::Revision),
            RevisionError::IfMatchMissing => {
                Verdict::detailed(ErrorCode::Revision, self.to_string())
            }
            RevisionError::Absent => Verdict::error(ErrorCode::UnknownResource),
        }
    }
}

/// The revision rules of a write over an existing item (`current`): a given `If-Match` must
/// name the current revision and content; without one, `CheckRevisions` refuses to overwrite.
/// Returns the revision to record.
pub fn next_revision(
    current: Option<&Etag>,
    expected: Option<&Etag>,
    check_revisions: bool,
) -> Result<i64, RevisionError> {
    match (current, expected) {
        (Some(cur), Some(exp)) if cur == exp => Ok(cur.revision + 1),
        (Some(_), Some(_)) | (None, Some(_)) => Err(RevisionError::Mismatch),
        (Some(_), None) if check_revisions => Err(RevisionError::Mismatch),
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
) -> Result<(), RevisionError> {
    if expected.is_none() && check_revisions {
        return Err(RevisionError::IfMatchMissing);
    }
    let Some(current) = current else {
        return Err(RevisionError::Absent);
    };
    match expected {
        Some(e) if e != current => Err(RevisionError::Mismatch),
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

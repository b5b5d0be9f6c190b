//! Revisions of metadata and attachments: the rules of a write or a delete against what the
//! client expects (`If-Match`: `"<revision>-<md5>"`).

use stowage_core::Precondition;

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

/// A delete refused before the index is asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevisionError {
    /// `CheckRevisions` asks for an `If-Match`, and there is none.
    #[error("HTTP header \"If-Match\" is missing, as \"CheckRevisions\" is \"true\"")]
    IfMatchMissing,
}

impl RevisionError {
    pub fn verdict(&self) -> Verdict {
        match self {
            RevisionError::IfMatchMissing => {
                Verdict::detailed(ErrorCode::Revision, self.to_string())
            }
        }
    }
}

/// The precondition of a write, checked by the index atomically with it: a given `If-Match`
/// must name the current revision and content (the write then records revision + 1); without
/// one, `CheckRevisions` refuses to overwrite an existing item, else anything goes (a new item
/// gets revision 0, an overwrite revision + 1). A refused write is a revision error
/// ([`stowage_core::IndexError::RevisionMismatch`]).
pub fn write_precondition(expected: Option<Etag>, check_revisions: bool) -> Precondition {
    match expected {
        Some(Etag { revision, md5 }) => Precondition::Matches { revision, md5 },
        None if check_revisions => Precondition::Absent,
        None => Precondition::Any,
    }
}

/// The precondition of a delete: `If-Match` is required with `CheckRevisions` (checked here);
/// a given one must name the current revision and content (checked by the index, atomically
/// with the delete).
pub fn delete_precondition(
    expected: Option<Etag>,
    check_revisions: bool,
) -> Result<Precondition, RevisionError> {
    match expected {
        Some(Etag { revision, md5 }) => Ok(Precondition::Matches { revision, md5 }),
        None if check_revisions => Err(RevisionError::IfMatchMissing),
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
    fn preconditions() {
        assert_eq!(write_precondition(None, false), Precondition::Any);
        assert_eq!(write_precondition(None, true), Precondition::Absent);
        assert_eq!(
            write_precondition(Some(e(2, "a")), true),
            Precondition::Matches {
                revision: 2,
                md5: "a".repeat(32)
            }
        );
        assert_eq!(
            delete_precondition(None, true),
            Err(RevisionError::IfMatchMissing)
        );
        assert_eq!(delete_precondition(None, false), Ok(Precondition::Any));
        assert!(matches!(
            delete_precondition(Some(e(0, "b")), true),
            Ok(Precondition::Matches { revision: 0, .. })
        ));
    }
}

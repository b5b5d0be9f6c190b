//! Revisions of metadata values and attachments, and the preconditions a write puts on them.
//!
//! A metadata value or attachment gets revision 0 when first written and one more at each
//! overwrite. A client names the version it read by its ETag, `"<revision>-<md5>"` (the MD5 of
//! the metadata value, or of the attachment's uncompressed content), and sends it back as
//! `If-Match` to overwrite or delete exactly that version. The index checks such a
//! [`Precondition`] inside the writing transaction, atomically with the write: of two writers
//! expecting the same version, exactly one succeeds and the other gets
//! [`IndexError::RevisionMismatch`].

use md5::{Digest, Md5};

use crate::{IndexError, MetadataValue, StoredAttachment};

/// What a write expects to find; checked by the index inside the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Whatever is there, or nothing: a write creates (revision 0) or overwrites (revision + 1).
    Any,
    /// Nothing: a write creates the item and fails if it exists already.
    Absent,
    /// The item exists at this revision with this MD5 (an `If-Match` ETag). A write fails if
    /// the item is absent, at another revision, or holds other content.
    Matches {
        /// The revision expected.
        revision: i64,
        /// The MD5 expected, in hex (compared case-insensitively): of the metadata value's
        /// UTF-8 bytes, or of the attachment's uncompressed content.
        md5: String,
    },
}

impl Precondition {
    /// Whether a write may go ahead over the current metadata value (`None`: there is none);
    /// [`IndexError::RevisionMismatch`] if not.
    pub fn check_metadata(&self, current: Option<&MetadataValue>) -> Result<(), IndexError> {
        self.check(current.map(|m| m.revision), || {
            current.map(MetadataValue::md5).unwrap_or_default()
        })
    }

    /// Whether a write may go ahead over the current attachment (`None`: there is none);
    /// [`IndexError::RevisionMismatch`] if not.
    pub fn check_attachment(&self, current: Option<&StoredAttachment>) -> Result<(), IndexError> {
        self.check(current.map(|a| a.revision), || {
            current
                .map(|a| a.file.uncompressed_md5.clone())
                .unwrap_or_default()
        })
    }

    /// The MD5 of the current item is computed only when it is compared.
    fn check(
        &self,
        current_revision: Option<i64>,
        current_md5: impl FnOnce() -> String,
    ) -> Result<(), IndexError> {
        let holds = match (self, current_revision) {
            (Precondition::Any, _) | (Precondition::Absent, None) => true,
            (Precondition::Absent, Some(_)) | (Precondition::Matches { .. }, None) => false,
            (Precondition::Matches { revision, md5 }, Some(current)) => {
                *revision == current && md5.eq_ignore_ascii_case(&current_md5())
            }
        };
        if holds {
            Ok(())
        } else {
            Err(IndexError::RevisionMismatch)
        }
    }
}

impl MetadataValue {
    /// The MD5 an ETag names for this value: of its UTF-8 bytes, in lowercase hex.
    pub fn md5(&self) -> String {
        md5_hex(self.value.as_bytes())
    }
}

/// The MD5 of some bytes in lowercase hex, as ETags and attachment records write it.
pub fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(value: &str, revision: i64) -> MetadataValue {
        MetadataValue {
            value: value.to_owned(),
            revision,
        }
    }

    #[test]
    fn md5_of_known_values() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(value("one", 0).md5(), "f97c5d29941bfb1b2fdab0874906ab82");
    }

    #[test]
    fn preconditions() {
        let one = value("one", 2);
        let matches = |revision, md5: &str| Precondition::Matches {
            revision,
            md5: md5.to_owned(),
        };
        let ok = |p: &Precondition, cur: Option<&MetadataValue>| p.check_metadata(cur).is_ok();
        assert!(ok(&Precondition::Any, None));
        assert!(ok(&Precondition::Any, Some(&one)));
        assert!(ok(&Precondition::Absent, None));
        assert!(!ok(&Precondition::Absent, Some(&one)));
        assert!(ok(&matches(2, &one.md5()), Some(&one)));
        assert!(ok(&matches(2, &one.md5().to_ascii_uppercase()), Some(&one)));
        assert!(!ok(&matches(1, &one.md5()), Some(&one)));
        assert!(!ok(&matches(2, &value("two", 2).md5()), Some(&one)));
        assert!(!ok(&matches(2, &one.md5()), None));
        assert!(matches!(
            Precondition::Absent.check_metadata(Some(&one)),
            Err(IndexError::RevisionMismatch)
        ));
    }
}

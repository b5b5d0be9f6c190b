//! Search queries the index answers without reading the storage area (`/tools/find`, C-FIND).

use crate::{MetadataType, ResourceType};

/// How one tag value is constrained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConstraintKind {
    Equal(String),
    /// Inclusive bounds; either side may be open (dates, times).
    Range {
        lower: Option<String>,
        upper: Option<String>,
    },
    /// `*` and `?` wildcards.
    Wildcard(String),
    /// Any of the values (DICOM multi-value matching, `CT\MR`).
    List(Vec<String>),
}

/// A constraint on one main DICOM tag stored at `level`. When `level` is below the query level
/// (e.g. `Modality` for a Study query, Orthanc's `ModalitiesInStudy`), a resource matches if
/// any descendant at that level matches; when it is above, its ancestor must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagConstraint {
    pub level: ResourceType,
    pub group: u16,
    pub element: u16,
    pub kind: ConstraintKind,
    pub case_sensitive: bool,
}

/// A constraint on one metadata value of the resources searched (`MetadataQuery`, as in
/// Orthanc 1.12.5): resources without that metadata never match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataConstraint {
    pub metadata: MetadataType,
    /// How the value is matched (`Equal`, `Wildcard` or `List`); `None`: the metadata only has
    /// to exist (the value `*`).
    pub kind: Option<ConstraintKind>,
    pub case_sensitive: bool,
}

/// How the label set of a find query applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelsConstraint {
    #[default]
    All,
    Any,
    None,
}

/// A search on the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindQuery {
    pub level: ResourceType,
    pub constraints: Vec<TagConstraint>,
    pub labels: Vec<String>,
    pub labels_constraint: LabelsConstraint,
    /// Constraints on the metadata of the resources searched (all must hold).
    pub metadata: Vec<MetadataConstraint>,
    /// Skip this many matches (in index order).
    pub since: u64,
    /// At most this many matches (`None`: all).
    pub limit: Option<u64>,
}

impl TagConstraint {
    /// Whether a value matches, with the semantics the index applies in its queries (used when
    /// a constraint must be checked outside the index, e.g. on a tag read from a file).
    pub fn matches(&self, value: &str) -> bool {
        let norm = |s: &str| {
            if self.case_sensitive {
                s.to_owned()
            } else {
                normalize_for_matching(s)
            }
        };
        match &self.kind {
            ConstraintKind::Equal(v) => norm(v) == norm(value),
            ConstraintKind::List(items) => items.iter().any(|v| norm(v) == norm(value)),
            ConstraintKind::Wildcard(p) => {
                let (p, v): (Vec<char>, Vec<char>) =
                    (norm(p).chars().collect(), norm(value).chars().collect());
                wildcard_match(&p, &v)
            }
            ConstraintKind::Range { lower, upper } => {
                lower.as_deref().is_none_or(|l| value >= l)
                    && upper.as_deref().is_none_or(|u| value <= u)
            }
        }
    }
}

/// `*` matches any run of characters, `?` exactly one (iterative, with backtracking on `*`).
fn wildcard_match(pattern: &[char], value: &[char]) -> bool {
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == value[v]) {
            p += 1;
            v += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, v));
            p += 1;
        } else if let Some((sp, sv)) = star {
            p = sp + 1;
            v = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Uppercases a value the way the index normalizes values for case-insensitive matching.
pub fn normalize_for_matching(value: &str) -> String {
    value.to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(kind: ConstraintKind, case_sensitive: bool) -> TagConstraint {
        TagConstraint {
            level: ResourceType::Instance,
            group: 0x0010,
            element: 0x0010,
            kind,
            case_sensitive,
        }
    }

    #[test]
    fn matching_rules() {
        let w = |p: &str, cs| c(ConstraintKind::Wildcard(p.into()), cs);
        assert!(w("doe*", false).matches("Doe^John"));
        assert!(!w("doe*", true).matches("Doe^John"));
        assert!(w("*ü?ler*", false).matches("Müller^Jürgen"));
        assert!(w("a*b*c", true).matches("aXbYbc"));
        assert!(!w("a*b?c", true).matches("abc"));
        assert!(c(ConstraintKind::Equal("müller".into()), false).matches("MÜLLER"));
        assert!(c(ConstraintKind::List(vec!["CT".into(), "MR".into()]), false).matches("mr"));
        let r = c(
            ConstraintKind::Range {
                lower: Some("20200101".into()),
                upper: None,
            },
            false,
        );
        assert!(r.matches("20200101") && r.matches("20991231") && !r.matches("20191231"));
    }
}

//! Search queries the index answers without reading the storage area (`/tools/find`, C-FIND).

use crate::ResourceType;

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
    /// Skip this many matches (in index order).
    pub since: u64,
    /// At most this many matches (`None`: all).
    pub limit: Option<u64>,
}

/// Uppercases a value the way the index normalizes values for case-insensitive matching.
pub fn normalize_for_matching(value: &str) -> String {
    value.to_uppercase()
}

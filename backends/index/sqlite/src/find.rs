//! Compiles a [`FindQuery`] into one SQL statement over `Resources` and `MainDicomTags`.

use rusqlite::types::Value;
use stowage_core::find::normalize_for_matching;
use stowage_core::{
    ConstraintKind, FindQuery, LabelsConstraint, MetadataConstraint, TagConstraint,
};

/// The SQL function folding case as the index does for main DICOM tags (registered on every
/// connection: see `open_connection`).
pub(crate) const FOLD_FUNCTION: &str = "stowage_fold";

/// Depth of a level in the hierarchy (patient 0 .. instance 3).
fn depth(level: stowage_core::ResourceType) -> i64 {
    level.code()
}

/// Translates DICOM wildcards to a GLOB pattern (`[` must be escaped; `*` and `?` match as-is).
fn glob_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '[' => out.push_str("[[]"),
            ']' => out.push_str("[]]"),
            _ => out.push(c),
        }
    }
    out
}

/// Whether comparing a value with `bound` gives the same answer as comparing its case-folded
/// form: true when every byte of the bound sorts below `A`. Folding leaves such bytes
/// unchanged and turns a byte at or above `A` (a letter, or the start of a non-ASCII
/// character) into one at or above `A` again, so a value and its folded form differ from the
/// bound at the same place and in the same direction.
fn folding_keeps_order_against(bound: &str) -> bool {
    bound.bytes().all(|b| b < b'A')
}

/// SQL condition on the `MainDicomTags m` row for one constraint.
///
/// Every condition goes through the case-folded index `(tagGroup, tagElement, normalized)`,
/// the only one on main tag values. A case-sensitive match narrows by the folded form of what
/// is asked (anything matching it case-sensitively matches that too), then compares the
/// stored value.
fn value_condition(c: &TagConstraint, values: &mut Vec<Value>) -> String {
    let fold = normalize_for_matching;
    match &c.kind {
        ConstraintKind::Equal(v) => {
            values.push(Value::Text(fold(v)));
            if !c.case_sensitive {
                return "m.normalized = ?".to_owned();
            }
            values.push(Value::Text(v.clone()));
            "m.normalized = ? AND m.value = ?".to_owned()
        }
        ConstraintKind::List(items) => {
            let placeholders = vec!["?"; items.len()].join(", ");
            values.extend(items.iter().map(|v| Value::Text(fold(v))));
            if !c.case_sensitive {
                return format!("m.normalized IN ({placeholders})");
            }
            values.extend(items.iter().map(|v| Value::Text(v.clone())));
            format!("m.normalized IN ({placeholders}) AND m.value IN ({placeholders})")
        }
        ConstraintKind::Wildcard(p) => {
            if !c.case_sensitive {
                values.push(Value::Text(glob_pattern(&fold(p))));
                return "m.normalized GLOB ?".to_owned();
            }
            // `?` matches one character, whose folded form may be two (`ß` is `SS`): the
            // folded pattern lets `*` stand for it.
            values.push(Value::Text(glob_pattern(&fold(&p.replace('?', "*")))));
            values.push(Value::Text(glob_pattern(p)));
            "m.normalized GLOB ? AND m.value GLOB ?".to_owned()
        }
        ConstraintKind::Range { lower, upper } => {
            // Ranges apply to dates and times, compared as stored (case-sensitively).
            let bounds: Vec<(&str, &String)> = [(">=", lower), ("<=", upper)]
                .into_iter()
                .filter_map(|(op, b)| b.as_ref().map(|b| (op, b)))
                .collect();
            if bounds.is_empty() {
                return "1".to_owned();
            }
            let mut parts = Vec::new();
            // Date and time bounds (digits, `.`, `:`) narrow through the index; a bound with
            // letters is only checked on the stored value, over every value of the tag.
            if bounds.iter().all(|(_, b)| folding_keeps_order_against(b)) {
                for (op, b) in &bounds {
                    values.push(Value::Text((*b).clone()));
                    parts.push(format!("m.normalized {op} ?"));
                }
            }
            for (op, b) in &bounds {
                values.push(Value::Text((*b).clone()));
                parts.push(format!("m.value {op} ?"));
            }
            parts.join(" AND ")
        }
    }
}

/// SQL condition on the metadata of `r` for one `MetadataQuery` entry.
fn metadata_condition(c: &MetadataConstraint, values: &mut Vec<Value>) -> String {
    values.push(Value::Integer(c.metadata.0.into()));
    let (column, norm): (String, fn(&str) -> String) = if c.case_sensitive {
        ("md.value".to_owned(), |s| s.to_owned())
    } else {
        (format!("{FOLD_FUNCTION}(md.value)"), normalize_for_matching)
    };
    let value_match = match &c.kind {
        None | Some(ConstraintKind::Range { .. }) => String::new(),
        Some(ConstraintKind::Equal(v)) => {
            values.push(Value::Text(norm(v)));
            format!(" AND {column} = ?")
        }
        Some(ConstraintKind::Wildcard(p)) => {
            values.push(Value::Text(glob_pattern(&norm(p))));
            format!(" AND {column} GLOB ?")
        }
        Some(ConstraintKind::List(items)) => {
            for v in items {
                values.push(Value::Text(norm(v)));
            }
            format!(" AND {column} IN ({})", vec!["?"; items.len()].join(", "))
        }
    };
    format!(
        "EXISTS (SELECT 1 FROM Metadata md WHERE md.id = r.internalId AND md.type = ?{value_match})"
    )
}

/// Whether a constraint narrows the search through an index (a value, a list, a range, or a
/// pattern with a literal start), rather than by scanning every value of its tag.
fn is_selective(c: &TagConstraint) -> bool {
    match &c.kind {
        ConstraintKind::Equal(_) | ConstraintKind::List(_) | ConstraintKind::Range { .. } => true,
        ConstraintKind::Wildcard(p) => !p.starts_with(['*', '?']),
    }
}

/// The statement selecting the `internalId`s at `query_depth` that satisfy a constraint on
/// the tags of the level at `c_depth`: the matching rows of `MainDicomTags` (found through its
/// indexes), walked down to their descendants or up to their ancestor at the query level.
fn matching_ids(tag_match: &str, c_depth: i64, query_depth: i64) -> String {
    let mut ids = format!("SELECT m.id FROM MainDicomTags m WHERE {tag_match}");
    if c_depth < query_depth {
        // An ancestor's tag (e.g. PatientID for a study): the children of the matches, level
        // by level, through the parent index.
        for i in 0..query_depth - c_depth {
            ids = format!(
                "SELECT c{i}.internalId FROM Resources c{i} WHERE c{i}.parentId IN ({ids})"
            );
        }
    } else if c_depth > query_depth {
        // A descendant's tag (e.g. ModalitiesInStudy): the ancestors of the matches.
        let steps = c_depth - query_depth;
        let mut from =
            format!("MainDicomTags m JOIN Resources d{steps} ON d{steps}.internalId = m.id");
        for i in (1..steps).rev() {
            from.push_str(&format!(
                " JOIN Resources d{i} ON d{i}.internalId = d{}.parentId",
                i + 1
            ));
        }
        ids = format!("SELECT d1.parentId FROM {from} WHERE {tag_match}");
    }
    ids
}

/// Returns the statement and its parameters; it selects matching public IDs in index order.
///
/// Each constraint becomes a set of IDs at the query level (`r.internalId IN (...)`). When one
/// of them is selective, SQLite is steered (`+r.resourceType`) to start from those sets and
/// sort what they hold, instead of walking every resource of the level in order and testing
/// each: at 100,000 instances, a study's PatientID takes microseconds rather than milliseconds.
/// Without a selective constraint, the walk in index order stays (it stops early at `Limit`).
pub fn compile(query: &FindQuery) -> (String, Vec<Value>) {
    let query_depth = depth(query.level);
    let driven = query.constraints.iter().any(is_selective)
        || (!query.labels.is_empty() && query.labels_constraint != LabelsConstraint::None);
    let mut values = vec![Value::Integer(query.level.code())];
    let mut conditions = vec![if driven {
        "+r.resourceType = ?".to_owned()
    } else {
        "r.resourceType = ?".to_owned()
    }];

    for c in &query.constraints {
        values.push(Value::Integer(c.group.into()));
        values.push(Value::Integer(c.element.into()));
        let cond = value_condition(c, &mut values);
        let tag_match = format!("m.tagGroup = ? AND m.tagElement = ? AND {cond}");
        conditions.push(format!(
            "r.internalId IN ({})",
            matching_ids(&tag_match, depth(c.level), query_depth)
        ));
    }

    // The labels form a set (as in Orthanc): duplicates must not inflate the count for `All`.
    let mut labels: Vec<&String> = query.labels.iter().collect();
    labels.sort();
    labels.dedup();
    if !labels.is_empty() {
        let placeholders = vec!["?"; labels.len()].join(", ");
        conditions.push(match query.labels_constraint {
            LabelsConstraint::All => format!(
                "r.internalId IN (SELECT l.id FROM Labels l WHERE l.label IN ({placeholders}) \
                 GROUP BY l.id HAVING COUNT(DISTINCT l.label) = {})",
                labels.len()
            ),
            LabelsConstraint::Any => format!(
                "r.internalId IN (SELECT l.id FROM Labels l WHERE l.label IN ({placeholders}))"
            ),
            LabelsConstraint::None => format!(
                "r.internalId NOT IN (SELECT l.id FROM Labels l WHERE l.label IN ({placeholders}))"
            ),
        });
        values.extend(labels.iter().map(|l| Value::Text((*l).clone())));
    }

    for c in &query.metadata {
        let cond = metadata_condition(c, &mut values);
        conditions.push(cond);
    }

    let limit = query
        .limit
        .map(|l| l.min(i64::MAX as u64) as i64)
        .unwrap_or(-1);
    values.push(Value::Integer(limit));
    values.push(Value::Integer(query.since.min(i64::MAX as u64) as i64));
    let sql = format!(
        "SELECT r.publicId FROM Resources r WHERE {} ORDER BY r.internalId LIMIT ? OFFSET ?",
        conditions.join(" AND ")
    );
    (sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_escapes_brackets() {
        assert_eq!(glob_pattern("A[B]*"), "A[[]B[]]*");
    }
}

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

/// SQL condition on the `MainDicomTags m` row for one constraint.
fn value_condition(c: &TagConstraint, values: &mut Vec<Value>) -> String {
    let (column, norm): (&str, fn(&str) -> String) = if c.case_sensitive {
        ("m.value", |s| s.to_owned())
    } else {
        ("m.normalized", normalize_for_matching)
    };
    match &c.kind {
        ConstraintKind::Equal(v) => {
            values.push(Value::Text(norm(v)));
            format!("{column} = ?")
        }
        ConstraintKind::Wildcard(p) => {
            values.push(Value::Text(glob_pattern(&norm(p))));
            format!("{column} GLOB ?")
        }
        ConstraintKind::List(items) => {
            for v in items {
                values.push(Value::Text(norm(v)));
            }
            format!("{column} IN ({})", vec!["?"; items.len()].join(", "))
        }
        ConstraintKind::Range { lower, upper } => {
            // Ranges apply to dates and times, compared as stored.
            let mut parts = Vec::new();
            if let Some(l) = lower {
                values.push(Value::Text(l.clone()));
                parts.push("m.value >= ?");
            }
            if let Some(u) = upper {
                values.push(Value::Text(u.clone()));
                parts.push("m.value <= ?");
            }
            if parts.is_empty() {
                "1".to_owned()
            } else {
                parts.join(" AND ")
            }
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

/// Returns the statement and its parameters; it selects matching public IDs in index order.
pub fn compile(query: &FindQuery) -> (String, Vec<Value>) {
    let mut values = vec![Value::Integer(query.level.code())];
    let mut joins = String::new();
    let mut conditions = vec!["r.resourceType = ?".to_owned()];
    let query_depth = depth(query.level);
    let mut deepest_ancestor = 0;

    for c in &query.constraints {
        let c_depth = depth(c.level);
        let mut tag_values = vec![
            Value::Integer(c.group.into()),
            Value::Integer(c.element.into()),
        ];
        let cond = value_condition(c, &mut tag_values);
        let tag_match = format!("m.tagGroup = ? AND m.tagElement = ? AND {cond}");
        if c_depth <= query_depth {
            let steps = query_depth - c_depth;
            deepest_ancestor = deepest_ancestor.max(steps);
            let alias = if steps == 0 {
                "r".to_owned()
            } else {
                format!("a{steps}")
            };
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM MainDicomTags m WHERE m.id = {alias}.internalId AND {tag_match})"
            ));
            values.extend(tag_values);
        } else {
            // A descendant must match (e.g. ModalitiesInStudy). The matching descendants are
            // found once through the tag index, then walked up to their ancestor at the query
            // level (a correlated subquery per resource would rescan the tag index each time).
            let steps = c_depth - query_depth;
            let mut from =
                format!("MainDicomTags m JOIN Resources d{steps} ON d{steps}.internalId = m.id");
            for i in (1..steps).rev() {
                from.push_str(&format!(
                    " JOIN Resources d{i} ON d{i}.internalId = d{}.parentId",
                    i + 1
                ));
            }
            conditions.push(format!(
                "r.internalId IN (SELECT d1.parentId FROM {from} WHERE {tag_match})"
            ));
            values.extend(tag_values);
        }
    }
    for i in 1..=deepest_ancestor {
        let child = if i == 1 {
            "r".to_owned()
        } else {
            format!("a{}", i - 1)
        };
        joins.push_str(&format!(
            " JOIN Resources a{i} ON a{i}.internalId = {child}.parentId"
        ));
    }

    // The labels form a set (as in Orthanc): duplicates must not inflate the count for `All`.
    let mut labels: Vec<&String> = query.labels.iter().collect();
    labels.sort();
    labels.dedup();
    if !labels.is_empty() {
        let placeholders = vec!["?"; labels.len()].join(", ");
        match query.labels_constraint {
            LabelsConstraint::All => {
                conditions.push(format!(
                    "(SELECT COUNT(DISTINCT label) FROM Labels l WHERE l.id = r.internalId \
                     AND l.label IN ({placeholders})) = {}",
                    labels.len()
                ));
            }
            LabelsConstraint::Any => conditions.push(format!(
                "EXISTS (SELECT 1 FROM Labels l WHERE l.id = r.internalId AND l.label IN ({placeholders}))"
            )),
            LabelsConstraint::None => conditions.push(format!(
                "NOT EXISTS (SELECT 1 FROM Labels l WHERE l.id = r.internalId AND l.label IN ({placeholders}))"
            )),
        }
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
        "SELECT r.publicId FROM Resources r{joins} WHERE {} ORDER BY r.internalId LIMIT ? OFFSET ?",
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

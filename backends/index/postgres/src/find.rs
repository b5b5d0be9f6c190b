//! Compiles a [`FindQuery`] into one SQL statement over `Resources` and `MainDicomTags`, with
//! the same semantics as the SQLite backend's (`backends/index/sqlite/src/find.rs`).

use stowage_core::find::normalize_for_matching;
use stowage_core::{
    ConstraintKind, FindQuery, LabelsConstraint, MetadataConstraint, TagConstraint,
};
use tokio_postgres::types::{ToSql, Type};

/// A parameter with its type: the statement is sent unprepared in one round trip
/// (`query_typed`), as its text varies with the query.
pub(crate) type Param = (Box<dyn ToSql + Sync + Send>, Type);

/// Depth of a level in the hierarchy (patient 0 .. instance 3).
fn depth(level: stowage_core::ResourceType) -> i64 {
    level.code()
}

/// Translates DICOM wildcards to a LIKE pattern (escape character `\`): `*` is `%`, `?` is
/// `_`, and SQL's own `%`, `_` and `\` match literally.
pub(crate) fn like_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

struct Builder {
    params: Vec<Param>,
}

impl Builder {
    /// Adds a parameter and returns its placeholder.
    fn push<T: ToSql + Sync + Send + 'static>(&mut self, value: T, ty: Type) -> String {
        self.params.push((Box::new(value), ty));
        format!("${}", self.params.len())
    }
}

/// SQL condition on the `MainDicomTags m` row for one constraint.
fn value_condition(c: &TagConstraint, b: &mut Builder) -> String {
    let (column, norm): (&str, fn(&str) -> String) = if c.case_sensitive {
        ("m.value", |s| s.to_owned())
    } else {
        ("m.normalized", normalize_for_matching)
    };
    match &c.kind {
        ConstraintKind::Equal(v) => {
            let p = b.push(norm(v), Type::TEXT);
            format!("{column} = {p}")
        }
        ConstraintKind::Wildcard(pattern) => {
            let p = b.push(like_pattern(&norm(pattern)), Type::TEXT);
            format!("{column} LIKE {p}")
        }
        ConstraintKind::List(items) => {
            let values: Vec<String> = items.iter().map(|v| norm(v)).collect();
            let p = b.push(values, Type::TEXT_ARRAY);
            format!("{column} = ANY({p}::text[])")
        }
        ConstraintKind::Range { lower, upper } => {
            // Ranges apply to dates and times, compared as stored.
            let mut parts = Vec::new();
            if let Some(l) = lower {
                let p = b.push(l.clone(), Type::TEXT);
                parts.push(format!("m.value >= {p}"));
            }
            if let Some(u) = upper {
                let p = b.push(u.clone(), Type::TEXT);
                parts.push(format!("m.value <= {p}"));
            }
            if parts.is_empty() {
                "TRUE".to_owned()
            } else {
                parts.join(" AND ")
            }
        }
    }
}

/// SQL condition on the metadata of `r` for one `MetadataQuery` entry. Case is folded with
/// PostgreSQL's `upper()`, which agrees with the index's folding of main DICOM tags
/// (`normalize_for_matching`) except for the few characters whose capital is longer (`ß`).
fn metadata_condition(c: &MetadataConstraint, b: &mut Builder) -> String {
    let kind = b.push(c.metadata.0, Type::INT4);
    let (column, norm): (&str, fn(&str) -> String) = if c.case_sensitive {
        ("md.value", |s| s.to_owned())
    } else {
        ("upper(md.value)", normalize_for_matching)
    };
    let value_match = match &c.kind {
        None | Some(ConstraintKind::Range { .. }) => String::new(),
        Some(ConstraintKind::Equal(v)) => {
            let p = b.push(norm(v), Type::TEXT);
            format!(" AND {column} = {p}")
        }
        Some(ConstraintKind::Wildcard(pattern)) => {
            let p = b.push(like_pattern(&norm(pattern)), Type::TEXT);
            format!(" AND {column} LIKE {p}")
        }
        Some(ConstraintKind::List(items)) => {
            let values: Vec<String> = items.iter().map(|v| norm(v)).collect();
            let p = b.push(values, Type::TEXT_ARRAY);
            format!(" AND {column} = ANY({p}::text[])")
        }
    };
    format!(
        "EXISTS (SELECT 1 FROM Metadata md WHERE md.id = r.internalId AND md.type = {kind}{value_match})"
    )
}

/// Returns the statement and its parameters; it selects matching public IDs in index order.
pub(crate) fn compile(query: &FindQuery) -> (String, Vec<Param>) {
    let mut b = Builder { params: Vec::new() };
    let level = b.push(query.level.code() as i32, Type::INT4);
    let mut joins = String::new();
    let mut conditions = vec![format!("r.resourceType = {level}")];
    let query_depth = depth(query.level);
    let mut deepest_ancestor = 0;

    for c in &query.constraints {
        let c_depth = depth(c.level);
        let group = b.push(i32::from(c.group), Type::INT4);
        let element = b.push(i32::from(c.element), Type::INT4);
        let cond = value_condition(c, &mut b);
        let tag_match = format!("m.tagGroup = {group} AND m.tagElement = {element} AND {cond}");
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
        } else {
            // A descendant must match (e.g. ModalitiesInStudy).
            let steps = c_depth - query_depth;
            let mut from = String::from("Resources d1");
            for i in 2..=steps {
                from.push_str(&format!(
                    " JOIN Resources d{i} ON d{i}.parentId = d{}.internalId",
                    i - 1
                ));
            }
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM {from} JOIN MainDicomTags m ON m.id = d{steps}.internalId \
                 WHERE d1.parentId = r.internalId AND {tag_match})"
            ));
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
    let mut labels: Vec<String> = query.labels.clone();
    labels.sort();
    labels.dedup();
    if !labels.is_empty() {
        let count = labels.len();
        let labels = b.push(labels, Type::TEXT_ARRAY);
        match query.labels_constraint {
            LabelsConstraint::All => conditions.push(format!(
                "(SELECT COUNT(DISTINCT label) FROM Labels l WHERE l.id = r.internalId \
                 AND l.label = ANY({labels}::text[])) = {count}"
            )),
            LabelsConstraint::Any => conditions.push(format!(
                "EXISTS (SELECT 1 FROM Labels l WHERE l.id = r.internalId \
                 AND l.label = ANY({labels}::text[]))"
            )),
            LabelsConstraint::None => conditions.push(format!(
                "NOT EXISTS (SELECT 1 FROM Labels l WHERE l.id = r.internalId \
                 AND l.label = ANY({labels}::text[]))"
            )),
        }
    }

    for c in &query.metadata {
        let cond = metadata_condition(c, &mut b);
        conditions.push(cond);
    }

    let limit: Option<i64> = query.limit.map(|l| l.min(i64::MAX as u64) as i64);
    let limit = b.push(limit, Type::INT8);
    let offset = b.push(query.since.min(i64::MAX as u64) as i64, Type::INT8);
    let sql = format!(
        "SELECT r.publicId FROM Resources r{joins} WHERE {} ORDER BY r.internalId \
         LIMIT {limit}::bigint OFFSET {offset}::bigint",
        conditions.join(" AND ")
    );
    (sql, b.params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escapes_sql_wildcards() {
        assert_eq!(like_pattern("A%B_C\\*?"), "A\\%B\\_C\\\\%_");
        assert_eq!(like_pattern("[x]"), "[x]");
    }
}

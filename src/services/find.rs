//! The find service: the resources matching a query (`/tools/find` today, the C-FIND SCP
//! next), from the index (main DICOM tags, labels, metadata) and, for other tags, from the
//! stored file of one instance per match, as Orthanc does; and `/tools/lookup`.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use stowage_core::{
    ConstraintKind, FindQuery, IndexError, IndexTransaction, InternalId, ResourceRef, ResourceType,
    TagConstraint,
};
use stowage_dicom::{main_tags, Tag, TagsFormat};

use super::context::{blocking, Context};
use super::error::{tx_plumbing, ErrorCode, ServiceError, TxError, Verdict};
use super::files::{read_dicom, FilesError};
use super::labels::LabelError;
use super::metadata::MetadataError;
use super::resources::{descendants_at, format_main_tags, resource_json};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FindError {
    #[error("Unknown DICOM tag: \"{0}\"")]
    UnknownTag(String),
    #[error(transparent)]
    Label(#[from] LabelError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Tx(TxError),
}

tx_plumbing!(FindError);

impl ServiceError for FindError {
    fn verdict(&self) -> Verdict {
        match self {
            FindError::UnknownTag(_) => {
                Verdict::detailed(ErrorCode::UnknownDicomTag, self.to_string())
            }
            FindError::Label(e) => e.verdict(),
            FindError::Metadata(e) => e.verdict(),
            FindError::Files(e) => e.verdict(),
            FindError::Tx(e) => e.verdict(),
        }
    }
    fn tx_error(&self) -> Option<&TxError> {
        match self {
            FindError::Tx(e) => Some(e),
            _ => None,
        }
    }
}

const MODALITIES_IN_STUDY: Tag = Tag::new(0x0008, 0x0061);
const MODALITY: Tag = Tag::new(0x0008, 0x0060);

fn is_range_vr(tag: Tag) -> bool {
    matches!(
        stowage_dicom::dictionary::implicit_vr(tag).as_str(),
        "DA" | "TM" | "DT"
    )
}

/// Where a constraint is checked.
pub enum Checked {
    /// By the index, on main DICOM tags.
    Index(TagConstraint),
    /// On the stored DICOM file (tags that are not main DICOM tags), as Orthanc does.
    File(Tag, TagConstraint),
}

/// One `"Tag": "value"` of a query, or `None` when it matches everything (`""`, `"*"`).
pub fn constraint(
    key: &str,
    value: &str,
    case_sensitive: bool,
) -> Result<Option<Checked>, FindError> {
    let tag = Tag::parse(key).ok_or_else(|| FindError::UnknownTag(key.to_owned()))?;
    if value.is_empty() || value == "*" {
        return Ok(None);
    }
    let (tag, level) = if tag == MODALITIES_IN_STUDY {
        (MODALITY, Some(ResourceType::Series))
    } else {
        (tag, main_tags::level_of(tag))
    };
    let kind = if value.contains('\\') {
        ConstraintKind::List(value.split('\\').map(str::to_owned).collect())
    } else if is_range_vr(tag) && value.contains('-') {
        let (lower, upper) = value.split_once('-').unwrap_or((value, ""));
        let bound = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        ConstraintKind::Range {
            lower: bound(lower),
            upper: bound(upper),
        }
    } else if value.contains('*') || value.contains('?') {
        ConstraintKind::Wildcard(value.to_owned())
    } else {
        ConstraintKind::Equal(value.to_owned())
    };
    let constraint = TagConstraint {
        level: level.unwrap_or(ResourceType::Instance),
        group: tag.group,
        element: tag.element,
        kind,
        case_sensitive,
    };
    Ok(Some(match level {
        Some(_) => Checked::Index(constraint),
        None => Checked::File(tag, constraint),
    }))
}

/// The value of a `MetadataQuery` entry as a constraint: `None` asks only that the metadata
/// exists (`*`); values match exactly, with `*`/`?` wildcards, or any of a `\\`-separated list.
pub fn metadata_kind(value: &str) -> Option<ConstraintKind> {
    if value == "*" {
        None
    } else if value.contains('\\') {
        Some(ConstraintKind::List(
            value.split('\\').map(str::to_owned).collect(),
        ))
    } else if value.contains('*') || value.contains('?') {
        Some(ConstraintKind::Wildcard(value.to_owned()))
    } else {
        Some(ConstraintKind::Equal(value.to_owned()))
    }
}

/// A parsed `/tools/find` request.
pub struct FindRequest {
    pub query: FindQuery,
    pub expand: bool,
    /// Orthanc 1.10.1 answers queries that name tags in ID order and empty queries in
    /// insertion order; paging (`Since`/`Limit`) follows that order.
    pub sort_by_id: bool,
    /// Constraints on tags the index does not hold, checked on one stored file per match.
    pub file_constraints: Vec<(Tag, TagConstraint)>,
    /// How expanded answers show main DICOM tags (`"Full"`, `"Short"`, names by default).
    pub format: TagsFormat,
    /// `RequestedTags`: extra tags added to each expanded answer.
    pub requested_tags: Vec<(String, Tag)>,
}

/// The values of the requested tags for one resource: from the main DICOM tags of the
/// resource and its ancestors, else from the file of its first instance.
fn requested_values(
    ctx: &Context,
    tx: &mut dyn IndexTransaction,
    id: InternalId,
    level: ResourceType,
    requested: &[(String, Tag)],
) -> Result<Value, FindError> {
    let mut known = std::collections::HashMap::new();
    let mut current = Some(id);
    while let Some(r) = current {
        for t in tx.get_main_dicom_tags(r)? {
            known.entry(Tag::new(t.group, t.element)).or_insert(t.value);
        }
        current = tx.lookup_parent(r)?;
    }
    let mut file = None;
    let mut out = Map::new();
    for (key, tag) in requested {
        let value = match known.get(tag) {
            Some(v) => Some(v.clone()),
            None => {
                if file.is_none() {
                    let first = descendants_at(tx, id, level, ResourceType::Instance)?
                        .into_iter()
                        .next();
                    if let Some(instance) = first {
                        file = Some(read_dicom(ctx, instance)?);
                    }
                }
                file.as_ref().and_then(|f| f.string(*tag))
            }
        };
        let name = stowage_dicom::tag_name(*tag)
            .map(str::to_owned)
            .unwrap_or_else(|| key.clone());
        out.insert(name, value.map(Value::String).unwrap_or(Value::Null));
    }
    Ok(Value::Object(out))
}

/// Public IDs matching the index part of a query, paged unless files must be checked too.
fn index_matches(
    tx: &mut dyn IndexTransaction,
    query: &FindQuery,
    sort_by_id: bool,
    page_in_index: bool,
) -> Result<Vec<String>, IndexError> {
    if !sort_by_id && page_in_index {
        return tx.lookup_resources(query);
    }
    let mut all_matches = query.clone();
    all_matches.since = 0;
    all_matches.limit = None;
    let mut ids = tx.lookup_resources(&all_matches)?;
    if sort_by_id {
        ids.sort();
    }
    if page_in_index {
        ids = page(ids, query.since, query.limit);
    }
    Ok(ids)
}

fn page(ids: Vec<String>, since: u64, limit: Option<u64>) -> Vec<String> {
    let rest = ids.into_iter().skip(since as usize);
    match limit {
        Some(l) => rest.take(l as usize).collect(),
        None => rest.collect(),
    }
}

/// Keeps the resources whose first instance's file satisfies every file constraint, stopping
/// once the requested page is full.
fn file_matches(
    ctx: &Context,
    request: &FindRequest,
    candidates: Vec<String>,
) -> Result<Vec<String>, FindError> {
    let wanted = request.query.limit.map(|l| request.query.since + l);
    let mut kept = Vec::new();
    for public_id in candidates {
        if wanted.is_some_and(|w| kept.len() as u64 >= w) {
            break;
        }
        let instance = ctx.read_blocking(|tx| -> Result<_, FindError> {
            let Some(ResourceRef { id, level }) = tx.lookup_resource(&public_id)? else {
                return Ok(None);
            };
            Ok(descendants_at(tx, id, level, ResourceType::Instance)?
                .into_iter()
                .next())
        })?;
        let Some(instance) = instance else { continue };
        let file = match read_dicom(ctx, instance) {
            Ok(f) => f,
            // Deleted meanwhile.
            Err(e) if e.verdict() == Verdict::NoSuchResource => continue,
            Err(e) => return Err(e.into()),
        };
        let all = request
            .file_constraints
            .iter()
            .all(|(tag, c)| file.string(*tag).is_some_and(|v| c.matches(&v)));
        if all {
            kept.push(public_id);
        }
    }
    Ok(page(kept, request.query.since, request.query.limit))
}

fn find_blocking(ctx: &Context, request: FindRequest) -> Result<Value, FindError> {
    let needs_files = !request.file_constraints.is_empty();
    let mut ids = ctx.read_blocking(|tx| {
        Ok::<_, FindError>(index_matches(
            tx,
            &request.query,
            request.sort_by_id,
            !needs_files,
        )?)
    })?;
    if needs_files {
        ids = file_matches(ctx, &request, ids)?;
    }
    if !request.expand {
        return Ok(json!(ids));
    }
    ctx.read_blocking(|tx| {
        let mut out = Vec::with_capacity(ids.len());
        for public_id in &ids {
            if let Some(ResourceRef { id, level }) = tx.lookup_resource(public_id)? {
                let mut v = resource_json(ctx, tx, id, level, public_id)?;
                format_main_tags(&mut v, request.format);
                if !request.requested_tags.is_empty() {
                    v["RequestedTags"] =
                        requested_values(ctx, tx, id, level, &request.requested_tags)?;
                }
                out.push(v);
            }
        }
        Ok(Value::Array(out))
    })
}

/// The resources matching a request: public IDs, or their JSON if `Expand`.
pub async fn find(ctx: &Arc<Context>, request: FindRequest) -> Result<Value, FindError> {
    let c = ctx.clone();
    blocking(move || find_blocking(&c, request)).await
}

/// Resources whose identifier tags (`PatientID`, `StudyInstanceUID`...) equal `value`, as
/// `(level, public ID)`.
pub async fn lookup(
    ctx: &Arc<Context>,
    value: String,
) -> Result<Vec<(ResourceType, String)>, TxError> {
    ctx.read(move |tx| {
        let mut out = Vec::new();
        for level in ResourceType::ALL {
            for tag in main_tags::identifier_tags(level) {
                for id in tx.lookup_identifier(level, tag.group, tag.element, &value)? {
                    out.push((level, id));
                }
            }
        }
        Ok(out)
    })
    .await
}

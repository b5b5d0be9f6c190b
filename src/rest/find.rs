//! `/tools/find` and `/tools/lookup`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Map, Value};
use stowage_core::{
    ConstraintKind, FindQuery, LabelsConstraint, MetadataConstraint, ResourceType, TagConstraint,
};
use stowage_dicom::{main_tags, Tag};

use super::Ctx;
use crate::config::Config;
use crate::context::ServerContext;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::json::Json;
use crate::resources::resource_json;

pub fn routes() -> Router<Arc<ServerContext>> {
    Router::new()
        .route("/tools/find", post(find))
        .route("/tools/lookup", post(lookup))
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
enum Checked {
    /// By the index, on main DICOM tags.
    Index(TagConstraint),
    /// On the stored DICOM file (tags that are not main DICOM tags), as Orthanc does.
    File(Tag, TagConstraint),
}

/// One `"Tag": "value"` of a query, or `None` when it matches everything (`""`, `"*"`).
fn constraint(key: &str, value: &str, case_sensitive: bool) -> ApiResult<Option<Checked>> {
    let tag = Tag::parse(key).ok_or_else(|| {
        ApiError::with_details(
            ErrorCode::UnknownDicomTag,
            format!("Unknown DICOM tag: \"{key}\""),
        )
    })?;
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

/// `MetadataQuery` (Orthanc 1.12.5): `{"name": "value"}`, names as in `/metadata/{name}`;
/// values match exactly, with `*`/`?` wildcards, or any of a `\`-separated list, folding case
/// unless `CaseSensitive`. `*` asks only that the metadata exists; `""` is ignored.
fn metadata_constraints(
    config: &Config,
    body: &Map<String, Value>,
    case_sensitive: bool,
) -> ApiResult<Vec<MetadataConstraint>> {
    let entries = match body.get("MetadataQuery") {
        None => return Ok(Vec::new()),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(ApiError::bad_request(
                "Field \"MetadataQuery\" must be a JSON object",
            ))
        }
    };
    let mut out = Vec::new();
    for (name, value) in entries {
        let metadata = super::metadata::resolve(config, name)?;
        let value = value.as_str().ok_or_else(|| {
            ApiError::bad_request(format!(
                "The value of \"{name}\" in MetadataQuery must be a string"
            ))
        })?;
        let kind = if value.is_empty() {
            continue;
        } else if value == "*" {
            None
        } else if value.contains('\\') {
            Some(ConstraintKind::List(
                value.split('\\').map(str::to_owned).collect(),
            ))
        } else if value.contains('*') || value.contains('?') {
            Some(ConstraintKind::Wildcard(value.to_owned()))
        } else {
            Some(ConstraintKind::Equal(value.to_owned()))
        };
        out.push(MetadataConstraint {
            metadata,
            kind,
            case_sensitive,
        });
    }
    Ok(out)
}

fn bool_field(body: &Map<String, Value>, key: &str) -> ApiResult<bool> {
    match body.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::bad_request(format!(
            "Field \"{key}\" must be a Boolean"
        ))),
    }
}

fn number_field(body: &Map<String, Value>, key: &str) -> ApiResult<Option<u64>> {
    match body.get(key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ApiError::bad_request(format!("Field \"{key}\" must be a non-negative integer"))
        }),
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
    pub format: stowage_dicom::TagsFormat,
    /// `RequestedTags`: extra tags added to each expanded answer.
    pub requested_tags: Vec<(String, Tag)>,
}

fn requested_tags(body: &Map<String, Value>) -> ApiResult<Vec<(String, Tag)>> {
    let Some(list) = body.get("RequestedTags") else {
        return Ok(Vec::new());
    };
    let bad = || ApiError::bad_request("Field \"RequestedTags\" must be an array of tag names");
    let list = list.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|v| {
            let key = v.as_str().ok_or_else(bad)?;
            let tag = Tag::parse(key).ok_or_else(|| {
                ApiError::with_details(
                    ErrorCode::UnknownDicomTag,
                    format!("Unknown DICOM tag: \"{key}\""),
                )
            })?;
            Ok((key.to_owned(), tag))
        })
        .collect()
}

/// The values of the requested tags for one resource: from the main DICOM tags of the
/// resource and its ancestors, else from the file of its first instance.
fn requested_values(
    ctx: &ServerContext,
    tx: &mut dyn stowage_core::IndexTransaction,
    id: stowage_core::InternalId,
    level: ResourceType,
    requested: &[(String, Tag)],
) -> ApiResult<Value> {
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
                    let first =
                        crate::resources::descendants_at(tx, id, level, ResourceType::Instance)?
                            .into_iter()
                            .next();
                    if let Some(instance) = first {
                        file = Some(crate::files::read_dicom(ctx, instance)?);
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

/// Parses the body of `/tools/find`.
pub fn parse_find(config: &Config, body: &[u8]) -> ApiResult<FindRequest> {
    let body: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => m,
        _ => return Err(ApiError::bad_request("The body must contain a JSON object")),
    };
    let level: ResourceType = match body.get("Level") {
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| ApiError::new(ErrorCode::ParameterOutOfRange))?,
        _ => {
            return Err(ApiError::bad_request(
                "Field \"Level\" is missing, or should be a string",
            ))
        }
    };
    let query = match body.get("Query") {
        Some(Value::Object(q)) => q,
        None => {
            return Err(ApiError::bad_request(
                "Field \"Query\" is missing, or should be a JSON object",
            ))
        }
        // Orthanc 1.10.1 answers a non-object Query with an internal error.
        Some(_) => {
            return Err(ApiError::internal(
                "An unhandled exception was generated inside the HTTP server",
            ))
        }
    };
    let case_sensitive = bool_field(&body, "CaseSensitive")?;
    let mut constraints = Vec::new();
    let mut file_constraints = Vec::new();
    for (key, value) in query {
        let value = value.as_str().ok_or_else(|| {
            ApiError::bad_request(format!("The value of \"{key}\" in Query must be a string"))
        })?;
        match constraint(key, value, case_sensitive)? {
            Some(Checked::Index(c)) => constraints.push(c),
            Some(Checked::File(tag, c)) => file_constraints.push((tag, c)),
            None => {}
        }
    }
    let labels = match body.get("Labels") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|l| l.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::bad_request("Field \"Labels\" must be an array of strings"))?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "Field \"Labels\" must be an array of strings",
            ))
        }
    };
    for label in &labels {
        super::labels::check_label(label)?;
    }
    let labels_constraint = match body.get("LabelsConstraint").and_then(Value::as_str) {
        None | Some("All") => LabelsConstraint::All,
        Some("Any") => LabelsConstraint::Any,
        Some("None") => LabelsConstraint::None,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Field \"LabelsConstraint\" must be All, Any or None, not \"{other}\""
            )))
        }
    };
    Ok(FindRequest {
        query: FindQuery {
            level,
            constraints,
            labels,
            labels_constraint,
            metadata: metadata_constraints(config, &body, case_sensitive)?,
            since: number_field(&body, "Since")?.unwrap_or(0),
            limit: number_field(&body, "Limit")?.filter(|l| *l > 0),
        },
        expand: bool_field(&body, "Expand")?,
        sort_by_id: !query.is_empty() || body.contains_key("MetadataQuery"),
        file_constraints,
        format: if bool_field(&body, "Full")? {
            stowage_dicom::TagsFormat::Full
        } else if bool_field(&body, "Short")? {
            stowage_dicom::TagsFormat::Short
        } else {
            stowage_dicom::TagsFormat::Simplify
        },
        requested_tags: requested_tags(&body)?,
    })
}

async fn find(ctx: Ctx, body: Bytes) -> ApiResult<Json> {
    let request = parse_find(&ctx.config, &body)?;
    let c = ctx.0.clone();
    ctx.blocking(move || find_blocking(&c, request)).await
}

/// Public IDs matching the index part of a query, paged unless files must be checked too.
fn index_matches(
    tx: &mut dyn stowage_core::IndexTransaction,
    query: &FindQuery,
    sort_by_id: bool,
    page_in_index: bool,
) -> ApiResult<Vec<String>> {
    if !sort_by_id && page_in_index {
        return Ok(tx.lookup_resources(query)?);
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
    ctx: &ServerContext,
    request: &FindRequest,
    candidates: Vec<String>,
) -> ApiResult<Vec<String>> {
    let wanted = request.query.limit.map(|l| request.query.since + l);
    let mut kept = Vec::new();
    for public_id in candidates {
        if wanted.is_some_and(|w| kept.len() as u64 >= w) {
            break;
        }
        let instance = ctx.read_blocking(|tx| {
            let Some(stowage_core::ResourceRef { id, level }) = tx.lookup_resource(&public_id)?
            else {
                return Ok(None);
            };
            Ok(
                crate::resources::descendants_at(tx, id, level, ResourceType::Instance)?
                    .into_iter()
                    .next(),
            )
        })?;
        let Some(instance) = instance else { continue };
        let file = match crate::files::read_dicom(ctx, instance) {
            Ok(f) => f,
            // Deleted meanwhile.
            Err(ApiError::Bare(_)) => continue,
            Err(e) => return Err(e),
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

fn find_blocking(ctx: &ServerContext, request: FindRequest) -> ApiResult<Json> {
    let needs_files = !request.file_constraints.is_empty();
    let mut ids = ctx
        .read_blocking(|tx| index_matches(tx, &request.query, request.sort_by_id, !needs_files))?;
    if needs_files {
        ids = file_matches(ctx, &request, ids)?;
    }
    if !request.expand {
        return Ok(Json(json!(ids)));
    }
    ctx.read_blocking(|tx| {
        let mut out = Vec::with_capacity(ids.len());
        for public_id in &ids {
            if let Some(stowage_core::ResourceRef { id, level }) = tx.lookup_resource(public_id)? {
                let mut v = resource_json(ctx, tx, id, level, public_id)?;
                crate::resources::format_main_tags(&mut v, request.format);
                if !request.requested_tags.is_empty() {
                    v["RequestedTags"] =
                        requested_values(ctx, tx, id, level, &request.requested_tags)?;
                }
                out.push(v);
            }
        }
        Ok(Json(Value::Array(out)))
    })
}

async fn lookup(ctx: Ctx, body: String) -> ApiResult<Json> {
    let value = body.trim().to_owned();
    ctx.read(move |tx| {
        let mut out = Vec::new();
        for level in ResourceType::ALL {
            for tag in main_tags::identifier_tags(level) {
                for id in tx.lookup_identifier(level, tag.group, tag.element, &value)? {
                    out.push(json!({
                        "ID": id,
                        "Path": format!("/{}/{}", level.collection(), id),
                        "Type": level.name(),
                    }));
                }
            }
        }
        Ok(Json(Value::Array(out)))
    })
    .await
}

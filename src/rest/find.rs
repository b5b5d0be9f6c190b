//! `/tools/find` and `/tools/lookup`: the request's JSON parsed into a find request, run by
//! the find service.

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Map, Value};
use stowage_core::{FindQuery, LabelsConstraint, MetadataConstraint, ResourceType};
use stowage_dicom::{Tag, TagsFormat};

use super::answer::{Ctx, Routes};
use super::error::{ApiError, ApiResult, ErrorCode};
use super::json::Json;
use crate::config::Config;
use crate::services::find::{self, Checked, FindError, FindRequest};
use crate::services::{labels, metadata};

pub fn routes() -> Routes {
    Router::new()
        .route("/tools/find", post(find))
        .route("/tools/lookup", post(lookup))
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
        let metadata = metadata::resolve(config, name)?;
        let value = value.as_str().ok_or_else(|| {
            ApiError::bad_request(format!(
                "The value of \"{name}\" in MetadataQuery must be a string"
            ))
        })?;
        if value.is_empty() {
            continue;
        }
        let kind = find::metadata_kind(value);
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

fn requested_tags(body: &Map<String, Value>) -> ApiResult<Vec<(String, Tag)>> {
    let Some(list) = body.get("RequestedTags") else {
        return Ok(Vec::new());
    };
    let bad = || ApiError::bad_request("Field \"RequestedTags\" must be an array of tag names");
    let list = list.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|v| {
            let key = v.as_str().ok_or_else(bad)?;
            let tag = Tag::parse(key).ok_or_else(|| FindError::UnknownTag(key.to_owned()))?;
            Ok((key.to_owned(), tag))
        })
        .collect()
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
        match find::constraint(key, value, case_sensitive)? {
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
        labels::check_label(label)?;
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
            TagsFormat::Full
        } else if bool_field(&body, "Short")? {
            TagsFormat::Short
        } else {
            TagsFormat::Simplify
        },
        requested_tags: requested_tags(&body)?,
    })
}

async fn find(app: Ctx, body: Bytes) -> ApiResult<Json> {
    let request = parse_find(&app.ctx.config, &body)?;
    Ok(Json(find::find(&app.ctx, request).await?))
}

async fn lookup(app: Ctx, body: String) -> ApiResult<Json> {
    let found = find::lookup(&app.ctx, body.trim().to_owned()).await?;
    let out = found
        .into_iter()
        .map(|(level, id)| {
            json!({
                "ID": id,
                "Path": format!("/{}/{}", level.collection(), id),
                "Type": level.name(),
            })
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

//! Resource JSON as Orthanc shows it (`GET /{level}/{id}`, `?expand`, `/tools/find` Expand),
//! and the deletion service.

use serde_json::{json, Map, Value};
use stowage_core::{
    ChangeType, FileContentType, IndexTransaction, InternalId, MetadataType, NewChange,
    ResourceType,
};
use stowage_dicom::{main_tags, tag_name, Tag};

use crate::context::ServerContext;
use crate::error::ApiResult;

/// Main DICOM tags as a `{Name: value}` object, keeping only the tags of `level`.
pub fn tags_object(tags: &[stowage_core::MainDicomTag], level: ResourceType) -> Value {
    let mut map = Map::new();
    for t in tags {
        let (tag, v) = (Tag::new(t.group, t.element), &t.value);
        if main_tags::level_of(tag) == Some(level)
            || (level == ResourceType::Instance && main_tags::main_dicom_tags(level).contains(&tag))
        {
            let name = tag_name(tag)
                .map(str::to_owned)
                .unwrap_or_else(|| tag.to_string());
            map.insert(name, Value::String(v.clone()));
        }
    }
    Value::Object(map)
}

fn metadata(
    tx: &mut dyn IndexTransaction,
    id: InternalId,
    kind: MetadataType,
) -> ApiResult<Option<String>> {
    Ok(tx.lookup_metadata(id, kind)?.map(|m| m.value))
}

/// Rewrites the main DICOM tags of a resource's JSON as `?full` (`{"0010,0010": {Name, Type,
/// Value}}`) or `?short` (`{"0010,0010": value}`) ask; `Simplify` (names) leaves them as they are.
pub fn format_main_tags(resource: &mut Value, format: stowage_dicom::TagsFormat) {
    use stowage_dicom::TagsFormat;
    if format == TagsFormat::Simplify {
        return;
    }
    for key in ["MainDicomTags", "PatientMainDicomTags"] {
        let Some(Value::Object(tags)) = resource.get_mut(key) else {
            continue;
        };
        let named = std::mem::take(tags);
        for (name, value) in named {
            let tag = stowage_dicom::tag_by_name(&name).or_else(|| Tag::parse(&name));
            let Some(tag) = tag else {
                tags.insert(name, value);
                continue;
            };
            let entry = match format {
                TagsFormat::Full => json!({"Name": name, "Type": "String", "Value": value}),
                _ => value,
            };
            tags.insert(tag.to_string(), entry);
        }
    }
}

/// The JSON of one resource.
pub fn resource_json(
    ctx: &ServerContext,
    tx: &mut dyn IndexTransaction,
    id: InternalId,
    level: ResourceType,
    public_id: &str,
) -> ApiResult<Value> {
    let tags = tx.get_main_dicom_tags(id)?;
    let mut obj = Map::new();
    obj.insert("ID".into(), json!(public_id));
    obj.insert("Type".into(), json!(level.name()));
    obj.insert("MainDicomTags".into(), tags_object(&tags, level));
    obj.insert("Labels".into(), json!(tx.list_labels(Some(id))?));
    if let Some(child) = level.child() {
        let key = match child {
            ResourceType::Study => "Studies",
            ResourceType::Series => "Series",
            _ => "Instances",
        };
        obj.insert(key.into(), json!(tx.get_children_public_ids(id)?));
    }
    if let Some(parent_level) = level.parent() {
        let parent = tx
            .lookup_parent(id)?
            .ok_or(stowage_core::IndexError::UnknownResource)?;
        let key = format!("Parent{}", parent_level.name());
        obj.insert(key, json!(tx.get_public_id(parent)?));
    }
    if level != ResourceType::Instance {
        obj.insert("IsStable".into(), json!(ctx.stable.is_stable(public_id)));
        if let Some(last) = metadata(tx, id, MetadataType::LAST_UPDATE)? {
            obj.insert("LastUpdate".into(), json!(last));
        }
    }
    match level {
        ResourceType::Study => {
            obj.insert(
                "PatientMainDicomTags".into(),
                tags_object(&tags, ResourceType::Patient),
            );
        }
        ResourceType::Series => {
            let expected = metadata(tx, id, MetadataType::EXPECTED_NUMBER_OF_INSTANCES)?
                .and_then(|v| v.parse::<u64>().ok());
            let status = match expected {
                None => "Unknown",
                Some(n) => {
                    let have = tx.get_children_internal_ids(id)?.len() as u64;
                    match have.cmp(&n) {
                        std::cmp::Ordering::Less => "Missing",
                        std::cmp::Ordering::Equal => "Complete",
                        std::cmp::Ordering::Greater => "Inconsistent",
                    }
                }
            };
            obj.insert("ExpectedNumberOfInstances".into(), json!(expected));
            obj.insert("Status".into(), json!(status));
        }
        ResourceType::Instance => {
            if let Some(stowage_core::StoredAttachment { file, .. }) =
                tx.lookup_attachment(id, FileContentType::DICOM)?
            {
                obj.insert("FileSize".into(), json!(file.uncompressed_size));
                obj.insert("FileUuid".into(), json!(file.uuid));
            }
            let index = metadata(tx, id, MetadataType::INDEX_IN_SERIES)?
                .and_then(|v| v.parse::<u64>().ok());
            obj.insert("IndexInSeries".into(), json!(index));
        }
        ResourceType::Patient => {}
    }
    Ok(Value::Object(obj))
}

/// Resolves a public ID that must be at `level`.
pub fn lookup_at_level(
    tx: &mut dyn IndexTransaction,
    public_id: &str,
    level: ResourceType,
) -> ApiResult<InternalId> {
    match tx.lookup_resource(public_id)? {
        Some(found) if found.level == level => Ok(found.id),
        _ => Err(crate::error::ApiError::not_found()),
    }
}

/// Internal IDs of the descendants of `id` at `level` (or `id` itself).
pub fn descendants_at(
    tx: &mut dyn IndexTransaction,
    id: InternalId,
    from: ResourceType,
    level: ResourceType,
) -> ApiResult<Vec<InternalId>> {
    let mut current = vec![id];
    let mut at = from;
    while at != level {
        let mut next = Vec::new();
        for c in current {
            next.extend(tx.get_children_internal_ids(c)?);
        }
        current = next;
        at = match at.child() {
            Some(c) => c,
            None => break,
        };
    }
    Ok(current)
}

/// The ancestor of `id` at `level`.
pub fn ancestor_at(
    tx: &mut dyn IndexTransaction,
    id: InternalId,
    from: ResourceType,
    level: ResourceType,
) -> ApiResult<InternalId> {
    let mut current = id;
    let mut at = from;
    while at != level {
        current = tx
            .lookup_parent(current)?
            .ok_or(stowage_core::IndexError::UnknownResource)?;
        at = at
            .parent()
            .ok_or(stowage_core::IndexError::UnknownResource)?;
    }
    Ok(current)
}

/// Appends a change about one resource to the change log, dated now.
pub fn log_change(
    tx: &mut dyn IndexTransaction,
    change_type: ChangeType,
    level: ResourceType,
    public_id: &str,
) -> ApiResult<()> {
    tx.log_change(&NewChange {
        change_type,
        resource_type: level,
        public_id: public_id.to_owned(),
        date: crate::clock::now_iso(),
    })?;
    Ok(())
}

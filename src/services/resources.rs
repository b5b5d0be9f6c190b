//! The resources service: resource JSON as Orthanc shows it (`GET /{level}/{id}`, `?expand`,
//! `/tools/find` Expand), parents and children, statistics, the tags of the instances below a
//! resource, protection; and the look-ups every service uses inside its transactions
//! ([`lookup_at_level`], [`descendants_at`], [`ancestor_at`], [`log_change`]).

use serde_json::{json, Map, Value};
use stowage_core::{
    ChangeType, FileContentType, IndexTransaction, InternalId, MetadataType, NewChange,
    ResourceType,
};
use stowage_dicom::{main_tags, tag_name, Tag};

use super::context::Context;
use super::error::{tx_plumbing, ServiceError, TxError, Verdict};
use super::files::{read_dicom, read_dicom_bytes, FilesError};
use crate::support::clock::now_iso;
use std::sync::Arc;
use stowage_core::{
    FileInfo, IndexError, MainDicomTag, ResourceRef, ResourceSize, StoredAttachment,
};
use stowage_dicom::{DicomFile, TagsFormat};

/// Main DICOM tags as a `{Name: value}` object, keeping only the tags of `level`.
pub fn tags_object(tags: &[MainDicomTag], level: ResourceType) -> Value {
    let mut map = Map::new();
    for t in tags {
        let tag = Tag::new(t.group, t.element);
        if main_tags::level_of(tag) == Some(level)
            || (level == ResourceType::Instance && main_tags::main_dicom_tags(level).contains(&tag))
        {
            let name = tag_name(tag)
                .map(str::to_owned)
                .unwrap_or_else(|| tag.to_string());
            map.insert(name, Value::String(t.value.clone()));
        }
    }
    Value::Object(map)
}

fn metadata(
    tx: &mut dyn IndexTransaction,
    id: InternalId,
    kind: MetadataType,
) -> Result<Option<String>, IndexError> {
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
    ctx: &Context,
    tx: &mut dyn IndexTransaction,
    id: InternalId,
    level: ResourceType,
    public_id: &str,
) -> Result<Value, IndexError> {
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
        let parent = tx.lookup_parent(id)?.ok_or(IndexError::UnknownResource)?;
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
            if let Some(StoredAttachment { file, .. }) =
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
) -> Result<InternalId, IndexError> {
    match tx.lookup_resource(public_id)? {
        Some(found) if found.level == level => Ok(found.id),
        _ => Err(IndexError::UnknownResource),
    }
}

/// Internal IDs of the descendants of `id` at `level` (or `id` itself).
pub fn descendants_at(
    tx: &mut dyn IndexTransaction,
    id: InternalId,
    from: ResourceType,
    level: ResourceType,
) -> Result<Vec<InternalId>, IndexError> {
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
) -> Result<InternalId, IndexError> {
    let mut current = id;
    let mut at = from;
    while at != level {
        current = tx
            .lookup_parent(current)?
            .ok_or(IndexError::UnknownResource)?;
        at = at.parent().ok_or(IndexError::UnknownResource)?;
    }
    Ok(current)
}

/// Appends a change about one resource to the change log, dated now.
pub fn log_change(
    tx: &mut dyn IndexTransaction,
    change_type: ChangeType,
    level: ResourceType,
    public_id: &str,
) -> Result<(), IndexError> {
    tx.log_change(&NewChange {
        change_type,
        resource_type: level,
        public_id: public_id.to_owned(),
        date: now_iso(),
    })?;
    Ok(())
}

/// Why a resource could not be read or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceError {
    /// The resource has no instance (shared tags, module of an empty resource).
    #[error("the resource has no instance")]
    NoInstance,
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Tx(TxError),
}

tx_plumbing!(ResourceError);

impl ServiceError for ResourceError {
    fn verdict(&self) -> Verdict {
        match self {
            ResourceError::NoInstance => Verdict::NoSuchResource,
            ResourceError::Files(e) => e.verdict(),
            ResourceError::Tx(e) => e.verdict(),
        }
    }
    fn tx_error(&self) -> Option<&TxError> {
        match self {
            ResourceError::Tx(e) => Some(e),
            ResourceError::Files(e) => e.tx_error(),
            ResourceError::NoInstance => None,
        }
    }
}

/// One page of the resources of a level (`since`, `limit`), expanded or as IDs.
pub async fn list(
    ctx: &Arc<Context>,
    level: ResourceType,
    since: u64,
    limit: Option<u64>,
    expand: Option<TagsFormat>,
) -> Result<Value, TxError> {
    let c = ctx.clone();
    ctx.read(move |tx| {
        let ids = tx.get_all_public_ids(level, since, limit)?;
        let Some(format) = expand else {
            return Ok(json!(ids));
        };
        let mut out = Vec::with_capacity(ids.len());
        for public_id in ids {
            if let Some(ResourceRef { id, .. }) = tx.lookup_resource(&public_id)? {
                let mut v = resource_json(&c, tx, id, level, &public_id)?;
                format_main_tags(&mut v, format);
                out.push(v);
            }
        }
        Ok(Value::Array(out))
    })
    .await
}

/// The JSON of one resource, its main tags as `format` asks.
pub async fn get(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    format: TagsFormat,
) -> Result<Value, TxError> {
    let c = ctx.clone();
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        let mut v = resource_json(&c, tx, id, level, &public_id)?;
        format_main_tags(&mut v, format);
        Ok(v)
    })
    .await
}

/// `/studies/{id}/series`, `/instances/{id}/patient`, ...: the descendants at `other` (any
/// depth; expanded if `expand`), or the ancestor at `other`; main tags as `format` asks.
pub async fn related(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    other: ResourceType,
    expand: bool,
    format: TagsFormat,
) -> Result<Value, TxError> {
    let c = ctx.clone();
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        if other.code() < level.code() {
            let parent = ancestor_at(tx, id, level, other)?;
            let pid = tx.get_public_id(parent)?;
            let mut v = resource_json(&c, tx, parent, other, &pid)?;
            format_main_tags(&mut v, format);
            return Ok(v);
        }
        let mut out = Vec::new();
        for child in descendants_at(tx, id, level, other)? {
            let pid = tx.get_public_id(child)?;
            out.push(if expand {
                let mut v = resource_json(&c, tx, child, other, &pid)?;
                format_main_tags(&mut v, format);
                v
            } else {
                json!(pid)
            });
        }
        Ok(Value::Array(out))
    })
    .await
}

/// Sizes of a resource and the counts of its descendants at each level below it.
pub struct ResourceStatistics {
    pub size: ResourceSize,
    /// `(level, count)` for each level below the resource, top down.
    pub counts: Vec<(ResourceType, usize)>,
}

pub async fn statistics(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
) -> Result<ResourceStatistics, TxError> {
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        let size = tx.get_resource_size(id)?;
        let mut counts = Vec::new();
        let mut below = level.child();
        while let Some(l) = below {
            counts.push((l, descendants_at(tx, id, level, l)?.len()));
            below = l.child();
        }
        Ok(ResourceStatistics { size, counts })
    })
    .await
}

/// Instances below a resource, with their public IDs.
fn instances_of(
    tx: &mut dyn IndexTransaction,
    public_id: &str,
    level: ResourceType,
) -> Result<Vec<(InternalId, String)>, IndexError> {
    let id = lookup_at_level(tx, public_id, level)?;
    let mut out = Vec::new();
    for i in descendants_at(tx, id, level, ResourceType::Instance)? {
        out.push((i, tx.get_public_id(i)?));
    }
    Ok(out)
}

/// The tags every instance below a resource shares (plain string values only).
pub async fn shared_tags(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    format: TagsFormat,
) -> Result<Value, ResourceError> {
    let c = ctx.clone();
    super::context::blocking(move || {
        let instances =
            c.read_blocking(|tx| Ok::<_, ResourceError>(instances_of(tx, &public_id, level)?))?;
        let mut shared: Option<Map<String, Value>> = None;
        for (id, _) in instances {
            let Value::Object(tags) = read_dicom(&c, id)?.tags_json(format) else {
                continue;
            };
            // Only plain string values can be shared (no sequences, binary or too long values).
            let is_string =
                |v: &Value| v.is_string() || v.get("Type").is_some_and(|t| t == "String");
            shared = Some(match shared {
                None => tags.into_iter().filter(|(_, v)| is_string(v)).collect(),
                Some(prev) => prev
                    .into_iter()
                    .filter(|(k, v)| tags.get(k) == Some(v))
                    .collect(),
            });
        }
        Ok(Value::Object(shared.unwrap_or_default()))
    })
    .await
}

/// The tags of every instance below a resource, by instance ID.
pub async fn instances_tags(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    format: TagsFormat,
) -> Result<Value, ResourceError> {
    let c = ctx.clone();
    super::context::blocking(move || {
        let instances =
            c.read_blocking(|tx| Ok::<_, ResourceError>(instances_of(tx, &public_id, level)?))?;
        let mut out = Map::new();
        for (id, pid) in instances {
            out.insert(pid, read_dicom(&c, id)?.tags_json(format));
        }
        Ok(Value::Object(out))
    })
    .await
}

/// The module (`module_level`'s tags) of the first instance below a resource.
pub async fn module(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    module_level: ResourceType,
    format: TagsFormat,
) -> Result<Value, ResourceError> {
    let c = ctx.clone();
    super::context::blocking(move || {
        let first = c
            .read_blocking(|tx| Ok::<_, ResourceError>(instances_of(tx, &public_id, level)?))?
            .into_iter()
            .next()
            .ok_or(ResourceError::NoInstance)?;
        Ok(read_dicom(&c, first.0)?.module_json(module_level, format))
    })
    .await
}

pub async fn is_protected(ctx: &Arc<Context>, public_id: String) -> Result<bool, TxError> {
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, ResourceType::Patient)?;
        Ok(tx.is_protected_patient(id)?)
    })
    .await
}

pub async fn set_protected(
    ctx: &Arc<Context>,
    public_id: String,
    protected: bool,
) -> Result<(), TxError> {
    ctx.write(move |tx| {
        let id = lookup_at_level(tx, &public_id, ResourceType::Patient)?;
        tx.set_protected_patient(id, protected)?;
        Ok(())
    })
    .await
}

async fn instance_id(ctx: &Arc<Context>, public_id: String) -> Result<InternalId, TxError> {
    ctx.read(move |tx| Ok(lookup_at_level(tx, &public_id, ResourceType::Instance)?))
        .await
}

/// The DICOM file of an instance, as stored (uncompressed) with its record.
pub async fn instance_file(
    ctx: &Arc<Context>,
    public_id: String,
) -> Result<(FileInfo, Vec<u8>), ResourceError> {
    let id = instance_id(ctx, public_id).await?;
    let c = ctx.clone();
    super::context::blocking(move || Ok(read_dicom_bytes(&c, id)?)).await
}

/// The parsed DICOM file of an instance.
pub async fn instance_dicom(
    ctx: &Arc<Context>,
    public_id: String,
) -> Result<DicomFile, ResourceError> {
    let id = instance_id(ctx, public_id).await?;
    let c = ctx.clone();
    super::context::blocking(move || Ok(read_dicom(&c, id)?)).await
}

/// The tags of an instance as JSON (read up to the pixel data where the layout allows).
pub async fn instance_tags(
    ctx: &Arc<Context>,
    public_id: String,
    format: TagsFormat,
) -> Result<Value, ResourceError> {
    let id = instance_id(ctx, public_id).await?;
    let c = ctx.clone();
    super::context::blocking(move || Ok(super::files::tags_json(&c, id, format)?)).await
}

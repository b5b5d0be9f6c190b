//! Fixtures and helpers shared by the index conformance checks: tag constants, result
//! unwrapping that names the operation at fault, hierarchy builders and query builders.

use std::fmt::Display;

use crate::{
    ChangeType, ChangesPage, CompressionType, ConstraintKind, CreatedInstance, ExportsPage,
    FileContentType, FileInfo, FindQuery, IndexBackend, IndexError, IndexTransaction,
    InstanceHashes, InternalId, LabelsConstraint, MainDicomTag, MetadataValue, NewChange,
    PublicResource, ResourceMainDicomTag, ResourceType, ResourcesContent, StoredAttachment,
    TagConstraint, TxMode,
};

pub(super) type Tx<'a> = Box<dyn IndexTransaction + 'a>;

// ---- tags and dates ----

pub(super) const PATIENT_NAME: (u16, u16) = (0x0010, 0x0010);
pub(super) const PATIENT_ID: (u16, u16) = (0x0010, 0x0020);
pub(super) const STUDY_DATE: (u16, u16) = (0x0008, 0x0020);
pub(super) const STUDY_DESCRIPTION: (u16, u16) = (0x0008, 0x1030);
pub(super) const ACCESSION_NUMBER: (u16, u16) = (0x0008, 0x0050);
pub(super) const STUDY_INSTANCE_UID: (u16, u16) = (0x0020, 0x000D);
pub(super) const MODALITY: (u16, u16) = (0x0008, 0x0060);
pub(super) const SOP_INSTANCE_UID: (u16, u16) = (0x0008, 0x0018);
pub(super) const INSTANCE_NUMBER: (u16, u16) = (0x0020, 0x0013);

pub(super) const DATE: &str = "20240102T030405";

// ---- results, transactions, resources ----

/// Unwraps an index result, panicking with the operation's name and the error.
#[track_caller]
pub(super) fn ok<T>(result: Result<T, IndexError>, what: impl Display) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

#[track_caller]
pub(super) fn begin(backend: &dyn IndexBackend, mode: TxMode) -> Tx<'_> {
    ok(backend.begin(mode), format_args!("begin({mode:?})"))
}

#[track_caller]
pub(super) fn commit(tx: Tx<'_>) {
    ok(tx.commit(), "commit")
}

pub(super) fn hashes(patient: &str, study: &str, series: &str, instance: &str) -> InstanceHashes {
    InstanceHashes {
        patient: patient.to_owned(),
        study: study.to_owned(),
        series: series.to_owned(),
        instance: instance.to_owned(),
    }
}

#[track_caller]
pub(super) fn add(
    tx: &mut (dyn IndexTransaction + '_),
    patient: &str,
    study: &str,
    series: &str,
    instance: &str,
) -> CreatedInstance {
    ok(
        tx.create_instance(&hashes(patient, study, series, instance)),
        format_args!("create_instance({patient}/{study}/{series}/{instance})"),
    )
}

#[track_caller]
pub(super) fn id_of(tx: &mut (dyn IndexTransaction + '_), public_id: &str) -> InternalId {
    match ok(
        tx.lookup_resource(public_id),
        format_args!("lookup_resource({public_id})"),
    ) {
        Some(found) => found.id,
        None => panic!("lookup_resource({public_id}) returned None for an existing resource"),
    }
}

#[track_caller]
pub(super) fn set_tags(
    tx: &mut (dyn IndexTransaction + '_),
    id: InternalId,
    tags: &[((u16, u16), &str)],
) {
    let content = ResourcesContent {
        main_tags: tags
            .iter()
            .map(|((group, element), v)| ResourceMainDicomTag {
                resource: id,
                group: *group,
                element: *element,
                value: (*v).to_owned(),
            })
            .collect(),
        metadata: Vec::new(),
    };
    ok(tx.set_resources_content(&content), "set_resources_content")
}

pub(super) fn file(
    uuid: &str,
    content_type: FileContentType,
    compressed: u64,
    uncompressed: u64,
) -> FileInfo {
    FileInfo {
        uuid: uuid.to_owned(),
        content_type,
        uncompressed_size: uncompressed,
        uncompressed_md5: format!("md5-u-{uuid}"),
        compression: if compressed == uncompressed {
            CompressionType::None
        } else {
            CompressionType::ZlibWithSize
        },
        compressed_size: compressed,
        compressed_md5: format!("md5-c-{uuid}"),
    }
}

pub(super) fn change(change_type: ChangeType, level: ResourceType, public_id: &str) -> NewChange {
    NewChange {
        change_type,
        resource_type: level,
        public_id: public_id.to_owned(),
        date: DATE.to_owned(),
    }
}

/// An empty, exhausted page of the change log.
pub(super) fn no_changes() -> ChangesPage {
    ChangesPage {
        changes: Vec::new(),
        done: true,
    }
}

/// An empty, exhausted page of the export log.
pub(super) fn no_exports() -> ExportsPage {
    ExportsPage {
        exports: Vec::new(),
        done: true,
    }
}

pub(super) fn public(level: ResourceType, public_id: &str) -> PublicResource {
    PublicResource {
        level,
        public_id: public_id.to_owned(),
    }
}

pub(super) fn meta(value: &str, revision: i64) -> MetadataValue {
    MetadataValue {
        value: value.to_owned(),
        revision,
    }
}

pub(super) fn stored(file: &FileInfo, revision: i64) -> StoredAttachment {
    StoredAttachment {
        file: file.clone(),
        revision,
    }
}

pub(super) fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

pub(super) fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

pub(super) fn user_type(n: i32) -> FileContentType {
    FileContentType(FileContentType::START_USER + n)
}

pub(super) fn supports_labels(backend: &dyn IndexBackend) -> bool {
    let info = backend.info();
    if !info.supports_labels {
        eprintln!("{}: labels not supported, check skipped", info.name);
    }
    info.supports_labels
}

pub(super) fn public_ids(tx: &mut (dyn IndexTransaction + '_), level: ResourceType) -> Vec<String> {
    ok(
        tx.get_all_public_ids(level, 0, None),
        format_args!("get_all_public_ids({level})"),
    )
}

pub(super) fn count(tx: &mut (dyn IndexTransaction + '_), level: ResourceType) -> u64 {
    ok(
        tx.get_resources_count(level),
        format_args!("get_resources_count({level})"),
    )
}

/// The number of resources at each level, patient first.
pub(super) fn counts(tx: &mut (dyn IndexTransaction + '_)) -> [u64; 4] {
    ResourceType::ALL.map(|l| count(tx, l))
}

// ---- main tags, find queries, recycling ----

pub(super) fn tag_list(tags: &[((u16, u16), &str)]) -> Vec<MainDicomTag> {
    sorted(
        tags.iter()
            .map(|((group, element), v)| MainDicomTag {
                group: *group,
                element: *element,
                value: (*v).to_owned(),
            })
            .collect(),
    )
}

pub(super) fn query(level: ResourceType, constraints: Vec<TagConstraint>) -> FindQuery {
    FindQuery {
        level,
        constraints,
        labels: vec![],
        labels_constraint: LabelsConstraint::All,
        metadata: Vec::new(),
        since: 0,
        limit: None,
    }
}

pub(super) fn constraint(
    level: ResourceType,
    tag: (u16, u16),
    kind: ConstraintKind,
    case_sensitive: bool,
) -> TagConstraint {
    TagConstraint {
        level,
        group: tag.0,
        element: tag.1,
        kind,
        case_sensitive,
    }
}

pub(super) fn eq(v: &str) -> ConstraintKind {
    ConstraintKind::Equal(v.to_owned())
}

pub(super) fn wild(v: &str) -> ConstraintKind {
    ConstraintKind::Wildcard(v.to_owned())
}

pub(super) fn list(v: &[&str]) -> ConstraintKind {
    ConstraintKind::List(strings(v))
}

pub(super) fn range(lower: Option<&str>, upper: Option<&str>) -> ConstraintKind {
    ConstraintKind::Range {
        lower: lower.map(str::to_owned),
        upper: upper.map(str::to_owned),
    }
}

#[track_caller]
pub(super) fn expect_find(tx: &mut (dyn IndexTransaction + '_), q: &FindQuery, expected: &[&str]) {
    let got = ok(
        tx.lookup_resources(q),
        format_args!("lookup_resources({q:?})"),
    );
    assert_eq!(got, strings(expected), "lookup_resources({q:?})");
}

#[track_caller]
pub(super) fn recycle(
    tx: &mut (dyn IndexTransaction + '_),
    avoid: Option<InternalId>,
) -> Option<InternalId> {
    ok(
        tx.select_patient_to_recycle(avoid),
        format_args!("select_patient_to_recycle({avoid:?})"),
    )
}

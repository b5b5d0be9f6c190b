//! Conformance checks for [`IndexBackend`] implementations (see the [module](super) docs).
//!
//! Every function expects a fresh, empty backend and panics, naming the operation at fault,
//! when the backend departs from the trait's contract or from Orthanc's semantics.

use std::fmt::Display;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{
    ChangeType, CompressionType, ConstraintKind, CreatedInstance, ExportedResource,
    FileContentType, FileInfo, FindQuery, IndexBackend, IndexError, IndexTransaction,
    InstanceHashes, InternalId, LabelsConstraint, MetadataConstraint, MetadataType, NewChange,
    ResourceSize, ResourceType, ResourcesContent, TagConstraint, TxMode,
};

use ResourceType::{Instance, Patient, Series, Study};

type Tx<'a> = Box<dyn IndexTransaction + 'a>;

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const PATIENT_NAME: (u16, u16) = (0x0010, 0x0010);
const PATIENT_ID: (u16, u16) = (0x0010, 0x0020);
const STUDY_DATE: (u16, u16) = (0x0008, 0x0020);
const STUDY_DESCRIPTION: (u16, u16) = (0x0008, 0x1030);
const ACCESSION_NUMBER: (u16, u16) = (0x0008, 0x0050);
const STUDY_INSTANCE_UID: (u16, u16) = (0x0020, 0x000D);
const MODALITY: (u16, u16) = (0x0008, 0x0060);
const SOP_INSTANCE_UID: (u16, u16) = (0x0008, 0x0018);
const INSTANCE_NUMBER: (u16, u16) = (0x0020, 0x0013);

const DATE: &str = "20240102T030405";

/// Unwraps an index result, panicking with the operation's name and the error.
#[track_caller]
fn ok<T>(result: Result<T, IndexError>, what: impl Display) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

#[track_caller]
fn begin(backend: &dyn IndexBackend, mode: TxMode) -> Tx<'_> {
    ok(backend.begin(mode), format_args!("begin({mode:?})"))
}

#[track_caller]
fn commit(tx: Tx<'_>) {
    ok(tx.commit(), "commit")
}

fn hashes(patient: &str, study: &str, series: &str, instance: &str) -> InstanceHashes {
    InstanceHashes {
        patient: patient.to_owned(),
        study: study.to_owned(),
        series: series.to_owned(),
        instance: instance.to_owned(),
    }
}

#[track_caller]
fn add(
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
fn id_of(tx: &mut (dyn IndexTransaction + '_), public_id: &str) -> InternalId {
    match ok(
        tx.lookup_resource(public_id),
        format_args!("lookup_resource({public_id})"),
    ) {
        Some((id, _)) => id,
        None => panic!("lookup_resource({public_id}) returned None for an existing resource"),
    }
}

#[track_caller]
fn set_tags(tx: &mut (dyn IndexTransaction + '_), id: InternalId, tags: &[((u16, u16), &str)]) {
    let content = ResourcesContent {
        main_tags: tags
            .iter()
            .map(|((g, e), v)| (id, *g, *e, (*v).to_owned()))
            .collect(),
        metadata: Vec::new(),
    };
    ok(tx.set_resources_content(&content), "set_resources_content")
}

fn file(uuid: &str, content_type: FileContentType, compressed: u64, uncompressed: u64) -> FileInfo {
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

fn change(change_type: ChangeType, level: ResourceType, public_id: &str) -> NewChange {
    NewChange {
        change_type,
        resource_type: level,
        public_id: public_id.to_owned(),
        date: DATE.to_owned(),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn user_type(n: i32) -> FileContentType {
    FileContentType(FileContentType::START_USER + n)
}

fn supports_labels(backend: &dyn IndexBackend) -> bool {
    let info = backend.info();
    if !info.supports_labels {
        eprintln!("{}: labels not supported, check skipped", info.name);
    }
    info.supports_labels
}

fn public_ids(tx: &mut (dyn IndexTransaction + '_), level: ResourceType) -> Vec<String> {
    ok(
        tx.get_all_public_ids(level, 0, None),
        format_args!("get_all_public_ids({level})"),
    )
}

fn count(tx: &mut (dyn IndexTransaction + '_), level: ResourceType) -> u64 {
    ok(
        tx.get_resources_count(level),
        format_args!("get_resources_count({level})"),
    )
}

/// The number of resources at each level, patient first.
fn counts(tx: &mut (dyn IndexTransaction + '_)) -> [u64; 4] {
    ResourceType::ALL.map(|l| count(tx, l))
}

// ---------------------------------------------------------------------------------------------
// backend and empty state
// ---------------------------------------------------------------------------------------------

/// `info()` names the backend and reports a schema version.
pub fn backend_info(backend: &dyn IndexBackend) {
    let info = backend.info();
    assert!(!info.name.is_empty(), "info().name is empty");
    assert!(info.schema_version >= 1, "info().schema_version is 0");
}

/// A fresh backend holds nothing: no resources, changes, exports, sizes, labels or candidates.
pub fn empty_backend(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        counts(&mut *tx),
        [0; 4],
        "resource counts of an empty index"
    );
    for level in ResourceType::ALL {
        assert!(
            public_ids(&mut *tx, level).is_empty(),
            "get_all_public_ids({level}) of an empty index"
        );
    }
    assert_eq!(
        ok(tx.get_changes(0, 10), "get_changes"),
        (vec![], true),
        "empty change log"
    );
    assert_eq!(ok(tx.get_last_change(), "get_last_change"), None);
    assert_eq!(ok(tx.get_last_change_index(), "get_last_change_index"), 0);
    assert_eq!(
        ok(tx.get_exported_resources(0, 10), "get_exported_resources"),
        (vec![], true),
        "empty export log"
    );
    assert_eq!(
        ok(
            tx.get_last_exported_resource(),
            "get_last_exported_resource"
        ),
        None
    );
    assert_eq!(
        ok(tx.get_total_compressed_size(), "get_total_compressed_size"),
        0
    );
    assert_eq!(
        ok(
            tx.get_total_uncompressed_size(),
            "get_total_uncompressed_size"
        ),
        0
    );
    assert!(!ok(tx.is_disk_size_above(0), "is_disk_size_above(0)"));
    assert_eq!(
        ok(
            tx.select_patient_to_recycle(None),
            "select_patient_to_recycle"
        ),
        None
    );
    assert_eq!(
        ok(tx.lookup_resource("no-such-resource"), "lookup_resource"),
        None
    );
    assert_eq!(
        ok(
            tx.lookup_global_property("", 5001),
            "lookup_global_property"
        ),
        None
    );
    if backend.info().supports_labels {
        assert!(ok(tx.list_labels(None), "list_labels(None)").is_empty());
    }
    let query = FindQuery {
        level: Study,
        constraints: vec![],
        labels: vec![],
        labels_constraint: LabelsConstraint::All,
        metadata: Vec::new(),
        since: 0,
        limit: None,
    };
    assert!(ok(tx.lookup_resources(&query), "lookup_resources").is_empty());
    commit(tx);
}

// ---------------------------------------------------------------------------------------------
// resources
// ---------------------------------------------------------------------------------------------

/// The first instance creates its four levels, each with its own internal ID and level.
pub fn create_instance_new_hierarchy(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let c = add(&mut *tx, "pat-1", "study-1", "series-1", "inst-1");
    assert!(
        c.is_new_instance && c.is_new_series && c.is_new_study && c.is_new_patient,
        "first create_instance must create all four levels: {c:?}"
    );
    let ids = [c.patient_id, c.study_id, c.series_id, c.instance_id];
    assert_eq!(
        sorted(ids.to_vec())
            .windows(2)
            .filter(|w| w[0] == w[1])
            .count(),
        0,
        "internal IDs of the four levels must differ: {c:?}"
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    for ((public, level), id) in [
        ("pat-1", Patient),
        ("study-1", Study),
        ("series-1", Series),
        ("inst-1", Instance),
    ]
    .into_iter()
    .zip(ids)
    {
        assert_eq!(
            ok(tx.lookup_resource(public), "lookup_resource"),
            Some((id, level)),
            "lookup_resource({public}) after commit"
        );
        assert_eq!(ok(tx.get_public_id(id), "get_public_id"), public);
        assert_eq!(ok(tx.get_resource_type(id), "get_resource_type"), level);
    }
    assert_eq!(counts(&mut *tx), [1, 1, 1, 1]);
    commit(tx);
}

/// A new instance reuses existing ancestors (get-or-create by public ID) at each level.
pub fn create_instance_existing_levels(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let first = add(&mut *tx, "pat-1", "study-1", "series-1", "inst-1");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    // Same series.
    let c = add(&mut *tx, "pat-1", "study-1", "series-1", "inst-2");
    assert!(
        c.is_new_instance && !c.is_new_series && !c.is_new_study && !c.is_new_patient,
        "second instance of a series: {c:?}"
    );
    assert_eq!(
        (c.patient_id, c.study_id, c.series_id),
        (first.patient_id, first.study_id, first.series_id)
    );
    assert_ne!(c.instance_id, first.instance_id);
    // New series in the same study.
    let c = add(&mut *tx, "pat-1", "study-1", "series-2", "inst-3");
    assert!(
        c.is_new_instance && c.is_new_series && !c.is_new_study && !c.is_new_patient,
        "new series in an existing study: {c:?}"
    );
    assert_eq!(
        (c.patient_id, c.study_id),
        (first.patient_id, first.study_id)
    );
    assert_ne!(c.series_id, first.series_id);
    // New study of the same patient.
    let c = add(&mut *tx, "pat-1", "study-2", "series-3", "inst-4");
    assert!(
        c.is_new_instance && c.is_new_series && c.is_new_study && !c.is_new_patient,
        "new study of an existing patient: {c:?}"
    );
    assert_eq!(c.patient_id, first.patient_id);
    assert_ne!(c.study_id, first.study_id);
    // A new patient.
    let c = add(&mut *tx, "pat-2", "study-3", "series-4", "inst-5");
    assert!(
        c.is_new_instance && c.is_new_series && c.is_new_study && c.is_new_patient,
        "new patient: {c:?}"
    );
    assert_ne!(c.patient_id, first.patient_id);
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(counts(&mut *tx), [2, 3, 4, 5]);
    commit(tx);
}

/// Creating an existing instance creates nothing and returns the existing internal IDs.
pub fn create_instance_existing_instance(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let first = add(&mut *tx, "pat-1", "study-1", "series-1", "inst-1");
    add(&mut *tx, "pat-1", "study-1", "series-1", "inst-2");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let again = add(&mut *tx, "pat-1", "study-1", "series-1", "inst-1");
    let expected = CreatedInstance {
        is_new_instance: false,
        is_new_series: false,
        is_new_study: false,
        is_new_patient: false,
        ..first.clone()
    };
    assert_eq!(again, expected, "create_instance of an existing instance");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        counts(&mut *tx),
        [1, 1, 1, 2],
        "nothing created by re-creating an instance"
    );
    commit(tx);
}

/// `lookup_resource_and_parent` gives the level and the parent's public ID (none for patients).
pub fn lookup_resource_and_parent(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let c = add(&mut *tx, "pat-1", "study-1", "series-1", "inst-1");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    let expect = [
        ("pat-1", c.patient_id, Patient, None),
        ("study-1", c.study_id, Study, Some("pat-1")),
        ("series-1", c.series_id, Series, Some("study-1")),
        ("inst-1", c.instance_id, Instance, Some("series-1")),
    ];
    for (public, id, level, parent) in expect {
        assert_eq!(
            ok(
                tx.lookup_resource_and_parent(public),
                "lookup_resource_and_parent"
            ),
            Some((id, level, parent.map(str::to_owned))),
            "lookup_resource_and_parent({public})"
        );
    }
    assert_eq!(
        ok(
            tx.lookup_resource_and_parent("unknown"),
            "lookup_resource_and_parent"
        ),
        None
    );
    assert_eq!(ok(tx.lookup_resource("unknown"), "lookup_resource"), None);
    // Public IDs are case-sensitive.
    assert_eq!(
        ok(tx.lookup_resource("PAT-1"), "lookup_resource"),
        None,
        "public IDs are case-sensitive"
    );
    commit(tx);
}

/// Parents and children, children in insertion order (not sorted by public ID).
pub fn parent_and_children_in_insertion_order(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let a = add(&mut *tx, "pat", "study-zulu", "series-zulu", "inst-zulu");
    let b = add(&mut *tx, "pat", "study-zulu", "series-alpha", "inst-mike");
    let c = add(&mut *tx, "pat", "study-zulu", "series-mike", "inst-alpha");
    let d = add(&mut *tx, "pat", "study-zulu", "series-alpha", "inst-bravo");
    let e = add(&mut *tx, "pat", "study-alpha", "series-x", "inst-x");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        ok(tx.lookup_parent(a.instance_id), "lookup_parent"),
        Some(a.series_id)
    );
    assert_eq!(
        ok(tx.lookup_parent(a.series_id), "lookup_parent"),
        Some(a.study_id)
    );
    assert_eq!(
        ok(tx.lookup_parent(a.study_id), "lookup_parent"),
        Some(a.patient_id)
    );
    assert_eq!(
        ok(tx.lookup_parent(a.patient_id), "lookup_parent"),
        None,
        "a patient has no parent"
    );

    assert_eq!(
        ok(
            tx.get_children_public_ids(a.patient_id),
            "get_children_public_ids"
        ),
        strings(&["study-zulu", "study-alpha"]),
        "children of a patient, in insertion order"
    );
    assert_eq!(
        ok(
            tx.get_children_internal_ids(a.patient_id),
            "get_children_internal_ids"
        ),
        vec![a.study_id, e.study_id]
    );
    assert_eq!(
        ok(
            tx.get_children_public_ids(a.study_id),
            "get_children_public_ids"
        ),
        strings(&["series-zulu", "series-alpha", "series-mike"]),
        "children of a study, in insertion order"
    );
    assert_eq!(
        ok(
            tx.get_children_internal_ids(a.study_id),
            "get_children_internal_ids"
        ),
        vec![a.series_id, b.series_id, c.series_id]
    );
    assert_eq!(
        ok(
            tx.get_children_public_ids(b.series_id),
            "get_children_public_ids"
        ),
        strings(&["inst-mike", "inst-bravo"]),
        "children of a series, in insertion order"
    );
    assert_eq!(
        ok(
            tx.get_children_internal_ids(b.series_id),
            "get_children_internal_ids"
        ),
        vec![b.instance_id, d.instance_id]
    );
    assert!(
        ok(
            tx.get_children_public_ids(a.instance_id),
            "get_children_public_ids"
        )
        .is_empty(),
        "an instance has no children"
    );
    assert!(ok(
        tx.get_children_internal_ids(a.instance_id),
        "get_children_internal_ids"
    )
    .is_empty());
    for (id, expected) in [
        (a.patient_id, 2),
        (a.study_id, 3),
        (b.series_id, 2),
        (a.instance_id, 0),
    ] {
        assert_eq!(ok(tx.count_children(id), "count_children"), expected);
    }
    commit(tx);
}

/// Operations on an internal ID that does not exist fail with `UnknownResource`.
pub fn unknown_internal_id(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let c = add(&mut *tx, "pat", "study", "series", "inst");
    commit(tx);
    let unknown = [c.patient_id, c.study_id, c.series_id, c.instance_id]
        .into_iter()
        .max()
        .unwrap()
        + 1_000_000;

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert!(
        matches!(tx.get_public_id(unknown), Err(IndexError::UnknownResource)),
        "get_public_id(unknown) must fail with UnknownResource"
    );
    assert!(
        matches!(
            tx.get_resource_type(unknown),
            Err(IndexError::UnknownResource)
        ),
        "get_resource_type(unknown) must fail with UnknownResource"
    );
    commit(tx);
}

/// `get_all_public_ids` lists a level in insertion order and pages with `since` / `limit`.
pub fn all_public_ids_paging(backend: &dyn IndexBackend) {
    let names = ["pat-e", "pat-b", "pat-d", "pat-a", "pat-c"];
    let mut tx = begin(backend, TxMode::ReadWrite);
    for (i, p) in names.iter().enumerate() {
        add(
            &mut *tx,
            p,
            &format!("study-{i}"),
            &format!("series-{i}"),
            &format!("inst-{i}"),
        );
    }
    add(&mut *tx, "pat-e", "study-0", "series-0", "inst-extra");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    let mut page = |since, limit| {
        ok(
            tx.get_all_public_ids(Patient, since, limit),
            format_args!("get_all_public_ids(Patient, {since}, {limit:?})"),
        )
    };
    assert_eq!(
        page(0, None),
        strings(&names),
        "all patients, in insertion order"
    );
    assert_eq!(page(0, Some(2)), strings(&["pat-e", "pat-b"]));
    assert_eq!(page(2, Some(2)), strings(&["pat-d", "pat-a"]));
    assert_eq!(page(4, Some(2)), strings(&["pat-c"]));
    assert_eq!(page(3, None), strings(&["pat-a", "pat-c"]));
    assert_eq!(page(5, None), Vec::<String>::new());
    assert_eq!(page(99, Some(3)), Vec::<String>::new());
    assert_eq!(
        page(1, Some(0)),
        Vec::<String>::new(),
        "limit 0 returns nothing"
    );
    assert_eq!(page(0, Some(100)), strings(&names));
    assert_eq!(
        public_ids(&mut *tx, Instance),
        strings(&[
            "inst-0",
            "inst-1",
            "inst-2",
            "inst-3",
            "inst-4",
            "inst-extra"
        ])
    );
    assert_eq!(
        ok(
            tx.get_all_public_ids(Study, 1, Some(3)),
            "get_all_public_ids(Study)"
        ),
        strings(&["study-1", "study-2", "study-3"])
    );
    commit(tx);
}

/// `get_resources_count` per level.
pub fn resources_count(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    add(&mut *tx, "p1", "s1", "se1", "i1");
    add(&mut *tx, "p1", "s1", "se1", "i2");
    add(&mut *tx, "p1", "s1", "se2", "i3");
    add(&mut *tx, "p1", "s2", "se3", "i4");
    add(&mut *tx, "p2", "s3", "se4", "i5");
    add(&mut *tx, "p2", "s3", "se4", "i6");
    add(&mut *tx, "p2", "s3", "se4", "i7");
    assert_eq!(
        counts(&mut *tx),
        [2, 3, 4, 7],
        "counts inside the writing transaction"
    );
    commit(tx);
    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(counts(&mut *tx), [2, 3, 4, 7], "counts after commit");
    commit(tx);
}

// ---------------------------------------------------------------------------------------------
// deletion
// ---------------------------------------------------------------------------------------------

fn sorted_files(mut files: Vec<FileInfo>) -> Vec<FileInfo> {
    files.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    files
}

fn resources(list: &[(ResourceType, &str)]) -> Vec<(ResourceType, String)> {
    sorted(list.iter().map(|(t, p)| (*t, (*p).to_owned())).collect())
}

/// Deleting one instance of a multi-instance series removes that instance only, returns its
/// files and names the series as the remaining ancestor.
pub fn delete_instance_keeps_series(backend: &dyn IndexBackend) {
    let f1 = file("0001-i1", FileContentType::DICOM, 100, 100);
    let f2 = file("0002-i2", FileContentType::DICOM, 200, 400);
    let f2b = file("0003-i2-user", user_type(1), 10, 10);
    let mut tx = begin(backend, TxMode::ReadWrite);
    let i1 = add(&mut *tx, "p", "s", "se", "i1");
    let i2 = add(&mut *tx, "p", "s", "se", "i2");
    add(&mut *tx, "p", "s", "se", "i3");
    ok(tx.add_attachment(i1.instance_id, &f1, 0), "add_attachment");
    ok(tx.add_attachment(i2.instance_id, &f2, 0), "add_attachment");
    ok(tx.add_attachment(i2.instance_id, &f2b, 0), "add_attachment");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let deleted = ok(
        tx.delete_resource(i2.instance_id),
        "delete_resource(instance)",
    );
    commit(tx);
    assert_eq!(
        sorted_files(deleted.files),
        vec![f2.clone(), f2b.clone()],
        "files of the deleted instance"
    );
    assert_eq!(
        sorted(deleted.resources),
        resources(&[(Instance, "i2")]),
        "deleted resources"
    );
    assert_eq!(
        deleted.remaining_ancestor,
        Some((Series, "se".to_owned())),
        "remaining ancestor"
    );

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        ok(tx.lookup_resource("i2"), "lookup_resource"),
        None,
        "deleted instance still found"
    );
    assert_eq!(
        ok(
            tx.get_children_public_ids(i1.series_id),
            "get_children_public_ids"
        ),
        strings(&["i1", "i3"])
    );
    assert_eq!(counts(&mut *tx), [1, 1, 1, 2]);
    assert_eq!(
        ok(
            tx.lookup_attachment(i1.instance_id, FileContentType::DICOM),
            "lookup_attachment"
        ),
        Some((f1, 0)),
        "a sibling's attachment survives"
    );
    assert_eq!(
        ok(tx.get_total_compressed_size(), "get_total_compressed_size"),
        100
    );
    commit(tx);
}

/// Deleting the last series of a study deletes the study too; the patient, which has another
/// study, is the remaining ancestor. Files of every deleted level are returned.
pub fn delete_last_series_of_study_keeps_patient(backend: &dyn IndexBackend) {
    let f1 = file("0001-i1", FileContentType::DICOM, 1, 1);
    let f2 = file("0002-i2", FileContentType::DICOM, 2, 2);
    let fs = file("0003-study", user_type(0), 3, 3);
    let fse = file("0004-series", user_type(0), 4, 4);
    let f3 = file("0005-i3", FileContentType::DICOM, 5, 5);
    let mut tx = begin(backend, TxMode::ReadWrite);
    let i1 = add(&mut *tx, "p", "s1", "se1", "i1");
    let i2 = add(&mut *tx, "p", "s1", "se1", "i2");
    let i3 = add(&mut *tx, "p", "s2", "se2", "i3");
    ok(tx.add_attachment(i1.instance_id, &f1, 0), "add_attachment");
    ok(tx.add_attachment(i2.instance_id, &f2, 0), "add_attachment");
    ok(tx.add_attachment(i1.study_id, &fs, 0), "add_attachment");
    ok(tx.add_attachment(i1.series_id, &fse, 0), "add_attachment");
    ok(tx.add_attachment(i3.instance_id, &f3, 0), "add_attachment");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let deleted = ok(tx.delete_resource(i1.series_id), "delete_resource(series)");
    commit(tx);
    assert_eq!(
        sorted(deleted.resources),
        resources(&[
            (Study, "s1"),
            (Series, "se1"),
            (Instance, "i1"),
            (Instance, "i2")
        ]),
        "a series, its instances and its study left without series are deleted"
    );
    assert_eq!(
        sorted_files(deleted.files),
        vec![f1, f2, fs, fse],
        "files of every deleted resource"
    );
    assert_eq!(
        deleted.remaining_ancestor,
        Some((Patient, "p".to_owned())),
        "remaining ancestor"
    );

    let mut tx = begin(backend, TxMode::ReadOnly);
    for gone in ["s1", "se1", "i1", "i2"] {
        assert_eq!(
            ok(tx.lookup_resource(gone), "lookup_resource"),
            None,
            "{gone} survived its deletion"
        );
    }
    assert_eq!(
        ok(
            tx.get_children_public_ids(i1.patient_id),
            "get_children_public_ids"
        ),
        strings(&["s2"])
    );
    assert_eq!(counts(&mut *tx), [1, 1, 1, 1]);
    assert_eq!(public_ids(&mut *tx, Instance), strings(&["i3"]));
    commit(tx);
}

/// Deleting the last study of a patient deletes the patient: no remaining ancestor. Deleting
/// the only instance of a patient removes all four levels.
pub fn delete_last_study_deletes_patient(backend: &dyn IndexBackend) {
    let fp = file("0001-patient", user_type(0), 1, 1);
    let fi = file("0002-i1", FileContentType::DICOM, 2, 2);
    let mut tx = begin(backend, TxMode::ReadWrite);
    let a = add(&mut *tx, "p1", "s1", "se1", "i1");
    let b = add(&mut *tx, "p2", "s2", "se2", "i2");
    add(&mut *tx, "p3", "s3", "se3", "i3");
    ok(tx.add_attachment(a.patient_id, &fp, 0), "add_attachment");
    ok(tx.add_attachment(a.instance_id, &fi, 0), "add_attachment");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let deleted = ok(tx.delete_resource(a.study_id), "delete_resource(study)");
    commit(tx);
    assert_eq!(
        sorted(deleted.resources),
        resources(&[
            (Patient, "p1"),
            (Study, "s1"),
            (Series, "se1"),
            (Instance, "i1")
        ])
    );
    assert_eq!(sorted_files(deleted.files), vec![fp, fi]);
    assert_eq!(
        deleted.remaining_ancestor, None,
        "the patient went with its last study"
    );

    let mut tx = begin(backend, TxMode::ReadWrite);
    let deleted = ok(
        tx.delete_resource(b.instance_id),
        "delete_resource(instance)",
    );
    commit(tx);
    assert_eq!(
        sorted(deleted.resources),
        resources(&[
            (Patient, "p2"),
            (Study, "s2"),
            (Series, "se2"),
            (Instance, "i2")
        ]),
        "deleting a patient's only instance removes every level"
    );
    assert!(deleted.files.is_empty());
    assert_eq!(deleted.remaining_ancestor, None);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(public_ids(&mut *tx, Patient), strings(&["p3"]));
    assert_eq!(counts(&mut *tx), [1, 1, 1, 1]);
    let p3 = id_of(&mut *tx, "p3");
    assert_eq!(
        ok(
            tx.select_patient_to_recycle(None),
            "select_patient_to_recycle"
        ),
        Some(p3),
        "deleted patients leave the recycling order"
    );
    commit(tx);
}

/// Deleting a patient deletes all its descendants and returns all their files.
pub fn delete_patient_removes_descendants(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let layout = [
        ("p1", "s1", "se1", "i1"),
        ("p1", "s1", "se1", "i2"),
        ("p1", "s1", "se2", "i3"),
        ("p1", "s2", "se3", "i4"),
        ("p2", "s3", "se4", "i5"),
    ];
    let mut files = Vec::new();
    let mut p1 = 0;
    for (k, (p, s, se, i)) in layout.iter().enumerate() {
        let c = add(&mut *tx, p, s, se, i);
        let f = file(&format!("000{k}-{i}"), FileContentType::DICOM, 10, 10);
        ok(tx.add_attachment(c.instance_id, &f, 0), "add_attachment");
        if *p == "p1" {
            files.push(f);
            p1 = c.patient_id;
        }
    }
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let deleted = ok(tx.delete_resource(p1), "delete_resource(patient)");
    commit(tx);
    assert_eq!(
        sorted(deleted.resources),
        resources(&[
            (Patient, "p1"),
            (Study, "s1"),
            (Study, "s2"),
            (Series, "se1"),
            (Series, "se2"),
            (Series, "se3"),
            (Instance, "i1"),
            (Instance, "i2"),
            (Instance, "i3"),
            (Instance, "i4"),
        ])
    );
    assert_eq!(sorted_files(deleted.files), files);
    assert_eq!(deleted.remaining_ancestor, None);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(counts(&mut *tx), [1, 1, 1, 1]);
    for level in ResourceType::ALL {
        let expected = match level {
            Patient => "p2",
            Study => "s3",
            Series => "se4",
            Instance => "i5",
        };
        assert_eq!(public_ids(&mut *tx, level), strings(&[expected]));
    }
    assert_eq!(
        ok(tx.get_total_compressed_size(), "get_total_compressed_size"),
        10
    );
    commit(tx);
}

/// The changes of a deleted resource disappear with it; the last change index does not go back.
pub fn delete_removes_changes_of_deleted_resources(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let a = add(&mut *tx, "p1", "s1", "se1", "i1");
    add(&mut *tx, "p1", "s1", "se1", "i1b");
    let b = add(&mut *tx, "p2", "s2", "se2", "i2");
    let mut seqs = Vec::new();
    for (t, l, p) in [
        (ChangeType::NewPatient, Patient, "p1"),
        (ChangeType::NewInstance, Instance, "i1"),
        (ChangeType::NewPatient, Patient, "p2"),
        (ChangeType::NewInstance, Instance, "i2"),
        (ChangeType::NewInstance, Instance, "i1b"),
    ] {
        seqs.push(ok(tx.log_change(&change(t, l, p)), "log_change"));
    }
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let d = ok(
        tx.delete_resource(a.instance_id),
        "delete_resource(instance)",
    );
    assert_eq!(d.remaining_ancestor, Some((Series, "se1".to_owned())));
    commit(tx);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let (changes, done) = ok(tx.get_changes(0, 100), "get_changes");
    assert!(done);
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.seq, c.public_id.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (seqs[0], "p1"),
            (seqs[2], "p2"),
            (seqs[3], "i2"),
            (seqs[4], "i1b")
        ],
        "only the deleted instance's change is gone"
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    ok(tx.delete_resource(a.patient_id), "delete_resource(patient)");
    commit(tx);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let (changes, _) = ok(tx.get_changes(0, 100), "get_changes");
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.seq, c.public_id.as_str()))
            .collect::<Vec<_>>(),
        vec![(seqs[2], "p2"), (seqs[3], "i2")],
        "a deleted patient's changes and its descendants' are gone"
    );
    assert_eq!(
        ok(tx.get_last_change_index(), "get_last_change_index"),
        seqs[4],
        "the last change index survives the deletion of the latest change"
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    ok(tx.delete_resource(b.patient_id), "delete_resource(patient)");
    commit(tx);
    let mut tx = begin(backend, TxMode::ReadWrite);
    assert_eq!(ok(tx.get_changes(0, 100), "get_changes"), (vec![], true));
    assert_eq!(ok(tx.get_last_change(), "get_last_change"), None);
    assert_eq!(
        ok(tx.get_last_change_index(), "get_last_change_index"),
        seqs[4],
        "the last change index survives an emptied log"
    );
    add(&mut *tx, "p3", "s3", "se3", "i3");
    let next = ok(
        tx.log_change(&change(ChangeType::NewPatient, Patient, "p3")),
        "log_change",
    );
    assert!(
        next > seqs[4],
        "change seq went back after deletes: {next} <= {}",
        seqs[4]
    );
    commit(tx);
}

/// Deleting a resource removes its tags, metadata, labels, attachments and recycling entry;
/// recreating the same public IDs yields pristine resources.
pub fn delete_removes_dependent_rows(backend: &dyn IndexBackend) {
    let labels = backend.info().supports_labels;
    let mut tx = begin(backend, TxMode::ReadWrite);
    let a = add(&mut *tx, "p1", "s1", "se1", "i1");
    let b = add(&mut *tx, "p2", "s2", "se2", "i2");
    set_tags(&mut *tx, a.patient_id, &[(PATIENT_ID, "DEL-1")]);
    set_tags(&mut *tx, a.series_id, &[(MODALITY, "XA")]);
    ok(
        tx.set_metadata(a.instance_id, MetadataType::REMOTE_AET, "AET", 0),
        "set_metadata",
    );
    ok(
        tx.add_attachment(
            a.instance_id,
            &file("0001-a", FileContentType::DICOM, 7, 7),
            0,
        ),
        "add_attachment",
    );
    ok(
        tx.add_attachment(
            b.instance_id,
            &file("0002-b", FileContentType::DICOM, 5, 5),
            0,
        ),
        "add_attachment",
    );
    if labels {
        ok(tx.add_label(a.study_id, "gone"), "add_label");
        ok(tx.add_label(b.study_id, "kept"), "add_label");
    }
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    ok(tx.delete_resource(a.patient_id), "delete_resource(patient)");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    if labels {
        assert_eq!(
            ok(tx.list_labels(None), "list_labels(None)"),
            strings(&["kept"]),
            "labels of deleted resources must go"
        );
    }
    assert!(ok(
        tx.lookup_identifier(Patient, PATIENT_ID.0, PATIENT_ID.1, "DEL-1"),
        "lookup_identifier"
    )
    .is_empty());
    let q = FindQuery {
        level: Series,
        constraints: vec![TagConstraint {
            level: Series,
            group: MODALITY.0,
            element: MODALITY.1,
            kind: ConstraintKind::Equal("XA".into()),
            case_sensitive: true,
        }],
        labels: vec![],
        labels_constraint: LabelsConstraint::All,
        metadata: Vec::new(),
        since: 0,
        limit: None,
    };
    assert!(ok(tx.lookup_resources(&q), "lookup_resources").is_empty());
    assert_eq!(
        ok(tx.get_total_compressed_size(), "get_total_compressed_size"),
        5
    );
    assert_eq!(
        ok(
            tx.select_patient_to_recycle(None),
            "select_patient_to_recycle"
        ),
        Some(b.patient_id)
    );
    assert_eq!(
        ok(
            tx.select_patient_to_recycle(Some(b.patient_id)),
            "select_patient_to_recycle"
        ),
        None
    );

    let again = add(&mut *tx, "p1", "s1", "se1", "i1");
    assert!(
        again.is_new_patient && again.is_new_study && again.is_new_series && again.is_new_instance,
        "re-creating deleted public IDs: {again:?}"
    );
    assert!(ok(
        tx.get_main_dicom_tags(again.patient_id),
        "get_main_dicom_tags"
    )
    .is_empty());
    assert!(ok(
        tx.get_main_dicom_tags(again.series_id),
        "get_main_dicom_tags"
    )
    .is_empty());
    assert!(ok(tx.get_all_metadata(again.instance_id), "get_all_metadata").is_empty());
    assert!(ok(
        tx.list_available_attachments(again.instance_id),
        "list_available_attachments"
    )
    .is_empty());
    if labels {
        assert!(ok(tx.list_labels(Some(again.study_id)), "list_labels").is_empty());
    }
    commit(tx);
}

// ---------------------------------------------------------------------------------------------
// main DICOM tags
// ---------------------------------------------------------------------------------------------

fn tag_list(tags: &[((u16, u16), &str)]) -> Vec<(u16, u16, String)> {
    sorted(
        tags.iter()
            .map(|((g, e), v)| (*g, *e, (*v).to_owned()))
            .collect(),
    )
}

/// `set_resources_content` stores main tags at every level (and metadata at revision 0);
/// `clear_main_dicom_tags` drops one resource's tags, which can then be set anew.
pub fn main_dicom_tags(backend: &dyn IndexBackend) {
    let patient = [(PATIENT_ID, "ID-Ω"), (PATIENT_NAME, "Ωmega^Жанна")];
    let study = [
        (STUDY_INSTANCE_UID, "1.2.3"),
        (STUDY_DATE, "20200101"),
        (STUDY_DESCRIPTION, ""),
    ];
    let series = [(MODALITY, "CT\\MR")];
    let instance = [(SOP_INSTANCE_UID, "1.2.3.4.5"), (INSTANCE_NUMBER, "12")];

    let mut tx = begin(backend, TxMode::ReadWrite);
    let c = add(&mut *tx, "p", "s", "se", "i");
    let mut content = ResourcesContent::default();
    for (id, tags) in [
        (c.patient_id, &patient[..]),
        (c.study_id, &study[..]),
        (c.series_id, &series[..]),
        (c.instance_id, &instance[..]),
    ] {
        content
            .main_tags
            .extend(tags.iter().map(|((g, e), v)| (id, *g, *e, (*v).to_owned())));
    }
    content
        .metadata
        .push((c.instance_id, MetadataType::INDEX_IN_SERIES, "1".to_owned()));
    content.metadata.push((
        c.series_id,
        MetadataType::LAST_UPDATE,
        "20240101T000000".to_owned(),
    ));
    ok(tx.set_resources_content(&content), "set_resources_content");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    for (id, tags) in [
        (c.patient_id, &patient[..]),
        (c.study_id, &study[..]),
        (c.series_id, &series[..]),
        (c.instance_id, &instance[..]),
    ] {
        assert_eq!(
            sorted(ok(tx.get_main_dicom_tags(id), "get_main_dicom_tags")),
            tag_list(tags),
            "main tags of resource {id}"
        );
    }
    assert_eq!(
        ok(
            tx.lookup_metadata(c.instance_id, MetadataType::INDEX_IN_SERIES),
            "lookup_metadata"
        ),
        Some(("1".to_owned(), 0)),
        "metadata written by set_resources_content has revision 0"
    );
    assert_eq!(
        ok(
            tx.lookup_metadata(c.series_id, MetadataType::LAST_UPDATE),
            "lookup_metadata"
        ),
        Some(("20240101T000000".to_owned(), 0))
    );

    ok(
        tx.clear_main_dicom_tags(c.study_id),
        "clear_main_dicom_tags",
    );
    assert!(
        ok(tx.get_main_dicom_tags(c.study_id), "get_main_dicom_tags").is_empty(),
        "tags left after clear"
    );
    assert_eq!(
        sorted(ok(
            tx.get_main_dicom_tags(c.patient_id),
            "get_main_dicom_tags"
        )),
        tag_list(&patient),
        "clearing a study's tags must not touch its patient's"
    );
    set_tags(&mut *tx, c.study_id, &[(STUDY_DATE, "20221231")]);
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        ok(tx.get_main_dicom_tags(c.study_id), "get_main_dicom_tags"),
        tag_list(&[(STUDY_DATE, "20221231")])
    );
    let by_date = |d: &str| FindQuery {
        level: Study,
        constraints: vec![TagConstraint {
            level: Study,
            group: STUDY_DATE.0,
            element: STUDY_DATE.1,
            kind: ConstraintKind::Equal(d.to_owned()),
            case_sensitive: false,
        }],
        labels: vec![],
        labels_constraint: LabelsConstraint::All,
        metadata: Vec::new(),
        since: 0,
        limit: None,
    };
    assert!(
        ok(
            tx.lookup_resources(&by_date("20200101")),
            "lookup_resources"
        )
        .is_empty(),
        "a cleared tag value is still searchable"
    );
    assert_eq!(
        ok(
            tx.lookup_resources(&by_date("20221231")),
            "lookup_resources"
        ),
        strings(&["s"])
    );
    commit(tx);
}

// ---------------------------------------------------------------------------------------------
// find (lookup_resources)
// ---------------------------------------------------------------------------------------------

/// The find fixture (creation order = index order):
///
/// ```text
/// pat-zulu  "Müller^Hans" ID-1
///   study-zulu  20200101 "Chest CT"            labels urgent, teaching
///     series-zulu   CT   inst-zulu-1 (#1)
///     series-alpha  SR   inst-alpha-1 (#1)
///   study-alpha 20210615 "Brain_MR 100%"       label teaching
///     series-mike   MR   inst-mike-1 (#1), inst-mike-2 (#2)
/// pat-alpha "MÜLLER^ANNA" ID-2                 label vip
///   study-mike  20220301 "chest x-ray" ACC-3   label urgent
///     series-bravo  CR   inst-bravo-1 (#7)
/// pat-mike  "Smith^John" ID-3
///   study-bravo 20190101 "Abdomen [contrast]"
///     series-yankee CT   inst-yankee-1 (#1)
/// ```
fn find_fixture(backend: &dyn IndexBackend) {
    let labels = backend.info().supports_labels;
    let mut tx = begin(backend, TxMode::ReadWrite);
    let layout: [(&str, &str, &str, &str, &str); 6] = [
        ("pat-zulu", "study-zulu", "series-zulu", "inst-zulu-1", "1"),
        (
            "pat-zulu",
            "study-zulu",
            "series-alpha",
            "inst-alpha-1",
            "1",
        ),
        ("pat-zulu", "study-alpha", "series-mike", "inst-mike-1", "1"),
        ("pat-zulu", "study-alpha", "series-mike", "inst-mike-2", "2"),
        (
            "pat-alpha",
            "study-mike",
            "series-bravo",
            "inst-bravo-1",
            "7",
        ),
        (
            "pat-mike",
            "study-bravo",
            "series-yankee",
            "inst-yankee-1",
            "1",
        ),
    ];
    for (p, s, se, i, number) in layout {
        let c = add(&mut *tx, p, s, se, i);
        set_tags(
            &mut *tx,
            c.instance_id,
            &[(INSTANCE_NUMBER, number), (SOP_INSTANCE_UID, i)],
        );
    }
    let patients: [(&str, &str, &str); 3] = [
        ("pat-zulu", "Müller^Hans", "ID-1"),
        ("pat-alpha", "MÜLLER^ANNA", "ID-2"),
        ("pat-mike", "Smith^John", "ID-3"),
    ];
    for (p, name, pid) in patients {
        let id = id_of(&mut *tx, p);
        set_tags(&mut *tx, id, &[(PATIENT_NAME, name), (PATIENT_ID, pid)]);
    }
    let studies: [(&str, &str, &str); 4] = [
        ("study-zulu", "20200101", "Chest CT"),
        ("study-alpha", "20210615", "Brain_MR 100%"),
        ("study-mike", "20220301", "chest x-ray"),
        ("study-bravo", "20190101", "Abdomen [contrast]"),
    ];
    for (s, date, description) in studies {
        let id = id_of(&mut *tx, s);
        set_tags(
            &mut *tx,
            id,
            &[(STUDY_DATE, date), (STUDY_DESCRIPTION, description)],
        );
    }
    let id = id_of(&mut *tx, "study-mike");
    set_tags(&mut *tx, id, &[(ACCESSION_NUMBER, "ACC-3")]);
    for (se, modality) in [
        ("series-zulu", "CT"),
        ("series-alpha", "SR"),
        ("series-mike", "MR"),
        ("series-bravo", "CR"),
        ("series-yankee", "CT"),
    ] {
        let id = id_of(&mut *tx, se);
        set_tags(&mut *tx, id, &[(MODALITY, modality)]);
    }
    if labels {
        for (r, label) in [
            ("study-zulu", "urgent"),
            ("study-zulu", "teaching"),
            ("study-alpha", "teaching"),
            ("study-mike", "urgent"),
            ("pat-alpha", "vip"),
        ] {
            let id = id_of(&mut *tx, r);
            ok(tx.add_label(id, label), "add_label");
        }
    }
    commit(tx);
}

fn query(level: ResourceType, constraints: Vec<TagConstraint>) -> FindQuery {
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

fn constraint(
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

fn eq(v: &str) -> ConstraintKind {
    ConstraintKind::Equal(v.to_owned())
}

fn wild(v: &str) -> ConstraintKind {
    ConstraintKind::Wildcard(v.to_owned())
}

fn list(v: &[&str]) -> ConstraintKind {
    ConstraintKind::List(strings(v))
}

fn range(lower: Option<&str>, upper: Option<&str>) -> ConstraintKind {
    ConstraintKind::Range {
        lower: lower.map(str::to_owned),
        upper: upper.map(str::to_owned),
    }
}

#[track_caller]
fn expect_find(tx: &mut (dyn IndexTransaction + '_), q: &FindQuery, expected: &[&str]) {
    let got = ok(
        tx.lookup_resources(q),
        format_args!("lookup_resources({q:?})"),
    );
    assert_eq!(got, strings(expected), "lookup_resources({q:?})");
}

/// `MetadataQuery`: constraints on the searched resources' own metadata, ANDed with tag
/// constraints and paging; resources without the metadata never match.
pub fn find_metadata(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let user = MetadataType(1024);
    let mut tx = begin(backend, TxMode::ReadWrite);
    for (series, value) in [
        ("series-zulu", "Knee-T2"),
        ("series-alpha", "knee-t1"),
        ("series-mike", "Brain-Flair"),
        ("series-bravo", "Müller-T1"),
    ] {
        let id = id_of(&mut *tx, series);
        ok(tx.set_metadata(id, user, value, 0), "set_metadata");
    }
    // Instance metadata of the same type must not leak into a series query.
    let id = id_of(&mut *tx, "inst-yankee-1");
    ok(tx.set_metadata(id, user, "Knee-T2", 0), "set_metadata");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    let with = |kind: Option<ConstraintKind>, case_sensitive| {
        let mut q = query(Series, vec![]);
        q.metadata = vec![MetadataConstraint {
            metadata: user,
            kind,
            case_sensitive,
        }];
        q
    };
    expect_find(
        &mut *tx,
        &with(Some(eq("knee-t2")), false),
        &["series-zulu"],
    );
    expect_find(&mut *tx, &with(Some(eq("knee-t2")), true), &[]);
    expect_find(&mut *tx, &with(Some(eq("Knee-T2")), true), &["series-zulu"]);
    expect_find(
        &mut *tx,
        &with(Some(wild("*nee*")), false),
        &["series-zulu", "series-alpha"],
    );
    expect_find(
        &mut *tx,
        &with(Some(wild("*nee*")), true),
        &["series-zulu", "series-alpha"],
    );
    expect_find(&mut *tx, &with(Some(wild("K*")), true), &["series-zulu"]);
    expect_find(
        &mut *tx,
        &with(Some(wild("*-T?")), false),
        &["series-zulu", "series-alpha", "series-bravo"],
    );
    expect_find(
        &mut *tx,
        &with(Some(wild("MÜLLER*")), false),
        &["series-bravo"],
    );
    expect_find(
        &mut *tx,
        &with(Some(list(&["brain-flair", "KNEE-T1", "none"])), false),
        &["series-alpha", "series-mike"],
    );
    // Existence only: every series with the metadata, not series-yankee.
    expect_find(
        &mut *tx,
        &with(None, false),
        &["series-zulu", "series-alpha", "series-mike", "series-bravo"],
    );
    // ANDed with a tag constraint, and paged.
    let mut ct = with(Some(wild("*")), false);
    ct.constraints = vec![constraint(Series, MODALITY, eq("CT"), true)];
    expect_find(&mut *tx, &ct, &["series-zulu"]);
    let mut paged = with(None, false);
    paged.since = 1;
    paged.limit = Some(2);
    expect_find(&mut *tx, &paged, &["series-alpha", "series-mike"]);
    // A metadata type nobody has.
    let mut none = with(None, false);
    none.metadata[0].metadata = MetadataType(1025);
    expect_find(&mut *tx, &none, &[]);
}

/// Equal matching, case-sensitive and not, including non-ASCII ("Müller" vs "MÜLLER").
pub fn find_equal_and_case(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let name = |kind, cs| query(Patient, vec![constraint(Patient, PATIENT_NAME, kind, cs)]);
    expect_find(&mut *tx, &name(eq("Müller^Hans"), true), &["pat-zulu"]);
    expect_find(&mut *tx, &name(eq("MÜLLER^HANS"), true), &[]);
    expect_find(&mut *tx, &name(eq("müller^hans"), true), &[]);
    expect_find(&mut *tx, &name(eq("MÜLLER^HANS"), false), &["pat-zulu"]);
    expect_find(&mut *tx, &name(eq("müller^anna"), false), &["pat-alpha"]);
    expect_find(&mut *tx, &name(eq("MÜLLER^ANNA"), true), &["pat-alpha"]);
    expect_find(&mut *tx, &name(eq("smith^john"), false), &["pat-mike"]);
    expect_find(&mut *tx, &name(eq("Smith"), false), &[]);
    let pid = |v: &str| query(Patient, vec![constraint(Patient, PATIENT_ID, eq(v), true)]);
    expect_find(&mut *tx, &pid("ID-2"), &["pat-alpha"]);
    expect_find(&mut *tx, &pid("ID-"), &[]);
    // A tag present on one study only.
    let acc = |v: &str, cs| query(Study, vec![constraint(Study, ACCESSION_NUMBER, eq(v), cs)]);
    expect_find(&mut *tx, &acc("ACC-3", true), &["study-mike"]);
    expect_find(&mut *tx, &acc("acc-3", false), &["study-mike"]);
    expect_find(&mut *tx, &acc("acc-3", true), &[]);
    // Two constraints at the same level are ANDed.
    expect_find(
        &mut *tx,
        &query(
            Patient,
            vec![
                constraint(Patient, PATIENT_NAME, eq("müller^hans"), false),
                constraint(Patient, PATIENT_ID, eq("ID-2"), true),
            ],
        ),
        &[],
    );
    expect_find(
        &mut *tx,
        &query(
            Patient,
            vec![
                constraint(Patient, PATIENT_NAME, eq("müller^anna"), false),
                constraint(Patient, PATIENT_ID, eq("ID-2"), true),
            ],
        ),
        &["pat-alpha"],
    );
    commit(tx);
}

/// Wildcards `*` (any run) and `?` (exactly one character, non-ASCII included); other
/// characters, SQL's `%`, `_` and glob's `[`, match literally.
pub fn find_wildcard(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let name = |p: &str, cs| {
        query(
            Patient,
            vec![constraint(Patient, PATIENT_NAME, wild(p), cs)],
        )
    };
    expect_find(
        &mut *tx,
        &name("müller*", false),
        &["pat-zulu", "pat-alpha"],
    );
    expect_find(
        &mut *tx,
        &name("MÜLLER*", false),
        &["pat-zulu", "pat-alpha"],
    );
    expect_find(&mut *tx, &name("Müller*", true), &["pat-zulu"]);
    expect_find(&mut *tx, &name("M?LLER*", true), &["pat-alpha"]);
    expect_find(
        &mut *tx,
        &name("m?ller^*", false),
        &["pat-zulu", "pat-alpha"],
    );
    expect_find(&mut *tx, &name("*^J*", true), &["pat-mike"]);
    expect_find(
        &mut *tx,
        &name("*", true),
        &["pat-zulu", "pat-alpha", "pat-mike"],
    );
    expect_find(&mut *tx, &name("Smith^Joh?", true), &["pat-mike"]);
    expect_find(&mut *tx, &name("Smith^Jo?", true), &[]);
    expect_find(&mut *tx, &name("?mith^John", true), &["pat-mike"]);
    expect_find(&mut *tx, &name("smith^john", false), &["pat-mike"]);
    expect_find(&mut *tx, &name("smith^john", true), &[]);
    expect_find(&mut *tx, &name("*ANN", false), &[]);
    let desc = |p: &str, cs| {
        query(
            Study,
            vec![constraint(Study, STUDY_DESCRIPTION, wild(p), cs)],
        )
    };
    expect_find(
        &mut *tx,
        &desc("*CHEST*", false),
        &["study-zulu", "study-mike"],
    );
    expect_find(&mut *tx, &desc("*chest*", true), &["study-mike"]);
    expect_find(&mut *tx, &desc("*_*", true), &["study-alpha"]);
    expect_find(&mut *tx, &desc("*%", true), &["study-alpha"]);
    expect_find(&mut *tx, &desc("Brain?MR*", true), &["study-alpha"]);
    expect_find(&mut *tx, &desc("*[contrast]", true), &["study-bravo"]);
    expect_find(&mut *tx, &desc("*[CONTRAST]", false), &["study-bravo"]);
    expect_find(&mut *tx, &desc("*[c]*", true), &[]);
    expect_find(
        &mut *tx,
        &desc("Abdomen [contrast]", true),
        &["study-bravo"],
    );
    expect_find(
        &mut *tx,
        &desc("Abdomen [?ontrast]", true),
        &["study-bravo"],
    );
    expect_find(&mut *tx, &desc("%", true), &[]);
    commit(tx);
}

/// Inclusive ranges, open on either side.
pub fn find_range(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let date = |l, u| {
        query(
            Study,
            vec![constraint(Study, STUDY_DATE, range(l, u), false)],
        )
    };
    expect_find(
        &mut *tx,
        &date(Some("20200101"), Some("20210615")),
        &["study-zulu", "study-alpha"],
    );
    expect_find(&mut *tx, &date(Some("20200102"), Some("20210614")), &[]);
    expect_find(
        &mut *tx,
        &date(Some("20210615"), None),
        &["study-alpha", "study-mike"],
    );
    expect_find(
        &mut *tx,
        &date(None, Some("20200101")),
        &["study-zulu", "study-bravo"],
    );
    expect_find(
        &mut *tx,
        &date(None, None),
        &["study-zulu", "study-alpha", "study-mike", "study-bravo"],
    );
    expect_find(&mut *tx, &date(Some("20220302"), None), &[]);
    expect_find(&mut *tx, &date(Some("20220101"), Some("20200101")), &[]);
    expect_find(
        &mut *tx,
        &date(Some("20220301"), Some("20220301")),
        &["study-mike"],
    );
    commit(tx);
}

/// Case-sensitive matches on values whose upper case differs in length or in order from the
/// value itself: `ß` (upper case `SS`) under `?`, and range bounds with letters, which sort
/// lower-case after upper-case.
pub fn find_case_sensitive_edges(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    for (study, description) in [
        ("edge-1", "Straße"),
        ("edge-2", "abc"),
        ("edge-3", "ABD"),
        ("edge-4", "b"),
        ("edge-5", "Ba"),
    ] {
        let c = add(
            &mut *tx,
            "edge-p",
            study,
            &format!("{study}-se"),
            &format!("{study}-i"),
        );
        set_tags(&mut *tx, c.study_id, &[(STUDY_DESCRIPTION, description)]);
    }
    commit(tx);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let desc = |kind, cs| query(Study, vec![constraint(Study, STUDY_DESCRIPTION, kind, cs)]);
    expect_find(&mut *tx, &desc(wild("Stra?e"), true), &["edge-1"]);
    expect_find(&mut *tx, &desc(wild("stra?e"), true), &[]);
    expect_find(&mut *tx, &desc(wild("STRA??E"), false), &["edge-1"]);
    expect_find(&mut *tx, &desc(eq("Straße"), true), &["edge-1"]);
    expect_find(&mut *tx, &desc(eq("STRASSE"), true), &[]);
    expect_find(&mut *tx, &desc(list(&["abc", "Abd"]), true), &["edge-2"]);
    // Byte order: "ABD" < "Ba" < "Straße" < "ab" < "abc" < "b".
    expect_find(
        &mut *tx,
        &desc(range(Some("ab"), Some("b")), true),
        &["edge-2", "edge-4"],
    );
    expect_find(
        &mut *tx,
        &desc(range(Some("B"), Some("ab")), true),
        &["edge-1", "edge-5"],
    );
    expect_find(
        &mut *tx,
        &desc(range(None, Some("Ba")), true),
        &["edge-3", "edge-5"],
    );
    commit(tx);
}

/// List matching (any of the values), case-sensitive and not.
pub fn find_list(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let modality = |v: &[&str], cs| query(Series, vec![constraint(Series, MODALITY, list(v), cs)]);
    expect_find(
        &mut *tx,
        &modality(&["CT", "MR"], true),
        &["series-zulu", "series-mike", "series-yankee"],
    );
    expect_find(
        &mut *tx,
        &modality(&["ct", "cr"], false),
        &["series-zulu", "series-bravo", "series-yankee"],
    );
    expect_find(&mut *tx, &modality(&["ct"], true), &[]);
    expect_find(&mut *tx, &modality(&["SR"], true), &["series-alpha"]);
    expect_find(&mut *tx, &modality(&["US", "XA"], true), &[]);
    let name = |v: &[&str]| {
        query(
            Patient,
            vec![constraint(Patient, PATIENT_NAME, list(v), false)],
        )
    };
    expect_find(
        &mut *tx,
        &name(&["smith^john", "müller^hans"]),
        &["pat-zulu", "pat-mike"],
    );
    commit(tx);
}

/// Constraints on ancestor levels (e.g. PatientName in a series or instance query).
pub fn find_ancestor_constraints(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    expect_find(
        &mut *tx,
        &query(
            Series,
            vec![constraint(Patient, PATIENT_NAME, wild("müller*"), false)],
        ),
        &["series-zulu", "series-alpha", "series-mike", "series-bravo"],
    );
    expect_find(
        &mut *tx,
        &query(
            Study,
            vec![constraint(Patient, PATIENT_ID, eq("ID-1"), true)],
        ),
        &["study-zulu", "study-alpha"],
    );
    expect_find(
        &mut *tx,
        &query(
            Instance,
            vec![constraint(Study, STUDY_DATE, eq("20210615"), true)],
        ),
        &["inst-mike-1", "inst-mike-2"],
    );
    expect_find(
        &mut *tx,
        &query(
            Instance,
            vec![constraint(Patient, PATIENT_ID, eq("ID-3"), true)],
        ),
        &["inst-yankee-1"],
    );
    expect_find(
        &mut *tx,
        &query(
            Series,
            vec![constraint(
                Study,
                STUDY_DATE,
                range(None, Some("20200101")),
                false,
            )],
        ),
        &["series-zulu", "series-alpha", "series-yankee"],
    );
    expect_find(
        &mut *tx,
        &query(
            Instance,
            vec![
                constraint(Instance, INSTANCE_NUMBER, eq("1"), true),
                constraint(Patient, PATIENT_ID, eq("ID-1"), true),
            ],
        ),
        &["inst-zulu-1", "inst-alpha-1", "inst-mike-1"],
    );
    expect_find(
        &mut *tx,
        &query(
            Instance,
            vec![
                constraint(Series, MODALITY, eq("CT"), true),
                constraint(Study, STUDY_DATE, range(Some("20200101"), None), true),
                constraint(Patient, PATIENT_NAME, wild("*hans"), false),
            ],
        ),
        &["inst-zulu-1"],
    );
    commit(tx);
}

/// Constraints on descendant levels (ModalitiesInStudy): a resource matches when any
/// descendant does, and appears once however many descendants match.
pub fn find_descendant_constraints(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let modality = |level, kind| query(level, vec![constraint(Series, MODALITY, kind, true)]);
    expect_find(
        &mut *tx,
        &modality(Study, eq("CT")),
        &["study-zulu", "study-bravo"],
    );
    expect_find(&mut *tx, &modality(Study, eq("SR")), &["study-zulu"]);
    expect_find(
        &mut *tx,
        &modality(Study, list(&["CT", "SR"])),
        &["study-zulu", "study-bravo"],
    );
    expect_find(
        &mut *tx,
        &modality(Study, list(&["MR", "CR"])),
        &["study-alpha", "study-mike"],
    );
    expect_find(&mut *tx, &modality(Patient, eq("MR")), &["pat-zulu"]);
    expect_find(
        &mut *tx,
        &modality(Patient, list(&["CT", "SR", "MR"])),
        &["pat-zulu", "pat-mike"],
    );
    let number = |level, v: &str| {
        query(
            level,
            vec![constraint(Instance, INSTANCE_NUMBER, eq(v), true)],
        )
    };
    expect_find(&mut *tx, &number(Patient, "7"), &["pat-alpha"]);
    expect_find(&mut *tx, &number(Study, "2"), &["study-alpha"]);
    expect_find(
        &mut *tx,
        &number(Series, "1"),
        &[
            "series-zulu",
            "series-alpha",
            "series-mike",
            "series-yankee",
        ],
    );
    expect_find(
        &mut *tx,
        &query(
            Study,
            vec![
                constraint(Series, MODALITY, eq("CT"), true),
                constraint(Study, STUDY_DATE, range(Some("20200101"), None), true),
            ],
        ),
        &["study-zulu"],
    );
    expect_find(
        &mut *tx,
        &query(
            Patient,
            vec![
                constraint(Series, MODALITY, list(&["ct"]), false),
                constraint(Patient, PATIENT_NAME, wild("smith*"), false),
            ],
        ),
        &["pat-mike"],
    );
    // Two descendant constraints may be satisfied by different descendants.
    expect_find(
        &mut *tx,
        &query(
            Study,
            vec![
                constraint(Series, MODALITY, eq("CT"), true),
                constraint(Series, MODALITY, eq("SR"), true),
            ],
        ),
        &["study-zulu"],
    );
    commit(tx);
}

/// Labels All / Any / None, alone and combined with tag constraints.
pub fn find_labels(backend: &dyn IndexBackend) {
    if !supports_labels(backend) {
        return;
    }
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let with = |level, labels: &[&str], how| FindQuery {
        labels: strings(labels),
        labels_constraint: how,
        metadata: Vec::new(),
        ..query(level, vec![])
    };
    use LabelsConstraint::{All, Any, None as NoneOf};
    expect_find(
        &mut *tx,
        &with(Study, &["urgent", "teaching"], All),
        &["study-zulu"],
    );
    expect_find(
        &mut *tx,
        &with(Study, &["teaching"], All),
        &["study-zulu", "study-alpha"],
    );
    expect_find(&mut *tx, &with(Study, &["urgent", "missing"], All), &[]);
    expect_find(
        &mut *tx,
        &with(Study, &["urgent", "teaching"], Any),
        &["study-zulu", "study-alpha", "study-mike"],
    );
    expect_find(&mut *tx, &with(Study, &["missing"], Any), &[]);
    expect_find(
        &mut *tx,
        &with(Study, &["urgent"], NoneOf),
        &["study-alpha", "study-bravo"],
    );
    expect_find(
        &mut *tx,
        &with(Study, &["urgent", "teaching"], NoneOf),
        &["study-bravo"],
    );
    expect_find(
        &mut *tx,
        &with(Study, &["missing"], NoneOf),
        &["study-zulu", "study-alpha", "study-mike", "study-bravo"],
    );
    // The labels of a query are a set (Orthanc parses them into one): duplicates are harmless.
    expect_find(
        &mut *tx,
        &with(Study, &["teaching", "teaching"], All),
        &["study-zulu", "study-alpha"],
    );
    expect_find(
        &mut *tx,
        &with(Study, &["urgent", "teaching", "urgent"], All),
        &["study-zulu"],
    );
    let all_studies = ["study-zulu", "study-alpha", "study-mike", "study-bravo"];
    for how in [All, Any, NoneOf] {
        expect_find(&mut *tx, &with(Study, &[], how), &all_studies);
    }
    // Labels apply at the query level only.
    expect_find(&mut *tx, &with(Patient, &["vip"], All), &["pat-alpha"]);
    expect_find(&mut *tx, &with(Patient, &["urgent"], Any), &[]);
    expect_find(
        &mut *tx,
        &with(Series, &["urgent"], NoneOf),
        &[
            "series-zulu",
            "series-alpha",
            "series-mike",
            "series-bravo",
            "series-yankee",
        ],
    );
    // Combined with constraints.
    let mut q = with(Study, &["urgent"], Any);
    q.constraints
        .push(constraint(Series, MODALITY, eq("CT"), true));
    expect_find(&mut *tx, &q, &["study-zulu"]);
    let mut q = with(Study, &["teaching"], NoneOf);
    q.constraints
        .push(constraint(Study, STUDY_DESCRIPTION, wild("*chest*"), false));
    expect_find(&mut *tx, &q, &["study-mike"]);
    commit(tx);
}

/// `since` skips matches and `limit` caps them, after filtering, in index order.
pub fn find_since_limit(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let page = |since, limit| FindQuery {
        since,
        limit,
        ..query(Study, vec![])
    };
    expect_find(
        &mut *tx,
        &page(0, None),
        &["study-zulu", "study-alpha", "study-mike", "study-bravo"],
    );
    expect_find(&mut *tx, &page(0, Some(2)), &["study-zulu", "study-alpha"]);
    expect_find(&mut *tx, &page(1, Some(2)), &["study-alpha", "study-mike"]);
    expect_find(&mut *tx, &page(2, None), &["study-mike", "study-bravo"]);
    expect_find(&mut *tx, &page(3, Some(5)), &["study-bravo"]);
    expect_find(&mut *tx, &page(4, None), &[]);
    expect_find(&mut *tx, &page(0, Some(0)), &[]);
    let filtered = |since, limit| FindQuery {
        since,
        limit,
        ..query(
            Series,
            vec![constraint(
                Series,
                MODALITY,
                list(&["CT", "MR", "CR"]),
                true,
            )],
        )
    };
    expect_find(
        &mut *tx,
        &filtered(0, None),
        &[
            "series-zulu",
            "series-mike",
            "series-bravo",
            "series-yankee",
        ],
    );
    expect_find(
        &mut *tx,
        &filtered(1, Some(2)),
        &["series-mike", "series-bravo"],
    );
    expect_find(&mut *tx, &filtered(3, Some(2)), &["series-yankee"]);
    let descendant = |since, limit| FindQuery {
        since,
        limit,
        ..query(
            Patient,
            vec![constraint(Instance, INSTANCE_NUMBER, eq("1"), true)],
        )
    };
    expect_find(&mut *tx, &descendant(0, Some(1)), &["pat-zulu"]);
    expect_find(&mut *tx, &descendant(1, Some(1)), &["pat-mike"]);
    commit(tx);
}

/// `lookup_identifier`: exact, case-sensitive match at one level, no wildcards, index order.
pub fn lookup_identifier_exact(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let a = add(&mut *tx, "p1", "s1", "se1", "i1");
    let b = add(&mut *tx, "p2", "s2", "se2", "i2");
    let c = add(&mut *tx, "p3", "s3", "se3", "i3");
    set_tags(&mut *tx, a.patient_id, &[(PATIENT_ID, "ABC")]);
    set_tags(&mut *tx, b.patient_id, &[(PATIENT_ID, "abc")]);
    set_tags(&mut *tx, c.patient_id, &[(PATIENT_ID, "ABC")]);
    set_tags(&mut *tx, a.study_id, &[(ACCESSION_NUMBER, "ACC")]);
    set_tags(&mut *tx, b.series_id, &[(ACCESSION_NUMBER, "ACC")]);
    set_tags(&mut *tx, c.instance_id, &[(SOP_INSTANCE_UID, "1.2.840.1")]);
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    let mut lookup = |level, tag: (u16, u16), v: &str| {
        ok(
            tx.lookup_identifier(level, tag.0, tag.1, v),
            format_args!("lookup_identifier({level}, {v})"),
        )
    };
    assert_eq!(lookup(Patient, PATIENT_ID, "ABC"), strings(&["p1", "p3"]));
    assert_eq!(
        lookup(Patient, PATIENT_ID, "abc"),
        strings(&["p2"]),
        "lookup_identifier is case-sensitive"
    );
    assert_eq!(lookup(Patient, PATIENT_ID, "AB"), Vec::<String>::new());
    assert_eq!(
        lookup(Patient, PATIENT_ID, "AB*"),
        Vec::<String>::new(),
        "no wildcard in lookup_identifier"
    );
    assert_eq!(
        lookup(Study, ACCESSION_NUMBER, "ACC"),
        strings(&["s1"]),
        "only the requested level"
    );
    assert_eq!(lookup(Series, ACCESSION_NUMBER, "ACC"), strings(&["se2"]));
    assert_eq!(lookup(Study, PATIENT_ID, "ABC"), Vec::<String>::new());
    assert_eq!(
        lookup(Instance, SOP_INSTANCE_UID, "1.2.840.1"),
        strings(&["i3"])
    );
    commit(tx);
}

// ---------------------------------------------------------------------------------------------
// metadata and attachments
// ---------------------------------------------------------------------------------------------

/// Metadata values with revisions: set, overwrite with a new revision, list, delete.
pub fn metadata_revisions(backend: &dyn IndexBackend) {
    let revisions = backend.info().supports_revisions;
    let r = |rev: i64| if revisions { rev } else { 0 };
    let user = MetadataType(MetadataType::START_USER + 1);
    let mut tx = begin(backend, TxMode::ReadWrite);
    let c = add(&mut *tx, "p", "s", "se", "i");
    ok(
        tx.set_metadata(c.instance_id, MetadataType::REMOTE_AET, "AET1", 0),
        "set_metadata",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let lookup = |tx: &mut Tx<'_>, kind| {
        ok(tx.lookup_metadata(c.instance_id, kind), "lookup_metadata").map(|(v, rev)| (v, r(rev)))
    };
    assert_eq!(
        lookup(&mut tx, MetadataType::REMOTE_AET),
        Some(("AET1".to_owned(), 0))
    );
    ok(
        tx.set_metadata(c.instance_id, MetadataType::REMOTE_AET, "AET2", r(1)),
        "set_metadata",
    );
    ok(
        tx.set_metadata(c.instance_id, user, "Ünïcødé ✓", r(7)),
        "set_metadata",
    );
    ok(
        tx.set_metadata(c.series_id, MetadataType::REMOTE_AET, "SERIES", 0),
        "set_metadata",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    assert_eq!(
        lookup(&mut tx, MetadataType::REMOTE_AET),
        Some(("AET2".to_owned(), r(1))),
        "metadata overwritten with a new revision"
    );
    assert_eq!(lookup(&mut tx, user), Some(("Ünïcødé ✓".to_owned(), r(7))));
    assert_eq!(lookup(&mut tx, MetadataType::ORIGIN), None);
    let all: Vec<_> = ok(tx.get_all_metadata(c.instance_id), "get_all_metadata")
        .into_iter()
        .map(|(k, v, rev)| (k, v, r(rev)))
        .collect();
    assert_eq!(
        sorted(all),
        vec![
            (MetadataType::REMOTE_AET, "AET2".to_owned(), r(1)),
            (user, "Ünïcødé ✓".to_owned(), r(7)),
        ]
    );
    assert_eq!(
        ok(tx.get_all_metadata(c.series_id), "get_all_metadata"),
        vec![(MetadataType::REMOTE_AET, "SERIES".to_owned(), 0)],
        "metadata is per resource"
    );
    assert!(ok(tx.get_all_metadata(c.patient_id), "get_all_metadata").is_empty());

    ok(
        tx.delete_metadata(c.instance_id, MetadataType::REMOTE_AET),
        "delete_metadata",
    );
    ok(
        tx.delete_metadata(c.instance_id, MetadataType::REMOTE_AET),
        "delete_metadata (already deleted)",
    );
    ok(
        tx.delete_metadata(c.instance_id, MetadataType::ORIGIN),
        "delete_metadata (never set)",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        lookup(&mut tx, MetadataType::REMOTE_AET),
        None,
        "deleted metadata"
    );
    assert_eq!(
        ok(tx.get_all_metadata(c.instance_id), "get_all_metadata").len(),
        1
    );
    assert_eq!(
        ok(
            tx.lookup_metadata(c.series_id, MetadataType::REMOTE_AET),
            "lookup_metadata"
        ),
        Some(("SERIES".to_owned(), 0)),
        "deleting an instance's metadata must not touch its series'"
    );
    commit(tx);
}

/// `get_children_metadata` returns the value of every child that has it.
pub fn children_metadata(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let mut ids = Vec::new();
    for i in ["i1", "i2", "i3", "i4"] {
        ids.push(add(&mut *tx, "p", "s", "se", i));
    }
    let other = add(&mut *tx, "p", "s", "se-other", "i-other");
    for (c, v) in [(&ids[0], "2"), (&ids[1], "10"), (&ids[3], "1")] {
        ok(
            tx.set_metadata(c.instance_id, MetadataType::INDEX_IN_SERIES, v, 0),
            "set_metadata",
        );
    }
    ok(
        tx.set_metadata(ids[0].instance_id, MetadataType::REMOTE_AET, "AET", 0),
        "set_metadata",
    );
    ok(
        tx.set_metadata(other.instance_id, MetadataType::INDEX_IN_SERIES, "99", 0),
        "set_metadata",
    );
    ok(
        tx.set_metadata(other.series_id, MetadataType::LAST_UPDATE, "x", 0),
        "set_metadata",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    let series = ids[0].series_id;
    assert_eq!(
        sorted(ok(
            tx.get_children_metadata(series, MetadataType::INDEX_IN_SERIES),
            "get_children_metadata"
        )),
        strings(&["1", "10", "2"])
    );
    assert_eq!(
        ok(
            tx.get_children_metadata(series, MetadataType::REMOTE_AET),
            "get_children_metadata"
        ),
        strings(&["AET"])
    );
    assert!(ok(
        tx.get_children_metadata(series, MetadataType::ORIGIN),
        "get_children_metadata"
    )
    .is_empty());
    assert_eq!(
        ok(
            tx.get_children_metadata(ids[0].study_id, MetadataType::LAST_UPDATE),
            "get_children_metadata"
        ),
        strings(&["x"])
    );
    assert!(ok(
        tx.get_children_metadata(ids[0].instance_id, MetadataType::INDEX_IN_SERIES),
        "get_children_metadata"
    )
    .is_empty());
    commit(tx);
}

/// Attachments round-trip every field (64-bit sizes included) and their revision.
pub fn attachment_revisions(backend: &dyn IndexBackend) {
    let revisions = backend.info().supports_revisions;
    let r = |rev: i64| if revisions { rev } else { 0 };
    let dicom = file(
        "a1b2c3d4-0000-4000-8000-000000000001",
        FileContentType::DICOM,
        1_234_567,
        5_000_000_000,
    );
    let user = file("a1b2c3d4-0000-4000-8000-000000000002", user_type(1), 42, 42);
    let mut tx = begin(backend, TxMode::ReadWrite);
    let c = add(&mut *tx, "p", "s", "se", "i");
    let c2 = add(&mut *tx, "p", "s", "se", "i2");
    ok(
        tx.add_attachment(c.instance_id, &dicom, 0),
        "add_attachment",
    );
    ok(
        tx.add_attachment(c.instance_id, &user, r(3)),
        "add_attachment",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let lookup = |tx: &mut Tx<'_>, id, ct| {
        ok(tx.lookup_attachment(id, ct), "lookup_attachment").map(|(f, rev)| (f, r(rev)))
    };
    assert_eq!(
        lookup(&mut tx, c.instance_id, FileContentType::DICOM),
        Some((dicom.clone(), 0))
    );
    assert_eq!(
        lookup(&mut tx, c.instance_id, user.content_type),
        Some((user.clone(), r(3)))
    );
    assert_eq!(
        lookup(&mut tx, c.instance_id, FileContentType::DICOM_AS_JSON),
        None
    );
    assert_eq!(
        lookup(&mut tx, c2.instance_id, FileContentType::DICOM),
        None,
        "attachments are per resource"
    );
    assert_eq!(
        sorted(ok(
            tx.list_available_attachments(c.instance_id),
            "list_available_attachments"
        )),
        vec![FileContentType::DICOM, user.content_type]
    );
    assert!(ok(
        tx.list_available_attachments(c2.instance_id),
        "list_available_attachments"
    )
    .is_empty());

    assert_eq!(
        ok(
            tx.delete_attachment(c.instance_id, FileContentType::DICOM),
            "delete_attachment"
        ),
        Some(dicom.clone()),
        "delete_attachment returns the removed file"
    );
    assert_eq!(
        ok(
            tx.delete_attachment(c.instance_id, FileContentType::DICOM),
            "delete_attachment"
        ),
        None,
        "deleting a missing attachment"
    );
    assert_eq!(
        ok(
            tx.delete_attachment(c2.instance_id, user.content_type),
            "delete_attachment"
        ),
        None
    );
    // Replace: delete then add with the next revision, as the server does.
    let user2 = FileInfo {
        uuid: "a1b2c3d4-0000-4000-8000-000000000003".into(),
        ..user.clone()
    };
    assert_eq!(
        ok(
            tx.delete_attachment(c.instance_id, user.content_type),
            "delete_attachment"
        ),
        Some(user.clone())
    );
    ok(
        tx.add_attachment(c.instance_id, &user2, r(4)),
        "add_attachment",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(lookup(&mut tx, c.instance_id, FileContentType::DICOM), None);
    assert_eq!(
        lookup(&mut tx, c.instance_id, user.content_type),
        Some((user2, r(4)))
    );
    assert_eq!(
        ok(
            tx.list_available_attachments(c.instance_id),
            "list_available_attachments"
        ),
        vec![user.content_type]
    );
    commit(tx);
}

/// Total sizes, `is_disk_size_above` and per-subtree sizes (DICOM files counted apart).
pub fn sizes_total_and_per_resource(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let a = add(&mut *tx, "p1", "s1", "se1", "i1");
    let b = add(&mut *tx, "p1", "s1", "se1", "i2");
    let c = add(&mut *tx, "p2", "s2", "se2", "i3");
    ok(
        tx.add_attachment(
            a.instance_id,
            &file("0001", FileContentType::DICOM, 100, 300),
            0,
        ),
        "add_attachment",
    );
    ok(
        tx.add_attachment(a.instance_id, &file("0002", user_type(1), 10, 10), 0),
        "add_attachment",
    );
    ok(
        tx.add_attachment(
            b.instance_id,
            &file("0003", FileContentType::DICOM, 50, 50),
            0,
        ),
        "add_attachment",
    );
    ok(
        tx.add_attachment(
            c.instance_id,
            &file("0004", FileContentType::DICOM, 1000, 2000),
            0,
        ),
        "add_attachment",
    );
    ok(
        tx.add_attachment(a.study_id, &file("0005", user_type(2), 7, 7), 0),
        "add_attachment",
    );
    commit(tx);

    let size = |d, u, dd, du| ResourceSize {
        disk_size: d,
        uncompressed_size: u,
        dicom_disk_size: dd,
        dicom_uncompressed_size: du,
    };
    let mut tx = begin(backend, TxMode::ReadWrite);
    assert_eq!(
        ok(tx.get_total_compressed_size(), "get_total_compressed_size"),
        1167
    );
    assert_eq!(
        ok(
            tx.get_total_uncompressed_size(),
            "get_total_uncompressed_size"
        ),
        2367
    );
    assert!(ok(tx.is_disk_size_above(1166), "is_disk_size_above"));
    assert!(
        !ok(tx.is_disk_size_above(1167), "is_disk_size_above"),
        "is_disk_size_above is strict"
    );
    for (id, expected, what) in [
        (a.instance_id, size(110, 310, 100, 300), "instance i1"),
        (b.instance_id, size(50, 50, 50, 50), "instance i2"),
        (a.series_id, size(160, 360, 150, 350), "series se1"),
        (
            a.study_id,
            size(167, 367, 150, 350),
            "study s1 (with its own attachment)",
        ),
        (a.patient_id, size(167, 367, 150, 350), "patient p1"),
        (c.patient_id, size(1000, 2000, 1000, 2000), "patient p2"),
    ] {
        assert_eq!(
            ok(tx.get_resource_size(id), "get_resource_size"),
            expected,
            "size of {what}"
        );
    }
    ok(
        tx.delete_attachment(a.instance_id, user_type(1)),
        "delete_attachment",
    );
    assert_eq!(
        ok(tx.get_total_compressed_size(), "get_total_compressed_size"),
        1157
    );
    assert_eq!(
        ok(
            tx.get_total_uncompressed_size(),
            "get_total_uncompressed_size"
        ),
        2357
    );
    ok(tx.delete_resource(c.instance_id), "delete_resource");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        ok(tx.get_total_compressed_size(), "get_total_compressed_size"),
        157
    );
    assert_eq!(
        ok(
            tx.get_total_uncompressed_size(),
            "get_total_uncompressed_size"
        ),
        357
    );
    assert_eq!(
        ok(tx.get_resource_size(a.patient_id), "get_resource_size"),
        size(157, 357, 150, 350)
    );
    commit(tx);
}

// ---------------------------------------------------------------------------------------------
// change and export logs
// ---------------------------------------------------------------------------------------------

/// Changes get increasing seqs and page with `since` / `limit` and the `done` flag.
pub fn change_log_paging(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    add(&mut *tx, "p", "s", "se", "i");
    let logged = [
        change(ChangeType::NewPatient, Patient, "p"),
        change(ChangeType::NewStudy, Study, "s"),
        change(ChangeType::NewSeries, Series, "se"),
        change(ChangeType::NewInstance, Instance, "i"),
        NewChange {
            date: "20250607T080910".into(),
            ..change(ChangeType::StablePatient, Patient, "p")
        },
    ];
    let mut seqs = Vec::new();
    for c in &logged {
        seqs.push(ok(tx.log_change(c), "log_change"));
    }
    commit(tx);
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "change seqs must increase: {seqs:?}"
    );
    assert!(
        seqs[0] > 0,
        "change seqs start above 0 (0 means 'from the start'): {seqs:?}"
    );

    let mut tx = begin(backend, TxMode::ReadOnly);
    let (all, done) = ok(tx.get_changes(0, 100), "get_changes");
    assert!(done, "done flag with every change returned");
    assert_eq!(all.len(), 5);
    for ((got, want), seq) in all.iter().zip(&logged).zip(&seqs) {
        assert_eq!(
            (
                got.seq,
                got.change_type,
                got.resource_type,
                got.public_id.as_str(),
                got.date.as_str()
            ),
            (
                *seq,
                want.change_type,
                want.resource_type,
                want.public_id.as_str(),
                want.date.as_str()
            )
        );
    }
    let mut page = |since, limit| {
        let (changes, done) = ok(
            tx.get_changes(since, limit),
            format_args!("get_changes({since}, {limit})"),
        );
        (changes.iter().map(|c| c.seq).collect::<Vec<_>>(), done)
    };
    assert_eq!(page(0, 2), (seqs[0..2].to_vec(), false));
    assert_eq!(page(seqs[1], 2), (seqs[2..4].to_vec(), false));
    assert_eq!(page(seqs[3], 2), (seqs[4..].to_vec(), true));
    assert_eq!(
        page(0, 5),
        (seqs.clone(), true),
        "exactly `limit` changes left: done"
    );
    assert_eq!(page(0, 4), (seqs[..4].to_vec(), false));
    assert_eq!(page(seqs[4], 10), (vec![], true));
    assert_eq!(page(seqs[0] - 1, 1), (vec![seqs[0]], false));
    let last = ok(tx.get_last_change(), "get_last_change").expect("get_last_change returned None");
    assert_eq!(&last, all.last().unwrap());
    assert_eq!(
        ok(tx.get_last_change_index(), "get_last_change_index"),
        seqs[4]
    );
    commit(tx);
}

/// Clearing the change log empties it but keeps the sequence going.
pub fn change_log_clear_keeps_index(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    add(&mut *tx, "p", "s", "se", "i");
    let mut last = 0;
    for _ in 0..3 {
        last = ok(
            tx.log_change(&change(ChangeType::NewInstance, Instance, "i")),
            "log_change",
        );
    }
    commit(tx);
    let mut tx = begin(backend, TxMode::ReadWrite);
    ok(tx.clear_changes(), "clear_changes");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    assert_eq!(
        ok(tx.get_changes(0, 10), "get_changes"),
        (vec![], true),
        "log emptied by clear_changes"
    );
    assert_eq!(ok(tx.get_last_change(), "get_last_change"), None);
    assert_eq!(
        ok(tx.get_last_change_index(), "get_last_change_index"),
        last,
        "the last change index survives clear_changes"
    );
    let next = ok(
        tx.log_change(&change(ChangeType::StableStudy, Study, "s")),
        "log_change",
    );
    assert!(
        next > last,
        "seq reused after clear_changes: {next} <= {last}"
    );
    commit(tx);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let (changes, done) = ok(tx.get_changes(0, 10), "get_changes");
    assert!(done);
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.seq, c.change_type))
            .collect::<Vec<_>>(),
        vec![(next, ChangeType::StableStudy)]
    );
    assert_eq!(
        ok(tx.get_last_change_index(), "get_last_change_index"),
        next
    );
    commit(tx);
}

/// The export log: increasing seqs, all fields, paging with the `done` flag, clearing.
pub fn export_log(backend: &dyn IndexBackend) {
    let export = |n: usize, level, public_id: &str| ExportedResource {
        seq: 0,
        resource_type: level,
        public_id: public_id.to_owned(),
        remote_modality: format!("MODALITY{n}"),
        date: format!("2024010{n}T000000"),
        patient_id: format!("PID{n}"),
        study_instance_uid: format!("1.2.{n}"),
        series_instance_uid: if level >= Series {
            format!("1.2.{n}.3")
        } else {
            String::new()
        },
        sop_instance_uid: if level == Instance {
            format!("1.2.{n}.3.4")
        } else {
            String::new()
        },
    };
    let logged = [
        export(1, Study, "s"),
        export(2, Instance, "i"),
        export(3, Series, "gone"),
    ];
    let mut tx = begin(backend, TxMode::ReadWrite);
    for e in &logged {
        ok(tx.log_exported_resource(e), "log_exported_resource");
    }
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let (all, done) = ok(tx.get_exported_resources(0, 10), "get_exported_resources");
    assert!(done);
    let seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
    assert!(
        seqs.len() == 3 && seqs[0] > 0 && seqs.windows(2).all(|w| w[0] < w[1]),
        "export seqs must increase from above 0: {seqs:?}"
    );
    for (got, want) in all.iter().zip(&logged) {
        assert_eq!(
            got,
            &ExportedResource {
                seq: got.seq,
                ..want.clone()
            },
            "export log round-trip"
        );
    }
    let mut page = |since, limit| {
        let (e, done) = ok(
            tx.get_exported_resources(since, limit),
            "get_exported_resources",
        );
        (e.iter().map(|e| e.seq).collect::<Vec<_>>(), done)
    };
    assert_eq!(page(0, 2), (seqs[..2].to_vec(), false));
    assert_eq!(page(seqs[1], 2), (seqs[2..].to_vec(), true));
    assert_eq!(page(0, 3), (seqs.clone(), true));
    assert_eq!(page(seqs[2], 1), (vec![], true));
    assert_eq!(
        ok(
            tx.get_last_exported_resource(),
            "get_last_exported_resource"
        )
        .as_ref(),
        all.last()
    );
    ok(tx.clear_exported_resources(), "clear_exported_resources");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        ok(tx.get_exported_resources(0, 10), "get_exported_resources"),
        (vec![], true)
    );
    assert_eq!(
        ok(
            tx.get_last_exported_resource(),
            "get_last_exported_resource"
        ),
        None
    );
    commit(tx);
}

// ---------------------------------------------------------------------------------------------
// global properties
// ---------------------------------------------------------------------------------------------

/// Global properties are kept per server identifier and per property, and can be overwritten.
pub fn global_properties_per_server(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    ok(
        tx.set_global_property("", 5001, "default"),
        "set_global_property",
    );
    ok(
        tx.set_global_property("server-a", 5001, "a"),
        "set_global_property",
    );
    ok(
        tx.set_global_property("server-b", 5001, "b"),
        "set_global_property",
    );
    ok(
        tx.set_global_property("server-a", 5002, "a2 ✓"),
        "set_global_property",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let get = |tx: &mut Tx<'_>, server: &str, p| {
        ok(
            tx.lookup_global_property(server, p),
            "lookup_global_property",
        )
    };
    assert_eq!(get(&mut tx, "", 5001).as_deref(), Some("default"));
    assert_eq!(get(&mut tx, "server-a", 5001).as_deref(), Some("a"));
    assert_eq!(get(&mut tx, "server-b", 5001).as_deref(), Some("b"));
    assert_eq!(get(&mut tx, "server-a", 5002).as_deref(), Some("a2 ✓"));
    assert_eq!(
        get(&mut tx, "server-b", 5002),
        None,
        "properties are per server"
    );
    assert_eq!(get(&mut tx, "server-c", 5001), None);
    assert_eq!(get(&mut tx, "", 5003), None);
    ok(
        tx.set_global_property("server-a", 5001, "a-updated"),
        "set_global_property",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(get(&mut tx, "server-a", 5001).as_deref(), Some("a-updated"));
    assert_eq!(
        get(&mut tx, "server-b", 5001).as_deref(),
        Some("b"),
        "overwriting one server's value only"
    );
    assert_eq!(get(&mut tx, "", 5001).as_deref(), Some("default"));
    commit(tx);
}

// ---------------------------------------------------------------------------------------------
// recycling
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn recycle(tx: &mut (dyn IndexTransaction + '_), avoid: Option<InternalId>) -> Option<InternalId> {
    ok(
        tx.select_patient_to_recycle(avoid),
        format_args!("select_patient_to_recycle({avoid:?})"),
    )
}

/// New patients enter the recycling order; a patient receiving an instance moves to the most
/// recent end, as does one tagged with `tag_most_recent_patient`; `avoid` is honoured.
pub fn recycling_order(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let p1 = add(&mut *tx, "p1", "s1", "se1", "i1").patient_id;
    let p2 = add(&mut *tx, "p2", "s2", "se2", "i2").patient_id;
    let p3 = add(&mut *tx, "p3", "s3", "se3", "i3").patient_id;
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    assert_eq!(recycle(&mut *tx, None), Some(p1), "oldest patient first");
    assert_eq!(
        recycle(&mut *tx, Some(p1)),
        Some(p2),
        "avoid skips the oldest"
    );
    assert_eq!(recycle(&mut *tx, Some(p2)), Some(p1));
    for p in [p1, p2, p3] {
        assert!(
            !ok(tx.is_protected_patient(p), "is_protected_patient"),
            "new patients are unprotected"
        );
    }
    add(&mut *tx, "p1", "s1-new", "se1-new", "i1-new");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    assert_eq!(
        recycle(&mut *tx, None),
        Some(p2),
        "a patient receiving an instance becomes the most recent"
    );
    assert_eq!(recycle(&mut *tx, Some(p2)), Some(p3));
    add(&mut *tx, "p2", "s2", "se2", "i2");
    assert_eq!(
        recycle(&mut *tx, None),
        Some(p2),
        "re-storing an existing instance does not move its patient"
    );
    ok(tx.tag_most_recent_patient(p2), "tag_most_recent_patient");
    assert_eq!(
        recycle(&mut *tx, None),
        Some(p3),
        "tag_most_recent_patient moves to the recent end"
    );
    assert_eq!(recycle(&mut *tx, Some(p3)), Some(p1));
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    ok(tx.delete_resource(p3), "delete_resource");
    assert_eq!(
        recycle(&mut *tx, None),
        Some(p1),
        "a deleted patient leaves the order"
    );
    assert_eq!(recycle(&mut *tx, Some(p1)), Some(p2));
    ok(tx.delete_resource(p1), "delete_resource");
    assert_eq!(recycle(&mut *tx, None), Some(p2));
    assert_eq!(
        recycle(&mut *tx, Some(p2)),
        None,
        "the only candidate is avoided"
    );
    commit(tx);
}

/// Protected patients leave the recycling order and re-enter it at the recent end.
pub fn recycling_protection(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let p1 = add(&mut *tx, "p1", "s1", "se1", "i1").patient_id;
    let p2 = add(&mut *tx, "p2", "s2", "se2", "i2").patient_id;
    let p3 = add(&mut *tx, "p3", "s3", "se3", "i3").patient_id;
    ok(tx.set_protected_patient(p1, true), "set_protected_patient");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let protected = |tx: &mut Tx<'_>, p| ok(tx.is_protected_patient(p), "is_protected_patient");
    assert!(protected(&mut tx, p1), "protection survives commit");
    assert!(!protected(&mut tx, p2));
    assert_eq!(
        recycle(&mut *tx, None),
        Some(p2),
        "a protected patient is never recycled"
    );
    assert_eq!(recycle(&mut *tx, Some(p2)), Some(p3));
    ok(
        tx.set_protected_patient(p1, true),
        "set_protected_patient (again)",
    );
    add(&mut *tx, "p1", "s1", "se1", "i1-new");
    ok(tx.tag_most_recent_patient(p1), "tag_most_recent_patient");
    assert!(
        protected(&mut tx, p1),
        "new instances and tag_most_recent_patient keep protection"
    );
    assert_eq!(recycle(&mut *tx, Some(p2)), Some(p3));
    assert_eq!(recycle(&mut *tx, Some(p3)), Some(p2));

    ok(tx.set_protected_patient(p2, true), "set_protected_patient");
    ok(tx.set_protected_patient(p3, true), "set_protected_patient");
    assert_eq!(recycle(&mut *tx, None), None, "every patient protected");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    ok(
        tx.set_protected_patient(p2, false),
        "set_protected_patient(false)",
    );
    assert!(!protected(&mut tx, p2));
    assert_eq!(recycle(&mut *tx, None), Some(p2));
    assert_eq!(recycle(&mut *tx, Some(p2)), None);
    ok(
        tx.set_protected_patient(p3, false),
        "set_protected_patient(false)",
    );
    assert_eq!(
        recycle(&mut *tx, None),
        Some(p2),
        "unprotected patients re-enter at the recent end"
    );
    ok(
        tx.set_protected_patient(p2, false),
        "set_protected_patient(false) on an unprotected patient",
    );
    assert_eq!(
        recycle(&mut *tx, None),
        Some(p2),
        "unprotecting an unprotected patient must not move it"
    );
    assert_eq!(recycle(&mut *tx, Some(p2)), Some(p3));
    ok(
        tx.set_protected_patient(p1, false),
        "set_protected_patient(false)",
    );
    assert_eq!(recycle(&mut *tx, Some(p2)), Some(p3));
    assert_eq!(recycle(&mut *tx, Some(p3)), Some(p2));
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    ok(tx.delete_resource(p2), "delete_resource");
    ok(tx.delete_resource(p3), "delete_resource");
    assert_eq!(recycle(&mut *tx, None), Some(p1));
    commit(tx);
}

// ---------------------------------------------------------------------------------------------
// labels
// ---------------------------------------------------------------------------------------------

/// Labels per resource and across the index; adding twice and removing a missing label are fine.
pub fn labels_add_remove_list(backend: &dyn IndexBackend) {
    if !supports_labels(backend) {
        return;
    }
    let mut tx = begin(backend, TxMode::ReadWrite);
    let c = add(&mut *tx, "p", "s", "se", "i");
    ok(tx.add_label(c.study_id, "beta"), "add_label");
    ok(tx.add_label(c.study_id, "alpha"), "add_label");
    ok(tx.add_label(c.study_id, "alpha"), "add_label (twice)");
    ok(tx.add_label(c.patient_id, "gamma"), "add_label");
    ok(tx.add_label(c.instance_id, "alpha"), "add_label");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let labels =
        |tx: &mut Tx<'_>, id| sorted(ok(tx.list_labels(id), format_args!("list_labels({id:?})")));
    assert_eq!(
        labels(&mut tx, Some(c.study_id)),
        strings(&["alpha", "beta"]),
        "labels of a study, once each"
    );
    assert_eq!(labels(&mut tx, Some(c.patient_id)), strings(&["gamma"]));
    assert_eq!(labels(&mut tx, Some(c.series_id)), Vec::<String>::new());
    assert_eq!(labels(&mut tx, Some(c.instance_id)), strings(&["alpha"]));
    assert_eq!(
        labels(&mut tx, None),
        strings(&["alpha", "beta", "gamma"]),
        "every label in use, once each"
    );
    ok(tx.remove_label(c.study_id, "alpha"), "remove_label");
    ok(
        tx.remove_label(c.study_id, "alpha"),
        "remove_label (missing)",
    );
    ok(
        tx.remove_label(c.series_id, "gamma"),
        "remove_label (never set)",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    assert_eq!(labels(&mut tx, Some(c.study_id)), strings(&["beta"]));
    assert_eq!(
        labels(&mut tx, None),
        strings(&["alpha", "beta", "gamma"]),
        "alpha still on the instance"
    );
    ok(tx.remove_label(c.instance_id, "alpha"), "remove_label");
    assert_eq!(
        labels(&mut tx, None),
        strings(&["beta", "gamma"]),
        "a label no longer used disappears"
    );
    commit(tx);
}

// ---------------------------------------------------------------------------------------------
// transactions
// ---------------------------------------------------------------------------------------------

/// Writes every kind of row inside `tx` on top of the committed `p1` hierarchy.
fn write_everything(tx: &mut (dyn IndexTransaction + '_), labels: bool) {
    let p1 = add(tx, "p1", "s1", "se1", "i1");
    add(tx, "p2", "s2", "se2", "i2");
    add(tx, "p1", "s1", "se1", "i1b");
    set_tags(tx, p1.patient_id, &[(PATIENT_ID, "ROLLED-BACK")]);
    ok(
        tx.set_metadata(p1.instance_id, MetadataType::ORIGIN, "x", 0),
        "set_metadata",
    );
    ok(
        tx.add_attachment(
            p1.instance_id,
            &file("0001", FileContentType::DICOM, 9, 9),
            0,
        ),
        "add_attachment",
    );
    ok(
        tx.log_change(&change(ChangeType::NewPatient, Patient, "p2")),
        "log_change",
    );
    ok(
        tx.log_exported_resource(&ExportedResource {
            seq: 0,
            resource_type: Patient,
            public_id: "p1".into(),
            remote_modality: "M".into(),
            date: DATE.into(),
            patient_id: String::new(),
            study_instance_uid: String::new(),
            series_instance_uid: String::new(),
            sop_instance_uid: String::new(),
        }),
        "log_exported_resource",
    );
    ok(
        tx.set_global_property("", 5001, "rolled back"),
        "set_global_property",
    );
    ok(
        tx.set_protected_patient(p1.patient_id, true),
        "set_protected_patient",
    );
    if labels {
        ok(tx.add_label(p1.study_id, "rolled-back"), "add_label");
    }
}

#[track_caller]
fn assert_only_p1(backend: &dyn IndexBackend, labels: bool) {
    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        public_ids(&mut *tx, Patient),
        strings(&["p1"]),
        "rolled-back patient still present"
    );
    assert_eq!(
        public_ids(&mut *tx, Instance),
        strings(&["i1"]),
        "rolled-back instance still present"
    );
    let p1 = id_of(&mut *tx, "p1");
    let i1 = id_of(&mut *tx, "i1");
    assert!(
        ok(tx.get_main_dicom_tags(p1), "get_main_dicom_tags").is_empty(),
        "rolled-back tags"
    );
    assert!(
        ok(tx.get_all_metadata(i1), "get_all_metadata").is_empty(),
        "rolled-back metadata"
    );
    assert!(
        ok(
            tx.list_available_attachments(i1),
            "list_available_attachments"
        )
        .is_empty(),
        "rolled-back attachment"
    );
    assert_eq!(
        ok(tx.get_total_compressed_size(), "get_total_compressed_size"),
        0
    );
    assert_eq!(
        ok(tx.get_changes(0, 10), "get_changes"),
        (vec![], true),
        "rolled-back change"
    );
    assert_eq!(
        ok(tx.get_exported_resources(0, 10), "get_exported_resources"),
        (vec![], true),
        "rolled-back export"
    );
    assert_eq!(
        ok(
            tx.lookup_global_property("", 5001),
            "lookup_global_property"
        ),
        None,
        "rolled-back property"
    );
    assert!(
        !ok(tx.is_protected_patient(p1), "is_protected_patient"),
        "rolled-back protection"
    );
    assert_eq!(recycle(&mut *tx, None), Some(p1));
    assert_eq!(recycle(&mut *tx, Some(p1)), None);
    if labels {
        assert!(
            ok(tx.list_labels(None), "list_labels").is_empty(),
            "rolled-back label"
        );
    }
    commit(tx);
}

/// Dropping a read-write transaction without committing discards all of its writes, and the
/// backend stays usable.
pub fn rollback_on_drop(backend: &dyn IndexBackend) {
    let labels = backend.info().supports_labels;
    let mut tx = begin(backend, TxMode::ReadWrite);
    add(&mut *tx, "p1", "s1", "se1", "i1");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    write_everything(&mut *tx, labels);
    assert_eq!(
        count(&mut *tx, Patient),
        2,
        "a transaction sees its own writes"
    );
    drop(tx);
    assert_only_p1(backend, labels);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let c = add(&mut *tx, "p2", "s2", "se2", "i2");
    assert!(
        c.is_new_patient && c.is_new_instance,
        "p2 must be new after the rollback: {c:?}"
    );
    let p1 = id_of(&mut *tx, "p1");
    ok(tx.delete_resource(p1), "delete_resource");
    drop(tx);
    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        public_ids(&mut *tx, Patient),
        strings(&["p1"]),
        "a rolled-back delete must leave p1"
    );
    assert_eq!(public_ids(&mut *tx, Instance), strings(&["i1"]));
    commit(tx);
}

/// An explicit rollback discards all writes, deletes included.
pub fn rollback_explicit(backend: &dyn IndexBackend) {
    let labels = backend.info().supports_labels;
    let mut tx = begin(backend, TxMode::ReadWrite);
    add(&mut *tx, "p1", "s1", "se1", "i1");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    write_everything(&mut *tx, labels);
    ok(tx.rollback(), "rollback");
    assert_only_p1(backend, labels);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let p1 = id_of(&mut *tx, "p1");
    let d = ok(tx.delete_resource(p1), "delete_resource");
    assert_eq!(d.resources.len(), 4);
    assert_eq!(count(&mut *tx, Patient), 0);
    ok(tx.rollback(), "rollback");
    let mut tx = begin(backend, TxMode::ReadWrite);
    assert_eq!(
        public_ids(&mut *tx, Patient),
        strings(&["p1"]),
        "a rolled-back delete must leave p1"
    );
    assert_eq!(counts(&mut *tx), [1, 1, 1, 1]);
    let c = add(&mut *tx, "p3", "s3", "se3", "i3");
    assert!(c.is_new_patient);
    commit(tx);
    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        public_ids(&mut *tx, Patient),
        strings(&["p1", "p3"]),
        "writes after a rollback commit normally"
    );
    commit(tx);
}

/// Writes handed to the backend ahead of the commit (`write_pending`) stay invisible to
/// readers, are discarded by a rollback, and are kept with what follows by a commit.
pub fn write_pending_before_commit(backend: &dyn IndexBackend) {
    let labels = backend.info().supports_labels;
    let mut tx = begin(backend, TxMode::ReadWrite);
    add(&mut *tx, "p1", "s1", "se1", "i1");
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    write_everything(&mut *tx, labels);
    ok(tx.write_pending(), "write_pending");
    assert_only_p1(backend, labels);
    ok(tx.rollback(), "rollback");
    assert_only_p1(backend, labels);

    let mut tx = begin(backend, TxMode::ReadWrite);
    add(&mut *tx, "p2", "s2", "se2", "i2");
    ok(tx.write_pending(), "write_pending");
    let mut reader = begin(backend, TxMode::ReadOnly);
    assert_eq!(public_ids(&mut *reader, Patient), strings(&["p1"]));
    commit(reader);
    // Changes after the pages were written, to a row written then too.
    let i2 = id_of(&mut *tx, "i2");
    ok(
        tx.set_metadata(i2, MetadataType::REMOTE_AET, "AFTER", 0),
        "set_metadata",
    );
    add(&mut *tx, "p2", "s2", "se2", "i3");
    commit(tx);
    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(public_ids(&mut *tx, Patient), strings(&["p1", "p2"]));
    assert_eq!(public_ids(&mut *tx, Instance), strings(&["i1", "i2", "i3"]));
    let i2 = id_of(&mut *tx, "i2");
    assert_eq!(
        ok(
            tx.lookup_metadata(i2, MetadataType::REMOTE_AET),
            "lookup_metadata"
        )
        .map(|(value, _)| value),
        Some("AFTER".to_string())
    );
    commit(tx);
}

/// A read-only transaction sees what was committed before it began; it may be dropped or
/// committed.
pub fn read_only_sees_committed(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let c = add(&mut *tx, "p1", "s1", "se1", "i1");
    set_tags(&mut *tx, c.study_id, &[(STUDY_DATE, "20200101")]);
    ok(
        tx.set_metadata(c.instance_id, MetadataType::REMOTE_AET, "AET", 0),
        "set_metadata",
    );
    ok(
        tx.log_change(&change(ChangeType::NewStudy, Study, "s1")),
        "log_change",
    );
    commit(tx);

    for finish_with_commit in [false, true] {
        let mut tx = begin(backend, TxMode::ReadOnly);
        assert_eq!(
            ok(tx.lookup_resource("i1"), "lookup_resource"),
            Some((c.instance_id, Instance))
        );
        assert_eq!(counts(&mut *tx), [1, 1, 1, 1]);
        assert_eq!(
            ok(tx.get_main_dicom_tags(c.study_id), "get_main_dicom_tags"),
            tag_list(&[(STUDY_DATE, "20200101")])
        );
        assert_eq!(
            ok(
                tx.lookup_metadata(c.instance_id, MetadataType::REMOTE_AET),
                "lookup_metadata"
            ),
            Some(("AET".to_owned(), 0))
        );
        assert_eq!(ok(tx.get_changes(0, 10), "get_changes").0.len(), 1);
        expect_find(
            &mut *tx,
            &query(
                Instance,
                vec![constraint(Study, STUDY_DATE, eq("20200101"), true)],
            ),
            &["i1"],
        );
        if finish_with_commit {
            commit(tx);
        } else {
            drop(tx);
        }
    }
    let mut tx = begin(backend, TxMode::ReadWrite);
    add(&mut *tx, "p2", "s2", "se2", "i2");
    commit(tx);
    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        public_ids(&mut *tx, Patient),
        strings(&["p1", "p2"]),
        "a later read-only transaction sees new commits"
    );
    commit(tx);
}

const BLOCKED_AFTER: Duration = Duration::from_secs(10);

/// While a write transaction is open (uncommitted), a read-only transaction on another thread
/// starts without waiting and sees the last committed state only.
pub fn reader_not_blocked_by_open_writer(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    add(&mut *tx, "p1", "s1", "se1", "i1");
    commit(tx);

    std::thread::scope(|s| {
        let (written_tx, written_rx) = mpsc::channel::<()>();
        let (read_tx, read_rx) = mpsc::channel::<()>();
        let writer = s.spawn(move || {
            let mut tx = begin(backend, TxMode::ReadWrite);
            add(&mut *tx, "p2", "s2", "se2", "i2");
            ok(
                tx.set_global_property("", 5001, "uncommitted"),
                "set_global_property",
            );
            assert_eq!(count(&mut *tx, Patient), 2, "the writer sees its own write");
            written_tx.send(()).unwrap();
            // Keep the transaction open until the reader is done (or obviously stuck).
            let reader_finished = read_rx.recv_timeout(BLOCKED_AFTER * 3).is_ok();
            commit(tx);
            reader_finished
        });

        written_rx
            .recv()
            .expect("the writer thread failed before writing");
        let started = Instant::now();
        let mut tx = begin(backend, TxMode::ReadOnly);
        let patients = public_ids(&mut *tx, Patient);
        let property = ok(
            tx.lookup_global_property("", 5001),
            "lookup_global_property",
        );
        let p2 = ok(tx.lookup_resource("p2"), "lookup_resource");
        commit(tx);
        let waited = started.elapsed();
        let _ = read_tx.send(());
        assert!(
            waited < BLOCKED_AFTER,
            "a read-only transaction waited {waited:?} for an open write transaction"
        );
        assert_eq!(
            patients,
            strings(&["p1"]),
            "a reader must not see uncommitted writes"
        );
        assert_eq!(
            property, None,
            "a reader must not see an uncommitted global property"
        );
        assert_eq!(p2, None);
        assert!(
            writer.join().expect("writer thread panicked"),
            "the reader never finished"
        );
    });

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        public_ids(&mut *tx, Patient),
        strings(&["p1", "p2"]),
        "the writer's commit is visible afterwards"
    );
    commit(tx);
}

/// A read-only transaction keeps reading the snapshot it started with, even after another
/// transaction commits.
pub fn read_transaction_is_a_stable_snapshot(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    add(&mut *tx, "p1", "s1", "se1", "i1");
    commit(tx);

    let mut reader = Some(begin(backend, TxMode::ReadOnly));
    if let Some(r) = reader.as_mut() {
        assert_eq!(public_ids(&mut **r, Patient), strings(&["p1"]));
    }
    std::thread::scope(|s| {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let writer = s.spawn(move || {
            let mut tx = begin(backend, TxMode::ReadWrite);
            add(&mut *tx, "p2", "s2", "se2", "i2");
            let p1 = id_of(&mut *tx, "p1");
            ok(tx.delete_resource(p1), "delete_resource");
            commit(tx);
            let _ = done_tx.send(());
        });
        if done_rx.recv_timeout(BLOCKED_AFTER).is_err() {
            // The writer waits for the reader: release it so that the scope can end.
            reader = None;
        }
        if writer.join().is_err() {
            panic!("writer thread panicked while a read-only transaction was open");
        }
    });
    let Some(mut reader) = reader else {
        panic!("a write transaction waited {BLOCKED_AFTER:?} for an open read-only transaction");
    };
    assert_eq!(
        public_ids(&mut *reader, Patient),
        strings(&["p1"]),
        "the snapshot changed under a reader"
    );
    assert_eq!(counts(&mut *reader), [1, 1, 1, 1]);
    assert!(ok(reader.lookup_resource("i1"), "lookup_resource").is_some());
    commit(reader);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(public_ids(&mut *tx, Patient), strings(&["p2"]));
    commit(tx);
}

/// Write transactions from several threads all land (replaying on `Conflict`, as the server
/// does), and the change log stays strictly ordered.
pub fn concurrent_writers(backend: &dyn IndexBackend) {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 8;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                for k in 0..PER_THREAD {
                    let p = format!("p-{t}-{k}");
                    let mut attempts = 0;
                    loop {
                        attempts += 1;
                        let run = || -> Result<(), IndexError> {
                            let mut tx = backend.begin(TxMode::ReadWrite)?;
                            let c = tx.create_instance(&hashes(
                                &p,
                                &format!("s-{t}-{k}"),
                                &format!("se-{t}-{k}"),
                                &format!("i-{t}-{k}"),
                            ))?;
                            assert!(c.is_new_patient, "{p} created twice");
                            tx.log_change(&change(ChangeType::NewPatient, Patient, &p))?;
                            tx.commit()
                        };
                        match run() {
                            Ok(()) => break,
                            Err(IndexError::Conflict(_)) if attempts < 50 => {
                                std::thread::sleep(Duration::from_millis(attempts));
                            }
                            Err(e) => panic!("concurrent write of {p} failed: {e:?}"),
                        }
                    }
                }
            });
        }
    });

    let mut tx = begin(backend, TxMode::ReadOnly);
    let total = (THREADS * PER_THREAD) as u64;
    assert_eq!(counts(&mut *tx), [total; 4]);
    let mut expected: Vec<String> = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |k| format!("p-{t}-{k}")))
        .collect();
    expected.sort();
    assert_eq!(sorted(public_ids(&mut *tx, Patient)), expected);
    let (changes, done) = ok(tx.get_changes(0, 1000), "get_changes");
    assert!(done);
    assert_eq!(changes.len() as u64, total);
    assert!(
        changes.windows(2).all(|w| w[0].seq < w[1].seq),
        "change seqs out of order"
    );
    assert_eq!(
        sorted(changes.into_iter().map(|c| c.public_id).collect()),
        expected
    );
    commit(tx);
}

//! `delete_resource`: what goes with a resource, what stays, and what is returned.

use crate::{
    ChangeType, ChangesPage, ConstraintKind, FileContentType, FileInfo, FindQuery, IndexBackend,
    LabelsConstraint, MetadataType, Precondition, PublicResource, ResourceType, TagConstraint,
    TxMode,
};

use super::helpers::*;

use crate::ResourceType::{Instance, Patient, Series, Study};

fn sorted_files(mut files: Vec<FileInfo>) -> Vec<FileInfo> {
    files.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    files
}

fn resources(list: &[(ResourceType, &str)]) -> Vec<PublicResource> {
    sorted(list.iter().map(|(t, p)| public(*t, p)).collect())
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
    ok(
        tx.add_attachment(i1.instance_id, &f1, &Precondition::Any),
        "add_attachment",
    );
    ok(
        tx.add_attachment(i2.instance_id, &f2, &Precondition::Any),
        "add_attachment",
    );
    ok(
        tx.add_attachment(i2.instance_id, &f2b, &Precondition::Any),
        "add_attachment",
    );
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
        Some(public(Series, "se")),
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
        Some(stored(&f1, 0)),
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
    ok(
        tx.add_attachment(i1.instance_id, &f1, &Precondition::Any),
        "add_attachment",
    );
    ok(
        tx.add_attachment(i2.instance_id, &f2, &Precondition::Any),
        "add_attachment",
    );
    ok(
        tx.add_attachment(i1.study_id, &fs, &Precondition::Any),
        "add_attachment",
    );
    ok(
        tx.add_attachment(i1.series_id, &fse, &Precondition::Any),
        "add_attachment",
    );
    ok(
        tx.add_attachment(i3.instance_id, &f3, &Precondition::Any),
        "add_attachment",
    );
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
        Some(public(Patient, "p")),
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
    ok(
        tx.add_attachment(a.patient_id, &fp, &Precondition::Any),
        "add_attachment",
    );
    ok(
        tx.add_attachment(a.instance_id, &fi, &Precondition::Any),
        "add_attachment",
    );
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
        ok(
            tx.add_attachment(c.instance_id, &f, &Precondition::Any),
            "add_attachment",
        );
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
    assert_eq!(d.remaining_ancestor, Some(public(Series, "se1")));
    commit(tx);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let ChangesPage { changes, done } = ok(tx.get_changes(0, 100), "get_changes");
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
    let changes = ok(tx.get_changes(0, 100), "get_changes").changes;
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
    assert_eq!(ok(tx.get_changes(0, 100), "get_changes"), no_changes());
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
        tx.set_metadata(
            a.instance_id,
            MetadataType::REMOTE_AET,
            "AET",
            &Precondition::Any,
        ),
        "set_metadata",
    );
    ok(
        tx.add_attachment(
            a.instance_id,
            &file("0001-a", FileContentType::DICOM, 7, 7),
            &Precondition::Any,
        ),
        "add_attachment",
    );
    ok(
        tx.add_attachment(
            b.instance_id,
            &file("0002-b", FileContentType::DICOM, 5, 5),
            &Precondition::Any,
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

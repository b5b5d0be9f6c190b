//! Transactions: rollback, `write_pending`, isolation of readers and writers, concurrency.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{
    ChangeType, ChangesPage, ExportedResource, FileContentType, IndexBackend, IndexError,
    IndexTransaction, MetadataType, Precondition, ResourceRef, TxMode,
};

use super::helpers::*;

use crate::ResourceType::{Instance, Patient, Study};

/// Writes every kind of row inside `tx` on top of the committed `p1` hierarchy.
fn write_everything(tx: &mut (dyn IndexTransaction + '_), labels: bool) {
    let p1 = add(tx, "p1", "s1", "se1", "i1");
    add(tx, "p2", "s2", "se2", "i2");
    add(tx, "p1", "s1", "se1", "i1b");
    set_tags(tx, p1.patient_id, &[(PATIENT_ID, "ROLLED-BACK")]);
    ok(
        tx.set_metadata(
            p1.instance_id,
            MetadataType::ORIGIN,
            "x",
            &Precondition::Any,
        ),
        "set_metadata",
    );
    ok(
        tx.add_attachment(
            p1.instance_id,
            &file("0001", FileContentType::DICOM, 9, 9),
            &Precondition::Any,
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
        no_changes(),
        "rolled-back change"
    );
    assert_eq!(
        ok(tx.get_exported_resources(0, 10), "get_exported_resources"),
        no_exports(),
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
        tx.set_metadata(i2, MetadataType::REMOTE_AET, "AFTER", &Precondition::Any),
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
        .map(|m| m.value),
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
        tx.set_metadata(
            c.instance_id,
            MetadataType::REMOTE_AET,
            "AET",
            &Precondition::Any,
        ),
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
            Some(ResourceRef {
                id: c.instance_id,
                level: Instance
            })
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
            Some(meta("AET", 0))
        );
        assert_eq!(ok(tx.get_changes(0, 10), "get_changes").changes.len(), 1);
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
    let ChangesPage { changes, done } = ok(tx.get_changes(0, 1000), "get_changes");
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

//! Attachments and their revisions, and the disk sizes they add up to.

use crate::{
    AddedAttachment, FileContentType, FileInfo, IndexBackend, Precondition, ResourceSize,
    StoredAttachment, TxMode,
};

use super::helpers::*;

/// Attachments round-trip every field (64-bit sizes included) and their revision: 0 when new,
/// + 1 when replaced (the replaced file is returned), and a delete returns what it removed.
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
    for f in [&dicom, &user] {
        assert_eq!(
            ok(
                tx.add_attachment(c.instance_id, f, &Precondition::Any),
                "add_attachment"
            ),
            AddedAttachment {
                revision: 0,
                replaced: None
            },
            "a new attachment"
        );
    }
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let lookup = |tx: &mut Tx<'_>, id, ct| {
        ok(tx.lookup_attachment(id, ct), "lookup_attachment").map(|a| StoredAttachment {
            revision: r(a.revision),
            ..a
        })
    };
    assert_eq!(
        lookup(&mut tx, c.instance_id, FileContentType::DICOM),
        Some(stored(&dicom, 0))
    );
    assert_eq!(
        lookup(&mut tx, c.instance_id, user.content_type),
        Some(stored(&user, 0))
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
            tx.delete_attachment(c.instance_id, FileContentType::DICOM, &Precondition::Any),
            "delete_attachment"
        ),
        Some(stored(&dicom, 0)),
        "delete_attachment returns the removed record"
    );
    assert_eq!(
        ok(
            tx.delete_attachment(c.instance_id, FileContentType::DICOM, &Precondition::Any),
            "delete_attachment"
        ),
        None,
        "deleting a missing attachment"
    );
    assert_eq!(
        ok(
            tx.delete_attachment(c2.instance_id, user.content_type, &Precondition::Any),
            "delete_attachment"
        ),
        None
    );
    // Replace: the next revision, and the replaced file to remove.
    let user2 = FileInfo {
        uuid: "a1b2c3d4-0000-4000-8000-000000000003".into(),
        ..user.clone()
    };
    let added = ok(
        tx.add_attachment(c.instance_id, &user2, &Precondition::Any),
        "add_attachment (replacing)",
    );
    assert_eq!(
        AddedAttachment {
            revision: r(added.revision),
            ..added
        },
        AddedAttachment {
            revision: r(1),
            replaced: Some(user.clone())
        },
        "a replacement"
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(lookup(&mut tx, c.instance_id, FileContentType::DICOM), None);
    assert_eq!(
        lookup(&mut tx, c.instance_id, user.content_type),
        Some(stored(&user2, r(1)))
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
            &Precondition::Any,
        ),
        "add_attachment",
    );
    ok(
        tx.add_attachment(
            a.instance_id,
            &file("0002", user_type(1), 10, 10),
            &Precondition::Any,
        ),
        "add_attachment",
    );
    ok(
        tx.add_attachment(
            b.instance_id,
            &file("0003", FileContentType::DICOM, 50, 50),
            &Precondition::Any,
        ),
        "add_attachment",
    );
    ok(
        tx.add_attachment(
            c.instance_id,
            &file("0004", FileContentType::DICOM, 1000, 2000),
            &Precondition::Any,
        ),
        "add_attachment",
    );
    ok(
        tx.add_attachment(
            a.study_id,
            &file("0005", user_type(2), 7, 7),
            &Precondition::Any,
        ),
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
        tx.delete_attachment(a.instance_id, user_type(1), &Precondition::Any),
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

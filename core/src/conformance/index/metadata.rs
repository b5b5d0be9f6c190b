//! Metadata values and their revisions, per resource and across children.

use crate::{IndexBackend, MetadataEntry, MetadataType, MetadataValue, Precondition, TxMode};

use super::helpers::*;

fn entry(kind: MetadataType, value: &str, revision: i64) -> MetadataEntry {
    MetadataEntry {
        kind,
        value: value.to_owned(),
        revision,
    }
}

/// Metadata values with revisions: set (revision 0), overwrite (revision + 1), list, delete
/// (returning the value removed), set again after a delete (revision 0 again).
pub fn metadata_revisions(backend: &dyn IndexBackend) {
    let revisions = backend.info().supports_revisions;
    let r = |rev: i64| if revisions { rev } else { 0 };
    let user = MetadataType(MetadataType::START_USER + 1);
    let any = Precondition::Any;
    let mut tx = begin(backend, TxMode::ReadWrite);
    let c = add(&mut *tx, "p", "s", "se", "i");
    assert_eq!(
        ok(
            tx.set_metadata(c.instance_id, MetadataType::REMOTE_AET, "AET1", &any),
            "set_metadata",
        ),
        0,
        "a new metadata value gets revision 0"
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    let lookup = |tx: &mut Tx<'_>, kind| {
        ok(tx.lookup_metadata(c.instance_id, kind), "lookup_metadata").map(|m| MetadataValue {
            revision: r(m.revision),
            ..m
        })
    };
    assert_eq!(
        lookup(&mut tx, MetadataType::REMOTE_AET),
        Some(meta("AET1", 0))
    );
    assert_eq!(
        r(ok(
            tx.set_metadata(c.instance_id, MetadataType::REMOTE_AET, "AET2", &any),
            "set_metadata",
        )),
        r(1),
        "an overwrite gets the next revision"
    );
    for (value, revision) in [("draft", 0), ("second", 1), ("Ünïcødé ✓", 2)] {
        assert_eq!(
            r(ok(
                tx.set_metadata(c.instance_id, user, value, &any),
                "set_metadata"
            )),
            r(revision),
            "revision of the value {value}"
        );
    }
    ok(
        tx.set_metadata(
            c.series_id,
            MetadataType::REMOTE_AET,
            "SERIES",
            &Precondition::Any,
        ),
        "set_metadata",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    assert_eq!(
        lookup(&mut tx, MetadataType::REMOTE_AET),
        Some(meta("AET2", r(1))),
        "metadata overwritten with a new revision"
    );
    assert_eq!(lookup(&mut tx, user), Some(meta("Ünïcødé ✓", r(2))));
    assert_eq!(lookup(&mut tx, MetadataType::ORIGIN), None);
    let all: Vec<_> = ok(tx.get_all_metadata(c.instance_id), "get_all_metadata")
        .into_iter()
        .map(|m| MetadataEntry {
            revision: r(m.revision),
            ..m
        })
        .collect();
    assert_eq!(
        sorted(all),
        vec![
            entry(MetadataType::REMOTE_AET, "AET2", r(1)),
            entry(user, "Ünïcødé ✓", r(2)),
        ]
    );
    assert_eq!(
        ok(tx.get_all_metadata(c.series_id), "get_all_metadata"),
        vec![entry(MetadataType::REMOTE_AET, "SERIES", 0)],
        "metadata is per resource"
    );
    assert!(ok(tx.get_all_metadata(c.patient_id), "get_all_metadata").is_empty());

    assert_eq!(
        ok(
            tx.delete_metadata(c.instance_id, MetadataType::REMOTE_AET, &any),
            "delete_metadata",
        )
        .map(|m| m.value),
        Some("AET2".to_owned()),
        "delete_metadata returns the value removed"
    );
    assert_eq!(
        ok(
            tx.delete_metadata(c.instance_id, MetadataType::REMOTE_AET, &any),
            "delete_metadata (already deleted)",
        ),
        None
    );
    assert_eq!(
        ok(
            tx.delete_metadata(c.instance_id, MetadataType::ORIGIN, &any),
            "delete_metadata (never set)",
        ),
        None
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
        Some(meta("SERIES", 0)),
        "deleting an instance's metadata must not touch its series'"
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    assert_eq!(
        ok(
            tx.set_metadata(c.instance_id, MetadataType::REMOTE_AET, "AET3", &any),
            "set_metadata (after a delete)",
        ),
        0,
        "a value written after its deletion is new: revision 0"
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
            tx.set_metadata(
                c.instance_id,
                MetadataType::INDEX_IN_SERIES,
                v,
                &Precondition::Any,
            ),
            "set_metadata",
        );
    }
    ok(
        tx.set_metadata(
            ids[0].instance_id,
            MetadataType::REMOTE_AET,
            "AET",
            &Precondition::Any,
        ),
        "set_metadata",
    );
    ok(
        tx.set_metadata(
            other.instance_id,
            MetadataType::INDEX_IN_SERIES,
            "99",
            &Precondition::Any,
        ),
        "set_metadata",
    );
    ok(
        tx.set_metadata(
            other.series_id,
            MetadataType::LAST_UPDATE,
            "x",
            &Precondition::Any,
        ),
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

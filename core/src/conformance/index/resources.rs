//! Creating the resource hierarchy and navigating it: lookups, parents, children, paging, counts.

use crate::{CreatedInstance, IndexBackend, IndexError, ResourceRef, ResourceWithParent, TxMode};

use super::helpers::*;

use crate::ResourceType::{Instance, Patient, Series, Study};

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
            Some(ResourceRef { id, level }),
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
            Some(ResourceWithParent {
                id,
                level,
                parent: parent.map(str::to_owned)
            }),
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

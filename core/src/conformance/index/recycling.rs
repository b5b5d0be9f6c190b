//! The recycling order and patient protection.

use crate::{IndexBackend, TxMode};

use super::helpers::*;

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

//! Labels on resources.

use crate::{IndexBackend, TxMode};

use super::helpers::*;

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

//! The backend as a whole: what it reports about itself, and the state of a fresh index.

use crate::{FindQuery, IndexBackend, LabelsConstraint, ResourceType, TxMode};

use super::helpers::*;

use crate::ResourceType::Study;

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
        no_changes(),
        "empty change log"
    );
    assert_eq!(ok(tx.get_last_change(), "get_last_change"), None);
    assert_eq!(ok(tx.get_last_change_index(), "get_last_change_index"), 0);
    assert_eq!(
        ok(tx.get_exported_resources(0, 10), "get_exported_resources"),
        no_exports(),
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

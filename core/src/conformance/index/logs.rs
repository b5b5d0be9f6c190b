//! The change log and the export log.

use crate::{
    ChangeType, ChangesPage, ExportedResource, ExportsPage, IndexBackend, NewChange, TxMode,
};

use super::helpers::*;

use crate::ResourceType::{Instance, Patient, Series, Study};

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
    let ChangesPage { changes: all, done } = ok(tx.get_changes(0, 100), "get_changes");
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
        let ChangesPage { changes, done } = ok(
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
        no_changes(),
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
    let ChangesPage { changes, done } = ok(tx.get_changes(0, 10), "get_changes");
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
    let ExportsPage { exports: all, done } =
        ok(tx.get_exported_resources(0, 10), "get_exported_resources");
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
        let ExportsPage { exports, done } = ok(
            tx.get_exported_resources(since, limit),
            "get_exported_resources",
        );
        (exports.iter().map(|e| e.seq).collect::<Vec<_>>(), done)
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
        no_exports()
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

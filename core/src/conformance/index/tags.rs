//! Main DICOM tags (`set_resources_content`, `get_main_dicom_tags`, `clear_main_dicom_tags`).

use crate::{
    ConstraintKind, FindQuery, IndexBackend, LabelsConstraint, MetadataType, ResourceMainDicomTag,
    ResourceMetadataValue, ResourcesContent, TagConstraint, TxMode,
};

use super::helpers::*;

use crate::ResourceType::Study;

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
        content.main_tags.extend(
            tags.iter()
                .map(|((group, element), v)| ResourceMainDicomTag {
                    resource: id,
                    group: *group,
                    element: *element,
                    value: (*v).to_owned(),
                }),
        );
    }
    for (resource, kind, value) in [
        (c.instance_id, MetadataType::INDEX_IN_SERIES, "1"),
        (c.series_id, MetadataType::LAST_UPDATE, "20240101T000000"),
    ] {
        content.metadata.push(ResourceMetadataValue {
            resource,
            kind,
            value: value.to_owned(),
        });
    }
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
        Some(meta("1", 0)),
        "metadata written by set_resources_content has revision 0"
    );
    assert_eq!(
        ok(
            tx.lookup_metadata(c.series_id, MetadataType::LAST_UPDATE),
            "lookup_metadata"
        ),
        Some(meta("20240101T000000", 0))
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

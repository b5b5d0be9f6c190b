//! Finding resources: `lookup_resources` (tag, metadata and label constraints, paging) and
//! `lookup_identifier`.

use crate::{
    ConstraintKind, FindQuery, IndexBackend, LabelsConstraint, MetadataConstraint, MetadataType,
    Precondition, TxMode,
};

use super::helpers::*;

use crate::ResourceType::{Instance, Patient, Series, Study};

/// The find fixture (creation order = index order):
///
/// ```text
/// pat-zulu  "Müller^Hans" ID-1
///   study-zulu  20200101 "Chest CT"            labels urgent, teaching
///     series-zulu   CT   inst-zulu-1 (#1)
///     series-alpha  SR   inst-alpha-1 (#1)
///   study-alpha 20210615 "Brain_MR 100%"       label teaching
///     series-mike   MR   inst-mike-1 (#1), inst-mike-2 (#2)
/// pat-alpha "MÜLLER^ANNA" ID-2                 label vip
///   study-mike  20220301 "chest x-ray" ACC-3   label urgent
///     series-bravo  CR   inst-bravo-1 (#7)
/// pat-mike  "Smith^John" ID-3
///   study-bravo 20190101 "Abdomen [contrast]"
///     series-yankee CT   inst-yankee-1 (#1)
/// ```
fn find_fixture(backend: &dyn IndexBackend) {
    let labels = backend.info().supports_labels;
    let mut tx = begin(backend, TxMode::ReadWrite);
    let layout: [(&str, &str, &str, &str, &str); 6] = [
        ("pat-zulu", "study-zulu", "series-zulu", "inst-zulu-1", "1"),
        (
            "pat-zulu",
            "study-zulu",
            "series-alpha",
            "inst-alpha-1",
            "1",
        ),
        ("pat-zulu", "study-alpha", "series-mike", "inst-mike-1", "1"),
        ("pat-zulu", "study-alpha", "series-mike", "inst-mike-2", "2"),
        (
            "pat-alpha",
            "study-mike",
            "series-bravo",
            "inst-bravo-1",
            "7",
        ),
        (
            "pat-mike",
            "study-bravo",
            "series-yankee",
            "inst-yankee-1",
            "1",
        ),
    ];
    for (p, s, se, i, number) in layout {
        let c = add(&mut *tx, p, s, se, i);
        set_tags(
            &mut *tx,
            c.instance_id,
            &[(INSTANCE_NUMBER, number), (SOP_INSTANCE_UID, i)],
        );
    }
    let patients: [(&str, &str, &str); 3] = [
        ("pat-zulu", "Müller^Hans", "ID-1"),
        ("pat-alpha", "MÜLLER^ANNA", "ID-2"),
        ("pat-mike", "Smith^John", "ID-3"),
    ];
    for (p, name, pid) in patients {
        let id = id_of(&mut *tx, p);
        set_tags(&mut *tx, id, &[(PATIENT_NAME, name), (PATIENT_ID, pid)]);
    }
    let studies: [(&str, &str, &str); 4] = [
        ("study-zulu", "20200101", "Chest CT"),
        ("study-alpha", "20210615", "Brain_MR 100%"),
        ("study-mike", "20220301", "chest x-ray"),
        ("study-bravo", "20190101", "Abdomen [contrast]"),
    ];
    for (s, date, description) in studies {
        let id = id_of(&mut *tx, s);
        set_tags(
            &mut *tx,
            id,
            &[(STUDY_DATE, date), (STUDY_DESCRIPTION, description)],
        );
    }
    let id = id_of(&mut *tx, "study-mike");
    set_tags(&mut *tx, id, &[(ACCESSION_NUMBER, "ACC-3")]);
    for (se, modality) in [
        ("series-zulu", "CT"),
        ("series-alpha", "SR"),
        ("series-mike", "MR"),
        ("series-bravo", "CR"),
        ("series-yankee", "CT"),
    ] {
        let id = id_of(&mut *tx, se);
        set_tags(&mut *tx, id, &[(MODALITY, modality)]);
    }
    if labels {
        for (r, label) in [
            ("study-zulu", "urgent"),
            ("study-zulu", "teaching"),
            ("study-alpha", "teaching"),
            ("study-mike", "urgent"),
            ("pat-alpha", "vip"),
        ] {
            let id = id_of(&mut *tx, r);
            ok(tx.add_label(id, label), "add_label");
        }
    }
    commit(tx);
}

/// `MetadataQuery`: constraints on the searched resources' own metadata, ANDed with tag
/// constraints and paging; resources without the metadata never match.
pub fn find_metadata(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let user = MetadataType(1024);
    let mut tx = begin(backend, TxMode::ReadWrite);
    for (series, value) in [
        ("series-zulu", "Knee-T2"),
        ("series-alpha", "knee-t1"),
        ("series-mike", "Brain-Flair"),
        ("series-bravo", "Müller-T1"),
    ] {
        let id = id_of(&mut *tx, series);
        ok(
            tx.set_metadata(id, user, value, &Precondition::Any),
            "set_metadata",
        );
    }
    // Instance metadata of the same type must not leak into a series query.
    let id = id_of(&mut *tx, "inst-yankee-1");
    ok(
        tx.set_metadata(id, user, "Knee-T2", &Precondition::Any),
        "set_metadata",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    let with = |kind: Option<ConstraintKind>, case_sensitive| {
        let mut q = query(Series, vec![]);
        q.metadata = vec![MetadataConstraint {
            metadata: user,
            kind,
            case_sensitive,
        }];
        q
    };
    expect_find(
        &mut *tx,
        &with(Some(eq("knee-t2")), false),
        &["series-zulu"],
    );
    expect_find(&mut *tx, &with(Some(eq("knee-t2")), true), &[]);
    expect_find(&mut *tx, &with(Some(eq("Knee-T2")), true), &["series-zulu"]);
    expect_find(
        &mut *tx,
        &with(Some(wild("*nee*")), false),
        &["series-zulu", "series-alpha"],
    );
    expect_find(
        &mut *tx,
        &with(Some(wild("*nee*")), true),
        &["series-zulu", "series-alpha"],
    );
    expect_find(&mut *tx, &with(Some(wild("K*")), true), &["series-zulu"]);
    expect_find(
        &mut *tx,
        &with(Some(wild("*-T?")), false),
        &["series-zulu", "series-alpha", "series-bravo"],
    );
    expect_find(
        &mut *tx,
        &with(Some(wild("MÜLLER*")), false),
        &["series-bravo"],
    );
    expect_find(
        &mut *tx,
        &with(Some(list(&["brain-flair", "KNEE-T1", "none"])), false),
        &["series-alpha", "series-mike"],
    );
    // Existence only: every series with the metadata, not series-yankee.
    expect_find(
        &mut *tx,
        &with(None, false),
        &["series-zulu", "series-alpha", "series-mike", "series-bravo"],
    );
    // ANDed with a tag constraint, and paged.
    let mut ct = with(Some(wild("*")), false);
    ct.constraints = vec![constraint(Series, MODALITY, eq("CT"), true)];
    expect_find(&mut *tx, &ct, &["series-zulu"]);
    let mut paged = with(None, false);
    paged.since = 1;
    paged.limit = Some(2);
    expect_find(&mut *tx, &paged, &["series-alpha", "series-mike"]);
    // A metadata type nobody has.
    let mut none = with(None, false);
    none.metadata[0].metadata = MetadataType(1025);
    expect_find(&mut *tx, &none, &[]);
}

/// Equal matching, case-sensitive and not, including non-ASCII ("Müller" vs "MÜLLER").
pub fn find_equal_and_case(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let name = |kind, cs| query(Patient, vec![constraint(Patient, PATIENT_NAME, kind, cs)]);
    expect_find(&mut *tx, &name(eq("Müller^Hans"), true), &["pat-zulu"]);
    expect_find(&mut *tx, &name(eq("MÜLLER^HANS"), true), &[]);
    expect_find(&mut *tx, &name(eq("müller^hans"), true), &[]);
    expect_find(&mut *tx, &name(eq("MÜLLER^HANS"), false), &["pat-zulu"]);
    expect_find(&mut *tx, &name(eq("müller^anna"), false), &["pat-alpha"]);
    expect_find(&mut *tx, &name(eq("MÜLLER^ANNA"), true), &["pat-alpha"]);
    expect_find(&mut *tx, &name(eq("smith^john"), false), &["pat-mike"]);
    expect_find(&mut *tx, &name(eq("Smith"), false), &[]);
    let pid = |v: &str| query(Patient, vec![constraint(Patient, PATIENT_ID, eq(v), true)]);
    expect_find(&mut *tx, &pid("ID-2"), &["pat-alpha"]);
    expect_find(&mut *tx, &pid("ID-"), &[]);
    // A tag present on one study only.
    let acc = |v: &str, cs| query(Study, vec![constraint(Study, ACCESSION_NUMBER, eq(v), cs)]);
    expect_find(&mut *tx, &acc("ACC-3", true), &["study-mike"]);
    expect_find(&mut *tx, &acc("acc-3", false), &["study-mike"]);
    expect_find(&mut *tx, &acc("acc-3", true), &[]);
    // Two constraints at the same level are ANDed.
    expect_find(
        &mut *tx,
        &query(
            Patient,
            vec![
                constraint(Patient, PATIENT_NAME, eq("müller^hans"), false),
                constraint(Patient, PATIENT_ID, eq("ID-2"), true),
            ],
        ),
        &[],
    );
    expect_find(
        &mut *tx,
        &query(
            Patient,
            vec![
                constraint(Patient, PATIENT_NAME, eq("müller^anna"), false),
                constraint(Patient, PATIENT_ID, eq("ID-2"), true),
            ],
        ),
        &["pat-alpha"],
    );
    commit(tx);
}

/// Wildcards `*` (any run) and `?` (exactly one character, non-ASCII included); other
/// characters, SQL's `%`, `_` and glob's `[`, match literally.
pub fn find_wildcard(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let name = |p: &str, cs| {
        query(
            Patient,
            vec![constraint(Patient, PATIENT_NAME, wild(p), cs)],
        )
    };
    expect_find(
        &mut *tx,
        &name("müller*", false),
        &["pat-zulu", "pat-alpha"],
    );
    expect_find(
        &mut *tx,
        &name("MÜLLER*", false),
        &["pat-zulu", "pat-alpha"],
    );
    expect_find(&mut *tx, &name("Müller*", true), &["pat-zulu"]);
    expect_find(&mut *tx, &name("M?LLER*", true), &["pat-alpha"]);
    expect_find(
        &mut *tx,
        &name("m?ller^*", false),
        &["pat-zulu", "pat-alpha"],
    );
    expect_find(&mut *tx, &name("*^J*", true), &["pat-mike"]);
    expect_find(
        &mut *tx,
        &name("*", true),
        &["pat-zulu", "pat-alpha", "pat-mike"],
    );
    expect_find(&mut *tx, &name("Smith^Joh?", true), &["pat-mike"]);
    expect_find(&mut *tx, &name("Smith^Jo?", true), &[]);
    expect_find(&mut *tx, &name("?mith^John", true), &["pat-mike"]);
    expect_find(&mut *tx, &name("smith^john", false), &["pat-mike"]);
    expect_find(&mut *tx, &name("smith^john", true), &[]);
    expect_find(&mut *tx, &name("*ANN", false), &[]);
    let desc = |p: &str, cs| {
        query(
            Study,
            vec![constraint(Study, STUDY_DESCRIPTION, wild(p), cs)],
        )
    };
    expect_find(
        &mut *tx,
        &desc("*CHEST*", false),
        &["study-zulu", "study-mike"],
    );
    expect_find(&mut *tx, &desc("*chest*", true), &["study-mike"]);
    expect_find(&mut *tx, &desc("*_*", true), &["study-alpha"]);
    expect_find(&mut *tx, &desc("*%", true), &["study-alpha"]);
    expect_find(&mut *tx, &desc("Brain?MR*", true), &["study-alpha"]);
    expect_find(&mut *tx, &desc("*[contrast]", true), &["study-bravo"]);
    expect_find(&mut *tx, &desc("*[CONTRAST]", false), &["study-bravo"]);
    expect_find(&mut *tx, &desc("*[c]*", true), &[]);
    expect_find(
        &mut *tx,
        &desc("Abdomen [contrast]", true),
        &["study-bravo"],
    );
    expect_find(
        &mut *tx,
        &desc("Abdomen [?ontrast]", true),
        &["study-bravo"],
    );
    expect_find(&mut *tx, &desc("%", true), &[]);
    commit(tx);
}

/// Inclusive ranges, open on either side.
pub fn find_range(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let date = |l, u| {
        query(
            Study,
            vec![constraint(Study, STUDY_DATE, range(l, u), false)],
        )
    };
    expect_find(
        &mut *tx,
        &date(Some("20200101"), Some("20210615")),
        &["study-zulu", "study-alpha"],
    );
    expect_find(&mut *tx, &date(Some("20200102"), Some("20210614")), &[]);
    expect_find(
        &mut *tx,
        &date(Some("20210615"), None),
        &["study-alpha", "study-mike"],
    );
    expect_find(
        &mut *tx,
        &date(None, Some("20200101")),
        &["study-zulu", "study-bravo"],
    );
    expect_find(
        &mut *tx,
        &date(None, None),
        &["study-zulu", "study-alpha", "study-mike", "study-bravo"],
    );
    expect_find(&mut *tx, &date(Some("20220302"), None), &[]);
    expect_find(&mut *tx, &date(Some("20220101"), Some("20200101")), &[]);
    expect_find(
        &mut *tx,
        &date(Some("20220301"), Some("20220301")),
        &["study-mike"],
    );
    commit(tx);
}

/// Case-sensitive matches on values whose upper case differs in length or in order from the
/// value itself: `ß` (upper case `SS`) under `?`, and range bounds with letters, which sort
/// lower-case after upper-case.
pub fn find_case_sensitive_edges(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    for (study, description) in [
        ("edge-1", "Straße"),
        ("edge-2", "abc"),
        ("edge-3", "ABD"),
        ("edge-4", "b"),
        ("edge-5", "Ba"),
    ] {
        let c = add(
            &mut *tx,
            "edge-p",
            study,
            &format!("{study}-se"),
            &format!("{study}-i"),
        );
        set_tags(&mut *tx, c.study_id, &[(STUDY_DESCRIPTION, description)]);
    }
    commit(tx);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let desc = |kind, cs| query(Study, vec![constraint(Study, STUDY_DESCRIPTION, kind, cs)]);
    expect_find(&mut *tx, &desc(wild("Stra?e"), true), &["edge-1"]);
    expect_find(&mut *tx, &desc(wild("stra?e"), true), &[]);
    expect_find(&mut *tx, &desc(wild("STRA??E"), false), &["edge-1"]);
    expect_find(&mut *tx, &desc(eq("Straße"), true), &["edge-1"]);
    expect_find(&mut *tx, &desc(eq("STRASSE"), true), &[]);
    expect_find(&mut *tx, &desc(list(&["abc", "Abd"]), true), &["edge-2"]);
    // Byte order: "ABD" < "Ba" < "Straße" < "ab" < "abc" < "b".
    expect_find(
        &mut *tx,
        &desc(range(Some("ab"), Some("b")), true),
        &["edge-2", "edge-4"],
    );
    expect_find(
        &mut *tx,
        &desc(range(Some("B"), Some("ab")), true),
        &["edge-1", "edge-5"],
    );
    expect_find(
        &mut *tx,
        &desc(range(None, Some("Ba")), true),
        &["edge-3", "edge-5"],
    );
    commit(tx);
}

/// List matching (any of the values), case-sensitive and not.
pub fn find_list(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let modality = |v: &[&str], cs| query(Series, vec![constraint(Series, MODALITY, list(v), cs)]);
    expect_find(
        &mut *tx,
        &modality(&["CT", "MR"], true),
        &["series-zulu", "series-mike", "series-yankee"],
    );
    expect_find(
        &mut *tx,
        &modality(&["ct", "cr"], false),
        &["series-zulu", "series-bravo", "series-yankee"],
    );
    expect_find(&mut *tx, &modality(&["ct"], true), &[]);
    expect_find(&mut *tx, &modality(&["SR"], true), &["series-alpha"]);
    expect_find(&mut *tx, &modality(&["US", "XA"], true), &[]);
    let name = |v: &[&str]| {
        query(
            Patient,
            vec![constraint(Patient, PATIENT_NAME, list(v), false)],
        )
    };
    expect_find(
        &mut *tx,
        &name(&["smith^john", "müller^hans"]),
        &["pat-zulu", "pat-mike"],
    );
    commit(tx);
}

/// Constraints on ancestor levels (e.g. PatientName in a series or instance query).
pub fn find_ancestor_constraints(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    expect_find(
        &mut *tx,
        &query(
            Series,
            vec![constraint(Patient, PATIENT_NAME, wild("müller*"), false)],
        ),
        &["series-zulu", "series-alpha", "series-mike", "series-bravo"],
    );
    expect_find(
        &mut *tx,
        &query(
            Study,
            vec![constraint(Patient, PATIENT_ID, eq("ID-1"), true)],
        ),
        &["study-zulu", "study-alpha"],
    );
    expect_find(
        &mut *tx,
        &query(
            Instance,
            vec![constraint(Study, STUDY_DATE, eq("20210615"), true)],
        ),
        &["inst-mike-1", "inst-mike-2"],
    );
    expect_find(
        &mut *tx,
        &query(
            Instance,
            vec![constraint(Patient, PATIENT_ID, eq("ID-3"), true)],
        ),
        &["inst-yankee-1"],
    );
    expect_find(
        &mut *tx,
        &query(
            Series,
            vec![constraint(
                Study,
                STUDY_DATE,
                range(None, Some("20200101")),
                false,
            )],
        ),
        &["series-zulu", "series-alpha", "series-yankee"],
    );
    expect_find(
        &mut *tx,
        &query(
            Instance,
            vec![
                constraint(Instance, INSTANCE_NUMBER, eq("1"), true),
                constraint(Patient, PATIENT_ID, eq("ID-1"), true),
            ],
        ),
        &["inst-zulu-1", "inst-alpha-1", "inst-mike-1"],
    );
    expect_find(
        &mut *tx,
        &query(
            Instance,
            vec![
                constraint(Series, MODALITY, eq("CT"), true),
                constraint(Study, STUDY_DATE, range(Some("20200101"), None), true),
                constraint(Patient, PATIENT_NAME, wild("*hans"), false),
            ],
        ),
        &["inst-zulu-1"],
    );
    commit(tx);
}

/// Constraints on descendant levels (ModalitiesInStudy): a resource matches when any
/// descendant does, and appears once however many descendants match.
pub fn find_descendant_constraints(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let modality = |level, kind| query(level, vec![constraint(Series, MODALITY, kind, true)]);
    expect_find(
        &mut *tx,
        &modality(Study, eq("CT")),
        &["study-zulu", "study-bravo"],
    );
    expect_find(&mut *tx, &modality(Study, eq("SR")), &["study-zulu"]);
    expect_find(
        &mut *tx,
        &modality(Study, list(&["CT", "SR"])),
        &["study-zulu", "study-bravo"],
    );
    expect_find(
        &mut *tx,
        &modality(Study, list(&["MR", "CR"])),
        &["study-alpha", "study-mike"],
    );
    expect_find(&mut *tx, &modality(Patient, eq("MR")), &["pat-zulu"]);
    expect_find(
        &mut *tx,
        &modality(Patient, list(&["CT", "SR", "MR"])),
        &["pat-zulu", "pat-mike"],
    );
    let number = |level, v: &str| {
        query(
            level,
            vec![constraint(Instance, INSTANCE_NUMBER, eq(v), true)],
        )
    };
    expect_find(&mut *tx, &number(Patient, "7"), &["pat-alpha"]);
    expect_find(&mut *tx, &number(Study, "2"), &["study-alpha"]);
    expect_find(
        &mut *tx,
        &number(Series, "1"),
        &[
            "series-zulu",
            "series-alpha",
            "series-mike",
            "series-yankee",
        ],
    );
    expect_find(
        &mut *tx,
        &query(
            Study,
            vec![
                constraint(Series, MODALITY, eq("CT"), true),
                constraint(Study, STUDY_DATE, range(Some("20200101"), None), true),
            ],
        ),
        &["study-zulu"],
    );
    expect_find(
        &mut *tx,
        &query(
            Patient,
            vec![
                constraint(Series, MODALITY, list(&["ct"]), false),
                constraint(Patient, PATIENT_NAME, wild("smith*"), false),
            ],
        ),
        &["pat-mike"],
    );
    // Two descendant constraints may be satisfied by different descendants.
    expect_find(
        &mut *tx,
        &query(
            Study,
            vec![
                constraint(Series, MODALITY, eq("CT"), true),
                constraint(Series, MODALITY, eq("SR"), true),
            ],
        ),
        &["study-zulu"],
    );
    commit(tx);
}

/// Labels All / Any / None, alone and combined with tag constraints.
pub fn find_labels(backend: &dyn IndexBackend) {
    if !supports_labels(backend) {
        return;
    }
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let with = |level, labels: &[&str], how| FindQuery {
        labels: strings(labels),
        labels_constraint: how,
        metadata: Vec::new(),
        ..query(level, vec![])
    };
    use LabelsConstraint::{All, Any, None as NoneOf};
    expect_find(
        &mut *tx,
        &with(Study, &["urgent", "teaching"], All),
        &["study-zulu"],
    );
    expect_find(
        &mut *tx,
        &with(Study, &["teaching"], All),
        &["study-zulu", "study-alpha"],
    );
    expect_find(&mut *tx, &with(Study, &["urgent", "missing"], All), &[]);
    expect_find(
        &mut *tx,
        &with(Study, &["urgent", "teaching"], Any),
        &["study-zulu", "study-alpha", "study-mike"],
    );
    expect_find(&mut *tx, &with(Study, &["missing"], Any), &[]);
    expect_find(
        &mut *tx,
        &with(Study, &["urgent"], NoneOf),
        &["study-alpha", "study-bravo"],
    );
    expect_find(
        &mut *tx,
        &with(Study, &["urgent", "teaching"], NoneOf),
        &["study-bravo"],
    );
    expect_find(
        &mut *tx,
        &with(Study, &["missing"], NoneOf),
        &["study-zulu", "study-alpha", "study-mike", "study-bravo"],
    );
    // The labels of a query are a set (Orthanc parses them into one): duplicates are harmless.
    expect_find(
        &mut *tx,
        &with(Study, &["teaching", "teaching"], All),
        &["study-zulu", "study-alpha"],
    );
    expect_find(
        &mut *tx,
        &with(Study, &["urgent", "teaching", "urgent"], All),
        &["study-zulu"],
    );
    let all_studies = ["study-zulu", "study-alpha", "study-mike", "study-bravo"];
    for how in [All, Any, NoneOf] {
        expect_find(&mut *tx, &with(Study, &[], how), &all_studies);
    }
    // Labels apply at the query level only.
    expect_find(&mut *tx, &with(Patient, &["vip"], All), &["pat-alpha"]);
    expect_find(&mut *tx, &with(Patient, &["urgent"], Any), &[]);
    expect_find(
        &mut *tx,
        &with(Series, &["urgent"], NoneOf),
        &[
            "series-zulu",
            "series-alpha",
            "series-mike",
            "series-bravo",
            "series-yankee",
        ],
    );
    // Combined with constraints.
    let mut q = with(Study, &["urgent"], Any);
    q.constraints
        .push(constraint(Series, MODALITY, eq("CT"), true));
    expect_find(&mut *tx, &q, &["study-zulu"]);
    let mut q = with(Study, &["teaching"], NoneOf);
    q.constraints
        .push(constraint(Study, STUDY_DESCRIPTION, wild("*chest*"), false));
    expect_find(&mut *tx, &q, &["study-mike"]);
    commit(tx);
}

/// `since` skips matches and `limit` caps them, after filtering, in index order.
pub fn find_since_limit(backend: &dyn IndexBackend) {
    find_fixture(backend);
    let mut tx = begin(backend, TxMode::ReadOnly);
    let page = |since, limit| FindQuery {
        since,
        limit,
        ..query(Study, vec![])
    };
    expect_find(
        &mut *tx,
        &page(0, None),
        &["study-zulu", "study-alpha", "study-mike", "study-bravo"],
    );
    expect_find(&mut *tx, &page(0, Some(2)), &["study-zulu", "study-alpha"]);
    expect_find(&mut *tx, &page(1, Some(2)), &["study-alpha", "study-mike"]);
    expect_find(&mut *tx, &page(2, None), &["study-mike", "study-bravo"]);
    expect_find(&mut *tx, &page(3, Some(5)), &["study-bravo"]);
    expect_find(&mut *tx, &page(4, None), &[]);
    expect_find(&mut *tx, &page(0, Some(0)), &[]);
    let filtered = |since, limit| FindQuery {
        since,
        limit,
        ..query(
            Series,
            vec![constraint(
                Series,
                MODALITY,
                list(&["CT", "MR", "CR"]),
                true,
            )],
        )
    };
    expect_find(
        &mut *tx,
        &filtered(0, None),
        &[
            "series-zulu",
            "series-mike",
            "series-bravo",
            "series-yankee",
        ],
    );
    expect_find(
        &mut *tx,
        &filtered(1, Some(2)),
        &["series-mike", "series-bravo"],
    );
    expect_find(&mut *tx, &filtered(3, Some(2)), &["series-yankee"]);
    let descendant = |since, limit| FindQuery {
        since,
        limit,
        ..query(
            Patient,
            vec![constraint(Instance, INSTANCE_NUMBER, eq("1"), true)],
        )
    };
    expect_find(&mut *tx, &descendant(0, Some(1)), &["pat-zulu"]);
    expect_find(&mut *tx, &descendant(1, Some(1)), &["pat-mike"]);
    commit(tx);
}

/// `lookup_identifier`: exact, case-sensitive match at one level, no wildcards, index order.
pub fn lookup_identifier_exact(backend: &dyn IndexBackend) {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let a = add(&mut *tx, "p1", "s1", "se1", "i1");
    let b = add(&mut *tx, "p2", "s2", "se2", "i2");
    let c = add(&mut *tx, "p3", "s3", "se3", "i3");
    set_tags(&mut *tx, a.patient_id, &[(PATIENT_ID, "ABC")]);
    set_tags(&mut *tx, b.patient_id, &[(PATIENT_ID, "abc")]);
    set_tags(&mut *tx, c.patient_id, &[(PATIENT_ID, "ABC")]);
    set_tags(&mut *tx, a.study_id, &[(ACCESSION_NUMBER, "ACC")]);
    set_tags(&mut *tx, b.series_id, &[(ACCESSION_NUMBER, "ACC")]);
    set_tags(&mut *tx, c.instance_id, &[(SOP_INSTANCE_UID, "1.2.840.1")]);
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    let mut lookup = |level, tag: (u16, u16), v: &str| {
        ok(
            tx.lookup_identifier(level, tag.0, tag.1, v),
            format_args!("lookup_identifier({level}, {v})"),
        )
    };
    assert_eq!(lookup(Patient, PATIENT_ID, "ABC"), strings(&["p1", "p3"]));
    assert_eq!(
        lookup(Patient, PATIENT_ID, "abc"),
        strings(&["p2"]),
        "lookup_identifier is case-sensitive"
    );
    assert_eq!(lookup(Patient, PATIENT_ID, "AB"), Vec::<String>::new());
    assert_eq!(
        lookup(Patient, PATIENT_ID, "AB*"),
        Vec::<String>::new(),
        "no wildcard in lookup_identifier"
    );
    assert_eq!(
        lookup(Study, ACCESSION_NUMBER, "ACC"),
        strings(&["s1"]),
        "only the requested level"
    );
    assert_eq!(lookup(Series, ACCESSION_NUMBER, "ACC"), strings(&["se2"]));
    assert_eq!(lookup(Study, PATIENT_ID, "ABC"), Vec::<String>::new());
    assert_eq!(
        lookup(Instance, SOP_INSTANCE_UID, "1.2.840.1"),
        strings(&["i3"])
    );
    commit(tx);
}

//! `/tools/find`: matching rules, Expand, Limit/Since and invalid requests. Expected
//! answers are computed from the generated corpus.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

fn find(srv: &Server, body: Value) -> Value {
    let r = srv.post_json("/tools/find", &body);
    assert_eq!(r.status, 200, "{body}: {}", r.text());
    r.json()
}

fn find_set(srv: &Server, body: Value) -> BTreeSet<String> {
    set_of(&find(srv, body))
}

fn ids_where(corpus: &[Sample], level: &str, f: impl Fn(&Sample) -> bool) -> BTreeSet<String> {
    corpus
        .iter()
        .filter(|s| f(s))
        .map(|s| match level {
            "Patient" => s.patient_id(),
            "Study" => s.study_id(),
            "Series" => s.series_id(),
            _ => s.instance_id(),
        })
        .collect()
}

fn strip_volatile(mut v: Value) -> Value {
    for o in v.as_array_mut().unwrap() {
        let o = o.as_object_mut().unwrap();
        o.remove("LastUpdate");
        o.remove("IsStable");
        for k in ["Studies", "Series", "Instances"] {
            if let Some(Value::Array(a)) = o.get_mut(k) {
                a.sort_by_key(|x| x.to_string());
            }
        }
    }
    v.as_array_mut()
        .unwrap()
        .sort_by_key(|o| o["ID"].to_string());
    v
}

#[test]
fn find_matching_rules() {
    let corpus = corpus();
    let srv = Server::start(json!({}));
    srv.upload_all(&corpus);
    let c = &corpus;

    // Exact.
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Study", "Query": {"PatientID": "PAT001"}})
        ),
        ids_where(c, "Study", |s| s.pid() == "PAT001")
    );
    let ct1 = by_name(c, "ct1");
    assert_eq!(
        find(
            &srv,
            json!({"Level": "Instance", "Query": {"SOPInstanceUID": ct1.sop_uid}})
        ),
        json!([ct1.instance_id()])
    );
    assert_eq!(
        find(
            &srv,
            json!({"Level": "Study", "Query": {"PatientID": "NOBODY"}})
        ),
        json!([])
    );

    // Wildcards, case-insensitive by default in 1.10.1.
    let does = ids_where(c, "Study", |s| s.patient_name == "Doe^John");
    assert_eq!(does.len(), 2);
    for body in [
        json!({"Level": "Study", "Query": {"PatientName": "doe*"}}),
        json!({"Level": "Study", "Query": {"PatientName": "doe*"}, "CaseSensitive": false}),
        json!({"Level": "Study", "Query": {"PatientName": "DOE^JOHN"}}),
        json!({"Level": "Study", "Query": {"PatientName": "D?e^*"}}),
    ] {
        assert_eq!(find_set(&srv, body.clone()), does, "{body}");
    }
    assert_eq!(
        find(
            &srv,
            json!({"Level": "Study", "Query": {"PatientName": "doe*"}, "CaseSensitive": true})
        ),
        json!([])
    );
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Study", "Query": {"PatientName": "Doe*"}, "CaseSensitive": true})
        ),
        does
    );
    let ct_chest = ids_where(c, "Study", |s| s.study_description == "CT Chest");
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Study", "Query": {"StudyDescription": "ct chest"}})
        ),
        ct_chest
    );
    assert_eq!(
        find(
            &srv,
            json!({"Level": "Study", "Query": {"StudyDescription": "ct chest"}, "CaseSensitive": true})
        ),
        json!([])
    );
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Series", "Query": {"SeriesDescription": "*SEQUENCES*"}})
        ),
        ids_where(c, "Series", |s| s.series_description == "Nested sequences")
    );
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Patient", "Query": {"PatientID": "PAT00?"}})
        ),
        ids_where(c, "Patient", |s| s.pid().starts_with("PAT00"))
    );
    // Non-ASCII queries.
    assert_eq!(
        find(
            &srv,
            json!({"Level": "Patient", "Query": {"PatientName": "Müller*"}})
        ),
        json!([by_name(c, "latin1").patient_id()])
    );
    assert_eq!(
        find(
            &srv,
            json!({"Level": "Patient", "Query": {"PatientName": "*山田*"}})
        ),
        json!([by_name(c, "utf8").patient_id()])
    );

    // Date ranges.
    let in_range = |lo: &str, hi: &str| {
        let (lo, hi) = (lo.to_owned(), hi.to_owned());
        ids_where(c, "Study", move |s| {
            (lo.is_empty() || s.study_date.as_str() >= lo.as_str())
                && (hi.is_empty() || s.study_date.as_str() <= hi.as_str())
        })
    };
    let r2020 = find_set(
        &srv,
        json!({"Level": "Study", "Query": {"StudyDate": "20200101-20201231"}}),
    );
    assert_eq!(r2020, in_range("20200101", "20201231"));
    assert_eq!(r2020.len(), 3);
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Study", "Query": {"StudyDate": "-20200601"}})
        ),
        in_range("", "20200601")
    );
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Study", "Query": {"StudyDate": "20210101-"}})
        ),
        in_range("20210101", "")
    );
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Study", "Query": {"StudyDate": "20200315"}})
        ),
        in_range("20200315", "20200315")
    );

    // Lists.
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Series", "Query": {"Modality": "CT\\MR"}})
        ),
        ids_where(c, "Series", |s| s.modality == "CT" || s.modality == "MR")
    );
    // ModalitiesInStudy.
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Study", "Query": {"ModalitiesInStudy": "MR"}})
        ),
        ids_where(c, "Study", |s| s.modality == "MR")
    );
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Study", "Query": {"ModalitiesInStudy": "SR\\XC"}})
        ),
        ids_where(c, "Study", |s| s.modality == "SR" || s.modality == "XC")
    );
    // Several constraints.
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Series", "Query": {"PatientID": "PAT-FMT", "Modality": "OT"}})
        ),
        ids_where(c, "Series", |s| s.pid() == "PAT-FMT" && s.modality == "OT")
    );
    // Lower-level constraint at an upper level is not allowed to widen: instance tag at series level.
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Instance", "Query": {"StudyInstanceUID": ct1.study_uid}})
        ),
        ids_where(c, "Instance", |s| s.study_uid == ct1.study_uid)
    );

    // Empty PatientID / "*" match everything.
    let all_patients = ids_where(c, "Patient", |_| true);
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Patient", "Query": {"PatientID": ""}})
        ),
        all_patients
    );
    assert_eq!(
        find_set(
            &srv,
            json!({"Level": "Patient", "Query": {"PatientID": "*"}})
        ),
        all_patients
    );
    assert_eq!(
        find_set(&srv, json!({"Level": "Series", "Query": {}})),
        ids_where(c, "Series", |_| true)
    );
}

#[test]
fn find_expand_limit_since_and_errors() {
    let corpus = corpus();
    let srv = Server::start(json!({}));
    srv.upload_all(&corpus);

    // Expand returns the objects of GET /{level}/{id}.
    for (level, coll, q) in [
        ("Study", "studies", json!({"PatientID": "PAT001"})),
        ("Series", "series", json!({"Modality": "CT"})),
        ("Patient", "patients", json!({"PatientName": "*"})),
        ("Instance", "instances", json!({"PatientID": "PAT002"})),
    ] {
        let expanded = find(&srv, json!({"Level": level, "Query": q, "Expand": true}));
        let ids = find(&srv, json!({"Level": level, "Query": q}));
        let singles: Vec<Value> = strings(&ids)
            .iter()
            .map(|id| srv.get_json(&format!("/{coll}/{id}")))
            .collect();
        assert!(!singles.is_empty());
        assert_eq!(
            strip_volatile(expanded),
            strip_volatile(Value::Array(singles)),
            "{level}"
        );
    }

    // Limit / Since, consistent with the full answer.
    let all = strings(&find(&srv, json!({"Level": "Instance", "Query": {}})));
    assert_eq!(
        to_set(all.clone()),
        ids_where(&corpus, "Instance", |_| true)
    );
    assert_eq!(
        strings(&find(
            &srv,
            json!({"Level": "Instance", "Query": {}, "Limit": 3})
        )),
        all[..3].to_vec()
    );
    assert_eq!(
        strings(&find(
            &srv,
            json!({"Level": "Instance", "Query": {}, "Limit": 3, "Since": 2})
        )),
        all[2..5].to_vec()
    );
    assert_eq!(
        find(
            &srv,
            json!({"Level": "Instance", "Query": {}, "Since": 1000, "Limit": 3})
        ),
        json!([])
    );
    let studies = strings(&find(
        &srv,
        json!({"Level": "Study", "Query": {"PatientName": "*"}}),
    ));
    let page = find(
        &srv,
        json!({"Level": "Study", "Query": {"PatientName": "*"}, "Limit": 2, "Since": 1, "Expand": true}),
    );
    let page_ids: Vec<String> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["ID"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(page_ids, studies[1..3].to_vec());

    // Errors.
    let r = srv.post_json("/tools/find", &json!({"Level": "Foo", "Query": {}}));
    r.assert_orthanc_error(400, 3, "Parameter out of range", "POST", "/tools/find");
    let r = srv.post_json("/tools/find", &json!({"Level": "Study"}));
    r.assert_orthanc_error(400, 8, "Bad request", "POST", "/tools/find");
    assert_eq!(
        r.json()["Details"],
        json!("Field \"Query\" is missing, or should be a JSON object")
    );
    let r = srv.post_json("/tools/find", &json!({"Query": {}}));
    r.assert_orthanc_error(400, 8, "Bad request", "POST", "/tools/find");
    assert_eq!(
        r.json()["Details"],
        json!("Field \"Level\" is missing, or should be a string")
    );
    let r = srv.post_json("/tools/find", &json!({"Level": "Study", "Query": "x"}));
    r.assert_orthanc_error(500, -1, "Internal error", "POST", "/tools/find");
    let r = srv.post("/tools/find", b"this is not json");
    r.assert_orthanc_error(400, 8, "Bad request", "POST", "/tools/find");
    assert_eq!(
        r.json()["Details"],
        json!("The body must contain a JSON object")
    );
}

/// Tags that are not main DICOM tags are matched on the stored files, as Orthanc does.
#[test]
fn find_on_tags_outside_the_index() {
    let srv = Server::start(json!({}));
    let corpus = corpus();
    srv.upload_all(&corpus);
    let jpeg = by_name(&corpus, "jpeg");

    let instances = find_set(
        &srv,
        json!({"Level": "Instance", "Query": {"PhotometricInterpretation": "ybr*"}}),
    );
    assert_eq!(instances, BTreeSet::from([jpeg.instance_id()]));
    let studies = find_set(
        &srv,
        json!({"Level": "Series", "Query": {"PhotometricInterpretation": "YBR_FULL_422", "Modality": "XC"}}),
    );
    assert_eq!(studies, BTreeSet::from([jpeg.series_id()]));
    let none = find_set(
        &srv,
        json!({"Level": "Instance", "Query": {"PhotometricInterpretation": "ybr*", "Modality": "CT"}}),
    );
    assert!(none.is_empty());
    let case_sensitive = find_set(
        &srv,
        json!({"Level": "Instance", "Query": {"PhotometricInterpretation": "ybr*"}, "CaseSensitive": true}),
    );
    assert!(case_sensitive.is_empty());
    let limited = find(
        &srv,
        json!({"Level": "Instance", "Query": {"PhotometricInterpretation": "*"}, "Limit": 2}),
    );
    assert_eq!(
        limited.as_array().map(Vec::len),
        Some(2),
        "a universal value is no constraint"
    );
}

/// `?full` / `?short` on resource JSON, `Full` / `Short` / `RequestedTags` in `/tools/find`.
#[test]
fn tag_formats_and_requested_tags() {
    let srv = Server::start(json!({}));
    let corpus = corpus();
    srv.upload_all(&corpus);
    let jpeg = by_name(&corpus, "jpeg");

    let full = srv.get_json(&format!("/patients/{}?full", jpeg.patient_id()));
    assert_eq!(
        full["MainDicomTags"]["0010,0010"],
        json!({"Name": "PatientName", "Type": "String", "Value": jpeg.patient_name})
    );
    let short = srv.get_json(&format!("/studies/{}?short", jpeg.study_id()));
    assert_eq!(short["MainDicomTags"]["0020,000d"], json!(jpeg.study_uid));
    assert_eq!(
        short["PatientMainDicomTags"]["0010,0020"],
        json!(jpeg.pid())
    );
    assert!(short["MainDicomTags"].get("StudyInstanceUID").is_none());
    let listed = srv.get_json("/studies?expand&short");
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["MainDicomTags"].get("0020,000d").is_some()));

    let found = find(
        &srv,
        json!({
            "Level": "Instance",
            "Query": {"SOPInstanceUID": jpeg.sop_uid},
            "Expand": true,
            "Short": true,
            "RequestedTags": ["PatientName", "PhotometricInterpretation", "0028,0010"]
        }),
    );
    let answer = &found.as_array().expect("array")[0];
    assert_eq!(answer["MainDicomTags"]["0008,0018"], json!(jpeg.sop_uid));
    assert_eq!(
        answer["RequestedTags"],
        json!({"PatientName": jpeg.patient_name, "PhotometricInterpretation": "YBR_FULL_422", "Rows": "8"})
    );
}

/// `MetadataQuery` (Orthanc 1.12.5): user-defined and core metadata, ANDed with `Query`,
/// wildcards, lists, existence, case folding, and its errors. Expected answers come from the
/// metadata the test itself sets.
#[test]
fn find_with_metadata_query() {
    let corpus = corpus();
    let srv = Server::start(json!({"UserMetadata": {"my-metadata": 1024, "other": 1025}}));
    srv.upload_all(&corpus);

    // One value per series, derived from its description; two series get no value at all.
    let mut series: Vec<&Sample> = Vec::new();
    for s in &corpus {
        if !series.iter().any(|x| x.series_id() == s.series_id()) {
            series.push(s);
        }
    }
    assert!(series.len() >= 4, "the corpus has {} series", series.len());
    let value_of = |i: usize| (i < series.len() - 2).then(|| format!("Tag-{i}-{}", i % 3));
    for (i, s) in series.iter().enumerate() {
        if let Some(v) = value_of(i) {
            let r = srv.request(
                "PUT",
                &format!("/series/{}/metadata/my-metadata", s.series_id()),
                Some(v.as_bytes()),
            );
            assert_eq!(r.status, 200, "{}", r.text());
        }
    }
    let expect = |f: &dyn Fn(&str) -> bool| -> BTreeSet<String> {
        series
            .iter()
            .enumerate()
            .filter(|(i, _)| value_of(*i).is_some_and(|v| f(&v)))
            .map(|(_, s)| s.series_id())
            .collect()
    };
    let q = |mq: Value| json!({"Level": "Series", "Query": {}, "MetadataQuery": mq});

    // Exact (case folded by default), wildcard, list, existence.
    assert_eq!(
        find_set(&srv, q(json!({"my-metadata": "tag-1-1"}))),
        expect(&|v| v == "Tag-1-1")
    );
    assert_eq!(
        find_set(&srv, q(json!({"my-metadata": "*-2"}))),
        expect(&|v| v.ends_with("-2"))
    );
    assert_eq!(
        find_set(&srv, q(json!({"my-metadata": "Tag-?-0"}))),
        expect(&|v| v.len() == 7 && v.ends_with("-0"))
    );
    assert_eq!(
        find_set(&srv, q(json!({"my-metadata": "Tag-0-0\\TAG-2-2"}))),
        expect(&|v| v == "Tag-0-0" || v == "Tag-2-2")
    );
    let with_value = find_set(&srv, q(json!({"my-metadata": "*"})));
    assert_eq!(with_value, expect(&|_| true));
    assert_eq!(with_value.len(), series.len() - 2);
    // An empty value constrains nothing.
    assert_eq!(
        find_set(&srv, q(json!({"my-metadata": ""}))).len(),
        series.len()
    );
    // CaseSensitive applies to metadata too.
    let mut sensitive = q(json!({"my-metadata": "tag-1-1"}));
    sensitive["CaseSensitive"] = json!(true);
    assert!(find_set(&srv, sensitive).is_empty());
    // A metadata nobody has matches nothing, even with `*`.
    assert!(find_set(&srv, q(json!({"other": "*"}))).is_empty());

    // ANDed with Query: only the CT series among those with a value ending in -0.
    let ct: BTreeSet<String> = ids_where(&corpus, "Series", |s| s.modality == "CT");
    let mut both = q(json!({"my-metadata": "*-0"}));
    both["Query"] = json!({"Modality": "CT"});
    let want: BTreeSet<String> = expect(&|v| v.ends_with("-0"))
        .intersection(&ct)
        .cloned()
        .collect();
    assert_eq!(find_set(&srv, both), want);

    // Core metadata, by name, at the instance level.
    let explicit_le = "1.2.840.10008.1.2.1";
    let mut by_syntax = json!({"Level": "Instance", "Query": {},
        "MetadataQuery": {"TransferSyntax": explicit_le}});
    assert_eq!(
        find_set(&srv, by_syntax.clone()),
        ids_where(&corpus, "Instance", |s| s.transfer_syntax == explicit_le)
    );
    // With Limit: a page of the same answer.
    by_syntax["Limit"] = json!(2);
    assert_eq!(find(&srv, by_syntax).as_array().unwrap().len(), 2);

    // Errors: unknown metadata name (404), non-string value and non-object (400).
    srv.post_json("/tools/find", &q(json!({"no-such-metadata": "x"})))
        .assert_orthanc_error(
            404,
            7,
            "Accessing an inexistent item",
            "POST",
            "/tools/find",
        );
    srv.post_json("/tools/find", &q(json!({"my-metadata": 3})))
        .assert_orthanc_error(400, 8, "Bad request", "POST", "/tools/find");
    srv.post_json("/tools/find", &q(json!(["my-metadata"])))
        .assert_orthanc_error(400, 8, "Bad request", "POST", "/tools/find");
}

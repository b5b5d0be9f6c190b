//! Reads: lists, resource JSON, parents/children, tags, content, frames, statistics,
//! modules, shared tags, /system, lookup, generate-uid and /changes.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use serde_json::{json, Map, Value};

fn loaded() -> (Server, Vec<Sample>) {
    let corpus = corpus();
    let srv = Server::start(json!({}));
    srv.upload_all(&corpus);
    (srv, corpus)
}

fn is_timestamp(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 15
        && s.as_bytes()[8] == b'T'
        && s.bytes()
            .enumerate()
            .all(|(i, c)| i == 8 || c.is_ascii_digit())
}

fn is_uuid(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == vec![8, 4, 4, 4, 12]
        && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

/// Removes `key` after checking it with `check`.
fn take(v: &mut Value, key: &str, check: fn(&Value) -> bool) {
    let x = v
        .as_object_mut()
        .unwrap()
        .remove(key)
        .unwrap_or_else(|| panic!("no {key}"));
    assert!(check(&x), "bad {key}: {x}");
}

fn sorted_array(v: &mut Value, key: &str) {
    if let Some(Value::Array(a)) = v.get_mut(key) {
        a.sort_by_key(|x| x.to_string());
    }
}

fn expected_patient(corpus: &[Sample], pid: &str) -> Value {
    let first = corpus.iter().find(|s| s.patient_id() == pid).unwrap();
    let studies: BTreeSet<String> = corpus
        .iter()
        .filter(|s| s.patient_id() == pid)
        .map(|s| s.study_id())
        .collect();
    json!({
        "ID": pid,
        "MainDicomTags": first.patient_main_tags(),
        "Studies": studies,
        "Type": "Patient",
    })
}

fn expected_study(corpus: &[Sample], id: &str) -> Value {
    let first = corpus.iter().find(|s| s.study_id() == id).unwrap();
    let series: BTreeSet<String> = corpus
        .iter()
        .filter(|s| s.study_id() == id)
        .map(|s| s.series_id())
        .collect();
    json!({
        "ID": id,
        "MainDicomTags": first.study_main_tags(),
        "ParentPatient": first.patient_id(),
        "PatientMainDicomTags": first.patient_main_tags(),
        "Series": series,
        "Type": "Study",
    })
}

fn expected_series(corpus: &[Sample], id: &str) -> Value {
    let first = corpus.iter().find(|s| s.series_id() == id).unwrap();
    let instances: BTreeSet<String> = corpus
        .iter()
        .filter(|s| s.series_id() == id)
        .map(|s| s.instance_id())
        .collect();
    json!({
        "ExpectedNumberOfInstances": null,
        "ID": id,
        "Instances": instances,
        "MainDicomTags": first.series_main_tags(),
        "ParentStudy": first.study_id(),
        "Status": "Unknown",
        "Type": "Series",
    })
}

fn expected_instance(s: &Sample) -> Value {
    json!({
        "FileSize": s.bytes.len(),
        "ID": s.instance_id(),
        "IndexInSeries": s.instance_number.parse::<u64>().unwrap(),
        "MainDicomTags": s.instance_main_tags(),
        "ParentSeries": s.series_id(),
        "Type": "Instance",
    })
}

/// Normalizes a resource answer: checks and drops the run-dependent fields, sorts children.
fn normalize(mut v: Value) -> Value {
    // Stowage also lists `Labels`, as Orthanc >= 1.12 does; none are set in these tests.
    let labels = v.as_object_mut().and_then(|o| o.remove("Labels"));
    assert_eq!(labels, Some(serde_json::json!([])), "Labels of {v}");
    let ty = v["Type"].as_str().unwrap_or("").to_owned();
    if ty == "Instance" {
        take(&mut v, "FileUuid", is_uuid);
    } else {
        take(&mut v, "LastUpdate", is_timestamp);
        take(&mut v, "IsStable", Value::is_boolean);
    }
    for k in ["Studies", "Series", "Instances"] {
        sorted_array(&mut v, k);
    }
    v
}

fn normalize_expected(mut v: Value) -> Value {
    for k in ["Studies", "Series", "Instances"] {
        sorted_array(&mut v, k);
    }
    v
}

#[test]
fn lists_expand_since_limit() {
    let (srv, corpus) = loaded();
    let e = expected(&corpus);
    for (level, ids) in [
        ("patients", &e.patients),
        ("studies", &e.studies),
        ("series", &e.series),
        ("instances", &e.instances),
    ] {
        let list = srv.get_json(&format!("/{level}"));
        assert_eq!(&strings(&list), ids, "/{level} in insertion order");
        let expanded = srv.get_json(&format!("/{level}?expand"));
        let got: Vec<String> = expanded
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["ID"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(&got, ids, "/{level}?expand");
        for o in expanded.as_array().unwrap() {
            let single = srv.get_json(&format!("/{level}/{}", o["ID"].as_str().unwrap()));
            assert_eq!(
                normalize(o.clone()),
                normalize(single),
                "/{level}?expand item"
            );
        }
        assert_eq!(
            strings(&srv.get_json(&format!("/{level}?since=0&limit=2"))),
            ids[..2].to_vec()
        );
        assert_eq!(
            strings(&srv.get_json(&format!("/{level}?since=2&limit=3"))),
            ids[2..5].to_vec()
        );
        let r = srv.get(&format!("/{level}?since=1"));
        r.assert_orthanc_error(400, 8, "Bad request", "GET", &format!("/{level}"));
        assert_eq!(
            r.json()["Details"],
            json!(format!(
                "Missing \"limit\" argument for GET request against: /{level}/"
            ))
        );
        assert_eq!(
            srv.get_json(&format!("/{level}?since=100&limit=5")),
            json!([]),
            "past the end"
        );
        let exp = srv.get_json(&format!("/{level}?since=1&limit=1&expand"));
        assert_eq!(exp.as_array().unwrap().len(), 1);
        assert_eq!(exp[0]["ID"], json!(ids[1]));

        let r = srv.get(&format!("/{level}?limit=1&expand"));
        r.assert_orthanc_error(400, 8, "Bad request", "GET", &format!("/{level}"));
        assert_eq!(
            r.json()["Details"],
            json!(format!(
                "Missing \"since\" argument for GET request against: /{level}/"
            ))
        );
        let r = srv.get(&format!("/{level}?limit=abc"));
        assert_eq!(r.status, 400, "{}", r.text());
    }
}

#[test]
fn resource_json_shapes() {
    let (srv, corpus) = loaded();
    let e = expected(&corpus);
    for id in &e.patients {
        let got = normalize(srv.get_json(&format!("/patients/{id}")));
        assert_eq!(got, normalize_expected(expected_patient(&corpus, id)));
    }
    for id in &e.studies {
        let got = normalize(srv.get_json(&format!("/studies/{id}")));
        assert_eq!(got, normalize_expected(expected_study(&corpus, id)));
    }
    for id in &e.series {
        let got = normalize(srv.get_json(&format!("/series/{id}")));
        assert_eq!(got, normalize_expected(expected_series(&corpus, id)));
    }
    for s in &corpus {
        let got = normalize(srv.get_json(&format!("/instances/{}", s.instance_id())));
        assert_eq!(got, expected_instance(s), "{}", s.name);
    }
    // The patient without PatientID: both files land in it, tags of the first one.
    let p = srv.get_json(&format!("/patients/{EMPTY_PATIENT_ID}"));
    assert_eq!(p["MainDicomTags"]["PatientID"], json!(""));
    assert_eq!(
        p["MainDicomTags"]["PatientName"],
        json!("NoPatientId^Empty")
    );
    assert_eq!(p["Studies"].as_array().unwrap().len(), 2);
    assert!(p.get("IsProtected").is_none(), "no IsProtected in 1.10.1");
}

#[test]
fn non_ascii_values_are_decoded_and_escaped() {
    let (srv, corpus) = loaded();
    let latin = by_name(&corpus, "latin1");
    let r = srv.get(&format!("/patients/{}", latin.patient_id()));
    assert!(r.body.is_ascii(), "JSON is escaped to pure ASCII");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        r.json()["MainDicomTags"]["PatientName"],
        json!("Müller^Jürgen")
    );
    let st = srv.get_json(&format!("/studies/{}", latin.study_id()));
    assert_eq!(
        st["MainDicomTags"]["StudyDescription"],
        json!("Schädel nativ")
    );
    assert_eq!(
        st["MainDicomTags"]["InstitutionName"],
        json!("Klinik Göttingen")
    );
    let tags = srv.get_json(&format!(
        "/instances/{}/simplified-tags",
        latin.instance_id()
    ));
    assert_eq!(tags["PatientName"], json!("Müller^Jürgen"));
    assert_eq!(tags["SpecificCharacterSet"], json!("ISO_IR 100"));

    let utf8 = by_name(&corpus, "utf8");
    let r = srv.get(&format!(
        "/instances/{}/simplified-tags",
        utf8.instance_id()
    ));
    assert!(r.body.is_ascii());
    let tags = r.json();
    assert_eq!(
        tags["PatientName"],
        json!("Yamada^Tarou=山田^太郎=やまだ^たろう")
    );
    assert_eq!(tags["StudyDescription"], json!("Μελέτη εγκεφάλου"));
    assert_eq!(tags["SeriesDescription"], json!("山田 series"));
    let se = srv.get_json(&format!("/series/{}", utf8.series_id()));
    assert_eq!(
        se["MainDicomTags"]["SeriesDescription"],
        json!("山田 series")
    );

    // /content returns the stored bytes, padding included.
    let raw = srv.get(&format!(
        "/instances/{}/content/0010-0010",
        latin.instance_id()
    ));
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("content-type"), Some("application/octet-stream"));
    let mut want = latin1("Müller^Jürgen");
    want.push(b' ');
    assert_eq!(raw.body, want);
    let raw = srv.get(&format!(
        "/instances/{}/content/0010-0010",
        utf8.instance_id()
    ));
    let mut want = utf8.patient_name.as_bytes().to_vec();
    if want.len() % 2 == 1 {
        want.push(b' ');
    }
    assert_eq!(raw.body, want);
}

#[test]
fn parents_and_children_routes() {
    let (srv, corpus) = loaded();
    let ct1 = by_name(&corpus, "ct1");
    let pat = srv.get_json(&format!("/patients/{}", ct1.patient_id()));
    let study = srv.get_json(&format!("/studies/{}", ct1.study_id()));
    let series = srv.get_json(&format!("/series/{}", ct1.series_id()));
    let inst = srv.get_json(&format!("/instances/{}", ct1.instance_id()));
    let iid = ct1.instance_id();
    let n = |v: Value| normalize(v);
    assert_eq!(
        n(srv.get_json(&format!("/instances/{iid}/patient"))),
        n(pat.clone())
    );
    assert_eq!(
        n(srv.get_json(&format!("/instances/{iid}/study"))),
        n(study.clone())
    );
    assert_eq!(
        n(srv.get_json(&format!("/instances/{iid}/series"))),
        n(series.clone())
    );
    let sid = ct1.series_id();
    assert_eq!(
        n(srv.get_json(&format!("/series/{sid}/study"))),
        n(study.clone())
    );
    assert_eq!(
        n(srv.get_json(&format!("/series/{sid}/patient"))),
        n(pat.clone())
    );
    let stid = ct1.study_id();
    assert_eq!(
        n(srv.get_json(&format!("/studies/{stid}/patient"))),
        n(pat.clone())
    );

    let ids = |v: Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|o| o["ID"].as_str().unwrap().to_owned())
            .collect()
    };
    let pid = ct1.patient_id();
    let of_patient: Vec<&Sample> = corpus.iter().filter(|s| s.patient_id() == pid).collect();
    assert_eq!(
        ids(srv.get_json(&format!("/patients/{pid}/studies"))),
        to_set(of_patient.iter().map(|s| s.study_id()))
    );
    assert_eq!(
        ids(srv.get_json(&format!("/patients/{pid}/series"))),
        to_set(of_patient.iter().map(|s| s.series_id()))
    );
    assert_eq!(
        ids(srv.get_json(&format!("/patients/{pid}/instances"))),
        to_set(of_patient.iter().map(|s| s.instance_id()))
    );
    let of_study = corpus.iter().filter(|s| s.study_id() == stid);
    assert_eq!(
        ids(srv.get_json(&format!("/studies/{stid}/instances"))),
        to_set(of_study.clone().map(|s| s.instance_id()))
    );
    assert_eq!(
        ids(srv.get_json(&format!("/studies/{stid}/series"))),
        to_set(of_study.map(|s| s.series_id()))
    );
    let children = srv.get_json(&format!("/series/{sid}/instances"));
    assert_eq!(
        ids(children.clone()),
        to_set(
            corpus
                .iter()
                .filter(|s| s.series_id() == sid)
                .map(|s| s.instance_id())
        )
    );
    // Children are expanded like GET /instances/{id}.
    let first = children
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["ID"] == json!(iid))
        .unwrap()
        .clone();
    assert_eq!(n(first), n(inst));
    // The fmt study has 5 series.
    let fmt = by_name(&corpus, "implicit");
    assert_eq!(
        srv.get_json(&format!("/studies/{}/series", fmt.study_id()))
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

fn ct1_simplified(s: &Sample) -> Value {
    json!({
        "SOPClassUID": CT_IMAGE,
        "SOPInstanceUID": s.sop_uid,
        "StudyDate": "20200315",
        "SeriesDate": "20200315",
        "StudyTime": "101500",
        "SeriesTime": "101500",
        "AccessionNumber": "ACC001",
        "Modality": "CT",
        "Manufacturer": "ACME Synthetic",
        "InstitutionName": "Test Hospital",
        "ReferringPhysicianName": "House^Gregory",
        "StudyDescription": "CT Chest",
        "SeriesDescription": "Axial 5mm",
        "PatientName": "Doe^John",
        "PatientID": "PAT001",
        "PatientBirthDate": "19700101",
        "PatientSex": "M",
        "StudyInstanceUID": s.study_uid,
        "SeriesInstanceUID": s.series_uid,
        "StudyID": "1",
        "SeriesNumber": "1",
        "InstanceNumber": s.instance_number,
        "SamplesPerPixel": "1",
        "PhotometricInterpretation": "MONOCHROME2",
        "Rows": "16",
        "Columns": "16",
        "BitsAllocated": "16",
        "BitsStored": "16",
        "HighBit": "15",
        "PixelRepresentation": "0",
        "WindowCenter": "40",
        "WindowWidth": "400",
        "PixelData": null,
    })
}

#[test]
fn tags_simplify_short_header() {
    let (srv, corpus) = loaded();
    let ct1 = by_name(&corpus, "ct1");
    let id = ct1.instance_id();
    let simplified = srv.get_json(&format!("/instances/{id}/simplified-tags"));
    assert_eq!(simplified, ct1_simplified(ct1));
    assert_eq!(
        srv.get_json(&format!("/instances/{id}/tags?simplify")),
        simplified
    );

    let tags = srv.get_json(&format!("/instances/{id}/tags"));
    let obj = tags.as_object().unwrap();
    assert_eq!(obj.len(), simplified.as_object().unwrap().len());
    assert_eq!(
        tags["0010,0010"],
        json!({"Name": "PatientName", "Type": "String", "Value": "Doe^John"})
    );
    assert_eq!(
        tags["0008,103e"],
        json!({"Name": "SeriesDescription", "Type": "String", "Value": "Axial 5mm"})
    );
    assert_eq!(
        tags["0028,0010"],
        json!({"Name": "Rows", "Type": "String", "Value": "16"})
    );
    assert_eq!(
        tags["7fe0,0010"],
        json!({"Name": "PixelData", "Type": "Null", "Value": null})
    );
    for (k, v) in obj {
        assert!(
            k.len() == 9
                && k.as_bytes()[4] == b','
                && k.chars()
                    .all(|c| c == ',' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "key {k}"
        );
        assert!(v["Name"].is_string() && v["Type"].is_string(), "{k}: {v}");
    }
    let short = srv.get_json(&format!("/instances/{id}/tags?short"));
    assert_eq!(short["0010,0020"], json!("PAT001"));
    assert_eq!(short["0020,000d"], json!(ct1.study_uid));
    assert_eq!(short["7fe0,0010"], json!(null));
    assert_eq!(short.as_object().unwrap().len(), obj.len());

    // Multi-valued and numeric values, other encodings.
    let mr = by_name(&corpus, "bigendian");
    let be = srv.get_json(&format!("/instances/{}/simplified-tags", mr.instance_id()));
    assert_eq!(be["Rows"], json!("8"));
    assert_eq!(be["BitsAllocated"], json!("16"));
    assert_eq!(be["PatientName"], json!("Formats^Test"));
    for name in ["implicit", "deflated", "jpeg", "multiframe"] {
        let s = by_name(&corpus, name);
        let v = srv.get_json(&format!("/instances/{}/simplified-tags", s.instance_id()));
        assert_eq!(v["SOPInstanceUID"], json!(s.sop_uid), "{name}");
        assert_eq!(v["SeriesDescription"], json!(name), "{name}");
        assert_eq!(v["PixelData"], json!(null), "{name}");
    }
    let mf = by_name(&corpus, "multiframe");
    let v = srv.get_json(&format!("/instances/{}/simplified-tags", mf.instance_id()));
    assert_eq!(v["NumberOfFrames"], json!("4"));

    // /header: the meta group.
    let header = srv.get_json(&format!("/instances/{id}/header"));
    let group_len = u32::from_le_bytes(ct1.bytes[140..144].try_into().unwrap());
    assert_eq!(
        header["0002,0000"],
        json!({"Name": "FileMetaInformationGroupLength", "Type": "String", "Value": group_len.to_string()})
    );
    assert_eq!(
        header["0002,0010"],
        json!({"Name": "TransferSyntaxUID", "Type": "String", "Value": "1.2.840.10008.1.2.1"})
    );
    assert_eq!(
        header["0002,0003"],
        json!({"Name": "MediaStorageSOPInstanceUID", "Type": "String", "Value": ct1.sop_uid})
    );
    assert_eq!(header["0002,0013"]["Value"], json!("STOWAGE"));
    let hs = srv.get_json(&format!("/instances/{id}/header?simplify"));
    assert_eq!(hs["TransferSyntaxUID"], json!("1.2.840.10008.1.2.1"));
    let jpeg = by_name(&corpus, "jpeg");
    let h = srv.get_json(&format!("/instances/{}/header", jpeg.instance_id()));
    assert_eq!(h["0002,0010"]["Value"], json!(JPEG_BASELINE));
}

#[test]
fn tags_of_sequences_private_and_long_values() {
    let (srv, corpus) = loaded();
    let s = by_name(&corpus, "sequences");
    let id = s.instance_id();
    let tags = srv.get_json(&format!("/instances/{id}/tags"));
    let item = |uid: String| {
        json!({
            "0008,1150": {"Name": "ReferencedSOPClassUID", "Type": "String", "Value": "1.2.840.10008.3.1.2.3.1"},
            "0008,1155": {"Name": "ReferencedSOPInstanceUID", "Type": "String", "Value": uid},
        })
    };
    assert_eq!(
        tags["0008,1110"],
        json!({
            "Name": "ReferencedStudySequence",
            "Type": "Sequence",
            "Value": [item(format!("{UID_ROOT}.6.9.1")), item(format!("{UID_ROOT}.6.9.2"))],
        })
    );
    assert_eq!(
        tags["0008,1120"],
        json!({"Name": "ReferencedPatientSequence", "Type": "Sequence", "Value": []})
    );
    assert_eq!(
        tags["0009,0010"],
        json!({"Name": "PrivateCreator", "Type": "String", "Value": "STOWAGE_TEST"})
    );
    assert_eq!(
        tags["0009,1001"],
        json!({"Name": "Unknown Tag & Data", "PrivateCreator": "STOWAGE_TEST", "Type": "String", "Value": "private text value"})
    );
    assert_eq!(
        tags["0009,1002"],
        json!({"Name": "Unknown Tag & Data", "PrivateCreator": "STOWAGE_TEST", "Type": "String", "Value": "42"})
    );
    assert_eq!(
        tags["0010,21b0"],
        json!({"Name": "AdditionalPatientHistory", "Type": "TooLong", "Value": null})
    );
    assert_eq!(
        tags["7fe0,0010"],
        json!({"Name": "PixelData", "Type": "Null", "Value": null})
    );
    let deepest = &tags["0040,0275"]["Value"][0]["0040,0008"]["Value"][0]["0040,0440"]["Value"][0];
    assert_eq!(
        deepest["0040,a160"],
        json!({"Name": "TextValue", "Type": "String", "Value": "deepest level"})
    );
    assert_eq!(
        tags["0040,0275"]["Value"][0]["0040,0009"],
        json!({"Name": "ScheduledProcedureStepID", "Type": "String", "Value": "SPS-1"})
    );

    let simple = srv.get_json(&format!("/instances/{id}/simplified-tags"));
    assert_eq!(simple["AdditionalPatientHistory"], json!(null));
    assert_eq!(simple["PixelData"], json!(null));
    assert_eq!(simple["ReferencedPatientSequence"], json!([]));
    assert_eq!(
        simple["ReferencedStudySequence"],
        json!([
            {"ReferencedSOPClassUID": "1.2.840.10008.3.1.2.3.1", "ReferencedSOPInstanceUID": format!("{UID_ROOT}.6.9.1")},
            {"ReferencedSOPClassUID": "1.2.840.10008.3.1.2.3.1", "ReferencedSOPInstanceUID": format!("{UID_ROOT}.6.9.2")},
        ])
    );
    assert_eq!(
        simple["RequestAttributesSequence"],
        json!([{
            "ScheduledProtocolCodeSequence": [{
                "CodeValue": "PROT-1",
                "CodingSchemeDesignator": "99ACME",
                "CodeMeaning": "Synthetic protocol",
                "ProtocolContextSequence": [{"ValueType": "TEXT", "TextValue": "deepest level"}],
            }],
            "ScheduledProcedureStepID": "SPS-1",
            "RequestedProcedureID": "RP-1",
        }])
    );
    let short = srv.get_json(&format!("/instances/{id}/tags?short"));
    assert_eq!(short["0010,21b0"], json!(null));
    assert_eq!(short["0008,1120"], json!([]));
    assert_eq!(short["0009,1001"], json!("private text value"));
    assert_eq!(
        short["0040,0275"][0]["0040,0008"][0]["0008,0100"],
        json!("PROT-1")
    );

    // Files without pixel data: the PDF's document is Null.
    let pdf = by_name(&corpus, "pdf");
    let t = srv.get_json(&format!("/instances/{}/tags", pdf.instance_id()));
    assert_eq!(t["0042,0011"]["Type"], json!("Null"));
    assert_eq!(t["0042,0011"]["Value"], json!(null));
    assert!(t.get("7fe0,0010").is_none());
}

#[test]
fn content_routes() {
    let (srv, corpus) = loaded();
    let ct1 = by_name(&corpus, "ct1");
    let id = ct1.instance_id();
    let list = srv.get_json(&format!("/instances/{id}/content"));
    let tags = srv.get_json(&format!("/instances/{id}/tags"));
    let want: Vec<String> = tags
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.replace(',', "-"))
        .collect();
    let mut got = strings(&list);
    got.sort();
    assert_eq!(got, want);
    assert!(got.contains(&"7fe0-0010".to_owned()));

    // Leaves: raw bytes with their padding.
    let r = srv.get(&format!("/instances/{id}/content/0010-0010"));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.body, b"Doe^John");
    let mut uid = ct1.study_uid.as_bytes().to_vec();
    if uid.len() % 2 == 1 {
        uid.push(0);
    }
    assert_eq!(
        srv.get(&format!("/instances/{id}/content/0020-000d")).body,
        uid
    );
    assert_eq!(
        srv.get(&format!("/instances/{id}/content/0028-1050")).body,
        b"40"
    );
    // Pixel data: one item for native data, its bytes are the pixels.
    assert_eq!(
        srv.get_json(&format!("/instances/{id}/content/7fe0-0010")),
        json!(["0"])
    );
    let px = srv.get(&format!("/instances/{id}/content/7fe0-0010/0"));
    assert_eq!(px.status, 200);
    assert!(px.body == ct1_pixels(), "native pixel data");
    // Absent tag: 404.
    assert_eq!(
        srv.get(&format!("/instances/{id}/content/0010-9999"))
            .status,
        404
    );

    // Encapsulated: Basic Offset Table then the fragment.
    let jpeg = by_name(&corpus, "jpeg");
    let jid = jpeg.instance_id();
    assert_eq!(
        srv.get_json(&format!("/instances/{jid}/content/7fe0-0010")),
        json!(["0", "1"])
    );
    assert_eq!(
        srv.get(&format!("/instances/{jid}/content/7fe0-0010/0"))
            .body,
        b""
    );
    assert!(
        srv.get(&format!("/instances/{jid}/content/7fe0-0010/1"))
            .body
            == fake_jpeg()
    );

    // Sequences: items, nested paths.
    let seq = by_name(&corpus, "sequences");
    let sid = seq.instance_id();
    assert_eq!(
        srv.get_json(&format!("/instances/{sid}/content/0040-0275")),
        json!(["0"])
    );
    assert_eq!(
        srv.get_json(&format!("/instances/{sid}/content/0008-1110")),
        json!(["0", "1"])
    );
    assert_eq!(
        srv.get_json(&format!("/instances/{sid}/content/0040-0275/0")),
        json!(["0040-0008", "0040-0009", "0040-1001"])
    );
    let leaf = srv.get(&format!(
        "/instances/{sid}/content/0040-0275/0/0040-0008/0/0008-0100"
    ));
    assert_eq!(leaf.status, 200);
    assert_eq!(leaf.body, b"PROT-1");
    let deep = srv.get(&format!(
        "/instances/{sid}/content/0040-0275/0/0040-0008/0/0040-0440/0/0040-a160"
    ));
    assert_eq!(deep.body, b"deepest level ");
    assert_eq!(
        srv.get(&format!("/instances/{sid}/content/0009-1001")).body,
        b"private text value"
    );
    assert_eq!(
        srv.get(&format!("/instances/{sid}/content/0010-21b0")).body,
        long_text().as_bytes()
    );
    let pdf = by_name(&corpus, "pdf");
    let mut doc = PDF_BYTES.to_vec();
    if doc.len() % 2 == 1 {
        doc.push(0);
    }
    assert_eq!(
        srv.get(&format!(
            "/instances/{}/content/0042-0011",
            pdf.instance_id()
        ))
        .body,
        doc
    );
}

#[test]
fn frames() {
    let (srv, corpus) = loaded();
    for s in &corpus {
        let f = srv.get_json(&format!("/instances/{}/frames", s.instance_id()));
        let want: Vec<u32> = (0..s.frames).collect();
        assert_eq!(f, json!(want), "{}: /frames", s.name);
    }
    let ct1 = by_name(&corpus, "ct1");
    let id = ct1.instance_id();
    let r = srv.get(&format!("/instances/{id}/frames/0/raw"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r.body == ct1_pixels());
    let r = srv.get(&format!("/instances/{id}/frames/1/raw"));
    r.assert_orthanc_error(
        400,
        3,
        "Parameter out of range",
        "GET",
        &format!("/instances/{id}/frames/1/raw"),
    );

    let mf = by_name(&corpus, "multiframe");
    let mid = mf.instance_id();
    let data: Vec<u8> = (0..4 * 4 * 4u32).map(|i| (i * 3) as u8).collect();
    for k in 0..4usize {
        let r = srv.get(&format!("/instances/{mid}/frames/{k}/raw"));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, data[k * 16..k * 16 + 16].to_vec(), "frame {k}");
    }
    assert_eq!(
        srv.get(&format!("/instances/{mid}/frames/4/raw")).status,
        400
    );

    let jpeg = by_name(&corpus, "jpeg");
    let r = srv.get(&format!("/instances/{}/frames/0/raw", jpeg.instance_id()));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    assert!(r.body == fake_jpeg());
}

#[test]
fn statistics_modules_shared_tags() {
    let (srv, corpus) = loaded();
    let ct1 = by_name(&corpus, "ct1");
    let size = |f: &dyn Fn(&Sample) -> bool| -> u64 {
        corpus
            .iter()
            .filter(|s| f(s))
            .map(|s| s.bytes.len() as u64)
            .sum()
    };
    let sizes = |n: u64| {
        json!({
            "DicomDiskSize": n.to_string(), "DicomDiskSizeMB": 0,
            "DicomUncompressedSize": n.to_string(), "DicomUncompressedSizeMB": 0,
            "DiskSize": n.to_string(), "DiskSizeMB": 0,
            "UncompressedSize": n.to_string(), "UncompressedSizeMB": 0,
        })
    };
    let merge = |mut a: Value, b: Value| {
        for (k, v) in b.as_object().unwrap() {
            a[k] = v.clone();
        }
        a
    };
    assert_eq!(
        srv.get_json(&format!("/instances/{}/statistics", ct1.instance_id())),
        sizes(ct1.bytes.len() as u64)
    );
    let sid = ct1.series_id();
    let n_series: Vec<&Sample> = corpus.iter().filter(|s| s.series_id() == sid).collect();
    assert_eq!(
        srv.get_json(&format!("/series/{sid}/statistics")),
        merge(
            sizes(size(&|s| s.series_id() == sid)),
            json!({"CountInstances": n_series.len()})
        )
    );
    let fmt = by_name(&corpus, "jpeg");
    let stid = fmt.study_id();
    assert_eq!(
        srv.get_json(&format!("/studies/{stid}/statistics")),
        merge(
            sizes(size(&|s| s.study_id() == stid)),
            json!({"CountInstances": 5, "CountSeries": 5})
        )
    );
    let pid = ct1.patient_id();
    assert_eq!(
        srv.get_json(&format!("/patients/{pid}/statistics")),
        merge(
            sizes(size(&|s| s.patient_id() == pid)),
            json!({"CountInstances": 5, "CountSeries": 2, "CountStudies": 2})
        )
    );
    let e = expected(&corpus);
    let total = total_size(&corpus).to_string();
    assert_eq!(
        srv.get_json("/statistics"),
        json!({
            "CountInstances": e.instances.len(), "CountPatients": e.patients.len(),
            "CountSeries": e.series.len(), "CountStudies": e.studies.len(),
            "TotalDiskSize": total, "TotalDiskSizeMB": 0,
            "TotalUncompressedSize": total, "TotalUncompressedSizeMB": 0,
        })
    );

    // Modules.
    let iid = ct1.instance_id();
    assert_eq!(
        srv.get_json(&format!("/instances/{iid}/module?simplify")),
        json!({"SOPClassUID": CT_IMAGE, "SOPInstanceUID": ct1.sop_uid, "InstanceNumber": "1"})
    );
    let m = srv.get_json(&format!("/instances/{iid}/module"));
    assert_eq!(
        m["0020,0013"],
        json!({"Name": "InstanceNumber", "Type": "String", "Value": "1"})
    );
    assert_eq!(
        srv.get_json(&format!("/series/{sid}/module?simplify")),
        json!({
            "Modality": "CT", "SeriesDate": "20200315", "SeriesDescription": "Axial 5mm",
            "SeriesInstanceUID": ct1.series_uid, "SeriesNumber": "1", "SeriesTime": "101500",
        })
    );
    let ct_study = ct1.study_id();
    assert_eq!(
        srv.get_json(&format!("/studies/{ct_study}/module?simplify")),
        json!({
            "AccessionNumber": "ACC001", "ReferringPhysicianName": "House^Gregory",
            "StudyDate": "20200315", "StudyDescription": "CT Chest", "StudyID": "1",
            "StudyInstanceUID": ct1.study_uid, "StudyTime": "101500",
        })
    );
    let patient_module = json!({
        "PatientBirthDate": "19700101", "PatientID": "PAT001", "PatientName": "Doe^John", "PatientSex": "M",
    });
    assert_eq!(
        srv.get_json(&format!("/studies/{ct_study}/module-patient?simplify")),
        patient_module
    );
    assert_eq!(
        srv.get_json(&format!("/patients/{pid}/module?simplify")),
        patient_module
    );

    // Shared tags of the CT series: everything but what differs between instances.
    let mut shared = ct1_simplified(ct1);
    for k in ["SOPInstanceUID", "InstanceNumber", "PixelData"] {
        shared.as_object_mut().unwrap().remove(k);
    }
    assert_eq!(
        srv.get_json(&format!("/series/{sid}/shared-tags?simplify")),
        shared
    );
    let full = srv.get_json(&format!("/series/{sid}/shared-tags"));
    assert_eq!(
        full["0010,0010"],
        json!({"Name": "PatientName", "Type": "String", "Value": "Doe^John"})
    );
    assert!(full.get("0008,0018").is_none());

    // instances-tags: one simplified-tags object per instance.
    let it = srv.get_json(&format!("/series/{sid}/instances-tags?simplify"));
    let mut expected_it = Map::new();
    for s in &n_series {
        expected_it.insert(
            s.instance_id(),
            srv.get_json(&format!("/instances/{}/simplified-tags", s.instance_id())),
        );
    }
    assert_eq!(it, Value::Object(expected_it));
    let it = srv.get_json(&format!("/studies/{ct_study}/instances-tags"));
    assert_eq!(it.as_object().unwrap().len(), 3);
    assert_eq!(it[&iid]["0008,0018"]["Value"], json!(ct1.sop_uid));
}

#[test]
fn instance_metadata_of_rest_uploads() {
    let (srv, corpus) = loaded();
    for s in &corpus {
        let m = srv.get_json(&format!("/instances/{}/metadata?expand", s.instance_id()));
        let mut m = m.as_object().unwrap().clone();
        let reception = m.remove("ReceptionDate").expect("ReceptionDate");
        assert!(is_timestamp(&reception), "{reception}");
        let mut want = json!({
            "HttpUsername": "",
            "IndexInSeries": s.instance_number,
            "Origin": "RestApi",
            "RemoteAET": "",
            "RemoteIP": "127.0.0.1",
            "SopClassUid": s.sop_class,
            "TransferSyntax": s.transfer_syntax,
        });
        if s.has_pixels && s.name != "deflated" {
            let marker: &[u8] = if s.transfer_syntax == "1.2.840.10008.1.2.2" {
                &[0x7f, 0xe0, 0x00, 0x10]
            } else {
                &[0xe0, 0x7f, 0x10, 0x00]
            };
            let offset = s.bytes.windows(4).rposition(|w| w == marker).unwrap();
            want["PixelDataOffset"] = json!(offset.to_string());
        }
        assert_eq!(Value::Object(m), want, "{}", s.name);
    }
    let ct1 = by_name(&corpus, "ct1");
    let r = srv.get(&format!(
        "/instances/{}/metadata/TransferSyntax",
        ct1.instance_id()
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.text(), "1.2.840.10008.1.2.1");
    let r = srv.get(&format!(
        "/instances/{}/metadata/CalledAET",
        ct1.instance_id()
    ));
    assert_eq!(r.status, 404);
    assert_eq!(r.body, b"");
}

#[test]
fn system_lookup_generate_uid() {
    let srv = Server::start(json!({}));
    let sys = srv.get_json("/system");
    let keys: BTreeSet<&str> = sys
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    // Orthanc's keys must all be there (Stowage may add its own).
    assert!(
        keys.is_superset(
            &[
                "ApiVersion",
                "CheckRevisions",
                "DatabaseBackendPlugin",
                "DatabaseVersion",
                "DicomAet",
                "DicomPort",
                "HttpPort",
                "IsHttpServerSecure",
                "Name",
                "PluginsEnabled",
                "StorageAreaPlugin",
                "Version",
            ]
            .into_iter()
            .collect()
        ),
        "{keys:?}"
    );
    assert_eq!(sys["Version"], json!("1.10.1"));
    assert_eq!(sys["ApiVersion"], json!(16));
    assert_eq!(sys["DatabaseVersion"], json!(6));
    assert_eq!(sys["Name"], json!("StowageTest"));
    assert_eq!(sys["DicomAet"], json!("ORTHANC"));
    assert_eq!(sys["DicomPort"], json!(4242));
    assert_eq!(sys["HttpPort"], json!(srv.port));
    assert_eq!(sys["CheckRevisions"], json!(false));
    assert_eq!(sys["IsHttpServerSecure"], json!(false));
    assert_eq!(sys["DatabaseBackendPlugin"], json!(null));
    assert_eq!(sys["StorageAreaPlugin"], json!(null));
    assert!(sys["PluginsEnabled"].is_boolean());

    // Empty server.
    assert_eq!(srv.get_json("/patients"), json!([]));
    assert_eq!(
        srv.get_json("/statistics"),
        json!({
            "CountInstances": 0, "CountPatients": 0, "CountSeries": 0, "CountStudies": 0,
            "TotalDiskSize": "0", "TotalDiskSizeMB": 0,
            "TotalUncompressedSize": "0", "TotalUncompressedSizeMB": 0,
        })
    );
    assert_eq!(
        srv.get_json("/changes"),
        json!({"Changes": [], "Done": true, "Last": 0})
    );

    let corpus = corpus();
    srv.upload_all(&corpus);
    let ct1 = by_name(&corpus, "ct1");
    let lookup = |body: &str| {
        let r = srv.post("/tools/lookup", body.as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };
    let one = |id: String, ty: &str, coll: &str| json!([{"ID": id, "Path": format!("/{coll}/{id}"), "Type": ty}]);
    assert_eq!(
        lookup("PAT001"),
        one(ct1.patient_id(), "Patient", "patients")
    );
    assert_eq!(
        lookup(&ct1.study_uid),
        one(ct1.study_id(), "Study", "studies")
    );
    assert_eq!(
        lookup(&ct1.series_uid),
        one(ct1.series_id(), "Series", "series")
    );
    assert_eq!(
        lookup(&ct1.sop_uid),
        one(ct1.instance_id(), "Instance", "instances")
    );
    assert_eq!(lookup("1.2.3.4.5.6.7"), json!([]));

    let mut seen = BTreeSet::new();
    for level in ["patient", "study", "series", "instance"] {
        let r = srv.get(&format!("/tools/generate-uid?level={level}"));
        assert_eq!(r.status, 200);
        let uid = r.text();
        assert!(
            !uid.is_empty()
                && uid.len() <= 64
                && uid.chars().all(|c| c == '.' || c.is_ascii_digit())
                && !uid.starts_with('.')
                && !uid.contains(".."),
            "bad UID {uid:?}"
        );
        assert!(seen.insert(uid), "UIDs are unique");
    }
    assert_eq!(srv.get("/tools/generate-uid?level=foo").status, 400);
}

/// The New* changes that uploading `corpus` in order must log.
fn expected_new_changes(corpus: &[Sample]) -> Vec<(String, String, String)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for s in corpus {
        out.push(("NewInstance".into(), "Instance".into(), s.instance_id()));
        for (ty, level, id) in [
            ("NewSeries", "Series", s.series_id()),
            ("NewStudy", "Study", s.study_id()),
            ("NewPatient", "Patient", s.patient_id()),
        ] {
            if seen.insert(id.clone()) {
                out.push((ty.into(), level.into(), id));
            }
        }
    }
    out
}

fn collection(level: &str) -> &'static str {
    match level {
        "Patient" => "patients",
        "Study" => "studies",
        "Series" => "series",
        _ => "instances",
    }
}

#[test]
fn changes_log() {
    let (srv, corpus) = loaded();
    srv.wait_stable(Duration::from_secs(15));
    // Let the last Stable* be logged.
    std::thread::sleep(Duration::from_millis(300));
    let all = srv.get_json("/changes?since=0&limit=1000");
    assert_eq!(all["Done"], json!(true));
    let changes = all["Changes"].as_array().unwrap().clone();
    let e = expected(&corpus);
    let n_new = e.instances.len() + e.series.len() + e.studies.len() + e.patients.len();
    let n_stable = e.series.len() + e.studies.len() + e.patients.len();
    assert_eq!(changes.len(), n_new + n_stable, "{all}");

    // Seq strictly increasing, entry shape.
    let mut last = 0;
    for c in &changes {
        let seq = c["Seq"].as_i64().unwrap();
        assert!(seq > last);
        last = seq;
        assert!(is_timestamp(&c["Date"]), "{c}");
        let id = c["ID"].as_str().unwrap();
        let level = c["ResourceType"].as_str().unwrap();
        assert_eq!(c["Path"], json!(format!("/{}/{id}", collection(level))));
        assert_eq!(c.as_object().unwrap().len(), 6, "{c}");
    }
    assert_eq!(all["Last"], json!(last));

    // The New* events, in order.
    let news: Vec<(String, String, String)> = changes
        .iter()
        .filter(|c| c["ChangeType"].as_str().unwrap().starts_with("New"))
        .map(|c| {
            (
                c["ChangeType"].as_str().unwrap().to_owned(),
                c["ResourceType"].as_str().unwrap().to_owned(),
                c["ID"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(news, expected_new_changes(&corpus));
    // The very first upload's four changes are Seq 1..4.
    assert_eq!(changes[0]["Seq"], json!(1));
    assert_eq!(changes[3]["ChangeType"], json!("NewPatient"));

    // One Stable* per series, study and patient, after its New*.
    for (ty, ids) in [
        ("StableSeries", &e.series),
        ("StableStudy", &e.studies),
        ("StablePatient", &e.patients),
    ] {
        let got: Vec<String> = changes
            .iter()
            .filter(|c| c["ChangeType"] == json!(ty))
            .map(|c| c["ID"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(to_set(got.clone()), to_set(ids.iter().cloned()), "{ty}");
        assert_eq!(got.len(), ids.len(), "{ty} once each");
    }
    for level in ["patients", "studies", "series"] {
        for o in srv
            .get_json(&format!("/{level}?expand"))
            .as_array()
            .unwrap()
        {
            assert_eq!(o["IsStable"], json!(true));
        }
    }

    // since / limit / last.
    let five = srv.get_json("/changes?limit=5");
    assert_eq!(five["Changes"], json!(changes[..5]));
    assert_eq!(five["Done"], json!(false));
    assert_eq!(five["Last"], changes[4]["Seq"]);
    let s3 = srv.get_json("/changes?since=3&limit=3");
    assert_eq!(s3["Changes"], json!(changes[3..6]));
    assert_eq!(s3["Last"], changes[5]["Seq"]);
    assert_eq!(s3["Done"], json!(false));
    let lastc = srv.get_json("/changes?last");
    assert_eq!(lastc["Changes"], json!([changes.last().unwrap()]));
    assert_eq!(lastc["Done"], json!(true));
    assert_eq!(lastc["Last"], json!(last));
    let default = srv.get_json("/changes");
    assert_eq!(default["Changes"], json!(changes), "default limit is 100");
    let past = srv.get_json(&format!("/changes?since={last}&limit=10"));
    assert_eq!(past["Changes"], json!([]));
    assert_eq!(past["Done"], json!(true));
    assert_eq!(past["Last"], json!(last));

    // DELETE /changes empties the log; numbering goes on.
    let r = srv.delete("/changes");
    assert_eq!(r.status, 200);
    let empty = srv.get_json("/changes");
    assert_eq!(empty["Changes"], json!([]));
    assert_eq!(empty["Done"], json!(true));
    let extra = extra_instance("PAT-AFTER", "60.1", "1", "1");
    srv.upload(&extra.bytes);
    let after = srv.get_json("/changes");
    let after = after["Changes"].as_array().unwrap();
    assert_eq!(after.len(), 4);
    assert_eq!(after[0]["ChangeType"], json!("NewInstance"));
    assert_eq!(after[0]["ID"], json!(extra.instance_id()));
    assert!(
        after[0]["Seq"].as_i64().unwrap() > last,
        "Seq is never reused"
    );
}

/// One instance of a generated series for `ordered-slices`: optional position (z), orientation
/// (axial) and InstanceNumber, and a number of frames.
fn slice_instance(
    series: &str,
    k: usize,
    z: Option<f64>,
    number: Option<i64>,
    frames: Option<u32>,
) -> Vec<u8> {
    use stowage_dicom::writer::{DicomBuilder, TransferSyntax};
    let uid = |s: &str| format!("1.2.826.0.1.3680043.8.498.77.{s}");
    let mut b = DicomBuilder::new(TransferSyntax::ExplicitVrLittleEndian)
        .sop("1.2.840.10008.5.1.4.1.1.2", &uid(&format!("{series}.{k}")))
        .string(t(0x0010, 0x0010), "PN", "Slices^Test")
        .string(t(0x0010, 0x0020), "LO", "SLICES")
        .string(t(0x0020, 0x000d), "UI", &uid("1"))
        .string(t(0x0020, 0x000e), "UI", &uid(series))
        .string(t(0x0008, 0x0060), "CS", "CT");
    if let Some(z) = z {
        b = b
            .string(t(0x0020, 0x0032), "DS", &format!("-100\\-120\\{z}"))
            .string(t(0x0020, 0x0037), "DS", "1\\0\\0\\0\\1\\0");
    }
    if let Some(n) = number {
        b = b.string(t(0x0020, 0x0013), "IS", &n.to_string());
    }
    if let Some(f) = frames {
        b = b.string(t(0x0028, 0x0008), "IS", &f.to_string());
    }
    b.build()
}

/// `/series/{id}/ordered-slices`: by position along the normal (a volume), else by
/// InstanceNumber, else Orthanc's error; frames listed one by one.
#[test]
fn ordered_slices() {
    let srv = Server::start(json!({}));
    let upload = |bytes: Vec<u8>| {
        let a = srv.upload(&bytes);
        (
            a["ID"].as_str().unwrap().to_owned(),
            a["ParentSeries"].as_str().unwrap().to_owned(),
        )
    };
    // A volume sent out of order, with InstanceNumbers that disagree with the positions (the
    // positions win), one instance with 3 frames.
    let zs = [12.5, -7.5, 2.5, -2.5];
    let mut ids = Vec::new();
    let mut series = String::new();
    for (k, z) in zs.iter().enumerate() {
        let frames = (k == 2).then_some(3);
        let (id, s) = upload(slice_instance("1", k, Some(*z), Some(k as i64 + 1), frames));
        ids.push((*z, id, frames.unwrap_or(1)));
        series = s;
    }
    ids.sort_by(|a, b| a.0.total_cmp(&b.0));
    let v = srv.get_json(&format!("/series/{series}/ordered-slices"));
    assert_eq!(v["Type"], json!("Volume"));
    let expected_files: Vec<Value> = ids
        .iter()
        .map(|(_, id, _)| json!(format!("/instances/{id}/file")))
        .collect();
    assert_eq!(v["Dicom"], Value::Array(expected_files));
    let expected_short: Vec<Value> = ids.iter().map(|(_, id, f)| json!([id, 0, f])).collect();
    assert_eq!(v["SlicesShort"], Value::Array(expected_short));
    let expected_frames: Vec<Value> = ids
        .iter()
        .flat_map(|(_, id, f)| (0..*f).map(move |k| json!(format!("/instances/{id}/frames/{k}"))))
        .collect();
    assert_eq!(v["Slices"], Value::Array(expected_frames));
    assert_eq!(v["Slices"].as_array().unwrap().len(), 6);

    // No positions: by InstanceNumber.
    let mut numbered = Vec::new();
    for (k, n) in [30, 10, 20].into_iter().enumerate() {
        let (id, s) = upload(slice_instance("2", k, None, Some(n), None));
        numbered.push((n, id));
        series = s;
    }
    numbered.sort();
    let v = srv.get_json(&format!("/series/{series}/ordered-slices"));
    assert_eq!(v["Type"], json!("Sorted"));
    let order: Vec<Value> = numbered
        .iter()
        .map(|(_, id)| json!(format!("/instances/{id}/file")))
        .collect();
    assert_eq!(v["Dicom"], Value::Array(order));

    // Neither: Orthanc's error. And not a series: 404.
    let (_, s) = upload(slice_instance("3", 0, None, None, None));
    let r = srv.get(&format!("/series/{s}/ordered-slices"));
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.json()["OrthancStatus"], json!(2040));
    assert_eq!(srv.get("/series/nope/ordered-slices").status, 404);
}

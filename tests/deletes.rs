//! DELETE on every level: RemainingAncestor, 404 afterwards, files removed, counts.

mod common;

use common::*;
use serde_json::{json, Value};

fn ancestor(id: &str, coll: &str, ty: &str) -> Value {
    json!({"RemainingAncestor": {"ID": id, "Path": format!("/{coll}/{id}"), "Type": ty}})
}

fn delete_ok(srv: &Server, path: &str) -> Value {
    let r = srv.delete(path);
    assert_eq!(r.status, 200, "DELETE {path}: {}", r.text());
    r.json()
}

fn assert_gone(srv: &Server, path: &str) {
    let r = srv.get(path);
    assert_eq!(r.status, 404, "GET {path} after delete: {}", r.text());
    assert!(r.body.is_empty(), "404 for an unknown ID has an empty body");
}

#[test]
fn deletes_on_every_level() {
    let corpus = corpus();
    let srv = Server::start(json!({}));
    srv.upload_all(&corpus);
    let mut remaining: Vec<Sample> = corpus.clone();
    let changes_before = srv.get_json("/changes?since=0&limit=1000")["Last"].clone();

    // An instance of a 2-instance series: the series remains.
    let cr2 = by_name(&corpus, "cr2");
    assert_eq!(
        delete_ok(&srv, &format!("/instances/{}", cr2.instance_id())),
        ancestor(&cr2.series_id(), "series", "Series")
    );
    assert_gone(&srv, &format!("/instances/{}", cr2.instance_id()));
    assert_gone(&srv, &format!("/instances/{}/file", cr2.instance_id()));
    remaining.retain(|s| s.name != "cr2");
    let series = srv.get_json(&format!("/series/{}", cr2.series_id()));
    assert_eq!(
        series["Instances"],
        json!([by_name(&corpus, "cr1").instance_id()])
    );

    // The only instance of a series, in a study with other series: the study remains.
    let jpeg = by_name(&corpus, "jpeg");
    assert_eq!(
        delete_ok(&srv, &format!("/instances/{}", jpeg.instance_id())),
        ancestor(&jpeg.study_id(), "studies", "Study")
    );
    assert_gone(&srv, &format!("/series/{}", jpeg.series_id()));
    remaining.retain(|s| s.name != "jpeg");

    // A series of a study with other series: the study remains.
    let implicit = by_name(&corpus, "implicit");
    assert_eq!(
        delete_ok(&srv, &format!("/series/{}", implicit.series_id())),
        ancestor(&implicit.study_id(), "studies", "Study")
    );
    assert_gone(&srv, &format!("/series/{}", implicit.series_id()));
    assert_gone(&srv, &format!("/instances/{}", implicit.instance_id()));
    remaining.retain(|s| s.name != "implicit");
    assert_eq!(
        srv.get_json(&format!("/studies/{}", implicit.study_id()))["Series"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // The only series of a study: the study goes, the patient remains.
    let mr1 = by_name(&corpus, "mr1");
    assert_eq!(
        delete_ok(&srv, &format!("/series/{}", mr1.series_id())),
        ancestor(&mr1.patient_id(), "patients", "Patient")
    );
    assert_gone(&srv, &format!("/studies/{}", mr1.study_id()));
    remaining.retain(|s| s.study_id() != mr1.study_id());
    assert_eq!(
        srv.get_json(&format!("/patients/{}", mr1.patient_id()))["Studies"],
        json!([by_name(&corpus, "ct1").study_id()])
    );

    // A patient: nothing remains above it.
    let cr1 = by_name(&corpus, "cr1");
    let path = format!("/patients/{}", cr1.patient_id());
    assert_eq!(delete_ok(&srv, &path), json!({"RemainingAncestor": null}));
    assert_gone(&srv, &path);
    assert_gone(&srv, &format!("/studies/{}", cr1.study_id()));
    assert_gone(&srv, &format!("/instances/{}", cr1.instance_id()));
    let again = srv.delete(&path);
    assert_eq!(again.status, 404);
    assert!(again.body.is_empty());
    remaining.retain(|s| s.patient_id() != cr1.patient_id());

    // The only study of a patient: the patient goes too.
    let pdf = by_name(&corpus, "pdf");
    assert_eq!(
        delete_ok(&srv, &format!("/studies/{}", pdf.study_id())),
        json!({"RemainingAncestor": null})
    );
    assert_gone(&srv, &format!("/patients/{}", pdf.patient_id()));
    assert_gone(
        &srv,
        &format!("/series/{}", by_name(&corpus, "sr").series_id()),
    );
    remaining.retain(|s| s.patient_id() != pdf.patient_id());

    // The only instance of a patient: RemainingAncestor null.
    let seq = by_name(&corpus, "sequences");
    assert_eq!(
        delete_ok(&srv, &format!("/instances/{}", seq.instance_id())),
        json!({"RemainingAncestor": null})
    );
    assert_gone(&srv, &format!("/patients/{}", seq.patient_id()));
    remaining.retain(|s| s.name != "sequences");

    // Repeated deletes and unknown IDs.
    for path in [
        format!("/instances/{}", cr2.instance_id()),
        format!("/series/{}", implicit.series_id()),
        format!("/studies/{}", pdf.study_id()),
        "/studies/nonexistent".to_owned(),
    ] {
        let r = srv.delete(&path);
        assert_eq!(r.status, 404, "DELETE {path}");
        assert!(r.body.is_empty(), "DELETE {path}: {}", r.text());
    }

    // Counts, lists and files match what remains.
    let e = expected(&remaining);
    let stats = srv.get_json("/statistics");
    let total = total_size(&remaining).to_string();
    assert_eq!(
        stats,
        json!({
            "CountInstances": e.instances.len(), "CountPatients": e.patients.len(),
            "CountSeries": e.series.len(), "CountStudies": e.studies.len(),
            "TotalDiskSize": total, "TotalDiskSizeMB": 0,
            "TotalUncompressedSize": total, "TotalUncompressedSizeMB": 0,
        })
    );
    assert_eq!(strings(&srv.get_json("/patients")), e.patients);
    assert_eq!(strings(&srv.get_json("/studies")), e.studies);
    assert_eq!(strings(&srv.get_json("/series")), e.series);
    assert_eq!(strings(&srv.get_json("/instances")), e.instances);
    assert_eq!(
        srv.storage_files().len(),
        remaining.len(),
        "deleted files are removed from disk: {:?}",
        srv.storage_files()
    );
    for s in &remaining {
        let f = srv.get(&format!("/instances/{}/file", s.instance_id()));
        assert!(f.body == s.bytes, "{}", s.name);
    }
    // Deletions log no change in 1.10.1.
    // (Stable* events may arrive meanwhile: StableAge is 1 s.)
    let after = srv.get_json(&format!(
        "/changes?since={}&limit=1000",
        changes_before.as_i64().unwrap()
    ));
    for c in after["Changes"].as_array().unwrap() {
        assert!(
            c["ChangeType"].as_str().unwrap().starts_with("Stable"),
            "deletions log nothing: {c}"
        );
    }
    // A deleted instance can be stored again.
    let a = srv.upload(&cr2.bytes);
    assert_eq!(a["Status"], "Success");
    assert_eq!(a["ID"], cr2.instance_id());
}

#[test]
fn delete_everything_leaves_empty_server() {
    let corpus = corpus();
    let srv = Server::start(json!({}));
    srv.upload_all(&corpus);
    for p in strings(&srv.get_json("/patients")) {
        assert_eq!(
            delete_ok(&srv, &format!("/patients/{p}")),
            json!({"RemainingAncestor": null})
        );
    }
    for level in ["patients", "studies", "series", "instances"] {
        assert_eq!(srv.get_json(&format!("/{level}")), json!([]));
    }
    let stats = srv.get_json("/statistics");
    assert_eq!(stats["CountInstances"], json!(0));
    assert_eq!(stats["TotalDiskSize"], json!("0"));
    assert!(srv.storage_files().is_empty(), "{:?}", srv.storage_files());
}

#[test]
fn protection_and_patient_recycling() {
    let srv = Server::start(json!({"MaximumPatientCount": 2}));
    let a = extra_instance("REC-A", "80.1", "1", "1");
    let b = extra_instance("REC-B", "80.2", "1", "1");
    let c = extra_instance("REC-C", "80.3", "1", "1");
    let d = extra_instance("REC-D", "80.4", "1", "1");
    srv.upload(&a.bytes);
    srv.upload(&b.bytes);
    let prot = format!("/patients/{}/protected", a.patient_id());
    let r = srv.get(&prot);
    assert_eq!((r.status, r.text()), (200, "0".to_owned()));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let r = srv.request("PUT", &prot, Some(b"1"));
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(srv.get(&prot).text(), "1");
    assert!(srv
        .get_json(&format!("/patients/{}", a.patient_id()))
        .get("IsProtected")
        .is_none());
    let r = srv.request("PUT", &prot, Some(b"yes"));
    assert_eq!(r.status, 400);
    assert_eq!(srv.get(&prot).text(), "1");
    let r = srv.request(
        "PUT",
        &format!("/studies/{}/protected", a.study_id()),
        Some(b"1"),
    );
    assert_eq!(r.status, 404);

    // A third patient: B, the oldest unprotected one, is recycled.
    srv.upload(&c.bytes);
    assert_eq!(
        to_set(strings(&srv.get_json("/patients"))),
        to_set([a.patient_id(), c.patient_id()])
    );
    assert_gone(&srv, &format!("/instances/{}", b.instance_id()));
    assert_eq!(srv.storage_files().len(), 2);

    // Unprotected again ("false"): like Orthanc's SQLite index, unprotecting puts A at the
    // end of the recycling order, so C is the next victim.
    assert_eq!(srv.request("PUT", &prot, Some(b"false")).status, 200);
    assert_eq!(srv.get(&prot).text(), "0");
    srv.upload(&d.bytes);
    assert_eq!(
        to_set(strings(&srv.get_json("/patients"))),
        to_set([a.patient_id(), d.patient_id()])
    );
    assert_eq!(srv.storage_files().len(), 2);
    assert_eq!(srv.get_json("/statistics")["CountPatients"], json!(2));
}

//! Archives (ZIP), media (DICOMDIR), create-archive, streaming memory use, bulk delete and
//! bulk content.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use stowage_dicom::TagsFormat;

/// Entries of a ZIP: name -> bytes.
fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).expect("valid ZIP");
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        assert!(
            out.insert(f.name().to_owned(), data).is_none(),
            "duplicate entry {}",
            f.name()
        );
    }
    out
}

fn sorted_bytes<'a>(it: impl IntoIterator<Item = &'a Vec<u8>>) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = it.into_iter().cloned().collect();
    v.sort();
    v
}

fn the_biggest_study(corpus: &[Sample]) -> (String, Vec<&Sample>) {
    group_by(corpus, |s| s.study_id())
        .into_iter()
        .max_by_key(|(_, v)| v.len())
        .unwrap()
}

#[test]
fn study_archive_contains_exactly_its_instances() {
    let srv = Server::start(json!({}));
    let corpus = corpus();
    srv.upload_all(&corpus);
    let (study, samples) = the_biggest_study(&corpus);
    assert!(samples.len() >= 2);

    let r = srv.get(&format!("/studies/{study}/archive"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/zip"));
    let entries = unzip(&r.body);
    assert_eq!(entries.len(), samples.len());
    assert_eq!(
        sorted_bytes(entries.values()),
        sorted_bytes(samples.iter().map(|s| &s.bytes))
    );
    // Patient/Study/Series/file.dcm, one patient and study folder.
    let mut top = BTreeSet::new();
    for name in entries.keys() {
        let parts: Vec<&str> = name.split('/').collect();
        assert_eq!(parts.len(), 4, "{name}");
        assert!(name.ends_with(".dcm"), "{name}");
        top.insert(format!("{}/{}", parts[0], parts[1]));
    }
    assert_eq!(top.len(), 1, "{top:?}");
    let p = samples[0].pid().to_owned();
    assert!(top.iter().next().unwrap().starts_with(&p), "{top:?}");

    // The same through POST, and stable names.
    let r2 = srv.post_json(&format!("/studies/{study}/archive"), &json!({}));
    assert_eq!(r2.status, 200);
    let entries2 = unzip(&r2.body);
    assert_eq!(
        entries.keys().collect::<Vec<_>>(),
        entries2.keys().collect::<Vec<_>>()
    );

    // Patient and series levels.
    let patient = samples[0].patient_id();
    let of_patient: Vec<&Sample> = corpus
        .iter()
        .filter(|s| s.patient_id() == patient)
        .collect();
    let r = srv.get(&format!("/patients/{patient}/archive"));
    assert_eq!(r.status, 200);
    assert_eq!(
        sorted_bytes(unzip(&r.body).values()),
        sorted_bytes(of_patient.iter().map(|s| &s.bytes))
    );
    let series = samples[0].series_id();
    let r = srv.get(&format!("/series/{series}/archive"));
    assert_eq!(r.status, 200);
    let n = corpus.iter().filter(|s| s.series_id() == series).count();
    assert_eq!(unzip(&r.body).len(), n);

    // Unknown resources, wrong level, bad bodies.
    assert_eq!(srv.get("/studies/nope/archive").status, 404);
    assert_eq!(srv.get(&format!("/studies/{patient}/archive")).status, 404);
    assert_eq!(
        srv.post(&format!("/studies/{study}/archive"), b"{not json")
            .status,
        400
    );
    assert_eq!(
        srv.post_json(
            &format!("/studies/{study}/archive"),
            &json!({"Synchronous": 3})
        )
        .status,
        400
    );
}

fn element<'a>(item: &'a Value, tag: &str) -> &'a Value {
    &item[tag]["Value"]
}

#[test]
fn media_has_a_dicomdir_referencing_every_file() {
    let srv = Server::start(json!({}));
    let corpus = corpus();
    srv.upload_all(&corpus);
    let patient = corpus[0].patient_id();
    let of_patient: Vec<&Sample> = corpus
        .iter()
        .filter(|s| s.patient_id() == patient)
        .collect();

    for r in [
        srv.get(&format!("/patients/{patient}/media")),
        srv.post_json("/tools/create-media", &json!({"Resources": [patient]})),
    ] {
        assert_eq!(r.status, 200, "{}", r.text());
        let entries = unzip(&r.body);
        let dicomdir = entries.get("DICOMDIR").expect("DICOMDIR");
        let images: BTreeMap<&String, &Vec<u8>> =
            entries.iter().filter(|(k, _)| *k != "DICOMDIR").collect();
        assert_eq!(images.len(), of_patient.len());
        assert!(
            images.keys().all(|k| k.starts_with("IMAGES/IM")),
            "{images:?}"
        );
        assert_eq!(
            sorted_bytes(images.values().copied()),
            sorted_bytes(of_patient.iter().map(|s| &s.bytes))
        );

        let parsed = stowage_dicom::parse(dicomdir).expect("DICOMDIR parses");
        let tags = parsed.tags_json(TagsFormat::Full);
        let records = element(&tags, "0004,1220").as_array().expect("records");
        let kinds: Vec<&str> = records
            .iter()
            .map(|r| element(r, "0004,1430").as_str().unwrap())
            .collect();
        assert_eq!(kinds[0], "PATIENT", "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| **k == "PATIENT").count(), 1);
        let studies = to_set(of_patient.iter().map(|s| s.study_uid.clone()));
        assert_eq!(
            kinds.iter().filter(|k| **k == "STUDY").count(),
            studies.len()
        );
        let mut referenced = BTreeSet::new();
        for r in records
            .iter()
            .filter(|r| element(r, "0004,1430") == "IMAGE")
        {
            let file = element(r, "0004,1500").as_str().unwrap().replace('\\', "/");
            let sop = element(r, "0004,1511").as_str().unwrap();
            let bytes = entries.get(&file).unwrap_or_else(|| panic!("{file}"));
            let s = of_patient
                .iter()
                .find(|s| s.sop_uid == sop)
                .expect("known SOP");
            assert_eq!(&s.bytes, bytes, "{file}");
            referenced.insert(file);
        }
        assert_eq!(referenced.len(), images.len());
        // The root offset points at the first record (an item tag).
        let first = element(&tags, "0004,1200");
        let first: usize = match first {
            Value::String(s) => s.trim().parse().unwrap(),
            Value::Number(n) => n.as_u64().unwrap() as usize,
            other => panic!("{other}"),
        };
        let item_at = |offset: usize| {
            assert_eq!(
                &dicomdir[offset..offset + 4],
                &[0xfe, 0xff, 0x00, 0xe0],
                "offset {offset}"
            );
        };
        item_at(first);
        // Every link between records points at a record.
        let number = |v: &Value| -> usize {
            match v {
                Value::String(s) => s.trim().parse().unwrap(),
                Value::Number(n) => n.as_u64().unwrap() as usize,
                other => panic!("{other}"),
            }
        };
        for r in records {
            for tag in ["0004,1400", "0004,1420"] {
                let offset = number(element(r, tag));
                if offset != 0 {
                    item_at(offset);
                }
            }
        }
    }
}

#[test]
fn create_archive_of_several_resources() {
    let srv = Server::start(json!({}));
    let corpus = corpus();
    srv.upload_all(&corpus);
    let e = expected(&corpus);
    let patient = e.patients[0].clone();
    let other_series = corpus
        .iter()
        .find(|s| s.patient_id() != patient)
        .unwrap()
        .series_id();
    let instance = corpus
        .iter()
        .find(|s| s.patient_id() != patient && s.series_id() != other_series)
        .unwrap();
    let want: Vec<&Sample> = corpus
        .iter()
        .filter(|s| {
            s.patient_id() == patient
                || s.series_id() == other_series
                || s.instance_id() == instance.instance_id()
        })
        .collect();
    let r = srv.post_json(
        "/tools/create-archive",
        &json!({"Resources": [patient, other_series, instance.instance_id(), patient]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let entries = unzip(&r.body);
    assert_eq!(
        sorted_bytes(entries.values()),
        sorted_bytes(want.iter().map(|s| &s.bytes))
    );

    let r = srv.post_json("/tools/create-archive", &json!({"Resources": ["nope"]}));
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json()["OrthancStatus"], 17);
    let r = srv.post_json("/tools/create-archive", &json!({"Resources": "x"}));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["HttpStatus"], 400);
    assert_eq!(srv.post("/tools/create-archive", b"[").status, 400);
}

fn vm_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn large_archive_streams_in_constant_memory() {
    let srv = Server::start(json!({}));
    const N: usize = 1000;
    let mut study = String::new();
    let mut total = 0u64;
    for i in 0..N {
        let s = sized_instance("BIGSTUDY", "4242", i, 100);
        total += s.bytes.len() as u64;
        study = s.study_id();
        srv.upload(&s.bytes);
    }
    // Warm up the streaming path (threads, buffers).
    let warm = srv.get(&format!(
        "/series/{}/archive",
        sized_instance("BIGSTUDY", "4242", 0, 100).series_id()
    ));
    assert_eq!(warm.status, 200);
    let pid = srv.pid();
    let before = vm_rss_kb(pid);

    let resp = ureq::get(&srv.url(&format!("/studies/{study}/archive")))
        .timeout(Duration::from_secs(300))
        .call()
        .expect("archive");
    assert_eq!(resp.header("Content-Type"), Some("application/zip"));
    let mut reader = resp.into_reader();
    let mut body = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut peak = before;
    let mut chunks = 0;
    let started = Instant::now();
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
        chunks += 1;
        if chunks % 8 == 0 {
            peak = peak.max(vm_rss_kb(pid));
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let growth = peak.saturating_sub(before) * 1024;
    eprintln!(
        "archive {} bytes ({} MB of DICOM) in {:?}; RSS {} kB -> peak {} kB (growth {} bytes)",
        body.len(),
        total / (1024 * 1024),
        started.elapsed(),
        before,
        peak,
        growth
    );
    assert!(body.len() as u64 > total);
    assert!(
        growth < body.len() as u64 / 2,
        "RSS grew by {growth} bytes for an archive of {} bytes",
        body.len()
    );
    let entries = unzip(&body);
    assert_eq!(entries.len(), N);
}

#[test]
fn bulk_delete_removes_everything_listed() {
    let srv = Server::start(json!({}));
    let corpus = corpus();
    srv.upload_all(&corpus);
    let e = expected(&corpus);
    let files_before = srv.storage_files().len();
    assert_eq!(files_before, corpus.len());

    let patient = e.patients[0].clone();
    let study = corpus
        .iter()
        .find(|s| s.patient_id() != patient)
        .unwrap()
        .study_id();
    let instance = corpus
        .iter()
        .find(|s| s.patient_id() != patient && s.study_id() != study)
        .unwrap()
        .instance_id();
    let gone: Vec<&Sample> = corpus
        .iter()
        .filter(|s| {
            s.patient_id() == patient || s.study_id() == study || s.instance_id() == instance
        })
        .collect();
    let r = srv.post_json(
        "/tools/bulk-delete",
        &json!({"Resources": [patient, study, instance, "unknown-id"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(srv.get(&format!("/patients/{patient}")).status, 404);
    assert_eq!(srv.get(&format!("/studies/{study}")).status, 404);
    assert_eq!(srv.get(&format!("/instances/{instance}")).status, 404);
    for s in &gone {
        assert_eq!(
            srv.get(&format!("/instances/{}", s.instance_id())).status,
            404
        );
    }
    let remaining = set_of(&srv.get_json("/instances"));
    assert_eq!(remaining.len(), corpus.len() - gone.len());
    assert_eq!(srv.storage_files().len(), remaining.len());

    // As a job.
    let rest: Vec<String> = remaining.iter().cloned().collect();
    let r = srv.post_json(
        "/tools/bulk-delete",
        &json!({"Resources": rest, "Asynchronous": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let job = r.json()["ID"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = srv.get_json(&format!("/jobs/{job}"));
        if j["State"] == "Success" {
            assert_eq!(j["Type"], "BulkDelete");
            break;
        }
        assert!(j["State"] != "Failure", "{j}");
        assert!(Instant::now() < deadline, "{j}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(srv.get_json("/instances"), json!([]));
    assert_eq!(srv.get_json("/patients"), json!([]));
    assert!(srv.storage_files().is_empty());

    assert_eq!(srv.post_json("/tools/bulk-delete", &json!({})).status, 400);
    assert_eq!(srv.post("/tools/bulk-delete", b"nope").status, 400);
}

#[test]
fn bulk_content_describes_resources() {
    let srv = Server::start(json!({}));
    let corpus = corpus();
    srv.upload_all(&corpus);
    let (study, samples) = the_biggest_study(&corpus);
    let instance = samples[0].instance_id();

    let r = srv.post_json(
        "/tools/bulk-content",
        &json!({"Resources": [study, instance]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let a = r.json();
    let a = a.as_array().unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[0]["ID"], json!(study));
    assert_eq!(a[0]["Type"], "Study");
    assert_eq!(
        a[0]["MainDicomTags"]["StudyInstanceUID"],
        json!(samples[0].study_uid)
    );
    assert!(a[0]["Metadata"].is_object(), "{}", a[0]);
    assert_eq!(a[1]["ID"], json!(instance));
    assert_eq!(a[1]["Type"], "Instance");
    assert!(a[1]["Metadata"]["TransferSyntax"].is_string() || a[1]["Metadata"].is_object());

    // Down to the instances, and up to the patient.
    let r = srv.post_json(
        "/tools/bulk-content",
        &json!({"Resources": [study], "Level": "Instance", "Metadata": false}),
    );
    let ids: BTreeSet<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert!(v.get("Metadata").is_none());
            v["ID"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids, to_set(samples.iter().map(|s| s.instance_id())));
    let r = srv.post_json(
        "/tools/bulk-content",
        &json!({"Resources": [instance, study], "Level": "Patient"}),
    );
    let a = r.json();
    assert_eq!(a.as_array().unwrap().len(), 1);
    assert_eq!(a[0]["ID"], json!(samples[0].patient_id()));

    assert_eq!(
        srv.post_json(
            "/tools/bulk-content",
            &json!({"Resources": [study], "Level": "Nope"})
        )
        .status,
        400
    );
}

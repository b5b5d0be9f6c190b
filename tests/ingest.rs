//! Ingest: upload answers, exact IDs, byte-identical files, ZIP uploads, broken inputs,
//! OverwriteInstances and StorageCompression.

mod common;

use std::io::Write;

use common::*;
use serde_json::{json, Value};
use stowage_dicom::writer::{DicomBuilder, TransferSyntax};

fn check_upload_answer(a: &Value, s: &Sample, status: &str) {
    let id = s.instance_id();
    assert_eq!(
        a,
        &json!({
            "ID": id,
            "ParentPatient": s.patient_id(),
            "ParentStudy": s.study_id(),
            "ParentSeries": s.series_id(),
            "Path": format!("/instances/{id}"),
            "Status": status,
        }),
        "{}",
        s.name
    );
}

#[test]
fn upload_gives_exact_ids_and_files_come_back_identical() {
    let corpus = corpus();
    let srv = Server::start(json!({}));
    for s in &corpus {
        let r = srv.post("/instances", &s.bytes);
        assert_eq!(r.status, 200, "{}: {}", s.name, r.text());
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("application/json"),
            "{:?}",
            r.headers
        );
        check_upload_answer(&r.json(), s, "Success");
    }
    // Formula-independent fact from Orthanc: empty and absent PatientID hash as "".
    assert_eq!(
        by_name(&corpus, "noid-empty").patient_id(),
        EMPTY_PATIENT_ID
    );
    assert_eq!(
        by_name(&corpus, "noid-absent").patient_id(),
        EMPTY_PATIENT_ID
    );

    // A second upload of the same file.
    let ct1 = by_name(&corpus, "ct1");
    let again = srv.upload(&ct1.bytes);
    check_upload_answer(&again, ct1, "AlreadyStored");

    // Files are returned byte-identical, whatever the transfer syntax.
    for s in &corpus {
        let r = srv.get(&format!("/instances/{}/file", s.instance_id()));
        assert_eq!(r.status, 200, "{}", s.name);
        assert_eq!(
            r.header("content-type"),
            Some("application/dicom"),
            "{}",
            s.name
        );
        assert!(
            r.body == s.bytes,
            "{} ({}): file differs ({} vs {} bytes)",
            s.name,
            s.transfer_syntax,
            r.body.len(),
            s.bytes.len()
        );
    }

    let e = expected(&corpus);
    let stats = srv.get_json("/statistics");
    assert_eq!(stats["CountPatients"], json!(e.patients.len()), "{stats}");
    assert_eq!(stats["CountStudies"], json!(e.studies.len()), "{stats}");
    assert_eq!(stats["CountSeries"], json!(e.series.len()), "{stats}");
    assert_eq!(stats["CountInstances"], json!(e.instances.len()), "{stats}");
    assert_eq!(
        stats["TotalDiskSize"],
        json!(total_size(&corpus).to_string())
    );
    assert_eq!(
        stats["TotalUncompressedSize"],
        json!(total_size(&corpus).to_string())
    );
    assert_eq!(stats["TotalDiskSizeMB"], json!(0));
    // One file per instance in the storage area (the repeated upload added none).
    assert_eq!(srv.storage_files().len(), corpus.len());
    // 8 patients, 10 studies, 15 series, 19 instances in the corpus.
    assert_eq!(
        (
            e.patients.len(),
            e.studies.len(),
            e.series.len(),
            e.instances.len()
        ),
        (8, 10, 15, 19)
    );
}

fn make_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.add_directory("dir/", opts).unwrap();
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn zip_upload_stores_every_dicom_file() {
    let corpus = corpus();
    let srv = Server::start(json!({}));
    let picked: Vec<&Sample> = ["ct1", "mr2", "deflated", "utf8", "pdf"]
        .iter()
        .map(|n| by_name(&corpus, n))
        .collect();
    let entries: Vec<(String, &[u8])> = picked
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("dir/{i}-{}.dcm", s.name), s.bytes.as_slice()))
        .collect();
    let mut refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    refs.push(("README.txt", b"not a dicom file"));
    let zip = make_zip(&refs);
    let r = srv.post("/instances", &zip);
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    let answers = answer.as_array().expect("an array of upload answers");
    assert_eq!(answers.len(), picked.len(), "{answer}");
    for (a, s) in answers.iter().zip(&picked) {
        check_upload_answer(a, s, "Success");
    }
    assert_eq!(
        set_of(&srv.get_json("/instances")),
        to_set(picked.iter().map(|s| s.instance_id()))
    );
    for s in &picked {
        let f = srv.get(&format!("/instances/{}/file", s.instance_id()));
        assert!(f.body == s.bytes, "{}", s.name);
    }
    // The same archive again: everything AlreadyStored.
    let again = srv.post("/instances", &zip).json();
    for (a, s) in again.as_array().unwrap().iter().zip(&picked) {
        check_upload_answer(a, s, "AlreadyStored");
    }
    assert_eq!(srv.storage_files().len(), picked.len());
}

/// A valid file, then the same cut inside a string value of its header.
fn truncated_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let good = DicomBuilder::new(TransferSyntax::ExplicitVrLittleEndian)
        .sop(CT_IMAGE, "1.2.3.4.5.6.1")
        .string(
            t(0x0008, 0x1030),
            "LO",
            "A rather long study description value",
        )
        .string(t(0x0010, 0x0020), "LO", "BAD1")
        .string(t(0x0020, 0x000d), "UI", "1.2.3.4.5.6")
        .string(t(0x0020, 0x000e), "UI", "1.2.3.4.5.6.7")
        .pixel_data_native(32, 32, 16, 1, 1, vec![7u8; 2048])
        .build();
    let needle = b"A rather long";
    let pos = good
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let truncated_header = good[..pos + 10].to_vec();
    let truncated_pixels = good[..good.len() - 1024].to_vec();
    let no_sop = DicomBuilder::new(TransferSyntax::ExplicitVrLittleEndian)
        .string(t(0x0008, 0x0016), "UI", CT_IMAGE)
        .string(t(0x0010, 0x0020), "LO", "BAD2")
        .string(t(0x0020, 0x000d), "UI", "1.2.3.4.5.6")
        .string(t(0x0020, 0x000e), "UI", "1.2.3.4.5.6.7")
        .build();
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    png.extend_from_slice(&[0u8; 64]);
    vec![
        (
            "not dicom text",
            b"this is not a DICOM file at all\n".to_vec(),
        ),
        ("not dicom png", png),
        ("truncated in header", truncated_header),
        ("truncated in pixel data", truncated_pixels),
        ("missing SOPInstanceUID", no_sop),
        ("preamble only", {
            let mut v = vec![0u8; 128];
            v.extend_from_slice(b"DICM");
            v
        }),
    ]
}

#[test]
fn broken_inputs_are_rejected_without_side_effects() {
    let corpus = corpus();
    let srv = Server::start(json!({}));
    // Some valid content first, so that "unchanged" means something.
    srv.upload_all(&corpus[..3]);
    let stats_before = srv.get_json("/statistics");
    let changes_before = srv.get_json("/changes?since=0&limit=1000");
    let files_before = srv.storage_files();
    assert_eq!(files_before.len(), 3);

    for (what, bytes) in truncated_inputs() {
        let r = srv.post("/instances", &bytes);
        r.assert_orthanc_error(400, 15, "Bad file format", "POST", "/instances");
        assert_eq!(
            r.header("content-type"),
            None,
            "{what}: error JSON has no Content-Type"
        );
        let j = r.json();
        if what != "missing SOPInstanceUID" {
            assert_eq!(
                j["Details"],
                json!(format!(
                    "Cannot parse an invalid DICOM file (size: {} bytes)",
                    bytes.len()
                )),
                "{what}"
            );
        }
    }
    // An empty body.
    let r = srv.post("/instances", b"");
    r.assert_orthanc_error(400, 15, "Bad file format", "POST", "/instances");
    assert_eq!(r.json()["Details"], json!("Received an empty DICOM file"));
    // A corrupt ZIP archive (right magic, garbage after).
    let mut bad_zip = b"PK\x03\x04".to_vec();
    bad_zip.extend_from_slice(&[0xAB; 40]);
    let r = srv.post("/instances", &bad_zip);
    assert_eq!(r.status, 400, "corrupt zip: {}", r.text());

    assert_eq!(srv.get_json("/statistics"), stats_before);
    assert_eq!(
        srv.get_json("/changes?since=0&limit=1000")["Changes"],
        changes_before["Changes"]
    );
    assert_eq!(srv.storage_files(), files_before, "no file left behind");
    assert_eq!(srv.get_json("/instances").as_array().unwrap().len(), 3);
}

#[test]
fn overwrite_instances() {
    let a = extra_instance("OVR", "50.1", "1", "1");
    // Same UIDs, different content.
    let mut b_bytes = a.bytes.clone();
    let n = b_bytes.len();
    for x in &mut b_bytes[n - 16..] {
        *x ^= 0x5A;
    }
    assert_ne!(a.bytes, b_bytes);

    // OverwriteInstances false (the default): the first file stays.
    let srv = Server::start(json!({}));
    srv.upload(&a.bytes);
    let r = srv.upload(&b_bytes);
    assert_eq!(r["Status"], "AlreadyStored");
    assert_eq!(r["ID"], a.instance_id());
    let f = srv.get(&format!("/instances/{}/file", a.instance_id()));
    assert!(
        f.body == a.bytes,
        "without OverwriteInstances the first file stays"
    );
    assert_eq!(srv.storage_files().len(), 1);
    drop(srv);

    // OverwriteInstances true: the second file replaces the first.
    let srv = Server::start(json!({"OverwriteInstances": true}));
    srv.upload(&a.bytes);
    let r = srv.upload(&b_bytes);
    assert_eq!(r["ID"], a.instance_id());
    assert_eq!(
        r["Status"], "Success",
        "Orthanc answers Success on overwrite"
    );
    let f = srv.get(&format!("/instances/{}/file", a.instance_id()));
    assert!(f.body == b_bytes, "the new file replaces the old one");
    let stats = srv.get_json("/statistics");
    assert_eq!(stats["CountInstances"], json!(1));
    assert_eq!(stats["TotalDiskSize"], json!(b_bytes.len().to_string()));
    assert_eq!(
        srv.storage_files().len(),
        1,
        "the old file is removed: {:?}",
        srv.storage_files()
    );
}

#[test]
fn storage_compression_keeps_files_identical() {
    let corpus = corpus();
    let srv = Server::start(json!({"StorageCompression": true}));
    let big = big_compressible("PAT-BIG");
    let mut all = vec![big.clone()];
    all.extend(corpus.iter().filter(|s| s.name.starts_with("ct")).cloned());
    all.push(by_name(&corpus, "deflated").clone());
    srv.upload_all(&all);
    for s in &all {
        let f = srv.get(&format!("/instances/{}/file", s.instance_id()));
        assert_eq!(f.status, 200);
        assert!(
            f.body == s.bytes,
            "{}: compressed storage changed the bytes",
            s.name
        );
    }
    let stats = srv.get_json("/statistics");
    let disk = size_field(&stats["TotalDiskSize"]);
    let uncompressed = size_field(&stats["TotalUncompressedSize"]);
    assert_eq!(uncompressed, total_size(&all), "{stats}");
    assert!(disk < uncompressed, "{stats}");
    // On disk, the big file is much smaller than its DICOM size.
    let on_disk: u64 = srv
        .storage_files()
        .iter()
        .map(|p| srv.read_stored(p).len() as u64)
        .sum();
    assert!(on_disk < uncompressed / 2, "{on_disk} vs {uncompressed}");
    let inst = srv.get_json(&format!("/instances/{}", big.instance_id()));
    assert_eq!(
        inst["FileSize"],
        json!(big.bytes.len()),
        "FileSize is the DICOM size"
    );
}

/// When the storage area cannot take a file, the upload fails with Orthanc's error and the
/// index is left as it was: the writer thread, which records the instance while the file is
/// being written, must roll back. Filesystem only (the failure is made by blocking the
/// storage folder's first level with plain files).
#[test]
fn a_file_that_cannot_be_written_leaves_the_index_unchanged() {
    let corpus = corpus();
    let srv = Server::start(json!({}));
    if !srv.on_filesystem() {
        eprintln!("filesystem-only test: skipped on S3 storage");
        return;
    }
    srv.upload_all(&corpus[..2]);
    let stats_before = srv.get_json("/statistics");
    let changes_before = srv.get_json("/changes?since=0&limit=1000");
    let files_before = srv.storage_files();

    // Every first-level folder name (`00`..`ff`) not yet a folder becomes a file: new files
    // whose folder is missing cannot be created. (Root ignores permissions, not this.)
    let mut blockers = Vec::new();
    for b in 0..=255u8 {
        let p = srv.storage_dir.join(format!("{b:02x}"));
        if !p.exists() {
            std::fs::write(&p, b"not a folder").unwrap();
            blockers.push(p);
        }
    }
    // Existing first-level folders: block their second level the same way.
    for dir in std::fs::read_dir(&srv.storage_dir).unwrap().flatten() {
        let path = dir.path();
        let is_level1 = path.is_dir()
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.len() == 2);
        if is_level1 {
            for b in 0..=255u8 {
                let p = path.join(format!("{b:02x}"));
                if !p.exists() {
                    std::fs::write(&p, b"not a folder").unwrap();
                    blockers.push(p);
                }
            }
        }
    }
    // ... and the existing second-level folders (those of stored files, and those the server
    // prepared for its next files) become read-only in the only way root respects: they are
    // replaced by files for the duration of the test.
    let mut moved = Vec::new();
    for first in std::fs::read_dir(&srv.storage_dir).unwrap().flatten() {
        if !first.path().is_dir() {
            continue;
        }
        for second in std::fs::read_dir(first.path()).unwrap().flatten() {
            let dir = second.path();
            let is_level2 = dir.is_dir()
                && dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.len() == 2);
            if is_level2 {
                let aside = dir.with_extension("aside");
                std::fs::rename(&dir, &aside).unwrap();
                std::fs::write(&dir, b"not a folder").unwrap();
                moved.push((dir, aside));
            }
        }
    }

    for s in &corpus[2..5] {
        let r = srv.post("/instances", &s.bytes);
        assert_eq!(r.status, 500, "{}", r.text());
        let j = r.json();
        assert_eq!(j["OrthancError"], json!("Cannot write to file"), "{j}");
        assert_eq!(j["Method"], json!("POST"));
    }
    assert_eq!(srv.get_json("/statistics"), stats_before);
    assert_eq!(
        srv.get_json("/changes?since=0&limit=1000")["Changes"],
        changes_before["Changes"]
    );

    for p in &blockers {
        std::fs::remove_file(p).unwrap();
    }
    for (dir, aside) in &moved {
        std::fs::remove_file(dir).unwrap();
        std::fs::rename(aside, dir).unwrap();
    }
    assert_eq!(srv.storage_files(), files_before, "no file left behind");
    // The same uploads now succeed.
    for s in &corpus[2..5] {
        assert_eq!(srv.upload(&s.bytes)["Status"], json!("Success"));
    }
    assert_eq!(srv.get_json("/instances").as_array().unwrap().len(), 5);
}

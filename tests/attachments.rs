//! User attachments: sizes and MD5s, compression on demand (`compress` / `uncompress`) with
//! Orthanc's stored layout, `verify-md5`, a corrupt stored file, and what users may not touch.

mod common;

use common::{burst_instance, Server};
use serde_json::json;

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn compression_and_integrity() {
    let srv = Server::start(json!({}));
    let sample = burst_instance(3);
    srv.upload(&sample.bytes);
    let base = format!("/instances/{}/attachments/1026", sample.instance_id());
    let content: Vec<u8> = b"compressible content ".repeat(500);

    assert_eq!(srv.request("PUT", &base, Some(&content)).status, 200);
    assert_eq!(
        srv.get(&format!("{base}/size")).text(),
        content.len().to_string()
    );
    assert_eq!(srv.get(&format!("{base}/md5")).text(), md5_hex(&content));
    assert_eq!(srv.get(&format!("{base}/is-compressed")).text(), "0");

    assert_eq!(
        srv.request("POST", &format!("{base}/compress"), Some(b""))
            .status,
        200
    );
    assert_eq!(srv.get(&format!("{base}/is-compressed")).text(), "1");
    let compressed_size: usize = srv
        .get(&format!("{base}/compressed-size"))
        .text()
        .parse()
        .unwrap();
    assert!(compressed_size < content.len() / 10, "{compressed_size}");
    assert_eq!(
        srv.get(&format!("{base}/data")).body,
        content,
        "transparent to clients"
    );
    assert_eq!(srv.get(&format!("{base}/md5")).text(), md5_hex(&content));
    // Orthanc's layout: the uncompressed size (u64, little endian), then a zlib stream.
    let raw = srv.get(&format!("{base}/compressed-data")).body;
    assert_eq!(raw.len(), compressed_size);
    assert_eq!(&raw[..8], &(content.len() as u64).to_le_bytes());
    assert_eq!(raw[8], 0x78, "zlib header");
    assert_eq!(
        srv.get(&format!("{base}/compressed-md5")).text(),
        md5_hex(&raw)
    );
    assert_eq!(
        srv.request("POST", &format!("{base}/verify-md5"), Some(b""))
            .status,
        200
    );

    assert_eq!(
        srv.request("POST", &format!("{base}/uncompress"), Some(b""))
            .status,
        200
    );
    assert_eq!(srv.get(&format!("{base}/is-compressed")).text(), "0");
    assert_eq!(srv.get(&format!("{base}/data")).body, content);
    // One file for the instance, one for the attachment: replaced files were removed.
    assert_eq!(srv.storage_files().len(), 2);

    // Corrupt the stored attachment: a clear error, and the server stays up.
    assert_eq!(
        srv.request("POST", &format!("{base}/compress"), Some(b""))
            .status,
        200
    );
    let info = srv.get_json(&format!("{base}/info"));
    let uuid = info["Uuid"].as_str().unwrap().to_owned();
    let path = srv
        .storage_files()
        .into_iter()
        .find(|p| p.ends_with(&uuid))
        .expect("stored file");
    let mut bytes = srv.read_stored(&path);
    let last = bytes.len() - 1;
    bytes[20..last].iter_mut().for_each(|b| *b = !*b);
    srv.write_stored(&path, &bytes);
    let r = srv.get(&format!("{base}/data"));
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(
        r.json()["OrthancStatus"],
        json!(20),
        "CorruptedFile: {}",
        r.text()
    );
    assert_eq!(
        srv.request("POST", &format!("{base}/verify-md5"), Some(b""))
            .status,
        500
    );
    assert_eq!(srv.get("/system").status, 200);
}

#[test]
fn forbidden_and_unknown() {
    let srv = Server::start(json!({ "UserContentType": { "report": [1027, "application/pdf"] } }));
    let sample = burst_instance(4);
    srv.upload(&sample.bytes);
    let id = sample.instance_id();

    // A named user attachment keeps its MIME type.
    let r = srv.request(
        "PUT",
        &format!("/instances/{id}/attachments/report"),
        Some(b"%PDF-1.4"),
    );
    assert_eq!(r.status, 200);
    let data = srv.get(&format!("/instances/{id}/attachments/report/data"));
    assert_eq!(data.header("Content-Type"), Some("application/pdf"));
    assert_eq!(
        srv.get_json(&format!("/instances/{id}/attachments?full")),
        json!({"dicom": 1, "report": 1027})
    );

    // Core attachments are not the user's to replace or delete.
    assert_eq!(
        srv.request(
            "PUT",
            &format!("/instances/{id}/attachments/dicom"),
            Some(b"x")
        )
        .status,
        403
    );
    assert_eq!(
        srv.request(
            "DELETE",
            &format!("/instances/{id}/attachments/dicom"),
            None
        )
        .status,
        403
    );
    // Unknown names, absent attachments and missing resources.
    let unknown = srv.get(&format!("/instances/{id}/attachments/nonexistent"));
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["OrthancStatus"], json!(7));
    assert_eq!(
        srv.get(&format!("/instances/{id}/attachments/1040/data"))
            .status,
        404
    );
    assert_eq!(
        srv.request("PUT", "/instances/nonexistent/attachments/1040", Some(b"x"))
            .status,
        404
    );
    assert_eq!(srv.storage_files().len(), 2, "a refused PUT leaves no file");
}

#[test]
fn bodies_beyond_the_configured_limit_are_refused() {
    let srv = Server::start(json!({ "MaximumUploadSize": 1 }));
    let sample = burst_instance(5);
    srv.upload(&sample.bytes);
    let big = vec![7u8; 1024 * 1024 + 1];
    let r = srv.request(
        "PUT",
        &format!("/instances/{}/attachments/1031", sample.instance_id()),
        Some(&big),
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["HttpStatus"], json!(413));
    let upload = srv.post("/instances", &big);
    assert_eq!(upload.status, 413);
    assert_eq!(srv.storage_files().len(), 1, "nothing stored");
    assert_eq!(srv.get_json("/statistics")["CountInstances"], json!(1));
    // Within the limit, all is well.
    let small = vec![7u8; 1000];
    let ok = srv.request(
        "PUT",
        &format!("/instances/{}/attachments/1031", sample.instance_id()),
        Some(&small),
    );
    assert_eq!(ok.status, 200);
}

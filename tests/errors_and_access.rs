//! Error answers (unknown routes and IDs, wrong methods), answer compression and HTTP
//! Basic authentication.

mod common;

use std::io::Read;

use common::*;
use serde_json::json;

#[test]
fn error_answers() {
    let corpus = corpus();
    let srv = Server::start(json!({}));
    let ct1 = by_name(&corpus, "ct1");
    srv.upload(&ct1.bytes);

    // Unknown route: JSON 404.
    let r = srv.get("/nonexistent-route");
    r.assert_orthanc_error(404, 17, "Unknown resource", "GET", "/nonexistent-route");
    assert_eq!(r.json()["HttpError"], json!("Not Found"));
    assert_eq!(r.header("content-type"), None);
    assert!(r.text().contains('\t'), "error JSON is indented with tabs");

    // Unknown IDs under known routes: 404 with an empty body.
    for path in [
        "/instances/nonexistent".to_owned(),
        "/patients/nonexistent".to_owned(),
        "/studies/nonexistent/series".to_owned(),
        format!("/instances/{}", ct1.study_id()),
        format!("/studies/{}", ct1.instance_id()),
        "/instances/nonexistent/file".to_owned(),
        "/instances/nonexistent/tags".to_owned(),
        format!("/instances/{}/metadata/CalledAET", ct1.instance_id()),
        format!("/instances/{}/content/0010-9999", ct1.instance_id()),
    ] {
        let r = srv.get(&path);
        assert_eq!(r.status, 404, "GET {path}: {}", r.text());
        assert!(r.body.is_empty(), "GET {path}: {}", r.text());
    }
    let r = srv.delete("/studies/nonexistent");
    assert_eq!(r.status, 404);
    assert!(r.body.is_empty());

    // Wrong method: 405 with Allow.
    let r = srv.request("PUT", "/system", Some(b"x"));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    assert!(r.body.is_empty(), "{}", r.text());
    let r = srv.delete("/instances");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET,POST"));
    let r = srv.post("/statistics", b"{}");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));

    // A malformed tag in a /content path.
    let uri = format!("/instances/{}/content/zzzz", ct1.instance_id());
    let r = srv.get(&uri);
    r.assert_orthanc_error(500, 27, "Unknown DICOM tag", "GET", &uri);

    // Successful JSON answers.
    let r = srv.get("/system");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
}

#[test]
fn answers_are_compressed_on_request() {
    let srv = Server::start(json!({}));
    let plain = srv.get("/system");
    assert_eq!(plain.header("content-encoding"), None);
    let r = srv.request_with("GET", "/system", None, &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, plain.body);
    let r = srv.request_with("GET", "/system", None, &[("Accept-Encoding", "deflate")]);
    assert_eq!(r.header("content-encoding"), Some("deflate"));
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&r.body[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, plain.body);
}

#[test]
fn basic_authentication() {
    let corpus = corpus();
    let mut srv = Server::start(json!({
        "AuthenticationEnabled": true,
        "RegisteredUsers": {"alice": "s3cret", "bob": "hunter2"},
        "RemoteAccessAllowed": false,
    }));
    // No credentials, unknown user, wrong password: 401.
    for auth in [
        None,
        Some(("mallory", "s3cret")),
        Some(("alice", "wrong")),
        Some(("alice", "")),
    ] {
        match auth {
            Some((u, p)) => srv.set_auth(u, p),
            None => srv.clear_auth(),
        }
        for path in ["/system", "/patients", "/nonexistent-route"] {
            let r = srv.get(path);
            assert_eq!(r.status, 401, "{auth:?} GET {path}");
            assert!(
                r.header("www-authenticate")
                    .is_some_and(|v| v.starts_with("Basic realm=")),
                "{:?}",
                r.headers
            );
        }
        let r = srv.post("/instances", &corpus[0].bytes);
        assert_eq!(r.status, 401);
    }
    // Garbage Authorization header.
    srv.clear_auth();
    let r = srv.request_with(
        "GET",
        "/system",
        None,
        &[("Authorization", "Basic !!!not-base64")],
    );
    assert_eq!(r.status, 401);
    let r = srv.request_with("GET", "/system", None, &[("Authorization", "Bearer xyz")]);
    assert_eq!(r.status, 401);

    // Nothing was stored by the rejected uploads.
    srv.set_auth("bob", "hunter2");
    assert_eq!(srv.get_json("/instances"), json!([]));

    // Good credentials (loopback is allowed even with RemoteAccessAllowed false).
    srv.set_auth("alice", "s3cret");
    assert_eq!(srv.get("/system").status, 200);
    let ct1 = by_name(&corpus, "ct1");
    let a = srv.upload(&ct1.bytes);
    assert_eq!(a["ID"], ct1.instance_id());
    let meta = srv.get_json(&format!("/instances/{}/metadata?expand", ct1.instance_id()));
    assert_eq!(meta["HttpUsername"], json!("alice"), "{meta}");
    let r = srv.get(&format!(
        "/instances/{}/metadata/HttpUsername",
        ct1.instance_id()
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "alice");
    assert_eq!(srv.storage_files().len(), 1);
}

//! Metadata and attachment revisions through REST: ETags, If-Match, 409 on conflicts, and the
//! lost-update race (many concurrent writers naming the same revision: exactly one wins).
//! Runs on the SQLite index, and on PostgreSQL with `STOWAGE_TEST_INDEX=postgres`.

mod common;

use common::{burst_instance, Server};
use serde_json::json;

fn etag(r: &common::Resp) -> String {
    r.header("ETag").expect("ETag header").to_owned()
}

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn etags_and_if_match_rules() {
    let srv = Server::start(json!({ "CheckRevisions": true }));
    let sample = burst_instance(1);
    srv.upload(&sample.bytes);
    let path = format!("/instances/{}/metadata/1024", sample.instance_id());

    // First write needs no If-Match; the ETag is "<revision>-<md5 of the value>".
    let r = srv.request("PUT", &path, Some(b"one"));
    assert_eq!(r.status, 200);
    assert_eq!(etag(&r), format!("\"0-{}\"", md5_hex(b"one")));
    let got = srv.get(&path);
    assert_eq!((got.status, got.text()), (200, "one".to_owned()));
    assert_eq!(etag(&got), etag(&r));
    let fresh = srv.request_with("GET", &path, None, &[("If-None-Match", &etag(&r))]);
    assert_eq!(fresh.status, 304);

    // Overwriting requires the current revision.
    let no_match = srv.request("PUT", &path, Some(b"two"));
    assert_eq!(no_match.status, 409);
    let malformed = srv.request_with("PUT", &path, Some(b"two"), &[("If-Match", "\"999\"")]);
    assert_eq!(malformed.status, 400);
    let r2 = srv.request_with("PUT", &path, Some(b"two"), &[("If-Match", &etag(&r))]);
    assert_eq!(r2.status, 200);
    assert_eq!(etag(&r2), format!("\"1-{}\"", md5_hex(b"two")));
    let stale = srv.request_with("PUT", &path, Some(b"three"), &[("If-Match", &etag(&r))]);
    assert_eq!(stale.status, 409);
    assert_eq!(srv.get(&path).text(), "two");

    // Deleting requires If-Match too.
    let del = srv.request("DELETE", &path, None);
    assert_eq!(del.status, 409);
    assert!(del.text().contains("If-Match"), "{}", del.text());
    let del = srv.request_with("DELETE", &path, None, &[("If-Match", &etag(&r2))]);
    assert_eq!(del.status, 200);
    assert_eq!(srv.get(&path).status, 404);

    // Core metadata is read-only.
    let core = format!("/instances/{}/metadata/ReceptionDate", sample.instance_id());
    assert_eq!(srv.request("PUT", &core, Some(b"x")).status, 403);
}

/// Every `If-Match` / `CheckRevisions` case of a write and a delete, on metadata and on
/// attachments: what the index's preconditions must answer through REST.
#[test]
fn preconditions_of_writes_and_deletes() {
    for check in [false, true] {
        let srv = Server::start(json!({ "CheckRevisions": check }));
        let sample = burst_instance(if check { 5 } else { 6 });
        srv.upload(&sample.bytes);
        let id = sample.instance_id();
        for path in [
            format!("/instances/{id}/metadata/1026"),
            format!("/instances/{id}/attachments/1031"),
        ] {
            let what = format!("{path} (CheckRevisions {check})");
            let absent_tag = format!("\"0-{}\"", md5_hex(b"one"));
            // Absent item: an If-Match is a revision error, and a delete is UnknownResource.
            let r = srv.request_with("PUT", &path, Some(b"one"), &[("If-Match", &absent_tag)]);
            assert_eq!(
                r.status,
                409,
                "{what}: PUT If-Match on nothing: {}",
                r.text()
            );
            let r = srv.request_with("DELETE", &path, None, &[("If-Match", &absent_tag)]);
            r.assert_orthanc_error(404, 17, "Unknown resource", "DELETE", &path);
            if !check {
                let r = srv.request("DELETE", &path, None);
                r.assert_orthanc_error(404, 17, "Unknown resource", "DELETE", &path);
            }
            // A new item: revision 0.
            let r = srv.request("PUT", &path, Some(b"one"));
            assert_eq!(r.status, 200, "{what}: {}", r.text());
            assert_eq!(etag(&r), absent_tag, "{what}");
            // Without If-Match: refused with CheckRevisions, else an overwrite (revision 1).
            let r = srv.request("PUT", &path, Some(b"two"));
            let current = if check {
                assert_eq!(r.status, 409, "{what}: PUT without If-Match: {}", r.text());
                absent_tag.clone()
            } else {
                assert_eq!(r.status, 200, "{what}: {}", r.text());
                assert_eq!(etag(&r), format!("\"1-{}\"", md5_hex(b"two")), "{what}");
                etag(&r)
            };
            let rev: i64 = current[1..].split('-').next().unwrap().parse().unwrap();
            // If-Match naming another revision, or other content: refused, nothing changed.
            let other_rev = format!("\"{}-{}\"", rev + 1, &current[current.len() - 33..]);
            let other_md5 = format!("\"{rev}-{}\"", md5_hex(b"nope"));
            for stale in [&other_rev, &other_md5] {
                let r = srv.request_with("PUT", &path, Some(b"three"), &[("If-Match", stale)]);
                assert_eq!(r.status, 409, "{what}: PUT If-Match {stale}: {}", r.text());
                let r = srv.request_with("DELETE", &path, None, &[("If-Match", stale)]);
                assert_eq!(
                    r.status,
                    409,
                    "{what}: DELETE If-Match {stale}: {}",
                    r.text()
                );
            }
            // The current If-Match: revision + 1.
            let r = srv.request_with("PUT", &path, Some(b"four"), &[("If-Match", &current)]);
            assert_eq!(r.status, 200, "{what}: {}", r.text());
            let four = format!("\"{}-{}\"", rev + 1, md5_hex(b"four"));
            assert_eq!(etag(&r), four, "{what}");
            // Delete: If-Match required with CheckRevisions, and must be the current one.
            let r = srv.request("DELETE", &path, None);
            if check {
                assert_eq!(r.status, 409, "{what}: DELETE without If-Match");
                assert!(r.text().contains("If-Match"), "{}", r.text());
                let r = srv.request_with("DELETE", &path, None, &[("If-Match", &four)]);
                assert_eq!(r.status, 200, "{what}: {}", r.text());
            } else {
                assert_eq!(
                    r.status,
                    200,
                    "{what}: DELETE without If-Match: {}",
                    r.text()
                );
            }
            let r = srv.request_with("DELETE", &path, None, &[("If-Match", &four)]);
            r.assert_orthanc_error(404, 17, "Unknown resource", "DELETE", &path);
        }
        // Only the instance's file is left: replaced and deleted attachments were removed.
        assert_eq!(srv.storage_files().len(), 1, "{:?}", srv.storage_files());
    }
}

/// `compress` / `uncompress` re-store an attachment: the content and its MD5 stay, the revision
/// goes up by one (as in Orthanc, whose compression change is an `AddAttachment` naming the
/// current revision), so an ETag read before no longer matches.
#[test]
fn compression_change_is_a_new_revision() {
    let srv = Server::start(json!({ "CheckRevisions": true }));
    let sample = burst_instance(7);
    srv.upload(&sample.bytes);
    let path = format!("/instances/{}/attachments/1032", sample.instance_id());
    let content = b"compressible ".repeat(100);
    let r = srv.request("PUT", &path, Some(&content));
    assert_eq!(r.status, 200, "{}", r.text());
    let before = etag(&r);
    assert_eq!(before, format!("\"0-{}\"", md5_hex(&content)));
    let r = srv.request("POST", &format!("{path}/compress"), Some(b""));
    assert_eq!(r.status, 200, "{}", r.text());
    let after = etag(&srv.get(&format!("{path}/info")));
    assert_eq!(after, format!("\"1-{}\"", md5_hex(&content)));
    let r = srv.request_with("DELETE", &path, None, &[("If-Match", &before)]);
    assert_eq!(r.status, 409, "{}", r.text());
    let r = srv.request_with("DELETE", &path, None, &[("If-Match", &after)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(srv.storage_files().len(), 1, "{:?}", srv.storage_files());
}

/// Many clients overwrite one item at once, all naming the same revision.
fn race(srv: &Server, path: &str, initial_etag: &str) -> Vec<(u16, Vec<u8>)> {
    const WRITERS: usize = 12;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|i| {
                scope.spawn(move || {
                    let body = format!("writer-{i}").into_bytes();
                    let r =
                        srv.request_with("PUT", path, Some(&body), &[("If-Match", initial_etag)]);
                    (r.status, body)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer thread"))
            .collect()
    })
}

fn check_single_winner(results: &[(u16, Vec<u8>)], stored: &[u8]) {
    let winners: Vec<&Vec<u8>> = results
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    let conflicts = results.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!(winners.len(), 1, "exactly one writer wins: {results:?}");
    assert_eq!(
        conflicts,
        results.len() - 1,
        "every other writer gets 409: {results:?}"
    );
    assert_eq!(
        stored,
        winners[0].as_slice(),
        "the winner's value is stored"
    );
}

#[test]
fn lost_update_race_metadata_and_attachments() {
    let srv = Server::start(json!({}));
    let sample = burst_instance(2);
    srv.upload(&sample.bytes);
    let id = sample.instance_id();

    let meta = format!("/instances/{id}/metadata/1025");
    let first = srv.request("PUT", &meta, Some(b"initial"));
    assert_eq!(first.status, 200);
    let results = race(&srv, &meta, &etag(&first));
    let stored = srv.get(&meta);
    check_single_winner(&results, &stored.body);
    assert!(
        etag(&stored).starts_with("\"1-"),
        "revision 1 after one update: {}",
        etag(&stored)
    );

    let attachment = format!("/instances/{id}/attachments/1030");
    let first = srv.request("PUT", &attachment, Some(b"initial attachment"));
    assert_eq!(first.status, 200);
    let results = race(&srv, &attachment, &etag(&first));
    let data = srv.get(&format!("{attachment}/data"));
    check_single_winner(&results, &data.body);
    // The losers' files were removed: one file for the DICOM instance, one for the attachment.
    assert_eq!(srv.storage_files().len(), 2, "{:?}", srv.storage_files());
}

/// The same race across two processes sharing one PostgreSQL index (always runs: it needs
/// PostgreSQL whatever the test mode).
#[test]
fn lost_update_race_across_two_processes() {
    let db = common::TestDatabase::create();
    let storage = tempfile::tempdir().expect("tempdir");
    let section = common::shared_postgres_section(&db.url);
    let a = Server::start_shared(json!({}), storage.path(), section.clone());
    let b = Server::start_shared(json!({}), storage.path(), section);
    let sample = burst_instance(6);
    a.upload(&sample.bytes);
    let meta = format!("/instances/{}/metadata/1027", sample.instance_id());
    let first = b.request("PUT", &meta, Some(b"initial"));
    assert_eq!(first.status, 200);
    let initial = etag(&first);

    const WRITERS: usize = 12;
    let results: Vec<(u16, Vec<u8>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|i| {
                let (srv, meta, initial) = (if i % 2 == 0 { &a } else { &b }, &meta, &initial);
                scope.spawn(move || {
                    let body = format!("writer-{i}").into_bytes();
                    let r = srv.request_with("PUT", meta, Some(&body), &[("If-Match", initial)]);
                    (r.status, body)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer thread"))
            .collect()
    });
    let stored_a = a.get(&meta);
    check_single_winner(&results, &stored_a.body);
    assert_eq!(b.get(&meta).body, stored_a.body, "both processes agree");
    drop((a, b));
    drop(db);
}

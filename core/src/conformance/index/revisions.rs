//! Preconditions on metadata and attachment writes (`If-Match`, `CheckRevisions`), checked by
//! the index inside the transaction, alone and between concurrent writers.

use std::sync::{mpsc, Barrier};
use std::time::Duration;

use crate::revision::md5_hex;
use crate::{
    AddedAttachment, FileInfo, IndexBackend, IndexError, IndexTransaction, InternalId,
    MetadataType, Precondition, TxMode,
};

use super::helpers::*;

const USER: MetadataType = MetadataType(MetadataType::START_USER + 7);

fn supports_revisions(backend: &dyn IndexBackend) -> bool {
    let info = backend.info();
    if !info.supports_revisions {
        eprintln!("{}: revisions not supported, check skipped", info.name);
    }
    info.supports_revisions
}

/// `If-Match` naming a metadata value at a revision.
fn if_match_value(revision: i64, value: &str) -> Precondition {
    Precondition::Matches {
        revision,
        md5: md5_hex(value.as_bytes()),
    }
}

/// `If-Match` naming an attachment at a revision.
fn if_match_file(revision: i64, file: &FileInfo) -> Precondition {
    Precondition::Matches {
        revision,
        md5: file.uncompressed_md5.clone(),
    }
}

/// A user attachment whose uncompressed MD5 is that of `content`.
fn user_file(uuid: &str, content: &str) -> FileInfo {
    FileInfo {
        uncompressed_md5: md5_hex(content.as_bytes()),
        ..file(uuid, user_type(3), 10, 10)
    }
}

#[track_caller]
fn expect_mismatch<T: std::fmt::Debug>(result: Result<T, IndexError>, what: &str) {
    match result {
        Err(IndexError::RevisionMismatch) => {}
        other => panic!("{what}: expected RevisionMismatch, got {other:?}"),
    }
}

/// One instance, committed; its internal ID.
fn instance(backend: &dyn IndexBackend) -> InternalId {
    let mut tx = begin(backend, TxMode::ReadWrite);
    let c = add(&mut *tx, "p", "s", "se", "i");
    commit(tx);
    c.instance_id
}

/// Runs a write transaction, replaying it on `Conflict` as the server does.
fn with_replay<T>(
    backend: &dyn IndexBackend,
    mut run: impl FnMut(&mut (dyn IndexTransaction + '_)) -> Result<T, IndexError>,
) -> Result<T, IndexError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = backend.begin(TxMode::ReadWrite).and_then(|mut tx| {
            let value = run(&mut *tx)?;
            tx.commit()?;
            Ok(value)
        });
        match result {
            Err(IndexError::Conflict(_)) if attempts < 50 => {
                std::thread::sleep(Duration::from_millis(attempts));
            }
            other => return other,
        }
    }
}

/// `set_metadata`: `Absent` creates only, `Matches` overwrites exactly the revision and value
/// it names (revision + 1), `Any` creates or overwrites; a refused write changes nothing and
/// leaves the transaction usable.
pub fn metadata_preconditions(backend: &dyn IndexBackend) {
    if !supports_revisions(backend) {
        return;
    }
    let id = instance(backend);
    let mut tx = begin(backend, TxMode::ReadWrite);
    let set = |tx: &mut Tx<'_>, value: &str, p: &Precondition| tx.set_metadata(id, USER, value, p);
    assert_eq!(
        ok(
            set(&mut tx, "v0", &Precondition::Absent),
            "set_metadata(Absent) on nothing"
        ),
        0
    );
    expect_mismatch(
        set(&mut tx, "other", &Precondition::Absent),
        "set_metadata(Absent) over a value",
    );
    expect_mismatch(
        set(&mut tx, "v1", &if_match_value(1, "v0")),
        "set_metadata(Matches) naming a later revision",
    );
    expect_mismatch(
        set(&mut tx, "v1", &if_match_value(0, "v00")),
        "set_metadata(Matches) naming other content",
    );
    expect_mismatch(
        tx.set_metadata(id, MetadataType(USER.0 + 1), "x", &if_match_value(0, "v0")),
        "set_metadata(Matches) on an absent value",
    );
    assert_eq!(
        ok(
            tx.lookup_metadata(id, MetadataType(USER.0 + 1)),
            "lookup_metadata"
        ),
        None,
        "a refused write created the value"
    );
    assert_eq!(
        ok(tx.lookup_metadata(id, USER), "lookup_metadata"),
        Some(meta("v0", 0)),
        "a refused write changed the value"
    );
    assert_eq!(
        ok(
            set(&mut tx, "v1", &if_match_value(0, "v0")),
            "set_metadata(Matches)"
        ),
        1
    );
    expect_mismatch(
        set(&mut tx, "v2", &if_match_value(0, "v0")),
        "set_metadata(Matches) naming the replaced revision",
    );
    let upper = Precondition::Matches {
        revision: 1,
        md5: md5_hex(b"v1").to_ascii_uppercase(),
    };
    assert_eq!(
        ok(
            set(&mut tx, "v2", &upper),
            "set_metadata(Matches, upper-case MD5)"
        ),
        2,
        "MD5s compare case-insensitively"
    );
    assert_eq!(
        ok(set(&mut tx, "v3", &Precondition::Any), "set_metadata(Any)"),
        3
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        ok(tx.lookup_metadata(id, USER), "lookup_metadata"),
        Some(meta("v3", 3)),
        "writes around refused ones commit"
    );
    commit(tx);
}

/// `delete_metadata`: nothing to delete is `None` whatever the precondition; a present value
/// goes only if the precondition holds.
pub fn metadata_delete_preconditions(backend: &dyn IndexBackend) {
    if !supports_revisions(backend) {
        return;
    }
    let id = instance(backend);
    let mut tx = begin(backend, TxMode::ReadWrite);
    for p in [
        Precondition::Any,
        Precondition::Absent,
        if_match_value(0, "v0"),
    ] {
        assert_eq!(
            ok(
                tx.delete_metadata(id, USER, &p),
                "delete_metadata of nothing"
            ),
            None,
            "delete_metadata({p:?}) of nothing"
        );
    }
    ok(
        tx.set_metadata(id, USER, "v0", &Precondition::Any),
        "set_metadata",
    );
    ok(
        tx.set_metadata(id, USER, "v1", &Precondition::Any),
        "set_metadata",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    for (p, what) in [
        (if_match_value(0, "v0"), "a replaced revision"),
        (if_match_value(1, "v0"), "other content"),
        (if_match_value(2, "v1"), "a later revision"),
        (Precondition::Absent, "Absent"),
    ] {
        expect_mismatch(
            tx.delete_metadata(id, USER, &p),
            &format!("delete_metadata naming {what}"),
        );
    }
    assert_eq!(
        ok(tx.lookup_metadata(id, USER), "lookup_metadata"),
        Some(meta("v1", 1)),
        "a refused delete removed the value"
    );
    assert_eq!(
        ok(
            tx.delete_metadata(id, USER, &if_match_value(1, "v1")),
            "delete_metadata(Matches)"
        ),
        Some(meta("v1", 1))
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(ok(tx.lookup_metadata(id, USER), "lookup_metadata"), None);
    commit(tx);
}

/// `add_attachment`: the same rules as metadata, with the uncompressed MD5 as the content's;
/// a replacement returns the replaced file.
pub fn attachment_preconditions(backend: &dyn IndexBackend) {
    if !supports_revisions(backend) {
        return;
    }
    let id = instance(backend);
    let v0 = user_file("0001-v0", "v0");
    let v1 = user_file("0002-v1", "v1");
    let v2 = user_file("0003-v2", "v2");
    let ct = v0.content_type;
    let mut tx = begin(backend, TxMode::ReadWrite);
    assert_eq!(
        ok(
            tx.add_attachment(id, &v0, &Precondition::Absent),
            "add_attachment(Absent) on nothing"
        ),
        AddedAttachment {
            revision: 0,
            replaced: None
        }
    );
    expect_mismatch(
        tx.add_attachment(id, &v1, &Precondition::Absent),
        "add_attachment(Absent) over an attachment",
    );
    expect_mismatch(
        tx.add_attachment(id, &v1, &if_match_file(1, &v0)),
        "add_attachment(Matches) naming a later revision",
    );
    expect_mismatch(
        tx.add_attachment(id, &v1, &if_match_file(0, &v1)),
        "add_attachment(Matches) naming other content",
    );
    expect_mismatch(
        tx.add_attachment(
            id,
            &FileInfo {
                content_type: user_type(4),
                ..v1.clone()
            },
            &if_match_file(0, &v0),
        ),
        "add_attachment(Matches) on an absent attachment",
    );
    assert_eq!(
        ok(
            tx.list_available_attachments(id),
            "list_available_attachments"
        ),
        vec![ct],
        "a refused write created an attachment"
    );
    assert_eq!(
        ok(tx.lookup_attachment(id, ct), "lookup_attachment"),
        Some(stored(&v0, 0)),
        "a refused write changed the attachment"
    );
    assert_eq!(
        ok(
            tx.add_attachment(id, &v1, &if_match_file(0, &v0)),
            "add_attachment(Matches)"
        ),
        AddedAttachment {
            revision: 1,
            replaced: Some(v0.clone())
        }
    );
    expect_mismatch(
        tx.add_attachment(id, &v2, &if_match_file(0, &v0)),
        "add_attachment(Matches) naming the replaced revision",
    );
    assert_eq!(
        ok(
            tx.add_attachment(id, &v2, &Precondition::Any),
            "add_attachment(Any)"
        ),
        AddedAttachment {
            revision: 2,
            replaced: Some(v1.clone())
        }
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        ok(tx.lookup_attachment(id, ct), "lookup_attachment"),
        Some(stored(&v2, 2))
    );
    assert_eq!(
        ok(tx.get_total_compressed_size(), "get_total_compressed_size"),
        10,
        "replaced attachments no longer count"
    );
    commit(tx);
}

/// `delete_attachment`: nothing to delete is `None` whatever the precondition; a present
/// attachment goes, and is returned, only if the precondition holds.
pub fn attachment_delete_preconditions(backend: &dyn IndexBackend) {
    if !supports_revisions(backend) {
        return;
    }
    let id = instance(backend);
    let v0 = user_file("0001-v0", "v0");
    let v1 = user_file("0002-v1", "v1");
    let ct = v0.content_type;
    let mut tx = begin(backend, TxMode::ReadWrite);
    for p in [
        Precondition::Any,
        Precondition::Absent,
        if_match_file(0, &v0),
    ] {
        assert_eq!(
            ok(tx.delete_attachment(id, ct, &p), "delete_attachment"),
            None,
            "delete_attachment({p:?}) of nothing"
        );
    }
    ok(
        tx.add_attachment(id, &v0, &Precondition::Any),
        "add_attachment",
    );
    ok(
        tx.add_attachment(id, &v1, &Precondition::Any),
        "add_attachment",
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadWrite);
    for (p, what) in [
        (if_match_file(0, &v0), "a replaced revision"),
        (if_match_file(1, &v0), "other content"),
        (if_match_file(2, &v1), "a later revision"),
        (Precondition::Absent, "Absent"),
    ] {
        expect_mismatch(
            tx.delete_attachment(id, ct, &p),
            &format!("delete_attachment naming {what}"),
        );
    }
    assert_eq!(
        ok(tx.lookup_attachment(id, ct), "lookup_attachment"),
        Some(stored(&v1, 1)),
        "a refused delete removed the attachment"
    );
    assert_eq!(
        ok(
            tx.delete_attachment(id, ct, &if_match_file(1, &v1)),
            "delete_attachment(Matches)"
        ),
        Some(stored(&v1, 1))
    );
    commit(tx);

    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(ok(tx.lookup_attachment(id, ct), "lookup_attachment"), None);
    assert_eq!(
        ok(tx.get_total_compressed_size(), "get_total_compressed_size"),
        0
    );
    commit(tx);
}

/// Two writers name the same revision (the same `If-Match`): the first writes and holds its
/// transaction open while the second writes; exactly one wins and the other gets
/// `RevisionMismatch` (directly, or after replaying a `Conflict`). Then rounds of two writers
/// released together: one winner each round.
pub fn concurrent_writers_same_if_match(backend: &dyn IndexBackend) {
    if !supports_revisions(backend) {
        return;
    }
    let id = instance(backend);
    let mut tx = begin(backend, TxMode::ReadWrite);
    ok(
        tx.set_metadata(id, USER, "v0", &Precondition::Any),
        "set_metadata",
    );
    commit(tx);

    // The first writer waits, after writing, for the second to start writing.
    let expected = if_match_value(0, "v0");
    let (first, second) = std::thread::scope(|s| {
        let (written_tx, written_rx) = mpsc::channel::<()>();
        let expected = &expected;
        let first = s.spawn(move || {
            let mut tx = backend.begin(TxMode::ReadWrite)?;
            let revision = tx.set_metadata(id, USER, "first", expected)?;
            let _ = written_tx.send(());
            // Give the second writer time to reach its own write (it may block on ours).
            std::thread::sleep(Duration::from_millis(300));
            tx.commit()?;
            Ok::<_, IndexError>(revision)
        });
        let second = s.spawn(move || {
            if written_rx.recv().is_err() {
                return Err(IndexError::Backend("the first writer failed".to_owned()));
            }
            with_replay(backend, |tx| tx.set_metadata(id, USER, "second", expected))
        });
        (
            first.join().expect("first writer panicked"),
            second.join().expect("second writer panicked"),
        )
    });
    assert_eq!(
        ok(first, "the first writer's set_metadata"),
        1,
        "the first writer wins"
    );
    expect_mismatch(second, "the second writer, naming the same revision");
    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        ok(tx.lookup_metadata(id, USER), "lookup_metadata"),
        Some(meta("first", 1))
    );
    commit(tx);

    // Rounds of two writers released together, on metadata and on an attachment.
    const ROUNDS: i64 = 8;
    let files: Vec<FileInfo> = (0..=2 * ROUNDS)
        .map(|n| user_file(&format!("{n:04}-race"), &format!("content {n}")))
        .collect();
    let mut tx = begin(backend, TxMode::ReadWrite);
    ok(
        tx.add_attachment(id, &files[0], &Precondition::Any),
        "add_attachment",
    );
    commit(tx);
    let mut current_file = files[0].clone();
    for round in 0..ROUNDS {
        let value = if round == 0 {
            "first".to_owned()
        } else {
            format!("round {}", round - 1)
        };
        let meta_expected = if_match_value(round + 1, &value);
        let file_expected = if_match_file(round, &current_file);
        let barrier = Barrier::new(2);
        let results: Vec<_> = std::thread::scope(|s| {
            let writers: Vec<_> = (0..2usize)
                .map(|w| {
                    let (barrier, meta_expected, file_expected) =
                        (&barrier, &meta_expected, &file_expected);
                    let new_file = &files[(1 + 2 * round) as usize + w];
                    s.spawn(move || {
                        barrier.wait();
                        let meta = with_replay(backend, |tx| {
                            tx.set_metadata(id, USER, &format!("round {round}"), meta_expected)
                        });
                        let file = with_replay(backend, |tx| {
                            tx.add_attachment(id, new_file, file_expected)
                        });
                        (meta, file, new_file)
                    })
                })
                .collect();
            writers
                .into_iter()
                .map(|w| w.join().expect("writer panicked"))
                .collect()
        });
        let meta_wins = results.iter().filter(|(m, _, _)| m.is_ok()).count();
        let file_wins = results.iter().filter(|(_, f, _)| f.is_ok()).count();
        assert_eq!(
            meta_wins, 1,
            "round {round}: set_metadata winners: {results:?}"
        );
        assert_eq!(
            file_wins, 1,
            "round {round}: add_attachment winners: {results:?}"
        );
        for (m, f, new_file) in results {
            match m {
                Ok(revision) => assert_eq!(revision, round + 2, "round {round}"),
                Err(e) => expect_mismatch::<i64>(Err(e), "the losing set_metadata"),
            }
            match f {
                Ok(added) => {
                    assert_eq!(
                        added,
                        AddedAttachment {
                            revision: round + 1,
                            replaced: Some(current_file.clone())
                        },
                        "round {round}"
                    );
                    current_file = new_file.clone();
                }
                Err(e) => expect_mismatch::<()>(Err(e), "the losing add_attachment"),
            }
        }
    }
    let mut tx = begin(backend, TxMode::ReadOnly);
    assert_eq!(
        ok(tx.lookup_metadata(id, USER), "lookup_metadata"),
        Some(meta(&format!("round {}", ROUNDS - 1), ROUNDS + 1))
    );
    assert_eq!(
        ok(tx.lookup_attachment(id, user_type(3)), "lookup_attachment"),
        Some(stored(&current_file, ROUNDS))
    );
    commit(tx);
}

/// Concurrent writers creating the same item: with `Absent` exactly one creates it and the
/// others get `RevisionMismatch`; with `Any` all land, one after the other (revisions 0, 1,
/// ...), each replacement reporting the file it replaced, so that no file is lost.
pub fn concurrent_creates(backend: &dyn IndexBackend) {
    if !supports_revisions(backend) {
        return;
    }
    const WRITERS: usize = 4;
    let id = instance(backend);
    let files: Vec<FileInfo> = (0..2 * WRITERS)
        .map(|n| user_file(&format!("{n:04}-create"), &format!("content {n}")))
        .collect();
    let barrier = Barrier::new(WRITERS);
    let results: Vec<_> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (barrier, files) = (&barrier, &files);
                s.spawn(move || {
                    barrier.wait();
                    let absent = with_replay(backend, |tx| {
                        tx.set_metadata(id, USER, &format!("writer {w}"), &Precondition::Absent)
                    });
                    let absent_file = with_replay(backend, |tx| {
                        tx.add_attachment(id, &files[w], &Precondition::Absent)
                    });
                    let any_file = with_replay(backend, |tx| {
                        tx.add_attachment(
                            id,
                            &FileInfo {
                                content_type: user_type(5),
                                ..files[WRITERS + w].clone()
                            },
                            &Precondition::Any,
                        )
                    });
                    (absent, absent_file, any_file)
                })
            })
            .collect();
        writers
            .into_iter()
            .map(|w| w.join().expect("writer panicked"))
            .collect()
    });
    let mut created = 0;
    let mut created_files = 0;
    let mut revisions = Vec::new();
    let mut replaced = Vec::new();
    for (absent, absent_file, any_file) in results {
        match absent {
            Ok(revision) => {
                created += 1;
                assert_eq!(revision, 0);
            }
            Err(e) => expect_mismatch::<()>(Err(e), "a concurrent set_metadata(Absent)"),
        }
        match absent_file {
            Ok(added) => {
                created_files += 1;
                assert_eq!(
                    added,
                    AddedAttachment {
                        revision: 0,
                        replaced: None
                    }
                );
            }
            Err(e) => expect_mismatch::<()>(Err(e), "a concurrent add_attachment(Absent)"),
        }
        let added = ok(any_file, "a concurrent add_attachment(Any)");
        revisions.push(added.revision);
        replaced.extend(added.replaced.map(|f| f.uuid));
    }
    assert_eq!(created, 1, "set_metadata(Absent) winners");
    assert_eq!(created_files, 1, "add_attachment(Absent) winners");
    assert_eq!(
        sorted(revisions),
        (0..WRITERS as i64).collect::<Vec<_>>(),
        "add_attachment(Any) writers land one after the other"
    );
    let mut tx = begin(backend, TxMode::ReadOnly);
    let last = ok(tx.lookup_attachment(id, user_type(5)), "lookup_attachment")
        .expect("the attachment written by every writer");
    assert_eq!(last.revision, WRITERS as i64 - 1);
    commit(tx);
    replaced.push(last.file.uuid);
    assert_eq!(
        sorted(replaced),
        sorted(
            files[WRITERS..]
                .iter()
                .map(|f| f.uuid.clone())
                .collect::<Vec<_>>()
        ),
        "every file written is either the current one or reported replaced, once"
    );
}

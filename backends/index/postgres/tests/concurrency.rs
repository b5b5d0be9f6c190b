//! Several Stowage processes sharing one PostgreSQL index: each `PostgresIndex` (its own pool
//! and runtime) stands for one process, and several threads write through each at once.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Barrier, Mutex};

use common::{with_retries, TestDb};
use stowage_core::{
    ChangeType, ChangesPage, CompressionType, FileContentType, FileInfo, IndexBackend, IndexError,
    InstanceHashes, InternalId, MainDicomTag, MetadataType, MetadataValue, NewChange, Precondition,
    ResourceMainDicomTag, ResourceMetadataValue, ResourceRef, ResourceType, ResourceWithParent,
    ResourcesContent, StoredAttachment, TxMode,
};
use stowage_index_postgres::PostgresIndex;

const PATIENT_NAME: (u16, u16) = (0x0010, 0x0010);
const STUDY_DESCRIPTION: (u16, u16) = (0x0008, 0x1030);
const MODALITY: (u16, u16) = (0x0008, 0x0060);
const SOP_INSTANCE_UID: (u16, u16) = (0x0008, 0x0018);

fn change(change_type: ChangeType, level: ResourceType, public_id: &str) -> NewChange {
    NewChange {
        change_type,
        resource_type: level,
        public_id: public_id.to_owned(),
        date: "20240102T030405".to_owned(),
    }
}

fn tag(resource: InternalId, (group, element): (u16, u16), value: &str) -> ResourceMainDicomTag {
    ResourceMainDicomTag {
        resource,
        group,
        element,
        value: value.to_owned(),
    }
}

fn dicom_file(uuid: &str, size: u64) -> FileInfo {
    FileInfo {
        uuid: uuid.to_owned(),
        content_type: FileContentType::DICOM,
        uncompressed_size: size,
        uncompressed_md5: format!("md5-{uuid}"),
        compression: CompressionType::None,
        compressed_size: size,
        compressed_md5: format!("md5-{uuid}"),
    }
}

/// Stores one instance as the server does: one transaction creating the hierarchy, writing its
/// tags and metadata, attaching the file and logging the changes, replayed on `Conflict`.
/// Returns the DICOM file's uuid.
fn ingest(backend: &dyn IndexBackend, h: &InstanceHashes, attempt_tag: &str) -> String {
    let mut attempt = 0;
    with_retries(|| {
        attempt += 1;
        // A new file per attempt, as a replayed store writes a new attachment.
        let uuid = format!("{}-{attempt_tag}-{attempt}", h.instance);
        let mut tx = backend.begin(TxMode::ReadWrite)?;
        let c = tx.create_instance(h)?;
        assert!(c.is_new_instance, "{} stored twice", h.instance);
        let mut content = ResourcesContent::default();
        let mut changes = Vec::new();
        if c.is_new_patient {
            content
                .main_tags
                .push(tag(c.patient_id, PATIENT_NAME, &h.patient));
            changes.push(change(
                ChangeType::NewPatient,
                ResourceType::Patient,
                &h.patient,
            ));
        }
        if c.is_new_study {
            content
                .main_tags
                .push(tag(c.study_id, STUDY_DESCRIPTION, &h.study));
            changes.push(change(ChangeType::NewStudy, ResourceType::Study, &h.study));
        }
        if c.is_new_series {
            content.main_tags.push(tag(c.series_id, MODALITY, "CT"));
            changes.push(change(
                ChangeType::NewSeries,
                ResourceType::Series,
                &h.series,
            ));
        }
        content
            .main_tags
            .push(tag(c.instance_id, SOP_INSTANCE_UID, &h.instance));
        content.metadata.push(ResourceMetadataValue {
            resource: c.instance_id,
            kind: MetadataType::REMOTE_AET,
            value: "AET".to_owned(),
        });
        changes.push(change(
            ChangeType::NewInstance,
            ResourceType::Instance,
            &h.instance,
        ));
        tx.set_resources_content(&content)?;
        tx.add_attachment(c.instance_id, &dicom_file(&uuid, 100), &Precondition::Any)?;
        let mut last = 0;
        for ch in &changes {
            let seq = tx.log_change(ch)?;
            assert!(seq > last, "seqs within a transaction must increase");
            last = seq;
        }
        tx.commit()?;
        Ok(uuid)
    })
}

fn hashes(p: usize, s: usize, se: usize, i: usize) -> InstanceHashes {
    InstanceHashes {
        patient: format!("pat-{p}"),
        study: format!("study-{p}-{s}"),
        series: format!("series-{p}-{s}-{se}"),
        instance: format!("inst-{p}-{s}-{se}-{i}"),
    }
}

/// 3 "processes" × 4 threads store interleaved instances of the same patients, studies and
/// series: exact counts at every level, no duplicates, every instance with its ancestors, a
/// strictly increasing change log with exactly one New* change per resource.
#[test]
fn multi_writer_same_hierarchy() {
    const PROCESSES: usize = 3;
    const THREADS: usize = 4;
    const PATIENTS: usize = 2;
    const STUDIES: usize = 2;
    const SERIES: usize = 2;
    const INSTANCES: usize = 12;
    let db = TestDb::create();
    let backends: Vec<PostgresIndex> = (0..PROCESSES)
        .map(|_| db.open(false, THREADS).expect("open"))
        .collect();

    let mut all = Vec::new();
    for i in 0..INSTANCES {
        for se in 0..SERIES {
            for s in 0..STUDIES {
                for p in 0..PATIENTS {
                    all.push(hashes(p, s, se, i));
                }
            }
        }
    }
    let workers = PROCESSES * THREADS;
    let barrier = Barrier::new(workers);
    let files = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for w in 0..workers {
            let backend = &backends[w % PROCESSES];
            let (all, barrier, files) = (&all, &barrier, &files);
            scope.spawn(move || {
                barrier.wait();
                // Worker w stores every workers-th instance: neighbours share their series.
                for h in all.iter().skip(w).step_by(workers) {
                    let uuid = ingest(backend, h, &format!("w{w}"));
                    files.lock().unwrap().insert(h.instance.clone(), uuid);
                }
            });
        }
    });
    let files = files.into_inner().unwrap();
    eprintln!(
        "multi_writer_same_hierarchy: {} instances, {} replays so far in this process",
        all.len(),
        common::REPLAYS.load(std::sync::atomic::Ordering::Relaxed)
    );

    let expected = [
        PATIENTS,
        PATIENTS * STUDIES,
        PATIENTS * STUDIES * SERIES,
        all.len(),
    ];
    // Every "process" sees the same, complete index.
    for backend in &backends {
        let mut tx = backend.begin(TxMode::ReadOnly).unwrap();
        for (level, n) in ResourceType::ALL.into_iter().zip(expected) {
            assert_eq!(
                tx.get_resources_count(level).unwrap(),
                n as u64,
                "{level} count"
            );
            let ids = tx.get_all_public_ids(level, 0, None).unwrap();
            assert_eq!(ids.len(), n, "{level} public ids");
            assert_eq!(
                ids.iter().collect::<HashSet<_>>().len(),
                n,
                "duplicate {level} public ids"
            );
        }
        for h in &all {
            let ResourceWithParent { id, level, parent } =
                tx.lookup_resource_and_parent(&h.instance).unwrap().unwrap();
            assert_eq!(level, ResourceType::Instance);
            assert_eq!(parent.as_deref(), Some(h.series.as_str()));
            let study = tx
                .lookup_resource_and_parent(&h.series)
                .unwrap()
                .unwrap()
                .parent;
            assert_eq!(study.as_deref(), Some(h.study.as_str()));
            let patient = tx
                .lookup_resource_and_parent(&h.study)
                .unwrap()
                .unwrap()
                .parent;
            assert_eq!(patient.as_deref(), Some(h.patient.as_str()));
            let StoredAttachment { file, revision } = tx
                .lookup_attachment(id, FileContentType::DICOM)
                .unwrap()
                .expect("attachment of a stored instance");
            assert_eq!(
                (file.uuid.as_str(), revision),
                (files[&h.instance].as_str(), 0)
            );
            assert_eq!(
                tx.lookup_metadata(id, MetadataType::REMOTE_AET).unwrap(),
                Some(MetadataValue {
                    value: "AET".to_owned(),
                    revision: 0
                })
            );
        }
        // Each level's tags were written exactly by the transaction that created it.
        for p in 0..PATIENTS {
            let ResourceRef { id, .. } = tx.lookup_resource(&format!("pat-{p}")).unwrap().unwrap();
            assert_eq!(
                tx.get_main_dicom_tags(id).unwrap(),
                vec![MainDicomTag {
                    group: PATIENT_NAME.0,
                    element: PATIENT_NAME.1,
                    value: format!("pat-{p}")
                }]
            );
        }
        assert_eq!(
            tx.get_total_compressed_size().unwrap(),
            100 * all.len() as u64
        );

        let ChangesPage { changes, done } = tx.get_changes(0, 10_000).unwrap();
        assert!(done);
        assert!(
            changes.windows(2).all(|w| w[0].seq < w[1].seq),
            "change seqs must strictly increase"
        );
        let mut per_kind: std::collections::HashMap<ChangeType, Vec<String>> =
            std::collections::HashMap::new();
        for c in &changes {
            per_kind
                .entry(c.change_type)
                .or_default()
                .push(c.public_id.clone());
        }
        for (kind, level, n) in [
            (ChangeType::NewPatient, ResourceType::Patient, expected[0]),
            (ChangeType::NewStudy, ResourceType::Study, expected[1]),
            (ChangeType::NewSeries, ResourceType::Series, expected[2]),
            (ChangeType::NewInstance, ResourceType::Instance, expected[3]),
        ] {
            let ids = per_kind.remove(&kind).unwrap_or_default();
            let unique: BTreeSet<_> = ids.iter().cloned().collect();
            assert_eq!(ids.len(), n, "{kind:?} changes");
            assert_eq!(unique.len(), n, "one {kind:?} per {level}");
            let listed: BTreeSet<_> = tx
                .get_all_public_ids(level, 0, None)
                .unwrap()
                .into_iter()
                .collect();
            assert_eq!(unique, listed, "{kind:?} changes name every {level}");
        }
        assert!(per_kind.is_empty(), "unexpected changes: {per_kind:?}");
        assert_eq!(
            tx.get_last_change_index().unwrap(),
            changes.last().unwrap().seq
        );
        tx.commit().unwrap();
    }
}

/// One process keeps storing instances of a series while another deletes instances and the
/// whole patient: at every moment an instance is either there with all its ancestors and its
/// file, or gone with its file reported for removal; no empty series, study or patient stays.
#[test]
fn delete_while_adding() {
    let db = TestDb::create();
    let adder_index = db.open(false, 4).expect("open");
    let deleter_index = db.open(false, 4).expect("open");
    const ADDERS: usize = 3;
    const PER_ADDER: usize = 40;

    let stored = Mutex::new(Vec::new()); // (instance, uuid) committed
    let reported = Mutex::new(HashSet::new()); // uuids returned by delete_resource
    let done = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for a in 0..ADDERS {
            let (backend, stored, done) = (&adder_index, &stored, &done);
            scope.spawn(move || {
                for k in 0..PER_ADDER {
                    // Two patients, so that the deleter hits both shared and lone ancestors.
                    let h = hashes(k % 2, 0, 0, a * PER_ADDER + k);
                    let uuid = ingest(backend, &h, "a");
                    stored.lock().unwrap().push((h.instance.clone(), uuid));
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let (backend, reported, done) = (&deleter_index, &reported, &done);
        scope.spawn(move || {
            let mut n = 0u64;
            while done.load(std::sync::atomic::Ordering::SeqCst) < ADDERS {
                n += 1;
                let deleted = with_retries(|| {
                    let mut tx = backend.begin(TxMode::ReadWrite)?;
                    // Alternately: the oldest instance, the newest one, a whole patient.
                    let target = match n % 3 {
                        0 => tx.get_all_public_ids(ResourceType::Instance, 0, Some(1))?,
                        1 => {
                            let all = tx.get_all_public_ids(ResourceType::Instance, 0, None)?;
                            all.last().cloned().into_iter().collect()
                        }
                        _ => vec![format!("pat-{}", n % 2)],
                    };
                    let mut deleted = Vec::new();
                    for public_id in target {
                        if let Some(ResourceRef { id, .. }) = tx.lookup_resource(&public_id)? {
                            deleted.push(tx.delete_resource(id)?);
                        }
                    }
                    tx.commit()?;
                    Ok(deleted)
                });
                let mut reported = reported.lock().unwrap();
                for d in deleted {
                    for f in d.files {
                        assert!(reported.insert(f.uuid.clone()), "{} deleted twice", f.uuid);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(6));
            }
        });
    });

    let stored = stored.into_inner().unwrap();
    let reported = reported.into_inner().unwrap();
    assert_eq!(stored.len(), ADDERS * PER_ADDER);
    let mut tx = adder_index.begin(TxMode::ReadOnly).unwrap();
    let mut present = 0;
    for (instance, uuid) in &stored {
        match tx.lookup_resource_and_parent(instance).unwrap() {
            Some(ResourceWithParent { id, parent, .. }) => {
                present += 1;
                let series = parent.expect("an instance has a parent");
                let study = tx
                    .lookup_resource_and_parent(&series)
                    .unwrap()
                    .unwrap()
                    .parent;
                let patient = tx
                    .lookup_resource_and_parent(&study.unwrap())
                    .unwrap()
                    .unwrap()
                    .parent;
                assert!(tx.lookup_resource(&patient.unwrap()).unwrap().is_some());
                let StoredAttachment { file, .. } = tx
                    .lookup_attachment(id, FileContentType::DICOM)
                    .unwrap()
                    .expect("file of a present instance");
                assert_eq!(&file.uuid, uuid);
                assert!(
                    !reported.contains(uuid),
                    "{uuid} reported deleted but still indexed"
                );
            }
            None => assert!(
                reported.contains(uuid),
                "{instance} vanished without its file {uuid} being reported for removal"
            ),
        }
    }
    // Nothing else is indexed, and no level is left without children.
    assert_eq!(
        tx.get_resources_count(ResourceType::Instance).unwrap(),
        present
    );
    for level in [
        ResourceType::Patient,
        ResourceType::Study,
        ResourceType::Series,
    ] {
        for public_id in tx.get_all_public_ids(level, 0, None).unwrap() {
            let ResourceRef { id, .. } = tx.lookup_resource(&public_id).unwrap().unwrap();
            assert!(
                !tx.get_children_internal_ids(id).unwrap().is_empty(),
                "{level} {public_id} left without children"
            );
        }
    }
    tx.commit().unwrap();
    eprintln!(
        "delete_while_adding: {present} of {} instances remain, {} files reported deleted, \
         {} replays so far in this process",
        stored.len(),
        reported.len(),
        common::REPLAYS.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// Several processes opening an empty database at once: all succeed, exactly one migrates.
#[test]
fn migration_race() {
    let db = TestDb::create();
    const PROCESSES: usize = 4;
    let barrier = Barrier::new(PROCESSES);
    let opened: Vec<PostgresIndex> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..PROCESSES)
            .map(|_| {
                let (db, barrier) = (&db, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    db.open(false, 2)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().expect("concurrent open"))
            .collect()
    });
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM StowageSchemaVersion"),
        i64::from(stowage_index_postgres::SCHEMA_VERSION)
    );
    assert_eq!(
        db.query_i64("SELECT COUNT(DISTINCT version) FROM StowageSchemaVersion"),
        i64::from(stowage_index_postgres::SCHEMA_VERSION)
    );
    // Every process works on the migrated schema.
    for (n, index) in opened.iter().enumerate() {
        let mut tx = index.begin(TxMode::ReadWrite).unwrap();
        tx.create_instance(&hashes(n, 0, 0, 0)).unwrap();
        tx.commit().unwrap();
    }
    let mut tx = opened[0].begin(TxMode::ReadOnly).unwrap();
    assert_eq!(
        tx.get_resources_count(ResourceType::Patient).unwrap(),
        PROCESSES as u64
    );
    tx.commit().unwrap();
    drop(opened);
    // Reopening an up-to-date database migrates nothing.
    drop(db.open(false, 1).unwrap());
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM StowageSchemaVersion"),
        i64::from(stowage_index_postgres::SCHEMA_VERSION)
    );
}

/// `lock: true` keeps a second process out until the first one closes the index.
#[test]
fn lock_excludes_second_process() {
    let db = TestDb::create();
    let first = db.open(true, 2).expect("first open");
    match db.open(true, 2) {
        Err(IndexError::Backend(msg)) => assert!(msg.contains("locked"), "{msg}"),
        Err(e) => panic!("unexpected error: {e:?}"),
        Ok(_) => panic!("a second process opened a locked index"),
    }
    // The first one keeps working.
    let mut tx = first.begin(TxMode::ReadWrite).unwrap();
    tx.create_instance(&hashes(0, 0, 0, 0)).unwrap();
    tx.commit().unwrap();
    drop(first);
    // Released when the first process closes (the server notices the closed session quickly).
    let started = std::time::Instant::now();
    let second = loop {
        match db.open(true, 2) {
            Ok(index) => break index,
            Err(e) if started.elapsed() < std::time::Duration::from_secs(10) => {
                eprintln!("not yet released: {e}");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("lock never released: {e:?}"),
        }
    };
    let mut tx = second.begin(TxMode::ReadOnly).unwrap();
    assert_eq!(tx.get_resources_count(ResourceType::Instance).unwrap(), 1);
    tx.commit().unwrap();
}

/// The server calls the backend from `spawn_blocking` threads of its own runtime (multi-thread
/// and current-thread alike): opening, transactions and dropping all work there.
#[test]
fn works_inside_spawn_blocking_of_another_runtime() {
    let db = TestDb::create();
    let config = db.config(true, 2);
    for multi_thread in [true, false] {
        let rt = if multi_thread {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        let config = config.clone();
        let count = rt.block_on(async move {
            let index = tokio::task::spawn_blocking(move || PostgresIndex::open(&config))
                .await
                .unwrap()
                .expect("open inside spawn_blocking");
            let index = std::sync::Arc::new(index);
            let mut handles = Vec::new();
            for t in 0..4 {
                let index = index.clone();
                let tag = usize::from(multi_thread);
                handles.push(tokio::task::spawn_blocking(move || {
                    ingest(&*index, &hashes(tag, 0, t, 0), "sb");
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
            let reader = index.clone();
            let count = tokio::task::spawn_blocking(move || {
                let mut tx = reader.begin(TxMode::ReadOnly).unwrap();
                let n = tx.get_resources_count(ResourceType::Instance).unwrap();
                tx.commit().unwrap();
                n
            })
            .await
            .unwrap();
            // The last reference is dropped on a blocking thread too.
            tokio::task::spawn_blocking(move || drop(index))
                .await
                .unwrap();
            count
        });
        assert_eq!(count, if multi_thread { 4 } else { 8 });
    }
}

/// SQLSTATEs map to the error kinds the server acts on, and a failed statement poisons the
/// transaction (PostgreSQL aborted it) instead of letting commit silently roll back.
#[test]
fn error_mapping() {
    let db = TestDb::create();
    let index = db.open(true, 2).unwrap();
    let mut tx = index.begin(TxMode::ReadWrite).unwrap();
    let c = tx.create_instance(&hashes(0, 0, 0, 0)).unwrap();
    // A row referring to a resource deleted meanwhile: foreign key violation, replayable.
    let err = tx
        .add_attachment(
            c.instance_id + 1_000_000,
            &dicom_file("x", 1),
            &Precondition::Any,
        )
        .unwrap_err();
    assert!(matches!(err, IndexError::Conflict(_)), "{err:?}");
    assert!(matches!(
        tx.get_resources_count(ResourceType::Patient),
        Err(IndexError::Conflict(_))
    ));
    assert!(matches!(tx.commit(), Err(IndexError::Conflict(_))));
    let mut tx = index.begin(TxMode::ReadOnly).unwrap();
    assert_eq!(tx.get_resources_count(ResourceType::Patient).unwrap(), 0);
    tx.commit().unwrap();
    // The connection went back to the pool in a usable state.
    for _ in 0..4 {
        let mut tx = index.begin(TxMode::ReadWrite).unwrap();
        tx.set_global_property("", 1, "v").unwrap();
        tx.commit().unwrap();
    }

    // Nobody listening: unavailable, after the configured retries.
    let mut config = db.config(false, 1);
    config.host = "127.0.0.1".to_owned();
    config.port = 1;
    config.max_connection_retries = 1;
    config.connection_retry_interval_secs = 0;
    match PostgresIndex::open(&config) {
        Err(IndexError::Unavailable(_)) => {}
        Err(e) => panic!("unexpected error: {e:?}"),
        Ok(_) => panic!("opened an index on a closed port"),
    }
}

/// `connection_uri` replaces the individual settings.
#[test]
fn connection_uri() {
    let db = TestDb::create();
    let mut url = tokio_postgres_url(&db);
    url.push_str("?application_name=stowage-test");
    let mut config = db.config(false, 1);
    config.database = "no_such_database".to_owned();
    config.connection_uri = Some(url);
    let index = PostgresIndex::open(&config).expect("open through the URI");
    let mut tx = index.begin(TxMode::ReadOnly).unwrap();
    assert_eq!(tx.get_resources_count(ResourceType::Patient).unwrap(), 0);
    tx.commit().unwrap();
}

fn tokio_postgres_url(db: &TestDb) -> String {
    let c = db.config(false, 1);
    let password = if c.password.is_empty() {
        String::new()
    } else {
        format!(":{}", c.password)
    };
    format!(
        "postgresql://{}{password}@{}:{}/{}",
        c.username, c.host, c.port, db.name
    )
}

/// The change log is one ordered log for every process: a reader following it with
/// `get_changes(since)` while 3 "processes" × 3 threads log changes (some committing slowly,
/// some rolling back) ends with exactly the full log. With seqs taken when a change is logged,
/// a change numbered below the reader's `since` and committed later was skipped.
#[test]
fn changes_followed_while_writing_miss_nothing() {
    const PROCESSES: usize = 3;
    const THREADS: usize = 3;
    const PER_THREAD: usize = 25;
    let db = TestDb::create();
    let backends: Vec<PostgresIndex> = (0..PROCESSES)
        .map(|_| db.open(false, THREADS + 1).expect("open"))
        .collect();
    let committed = Mutex::new(BTreeSet::new()); // public ids of the committed changes
    let writing = std::sync::atomic::AtomicUsize::new(PROCESSES * THREADS);
    let followed = std::thread::scope(|scope| {
        for w in 0..PROCESSES * THREADS {
            let (backend, committed, writing) = (&backends[w % PROCESSES], &committed, &writing);
            scope.spawn(move || {
                for k in 0..PER_THREAD {
                    // A shared patient and study (writers wait on each other), own series.
                    let h = hashes(k % 2, 0, w, k);
                    let slow = (w + k) % 3 == 0;
                    let roll_back = (w + k) % 7 == 0;
                    let logged = with_retries(|| {
                        let mut tx = backend.begin(TxMode::ReadWrite)?;
                        let c = tx.create_instance(&h)?;
                        let mut logged = vec![h.instance.clone()];
                        tx.log_change(&change(
                            ChangeType::NewInstance,
                            ResourceType::Instance,
                            &h.instance,
                        ))?;
                        if c.is_new_series {
                            tx.log_change(&change(
                                ChangeType::NewSeries,
                                ResourceType::Series,
                                &h.series,
                            ))?;
                            logged.push(h.series.clone());
                        }
                        if slow {
                            // Took its numbers, commits after faster writers.
                            std::thread::sleep(std::time::Duration::from_millis(15));
                        }
                        if roll_back {
                            tx.rollback()?;
                            return Ok(Vec::new());
                        }
                        tx.commit()?;
                        Ok(logged)
                    });
                    committed.lock().unwrap().extend(logged);
                }
                writing.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        // The reader, on its own "process", pages through the log as a /changes client does.
        let reader = db.open(false, 1).expect("open");
        let mut followed = Vec::new();
        let mut since = 0;
        loop {
            let finished = writing.load(std::sync::atomic::Ordering::SeqCst) == 0;
            let mut tx = reader.begin(TxMode::ReadOnly).unwrap();
            let ChangesPage {
                changes: page,
                done,
            } = tx.get_changes(since, 5).unwrap();
            tx.commit().unwrap();
            if let Some(last) = page.last() {
                since = last.seq;
            }
            followed.extend(page);
            if done {
                if finished {
                    break followed;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
    });

    assert!(
        followed.windows(2).all(|w| w[0].seq < w[1].seq),
        "the followed log is not strictly ordered"
    );
    let mut tx = backends[0].begin(TxMode::ReadOnly).unwrap();
    let ChangesPage { changes: all, done } = tx.get_changes(0, 100_000).unwrap();
    assert!(done);
    let seqs = |changes: &[stowage_core::Change]| changes.iter().map(|c| c.seq).collect::<Vec<_>>();
    let missed: Vec<_> = all
        .iter()
        .filter(|c| !followed.iter().any(|f| f.seq == c.seq))
        .map(|c| (c.seq, c.public_id.clone()))
        .collect();
    assert!(
        missed.is_empty(),
        "the reader missed {} of {} changes: {:?}",
        missed.len(),
        all.len(),
        &missed[..missed.len().min(5)]
    );
    assert_eq!(seqs(&followed), seqs(&all));
    assert_eq!(followed, all);
    let committed = committed.into_inner().unwrap();
    let listed: BTreeSet<String> = all.iter().map(|c| c.public_id.clone()).collect();
    assert_eq!(listed.len(), all.len(), "a change listed twice");
    assert_eq!(listed, committed, "the log is not the committed changes");
    assert_eq!(tx.get_last_change_index().unwrap(), all.last().unwrap().seq);
    tx.commit().unwrap();
}

/// A version-1 database (seqs taken at insert) is migrated: the existing changes keep their
/// seqs, the last change index is kept (even past deleted changes), new changes come after.
#[test]
fn migration_keeps_the_change_log() {
    let db = TestDb::create();
    db.execute(include_str!("../../../../schema/postgres/001_initial.sql"));
    db.execute(
        "CREATE TABLE StowageSchemaVersion(version INTEGER PRIMARY KEY, \
             appliedAt TIMESTAMPTZ NOT NULL DEFAULT now()); \
         INSERT INTO StowageSchemaVersion(version) VALUES (1); \
         INSERT INTO Resources(resourceType, publicId) VALUES (0, 'p1'), (0, 'p2'); \
         INSERT INTO Changes(changeType, internalId, resourceType, publicId, date) \
             SELECT 5, internalId, 0, publicId, '20240101T000000' FROM Resources \
             ORDER BY internalId; \
         INSERT INTO Changes(changeType, internalId, resourceType, publicId, date) \
             SELECT 5, internalId, 0, publicId, '20240101T000000' FROM Resources \
             WHERE publicId = 'p1'; \
         DELETE FROM Changes WHERE seq = 3;",
    );
    let index = db.open(false, 2).expect("migrate");
    assert_eq!(
        db.query_i64("SELECT MAX(version)::bigint FROM StowageSchemaVersion"),
        i64::from(stowage_index_postgres::SCHEMA_VERSION)
    );
    let mut tx = index.begin(TxMode::ReadWrite).unwrap();
    let ChangesPage { changes: old, done } = tx.get_changes(0, 10).unwrap();
    assert!(done);
    assert_eq!(
        old.iter()
            .map(|c| (c.seq, c.public_id.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "p1"), (2, "p2")]
    );
    assert_eq!(tx.get_last_change_index().unwrap(), 3);
    let next = tx
        .log_change(&change(ChangeType::NewPatient, ResourceType::Patient, "p2"))
        .unwrap();
    tx.commit().unwrap();
    let mut tx = index.begin(TxMode::ReadOnly).unwrap();
    let all = tx.get_changes(2, 10).unwrap().changes;
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].seq, next), (4, 4));
    assert_eq!(tx.get_last_change_index().unwrap(), 4);
    tx.commit().unwrap();
}

/// Error texts carry PostgreSQL's message and SQLSTATE, not the driver's "db error".
#[test]
fn error_details() {
    let db = TestDb::create();
    let index = db.open(false, 1).unwrap();
    let mut tx = index.begin(TxMode::ReadWrite).unwrap();
    let err = tx
        .add_attachment(1_000_000, &dicom_file("x", 1), &Precondition::Any)
        .unwrap_err();
    let IndexError::Conflict(text) = &err else {
        panic!("unexpected error: {err:?}")
    };
    assert!(text.contains("SQLSTATE 23503"), "{text}");
    assert!(text.contains("foreign key"), "{text}");
    assert!(!text.contains("db error"), "{text}");
    drop(tx);
}

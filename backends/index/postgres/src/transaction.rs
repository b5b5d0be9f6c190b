//! One PostgreSQL transaction implementing every index operation, with the semantics of the
//! SQLite backend (`backends/index/sqlite/src/transaction.rs`) and as few round trips as possible.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use deadpool_postgres::Object;
use stowage_core::find::normalize_for_matching;
use stowage_core::{
    AddedAttachment, Change, ChangeType, ChangesPage, CompressionType, CreatedInstance,
    DeletedResources, ExportedResource, ExportsPage, FileContentType, FileInfo, FindQuery,
    IndexError, IndexTransaction, InstanceHashes, InternalId, MainDicomTag, MetadataEntry,
    MetadataType, MetadataValue, NewChange, Precondition, PublicResource, ResourceRef,
    ResourceSize, ResourceType, ResourceWithParent, ResourcesContent, StoredAttachment,
};
use tokio::runtime::Runtime;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;

use crate::pg_error;

type Result<T> = std::result::Result<T, IndexError>;
type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

pub(crate) struct PgTransaction<'a> {
    runtime: &'a Runtime,
    /// `None` only once a broken connection was detached from the pool in `drop`.
    client: Option<Object>,
    /// `BEGIN ...`, sent together with the first statement (pipelined, no extra round trip).
    pending_begin: Option<&'static str>,
    /// True once `BEGIN` was sent and until `COMMIT` / `ROLLBACK`.
    open: bool,
    /// The first error a statement raised: PostgreSQL aborts the whole transaction then, so a
    /// later commit must fail too rather than silently roll back.
    failed: Option<IndexError>,
    /// Read-write: reads of revisioned items lock their row (`FOR UPDATE`), so that of two
    /// writers checking the same revision, the second waits and then sees the first's update.
    writable: bool,
    /// Provisional numbers of the changes this transaction logged: `commit` publishes them
    /// (assigns their public `seq`).
    logged_changes: Vec<i64>,
}

/// Runs two futures concurrently on one task, `first` polled first (so its request goes out
/// on the connection before `second`'s).
async fn pipelined<A: Future, B: Future>(first: A, second: B) -> (A::Output, B::Output) {
    let mut first = pin!(first);
    let mut second = pin!(second);
    let mut a = None;
    let mut b = None;
    std::future::poll_fn(|cx| {
        if a.is_none() {
            if let Poll::Ready(v) = first.as_mut().poll(cx) {
                a = Some(v);
            }
        }
        if b.is_none() {
            if let Poll::Ready(v) = second.as_mut().poll(cx) {
                b = Some(v);
            }
        }
        if a.is_some() && b.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (a.unwrap(), b.unwrap())
}

fn copy_error(e: &IndexError) -> IndexError {
    match e {
        IndexError::Conflict(m) => IndexError::Conflict(m.clone()),
        IndexError::Unavailable(m) => IndexError::Unavailable(m.clone()),
        other => IndexError::Backend(format!(
            "the transaction was aborted by an earlier error: {other}"
        )),
    }
}

fn resource_type(code: i32) -> Result<ResourceType> {
    ResourceType::from_code(code.into())
        .ok_or_else(|| IndexError::Backend(format!("invalid resource type {code} in the index")))
}

const FILE_COLUMNS: &str =
    "uuid, fileType, compressedSize, uncompressedSize, compressionType, uncompressedMD5, compressedMD5";

fn file_info(row: &Row, first: usize) -> FileInfo {
    let compression: i32 = row.get(first + 4);
    FileInfo {
        uuid: row.get(first),
        content_type: FileContentType(row.get(first + 1)),
        compressed_size: row.get::<_, i64>(first + 2) as u64,
        uncompressed_size: row.get::<_, i64>(first + 3) as u64,
        compression: CompressionType::from_code(compression).unwrap_or(CompressionType::None),
        uncompressed_md5: row.get(first + 5),
        compressed_md5: row.get(first + 6),
    }
}

fn change(row: &Row) -> Result<Change> {
    let ct: i32 = row.get(1);
    Ok(Change {
        seq: row.get(0),
        change_type: ChangeType::from_code(ct)
            .ok_or_else(|| IndexError::Backend(format!("invalid change type {ct} in the index")))?,
        resource_type: resource_type(row.get(2))?,
        public_id: row.get(3),
        date: row.get(4),
    })
}

fn export(row: &Row) -> Result<ExportedResource> {
    Ok(ExportedResource {
        seq: row.get(0),
        resource_type: resource_type(row.get(1))?,
        public_id: row.get(2),
        remote_modality: row.get(3),
        patient_id: row.get(4),
        study_instance_uid: row.get(5),
        series_instance_uid: row.get(6),
        sop_instance_uid: row.get(7),
        date: row.get(8),
    })
}

fn limit_plus_one(limit: u64) -> i64 {
    limit.saturating_add(1).min(i64::MAX as u64) as i64
}

const CHANGE_COLUMNS: &str = "seq, changeType, resourceType, publicId, date";
const EXPORT_COLUMNS: &str = "seq, resourceType, publicId, remoteModality, patientId, \
     studyInstanceUid, seriesInstanceUid, sopInstanceUid, date";

/// The subtree rooted at `$1` (the root included).
const SUBTREE: &str = "WITH RECURSIVE sub(id) AS (SELECT $1::bigint UNION ALL \
     SELECT r.internalId FROM Resources r JOIN sub ON r.parentId = sub.id)";

impl<'a> PgTransaction<'a> {
    pub(crate) fn new(
        runtime: &'a Runtime,
        client: Object,
        begin: &'static str,
        writable: bool,
    ) -> Self {
        PgTransaction {
            runtime,
            client: Some(client),
            pending_begin: Some(begin),
            open: false,
            failed: None,
            writable,
            logged_changes: Vec::new(),
        }
    }

    fn row_lock(&self) -> &'static str {
        if self.writable {
            " FOR UPDATE"
        } else {
            ""
        }
    }

    /// Runs one statement (prepared and cached per connection), sending the pending `BEGIN`
    /// in the same flight.
    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        if let Some(e) = &self.failed {
            return Err(copy_error(e));
        }
        let client = self.client.as_ref().expect("connection present until drop");
        let begin = self.pending_begin.take();
        let run = async {
            let st = client.prepare_cached(sql).await?;
            client.query(&st, params).await
        };
        let result = match begin {
            None => self.runtime.block_on(run),
            Some(begin) => {
                self.open = true;
                let (b, r) = self
                    .runtime
                    .block_on(pipelined(client.batch_execute(begin), run));
                b.and(r)
            }
        };
        result.map_err(|e| {
            let e = pg_error(e);
            self.failed = Some(copy_error(&e));
            e
        })
    }

    /// Like [`query`](Self::query) for statements built at run time: sent with explicit
    /// parameter types and not prepared (one round trip, nothing cached).
    fn query_typed(
        &mut self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>> {
        if let Some(e) = &self.failed {
            return Err(copy_error(e));
        }
        let client = self.client.as_ref().expect("connection present until drop");
        let begin = self.pending_begin.take();
        let run = client.query_typed(sql, params);
        let result = match begin {
            None => self.runtime.block_on(run),
            Some(begin) => {
                self.open = true;
                let (b, r) = self
                    .runtime
                    .block_on(pipelined(client.batch_execute(begin), run));
                b.and(r)
            }
        };
        result.map_err(|e| {
            let e = pg_error(e);
            self.failed = Some(copy_error(&e));
            e
        })
    }

    fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row> {
        self.query_opt(sql, params)?
            .ok_or_else(|| IndexError::Backend(format!("no row returned by {sql}")))
    }

    fn strings(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<String>> {
        Ok(self.query(sql, params)?.iter().map(|r| r.get(0)).collect())
    }

    fn ids(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<i64>> {
        Ok(self.query(sql, params)?.iter().map(|r| r.get(0)).collect())
    }

    fn exec(&mut self, sql: &str, params: Params<'_>) -> Result<()> {
        self.query(sql, params).map(|_| ())
    }

    fn finish(&mut self, statement: &str) -> Result<()> {
        let client = self.client.as_ref().expect("connection present until drop");
        self.open = false;
        self.runtime
            .block_on(client.batch_execute(statement))
            .map_err(pg_error)
    }

    /// Resources (deduplicated, by internal ID) and files of a subtree.
    fn collect_subtree(&mut self, root: InternalId, deleted: &mut DeletedResources) -> Result<()> {
        let sql = format!(
            "{SUBTREE} SELECT r.internalId, r.resourceType, r.publicId, \
             f.uuid, f.fileType, f.compressedSize, f.uncompressedSize, f.compressionType, \
             f.uncompressedMD5, f.compressedMD5 \
             FROM sub JOIN Resources r ON r.internalId = sub.id \
             LEFT JOIN AttachedFiles f ON f.id = r.internalId ORDER BY r.internalId, f.fileType"
        );
        let rows = self.query(&sql, &[&root])?;
        let mut last = None;
        for row in &rows {
            let id: i64 = row.get(0);
            if last != Some(id) {
                last = Some(id);
                deleted.resources.push(PublicResource {
                    level: resource_type(row.get(1))?,
                    public_id: row.get(2),
                });
            }
            if row.get::<_, Option<String>>(3).is_some() {
                deleted.files.push(file_info(row, 3));
            }
        }
        Ok(())
    }
}

impl Drop for PgTransaction<'_> {
    fn drop(&mut self) {
        if self.open {
            if let Some(client) = self.client.as_ref() {
                if self
                    .runtime
                    .block_on(client.batch_execute("ROLLBACK"))
                    .is_err()
                {
                    // A connection in an unknown state never goes back to the pool.
                    if let Some(client) = self.client.take() {
                        drop(Object::take(client));
                    }
                }
            }
        }
    }
}

impl IndexTransaction for PgTransaction<'_> {
    fn commit(mut self: Box<Self>) -> Result<()> {
        if self.pending_begin.is_some() {
            // Nothing was ever sent.
            return Ok(());
        }
        if let Some(e) = self.failed.take() {
            let _ = self.finish("ROLLBACK");
            return Err(e);
        }
        if self.logged_changes.is_empty() {
            return self.finish("COMMIT");
        }
        // Number the logged changes and commit, in one round trip: the counter's row lock is
        // held from the publication to the end of COMMIT only (schema/postgres/00[23]_*.sql).
        // The numbers are our own integers, written into the statement as such.
        let mine: Vec<String> = self.logged_changes.iter().map(i64::to_string).collect();
        let result = self.finish(&format!(
            "SELECT StowagePublishChanges(ARRAY[{}]::bigint[]); COMMIT",
            mine.join(",")
        ));
        if result.is_err() {
            // The transaction may still be open (aborted): `drop` rolls it back, and discards
            // the connection if that fails.
            self.open = true;
        }
        result
    }

    fn rollback(mut self: Box<Self>) -> Result<()> {
        if self.pending_begin.is_some() {
            return Ok(());
        }
        self.finish("ROLLBACK")
    }

    // ---- resources ----

    fn create_instance(&mut self, h: &InstanceHashes) -> Result<CreatedInstance> {
        let row = self.query_one(
            "SELECT isNewInstance, instanceKey, seriesKey, studyKey, patientKey, \
             isNewSeries, isNewStudy, isNewPatient FROM StowageCreateInstance($1, $2, $3, $4)",
            &[&h.patient, &h.study, &h.series, &h.instance],
        )?;
        Ok(CreatedInstance {
            is_new_instance: row.get(0),
            instance_id: row.get(1),
            series_id: row.get(2),
            study_id: row.get(3),
            patient_id: row.get(4),
            is_new_series: row.get(5),
            is_new_study: row.get(6),
            is_new_patient: row.get(7),
        })
    }

    fn set_resources_content(&mut self, content: &ResourcesContent) -> Result<()> {
        if content.main_tags.is_empty() && content.metadata.is_empty() {
            return Ok(());
        }
        // One statement for everything. Later duplicates win (as INSERT OR REPLACE in a loop),
        // and rows go in key order so that concurrent writers lock them in the same order.
        let tags: BTreeMap<(i64, i32, i32), &String> = content
            .main_tags
            .iter()
            .map(|t| {
                (
                    (t.resource, i32::from(t.group), i32::from(t.element)),
                    &t.value,
                )
            })
            .collect();
        let metadata: BTreeMap<(i64, i32), &String> = content
            .metadata
            .iter()
            .map(|m| ((m.resource, m.kind.0), &m.value))
            .collect();
        let tag_ids: Vec<i64> = tags.keys().map(|k| k.0).collect();
        let tag_groups: Vec<i32> = tags.keys().map(|k| k.1).collect();
        let tag_elements: Vec<i32> = tags.keys().map(|k| k.2).collect();
        let tag_values: Vec<&str> = tags.values().map(|v| v.as_str()).collect();
        let tag_normalized: Vec<String> =
            tags.values().map(|v| normalize_for_matching(v)).collect();
        let meta_ids: Vec<i64> = metadata.keys().map(|k| k.0).collect();
        let meta_types: Vec<i32> = metadata.keys().map(|k| k.1).collect();
        let meta_values: Vec<&str> = metadata.values().map(|v| v.as_str()).collect();
        self.exec(
            "WITH t AS (INSERT INTO MainDicomTags(id, tagGroup, tagElement, value, normalized) \
                 SELECT * FROM UNNEST($1::bigint[], $2::int[], $3::int[], $4::text[], $5::text[]) \
                 ON CONFLICT (id, tagGroup, tagElement) \
                 DO UPDATE SET value = EXCLUDED.value, normalized = EXCLUDED.normalized), \
             m AS (INSERT INTO Metadata(id, type, value, revision) \
                 SELECT i, ty, v, 0 FROM UNNEST($6::bigint[], $7::int[], $8::text[]) AS x(i, ty, v) \
                 ON CONFLICT (id, type) DO UPDATE SET value = EXCLUDED.value, revision = 0) \
             SELECT 1",
            &[
                &tag_ids,
                &tag_groups,
                &tag_elements,
                &tag_values,
                &tag_normalized,
                &meta_ids,
                &meta_types,
                &meta_values,
            ],
        )
    }

    fn lookup_resource(&mut self, public_id: &str) -> Result<Option<ResourceRef>> {
        match self.query_opt(
            "SELECT internalId, resourceType FROM Resources WHERE publicId = $1",
            &[&public_id],
        )? {
            Some(r) => Ok(Some(ResourceRef {
                id: r.get(0),
                level: resource_type(r.get(1))?,
            })),
            None => Ok(None),
        }
    }

    fn lookup_resource_and_parent(
        &mut self,
        public_id: &str,
    ) -> Result<Option<ResourceWithParent>> {
        match self.query_opt(
            "SELECT r.internalId, r.resourceType, p.publicId FROM Resources r \
             LEFT JOIN Resources p ON p.internalId = r.parentId WHERE r.publicId = $1",
            &[&public_id],
        )? {
            Some(r) => Ok(Some(ResourceWithParent {
                id: r.get(0),
                level: resource_type(r.get(1))?,
                parent: r.get(2),
            })),
            None => Ok(None),
        }
    }

    fn get_public_id(&mut self, id: InternalId) -> Result<String> {
        self.strings(
            "SELECT publicId FROM Resources WHERE internalId = $1",
            &[&id],
        )?
        .pop()
        .ok_or(IndexError::UnknownResource)
    }

    fn get_resource_type(&mut self, id: InternalId) -> Result<ResourceType> {
        let row = self
            .query_opt(
                "SELECT resourceType FROM Resources WHERE internalId = $1",
                &[&id],
            )?
            .ok_or(IndexError::UnknownResource)?;
        resource_type(row.get(0))
    }

    fn lookup_parent(&mut self, id: InternalId) -> Result<Option<InternalId>> {
        Ok(self
            .query_opt(
                "SELECT parentId FROM Resources WHERE internalId = $1",
                &[&id],
            )?
            .and_then(|r| r.get::<_, Option<i64>>(0)))
    }

    fn get_children_internal_ids(&mut self, id: InternalId) -> Result<Vec<InternalId>> {
        self.ids(
            "SELECT internalId FROM Resources WHERE parentId = $1 ORDER BY internalId",
            &[&id],
        )
    }

    fn count_children(&mut self, id: InternalId) -> Result<u64> {
        let row = self.query_one("SELECT COUNT(*) FROM Resources WHERE parentId = $1", &[&id])?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn get_children_public_ids(&mut self, id: InternalId) -> Result<Vec<String>> {
        self.strings(
            "SELECT publicId FROM Resources WHERE parentId = $1 ORDER BY internalId",
            &[&id],
        )
    }

    fn get_all_public_ids(
        &mut self,
        level: ResourceType,
        since: u64,
        limit: Option<u64>,
    ) -> Result<Vec<String>> {
        let limit: Option<i64> = limit.map(|l| l.min(i64::MAX as u64) as i64);
        let since = since.min(i64::MAX as u64) as i64;
        self.strings(
            "SELECT publicId FROM Resources WHERE resourceType = $1 ORDER BY internalId \
             LIMIT $2 OFFSET $3",
            &[&(level.code() as i32), &limit, &since],
        )
    }

    fn get_resources_count(&mut self, level: ResourceType) -> Result<u64> {
        let row = self.query_one(
            "SELECT COUNT(*) FROM Resources WHERE resourceType = $1",
            &[&(level.code() as i32)],
        )?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn delete_resource(&mut self, id: InternalId) -> Result<DeletedResources> {
        let mut deleted = DeletedResources::default();
        // Lock the subtree first: this waits for writers adding children to it (their foreign
        // key checks hold KEY SHARE locks), and blocks new ones until this transaction ends
        // (they then fail on the foreign key and replay).
        let locked = self.ids(
            &format!(
                "{SUBTREE} SELECT r.internalId FROM Resources r \
                 WHERE r.internalId IN (SELECT id FROM sub) ORDER BY r.internalId FOR UPDATE OF r"
            ),
            &[&id],
        )?;
        if locked.is_empty() {
            return Ok(deleted);
        }
        // A fresh snapshot, taken after the locks: includes children committed meanwhile.
        self.collect_subtree(id, &mut deleted)?;
        let mut parent = self
            .query_opt(
                "DELETE FROM Resources WHERE internalId = $1 RETURNING parentId",
                &[&id],
            )?
            .and_then(|r| r.get::<_, Option<i64>>(0));
        while let Some(p) = parent {
            // Lock the ancestor before counting its children, for the same reason.
            let row = self.query_opt(
                "SELECT resourceType, publicId, parentId FROM Resources WHERE internalId = $1 \
                 FOR UPDATE",
                &[&p],
            )?;
            let Some(row) = row else { break };
            let has_children: bool = self
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM Resources WHERE parentId = $1)",
                    &[&p],
                )?
                .get(0);
            if has_children {
                deleted.remaining_ancestor = Some(PublicResource {
                    level: resource_type(row.get(0))?,
                    public_id: row.get(1),
                });
                break;
            }
            self.collect_subtree(p, &mut deleted)?;
            self.exec("DELETE FROM Resources WHERE internalId = $1", &[&p])?;
            parent = row.get(2);
        }
        Ok(deleted)
    }

    fn get_main_dicom_tags(&mut self, id: InternalId) -> Result<Vec<MainDicomTag>> {
        Ok(self
            .query(
                "SELECT tagGroup, tagElement, value FROM MainDicomTags WHERE id = $1 \
                 ORDER BY tagGroup, tagElement",
                &[&id],
            )?
            .iter()
            .map(|r| MainDicomTag {
                group: r.get::<_, i32>(0) as u16,
                element: r.get::<_, i32>(1) as u16,
                value: r.get(2),
            })
            .collect())
    }

    fn clear_main_dicom_tags(&mut self, id: InternalId) -> Result<()> {
        self.exec("DELETE FROM MainDicomTags WHERE id = $1", &[&id])
    }

    fn lookup_resources(&mut self, query: &FindQuery) -> Result<Vec<String>> {
        let (sql, params) = crate::find::compile(query);
        let typed: Vec<(&(dyn ToSql + Sync), Type)> = params
            .iter()
            .map(|(v, t)| (v.as_ref() as &(dyn ToSql + Sync), t.clone()))
            .collect();
        Ok(self
            .query_typed(&sql, &typed)?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn lookup_identifier(
        &mut self,
        level: ResourceType,
        group: u16,
        element: u16,
        value: &str,
    ) -> Result<Vec<String>> {
        self.strings(
            "SELECT r.publicId FROM MainDicomTags m JOIN Resources r ON r.internalId = m.id \
             WHERE m.tagGroup = $1 AND m.tagElement = $2 AND m.value = $3 AND r.resourceType = $4 \
             ORDER BY r.internalId",
            &[
                &i32::from(group),
                &i32::from(element),
                &value,
                &(level.code() as i32),
            ],
        )
    }

    // ---- metadata ----

    fn get_all_metadata(&mut self, id: InternalId) -> Result<Vec<MetadataEntry>> {
        Ok(self
            .query(
                "SELECT type, value, revision FROM Metadata WHERE id = $1 ORDER BY type",
                &[&id],
            )?
            .iter()
            .map(|r| MetadataEntry {
                kind: MetadataType(r.get(0)),
                value: r.get(1),
                revision: r.get(2),
            })
            .collect())
    }

    fn lookup_metadata(
        &mut self,
        id: InternalId,
        kind: MetadataType,
    ) -> Result<Option<MetadataValue>> {
        let sql = format!(
            "SELECT value, revision FROM Metadata WHERE id = $1 AND type = $2{}",
            self.row_lock()
        );
        Ok(self
            .query_opt(&sql, &[&id, &kind.0])?
            .map(|r| MetadataValue {
                value: r.get(0),
                revision: r.get(1),
            }))
    }

    // Preconditions, in this READ COMMITTED transaction: each is checked either by a single
    // statement (an insert that does nothing on conflict, an upsert computing the revision from
    // the stored one), or against a row read `FOR UPDATE`, which is its latest committed version
    // and stays locked until this transaction ends. Of two writers expecting the same
    // revision, the second waits for the first, then sees its write and fails.

    fn set_metadata(
        &mut self,
        id: InternalId,
        kind: MetadataType,
        value: &str,
        precondition: &Precondition,
    ) -> Result<i64> {
        match precondition {
            Precondition::Any => Ok(self
                .query_one(
                    "INSERT INTO Metadata(id, type, value, revision) VALUES ($1, $2, $3, 0) \
                     ON CONFLICT (id, type) DO UPDATE \
                     SET value = EXCLUDED.value, revision = Metadata.revision + 1 \
                     RETURNING revision",
                    &[&id, &kind.0, &value],
                )?
                .get(0)),
            Precondition::Absent => self
                .query_opt(
                    "INSERT INTO Metadata(id, type, value, revision) VALUES ($1, $2, $3, 0) \
                     ON CONFLICT (id, type) DO NOTHING RETURNING revision",
                    &[&id, &kind.0, &value],
                )?
                .map(|r| r.get(0))
                .ok_or(IndexError::RevisionMismatch),
            Precondition::Matches { .. } => {
                let current = self.lookup_metadata(id, kind)?;
                precondition.check_metadata(current.as_ref())?;
                let revision = current.map_or(0, |c| c.revision + 1);
                self.exec(
                    "UPDATE Metadata SET value = $3, revision = $4 WHERE id = $1 AND type = $2",
                    &[&id, &kind.0, &value, &revision],
                )?;
                Ok(revision)
            }
        }
    }

    fn delete_metadata(
        &mut self,
        id: InternalId,
        kind: MetadataType,
        precondition: &Precondition,
    ) -> Result<Option<MetadataValue>> {
        if *precondition == Precondition::Any {
            return Ok(self
                .query_opt(
                    "DELETE FROM Metadata WHERE id = $1 AND type = $2 RETURNING value, revision",
                    &[&id, &kind.0],
                )?
                .map(|r| MetadataValue {
                    value: r.get(0),
                    revision: r.get(1),
                }));
        }
        let Some(current) = self.lookup_metadata(id, kind)? else {
            return Ok(None);
        };
        precondition.check_metadata(Some(&current))?;
        self.exec(
            "DELETE FROM Metadata WHERE id = $1 AND type = $2",
            &[&id, &kind.0],
        )?;
        Ok(Some(current))
    }

    fn get_children_metadata(&mut self, id: InternalId, kind: MetadataType) -> Result<Vec<String>> {
        self.strings(
            "SELECT m.value FROM Resources r JOIN Metadata m ON m.id = r.internalId \
             WHERE r.parentId = $1 AND m.type = $2 ORDER BY r.internalId",
            &[&id, &kind.0],
        )
    }

    // ---- attachments ----

    fn add_attachment(
        &mut self,
        id: InternalId,
        f: &FileInfo,
        precondition: &Precondition,
    ) -> Result<AddedAttachment> {
        let compressed_size = f.compressed_size as i64;
        let uncompressed_size = f.uncompressed_size as i64;
        let compression = f.compression.code();
        if matches!(precondition, Precondition::Any | Precondition::Absent) {
            // A new attachment (the usual case: a stored instance's file) in one statement.
            let inserted = self.query_opt(
                "INSERT INTO AttachedFiles(id, fileType, uuid, compressedSize, uncompressedSize, \
                 compressionType, uncompressedMD5, compressedMD5, revision) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0) \
                 ON CONFLICT (id, fileType) DO NOTHING RETURNING revision",
                &[
                    &id,
                    &f.content_type.0,
                    &f.uuid,
                    &compressed_size,
                    &uncompressed_size,
                    &compression,
                    &f.uncompressed_md5,
                    &f.compressed_md5,
                ],
            )?;
            if inserted.is_some() {
                return Ok(AddedAttachment {
                    revision: 0,
                    replaced: None,
                });
            }
            if *precondition == Precondition::Absent {
                return Err(IndexError::RevisionMismatch);
            }
        }
        // A replacement: the current row, locked until the end of the transaction.
        let current = self.lookup_attachment(id, f.content_type)?;
        if current.is_none() && *precondition == Precondition::Any {
            // It was there for the insert, and removed meanwhile by a concurrent transaction.
            return Err(IndexError::Conflict(
                "attachment removed by a concurrent transaction".to_owned(),
            ));
        }
        precondition.check_attachment(current.as_ref())?;
        let Some(current) = current else {
            return Err(IndexError::RevisionMismatch);
        };
        let revision = current.revision + 1;
        self.exec(
            "UPDATE AttachedFiles SET uuid = $3, compressedSize = $4, uncompressedSize = $5, \
             compressionType = $6, uncompressedMD5 = $7, compressedMD5 = $8, revision = $9 \
             WHERE id = $1 AND fileType = $2",
            &[
                &id,
                &f.content_type.0,
                &f.uuid,
                &compressed_size,
                &uncompressed_size,
                &compression,
                &f.uncompressed_md5,
                &f.compressed_md5,
                &revision,
            ],
        )?;
        Ok(AddedAttachment {
            revision,
            replaced: Some(current.file),
        })
    }

    fn delete_attachment(
        &mut self,
        id: InternalId,
        ct: FileContentType,
        precondition: &Precondition,
    ) -> Result<Option<StoredAttachment>> {
        if *precondition == Precondition::Any {
            let sql = format!(
                "DELETE FROM AttachedFiles WHERE id = $1 AND fileType = $2 \
                 RETURNING {FILE_COLUMNS}, revision"
            );
            return Ok(self
                .query_opt(&sql, &[&id, &ct.0])?
                .map(|r| StoredAttachment {
                    file: file_info(&r, 0),
                    revision: r.get(7),
                }));
        }
        let Some(current) = self.lookup_attachment(id, ct)? else {
            return Ok(None);
        };
        precondition.check_attachment(Some(&current))?;
        self.exec(
            "DELETE FROM AttachedFiles WHERE id = $1 AND fileType = $2",
            &[&id, &ct.0],
        )?;
        Ok(Some(current))
    }

    fn lookup_attachment(
        &mut self,
        id: InternalId,
        ct: FileContentType,
    ) -> Result<Option<StoredAttachment>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS}, revision FROM AttachedFiles WHERE id = $1 AND fileType = $2{}",
            self.row_lock()
        );
        Ok(self
            .query_opt(&sql, &[&id, &ct.0])?
            .map(|r| StoredAttachment {
                file: file_info(&r, 0),
                revision: r.get(7),
            }))
    }

    fn list_available_attachments(&mut self, id: InternalId) -> Result<Vec<FileContentType>> {
        Ok(self
            .query(
                "SELECT fileType FROM AttachedFiles WHERE id = $1 ORDER BY fileType",
                &[&id],
            )?
            .iter()
            .map(|r| FileContentType(r.get(0)))
            .collect())
    }

    fn get_resource_size(&mut self, id: InternalId) -> Result<ResourceSize> {
        let row = self.query_one(
            &format!(
                "{SUBTREE} SELECT COALESCE(SUM(compressedSize), 0)::bigint, \
                 COALESCE(SUM(uncompressedSize), 0)::bigint, \
                 COALESCE(SUM(CASE WHEN fileType = 1 THEN compressedSize END), 0)::bigint, \
                 COALESCE(SUM(CASE WHEN fileType = 1 THEN uncompressedSize END), 0)::bigint \
                 FROM AttachedFiles WHERE id IN (SELECT id FROM sub)"
            ),
            &[&id],
        )?;
        Ok(ResourceSize {
            disk_size: row.get::<_, i64>(0) as u64,
            uncompressed_size: row.get::<_, i64>(1) as u64,
            dicom_disk_size: row.get::<_, i64>(2) as u64,
            dicom_uncompressed_size: row.get::<_, i64>(3) as u64,
        })
    }

    // ---- change and export logs ----

    /// The change is inserted unpublished, with a provisional number, and gets its public
    /// `seq` at commit, above every seq already visible (see `schema/postgres/002_*.sql`).
    /// The provisional number is returned: it is the final seq unless another transaction
    /// published changes with higher numbers meanwhile (the server does not use it).
    fn log_change(&mut self, c: &NewChange) -> Result<i64> {
        let row = self.query_opt(
            "INSERT INTO Changes(changeType, internalId, resourceType, publicId, date) \
             SELECT $1::int, internalId, $2::int, publicId, $4::text FROM Resources WHERE publicId = $3 \
             RETURNING pendingId",
            &[
                &c.change_type.code(),
                &(c.resource_type.code() as i32),
                &c.public_id,
                &c.date,
            ],
        )?;
        let pending = row.map(|r| r.get(0)).ok_or(IndexError::UnknownResource)?;
        self.logged_changes.push(pending);
        Ok(pending)
    }

    fn get_changes(&mut self, since: i64, limit: u64) -> Result<ChangesPage> {
        // Published changes only (`seq > $1` excludes the NULL seqs of this transaction's
        // unpublished ones).
        let sql =
            format!("SELECT {CHANGE_COLUMNS} FROM Changes WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows = self.query(&sql, &[&since, &limit_plus_one(limit)])?;
        let mut changes = rows.iter().map(change).collect::<Result<Vec<_>>>()?;
        let done = changes.len() as u64 <= limit;
        changes.truncate(limit as usize);
        Ok(ChangesPage { changes, done })
    }

    fn get_last_change(&mut self) -> Result<Option<Change>> {
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM Changes WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
        );
        self.query_opt(&sql, &[])?.as_ref().map(change).transpose()
    }

    fn get_last_change_index(&mut self) -> Result<i64> {
        // The last published seq: never goes back, survives deletions and clear_changes.
        Ok(self
            .query_one("SELECT value FROM ChangesCounter", &[])?
            .get(0))
    }

    fn clear_changes(&mut self) -> Result<()> {
        self.exec("DELETE FROM Changes", &[])
    }

    fn log_exported_resource(&mut self, e: &ExportedResource) -> Result<()> {
        self.exec(
            "INSERT INTO ExportedResources(resourceType, publicId, remoteModality, patientId, \
             studyInstanceUid, seriesInstanceUid, sopInstanceUid, date) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &(e.resource_type.code() as i32),
                &e.public_id,
                &e.remote_modality,
                &e.patient_id,
                &e.study_instance_uid,
                &e.series_instance_uid,
                &e.sop_instance_uid,
                &e.date,
            ],
        )
    }

    fn get_exported_resources(&mut self, since: i64, limit: u64) -> Result<ExportsPage> {
        let sql = format!(
            "SELECT {EXPORT_COLUMNS} FROM ExportedResources WHERE seq > $1 ORDER BY seq LIMIT $2"
        );
        let rows = self.query(&sql, &[&since, &limit_plus_one(limit)])?;
        let mut exports = rows.iter().map(export).collect::<Result<Vec<_>>>()?;
        let done = exports.len() as u64 <= limit;
        exports.truncate(limit as usize);
        Ok(ExportsPage { exports, done })
    }

    fn get_last_exported_resource(&mut self) -> Result<Option<ExportedResource>> {
        let sql =
            format!("SELECT {EXPORT_COLUMNS} FROM ExportedResources ORDER BY seq DESC LIMIT 1");
        self.query_opt(&sql, &[])?.as_ref().map(export).transpose()
    }

    fn clear_exported_resources(&mut self) -> Result<()> {
        self.exec("DELETE FROM ExportedResources", &[])
    }

    // ---- global properties ----

    fn lookup_global_property(&mut self, server: &str, property: i32) -> Result<Option<String>> {
        Ok(self
            .strings(
                "SELECT value FROM GlobalProperties WHERE server = $1 AND property = $2",
                &[&server, &property],
            )?
            .pop())
    }

    fn set_global_property(&mut self, server: &str, property: i32, value: &str) -> Result<()> {
        self.exec(
            "INSERT INTO GlobalProperties(server, property, value) VALUES ($1, $2, $3) \
             ON CONFLICT (server, property) DO UPDATE SET value = EXCLUDED.value",
            &[&server, &property, &value],
        )
    }

    // ---- sizes and recycling ----

    fn get_total_compressed_size(&mut self) -> Result<u64> {
        Ok(self
            .query_one(
                "SELECT COALESCE(SUM(compressedSize), 0)::bigint FROM AttachedFiles",
                &[],
            )?
            .get::<_, i64>(0) as u64)
    }

    fn get_total_uncompressed_size(&mut self) -> Result<u64> {
        Ok(self
            .query_one(
                "SELECT COALESCE(SUM(uncompressedSize), 0)::bigint FROM AttachedFiles",
                &[],
            )?
            .get::<_, i64>(0) as u64)
    }

    fn lock_recycling(&mut self) -> Result<()> {
        // Without it, two processes could each count the patients (or the size) before the
        // other's commit, and together overshoot the limit. Released at commit or rollback.
        self.exec(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[&crate::LOCK_CLASS, &crate::LOCK_RECYCLING],
        )
    }

    fn select_patient_to_recycle(
        &mut self,
        avoid: Option<InternalId>,
    ) -> Result<Option<InternalId>> {
        // In a write transaction the candidate's row is locked, and rows locked by others are
        // skipped: two processes recycling at once pick different patients, and a patient
        // that another process is writing to (its row is being moved to the recent end) is
        // never chosen.
        let lock = if self.writable {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "SELECT patientId FROM PatientRecyclingOrder WHERE patientId <> $1 \
             ORDER BY seq LIMIT 1{lock}"
        );
        Ok(self.ids(&sql, &[&avoid.unwrap_or(-1)])?.pop())
    }

    fn is_protected_patient(&mut self, id: InternalId) -> Result<bool> {
        Ok(self
            .query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM PatientRecyclingOrder WHERE patientId = $1)",
                &[&id],
            )?
            .get(0))
    }

    fn set_protected_patient(&mut self, id: InternalId, protected: bool) -> Result<()> {
        if protected {
            self.exec(
                "DELETE FROM PatientRecyclingOrder WHERE patientId = $1",
                &[&id],
            )
        } else {
            // Re-enters at the recent end; an unprotected patient keeps its place.
            self.exec(
                "INSERT INTO PatientRecyclingOrder(patientId) VALUES ($1) \
                 ON CONFLICT (patientId) DO NOTHING",
                &[&id],
            )
        }
    }

    fn tag_most_recent_patient(&mut self, id: InternalId) -> Result<()> {
        // Protected patients are absent from the order and stay so. The row is locked in any
        // case (a patient being written is never chosen for recycling: `SKIP LOCKED`), but
        // moved only when it is not the most recent already: the instances of one patient
        // mostly arrive together, and every move leaves a dead row version (and index
        // entries) behind until VACUUM.
        self.exec(
            "WITH this AS (SELECT patientId, seq FROM PatientRecyclingOrder \
                           WHERE patientId = $1 FOR UPDATE) \
             UPDATE PatientRecyclingOrder p SET seq = DEFAULT FROM this \
             WHERE p.patientId = this.patientId \
               AND this.seq < (SELECT max(seq) FROM PatientRecyclingOrder)",
            &[&id],
        )
    }

    // ---- labels ----

    fn add_label(&mut self, id: InternalId, label: &str) -> Result<()> {
        self.exec(
            "INSERT INTO Labels(id, label) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&id, &label],
        )
    }

    fn remove_label(&mut self, id: InternalId, label: &str) -> Result<()> {
        self.exec(
            "DELETE FROM Labels WHERE id = $1 AND label = $2",
            &[&id, &label],
        )
    }

    fn list_labels(&mut self, id: Option<InternalId>) -> Result<Vec<String>> {
        match id {
            Some(id) => self.strings(
                "SELECT label FROM Labels WHERE id = $1 ORDER BY label",
                &[&id],
            ),
            None => self.strings("SELECT DISTINCT label FROM Labels ORDER BY label", &[]),
        }
    }
}

//! One SQLite transaction implementing every index operation.

use std::ops::Deref;
use std::sync::MutexGuard;

use rusqlite::{params, Connection, OptionalExtension, Row};
use stowage_core::find::normalize_for_matching;
use stowage_core::{
    AddedAttachment, Change, ChangeType, ChangesPage, CompressionType, CreatedInstance,
    DeletedResources, ExportedResource, ExportsPage, FileContentType, FileInfo, FindQuery,
    IndexError, IndexTransaction, InstanceHashes, InternalId, MainDicomTag, MetadataEntry,
    MetadataType, MetadataValue, NewChange, Precondition, PublicResource, ResourceRef,
    ResourceSize, ResourceType, ResourceWithParent, ResourcesContent, StoredAttachment,
};

use crate::{sql_error, SqliteIndex};

pub(crate) enum PooledConnection<'a> {
    Writer(MutexGuard<'a, Connection>),
    Reader(&'a SqliteIndex, Option<Connection>),
}

impl Deref for PooledConnection<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            PooledConnection::Writer(g) => g,
            PooledConnection::Reader(_, c) => {
                c.as_ref().expect("reader connection present until drop")
            }
        }
    }
}

impl Drop for PooledConnection<'_> {
    fn drop(&mut self) {
        if let PooledConnection::Reader(index, conn) = self {
            if let Some(conn) = conn.take() {
                index.return_reader(conn);
            }
        }
    }
}

pub(crate) struct SqliteTransaction<'a> {
    conn: PooledConnection<'a>,
    open: bool,
}

impl<'a> SqliteTransaction<'a> {
    pub(crate) fn new(conn: PooledConnection<'a>) -> Self {
        SqliteTransaction { conn, open: true }
    }
}

impl Drop for SqliteTransaction<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

type Result<T> = std::result::Result<T, IndexError>;

fn resource_type(code: i64) -> rusqlite::Result<ResourceType> {
    ResourceType::from_code(code).ok_or(rusqlite::Error::IntegralValueOutOfRange(0, code))
}

fn file_info(row: &Row<'_>, first: usize) -> rusqlite::Result<FileInfo> {
    let compression: i32 = row.get(first + 4)?;
    Ok(FileInfo {
        uuid: row.get(first)?,
        content_type: FileContentType(row.get(first + 1)?),
        compressed_size: row.get::<_, i64>(first + 2)? as u64,
        uncompressed_size: row.get::<_, i64>(first + 3)? as u64,
        compression: CompressionType::from_code(compression).unwrap_or(CompressionType::None),
        uncompressed_md5: row.get(first + 5)?,
        compressed_md5: row.get(first + 6)?,
    })
}

const FILE_COLUMNS: &str =
    "uuid, fileType, compressedSize, uncompressedSize, compressionType, uncompressedMD5, compressedMD5";

fn change(row: &Row<'_>) -> rusqlite::Result<Change> {
    let ct: i32 = row.get(1)?;
    Ok(Change {
        seq: row.get(0)?,
        change_type: ChangeType::from_code(ct)
            .ok_or(rusqlite::Error::IntegralValueOutOfRange(1, ct as i64))?,
        resource_type: resource_type(row.get(2)?)?,
        public_id: row.get(3)?,
        date: row.get(4)?,
    })
}

fn export(row: &Row<'_>) -> rusqlite::Result<ExportedResource> {
    Ok(ExportedResource {
        seq: row.get(0)?,
        resource_type: resource_type(row.get(1)?)?,
        public_id: row.get(2)?,
        remote_modality: row.get(3)?,
        patient_id: row.get(4)?,
        study_instance_uid: row.get(5)?,
        series_instance_uid: row.get(6)?,
        sop_instance_uid: row.get(7)?,
        date: row.get(8)?,
    })
}

impl SqliteTransaction<'_> {
    fn query_strings(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<String>> {
        let mut st = self.conn.prepare_cached(sql).map_err(sql_error)?;
        let rows = st.query_map(p, |r| r.get(0)).map_err(sql_error)?;
        rows.collect::<rusqlite::Result<_>>().map_err(sql_error)
    }

    fn query_ids(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<i64>> {
        let mut st = self.conn.prepare_cached(sql).map_err(sql_error)?;
        let rows = st.query_map(p, |r| r.get(0)).map_err(sql_error)?;
        rows.collect::<rusqlite::Result<_>>().map_err(sql_error)
    }

    fn exec(&self, sql: &str, p: impl rusqlite::Params) -> Result<usize> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut st| st.execute(p))
            .map_err(sql_error)
    }

    fn get_or_create(
        &self,
        public_id: &str,
        level: ResourceType,
        parent: Option<InternalId>,
    ) -> Result<(InternalId, bool)> {
        let existing: Option<i64> = self
            .conn
            .prepare_cached("SELECT internalId FROM Resources WHERE publicId = ?")
            .and_then(|mut st| st.query_row([public_id], |r| r.get(0)).optional())
            .map_err(sql_error)?;
        if let Some(id) = existing {
            return Ok((id, false));
        }
        self.exec(
            "INSERT INTO Resources(resourceType, publicId, parentId) VALUES (?, ?, ?)",
            params![level.code(), public_id, parent],
        )?;
        Ok((self.conn.last_insert_rowid(), true))
    }

    /// Files, resources and ids of a subtree.
    fn collect_subtree(&self, root: InternalId, deleted: &mut DeletedResources) -> Result<()> {
        let mut st = self
            .conn
            .prepare_cached(
                "WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL \
                 SELECT r.internalId FROM Resources r JOIN sub ON r.parentId = sub.id) \
                 SELECT r.resourceType, r.publicId FROM Resources r JOIN sub ON r.internalId = sub.id",
            )
            .map_err(sql_error)?;
        let rows = st
            .query_map([root], |r| {
                Ok(PublicResource {
                    level: resource_type(r.get(0)?)?,
                    public_id: r.get(1)?,
                })
            })
            .map_err(sql_error)?;
        for row in rows {
            deleted.resources.push(row.map_err(sql_error)?);
        }
        let sql = format!(
            "WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL \
             SELECT r.internalId FROM Resources r JOIN sub ON r.parentId = sub.id) \
             SELECT {FILE_COLUMNS} FROM AttachedFiles WHERE id IN sub"
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(sql_error)?;
        let rows = st
            .query_map([root], |r| file_info(r, 0))
            .map_err(sql_error)?;
        for row in rows {
            deleted.files.push(row.map_err(sql_error)?);
        }
        Ok(())
    }
}

impl IndexTransaction for SqliteTransaction<'_> {
    fn commit(mut self: Box<Self>) -> Result<()> {
        self.open = false;
        self.conn.execute_batch("COMMIT").map_err(|e| {
            let _ = self.conn.execute_batch("ROLLBACK");
            sql_error(e)
        })
    }

    fn rollback(mut self: Box<Self>) -> Result<()> {
        self.open = false;
        self.conn.execute_batch("ROLLBACK").map_err(sql_error)
    }

    /// The changed pages go to the write-ahead log now, as frames that no reader or recovery
    /// takes into account until the commit frame follows them (`sqlite3_db_cacheflush`).
    fn write_pending(&mut self) -> Result<()> {
        self.conn.cache_flush().map_err(sql_error)
    }

    fn create_instance(&mut self, h: &InstanceHashes) -> Result<CreatedInstance> {
        if let Some(ResourceWithParent {
            id: instance_id, ..
        }) = self.lookup_resource_and_parent(&h.instance)?
        {
            let series_id = self
                .lookup_parent(instance_id)?
                .ok_or(IndexError::UnknownResource)?;
            let study_id = self
                .lookup_parent(series_id)?
                .ok_or(IndexError::UnknownResource)?;
            let patient_id = self
                .lookup_parent(study_id)?
                .ok_or(IndexError::UnknownResource)?;
            return Ok(CreatedInstance {
                is_new_instance: false,
                instance_id,
                series_id,
                study_id,
                patient_id,
                is_new_series: false,
                is_new_study: false,
                is_new_patient: false,
            });
        }
        let (patient_id, is_new_patient) =
            self.get_or_create(&h.patient, ResourceType::Patient, None)?;
        let (study_id, is_new_study) =
            self.get_or_create(&h.study, ResourceType::Study, Some(patient_id))?;
        let (series_id, is_new_series) =
            self.get_or_create(&h.series, ResourceType::Series, Some(study_id))?;
        let (instance_id, _) =
            self.get_or_create(&h.instance, ResourceType::Instance, Some(series_id))?;
        if is_new_patient {
            self.exec(
                "INSERT INTO PatientRecyclingOrder(patientId) VALUES (?)",
                [patient_id],
            )?;
        } else {
            self.tag_most_recent_patient(patient_id)?;
        }
        Ok(CreatedInstance {
            is_new_instance: true,
            instance_id,
            series_id,
            study_id,
            patient_id,
            is_new_series,
            is_new_study,
            is_new_patient,
        })
    }

    fn set_resources_content(&mut self, content: &ResourcesContent) -> Result<()> {
        for t in &content.main_tags {
            self.exec(
                "INSERT OR REPLACE INTO MainDicomTags(id, tagGroup, tagElement, value, normalized) \
                 VALUES (?, ?, ?, ?, ?)",
                params![
                    t.resource,
                    t.group,
                    t.element,
                    t.value,
                    normalize_for_matching(&t.value)
                ],
            )?;
        }
        for m in &content.metadata {
            self.exec(
                "INSERT OR REPLACE INTO Metadata(id, type, value, revision) VALUES (?, ?, ?, 0)",
                params![m.resource, m.kind.0, m.value],
            )?;
        }
        Ok(())
    }

    fn lookup_resource(&mut self, public_id: &str) -> Result<Option<ResourceRef>> {
        self.conn
            .prepare_cached("SELECT internalId, resourceType FROM Resources WHERE publicId = ?")
            .and_then(|mut st| {
                st.query_row([public_id], |r| {
                    Ok(ResourceRef {
                        id: r.get(0)?,
                        level: resource_type(r.get(1)?)?,
                    })
                })
                .optional()
            })
            .map_err(sql_error)
    }

    fn lookup_resource_and_parent(
        &mut self,
        public_id: &str,
    ) -> Result<Option<ResourceWithParent>> {
        self.conn
            .prepare_cached(
                "SELECT r.internalId, r.resourceType, p.publicId FROM Resources r \
                 LEFT JOIN Resources p ON p.internalId = r.parentId WHERE r.publicId = ?",
            )
            .and_then(|mut st| {
                st.query_row([public_id], |r| {
                    Ok(ResourceWithParent {
                        id: r.get(0)?,
                        level: resource_type(r.get(1)?)?,
                        parent: r.get(2)?,
                    })
                })
                .optional()
            })
            .map_err(sql_error)
    }

    fn get_public_id(&mut self, id: InternalId) -> Result<String> {
        self.query_strings("SELECT publicId FROM Resources WHERE internalId = ?", [id])?
            .pop()
            .ok_or(IndexError::UnknownResource)
    }

    fn get_resource_type(&mut self, id: InternalId) -> Result<ResourceType> {
        let code = self
            .query_ids(
                "SELECT resourceType FROM Resources WHERE internalId = ?",
                [id],
            )?
            .pop()
            .ok_or(IndexError::UnknownResource)?;
        ResourceType::from_code(code).ok_or(IndexError::UnknownResource)
    }

    fn lookup_parent(&mut self, id: InternalId) -> Result<Option<InternalId>> {
        self.conn
            .prepare_cached("SELECT parentId FROM Resources WHERE internalId = ?")
            .and_then(|mut st| {
                st.query_row([id], |r| r.get::<_, Option<i64>>(0))
                    .optional()
            })
            .map(Option::flatten)
            .map_err(sql_error)
    }

    fn get_children_internal_ids(&mut self, id: InternalId) -> Result<Vec<InternalId>> {
        self.query_ids(
            "SELECT internalId FROM Resources WHERE parentId = ? ORDER BY internalId",
            [id],
        )
    }

    fn count_children(&mut self, id: InternalId) -> Result<u64> {
        let count: i64 = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM Resources WHERE parentId = ?")
            .and_then(|mut st| st.query_row([id], |r| r.get(0)))
            .map_err(sql_error)?;
        Ok(count as u64)
    }

    fn get_children_public_ids(&mut self, id: InternalId) -> Result<Vec<String>> {
        self.query_strings(
            "SELECT publicId FROM Resources WHERE parentId = ? ORDER BY internalId",
            [id],
        )
    }

    fn get_all_public_ids(
        &mut self,
        level: ResourceType,
        since: u64,
        limit: Option<u64>,
    ) -> Result<Vec<String>> {
        let limit = limit.map(|l| l.min(i64::MAX as u64) as i64).unwrap_or(-1);
        self.query_strings(
            "SELECT publicId FROM Resources WHERE resourceType = ? ORDER BY internalId \
             LIMIT ? OFFSET ?",
            params![level.code(), limit, since.min(i64::MAX as u64) as i64],
        )
    }

    fn get_resources_count(&mut self, level: ResourceType) -> Result<u64> {
        Ok(self
            .query_ids(
                "SELECT COUNT(*) FROM Resources WHERE resourceType = ?",
                [level.code()],
            )?
            .pop()
            .unwrap_or(0) as u64)
    }

    fn delete_resource(&mut self, id: InternalId) -> Result<DeletedResources> {
        let mut deleted = DeletedResources::default();
        self.collect_subtree(id, &mut deleted)?;
        let mut parent = self.lookup_parent(id)?;
        self.exec("DELETE FROM Resources WHERE internalId = ?", [id])?;
        while let Some(p) = parent {
            let children =
                self.query_ids("SELECT COUNT(*) FROM Resources WHERE parentId = ?", [p])?;
            if children.first().copied().unwrap_or(0) > 0 {
                deleted.remaining_ancestor = Some(PublicResource {
                    level: self.get_resource_type(p)?,
                    public_id: self.get_public_id(p)?,
                });
                break;
            }
            let grand = self.lookup_parent(p)?;
            self.collect_subtree(p, &mut deleted)?;
            self.exec("DELETE FROM Resources WHERE internalId = ?", [p])?;
            parent = grand;
        }
        Ok(deleted)
    }

    fn get_main_dicom_tags(&mut self, id: InternalId) -> Result<Vec<MainDicomTag>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT tagGroup, tagElement, value FROM MainDicomTags WHERE id = ? \
                 ORDER BY tagGroup, tagElement",
            )
            .map_err(sql_error)?;
        let rows = st
            .query_map([id], |r| {
                Ok(MainDicomTag {
                    group: r.get(0)?,
                    element: r.get(1)?,
                    value: r.get(2)?,
                })
            })
            .map_err(sql_error)?;
        rows.collect::<rusqlite::Result<_>>().map_err(sql_error)
    }

    fn clear_main_dicom_tags(&mut self, id: InternalId) -> Result<()> {
        self.exec("DELETE FROM MainDicomTags WHERE id = ?", [id])
            .map(|_| ())
    }

    fn lookup_resources(&mut self, query: &FindQuery) -> Result<Vec<String>> {
        let (sql, values) = crate::find::compile(query);
        let mut st = self.conn.prepare_cached(&sql).map_err(sql_error)?;
        let rows = st
            .query_map(rusqlite::params_from_iter(values.iter()), |r| r.get(0))
            .map_err(sql_error)?;
        rows.collect::<rusqlite::Result<_>>().map_err(sql_error)
    }

    fn lookup_identifier(
        &mut self,
        level: ResourceType,
        group: u16,
        element: u16,
        value: &str,
    ) -> Result<Vec<String>> {
        self.query_strings(
            // Through the case-folded index (see `find::value_condition`).
            "SELECT r.publicId FROM MainDicomTags m JOIN Resources r ON r.internalId = m.id \
             WHERE m.tagGroup = ? AND m.tagElement = ? AND m.normalized = ? AND m.value = ? \
             AND r.resourceType = ? ORDER BY r.internalId",
            params![
                group,
                element,
                normalize_for_matching(value),
                value,
                level.code()
            ],
        )
    }

    fn get_all_metadata(&mut self, id: InternalId) -> Result<Vec<MetadataEntry>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT type, value, revision FROM Metadata WHERE id = ? ORDER BY type")
            .map_err(sql_error)?;
        let rows = st
            .query_map([id], |r| {
                Ok(MetadataEntry {
                    kind: MetadataType(r.get(0)?),
                    value: r.get(1)?,
                    revision: r.get(2)?,
                })
            })
            .map_err(sql_error)?;
        rows.collect::<rusqlite::Result<_>>().map_err(sql_error)
    }

    fn lookup_metadata(
        &mut self,
        id: InternalId,
        kind: MetadataType,
    ) -> Result<Option<MetadataValue>> {
        self.conn
            .prepare_cached("SELECT value, revision FROM Metadata WHERE id = ? AND type = ?")
            .and_then(|mut st| {
                st.query_row(params![id, kind.0], |r| {
                    Ok(MetadataValue {
                        value: r.get(0)?,
                        revision: r.get(1)?,
                    })
                })
                .optional()
            })
            .map_err(sql_error)
    }

    // Preconditions: a read-write transaction holds the only write lock on the database from
    // its `BEGIN IMMEDIATE`, so what it reads stays current until it commits: checking, then
    // writing, is atomic.

    fn set_metadata(
        &mut self,
        id: InternalId,
        kind: MetadataType,
        value: &str,
        precondition: &Precondition,
    ) -> Result<i64> {
        let current = self.lookup_metadata(id, kind)?;
        precondition.check_metadata(current.as_ref())?;
        let revision = current.map_or(0, |c| c.revision + 1);
        self.exec(
            "INSERT OR REPLACE INTO Metadata(id, type, value, revision) VALUES (?, ?, ?, ?)",
            params![id, kind.0, value, revision],
        )?;
        Ok(revision)
    }

    fn delete_metadata(
        &mut self,
        id: InternalId,
        kind: MetadataType,
        precondition: &Precondition,
    ) -> Result<Option<MetadataValue>> {
        let Some(current) = self.lookup_metadata(id, kind)? else {
            return Ok(None);
        };
        precondition.check_metadata(Some(&current))?;
        self.exec(
            "DELETE FROM Metadata WHERE id = ? AND type = ?",
            params![id, kind.0],
        )?;
        Ok(Some(current))
    }

    fn get_children_metadata(&mut self, id: InternalId, kind: MetadataType) -> Result<Vec<String>> {
        self.query_strings(
            "SELECT m.value FROM Resources r JOIN Metadata m ON m.id = r.internalId \
             WHERE r.parentId = ? AND m.type = ? ORDER BY r.internalId",
            params![id, kind.0],
        )
    }

    fn add_attachment(
        &mut self,
        id: InternalId,
        f: &FileInfo,
        precondition: &Precondition,
    ) -> Result<AddedAttachment> {
        let current = self.lookup_attachment(id, f.content_type)?;
        precondition.check_attachment(current.as_ref())?;
        let revision = current.as_ref().map_or(0, |c| c.revision + 1);
        self.exec(
            "INSERT OR REPLACE INTO AttachedFiles(id, fileType, uuid, compressedSize, uncompressedSize, \
             compressionType, uncompressedMD5, compressedMD5, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                id,
                f.content_type.0,
                f.uuid,
                f.compressed_size as i64,
                f.uncompressed_size as i64,
                f.compression.code(),
                f.uncompressed_md5,
                f.compressed_md5,
                revision
            ],
        )?;
        Ok(AddedAttachment {
            revision,
            replaced: current.map(|c| c.file),
        })
    }

    fn delete_attachment(
        &mut self,
        id: InternalId,
        ct: FileContentType,
        precondition: &Precondition,
    ) -> Result<Option<StoredAttachment>> {
        let Some(current) = self.lookup_attachment(id, ct)? else {
            return Ok(None);
        };
        precondition.check_attachment(Some(&current))?;
        self.exec(
            "DELETE FROM AttachedFiles WHERE id = ? AND fileType = ?",
            params![id, ct.0],
        )?;
        Ok(Some(current))
    }

    fn lookup_attachment(
        &mut self,
        id: InternalId,
        ct: FileContentType,
    ) -> Result<Option<StoredAttachment>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS}, revision FROM AttachedFiles WHERE id = ? AND fileType = ?"
        );
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| {
                st.query_row(params![id, ct.0], |r| {
                    Ok(StoredAttachment {
                        file: file_info(r, 0)?,
                        revision: r.get(7)?,
                    })
                })
                .optional()
            })
            .map_err(sql_error)
    }

    fn list_available_attachments(&mut self, id: InternalId) -> Result<Vec<FileContentType>> {
        Ok(self
            .query_ids(
                "SELECT fileType FROM AttachedFiles WHERE id = ? ORDER BY fileType",
                [id],
            )?
            .into_iter()
            .map(|t| FileContentType(t as i32))
            .collect())
    }

    fn get_resource_size(&mut self, id: InternalId) -> Result<ResourceSize> {
        self.conn
            .prepare_cached(
                "WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL \
                 SELECT r.internalId FROM Resources r JOIN sub ON r.parentId = sub.id) \
                 SELECT COALESCE(SUM(compressedSize), 0), COALESCE(SUM(uncompressedSize), 0), \
                 COALESCE(SUM(CASE WHEN fileType = 1 THEN compressedSize END), 0), \
                 COALESCE(SUM(CASE WHEN fileType = 1 THEN uncompressedSize END), 0) \
                 FROM AttachedFiles WHERE id IN sub",
            )
            .and_then(|mut st| {
                st.query_row([id], |r| {
                    Ok(ResourceSize {
                        disk_size: r.get::<_, i64>(0)? as u64,
                        uncompressed_size: r.get::<_, i64>(1)? as u64,
                        dicom_disk_size: r.get::<_, i64>(2)? as u64,
                        dicom_uncompressed_size: r.get::<_, i64>(3)? as u64,
                    })
                })
            })
            .map_err(sql_error)
    }

    fn log_change(&mut self, c: &NewChange) -> Result<i64> {
        let id = self
            .lookup_resource(&c.public_id)?
            .ok_or(IndexError::UnknownResource)?
            .id;
        self.exec(
            "INSERT INTO Changes(changeType, internalId, resourceType, publicId, date) VALUES (?, ?, ?, ?, ?)",
            params![c.change_type.code(), id, c.resource_type.code(), c.public_id, c.date],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn get_changes(&mut self, since: i64, limit: u64) -> Result<ChangesPage> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, changeType, resourceType, publicId, date FROM Changes \
                 WHERE seq > ? ORDER BY seq LIMIT ?",
            )
            .map_err(sql_error)?;
        let fetch = limit.saturating_add(1).min(i64::MAX as u64) as i64;
        let mut changes: Vec<Change> = st
            .query_map(params![since, fetch], change)
            .map_err(sql_error)?
            .collect::<rusqlite::Result<_>>()
            .map_err(sql_error)?;
        let done = changes.len() as u64 <= limit;
        changes.truncate(limit as usize);
        Ok(ChangesPage { changes, done })
    }

    fn get_last_change(&mut self) -> Result<Option<Change>> {
        self.conn
            .prepare_cached(
                "SELECT seq, changeType, resourceType, publicId, date FROM Changes ORDER BY seq DESC LIMIT 1",
            )
            .and_then(|mut st| st.query_row([], change).optional())
            .map_err(sql_error)
    }

    fn get_last_change_index(&mut self) -> Result<i64> {
        // The sequence survives deletions of rows, as Orthanc's does.
        Ok(self
            .query_ids("SELECT seq FROM sqlite_sequence WHERE name = 'Changes'", [])?
            .pop()
            .unwrap_or(0))
    }

    fn clear_changes(&mut self) -> Result<()> {
        self.exec("DELETE FROM Changes", []).map(|_| ())
    }

    fn log_exported_resource(&mut self, e: &ExportedResource) -> Result<()> {
        self.exec(
            "INSERT INTO ExportedResources(resourceType, publicId, remoteModality, patientId, \
             studyInstanceUid, seriesInstanceUid, sopInstanceUid, date) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                e.resource_type.code(),
                e.public_id,
                e.remote_modality,
                e.patient_id,
                e.study_instance_uid,
                e.series_instance_uid,
                e.sop_instance_uid,
                e.date
            ],
        )
        .map(|_| ())
    }

    fn get_exported_resources(&mut self, since: i64, limit: u64) -> Result<ExportsPage> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, resourceType, publicId, remoteModality, patientId, studyInstanceUid, \
                 seriesInstanceUid, sopInstanceUid, date FROM ExportedResources WHERE seq > ? ORDER BY seq LIMIT ?",
            )
            .map_err(sql_error)?;
        let fetch = limit.saturating_add(1).min(i64::MAX as u64) as i64;
        let mut exports: Vec<ExportedResource> = st
            .query_map(params![since, fetch], export)
            .map_err(sql_error)?
            .collect::<rusqlite::Result<_>>()
            .map_err(sql_error)?;
        let done = exports.len() as u64 <= limit;
        exports.truncate(limit as usize);
        Ok(ExportsPage { exports, done })
    }

    fn get_last_exported_resource(&mut self) -> Result<Option<ExportedResource>> {
        self.conn
            .prepare_cached(
                "SELECT seq, resourceType, publicId, remoteModality, patientId, studyInstanceUid, \
                 seriesInstanceUid, sopInstanceUid, date FROM ExportedResources ORDER BY seq DESC LIMIT 1",
            )
            .and_then(|mut st| st.query_row([], export).optional())
            .map_err(sql_error)
    }

    fn clear_exported_resources(&mut self) -> Result<()> {
        self.exec("DELETE FROM ExportedResources", []).map(|_| ())
    }

    fn lookup_global_property(&mut self, server: &str, property: i32) -> Result<Option<String>> {
        Ok(self
            .query_strings(
                "SELECT value FROM GlobalProperties WHERE server = ? AND property = ?",
                params![server, property],
            )?
            .pop())
    }

    fn set_global_property(&mut self, server: &str, property: i32, value: &str) -> Result<()> {
        self.exec(
            "INSERT OR REPLACE INTO GlobalProperties(server, property, value) VALUES (?, ?, ?)",
            params![server, property, value],
        )
        .map(|_| ())
    }

    fn get_total_compressed_size(&mut self) -> Result<u64> {
        Ok(self
            .query_ids(
                "SELECT COALESCE(SUM(compressedSize), 0) FROM AttachedFiles",
                [],
            )?
            .pop()
            .unwrap_or(0) as u64)
    }

    fn get_total_uncompressed_size(&mut self) -> Result<u64> {
        Ok(self
            .query_ids(
                "SELECT COALESCE(SUM(uncompressedSize), 0) FROM AttachedFiles",
                [],
            )?
            .pop()
            .unwrap_or(0) as u64)
    }

    fn select_patient_to_recycle(
        &mut self,
        avoid: Option<InternalId>,
    ) -> Result<Option<InternalId>> {
        Ok(self
            .query_ids(
                "SELECT patientId FROM PatientRecyclingOrder WHERE patientId != ? ORDER BY seq LIMIT 1",
                [avoid.unwrap_or(-1)],
            )?
            .pop())
    }

    fn is_protected_patient(&mut self, id: InternalId) -> Result<bool> {
        Ok(self
            .query_ids(
                "SELECT COUNT(*) FROM PatientRecyclingOrder WHERE patientId = ?",
                [id],
            )?
            .pop()
            .unwrap_or(0)
            == 0)
    }

    fn set_protected_patient(&mut self, id: InternalId, protected: bool) -> Result<()> {
        if protected {
            self.exec(
                "DELETE FROM PatientRecyclingOrder WHERE patientId = ?",
                [id],
            )?;
        } else if self.is_protected_patient(id)? {
            self.exec(
                "INSERT INTO PatientRecyclingOrder(patientId) VALUES (?)",
                [id],
            )?;
        }
        Ok(())
    }

    fn tag_most_recent_patient(&mut self, id: InternalId) -> Result<()> {
        // Protected patients are absent from the order and stay so. A patient already the most
        // recent (the usual case: a study arriving instance after instance) is left in place,
        // which spares the commit three pages.
        let already_last: Option<bool> = self
            .conn
            .prepare_cached(
                "SELECT seq = (SELECT MAX(seq) FROM PatientRecyclingOrder) \
                 FROM PatientRecyclingOrder WHERE patientId = ?",
            )
            .and_then(|mut st| st.query_row([id], |r| r.get(0)).optional())
            .map_err(sql_error)?;
        if already_last == Some(false) {
            self.exec(
                "DELETE FROM PatientRecyclingOrder WHERE patientId = ?",
                [id],
            )?;
            self.exec(
                "INSERT INTO PatientRecyclingOrder(patientId) VALUES (?)",
                [id],
            )?;
        }
        Ok(())
    }

    fn add_label(&mut self, id: InternalId, label: &str) -> Result<()> {
        self.exec(
            "INSERT OR IGNORE INTO Labels(id, label) VALUES (?, ?)",
            params![id, label],
        )
        .map(|_| ())
    }

    fn remove_label(&mut self, id: InternalId, label: &str) -> Result<()> {
        self.exec(
            "DELETE FROM Labels WHERE id = ? AND label = ?",
            params![id, label],
        )
        .map(|_| ())
    }

    fn list_labels(&mut self, id: Option<InternalId>) -> Result<Vec<String>> {
        match id {
            Some(id) => {
                self.query_strings("SELECT label FROM Labels WHERE id = ? ORDER BY label", [id])
            }
            None => self.query_strings("SELECT DISTINCT label FROM Labels ORDER BY label", []),
        }
    }
}

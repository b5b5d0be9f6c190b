//! The index backend trait, modelled on Orthanc's database plugin SDK (V2 callbacks with their
//! extensions, V3 transactions, V4 revisions and labels), grouped as a Rust transaction object.
//!
//! Every operation runs inside a transaction obtained from [`IndexBackend::begin`]. The server
//! runs transactions on blocking threads, so implementations may block. A backend that detects a
//! serialization conflict returns [`IndexError::Conflict`]; the caller then replays the whole
//! transaction (as Orthanc does with `DatabaseCannotSerialize`).

use crate::{
    AddedAttachment, Change, ChangesPage, ExportedResource, ExportsPage, FileContentType, FileInfo,
    FindQuery, MetadataEntry, MetadataType, MetadataValue, NewChange, Precondition, ResourceType,
    StoredAttachment,
};

/// A backend's own identifier for a resource row.
pub type InternalId = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxMode {
    ReadOnly,
    ReadWrite,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Concurrent transactions collided; replaying the transaction may succeed.
    #[error("database cannot serialize the transaction: {0}")]
    Conflict(String),
    /// The database cannot be reached right now (connection lost, server restarting).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("unknown resource")]
    UnknownResource,
    /// A write's [`Precondition`] does not hold: the metadata value or attachment is absent, at
    /// another revision or holds other content than expected, or exists when it should not.
    #[error("revision mismatch")]
    RevisionMismatch,
    #[error("schema error: {0}")]
    Schema(String),
    #[error("database error: {0}")]
    Backend(String),
}

/// What a backend is and supports (`GET_SYSTEM_INFORMATION`).
#[derive(Debug, Clone)]
pub struct BackendInfo {
    pub name: &'static str,
    pub schema_version: u32,
    pub supports_revisions: bool,
    pub supports_labels: bool,
}

/// A database holding the index.
pub trait IndexBackend: Send + Sync + 'static {
    fn info(&self) -> BackendInfo;

    /// Starts a transaction. Dropping it without commit rolls it back.
    fn begin(&self, mode: TxMode) -> Result<Box<dyn IndexTransaction + '_>, IndexError>;

    /// Makes every committed transaction durable (`FLUSH_TO_DISK`). Backends whose commits are
    /// always durable do nothing. The server calls it before removing the files of deleted
    /// records, so that a power cut can never leave the index pointing at removed files.
    fn flush_to_disk(&self) -> Result<(), IndexError> {
        Ok(())
    }
}

/// The four public IDs (hashes) of a new instance and its ancestors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceHashes {
    pub patient: String,
    pub study: String,
    pub series: String,
    pub instance: String,
}

/// Result of `create_instance`: internal IDs of the four levels and which of them are new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedInstance {
    /// False when the instance already existed (nothing was created).
    pub is_new_instance: bool,
    pub instance_id: InternalId,
    pub series_id: InternalId,
    pub study_id: InternalId,
    pub patient_id: InternalId,
    pub is_new_series: bool,
    pub is_new_study: bool,
    pub is_new_patient: bool,
}

/// A resource found by its public ID (`lookup_resource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceRef {
    /// The backend's internal ID of the resource.
    pub id: InternalId,
    /// Its level (patient, study, series or instance).
    pub level: ResourceType,
}

/// A resource found by its public ID, with its parent (`lookup_resource_and_parent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceWithParent {
    /// The backend's internal ID of the resource.
    pub id: InternalId,
    /// Its level (patient, study, series or instance).
    pub level: ResourceType,
    /// The public ID of its parent; `None` for a patient.
    pub parent: Option<String>,
}

/// A resource named by its level and public ID, as `/changes` and deletions report it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicResource {
    /// Its level (patient, study, series or instance).
    pub level: ResourceType,
    /// Its public ID (the Orthanc hash of its DICOM identifiers).
    pub public_id: String,
}

/// One main DICOM tag of a resource (`get_main_dicom_tags`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MainDicomTag {
    /// The tag's group number (`0x0010` for `PatientName`).
    pub group: u16,
    /// The tag's element number (`0x0010` for `PatientName`).
    pub element: u16,
    /// The value, as Orthanc stores it (multiple values joined by `\`).
    pub value: String,
}

/// A main DICOM tag to write on a resource (`ResourcesContent::main_tags`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMainDicomTag {
    /// The resource the tag belongs to.
    pub resource: InternalId,
    /// The tag's group number.
    pub group: u16,
    /// The tag's element number.
    pub element: u16,
    /// The value, as Orthanc stores it (multiple values joined by `\`).
    pub value: String,
}

/// A metadata value to write on a resource (`ResourcesContent::metadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMetadataValue {
    /// The resource the metadata belongs to.
    pub resource: InternalId,
    /// Which metadata.
    pub kind: MetadataType,
    /// The value; revision 0 is recorded with it.
    pub value: String,
}

/// Bulk content written after `create_instance` (`SET_RESOURCES_CONTENT`).
#[derive(Debug, Clone, Default)]
pub struct ResourcesContent {
    /// Main DICOM tags, replacing any value already stored for the same resource and tag.
    pub main_tags: Vec<ResourceMainDicomTag>,
    /// Metadata values, each recorded at revision 0 (replacing any value already stored).
    pub metadata: Vec<ResourceMetadataValue>,
}

/// What `delete_resource` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedResources {
    /// Files to remove from the storage area once the transaction committed.
    pub files: Vec<FileInfo>,
    /// Every resource deleted: the one asked for, its descendants, and the ancestors left
    /// without children.
    pub resources: Vec<PublicResource>,
    /// The nearest ancestor that survives.
    pub remaining_ancestor: Option<PublicResource>,
}

/// One transaction on the index. Method names follow the SDK's operations.
pub trait IndexTransaction {
    fn commit(self: Box<Self>) -> Result<(), IndexError>;
    fn rollback(self: Box<Self>) -> Result<(), IndexError>;
    /// The transaction is about to wait (for a file being flushed, say): a backend that keeps
    /// its changes in memory until the commit may write them out now, so that the commit has
    /// less left to do. Nothing becomes visible, or durable, before the commit.
    fn write_pending(&mut self) -> Result<(), IndexError> {
        Ok(())
    }

    // ---- resources ----
    /// Get-or-create the patient/study/series/instance hierarchy (`CREATE_INSTANCE`).
    fn create_instance(&mut self, hashes: &InstanceHashes) -> Result<CreatedInstance, IndexError>;
    fn set_resources_content(&mut self, content: &ResourcesContent) -> Result<(), IndexError>;
    fn lookup_resource(&mut self, public_id: &str) -> Result<Option<ResourceRef>, IndexError>;
    /// Resolves a public ID together with its parent's public ID.
    fn lookup_resource_and_parent(
        &mut self,
        public_id: &str,
    ) -> Result<Option<ResourceWithParent>, IndexError>;
    fn get_public_id(&mut self, id: InternalId) -> Result<String, IndexError>;
    fn get_resource_type(&mut self, id: InternalId) -> Result<ResourceType, IndexError>;
    fn lookup_parent(&mut self, id: InternalId) -> Result<Option<InternalId>, IndexError>;
    fn get_children_internal_ids(&mut self, id: InternalId) -> Result<Vec<InternalId>, IndexError>;
    fn get_children_public_ids(&mut self, id: InternalId) -> Result<Vec<String>, IndexError>;
    /// How many children a resource has (a series' instances: `IndexInSeries`).
    fn count_children(&mut self, id: InternalId) -> Result<u64, IndexError> {
        Ok(self.get_children_internal_ids(id)?.len() as u64)
    }
    /// Public IDs at a level in insertion order, optionally paged (`since`, `limit`).
    fn get_all_public_ids(
        &mut self,
        level: ResourceType,
        since: u64,
        limit: Option<u64>,
    ) -> Result<Vec<String>, IndexError>;
    fn get_resources_count(&mut self, level: ResourceType) -> Result<u64, IndexError>;
    /// Deletes a resource, its descendants and the ancestors left without children.
    fn delete_resource(&mut self, id: InternalId) -> Result<DeletedResources, IndexError>;
    /// The main DICOM tags of a resource, by group then element.
    fn get_main_dicom_tags(&mut self, id: InternalId) -> Result<Vec<MainDicomTag>, IndexError>;
    fn clear_main_dicom_tags(&mut self, id: InternalId) -> Result<(), IndexError>;
    /// Public IDs of the resources matching a query, in index order (`LOOKUP_RESOURCES`).
    fn lookup_resources(&mut self, query: &FindQuery) -> Result<Vec<String>, IndexError>;
    /// Public IDs of resources whose main tag at `level` equals `value` exactly (`/tools/lookup`).
    fn lookup_identifier(
        &mut self,
        level: ResourceType,
        group: u16,
        element: u16,
        value: &str,
    ) -> Result<Vec<String>, IndexError>;

    // ---- metadata (with revisions) ----
    /// Every metadata value of a resource, by kind.
    fn get_all_metadata(&mut self, id: InternalId) -> Result<Vec<MetadataEntry>, IndexError>;
    fn lookup_metadata(
        &mut self,
        id: InternalId,
        kind: MetadataType,
    ) -> Result<Option<MetadataValue>, IndexError>;
    /// Writes a metadata value if `precondition` holds, checked atomically with the write
    /// (else [`IndexError::RevisionMismatch`]). A new value gets revision 0, an overwrite the
    /// stored revision + 1. Returns the revision recorded.
    fn set_metadata(
        &mut self,
        id: InternalId,
        kind: MetadataType,
        value: &str,
        precondition: &Precondition,
    ) -> Result<i64, IndexError>;
    /// Removes a metadata value if `precondition` holds, checked atomically with the removal
    /// (else [`IndexError::RevisionMismatch`]). Returns the value removed; `None` when there
    /// was none, whatever the precondition (the caller decides whether that is an error).
    fn delete_metadata(
        &mut self,
        id: InternalId,
        kind: MetadataType,
        precondition: &Precondition,
    ) -> Result<Option<MetadataValue>, IndexError>;
    /// One metadata value of every child (`GET_CHILDREN_METADATA`).
    fn get_children_metadata(
        &mut self,
        id: InternalId,
        kind: MetadataType,
    ) -> Result<Vec<String>, IndexError>;

    // ---- attachments (with revisions) ----
    /// Records an attachment (of `file.content_type`) if `precondition` holds, checked
    /// atomically with the write (else [`IndexError::RevisionMismatch`]). A new attachment gets
    /// revision 0, a replacement the replaced one's + 1. Returns the revision recorded and the
    /// attachment replaced (its file is the caller's to remove once the transaction committed).
    fn add_attachment(
        &mut self,
        id: InternalId,
        file: &FileInfo,
        precondition: &Precondition,
    ) -> Result<AddedAttachment, IndexError>;
    /// Removes an attachment record if `precondition` holds, checked atomically with the
    /// removal (else [`IndexError::RevisionMismatch`]). Returns the record removed (its file is
    /// the caller's to remove once the transaction committed); `None` when there was none,
    /// whatever the precondition.
    fn delete_attachment(
        &mut self,
        id: InternalId,
        content_type: FileContentType,
        precondition: &Precondition,
    ) -> Result<Option<StoredAttachment>, IndexError>;
    fn lookup_attachment(
        &mut self,
        id: InternalId,
        content_type: FileContentType,
    ) -> Result<Option<StoredAttachment>, IndexError>;
    fn list_available_attachments(
        &mut self,
        id: InternalId,
    ) -> Result<Vec<FileContentType>, IndexError>;
    /// Sum of the stored sizes and of the uncompressed sizes of the attachments of a resource
    /// and its descendants, with the number of DICOM files among them.
    fn get_resource_size(&mut self, id: InternalId) -> Result<ResourceSize, IndexError>;

    // ---- change and export logs ----
    fn log_change(&mut self, change: &NewChange) -> Result<i64, IndexError>;
    /// Changes with `seq > since`, at most `limit`, in `seq` order.
    fn get_changes(&mut self, since: i64, limit: u64) -> Result<ChangesPage, IndexError>;
    fn get_last_change(&mut self) -> Result<Option<Change>, IndexError>;
    fn get_last_change_index(&mut self) -> Result<i64, IndexError>;
    fn clear_changes(&mut self) -> Result<(), IndexError>;
    fn log_exported_resource(&mut self, export: &ExportedResource) -> Result<(), IndexError>;
    /// Exports with `seq > since`, at most `limit`, in `seq` order.
    fn get_exported_resources(&mut self, since: i64, limit: u64)
        -> Result<ExportsPage, IndexError>;
    fn get_last_exported_resource(&mut self) -> Result<Option<ExportedResource>, IndexError>;
    fn clear_exported_resources(&mut self) -> Result<(), IndexError>;

    // ---- global properties (per server identifier, for shared databases) ----
    fn lookup_global_property(
        &mut self,
        server: &str,
        property: i32,
    ) -> Result<Option<String>, IndexError>;
    fn set_global_property(
        &mut self,
        server: &str,
        property: i32,
        value: &str,
    ) -> Result<(), IndexError>;

    // ---- sizes and recycling ----
    fn get_total_compressed_size(&mut self) -> Result<u64, IndexError>;
    fn get_total_uncompressed_size(&mut self) -> Result<u64, IndexError>;
    fn is_disk_size_above(&mut self, threshold: u64) -> Result<bool, IndexError> {
        Ok(self.get_total_compressed_size()? > threshold)
    }
    /// Serializes the recycling decisions of concurrent writers until this transaction ends:
    /// the checks against `MaximumPatientCount` / `MaximumStorageSize` and the choice of the
    /// patients to delete then see the commits of every writer that decided before. Backends
    /// with a single writer need nothing (the default).
    fn lock_recycling(&mut self) -> Result<(), IndexError> {
        Ok(())
    }
    /// The least recently updated unprotected patient, other than `avoid`.
    fn select_patient_to_recycle(
        &mut self,
        avoid: Option<InternalId>,
    ) -> Result<Option<InternalId>, IndexError>;
    fn is_protected_patient(&mut self, id: InternalId) -> Result<bool, IndexError>;
    fn set_protected_patient(&mut self, id: InternalId, protected: bool) -> Result<(), IndexError>;
    /// Moves a patient to the most recent end of the recycling order.
    fn tag_most_recent_patient(&mut self, id: InternalId) -> Result<(), IndexError>;

    // ---- labels ----
    fn add_label(&mut self, id: InternalId, label: &str) -> Result<(), IndexError>;
    fn remove_label(&mut self, id: InternalId, label: &str) -> Result<(), IndexError>;
    /// Labels of one resource, or every label in use when `id` is `None`.
    fn list_labels(&mut self, id: Option<InternalId>) -> Result<Vec<String>, IndexError>;
}

/// Disk usage of a resource subtree (`/{level}/{id}/statistics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceSize {
    pub disk_size: u64,
    pub uncompressed_size: u64,
    pub dicom_disk_size: u64,
    pub dicom_uncompressed_size: u64,
}

//! Domain types and backend traits shared by the Stowage server and its backends.
//!
//! Nothing here knows about HTTP or SQL: index backends implement [`IndexBackend`],
//! storage areas implement [`StorageArea`], and the server talks only to those traits.

pub mod attachment;
pub mod change;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod find;
pub mod index;
pub mod metadata;
pub mod resource;
pub mod revision;
pub mod storage;

pub use attachment::{
    AddedAttachment, CompressionType, FileContentType, FileInfo, StoredAttachment,
};
pub use change::{Change, ChangeType, ChangesPage, ExportedResource, ExportsPage, NewChange};
pub use find::{ConstraintKind, FindQuery, LabelsConstraint, MetadataConstraint, TagConstraint};
pub use index::{
    BackendInfo, CreatedInstance, DeletedResources, IndexBackend, IndexError, IndexTransaction,
    InstanceHashes, InternalId, MainDicomTag, PublicResource, ResourceMainDicomTag,
    ResourceMetadataValue, ResourceRef, ResourceSize, ResourceWithParent, ResourcesContent, TxMode,
};
pub use metadata::{MetadataEntry, MetadataType, MetadataValue};
pub use resource::ResourceType;
pub use revision::Precondition;
pub use storage::{new_uuid, StorageArea, StorageError};

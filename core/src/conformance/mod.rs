//! Conformance suites every index backend and every storage area must pass.
//!
//! Each check is a public function taking a fresh, empty backend (`&dyn IndexBackend` or
//! `&dyn StorageArea`) and panicking with a message naming the operation that misbehaved. A
//! backend's integration test expands the whole suite with one macro call, one `#[test]` per
//! check, so SQLite, PostgreSQL, the filesystem, S3 and plugin storage areas all run the very
//! same assertions:
//!
//! ```ignore
//! // backends/index/sqlite/tests/conformance.rs
//! use stowage_core::conformance::Guarded;
//!
//! fn fresh() -> Guarded<SqliteIndex, tempfile::TempDir> {
//!     let dir = tempfile::tempdir().unwrap();
//!     let index = SqliteIndex::open(dir.path().join("index.db"), Durability::Full).unwrap();
//!     Guarded::new(index, dir)
//! }
//!
//! stowage_core::index_conformance_tests!(fresh());
//! ```
//!
//! The expression given to the macro is evaluated once per test and must yield a value
//! implementing the trait (wrap it in [`Guarded`] to keep a temporary folder, a container or a
//! throw-away schema alive for as long as the backend).
//!
//! Only what the traits and Orthanc's semantics specify is asserted: orders are checked exactly
//! where the trait defines them (children, `get_all_public_ids`, `lookup_resources`, change and
//! export logs: insertion order), and compared as sorted sets elsewhere (tags, metadata,
//! attachments, labels, deleted resources).

pub mod index;
pub mod storage;

use crate::index::BackendInfo;
use crate::{
    FileContentType, IndexBackend, IndexError, IndexTransaction, StorageArea, StorageError,
};

/// A backend together with whatever must outlive it (a temporary folder, a test database).
/// Fields drop in order: the backend first, then the guard.
pub struct Guarded<T, G> {
    pub inner: T,
    pub guard: G,
}

impl<T, G> Guarded<T, G> {
    pub fn new(inner: T, guard: G) -> Self {
        Guarded { inner, guard }
    }
}

impl<T: IndexBackend, G: Send + Sync + 'static> IndexBackend for Guarded<T, G> {
    fn info(&self) -> BackendInfo {
        self.inner.info()
    }

    fn begin(&self, mode: crate::TxMode) -> Result<Box<dyn IndexTransaction + '_>, IndexError> {
        self.inner.begin(mode)
    }
}

impl<T: StorageArea, G: Send + Sync + 'static> StorageArea for Guarded<T, G> {
    fn create(
        &self,
        uuid: &str,
        content_type: FileContentType,
        data: &[u8],
    ) -> Result<(), StorageError> {
        self.inner.create(uuid, content_type, data)
    }

    fn read(&self, uuid: &str, content_type: FileContentType) -> Result<Vec<u8>, StorageError> {
        self.inner.read(uuid, content_type)
    }

    fn read_range(
        &self,
        uuid: &str,
        content_type: FileContentType,
        start: u64,
        end: u64,
    ) -> Result<Vec<u8>, StorageError> {
        self.inner.read_range(uuid, content_type, start, end)
    }

    fn remove(&self, uuid: &str, content_type: FileContentType) -> Result<(), StorageError> {
        self.inner.remove(uuid, content_type)
    }

    fn list_uuids(&self) -> Result<Option<Vec<String>>, StorageError> {
        self.inner.list_uuids()
    }
}

/// Expands to one `#[test]` per check of a conformance module.
#[doc(hidden)]
#[macro_export]
macro_rules! __stowage_conformance_tests {
    ($module:ident, $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let backend = $make;
                $crate::conformance::$module::$name(&backend);
            }
        )*
    };
}

/// One `#[test]` per check of [`conformance::index`](crate::conformance::index), in one test
/// module per group (`resources::create_instance_new_hierarchy`, `metadata::metadata_revisions`,
/// ...), so that a group can be run alone (`cargo test --test conformance metadata::`). The
/// expression yields a fresh, empty [`IndexBackend`](crate::IndexBackend) for each test; it is
/// evaluated where the macro is called.
#[macro_export]
macro_rules! index_conformance_tests {
    ($make:expr) => {
        fn __stowage_fresh_index_backend() -> impl $crate::IndexBackend {
            $make
        }

        $crate::__stowage_index_conformance_groups! {
            backend {
                backend_info,
                empty_backend,
            }
            resources {
                create_instance_new_hierarchy,
                create_instance_existing_levels,
                create_instance_existing_instance,
                lookup_resource_and_parent,
                parent_and_children_in_insertion_order,
                unknown_internal_id,
                all_public_ids_paging,
                resources_count,
            }
            deletes {
                delete_instance_keeps_series,
                delete_last_series_of_study_keeps_patient,
                delete_last_study_deletes_patient,
                delete_patient_removes_descendants,
                delete_removes_changes_of_deleted_resources,
                delete_removes_dependent_rows,
            }
            tags {
                main_dicom_tags,
            }
            find {
                find_equal_and_case,
                find_wildcard,
                find_range,
                find_case_sensitive_edges,
                find_list,
                find_ancestor_constraints,
                find_descendant_constraints,
                find_labels,
                find_since_limit,
                find_metadata,
                lookup_identifier_exact,
            }
            metadata {
                metadata_revisions,
                children_metadata,
            }
            attachments {
                attachment_revisions,
                sizes_total_and_per_resource,
            }
            revisions {
                metadata_preconditions,
                metadata_delete_preconditions,
                attachment_preconditions,
                attachment_delete_preconditions,
                concurrent_writers_same_if_match,
                concurrent_creates,
            }
            logs {
                change_log_paging,
                change_log_clear_keeps_index,
                export_log,
            }
            properties {
                global_properties_per_server,
            }
            recycling {
                recycling_order,
                recycling_protection,
            }
            labels {
                labels_add_remove_list,
            }
            transactions {
                rollback_on_drop,
                rollback_explicit,
                write_pending_before_commit,
                read_only_sees_committed,
                reader_not_blocked_by_open_writer,
                read_transaction_is_a_stable_snapshot,
                concurrent_writers,
            }
        }
    };
}

/// Expands the groups of [`index_conformance_tests!`]: one test module per group, one `#[test]`
/// per check, each on a backend from the caller's `__stowage_fresh_index_backend`.
#[doc(hidden)]
#[macro_export]
macro_rules! __stowage_index_conformance_groups {
    ($($group:ident { $($name:ident),* $(,)? })*) => {
        $(
            mod $group {
                $(
                    #[test]
                    fn $name() {
                        let backend = super::__stowage_fresh_index_backend();
                        $crate::conformance::index::$group::$name(&backend);
                    }
                )*
            }
        )*
    };
}

/// One `#[test]` per check of [`conformance::storage`](crate::conformance::storage); the
/// expression yields a fresh, empty [`StorageArea`](crate::StorageArea) for each test.
#[macro_export]
macro_rules! storage_conformance_tests {
    ($make:expr) => {
        $crate::__stowage_conformance_tests! { storage, $make;
            create_then_read,
            create_new_runs_work_once,
            read_range_clamps,
            empty_file,
            missing_file_not_found,
            remove_is_idempotent,
            large_file_round_trip,
            list_uuids_tracks_files,
            concurrent_creates,
            concurrent_create_and_remove_same_prefix,
        }
    };
}

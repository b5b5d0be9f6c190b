//! The server's shared state and the bridge from async handlers to the blocking index and
//! storage calls.

use std::sync::Arc;
use std::time::Duration;

use stowage_core::{IndexBackend, IndexError, IndexTransaction, StorageArea, TxMode};

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::group_commit::GroupCommitter;
use crate::stable::StableTracker;

pub struct ServerContext {
    pub config: Config,
    pub index: Arc<dyn IndexBackend>,
    pub storage: Arc<dyn StorageArea>,
    /// Which storage area is in use (`Filesystem`, `S3`), reported by `/system`.
    pub storage_name: &'static str,
    pub stable: StableTracker,
    pub committer: GroupCommitter,
    pub jobs: Arc<crate::jobs::JobsEngine>,
}

/// How many times a transaction that hit a serialization conflict is replayed.
const MAX_TRANSACTION_ATTEMPTS: u32 = 10;

impl ServerContext {
    /// Runs blocking work (index, storage, DICOM parsing) off the async runtime.
    pub async fn blocking<R, F>(&self, f: F) -> ApiResult<R>
    where
        R: Send + 'static,
        F: FnOnce() -> ApiResult<R> + Send + 'static,
    {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
    }

    /// Runs blocking work on the worker thread that runs the calling task, which hands its
    /// other tasks to another thread meanwhile (`block_in_place`); elsewhere than on a
    /// multi-threaded runtime, as [`Self::blocking`]. For requests whose latency counts
    /// (uploads): no hand-over to a pooled thread and back, each a wake-up of a sleeping
    /// thread (~0.05-0.1 ms apiece when the machine is busy).
    pub async fn blocking_in_place<R, F>(&self, f: F) -> ApiResult<R>
    where
        R: Send + 'static,
        F: FnOnce() -> ApiResult<R> + Send + 'static,
    {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let multi_threaded =
            Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
        if !multi_threaded {
            return self.blocking(f).await;
        }
        tokio::task::block_in_place(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err(ApiError::internal("worker failed: it panicked")))
        })
    }

    /// Runs `f` in a read-only transaction on a blocking thread.
    pub async fn read<R, F>(self: &Arc<Self>, f: F) -> ApiResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn IndexTransaction) -> ApiResult<R> + Send + 'static,
    {
        let ctx = self.clone();
        self.blocking(move || ctx.read_blocking(f)).await
    }

    /// Runs `f` in a read-write transaction on a blocking thread, replaying it on conflicts.
    pub async fn write<R, F>(self: &Arc<Self>, f: F) -> ApiResult<R>
    where
        R: Send + 'static,
        F: FnMut(&mut dyn IndexTransaction) -> ApiResult<R> + Send + 'static,
    {
        let ctx = self.clone();
        self.blocking(move || ctx.write_blocking(f)).await
    }

    pub fn read_blocking<R>(
        &self,
        f: impl FnOnce(&mut dyn IndexTransaction) -> ApiResult<R>,
    ) -> ApiResult<R> {
        let mut tx = self.index.begin(TxMode::ReadOnly)?;
        let out = f(tx.as_mut())?;
        tx.commit()?;
        Ok(out)
    }

    pub fn write_blocking<R>(
        &self,
        mut f: impl FnMut(&mut dyn IndexTransaction) -> ApiResult<R>,
    ) -> ApiResult<R> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .index
                .begin(TxMode::ReadWrite)
                .map_err(ApiFailure::Index)
                .and_then(|mut tx| {
                    let out = f(tx.as_mut()).map_err(ApiFailure::Api)?;
                    tx.commit().map_err(ApiFailure::Commit)?;
                    Ok(out)
                });
            match result {
                Ok(out) => return Ok(out),
                // A conflict reported by BEGIN/COMMIT, or by a statement inside the transaction.
                Err(
                    ApiFailure::Index(IndexError::Conflict(d))
                    | ApiFailure::Commit(IndexError::Conflict(d))
                    | ApiFailure::Api(ApiError::Conflict(d)),
                ) if attempt < MAX_TRANSACTION_ATTEMPTS => {
                    tracing::debug!("transaction conflict (attempt {attempt}): {d}");
                    std::thread::sleep(Duration::from_millis(5u64 << attempt.min(6)));
                }
                Err(ApiFailure::Commit(e)) => return Err(e.into()),
                Err(ApiFailure::Index(e)) => return Err(ApiError::from(e).before_commit()),
                Err(ApiFailure::Api(e)) => return Err(e.before_commit()),
            }
        }
    }
}

enum ApiFailure {
    /// From BEGIN.
    Index(IndexError),
    /// From a statement of the transaction.
    Api(ApiError),
    /// From COMMIT: if the index became unreachable, the outcome is unknown.
    Commit(IndexError),
}

//! What every service works with: the configuration, the index, the storage area and the
//! stable-resources tracker; and the transaction runner, the bridge from async fronts to the
//! blocking index and storage calls.

use std::sync::Arc;
use std::time::Duration;

use stowage_core::{IndexBackend, IndexTransaction, StorageArea, TxMode};

use super::error::{ServiceError, TxError, WorkerFailed};
use super::stable::StableTracker;
use crate::config::Config;

pub struct Context {
    pub config: Config,
    pub index: Arc<dyn IndexBackend>,
    pub storage: Arc<dyn StorageArea>,
    /// Which storage area is in use (`Filesystem`, `S3`), reported by `/system`.
    pub storage_name: &'static str,
    pub stable: StableTracker,
}

/// How many times a transaction that hit a serialization conflict is replayed.
const MAX_TRANSACTION_ATTEMPTS: u32 = 10;

/// Runs blocking work (index, storage, DICOM parsing) off the async runtime.
pub async fn blocking<R, E, F>(f: F) -> Result<R, E>
where
    R: Send + 'static,
    E: From<WorkerFailed> + Send + 'static,
    F: FnOnce() -> Result<R, E> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| E::from(WorkerFailed(e.to_string())))?
}

/// Runs blocking work on the worker thread that runs the calling task, which hands its other
/// tasks to another thread meanwhile (`block_in_place`); elsewhere than on a multi-threaded
/// runtime, as [`blocking`]. For requests whose latency counts (uploads): no hand-over to a
/// pooled thread and back, each a wake-up of a sleeping thread (~0.05-0.1 ms apiece when the
/// machine is busy).
pub async fn blocking_in_place<R, E, F>(f: F) -> Result<R, E>
where
    R: Send + 'static,
    E: From<WorkerFailed> + Send + 'static,
    F: FnOnce() -> Result<R, E> + Send + 'static,
{
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi_threaded =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if !multi_threaded {
        return blocking(f).await;
    }
    tokio::task::block_in_place(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or_else(|_| Err(E::from(WorkerFailed("it panicked".into()))))
    })
}

impl Context {
    /// Runs `f` in a read-only transaction on a blocking thread.
    pub async fn read<R, E, F>(self: &Arc<Self>, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: ServiceError + Send + 'static,
        F: FnOnce(&mut dyn IndexTransaction) -> Result<R, E> + Send + 'static,
    {
        let ctx = self.clone();
        blocking(move || ctx.read_blocking(f)).await
    }

    /// Runs `f` in a read-write transaction on a blocking thread, replaying it on conflicts.
    pub async fn write<R, E, F>(self: &Arc<Self>, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: ServiceError + Send + 'static,
        F: FnMut(&mut dyn IndexTransaction) -> Result<R, E> + Send + 'static,
    {
        let ctx = self.clone();
        blocking(move || ctx.write_blocking(f)).await
    }

    pub fn read_blocking<R, E: ServiceError>(
        &self,
        f: impl FnOnce(&mut dyn IndexTransaction) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut tx = self.index.begin(TxMode::ReadOnly)?;
        let out = f(tx.as_mut())?;
        tx.commit().map_err(TxError::Commit)?;
        Ok(out)
    }

    pub fn write_blocking<R, E: ServiceError>(
        &self,
        mut f: impl FnMut(&mut dyn IndexTransaction) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .index
                .begin(TxMode::ReadWrite)
                .map_err(|e| E::from(TxError::Index(e)))
                .and_then(|mut tx| {
                    let out = f(tx.as_mut())?;
                    tx.commit().map_err(|e| E::from(TxError::Commit(e)))?;
                    Ok(out)
                });
            match result {
                Ok(out) => return Ok(out),
                // A conflict reported by BEGIN/COMMIT, or by a statement inside the transaction.
                Err(e) if attempt < MAX_TRANSACTION_ATTEMPTS => {
                    match e.tx_error().and_then(TxError::conflict) {
                        Some(d) => {
                            tracing::debug!("transaction conflict (attempt {attempt}): {d}");
                            std::thread::sleep(Duration::from_millis(5u64 << attempt.min(6)));
                        }
                        None => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

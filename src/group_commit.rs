//! Group commit for ingest: concurrent stores hand their index work to one writer thread,
//! which records every store waiting at that moment in a single transaction. One commit (and
//! one flush of the index to disk) then serves many instances, and the request threads keep
//! parsing, hashing and writing files in parallel.
//!
//! If a batch fails (one store is refused, say), each of its stores is replayed alone so that
//! only the faulty one fails.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Mutex, Weak};

use stowage_core::{DeletedResources, FileInfo, InstanceHashes};
use stowage_dicom::DicomFile;

use crate::context::ServerContext;
use crate::error::{ApiError, ApiResult};
use crate::ingest::{record_instance, write_parent_metadata, Origin, StoreStatus};

/// Most stores recorded in one transaction.
const MAX_BATCH: usize = 64;

/// A store whose file is already in the storage area, waiting for its index rows.
pub struct PendingStore {
    pub file: DicomFile,
    pub ids: InstanceHashes,
    pub info: FileInfo,
    pub origin: Origin,
}

type Outcome = ApiResult<(StoreStatus, DeletedResources)>;

struct Job {
    store: PendingStore,
    reply: SyncSender<Outcome>,
}

pub struct GroupCommitter {
    queue: Mutex<Option<SyncSender<Job>>>,
}

impl GroupCommitter {
    /// Starts the writer thread. It stops when the context is dropped.
    pub fn start(ctx: Weak<ServerContext>) -> GroupCommitter {
        let (tx, rx) = mpsc::sync_channel::<Job>(1024);
        let spawned = std::thread::Builder::new()
            .name("index-writer".into())
            .spawn(move || writer_loop(ctx, rx));
        if let Err(e) = spawned {
            tracing::error!("cannot start the index writer thread: {e}");
        }
        GroupCommitter {
            queue: Mutex::new(Some(tx)),
        }
    }

    /// Records a store and waits for its commit. Blocking.
    pub fn record(&self, store: PendingStore) -> Outcome {
        let (reply, answer) = mpsc::sync_channel(1);
        let sender = self
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| ApiError::internal("the index writer has stopped"))?;
        sender
            .send(Job { store, reply })
            .map_err(|_| ApiError::internal("the index writer has stopped"))?;
        answer
            .recv()
            .map_err(|_| ApiError::internal("the index writer has stopped"))?
    }

    /// Stops accepting stores; the writer thread ends once the queue is drained.
    pub fn close(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

fn writer_loop(ctx: Weak<ServerContext>, rx: Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Record the stores in hierarchy order: concurrent writers (other processes on a shared
        // index) then take their row locks in the same order, instead of deadlocking when
        // their batches touch the same series in opposite orders.
        batch.sort_by(|a, b| {
            let key = |j: &Job| {
                let i = &j.store.ids;
                (
                    i.patient.clone(),
                    i.study.clone(),
                    i.series.clone(),
                    i.instance.clone(),
                )
            };
            key(a).cmp(&key(b))
        });
        let Some(ctx) = ctx.upgrade() else {
            for job in batch {
                let _ = job
                    .reply
                    .send(Err(ApiError::internal("the server is stopping")));
            }
            return;
        };
        let together = ctx.write_blocking(|tx| {
            let mut deferred = Vec::new();
            let outcomes = batch
                .iter()
                .map(|job| record_instance(&ctx.config, tx, &job.store, &mut deferred))
                .collect::<ApiResult<Vec<_>>>()?;
            write_parent_metadata(tx, deferred)?;
            Ok(outcomes)
        });
        match together {
            Ok(outcomes) => {
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(e) if batch.len() == 1 => {
                let _ = batch[0].reply.send(Err(e));
            }
            Err(_) => {
                for job in batch {
                    let outcome = ctx.write_blocking(|tx| {
                        let mut deferred = Vec::new();
                        let outcome = record_instance(&ctx.config, tx, &job.store, &mut deferred)?;
                        write_parent_metadata(tx, deferred)?;
                        Ok(outcome)
                    });
                    let _ = job.reply.send(outcome);
                }
            }
        }
    }
}

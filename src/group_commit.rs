//! Group commit for ingest: concurrent stores hand their index work to one writer thread,
//! which records every store waiting at that moment in a single transaction. One commit (and
//! one flush of the index to disk) then serves many instances, and the request threads keep
//! parsing, hashing and writing files in parallel.
//!
//! On a local storage area, a store is handed over before its file is written: the writer
//! thread records the instance while the request thread writes (and flushes) the file, then
//! waits for every file of the batch to be durable before it adds their records and commits.
//! The index work thus overlaps the disk flush, and the commit still comes strictly after the
//! files. On a remote area (S3), whose writes may take seconds, the file is written first.
//!
//! If a batch fails (one store is refused, or its file could not be written), each of its
//! stores is replayed alone so that only the faulty one fails.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, Weak};

use stowage_core::{DeletedResources, FileInfo, InstanceHashes};
use stowage_dicom::DicomFile;

use crate::context::ServerContext;
use crate::error::{ApiError, ApiResult};
use crate::ingest::{attach_files, record_instance, write_parent_metadata, Origin, StoreStatus};

/// Most stores recorded in one transaction.
const MAX_BATCH: usize = 64;

/// A store waiting for its index rows; its file is being written meanwhile (see [`FileSlot`]).
pub struct PendingStore {
    pub file: Arc<DicomFile>,
    pub ids: InstanceHashes,
    /// Size of the file in the storage area (for the recycling limits).
    pub stored_size: u64,
    pub slot: Arc<FileSlot>,
    pub origin: Origin,
}

/// The file of a pending store: filled by the request thread once the file is durable in the
/// storage area (or could not be written), awaited by the writer thread before its commit.
#[derive(Default)]
pub struct FileSlot {
    state: Mutex<Option<Option<FileInfo>>>,
    filled: Condvar,
}

impl FileSlot {
    /// `None`: the file could not be written.
    pub fn fill(&self, info: Option<FileInfo>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *state = Some(info);
        self.filled.notify_all();
    }

    /// Blocks until the slot is filled.
    pub fn wait(&self) -> Option<FileInfo> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(info) = state.as_ref() {
                return info.clone();
            }
            state = self.filled.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Fills a slot exactly once: with what [`SlotFiller::fill`] is given, or, if dropped unused
/// (a panic on the way), with "could not be written", so that the writer never waits forever.
pub struct SlotFiller(Option<Arc<FileSlot>>);

impl SlotFiller {
    pub fn new(slot: Arc<FileSlot>) -> Self {
        SlotFiller(Some(slot))
    }

    pub fn fill(mut self, info: Option<FileInfo>) {
        if let Some(slot) = self.0.take() {
            slot.fill(info);
        }
    }
}

impl Drop for SlotFiller {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.fill(None);
        }
    }
}

/// A store handed to the writer thread; [`Submitted::wait`] blocks until its commit.
pub struct Submitted {
    answer: Receiver<Outcome>,
}

impl Submitted {
    pub fn wait(self) -> Outcome {
        self.answer
            .recv()
            .map_err(|_| ApiError::internal("the index writer has stopped"))?
    }
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

    /// Hands a store to the writer thread. Its slot must then be filled, whatever happens:
    /// the writer waits for it.
    pub fn submit(&self, store: PendingStore) -> ApiResult<Submitted> {
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
        Ok(Submitted { answer })
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
            let (mut deferred, mut attachments) = (Vec::new(), Vec::new());
            let outcomes = batch
                .iter()
                .map(|job| {
                    record_instance(&ctx.config, tx, &job.store, &mut deferred, &mut attachments)
                })
                .collect::<ApiResult<Vec<_>>>()?;
            write_parent_metadata(tx, deferred)?;
            attach_files(tx, attachments)?;
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
                        let (mut deferred, mut attachments) = (Vec::new(), Vec::new());
                        let outcome = record_instance(
                            &ctx.config,
                            tx,
                            &job.store,
                            &mut deferred,
                            &mut attachments,
                        )?;
                        write_parent_metadata(tx, deferred)?;
                        attach_files(tx, attachments)?;
                        Ok(outcome)
                    });
                    let _ = job.reply.send(outcome);
                }
            }
        }
    }
}

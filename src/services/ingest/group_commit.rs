//! Group commit for ingest: concurrent stores hand their index work to one writer thread,
//! which records several stores in a single transaction. One commit (and one flush of the
//! index to disk) then serves many instances, and the request threads keep parsing, hashing
//! and writing files in parallel.
//!
//! A store is handed over before its file is written, and a transaction commits only once the
//! files of all its stores are durable. Which stores go into a transaction:
//! - every store whose file is already written ("ready"), as soon as the writer is free;
//! - when a lone store is in progress (one upload at a time), that store: the writer records
//!   it while its file is written and flushed, so that the index work overlaps the flush
//!   instead of following it. Stores that become ready meanwhile join the transaction before
//!   it commits (they make it wait for nothing).
//!
//! A store whose file is still being written never joins a transaction that another is
//! waiting for, and with several uploads in progress the writer waits for the first file done
//! rather than for a chosen one: each commit follows the flushes it needs, no more.
//!
//! On a remote storage area (S3), whose writes may take seconds, the file is written before
//! the store is handed over, so the writer never holds the transaction open for it.
//!
//! If a transaction fails (one store is refused), each of its stores is replayed alone so that
//! only the faulty one fails. A store whose file could not be written is answered at once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, Weak};

use stowage_core::{DeletedResources, FileInfo, InstanceHashes};
use stowage_dicom::DicomFile;

use stowage_core::{IndexTransaction, InternalId, Precondition};

use super::error::IngestError;
use super::origin::Origin;
use super::record::{record_instance, write_parent_metadata, InstanceToRecord, StoreStatus};
use crate::services::context::Context;

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

impl PendingStore {
    fn to_record(&self) -> InstanceToRecord<'_> {
        InstanceToRecord {
            file: &self.file,
            ids: &self.ids,
            stored_size: self.stored_size,
            origin: &self.origin,
        }
    }
}

/// The file of a pending store: filled by the request thread once the file is durable in the
/// storage area (or could not be written), awaited by the writer thread before its commit.
#[derive(Default)]
pub struct FileSlot {
    state: Mutex<Option<Option<FileInfo>>>,
    filled: Condvar,
    /// Told when the slot is filled (see [`GroupCommitter::new_slot`]).
    writer: Weak<Inbox>,
}

impl FileSlot {
    /// `None`: the file could not be written.
    pub fn fill(&self, info: Option<FileInfo>) {
        {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            *state = Some(info);
            self.filled.notify_all();
        }
        if let Some(inbox) = self.writer.upgrade() {
            inbox.push(Message::FileDone);
        }
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

    /// `None` while the file is being written; `Some(written)` once it is done.
    fn done(&self) -> Option<bool> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.as_ref().map(Option::is_some)
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
            .map_err(|_| IngestError::Stopping("the index writer has stopped"))?
    }
}

type Outcome = Result<(StoreStatus, DeletedResources), IngestError>;

struct Job {
    store: PendingStore,
    reply: SyncSender<Outcome>,
}

/// What the writer thread is told.
enum Message {
    Store(Job),
    /// The file of a store has been written (or could not be).
    FileDone,
}

/// The writer thread's inbox.
#[derive(Default)]
struct Inbox {
    state: Mutex<InboxState>,
    arrived: Condvar,
    /// Stores in progress, from their start (before their file is parsed) to their answer.
    stores_in_progress: AtomicUsize,
}

#[derive(Default)]
struct InboxState {
    messages: VecDeque<Message>,
    closed: bool,
}

impl Inbox {
    /// Queues a message; a store is refused (`false`) once the inbox is closed.
    fn push(&self, message: Message) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.closed && matches!(message, Message::Store(_)) {
            return false;
        }
        state.messages.push_back(message);
        self.arrived.notify_one();
        true
    }

    /// The next message; with `block`, waits for one. `None`: nothing queued (or, blocking,
    /// the inbox is closed and empty).
    fn next(&self, block: bool) -> Option<Message> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(m) = state.messages.pop_front() {
                return Some(m);
            }
            if !block || state.closed {
                return None;
            }
            state = self.arrived.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.arrived.notify_all();
    }
}

pub struct GroupCommitter {
    inbox: Arc<Inbox>,
}

impl GroupCommitter {
    /// Starts the writer thread. It stops when the context is dropped.
    pub fn start(ctx: Weak<Context>) -> GroupCommitter {
        let inbox = Arc::new(Inbox::default());
        let for_writer = inbox.clone();
        let spawned = std::thread::Builder::new()
            .name("index-writer".into())
            .spawn(move || writer_loop(ctx, &for_writer));
        if let Err(e) = spawned {
            tracing::error!("cannot start the index writer thread: {e}");
            inbox.close();
        }
        GroupCommitter { inbox }
    }

    /// A slot for the file of a store about to be submitted; filling it tells the writer.
    pub fn new_slot(&self) -> Arc<FileSlot> {
        Arc::new(FileSlot {
            writer: Arc::downgrade(&self.inbox),
            ..FileSlot::default()
        })
    }

    /// Hands a store to the writer thread. Its slot must then be filled, whatever happens:
    /// the writer waits for it.
    pub fn submit(&self, store: PendingStore) -> Result<Submitted, IngestError> {
        let (reply, answer) = mpsc::sync_channel(1);
        if !self.inbox.push(Message::Store(Job { store, reply })) {
            return Err(IngestError::Stopping("the index writer has stopped"));
        }
        Ok(Submitted { answer })
    }

    /// Stops accepting stores; the writer thread ends once those submitted are done.
    pub fn close(&self) {
        self.inbox.close();
    }

    /// Counts a store in progress until the guard is dropped.
    pub fn store_started(&self) -> StoreInProgress {
        self.inbox.stores_in_progress.fetch_add(1, Ordering::AcqRel);
        StoreInProgress {
            inbox: self.inbox.clone(),
        }
    }
}

/// A store in progress (see [`GroupCommitter::store_started`]).
pub struct StoreInProgress {
    inbox: Arc<Inbox>,
}

impl StoreInProgress {
    /// How many other stores are in progress now.
    pub fn others(&self) -> usize {
        self.inbox
            .stores_in_progress
            .load(Ordering::Acquire)
            .saturating_sub(1)
    }
}

impl Drop for StoreInProgress {
    fn drop(&mut self) {
        self.inbox.stores_in_progress.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Hierarchy order: concurrent writers (other processes on a shared index) then take their row
/// locks in the same order, instead of deadlocking when their transactions touch the same
/// series in opposite orders.
fn hierarchy_key(job: &Job) -> (String, String, String, String) {
    let i = &job.store.ids;
    (
        i.patient.clone(),
        i.study.clone(),
        i.series.clone(),
        i.instance.clone(),
    )
}

/// The stores received and not yet committed.
#[derive(Default)]
struct Waiting {
    jobs: Vec<Job>,
}

impl Waiting {
    /// Takes every queued message without blocking.
    fn collect(&mut self, inbox: &Inbox) {
        while let Some(m) = inbox.next(false) {
            if let Message::Store(job) = m {
                self.jobs.push(job);
            }
        }
    }

    /// Removes and returns the stores whose file is written (at most `room`), answering at
    /// once those whose file could not be written.
    fn take_ready(&mut self, room: usize) -> Vec<Job> {
        let mut ready = Vec::new();
        let mut i = 0;
        while i < self.jobs.len() {
            match self.jobs[i].store.slot.done() {
                Some(false) => {
                    let job = self.jobs.remove(i);
                    let _ = job.reply.send(Err(IngestError::FileNotStored));
                }
                Some(true) if ready.len() < room => ready.push(self.jobs.remove(i)),
                _ => i += 1,
            }
        }
        ready
    }
}

fn writer_loop(ctx: Weak<Context>, inbox: &Inbox) {
    let mut waiting = Waiting::default();
    loop {
        waiting.collect(inbox);
        let mut batch = waiting.take_ready(MAX_BATCH);
        // The store whose file the transaction waits for, if any (see the module's notes).
        let mut awaited = None;
        if batch.is_empty() {
            // Nothing ready. A lone store is recorded while its file is written; with several
            // in progress, the first file done is committed without waiting for the others.
            if waiting.jobs.len() != 1 {
                match inbox.next(true) {
                    Some(Message::Store(job)) => waiting.jobs.push(job),
                    Some(Message::FileDone) => {}
                    None if waiting.jobs.is_empty() => return,
                    // Closed: the files in progress are awaited one after the other.
                    None => {
                        let oldest = waiting.jobs.remove(0);
                        awaited = Some(oldest.store.slot.clone());
                        batch.push(oldest);
                    }
                }
                if batch.is_empty() {
                    continue;
                }
            } else {
                let lone = waiting.jobs.remove(0);
                awaited = Some(lone.store.slot.clone());
                batch.push(lone);
            }
        }
        batch.sort_by_key(hierarchy_key);
        let Some(ctx) = ctx.upgrade() else {
            for job in batch.into_iter().chain(waiting.jobs.drain(..)) {
                let _ = job
                    .reply
                    .send(Err(IngestError::Stopping("the server is stopping")));
            }
            return;
        };
        let together = ctx.write_blocking(|tx| {
            let (mut deferred, mut attachments) = (Vec::new(), Vec::new());
            let mut outcomes = Vec::with_capacity(batch.len());
            let mut pages_written = false;
            loop {
                for job in &batch[outcomes.len()..] {
                    let recorded =
                        record_instance(&ctx.config, tx, &job.store.to_record(), &mut deferred)?;
                    if let Some(instance) = recorded.instance {
                        attachments.push((instance, job.store.slot.clone()));
                    }
                    outcomes.push((recorded.status, recorded.obsolete));
                }
                // Until the awaited file is written, stores that become ready join.
                let Some(slot) = &awaited else { break };
                if slot.done().is_some() || batch.len() >= MAX_BATCH {
                    break;
                }
                // The parents' metadata recorded so far is written meanwhile, not after; and
                // the first time, the changed pages go to the index's log (the commit then
                // writes only what changes after). Stores joining later change the same pages
                // again: writing those twice would only cost more.
                write_parent_metadata(tx, std::mem::take(&mut deferred))?;
                if !pages_written {
                    tx.write_pending()?;
                    pages_written = true;
                }
                match inbox.next(true) {
                    Some(Message::Store(job)) => waiting.jobs.push(job),
                    Some(Message::FileDone) => {}
                    None => break,
                }
                batch.extend(waiting.take_ready(MAX_BATCH - batch.len()));
            }
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
                        let mut deferred = Vec::new();
                        let recorded = record_instance(
                            &ctx.config,
                            tx,
                            &job.store.to_record(),
                            &mut deferred,
                        )?;
                        write_parent_metadata(tx, deferred)?;
                        let attachments = recorded
                            .instance
                            .map(|instance| (instance, job.store.slot.clone()));
                        attach_files(tx, attachments)?;
                        Ok((recorded.status, recorded.obsolete))
                    });
                    let _ = job.reply.send(outcome);
                }
            }
        }
    }
}

/// Adds the files of the instances recorded by [`record_instance`], once each is durable in
/// the storage area: the last step before the commit, so that the index work overlaps the
/// writing of the files. A file that could not be written fails the transaction.
fn attach_files(
    tx: &mut dyn IndexTransaction,
    attachments: impl IntoIterator<Item = (InternalId, Arc<FileSlot>)>,
) -> Result<(), IngestError> {
    for (instance, slot) in attachments {
        let info = slot.wait().ok_or(IngestError::FileNotStored)?;
        tx.add_attachment(instance, &info, &Precondition::Any)?;
    }
    Ok(())
}

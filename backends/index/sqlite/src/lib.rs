//! The embedded SQLite index backend (Stowage's default, single node).
//!
//! One connection writes (transactions start with `BEGIN IMMEDIATE`, so writers queue on a
//! mutex rather than failing), any number of pooled connections read. The database runs in
//! WAL mode, so readers see a consistent snapshot and never wait for the writer.
//!
//! Checkpoints (copying the log back into the database file, with its flushes to disk) run on
//! a thread of their own, not inside the commit of whichever writer crosses SQLite's automatic
//! threshold: when writes pause, and every quarter of a second under a steady load.

mod find;
mod schema;
mod transaction;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;
use stowage_core::{BackendInfo, IndexBackend, IndexError, IndexTransaction, TxMode};

pub use schema::SCHEMA_VERSION;
use transaction::{PooledConnection, SqliteTransaction};

/// How hard SQLite pushes commits to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Every commit is fsynced (`synchronous=FULL`): acknowledged data survives a power cut.
    Full,
    /// Commits survive a crash of the process; the write-ahead log reaches the disk at
    /// checkpoints and on [`IndexBackend::flush_to_disk`] (`synchronous=NORMAL`, as Orthanc).
    Normal,
}

pub struct SqliteIndex {
    path: PathBuf,
    durability: Durability,
    /// Held for the whole of a write transaction (and briefly by the checkpoint thread).
    writer: Arc<Mutex<Connection>>,
    /// Passed by every write transaction before it takes `writer`; the checkpoint thread holds
    /// it while it waits for `writer`, so that writes following each other closely cannot keep
    /// it waiting forever.
    gate: Arc<Mutex<()>>,
    readers: Mutex<Vec<Connection>>,
    /// Write transactions begun so far (the checkpoint thread watches it for pauses).
    writes: Arc<AtomicU64>,
    checkpointer: Option<Checkpointer>,
}

/// How often the checkpoint thread looks at the write activity.
const CHECKPOINT_TICK: Duration = Duration::from_millis(100);
/// Writes paused this long: checkpoint now.
const CHECKPOINT_WHEN_IDLE_FOR: Duration = Duration::from_millis(300);
/// Under a steady load, checkpoint this often: small, frequent checkpoints delay the flushes of
/// stored files a little each time (tens of milliseconds), where rare large ones stall them
/// for hundreds (measured: 250 ms vs 3 s gives the same throughput, but a worst case of 65 ms
/// instead of 500 ms).
const CHECKPOINT_AT_LEAST_EVERY: Duration = Duration::from_millis(250);

/// The checkpoint thread; it stops when this is dropped.
struct Checkpointer {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    fn start(
        conn: Connection,
        writer: Arc<Mutex<Connection>>,
        gate: Arc<Mutex<()>>,
        writes: Arc<AtomicU64>,
    ) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = mpsc::channel::<()>();
        let checkpoint = move || checkpoint(&conn, &writer, &gate);
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut seen = writes.load(Ordering::Relaxed);
                let mut checkpointed = seen;
                let (mut last_write, mut last_checkpoint) = (Instant::now(), Instant::now());
                loop {
                    match stopped.recv_timeout(CHECKPOINT_TICK) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return checkpoint(),
                    }
                    let now = writes.load(Ordering::Relaxed);
                    if now != seen {
                        (seen, last_write) = (now, Instant::now());
                    }
                    let due = last_write.elapsed() >= CHECKPOINT_WHEN_IDLE_FOR
                        || last_checkpoint.elapsed() >= CHECKPOINT_AT_LEAST_EVERY;
                    if seen != checkpointed && due {
                        checkpoint();
                        (checkpointed, last_checkpoint) = (seen, Instant::now());
                    }
                }
            })?;
        Ok(Checkpointer { stop, thread })
    }
}

/// Copies the write-ahead log into the database, in two passes.
///
/// The first (PASSIVE: it never waits for readers or the writer) copies what the log holds
/// while writes go on. Under a steady load it never catches up with the last commit, and
/// SQLite only starts the log over from its beginning when a write transaction begins with
/// every frame copied: the log would grow without end, each commit appending to new parts of
/// the file (measured: 300 MB after 6,000 instances). So the second pass holds write
/// transactions back while it copies the few frames committed during the first; the next
/// write then starts the log over. It holds them for a few milliseconds.
fn checkpoint(conn: &Connection, writer: &Mutex<Connection>, gate: &Mutex<()>) {
    let passive = || {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!("checkpoint: {e}");
        }
    };
    passive();
    let _no_new_writes = gate.lock().unwrap_or_else(|p| p.into_inner());
    let _no_writes = writer.lock().unwrap_or_else(|p| p.into_inner());
    passive();
}

impl Drop for SqliteIndex {
    fn drop(&mut self) {
        if let Some(c) = self.checkpointer.take() {
            let _ = c.stop.send(());
            let _ = c.thread.join();
        }
    }
}

pub(crate) fn sql_error(e: rusqlite::Error) -> IndexError {
    use rusqlite::ErrorCode;
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
        {
            IndexError::Conflict(e.to_string())
        }
        _ => IndexError::Backend(e.to_string()),
    }
}

impl SqliteIndex {
    /// Opens (creating if needed) the index file and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>, durability: Durability) -> Result<Self, IndexError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| IndexError::Backend(format!("{}: {e}", dir.display())))?;
        }
        let mut writer = open_connection(&path, durability)?;
        schema::migrate(&mut writer)?;
        // Commits no longer checkpoint by themselves: the checkpoint thread does.
        writer
            .execute_batch("PRAGMA wal_autocheckpoint=0;")
            .map_err(sql_error)?;
        let writes = Arc::new(AtomicU64::new(0));
        let writer = Arc::new(Mutex::new(writer));
        let gate = Arc::new(Mutex::new(()));
        let checkpointer = Checkpointer::start(
            open_connection(&path, durability)?,
            writer.clone(),
            gate.clone(),
            writes.clone(),
        )
        .map_err(|e| IndexError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(SqliteIndex {
            path,
            durability,
            writer,
            gate,
            readers: Mutex::new(Vec::new()),
            writes,
            checkpointer: Some(checkpointer),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_writer(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves an open transaction at worst, which the next
        // BEGIN cannot start on: roll it back and carry on.
        drop(
            self.gate
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        );
        let guard = self
            .writer
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if !guard.is_autocommit() {
            let _ = guard.execute_batch("ROLLBACK");
        }
        guard
    }

    fn take_reader(&self) -> Result<Connection, IndexError> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(c) => Ok(c),
            None => open_connection(&self.path, self.durability),
        }
    }

    pub(crate) fn return_reader(&self, conn: Connection) {
        if conn.is_autocommit() {
            self.readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
    }
}

fn open_connection(path: &Path, durability: Durability) -> Result<Connection, IndexError> {
    let conn = Connection::open(path).map_err(sql_error)?;
    conn.busy_timeout(Duration::from_secs(30))
        .map_err(sql_error)?;
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON; \
         PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536;"
    ))
    .map_err(sql_error)?;
    conn.set_prepared_statement_cache_capacity(128);
    conn.create_scalar_function(
        find::FOLD_FUNCTION,
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let value: String = ctx.get(0)?;
            Ok(stowage_core::find::normalize_for_matching(&value))
        },
    )
    .map_err(sql_error)?;
    Ok(conn)
}

impl IndexBackend for SqliteIndex {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "SQLite",
            schema_version: SCHEMA_VERSION,
            supports_revisions: true,
            supports_labels: true,
        }
    }

    fn flush_to_disk(&self) -> Result<(), IndexError> {
        if self.durability == Durability::Full {
            return Ok(());
        }
        // The log holds every committed transaction; flushing it makes them all durable.
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        match std::fs::File::open(&wal) {
            Ok(f) => f
                .sync_data()
                .map_err(|e| IndexError::Backend(format!("cannot flush the index: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(IndexError::Backend(format!("cannot flush the index: {e}"))),
        }
    }

    fn begin(&self, mode: TxMode) -> Result<Box<dyn IndexTransaction + '_>, IndexError> {
        let conn = match mode {
            TxMode::ReadWrite => {
                self.writes.fetch_add(1, Ordering::Relaxed);
                PooledConnection::Writer(self.lock_writer())
            }
            TxMode::ReadOnly => PooledConnection::Reader(self, Some(self.take_reader()?)),
        };
        let begin = match mode {
            TxMode::ReadWrite => "BEGIN IMMEDIATE",
            TxMode::ReadOnly => "BEGIN",
        };
        conn.execute_batch(begin).map_err(sql_error)?;
        Ok(Box::new(SqliteTransaction::new(conn)))
    }
}

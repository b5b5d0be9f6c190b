//! Files prepared ahead of need (Linux): a background thread picks the uuids of the next few
//! files, creates their folders and opens an unnamed file (`O_TMPFILE`) in each. A store then
//! only writes its bytes, gives the file its name and flushes it: creating (and flushing) the
//! folders and allocating the file, which take a good part of a store's time on a fresh
//! storage folder, happen off its path.
//!
//! On a storage folder that is still filling, most new uuids would fall in a folder of their
//! own (`uu/uu`: 65,536 of them), and each new folder costs a flush of its own. So a new
//! folder takes [`FILL_NEW_FOLDER`] files (their uuids keep its first four digits, the rest
//! stays random): one new folder, and one flush, per that many files. A few folders are
//! filled in turn, so that files stored together do not share one. Where the folders exist
//! already, uuids are wholly random, as in Orthanc.
//!
//! Nothing prepared is visible but the folders: an unnamed file that is never used vanishes
//! when it is closed (or at a crash), and the folders of unused uuids are removed when the
//! storage area is dropped (if still empty).

use std::collections::VecDeque;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How many files are kept ready, at most.
pub(crate) const AHEAD: usize = 12;

/// The thread is woken to prepare more when the files ready fall to this many: it then
/// prepares several in a row, instead of waking once per file taken (a thread switch per store
/// saved, out of about twelve, measured with eight uploads at once).
pub(crate) const REFILL_AT: usize = 4;

/// How many new files go to a folder created for the first of them.
const FILL_NEW_FOLDER: usize = 16;

/// How many new folders are filled at once, in turn: files stored at the same time then sit
/// in different folders, whose flushes do not wait for one another.
const FOLDERS_FILLED_AT_ONCE: usize = 8;

/// Chooses the uuids of the files to come (see the module's notes).
#[derive(Default)]
struct UuidChooser {
    /// The first four digits of the new folders being filled, each with how many more files
    /// it takes.
    filling: VecDeque<(String, usize)>,
}

impl UuidChooser {
    /// The next uuid; `folder_exists(uuid)` tells whether its folder exists already.
    fn next(&mut self, folder_exists: impl Fn(&str) -> bool) -> String {
        let mut uuid = stowage_core::new_uuid();
        if self.filling.len() < FOLDERS_FILLED_AT_ONCE {
            if !folder_exists(&uuid) {
                self.filling
                    .push_back((uuid[..4].to_owned(), FILL_NEW_FOLDER - 1));
            }
            return uuid;
        }
        if let Some((prefix, left)) = self.filling.pop_front() {
            uuid.replace_range(..prefix.len(), &prefix);
            if left > 1 {
                self.filling.push_back((prefix, left - 1));
            }
        }
        uuid
    }
}

/// An unnamed file open in the folder of `uuid`.
pub(crate) struct Prepared {
    pub uuid: String,
    pub file: File,
}

#[derive(Default)]
struct State {
    ready: Vec<Prepared>,
    stopping: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when the files ready fall to [`REFILL_AT`], or when stopping.
    taken: Condvar,
}

pub(crate) struct Ahead {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    root: PathBuf,
    folder_of: fn(&Path, &str) -> PathBuf,
}

impl Ahead {
    /// Starts preparing files under `root` (`sync`: new folders are flushed to disk, see
    /// [`prepare_folder`]): `folder_of(root, uuid)` says where a uuid's file
    /// goes, `open_unnamed(folder)` opens an unnamed file there, and `unsupported(error)`
    /// tells an error saying that this cannot work here (preparing then stops).
    pub fn start(
        root: &Path,
        sync: bool,
        folder_of: fn(&Path, &str) -> PathBuf,
        open_unnamed: fn(&Path) -> std::io::Result<File>,
        unsupported: fn(&std::io::Error) -> bool,
    ) -> Option<Ahead> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            taken: Condvar::new(),
        });
        let (for_thread, root_for_thread) = (shared.clone(), root.to_path_buf());
        let thread = std::thread::Builder::new()
            .name("storage-ahead".into())
            .spawn(move || {
                prepare_loop(
                    &for_thread,
                    &root_for_thread,
                    sync,
                    folder_of,
                    open_unnamed,
                    unsupported,
                )
            })
            .map_err(|e| tracing::warn!("cannot start the storage-ahead thread: {e}"))
            .ok()?;
        Some(Ahead {
            shared,
            thread: Some(thread),
            root: root.to_path_buf(),
            folder_of,
        })
    }

    /// A prepared file, if one is ready.
    pub fn take(&self) -> Option<Prepared> {
        let mut state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        let prepared = state.ready.pop();
        if prepared.is_some() && state.ready.len() == REFILL_AT {
            self.shared.taken.notify_one();
        }
        prepared
    }
}

#[cfg(test)]
impl Ahead {
    /// The uuids of the files ready now.
    pub fn ready_uuids(&self) -> Vec<String> {
        let state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        state.ready.iter().map(|p| p.uuid.clone()).collect()
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stopping = true;
        self.shared.taken.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let unused = std::mem::take(
            &mut self
                .shared
                .state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .ready,
        );
        for p in unused {
            drop(p.file);
            // The folders created for it, unless something else was stored there since.
            let second = (self.folder_of)(&self.root, &p.uuid);
            if fs::remove_dir(&second).is_ok() {
                if let Some(first) = second.parent() {
                    let _ = fs::remove_dir(first);
                }
            }
        }
    }
}

/// Creates the folder of a new file if needed; with `sync`, a folder created here is flushed to
/// disk now, so that the flush of the file to come covers only its own entry. (Without a
/// journal, ext4 flushes the not-yet-flushed folders above a new file with the file: a chain
/// of writes one after the other.)
fn prepare_folder(folder: &Path, sync: bool) -> std::io::Result<()> {
    if folder.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(folder)?;
    if sync {
        File::open(folder)?.sync_all()?;
    }
    Ok(())
}

fn prepare_loop(
    shared: &Shared,
    root: &Path,
    sync: bool,
    folder_of: fn(&Path, &str) -> PathBuf,
    open_unnamed: fn(&Path) -> std::io::Result<File>,
    unsupported: fn(&std::io::Error) -> bool,
) {
    let mut chooser = UuidChooser::default();
    loop {
        {
            let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            // Once full, sleeps until the stock runs low (see `Ahead::take`).
            if state.ready.len() >= AHEAD {
                while state.ready.len() > REFILL_AT && !state.stopping {
                    state = shared.taken.wait(state).unwrap_or_else(|p| p.into_inner());
                }
            }
            if state.stopping {
                return;
            }
        }
        let uuid = chooser.next(|uuid| folder_of(root, uuid).is_dir());
        let folder = folder_of(root, &uuid);
        let file = prepare_folder(&folder, sync).and_then(|()| open_unnamed(&folder));
        match file {
            Ok(file) => {
                let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
                state.ready.push(Prepared { uuid, file });
            }
            Err(e) => {
                let _ = fs::remove_dir(&folder);
                // Without unnamed files, stores do all the work themselves, as without this
                // thread. Other errors (a full disk...) are retried a second later.
                if unsupported(&e) {
                    tracing::debug!("storage area: no files prepared ahead: {e}");
                    return;
                }
                tracing::debug!("storage area: cannot prepare a file: {e}");
                let state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
                let _ = shared
                    .taken
                    .wait_timeout_while(state, Duration::from_secs(1), |s| !s.stopping);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A new folder takes the next files (valid uuids, all different); where folders exist,
    /// each uuid keeps its random folder.
    #[test]
    fn new_folders_are_filled_before_the_next_is_created() {
        let mut chooser = UuidChooser::default();
        let mut created = HashSet::new();
        let mut uuids = HashSet::new();
        let mut in_a_row = Vec::new();
        for _ in 0..FILL_NEW_FOLDER * FOLDERS_FILLED_AT_ONCE * 3 {
            let uuid = chooser.next(|u| created.contains(&u[..4]));
            assert!(uuid::Uuid::parse_str(&uuid).is_ok(), "{uuid}");
            created.insert(uuid[..4].to_owned());
            in_a_row.push(uuid[..4].to_owned());
            assert!(uuids.insert(uuid));
        }
        // 24 folders' worth of files; the last few folders are not full yet.
        let full = FOLDERS_FILLED_AT_ONCE * 3;
        assert!(
            (full..full + FOLDERS_FILLED_AT_ONCE).contains(&created.len()),
            "{created:?}"
        );
        for files_together in in_a_row.windows(FOLDERS_FILLED_AT_ONCE) {
            let folders: HashSet<_> = files_together.iter().collect();
            assert_eq!(folders.len(), FOLDERS_FILLED_AT_ONCE, "{files_together:?}");
        }

        let mut chooser = UuidChooser::default();
        let folders: HashSet<String> = (0..50)
            .map(|_| chooser.next(|_| true)[..4].to_owned())
            .collect();
        assert!(folders.len() > 40, "existing folders: {folders:?}");
    }
}

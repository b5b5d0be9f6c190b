//! MD5 of stored files, computed several at once.
//!
//! A single MD5 is a chain of dependent steps, which keeps most of a core's arithmetic units
//! idle; hashing several independent files together, one per SIMD lane, costs little more than
//! hashing one (`md5_many`: 2.5x the throughput with four files, 10x with sixteen, on the
//! AVX-512 test machine). Concurrent stores meet here: each hands its bytes over before writing
//! its file ([`HashBatcher::submit`]), and asks for its digest once the file is flushed
//! ([`HashTicket::digest`]). The first store to ask hashes every file handed over by then, its
//! own included; the others usually find theirs done, or wait for the batch that holds it. The
//! flush of a file (a millisecond or more) leaves time for the next stores' bytes to arrive.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

/// Bytes shared with other threads (a parsed DICOM file, which holds its buffer).
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// Most files hashed together: the lanes of a 512-bit register.
const MAX_BATCH: usize = 16;

/// Files waiting for their digest.
#[derive(Default)]
pub struct HashBatcher {
    state: Mutex<BatchState>,
    /// Told when a batch is done.
    hashed: Condvar,
}

#[derive(Default)]
struct BatchState {
    /// Files handed over and not yet taken into a batch.
    waiting: Vec<Arc<Entry>>,
}

struct Entry {
    bytes: SharedBytes,
    digest: OnceLock<String>,
    /// Taken into a batch that failed (a panic): its store hashes it itself.
    abandoned: AtomicBool,
}

/// A file handed over for hashing.
pub struct HashTicket<'a> {
    batcher: &'a HashBatcher,
    entry: Arc<Entry>,
}

/// The MD5 of some bytes in lowercase hex, as Orthanc records attachments and ETags.
pub fn md5_hex(data: &[u8]) -> String {
    hex(&md5_many::md5(data))
}

/// Lowercase hex of a digest.
fn hex(digest: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

impl HashBatcher {
    pub const fn new() -> Self {
        HashBatcher {
            state: Mutex::new(BatchState {
                waiting: Vec::new(),
            }),
            hashed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BatchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `bytes` over; its digest is asked with [`HashTicket::digest`].
    pub fn submit(&self, bytes: SharedBytes) -> HashTicket<'_> {
        let entry = Arc::new(Entry {
            bytes,
            digest: OnceLock::new(),
            abandoned: AtomicBool::new(false),
        });
        self.lock().waiting.push(entry.clone());
        HashTicket {
            batcher: self,
            entry,
        }
    }
}

impl HashTicket<'_> {
    /// The MD5 (lowercase hex): computed by another store's batch, or now, in a batch of this
    /// file and every other still waiting. Several batches may be hashed at once; a store
    /// waits only for the batch that holds its own file.
    pub fn digest(self) -> String {
        let mut state = self.batcher.lock();
        loop {
            if let Some(digest) = self.entry.digest.get() {
                return digest.clone();
            }
            if let Some(i) = state
                .waiting
                .iter()
                .position(|e| Arc::ptr_eq(e, &self.entry))
            {
                state.waiting.swap_remove(i);
                break;
            }
            if self.entry.abandoned.load(Ordering::Acquire) {
                drop(state);
                return md5_hex((*self.entry.bytes).as_ref());
            }
            // In a batch another store is hashing.
            state = self
                .batcher
                .hashed
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
        // This file first, then others waiting (up to the batch size).
        let others = state.waiting.len().min(MAX_BATCH - 1);
        let mut batch = vec![self.entry.clone()];
        batch.extend(state.waiting.drain(..others));
        drop(state);
        let done = BatchDone {
            batcher: self.batcher,
            batch: &batch,
        };
        let mut digests: Vec<String> = if let [alone] = batch.as_slice() {
            vec![md5_hex((*alone.bytes).as_ref())]
        } else {
            let inputs: Vec<&[u8]> = batch.iter().map(|e| (*e.bytes).as_ref()).collect();
            let mut raw = vec![[0u8; 16]; inputs.len()];
            md5_many::md5_many(&inputs, &mut raw);
            raw.iter().map(hex).collect()
        };
        for (entry, digest) in batch.iter().zip(&digests) {
            let _ = entry.digest.set(digest.clone());
        }
        drop(done);
        // This file came first in the batch.
        digests.swap_remove(0)
    }
}

impl Drop for HashTicket<'_> {
    /// A file whose digest is not wanted any more (its store failed) leaves the queue.
    fn drop(&mut self) {
        if self.entry.digest.get().is_none() {
            self.batcher
                .lock()
                .waiting
                .retain(|e| !Arc::ptr_eq(e, &self.entry));
        }
    }
}

/// Ends a batch, even if hashing panicked (its stores then hash their own files), and wakes the
/// stores waiting for it.
struct BatchDone<'a> {
    batcher: &'a HashBatcher,
    batch: &'a [Arc<Entry>],
}

impl Drop for BatchDone<'_> {
    fn drop(&mut self) {
        for entry in self.batch {
            if entry.digest.get().is_none() {
                entry.abandoned.store(true, Ordering::Release);
            }
        }
        // Under the lock: a store checks its file, then waits, without missing this.
        let _state = self.batcher.lock();
        self.batcher.hashed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    fn reference(data: &[u8]) -> String {
        hex(&Md5::digest(data).into())
    }

    fn file(len: usize, seed: u32) -> SharedBytes {
        Arc::new(
            (0..len as u32)
                .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8)
                .collect::<Vec<u8>>(),
        )
    }

    /// Files of every size around the 64-byte blocks, handed over together and hashed in
    /// batches: each gets its own digest, as an independent implementation computes it.
    #[test]
    fn batched_digests_match_an_independent_implementation() {
        let batcher = HashBatcher::new();
        let files: Vec<SharedBytes> = (0..200)
            .chain([1000, 4096, 65_536, 131_072, 134_333])
            .enumerate()
            .map(|(i, len)| file(len, i as u32))
            .collect();
        let tickets: Vec<_> = files.iter().map(|f| batcher.submit(f.clone())).collect();
        for (ticket, f) in tickets.into_iter().zip(&files) {
            assert_eq!(ticket.digest(), reference((**f).as_ref()));
        }
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    /// One file at a time (the single-stream compressor), every length around the 64-byte
    /// blocks and their padding, and large files.
    #[test]
    fn single_digests_match_an_independent_implementation() {
        let data = file(300_000, 7);
        let data: &[u8] = (*data).as_ref();
        let lengths = (0..300).chain([1000, 4095, 4096, 65_536, 131_072, 134_333, 300_000]);
        for len in lengths {
            assert_eq!(
                md5_hex(&data[..len]),
                reference(&data[..len]),
                "length {len}"
            );
        }
    }

    /// Many threads at once, each asking for its digest after the others have queued theirs.
    #[test]
    fn concurrent_stores_each_get_their_digest() {
        let batcher = HashBatcher::new();
        std::thread::scope(|s| {
            for t in 0..8u32 {
                let batcher = &batcher;
                s.spawn(move || {
                    for i in 0..50u32 {
                        let f = file(10_000 + (t * 50 + i) as usize * 37, t * 1000 + i);
                        let ticket = batcher.submit(f.clone());
                        std::thread::yield_now();
                        assert_eq!(ticket.digest(), reference((*f).as_ref()));
                    }
                });
            }
        });
        assert!(batcher.lock().waiting.is_empty());
    }

    /// A ticket dropped unused leaves nothing queued.
    #[test]
    fn a_dropped_ticket_leaves_the_queue() {
        let batcher = HashBatcher::new();
        let kept = batcher.submit(file(5000, 1));
        drop(batcher.submit(file(7000, 2)));
        assert_eq!(batcher.lock().waiting.len(), 1);
        assert_eq!(kept.digest(), reference((*file(5000, 1)).as_ref()));
        assert!(batcher.lock().waiting.is_empty());
    }

    /// md5-many is a pinned pre-release: every digest the batcher hands out, whatever the
    /// contents, lengths, batch shapes and threads, must be md-5's.
    mod against_md5 {
        use super::*;
        use proptest::prelude::*;
        use std::sync::atomic::AtomicUsize;
        use std::time::{Duration, Instant};

        /// Lengths where MD5's last blocks change shape: 55 bytes is the most that leaves room
        /// for the padding byte and the 8-byte length in the same block, 56 needs another; 64,
        /// 128 end a block; 119 and 120 are the same a block further.
        const EDGES: [usize; 7] = [55, 56, 63, 64, 119, 120, 128];
        /// The largest file: several hundred KiB (thousands of blocks), so that the lanes of one
        /// batch end far apart.
        const MAX_LEN: usize = 384 * 1024;

        #[derive(Clone, Copy, Debug)]
        enum Fill {
            Random,
            Constant,
            Ramp,
        }

        #[derive(Clone, Debug)]
        struct FileSpec {
            len: usize,
            seed: u64,
            fill: Fill,
            /// Whether its store asks for the digest; if not, the ticket is dropped instead.
            asked: bool,
        }

        /// What every thread hands over at once, then asks for.
        #[derive(Clone, Debug)]
        struct Round {
            /// Threads wait until every thread has handed its files over before asking, so a
            /// batch mixes the files of several threads.
            together: bool,
            /// Asks for the digests last file first.
            reverse: bool,
            per_thread: Vec<Vec<FileSpec>>,
        }

        #[derive(Clone, Debug)]
        struct Case {
            threads: usize,
            rounds: Vec<Round>,
        }

        fn length() -> impl Strategy<Value = usize> {
            // Large files are few: debug builds hash some 20 MB/s.
            prop_oneof![
                8 => (prop::sample::select(&EDGES[..]), -2isize..=2)
                    .prop_map(|(edge, d)| edge.saturating_add_signed(d)),
                4 => 0usize..=1024,
                2 => 0usize..=16 * 1024,
                1 => (0usize..=MAX_LEN / 64, -1isize..=1)
                    .prop_map(|(k, d)| (k * 64).saturating_add_signed(d)),
                1 => 0usize..=MAX_LEN,
            ]
        }

        fn file_spec() -> impl Strategy<Value = FileSpec> {
            let fill = prop_oneof![
                4 => Just(Fill::Random),
                1 => Just(Fill::Constant),
                1 => Just(Fill::Ramp),
            ];
            (length(), any::<u64>(), fill, prop::bool::weighted(0.875)).prop_map(
                |(len, seed, fill, asked)| FileSpec {
                    len,
                    seed,
                    fill,
                    asked,
                },
            )
        }

        /// Mostly a few files per thread (batches then gather several threads' files), now
        /// and then more than a batch holds.
        fn files_per_thread() -> impl Strategy<Value = Vec<FileSpec>> {
            prop_oneof![
                3 => prop::collection::vec(file_spec(), 1..=4),
                1 => prop::collection::vec(file_spec(), 1..=MAX_BATCH + 2),
            ]
        }

        fn case() -> impl Strategy<Value = Case> {
            (1usize..=8).prop_flat_map(|threads| {
                let round = (
                    any::<bool>(),
                    any::<bool>(),
                    prop::collection::vec(files_per_thread(), threads),
                )
                    .prop_map(|(together, reverse, per_thread)| Round {
                        together,
                        reverse,
                        per_thread,
                    });
                prop::collection::vec(round, 1..=2).prop_map(move |rounds| Case { threads, rounds })
            })
        }

        fn contents(spec: &FileSpec) -> Vec<u8> {
            match spec.fill {
                Fill::Constant => vec![spec.seed as u8; spec.len],
                Fill::Ramp => (0..spec.len)
                    .map(|i| (i as u64).wrapping_add(spec.seed) as u8)
                    .collect(),
                Fill::Random => {
                    // splitmix64
                    let mut state = spec.seed;
                    let mut out = Vec::with_capacity(spec.len + 8);
                    while out.len() < spec.len {
                        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                        let mut z = state;
                        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
                    }
                    out.truncate(spec.len);
                    out
                }
            }
        }

        /// Waits until `count` reaches `target`; gives up after a while rather than hang the
        /// test when another thread died.
        fn meet(count: &AtomicUsize, target: usize) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while count.load(Ordering::Acquire) < target && Instant::now() < deadline {
                std::thread::yield_now();
            }
        }

        /// Runs one case; the digests asked, by round, thread and file (`None`: not asked).
        fn run(
            case: &Case,
            files: &[Vec<Vec<SharedBytes>>],
        ) -> Option<Vec<Vec<Vec<Option<String>>>>> {
            let batcher = HashBatcher::new();
            let submitted = AtomicUsize::new(0);
            let by_thread = std::thread::scope(|s| {
                let handles: Vec<_> = (0..case.threads)
                    .map(|t| {
                        let (batcher, submitted) = (&batcher, &submitted);
                        s.spawn(move || {
                            let mut out = Vec::new();
                            for (r, round) in case.rounds.iter().enumerate() {
                                let specs = &round.per_thread[t];
                                let mut tickets: Vec<_> = files[r][t]
                                    .iter()
                                    .map(|f| Some(batcher.submit(f.clone())))
                                    .collect();
                                submitted.fetch_add(1, Ordering::AcqRel);
                                if round.together {
                                    meet(submitted, case.threads * (r + 1));
                                }
                                let mut order: Vec<usize> = (0..tickets.len()).collect();
                                if round.reverse {
                                    order.reverse();
                                }
                                let mut got = vec![None; tickets.len()];
                                for i in order {
                                    let ticket = tickets[i].take().expect("asked once");
                                    if specs[i].asked {
                                        got[i] = Some(ticket.digest());
                                    }
                                }
                                out.push(got);
                            }
                            out
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().ok())
                    .collect::<Option<Vec<_>>>()
            })?;
            if !batcher.lock().waiting.is_empty() {
                return None;
            }
            // By round, then thread.
            Some(
                (0..case.rounds.len())
                    .map(|r| by_thread.iter().map(|rounds| rounds[r].clone()).collect())
                    .collect(),
            )
        }

        proptest! {
            // A few seconds in a debug build; PROPTEST_CASES=1000 looks further. Failing
            // inputs are printed (shrunk), not saved to a file next to this one.
            #![proptest_config(ProptestConfig {
                cases: std::env::var("PROPTEST_CASES")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(24),
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn batched_digests_are_md5s_from_many_threads(case in case()) {
                let files: Vec<Vec<Vec<SharedBytes>>> = case
                    .rounds
                    .iter()
                    .map(|round| {
                        round
                            .per_thread
                            .iter()
                            .map(|specs| {
                                specs
                                    .iter()
                                    .map(|spec| Arc::new(contents(spec)) as SharedBytes)
                                    .collect()
                            })
                            .collect()
                    })
                    .collect();
                let got = run(&case, &files);
                prop_assert!(got.is_some(), "a thread panicked, or a file was left queued");
                let got = got.unwrap_or_default();
                for (r, round) in case.rounds.iter().enumerate() {
                    for (t, specs) in round.per_thread.iter().enumerate() {
                        for (i, spec) in specs.iter().enumerate() {
                            let data: &[u8] = (*files[r][t][i]).as_ref();
                            let want = spec.asked.then(|| reference(data));
                            prop_assert_eq!(
                                &got[r][t][i],
                                &want,
                                "round {} thread {} file {} ({} bytes)",
                                r,
                                t,
                                i,
                                spec.len
                            );
                        }
                    }
                }
            }
        }
    }
}

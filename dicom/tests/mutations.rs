//! Property tests of the parser on hostile input: valid files made by the
//! crate's own writer in every transfer syntax are mutated (bit flips,
//! truncation, inserted and deleted bytes, huge declared lengths, delimiters
//! removed so undefined-length sequences stay open) and handed to the parser,
//! which must return `Ok` or a clean error: no panic, no allocation out of
//! proportion to the input, no unbounded recursion. Whatever parses must also
//! be rendered and browsed without panicking.
//!
//! A counting global allocator measures the peak memory of each parse (per
//! thread, so the test harness's parallel threads do not disturb it).

use proptest::prelude::*;
use proptest::sample::Index;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use stowage_core::ResourceType;
use stowage_dicom::writer::{DatasetBuilder, DicomBuilder, TransferSyntax};
use stowage_dicom::{dictionary, parse, DicomError, DicomFile, Tag, TagsFormat, Vr};

// ---------------------------------------------------------------------------
// Peak memory of a closure, per thread.

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let now = l.get().wrapping_add(delta);
        l.set(now);
        let _ = PEAK.try_with(|p| {
            if now > p.get() {
                p.set(now)
            }
        });
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// bookkeeping touches only const-initialised thread-locals (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        note(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result with the peak number of bytes it had
/// allocated at once on this thread.
fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = PEAK.with(Cell::get);
    (r, (peak - base).max(0) as usize)
}

/// What parsing `len` bytes may cost at most: a copy of the input, the
/// element tree (a few dozen bytes per element of at least 8 bytes), the
/// inflater's state and some slack. Nothing near a declared length.
fn memory_budget(len: usize) -> usize {
    64 * len + (1 << 20)
}

// ---------------------------------------------------------------------------
// Valid files from the writer.

const ALL_TS: [TransferSyntax; 5] = [
    TransferSyntax::ImplicitVrLittleEndian,
    TransferSyntax::ExplicitVrLittleEndian,
    TransferSyntax::ExplicitVrBigEndian,
    TransferSyntax::DeflatedExplicitVrLittleEndian,
    TransferSyntax::Encapsulated("1.2.840.10008.1.2.4.50"),
];

fn t(g: u16, e: u16) -> Tag {
    Tag::new(g, e)
}

/// A small but varied dataset: text in Latin-1, numbers, AT, private tags,
/// sequences nested three deep (one empty), and pixel data.
fn dataset(ts: TransferSyntax) -> DatasetBuilder {
    let code = DatasetBuilder::new()
        .string(t(0x0008, 0x0100), "SH", "PROT-1")
        .sequence(
            t(0x0040, 0xa043),
            vec![DatasetBuilder::new().string(t(0x0008, 0x0104), "LO", "deep")],
        );
    let step = DatasetBuilder::new()
        .string(t(0x0040, 0x0009), "SH", "SPS-1")
        .sequence(t(0x0040, 0x0008), vec![code]);
    let reference = |uid: &str| {
        DatasetBuilder::new()
            .string(t(0x0008, 0x1150), "UI", "1.2.840.10008.3.1.2.3.1")
            .string(t(0x0008, 0x1155), "UI", uid)
    };
    let ds = DatasetBuilder::new()
        .string(t(0x0008, 0x0005), "CS", "ISO_IR 100")
        .string(t(0x0008, 0x0016), "UI", "1.2.840.10008.5.1.4.1.1.7")
        .string(t(0x0008, 0x0018), "UI", "1.2.3.4.5")
        .string(t(0x0008, 0x0060), "CS", "OT")
        .raw(t(0x0010, 0x0010), "PN", b"M\xfcller^J\xfcrgen")
        .string(t(0x0010, 0x0020), "LO", "PAT1")
        .string(t(0x0020, 0x000d), "UI", "1.2.3")
        .string(t(0x0020, 0x000e), "UI", "1.2.3.4")
        .string(t(0x0028, 0x0034), "IS", "1\\1")
        .f64(t(0x0018, 0x9087), 1000.0)
        .raw(t(0x0028, 0x0009), "AT", &[0x18, 0x00, 0x63, 0x10])
        .string(t(0x0009, 0x0010), "LO", "MY_CREATOR")
        .string(t(0x0009, 0x1001), "LO", "private text")
        .u16(t(0x0009, 0x1002), 42)
        .sequence(
            t(0x0008, 0x1110),
            vec![reference("1.2.9.1"), reference("1.2.9.2")],
        )
        .sequence(t(0x0008, 0x1120), vec![])
        .sequence(t(0x0040, 0x0275), vec![step]);
    match ts {
        TransferSyntax::Encapsulated(_) => {
            ds.pixel_data_encapsulated(vec![vec![0xff, 0xd8, 1, 2, 0xff, 0xd9], vec![3; 7]])
        }
        _ => ds.pixel_data_native(4, 4, 16, 1, 2, (0u8..64).collect()),
    }
}

fn build(ts: TransferSyntax, undefined: bool, ds: DatasetBuilder) -> Vec<u8> {
    DicomBuilder::new(ts)
        .sop("1.2.840.10008.5.1.4.1.1.7", "1.2.3.4.5")
        .undefined_lengths(undefined)
        .dataset(ds)
        .build()
}

/// Offset of the dataset: after the preamble, `DICM` and the meta group,
/// whose length the writer always records in (0002,0000).
fn meta_end(file: &[u8]) -> usize {
    let group_len = u32::from_le_bytes([file[140], file[141], file[142], file[143]]);
    144 + group_len as usize
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("deflating into memory");
    e.finish().expect("deflating into memory")
}

/// Where things are in an encoded dataset: length fields (offset, width in
/// bytes) and delimitation items (offset).
#[derive(Default, Debug)]
struct Positions {
    lengths: Vec<(usize, usize)>,
    delimiters: Vec<usize>,
    headers: Vec<usize>,
}

/// Walks an encoded dataset without building anything: sequences and items
/// are entered rather than skipped, so one flat loop sees every header. It
/// stops where the bytes stop making sense (mutated data).
fn layout(ds: &[u8], explicit: bool, big: bool) -> Positions {
    let u16_at = |p: usize| {
        let a: [u8; 2] = ds.get(p..p.checked_add(2)?)?.try_into().ok()?;
        Some(if big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    };
    let u32_at = |p: usize| {
        let a: [u8; 4] = ds.get(p..p.checked_add(4)?)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    };
    let mut out = Positions::default();
    let mut pos = 0usize;
    let mut in_fragments = false;
    while let (Some(group), Some(element)) = (u16_at(pos), u16_at(pos + 2)) {
        let tag = Tag::new(group, element);
        if tag.group == 0xfffe {
            let Some(len) = u32_at(pos + 4) else { break };
            out.headers.push(pos);
            out.lengths.push((pos + 4, 4));
            if tag == Tag::ITEM_DELIMITATION || tag == Tag::SEQUENCE_DELIMITATION {
                out.delimiters.push(pos);
                if tag == Tag::SEQUENCE_DELIMITATION {
                    in_fragments = false;
                }
                pos += 8;
            } else if in_fragments {
                pos = pos.saturating_add(8).saturating_add(len as usize);
            } else {
                pos += 8;
            }
            continue;
        }
        let (vr, len_pos, width) = if explicit {
            let Some(&[a, b]) = ds.get(pos + 4..pos + 6) else {
                break;
            };
            let vr = Vr([a, b]);
            if vr.has_long_length() {
                (vr, pos + 8, 4)
            } else {
                (vr, pos + 6, 2)
            }
        } else {
            (dictionary::implicit_vr(tag), pos + 4, 4)
        };
        let len = if width == 2 {
            u16_at(len_pos).map(u32::from)
        } else {
            u32_at(len_pos)
        };
        let Some(len) = len else { break };
        out.headers.push(pos);
        out.lengths.push((len_pos, width));
        pos = len_pos + width;
        if len == u32::MAX && tag == Tag::PIXEL_DATA {
            in_fragments = true;
        } else if vr != Vr::SQ && len != u32::MAX {
            pos = pos.saturating_add(len as usize);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Mutations.

#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    /// Overwrites a declared length (element, item or fragment).
    Length(Index, u32),
    /// Removes an item or sequence delimitation item.
    DropDelimiter(Index),
    /// Duplicates an element header (8 bytes) in place.
    DuplicateHeader(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let length = prop_oneof![
        Just(0xffff_fff0u32),
        Just(0xffff_ffff),
        Just(0xffff_fffe),
        Just(0x7fff_ffff),
        Just(0x8000_0000),
        Just(0xffff),
        Just(0xfffe),
        Just(0),
        Just(1),
        0u32..64,
        any::<u32>(),
    ];
    prop_oneof![
        4 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        4 => (any::<Index>(), length).prop_map(|(i, v)| Mutation::Length(i, v)),
        2 => any::<Index>().prop_map(Mutation::DropDelimiter),
        1 => any::<Index>().prop_map(Mutation::DuplicateHeader),
    ]
}

fn put(buf: &mut [u8], pos: usize, width: usize, v: u32, big: bool) {
    if width == 2 {
        let b = if big {
            (v as u16).to_be_bytes()
        } else {
            (v as u16).to_le_bytes()
        };
        buf[pos..pos + 2].copy_from_slice(&b);
    } else {
        let b = if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        buf[pos..pos + 4].copy_from_slice(&b);
    }
}

/// Applies mutations to an encoded dataset.
fn mutate(mut data: Vec<u8>, muts: &[Mutation], explicit: bool, big: bool) -> Vec<u8> {
    for m in muts {
        if data.is_empty() {
            break;
        }
        // Positions are taken from the bytes as mutated so far (as far as
        // they can still be walked).
        let lay = layout(&data, explicit, big);
        match m {
            Mutation::Flip(i, bit) => {
                let p = i.index(data.len());
                data[p] ^= 1 << bit;
            }
            Mutation::Truncate(i) => {
                let n = i.index(data.len());
                data.truncate(n);
            }
            Mutation::Insert(i, bytes) => {
                let p = i.index(data.len() + 1);
                data.splice(p..p, bytes.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let p = i.index(data.len());
                let end = (p + n).min(data.len());
                data.drain(p..end);
            }
            Mutation::Length(i, v) => {
                if lay.lengths.is_empty() {
                    continue;
                }
                let (p, w) = lay.lengths[i.index(lay.lengths.len())];
                if p + w <= data.len() {
                    put(&mut data, p, w, *v, big);
                }
            }
            Mutation::DropDelimiter(i) => {
                if lay.delimiters.is_empty() {
                    continue;
                }
                let p = lay.delimiters[i.index(lay.delimiters.len())];
                let end = (p + 8).min(data.len());
                data.drain(p..end);
            }
            Mutation::DuplicateHeader(i) => {
                if lay.headers.is_empty() {
                    continue;
                }
                let p = lay.headers[i.index(lay.headers.len())];
                let end = (p + 8).min(data.len());
                let copy = data[p..end].to_vec();
                data.splice(p..p, copy);
            }
        }
    }
    data
}

/// A mutated file: the dataset is mutated structurally (for deflated files,
/// before compression, so the parser sees the damage after inflating); with
/// `raw`, a few byte-level mutations then hit the whole file as well
/// (preamble, meta group, compressed stream).
fn mutated_file(
    ts: TransferSyntax,
    undefined: bool,
    muts: &[Mutation],
    raw: &[Mutation],
) -> Vec<u8> {
    let deflated = ts == TransferSyntax::DeflatedExplicitVrLittleEndian;
    let plain_ts = if deflated {
        TransferSyntax::ExplicitVrLittleEndian
    } else {
        ts
    };
    let plain = build(plain_ts, undefined, dataset(ts));
    let start = meta_end(&plain);
    let explicit = ts != TransferSyntax::ImplicitVrLittleEndian;
    let big = ts == TransferSyntax::ExplicitVrBigEndian;
    let ds = mutate(plain[start..].to_vec(), muts, explicit, big);
    let mut file = if deflated {
        let real = build(ts, undefined, dataset(ts));
        let mut f = real[..meta_end(&real)].to_vec();
        f.extend_from_slice(&deflate(&ds));
        f
    } else {
        let mut f = plain[..start].to_vec();
        f.extend_from_slice(&ds);
        f
    };
    for m in raw {
        if file.is_empty() {
            break;
        }
        match m {
            Mutation::Flip(i, bit) => {
                let p = i.index(file.len());
                file[p] ^= 1 << bit;
            }
            Mutation::Truncate(i) => {
                let n = i.index(file.len());
                file.truncate(n);
            }
            Mutation::Insert(i, b) => {
                let p = i.index(file.len() + 1);
                file.splice(p..p, b.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let p = i.index(file.len());
                let end = (p + n).min(file.len());
                file.drain(p..end);
            }
            _ => {}
        }
    }
    file
}

// ---------------------------------------------------------------------------
// The checks.

/// Uses every accessor of a parsed file, as the REST API would.
fn exercise(f: &DicomFile) {
    for format in [TagsFormat::Full, TagsFormat::Simplify, TagsFormat::Short] {
        let _ = f.tags_json(format);
        let _ = f.header_json(format);
    }
    for level in ResourceType::ALL {
        let _ = f.main_dicom_tags(level);
        let _ = f.module_json(level, TagsFormat::Full);
    }
    let _ = f.sop_class_uid();
    if let Ok(stowage_dicom::Content::Children(top)) = f.content(&[]) {
        for tag in top {
            let _ = f.content(&[&tag]);
            for i in ["0", "1", "2"] {
                let _ = f.content(&[&tag, i]);
                let _ = f.content(&[&tag, i, "0010-0010"]);
            }
        }
    }
    for i in 0..f.frame_count().min(4) {
        let _ = f.raw_frame(i);
    }
    if let Some(off) = f.pixel_data_offset() {
        assert!(off < f.bytes().len() as u64);
    }
}

/// Parses `bytes`: `Ok` or a clean error, within the memory budget.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (result, peak) = peak_of(|| {
        let r = parse(bytes);
        if let Ok(f) = &r {
            exercise(f);
        }
        r.map(|_| ())
    });
    prop_assert!(
        peak <= memory_budget(bytes.len()),
        "parsing {} bytes allocated {peak} bytes at once",
        bytes.len()
    );
    match result {
        Ok(()) => {}
        Err(DicomError::Empty) => prop_assert!(bytes.is_empty()),
        Err(DicomError::Invalid { size, .. }) => prop_assert_eq!(size, bytes.len()),
        Err(e) => prop_assert!(false, "unexpected error kind: {e:?}"),
    }
    Ok(())
}

fn ts_strategy() -> impl Strategy<Value = TransferSyntax> {
    proptest::sample::select(ALL_TS.to_vec())
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(600))]

    #[test]
    fn mutated_files_parse_or_fail_cleanly(
        ts in ts_strategy(),
        undefined in any::<bool>(),
        muts in proptest::collection::vec(mutation(), 1..4),
        raw in proptest::collection::vec(mutation(), 0..2),
    ) {
        check(&mutated_file(ts, undefined, &muts, &raw))?;
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Sequences nested through the writer parse up to the depth limit and
    /// are refused (cleanly) beyond it.
    #[test]
    fn nested_sequences_parse_up_to_the_limit(
        ts in ts_strategy(),
        undefined in any::<bool>(),
        depth in 0usize..100,
    ) {
        let mut ds = DatasetBuilder::new().string(t(0x0008, 0x0100), "SH", "leaf");
        for _ in 0..depth {
            ds = DatasetBuilder::new().sequence(t(0x0040, 0x0275), vec![ds]);
        }
        let bytes = build(ts, undefined, ds);
        check(&bytes)?;
        let parsed = parse(&bytes);
        if depth <= 64 {
            let f = parsed.map_err(|e| TestCaseError::fail(format!("depth {depth}: {e}")))?;
            let mut v = f.tags_json(TagsFormat::Short);
            for _ in 0..depth {
                v = v["0040,0275"][0].take();
            }
            prop_assert_eq!(&v["0008,0100"], "leaf");
        } else {
            prop_assert!(parsed.is_err(), "depth {} accepted", depth);
        }
    }

    /// Sequences left open: a file cut right after any header of an
    /// undefined-length encoding.
    #[test]
    fn cut_after_any_header(ts in ts_strategy(), at in any::<Index>()) {
        let bytes = build(ts, true, dataset(ts));
        let start = meta_end(&bytes);
        let explicit = ts != TransferSyntax::ImplicitVrLittleEndian;
        let big = ts == TransferSyntax::ExplicitVrBigEndian;
        if ts != TransferSyntax::DeflatedExplicitVrLittleEndian {
            let lay = layout(&bytes[start..], explicit, big);
            let h = lay.headers[at.index(lay.headers.len())];
            for extra in [4, 6, 8, 12] {
                let end = (start + h + extra).min(bytes.len());
                check(&bytes[..end])?;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Targeted cases (and regressions).

/// A raw explicit VR little endian file around `ds`.
fn explicit_le_file(ds: &[u8]) -> Vec<u8> {
    let plain = build(
        TransferSyntax::ExplicitVrLittleEndian,
        false,
        DatasetBuilder::new(),
    );
    let mut f = plain[..meta_end(&plain)].to_vec();
    f.extend_from_slice(ds);
    f
}

fn implicit_le_file(ds: &[u8]) -> Vec<u8> {
    let plain = build(
        TransferSyntax::ImplicitVrLittleEndian,
        false,
        DatasetBuilder::new(),
    );
    let mut f = plain[..meta_end(&plain)].to_vec();
    f.extend_from_slice(ds);
    f
}

fn deflated_file(ds: &[u8]) -> Vec<u8> {
    let plain = build(
        TransferSyntax::DeflatedExplicitVrLittleEndian,
        false,
        DatasetBuilder::new(),
    );
    let mut f = plain[..meta_end(&plain)].to_vec();
    f.extend_from_slice(&deflate(ds));
    f
}

fn check_plain(bytes: &[u8]) {
    if let Err(e) = check(bytes) {
        panic!("{e}");
    }
}

#[test]
fn huge_declared_lengths_on_a_small_file() {
    // Every length field of a ~1 KiB file set, one at a time, to values near
    // 4 GiB: a clean error each time, and no allocation near the declared size.
    for ts in ALL_TS {
        for undefined in [false, true] {
            let bytes = build(ts, undefined, dataset(ts));
            let start = meta_end(&bytes);
            let explicit = ts != TransferSyntax::ImplicitVrLittleEndian;
            let big = ts == TransferSyntax::ExplicitVrBigEndian;
            if ts == TransferSyntax::DeflatedExplicitVrLittleEndian {
                continue; // covered through the explicit LE dataset below
            }
            let lay = layout(&bytes[start..], explicit, big);
            assert!(lay.lengths.len() > 30, "{ts:?}: {lay:?}");
            for &(p, w) in &lay.lengths {
                for v in [0xffff_fff0, 0xffff_fffe, 0x7fff_fff0, 0xffff] {
                    let mut b = bytes.clone();
                    put(&mut b, start + p, w, v, big);
                    check_plain(&b);
                    if ts == TransferSyntax::ExplicitVrLittleEndian {
                        check_plain(&deflated_file(&b[start..]));
                    }
                }
            }
        }
    }
}

#[test]
fn element_claiming_four_gib_is_refused_without_allocating_it() {
    // (0010,0010) OB with a declared length of 0xFFFFFFF0 in a 1 KiB file.
    let mut ds = vec![0x10, 0x00, 0x10, 0x00, b'O', b'B', 0, 0];
    ds.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    ds.resize(1024, 0x41);
    let file = explicit_le_file(&ds);
    let (r, peak) = peak_of(|| parse(&file));
    assert!(matches!(r, Err(DicomError::Invalid { .. })), "{r:?}");
    assert!(peak < 64 * 1024, "{peak} bytes allocated");
}

/// Header of an undefined-length sequence then an undefined-length item, in
/// implicit VR little endian (ReferencedSeriesSequence is an SQ).
const OPEN_LEVEL: [u8; 16] = [
    0x08, 0x00, 0x15, 0x11, 0xff, 0xff, 0xff, 0xff, // (0008,1115) SQ, undefined
    0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff, // item, undefined
];

#[test]
fn deeply_nested_open_sequences_are_refused_without_deep_recursion() {
    // 200,000 levels of open sequences: the depth limit must stop the parser
    // long before the stack does (a stack overflow aborts the test binary).
    let ds: Vec<u8> = OPEN_LEVEL.repeat(200_000);
    let file = implicit_le_file(&ds);
    let (r, peak) = peak_of(|| parse(&file));
    assert!(matches!(r, Err(DicomError::Invalid { .. })), "{r:?}");
    assert!(peak <= memory_budget(file.len()));
    // The same in explicit VR (UN of undefined length switches to implicit).
    let mut level = vec![
        0x09, 0x00, 0x10, 0x10, b'U', b'N', 0, 0, 0xff, 0xff, 0xff, 0xff,
    ];
    level.extend_from_slice(&OPEN_LEVEL[8..]);
    let file = explicit_le_file(&level.repeat(100_000));
    assert!(parse(&file).is_err());
    // And through the deflated transfer syntax.
    let mut level = vec![
        0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xff, 0xff, 0xff, 0xff,
    ];
    level.extend_from_slice(&OPEN_LEVEL[8..]);
    let file = deflated_file(&level.repeat(100_000));
    assert!(parse(&file).is_err());
}

#[test]
fn sequences_left_open_at_the_end_of_the_file() {
    // Nested undefined-length sequences whose delimiters never come.
    for levels in [1, 2, 10, 64] {
        let mut ds = OPEN_LEVEL.repeat(levels);
        ds.extend_from_slice(&[0x08, 0x00, 0x00, 0x01, 4, 0, 0, 0]);
        ds.extend_from_slice(b"ABCD");
        let file = implicit_le_file(&ds);
        assert!(parse(&file).is_err(), "{levels} open levels accepted");
        check_plain(&file);
    }
}

//! ZIP archives of resources (`/{level}/{id}/archive`, `/tools/create-archive`) and DICOMDIR
//! media (`/{level}/{id}/media`, `/tools/create-media`).
//!
//! An archive is planned first (one read transaction: which instances, under which names),
//! then written entry by entry to any `Write` (an HTTP body channel or a job's temporary
//! file), so that only one DICOM file is in memory at a time.
//!
//! Archive layout (Orthanc's hierarchy, names sanitized to ASCII and made unique among
//! siblings): `PatientID PatientName/StudyDate StudyDescription/Modality SeriesNumber
//! SeriesDescription/XX000001.dcm` (`XX`: the first two letters of the modality).
//! Media layout: `IMAGES/IM0`, `IMAGES/IM1`, ... and `DICOMDIR` at the root, written last.

pub mod zip;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::sync::Arc;

use stowage_core::{IndexTransaction, InternalId, MainDicomTag, ResourceType};
use stowage_dicom::writer::{DatasetBuilder, DicomBuilder, TransferSyntax};
use stowage_dicom::Tag;

use super::context::Context;
use super::error::{tx_plumbing, ErrorCode, ServiceError, TxError, Verdict};
use super::files::{read_dicom_bytes, FilesError};
use super::resources::{ancestor_at, descendants_at};

/// Why an archive could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    #[error("Unknown resource: {0}")]
    UnknownResource(String),
    /// The archive could not be written (its output).
    #[error("cannot write the archive: {0}")]
    Output(std::io::Error),
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Tx(TxError),
}

tx_plumbing!(ArchiveError);

impl ServiceError for ArchiveError {
    fn verdict(&self) -> Verdict {
        match self {
            ArchiveError::UnknownResource(_) => {
                Verdict::detailed(ErrorCode::UnknownResource, self.to_string())
            }
            ArchiveError::Output(e) => Verdict::detailed(ErrorCode::CannotWriteFile, e.to_string()),
            ArchiveError::Files(e) => e.verdict(),
            ArchiveError::Tx(e) => e.verdict(),
        }
    }
    fn tx_error(&self) -> Option<&TxError> {
        match self {
            ArchiveError::Tx(e) => Some(e),
            ArchiveError::Files(e) => e.tx_error(),
            _ => None,
        }
    }
}

pub use self::zip::ZipStreamWriter;

/// One file of an archive.
#[derive(Debug, Clone)]
pub struct ArchiveItem {
    pub path: String,
    pub instance: InternalId,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub items: Vec<ArchiveItem>,
    /// Sum of the uncompressed sizes of the DICOM files.
    pub uncompressed_size: u64,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct ArchiveStats {
    pub instances: usize,
    pub archive_size: u64,
}

/// Resolves public IDs of any level. An unknown ID is an `UnknownResource` error.
pub fn resolve_resources(
    tx: &mut dyn IndexTransaction,
    ids: &[String],
) -> Result<Vec<(InternalId, ResourceType, String)>, ArchiveError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match tx.lookup_resource(id)? {
            Some(found) => out.push((found.id, found.level, id.clone())),
            None => return Err(ArchiveError::UnknownResource(id.clone())),
        }
    }
    Ok(out)
}

fn tag_value(tags: &[MainDicomTag], group: u16, element: u16) -> String {
    tags.iter()
        .find(|t| t.group == group && t.element == element)
        .map(|t| t.value.trim().to_owned())
        .unwrap_or_default()
}

/// A folder name: printable ASCII without path separators or reserved characters.
fn sanitize(name: &str, fallback: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " -_.^,()+=@#".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    s.truncate(64);
    let s = s.trim_matches(|c| c == ' ' || c == '.').to_owned();
    if s.is_empty() {
        fallback.to_owned()
    } else {
        s
    }
}

fn unique(name: String, used: &mut HashSet<String>) -> String {
    if used.insert(name.to_ascii_lowercase()) {
        return name;
    }
    for n in 2.. {
        let candidate = format!("{name} ({n})");
        if used.insert(candidate.to_ascii_lowercase()) {
            return candidate;
        }
    }
    unreachable!()
}

/// Plans an archive of `resources` (any levels; ancestors are kept as folders).
pub fn plan(
    tx: &mut dyn IndexTransaction,
    resources: &[(InternalId, ResourceType, String)],
    media: bool,
) -> Result<Plan, ArchiveError> {
    // patient -> study -> series -> instances, in index order.
    type Tree =
        BTreeMap<InternalId, BTreeMap<InternalId, BTreeMap<InternalId, BTreeSet<InternalId>>>>;
    let mut tree: Tree = BTreeMap::new();
    for (id, level, _) in resources {
        for instance in descendants_at(tx, *id, *level, ResourceType::Instance)? {
            let series = ancestor_at(tx, instance, ResourceType::Instance, ResourceType::Series)?;
            let study = ancestor_at(tx, series, ResourceType::Series, ResourceType::Study)?;
            let patient = ancestor_at(tx, study, ResourceType::Study, ResourceType::Patient)?;
            tree.entry(patient)
                .or_default()
                .entry(study)
                .or_default()
                .entry(series)
                .or_default()
                .insert(instance);
        }
    }
    let mut plan = Plan::default();
    let mut patients_used = HashSet::new();
    for (patient, studies) in tree {
        let pt = tx.get_main_dicom_tags(patient)?;
        let pname = unique(
            sanitize(
                &format!(
                    "{} {}",
                    tag_value(&pt, 0x0010, 0x0020),
                    tag_value(&pt, 0x0010, 0x0010)
                ),
                "Unknown Patient",
            ),
            &mut patients_used,
        );
        let mut studies_used = HashSet::new();
        for (study, series_map) in studies {
            let st = tx.get_main_dicom_tags(study)?;
            let sname = unique(
                sanitize(
                    &format!(
                        "{} {}",
                        tag_value(&st, 0x0008, 0x0020),
                        tag_value(&st, 0x0008, 0x1030)
                    ),
                    "Unknown Study",
                ),
                &mut studies_used,
            );
            let mut series_used = HashSet::new();
            for (series, instances) in series_map {
                let se = tx.get_main_dicom_tags(series)?;
                let modality = tag_value(&se, 0x0008, 0x0060);
                let sename = unique(
                    sanitize(
                        &format!(
                            "{} {} {}",
                            modality,
                            tag_value(&se, 0x0020, 0x0011),
                            tag_value(&se, 0x0008, 0x103e)
                        ),
                        "Unknown Series",
                    ),
                    &mut series_used,
                );
                let mut prefix: String = modality
                    .chars()
                    .filter(|c| c.is_ascii_alphabetic())
                    .take(2)
                    .collect::<String>()
                    .to_ascii_uppercase();
                if prefix.is_empty() {
                    prefix = "IM".into();
                }
                for (n, instance) in instances.into_iter().enumerate() {
                    let path = if media {
                        String::new() // numbered below
                    } else {
                        format!("{pname}/{sname}/{sename}/{prefix}{:06}.dcm", n + 1)
                    };
                    if let Some(a) =
                        tx.lookup_attachment(instance, stowage_core::FileContentType::DICOM)?
                    {
                        plan.uncompressed_size += a.file.uncompressed_size;
                    }
                    plan.items.push(ArchiveItem { path, instance });
                }
            }
        }
    }
    if media {
        for (n, item) in plan.items.iter_mut().enumerate() {
            item.path = format!("IMAGES/IM{n}");
        }
    }
    Ok(plan)
}

/// Checks that every resource exists (before an archive job is submitted).
pub async fn check_resources(
    ctx: &Arc<Context>,
    resources: Vec<String>,
) -> Result<(), ArchiveError> {
    ctx.read(move |tx| resolve_resources(tx, &resources).map(|_| ()))
        .await
}

/// Plans an archive of `resources` (any levels), checking that they exist.
pub async fn plan_of(
    ctx: &Arc<Context>,
    resources: Vec<String>,
    media: bool,
) -> Result<Plan, ArchiveError> {
    ctx.read(move |tx| {
        let resolved = resolve_resources(tx, &resources)?;
        plan(tx, &resolved, media)
    })
    .await
}

/// Checks that a resource exists at `level` (an archive of it may be made).
pub async fn check_level(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
) -> Result<(), TxError> {
    ctx.read(move |tx| Ok(super::resources::lookup_at_level(tx, &public_id, level).map(|_| ())?))
        .await
}

/// Writes the planned archive. `step(done, total)` runs before each file (a job checks for
/// pause and cancellation there). Blocking.
pub fn write_archive<W: Write, E: From<ArchiveError>>(
    ctx: &Context,
    plan: &Plan,
    media: bool,
    out: W,
    mut step: impl FnMut(usize, usize) -> Result<(), E>,
) -> Result<(ArchiveStats, W), E> {
    let io = ArchiveError::Output;
    let mut zip = ZipStreamWriter::new(out);
    let mut dicomdir = DicomDir::default();
    let mut written = 0;
    let total = plan.items.len();
    for (i, item) in plan.items.iter().enumerate() {
        step(i, total)?;
        let bytes = match read_dicom_bytes(ctx, item.instance) {
            Ok((_, b)) => b,
            // Deleted since the archive was planned.
            Err(FilesError::NoAttachment) => continue,
            Err(e) if e.verdict() == Verdict::NoSuchResource => continue,
            Err(e) => return Err(ArchiveError::from(e).into()),
        };
        if media {
            match stowage_dicom::parse(&bytes) {
                Ok(file) => dicomdir.add(&file, &item.path),
                Err(e) => tracing::warn!("DICOMDIR: cannot parse {}: {e}", item.path),
            }
        }
        zip.add_file(&item.path, &bytes).map_err(io)?;
        written += 1;
    }
    step(total, total)?;
    if media {
        zip.add_file("DICOMDIR", &dicomdir.build()).map_err(io)?;
    }
    let (out, archive_size) = zip.finish().map_err(io)?;
    Ok((
        ArchiveStats {
            instances: written,
            archive_size,
        },
        out,
    ))
}

// ---------------------------------------------------------------------------
// DICOMDIR
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Record {
    kind: &'static str,
    tags: Vec<(Tag, &'static str, String)>,
    children: Vec<usize>,
}

/// The directory records of a media, built while the files are written.
#[derive(Default)]
pub struct DicomDir {
    records: Vec<Record>,
    roots: Vec<usize>,
    /// (level key) -> record index
    keys: BTreeMap<String, usize>,
}

const T_NEXT: Tag = Tag::new(0x0004, 0x1400);
const T_IN_USE: Tag = Tag::new(0x0004, 0x1410);
const T_LOWER: Tag = Tag::new(0x0004, 0x1420);
const T_TYPE: Tag = Tag::new(0x0004, 0x1430);

impl DicomDir {
    fn record(
        &mut self,
        key: String,
        parent: Option<usize>,
        kind: &'static str,
        tags: Vec<(Tag, &'static str, String)>,
    ) -> usize {
        if let Some(&i) = self.keys.get(&key) {
            return i;
        }
        let i = self.records.len();
        self.records.push(Record {
            kind,
            tags,
            children: Vec::new(),
        });
        match parent {
            Some(p) => self.records[p].children.push(i),
            None => self.roots.push(i),
        }
        self.keys.insert(key, i);
        i
    }

    pub fn add(&mut self, file: &stowage_dicom::DicomFile, path: &str) {
        let s = |g, e| file.string(Tag::new(g, e)).unwrap_or_default();
        let pid = s(0x0010, 0x0020);
        let study = s(0x0020, 0x000d);
        let series = s(0x0020, 0x000e);
        let sop = s(0x0008, 0x0018);
        let p = self.record(
            format!("P|{pid}"),
            None,
            "PATIENT",
            vec![
                (Tag::new(0x0010, 0x0010), "PN", s(0x0010, 0x0010)),
                (Tag::new(0x0010, 0x0020), "LO", pid.clone()),
            ],
        );
        let st = self.record(
            format!("S|{pid}|{study}"),
            Some(p),
            "STUDY",
            vec![
                (Tag::new(0x0008, 0x0020), "DA", s(0x0008, 0x0020)),
                (Tag::new(0x0008, 0x0030), "TM", s(0x0008, 0x0030)),
                (Tag::new(0x0008, 0x0050), "SH", s(0x0008, 0x0050)),
                (Tag::new(0x0008, 0x1030), "LO", s(0x0008, 0x1030)),
                (Tag::new(0x0020, 0x000d), "UI", study.clone()),
                (Tag::new(0x0020, 0x0010), "SH", s(0x0020, 0x0010)),
            ],
        );
        let se = self.record(
            format!("E|{pid}|{study}|{series}"),
            Some(st),
            "SERIES",
            vec![
                (Tag::new(0x0008, 0x0060), "CS", s(0x0008, 0x0060)),
                (Tag::new(0x0020, 0x000e), "UI", series.clone()),
                (Tag::new(0x0020, 0x0011), "IS", s(0x0020, 0x0011)),
            ],
        );
        self.record(
            format!("I|{path}"),
            Some(se),
            "IMAGE",
            vec![
                (Tag::new(0x0004, 0x1500), "CS", path.replace('/', "\\")),
                (
                    Tag::new(0x0004, 0x1510),
                    "UI",
                    file.sop_class_uid().unwrap_or_default(),
                ),
                (Tag::new(0x0004, 0x1511), "UI", sop),
                (
                    Tag::new(0x0004, 0x1512),
                    "UI",
                    file.transfer_syntax_uid().to_owned(),
                ),
                (Tag::new(0x0020, 0x0013), "IS", s(0x0020, 0x0013)),
            ],
        );
    }

    /// Records in depth-first order, with their offsets (next sibling, first child).
    fn encode(&self, offsets: &[u32], uid: &str) -> Vec<u8> {
        let mut order = Vec::new();
        fn walk(d: &DicomDir, list: &[usize], order: &mut Vec<usize>) {
            for &i in list {
                order.push(i);
                walk(d, &d.records[i].children, order);
            }
        }
        walk(self, &self.roots, &mut order);
        // Byte offset of record i = offsets[position of i in `order`].
        let mut pos = vec![0usize; self.records.len()];
        for (k, &i) in order.iter().enumerate() {
            pos[i] = k;
        }
        let off = |i: usize| offsets.get(pos[i]).copied().unwrap_or(0);
        let mut next = vec![0u32; self.records.len()];
        let link = |list: &[usize], next: &mut Vec<u32>| {
            for w in list.windows(2) {
                next[w[0]] = off(w[1]);
            }
        };
        link(&self.roots, &mut next);
        for r in &self.records {
            link(&r.children, &mut next);
        }
        let items: Vec<DatasetBuilder> = order
            .iter()
            .map(|&i| {
                let r = &self.records[i];
                let mut ds = DatasetBuilder::new()
                    .u32(T_NEXT, next[i])
                    .u16(T_IN_USE, 0xffff)
                    .u32(T_LOWER, r.children.first().map(|&c| off(c)).unwrap_or(0))
                    .string(T_TYPE, "CS", r.kind);
                for (tag, vr, value) in &r.tags {
                    ds = ds.string(*tag, vr, value);
                }
                ds
            })
            .collect();
        let first = self.roots.first().map(|&i| off(i)).unwrap_or(0);
        let last = self.roots.last().map(|&i| off(i)).unwrap_or(0);
        DicomBuilder::new(TransferSyntax::ExplicitVrLittleEndian)
            .sop("1.2.840.10008.1.3.10", uid)
            .string(Tag::new(0x0004, 0x1130), "CS", "STOWAGE")
            .u32(Tag::new(0x0004, 0x1200), first)
            .u32(Tag::new(0x0004, 0x1202), last)
            .u16(Tag::new(0x0004, 0x1212), 0)
            .sequence(Tag::new(0x0004, 0x1220), items)
            .build()
    }

    /// The DICOMDIR file. Two passes: the records' byte offsets are found in a first
    /// encoding (every offset is a fixed-size UL, so the layout does not move).
    pub fn build(&self) -> Vec<u8> {
        let n = self.records.len();
        // The same UID in both passes: its length moves the records.
        let uid = format!(
            "2.25.{}",
            u128::from_be_bytes(*uuid::Uuid::new_v4().as_bytes()) >> 2
        );
        let first = self.encode(&[], &uid);
        // Each record item starts with the item tag, its length, then (0004,1400) UL.
        let pattern_a = [0xfe, 0xff, 0x00, 0xe0];
        let pattern_b = [0x04, 0x00, 0x00, 0x14, b'U', b'L', 0x04, 0x00];
        let mut offsets = Vec::with_capacity(n);
        let mut i = 0;
        while i + 16 <= first.len() {
            if first[i..i + 4] == pattern_a && first[i + 8..i + 16] == pattern_b {
                offsets.push(i as u32);
                i += 16;
            } else {
                i += 1;
            }
        }
        if offsets.len() != n {
            tracing::warn!("DICOMDIR: cannot locate the directory records");
            return first;
        }
        self.encode(&offsets, &uid)
    }
}

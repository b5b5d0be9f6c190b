//! A forward-only ZIP writer: stored (uncompressed) entries whose size and CRC are known when
//! they are added, so nothing is ever sought back; ZIP64 records when an entry offset, the
//! central directory or the entry count exceed the classic limits. Only the central directory
//! (a few dozen bytes per entry) stays in memory.

use std::io::{self, Write};

struct CentralEntry {
    name: Vec<u8>,
    crc: u32,
    size: u64,
    offset: u64,
}

pub struct ZipStreamWriter<W: Write> {
    out: W,
    offset: u64,
    entries: Vec<CentralEntry>,
}

const LIMIT32: u64 = 0xFFFF_FFFF;
/// 1980-01-01 00:00 in MS-DOS format (date, time): stable archives.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;
/// General purpose flags: bit 11, names are UTF-8.
const FLAGS: u16 = 1 << 11;

impl<W: Write> ZipStreamWriter<W> {
    pub fn new(out: W) -> Self {
        ZipStreamWriter {
            out,
            offset: 0,
            entries: Vec::new(),
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Writes one stored entry.
    pub fn add_file(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let crc = crc.sum();
        let size = data.len() as u64;
        let offset = self.offset;
        let zip64 = size >= LIMIT32;
        let mut h = Vec::with_capacity(64 + name.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&(if zip64 { 45u16 } else { 20u16 }).to_le_bytes());
        h.extend_from_slice(&FLAGS.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // stored
        h.extend_from_slice(&DOS_TIME.to_le_bytes());
        h.extend_from_slice(&DOS_DATE.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        let s32 = if zip64 { LIMIT32 as u32 } else { size as u32 };
        h.extend_from_slice(&s32.to_le_bytes());
        h.extend_from_slice(&s32.to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(if zip64 { 20u16 } else { 0u16 }).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        if zip64 {
            h.extend_from_slice(&1u16.to_le_bytes());
            h.extend_from_slice(&16u16.to_le_bytes());
            h.extend_from_slice(&size.to_le_bytes());
            h.extend_from_slice(&size.to_le_bytes());
        }
        self.put(&h)?;
        self.put(data)?;
        self.entries.push(CentralEntry {
            name: name.as_bytes().to_vec(),
            crc,
            size,
            offset,
        });
        Ok(())
    }

    /// Writes the central directory; returns the underlying writer and the archive size.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        let cd_start = self.offset;
        let entries = std::mem::take(&mut self.entries);
        for e in &entries {
            let mut extra = Vec::new();
            if e.size >= LIMIT32 {
                extra.extend_from_slice(&e.size.to_le_bytes());
                extra.extend_from_slice(&e.size.to_le_bytes());
            }
            if e.offset >= LIMIT32 {
                extra.extend_from_slice(&e.offset.to_le_bytes());
            }
            let zip64 = !extra.is_empty();
            let mut h = Vec::with_capacity(64 + e.name.len());
            h.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            h.extend_from_slice(&(0x0300u16 | 45).to_le_bytes()); // made by: Unix, 4.5
            h.extend_from_slice(&(if zip64 { 45u16 } else { 20u16 }).to_le_bytes());
            h.extend_from_slice(&FLAGS.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&DOS_TIME.to_le_bytes());
            h.extend_from_slice(&DOS_DATE.to_le_bytes());
            h.extend_from_slice(&e.crc.to_le_bytes());
            let s32 = e.size.min(LIMIT32) as u32;
            h.extend_from_slice(&s32.to_le_bytes());
            h.extend_from_slice(&s32.to_le_bytes());
            h.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            let extra_len = if zip64 { extra.len() + 4 } else { 0 };
            h.extend_from_slice(&(extra_len as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // comment
            h.extend_from_slice(&0u16.to_le_bytes()); // disk
            h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
            h.extend_from_slice(&(0o100644u32 << 16).to_le_bytes()); // external attributes
            h.extend_from_slice(&(e.offset.min(LIMIT32) as u32).to_le_bytes());
            h.extend_from_slice(&e.name);
            if zip64 {
                h.extend_from_slice(&1u16.to_le_bytes());
                h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
                h.extend_from_slice(&extra);
            }
            self.put(&h)?;
        }
        let cd_end = self.offset;
        let cd_size = cd_end - cd_start;
        let count = entries.len() as u64;
        let need64 = count >= 0xFFFF || cd_size >= LIMIT32 || cd_start >= LIMIT32;
        let mut t = Vec::new();
        if need64 {
            // ZIP64 end of central directory record, then its locator.
            t.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            t.extend_from_slice(&44u64.to_le_bytes());
            t.extend_from_slice(&(0x0300u16 | 45).to_le_bytes());
            t.extend_from_slice(&45u16.to_le_bytes());
            t.extend_from_slice(&0u32.to_le_bytes());
            t.extend_from_slice(&0u32.to_le_bytes());
            t.extend_from_slice(&count.to_le_bytes());
            t.extend_from_slice(&count.to_le_bytes());
            t.extend_from_slice(&cd_size.to_le_bytes());
            t.extend_from_slice(&cd_start.to_le_bytes());
            t.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            t.extend_from_slice(&0u32.to_le_bytes());
            t.extend_from_slice(&cd_end.to_le_bytes());
            t.extend_from_slice(&1u32.to_le_bytes());
        }
        t.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        t.extend_from_slice(&0u16.to_le_bytes());
        t.extend_from_slice(&0u16.to_le_bytes());
        let c16 = count.min(0xFFFF) as u16;
        t.extend_from_slice(&c16.to_le_bytes());
        t.extend_from_slice(&c16.to_le_bytes());
        t.extend_from_slice(&(cd_size.min(LIMIT32) as u32).to_le_bytes());
        t.extend_from_slice(&(cd_start.min(LIMIT32) as u32).to_le_bytes());
        t.extend_from_slice(&0u16.to_le_bytes());
        self.put(&t)?;
        self.out.flush()?;
        Ok((self.out, self.offset))
    }
}

#[cfg(test)]
mod tests {
    //! The ZIP64 paths: more than 65,534 entries, an entry of 4 GiB, offsets
    //! and a central directory beyond 4 GiB. Big archives go to a sink that
    //! counts bytes and keeps only the small writes (headers, small entries,
    //! central directory); the data of the big entry is zeros, so reading the
    //! archive back sees zeros wherever nothing was kept.

    use super::*;
    use std::io::{Cursor, Read, Seek, SeekFrom};

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(a)
    }

    /// What the end of an archive says: the classic end of central directory
    /// record and, when present, the ZIP64 one (found through its locator).
    #[derive(Debug, PartialEq)]
    struct End {
        entries16: u16,
        cd_size32: u32,
        cd_start32: u32,
        /// (entries, central directory size, central directory start)
        zip64: Option<(u64, u64, u64)>,
    }

    /// Parses the end of `tail`, the last bytes of an archive of `len` bytes.
    fn end_records(tail: &[u8], len: u64) -> End {
        let eocd = tail.len() - 22;
        assert_eq!(u32_at(tail, eocd), 0x0605_4b50, "EOCD signature");
        let end = End {
            entries16: u16_at(tail, eocd + 10),
            cd_size32: u32_at(tail, eocd + 12),
            cd_start32: u32_at(tail, eocd + 16),
            zip64: None,
        };
        assert_eq!(
            u16_at(tail, eocd + 8),
            end.entries16,
            "entries on this disk"
        );
        if eocd < 20 || u32_at(tail, eocd - 20) != 0x0706_4b50 {
            return end;
        }
        let locator = eocd - 20;
        assert_eq!(u32_at(tail, locator + 4), 0, "disk of the ZIP64 record");
        assert_eq!(u32_at(tail, locator + 16), 1, "total disks");
        let record_at = u64_at(tail, locator + 8);
        let tail_start = len - tail.len() as u64;
        let r = (record_at - tail_start) as usize;
        assert_eq!(
            r + 56,
            locator,
            "the ZIP64 record sits just before its locator"
        );
        assert_eq!(u32_at(tail, r), 0x0606_4b50, "ZIP64 EOCD signature");
        assert_eq!(u64_at(tail, r + 4), 44, "ZIP64 EOCD record size");
        assert_eq!(u16_at(tail, r + 14), 45, "version needed");
        let entries = u64_at(tail, r + 32);
        assert_eq!(u64_at(tail, r + 24), entries, "entries on this disk");
        End {
            zip64: Some((entries, u64_at(tail, r + 40), u64_at(tail, r + 48))),
            ..end
        }
    }

    fn many_entries(count: usize) -> Vec<u8> {
        let mut zip = ZipStreamWriter::new(Vec::new());
        for i in 0..count {
            let data = if i % 1000 == 0 {
                i.to_string()
            } else {
                String::new()
            };
            zip.add_file(&format!("d/{i}"), data.as_bytes()).unwrap();
        }
        let (bytes, size) = zip.finish().unwrap();
        assert_eq!(size, bytes.len() as u64);
        bytes
    }

    #[test]
    fn up_to_65534_entries_need_no_zip64() {
        let bytes = many_entries(65_534);
        let end = end_records(&bytes, bytes.len() as u64);
        assert_eq!(end.entries16, 65_534);
        assert_eq!(end.zip64, None);
        let cd_start = end.cd_start32 as usize;
        assert_eq!(cd_start + end.cd_size32 as usize + 22, bytes.len());
    }

    #[test]
    fn more_than_65534_entries_use_zip64_end_records() {
        // 65,535 is the "see ZIP64" value of the 16-bit count: it already
        // needs the ZIP64 records; 70,000 does not fit at all.
        for count in [65_535usize, 70_000] {
            let bytes = many_entries(count);
            let end = end_records(&bytes, bytes.len() as u64);
            assert_eq!(end.entries16, 0xFFFF, "{count}");
            let (entries, cd_size, cd_start) = end.zip64.expect("ZIP64 records");
            assert_eq!(entries, count as u64);
            assert_eq!(cd_size, end.cd_size32 as u64, "small directory: same size");
            assert_eq!(cd_start, end.cd_start32 as u64);
            // The zip crate reads them all back.
            let mut archive = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
            assert_eq!(archive.len(), count);
            for i in [0, 1, 65_534, count - 1] {
                let mut f = archive.by_index(i).unwrap();
                assert_eq!(f.name(), format!("d/{i}"));
                let mut s = String::new();
                f.read_to_string(&mut s).unwrap();
                let want = if i % 1000 == 0 {
                    i.to_string()
                } else {
                    String::new()
                };
                assert_eq!(s, want);
            }
            let names: Vec<&str> = archive.file_names().collect();
            assert_eq!(names.len(), count);
        }
    }

    /// A sink that counts what is written and keeps only the small writes
    /// (with their offsets); large writes are the zeros of a big entry.
    #[derive(Default)]
    struct SparseSink {
        len: u64,
        kept: Vec<(u64, Vec<u8>)>,
    }

    const KEEP_BELOW: usize = 1 << 20;

    impl Write for SparseSink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if buf.len() < KEEP_BELOW {
                self.kept.push((self.len, buf.to_vec()));
            }
            self.len += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The archive a [`SparseSink`] received, readable and seekable: kept
    /// bytes where they were written, zeros elsewhere.
    struct SparseImage {
        sink: SparseSink,
        pos: u64,
    }

    impl SparseImage {
        /// The last `n` bytes.
        fn tail(&mut self, n: u64) -> Vec<u8> {
            let mut out = vec![0; n as usize];
            self.seek(SeekFrom::End(-(n as i64))).unwrap();
            self.read_exact(&mut out).unwrap();
            out
        }
    }

    impl Read for SparseImage {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let len = self.sink.len;
            if self.pos >= len || buf.is_empty() {
                return Ok(0);
            }
            // The chunk holding pos, or the zeros up to the next one.
            let kept = &self.sink.kept;
            let i = kept.partition_point(|(start, _)| *start <= self.pos);
            let n = match i.checked_sub(1).map(|j| &kept[j]) {
                Some((start, bytes)) if self.pos < start + bytes.len() as u64 => {
                    let from = (self.pos - start) as usize;
                    let n = buf.len().min(bytes.len() - from);
                    buf[..n].copy_from_slice(&bytes[from..from + n]);
                    n
                }
                _ => {
                    let next = kept.get(i).map_or(len, |(start, _)| *start);
                    let n = (buf.len() as u64).min(next - self.pos) as usize;
                    buf[..n].fill(0);
                    n
                }
            };
            self.pos += n as u64;
            Ok(n)
        }
    }

    impl Seek for SparseImage {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            let pos = match to {
                SeekFrom::Start(p) => Some(p),
                SeekFrom::End(d) => self.sink.len.checked_add_signed(d),
                SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            };
            self.pos = pos.ok_or_else(|| io::Error::other("seek before the start"))?;
            Ok(self.pos)
        }
    }

    #[test]
    fn sparse_image_reads_back_what_was_written() {
        let mut sink = SparseSink::default();
        sink.write_all(b"head").unwrap();
        sink.write_all(&vec![0; KEEP_BELOW]).unwrap();
        sink.write_all(b"tail").unwrap();
        let mut img = SparseImage { sink, pos: 0 };
        let mut all = Vec::new();
        img.read_to_end(&mut all).unwrap();
        let mut want = b"head".to_vec();
        want.extend_from_slice(&vec![0; KEEP_BELOW]);
        want.extend_from_slice(b"tail");
        assert!(all == want);
        assert_eq!(img.tail(6), b"\0\0tail");
    }

    #[test]
    fn entry_of_4_gib_and_offsets_beyond_4_gib() {
        // An entry of 0xFFFF_FFFF bytes (the "see ZIP64" value of a 32-bit
        // size: it needs the ZIP64 extra field), then entries whose local
        // headers start beyond 4 GiB, then a central directory beyond 4 GiB.
        // The zeros are never touched: the kernel maps them to its zero page.
        let big_size = LIMIT32 as usize;
        let zeros = vec![0u8; big_size];
        let mut zip = ZipStreamWriter::new(SparseSink::default());
        zip.add_file("first.dcm", b"DICM before").unwrap();
        zip.add_file("big.bin", &zeros).unwrap();
        // The expected CRC, by another road: 4095 CRCs of 1 MiB of zeros
        // combined, then one of 1 MiB - 1 (not 4 GiB hashed a second time).
        let mib = 1 << 20;
        let mut chunk = flate2::Crc::new();
        chunk.update(&zeros[..mib]);
        let mut crc = flate2::Crc::new();
        for _ in 0..(big_size / mib) {
            crc.combine(&chunk);
        }
        let mut rest = flate2::Crc::new();
        rest.update(&zeros[..big_size % mib]);
        crc.combine(&rest);
        assert_eq!(crc.amount(), LIMIT32 as u32);
        let big_crc = crc.sum();
        drop(zeros);
        zip.add_file("after/1.dcm", b"beyond 4 GiB").unwrap();
        zip.add_file("after/2.dcm", b"").unwrap();
        let (sink, size) = zip.finish().unwrap();
        assert_eq!(size, sink.len);
        let kept: usize = sink.kept.iter().map(|(_, b)| b.len()).sum();
        assert!(kept < 4096, "only headers and small entries kept: {kept}");
        let mut img = SparseImage { sink, pos: 0 };

        // By hand: the end records.
        let tail = img.tail(4096.min(size));
        let end = end_records(&tail, size);
        assert_eq!(end.entries16, 4);
        assert_eq!(end.cd_start32, 0xFFFF_FFFF);
        let (entries, cd_size, cd_start) = end.zip64.expect("ZIP64 records");
        assert_eq!(entries, 4);
        assert!(cd_start > LIMIT32);
        assert_eq!(cd_size, end.cd_size32 as u64);
        assert_eq!(cd_start + cd_size + 56 + 20 + 22, size);

        // By hand: the local header of the big entry has sizes 0xFFFFFFFF and
        // a ZIP64 extra field with both sizes.
        let first_len = 30 + "first.dcm".len() as u64 + b"DICM before".len() as u64;
        let mut local = [0u8; 30 + 7 + 20];
        img.seek(SeekFrom::Start(first_len)).unwrap();
        img.read_exact(&mut local).unwrap();
        assert_eq!(u32_at(&local, 0), 0x0403_4b50);
        assert_eq!(u16_at(&local, 4), 45, "version needed for ZIP64");
        assert_eq!(u32_at(&local, 14), big_crc);
        assert_eq!(u32_at(&local, 18), 0xFFFF_FFFF);
        assert_eq!(u32_at(&local, 22), 0xFFFF_FFFF);
        assert_eq!(u16_at(&local, 28), 20, "extra field length");
        assert_eq!(&local[30..37], b"big.bin");
        assert_eq!(u16_at(&local, 37), 1, "ZIP64 extra field id");
        assert_eq!(u16_at(&local, 39), 16);
        assert_eq!(u64_at(&local, 41), LIMIT32);
        assert_eq!(u64_at(&local, 49), LIMIT32);

        // The zip crate reads the directory and the entries beyond 4 GiB.
        let mut archive = zip::ZipArchive::new(img).unwrap();
        assert_eq!(archive.len(), 4);
        {
            let f = archive.by_index(1).unwrap();
            assert_eq!(f.name(), "big.bin");
            assert_eq!(f.size(), LIMIT32);
            assert_eq!(f.compressed_size(), LIMIT32);
            assert_eq!(f.crc32(), big_crc);
            assert_eq!(f.header_start(), first_len);
            // Not read: checking 4 GiB of zeros would only measure the CRC.
        }
        let mut f = archive.by_index(2).unwrap();
        assert_eq!(f.name(), "after/1.dcm");
        assert!(f.header_start() > LIMIT32, "{}", f.header_start());
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, "beyond 4 GiB");
        drop(f);
        let mut f = archive.by_name("first.dcm").unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, "DICM before");
        drop(f);
        let f = archive.by_index(3).unwrap();
        assert_eq!((f.name(), f.size()), ("after/2.dcm", 0));
    }
}

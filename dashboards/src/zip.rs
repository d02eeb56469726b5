//! A zip archive written as a stream, and read back.
//!
//! An export is mostly JPEG, Opus and WebM, which do not compress, so the
//! entries are stored: each is its local header then its bytes, written as
//! soon as it is known (the CRC is computed from the bytes in hand, so no
//! data descriptor is needed), and the central directory at the end. The
//! plain format's limits hold — 65,535 entries and 4 GiB in all — and are
//! checked before anything is sent ([`fits`]); beyond them the CLI writes a
//! folder instead. The reader is the CLI's and the tests': stored entries
//! only, every CRC checked.

/// The plain (non-zip64) format's most entries.
pub const MAX_ENTRIES: usize = 65_535;
/// … and the offset every byte must stay under.
pub const MAX_BYTES: u64 = u32::MAX as u64;

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
/// Bit 11: names are UTF-8.
const UTF8_NAMES: u16 = 1 << 11;

/// Why an archive cannot be written or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZipError {
    #[error("more than {MAX_ENTRIES} files or 4 GiB: too large for one zip")]
    TooLarge,
    #[error("not a zip this reader understands: {0}")]
    Unreadable(String),
}

/// Whether `entries` files with these names and sizes fit one archive.
pub fn fits<'a>(entries: impl IntoIterator<Item = (&'a str, u64)>) -> bool {
    let (mut count, mut total) = (0usize, 0u64);
    for (name, bytes) in entries {
        count += 1;
        // Local header and central entry: 30 + 46 bytes plus the name twice.
        total += 76 + 2 * name.len() as u64 + bytes;
    }
    count <= MAX_ENTRIES && total + 22 <= MAX_BYTES
}

struct Central {
    name: String,
    crc: u32,
    size: u32,
    offset: u32,
    time: u16,
    date: u16,
}

/// Writes an archive as a stream: [`Self::entry`] gives the bytes to send
/// before an entry's data, [`Self::finish`] those that end the archive.
#[derive(Default)]
pub struct ZipWriter {
    offset: u64,
    entries: Vec<Central>,
}

impl ZipWriter {
    /// The local header of `name` holding `data`, modified at `modified_ms`
    /// (Unix ms, UTC). Send it, then `data`.
    pub fn entry(&mut self, name: &str, data: &[u8], modified_ms: i64) -> Result<Vec<u8>, ZipError> {
        let header_len = 30 + name.len() as u64;
        let end = self.offset + header_len + data.len() as u64;
        if self.entries.len() >= MAX_ENTRIES || end > MAX_BYTES || name.len() > u16::MAX as usize {
            return Err(ZipError::TooLarge);
        }
        let (time, date) = dos_time(modified_ms);
        let entry = Central {
            name: name.to_owned(),
            crc: crc32fast::hash(data),
            size: data.len() as u32,
            offset: self.offset as u32,
            time,
            date,
        };
        let mut header = Vec::with_capacity(header_len as usize);
        put32(&mut header, LOCAL);
        put16(&mut header, 20); // version needed: 2.0
        put16(&mut header, UTF8_NAMES);
        put16(&mut header, 0); // stored
        put16(&mut header, entry.time);
        put16(&mut header, entry.date);
        put32(&mut header, entry.crc);
        put32(&mut header, entry.size);
        put32(&mut header, entry.size);
        put16(&mut header, name.len() as u16);
        put16(&mut header, 0); // no extra field
        header.extend_from_slice(name.as_bytes());
        self.offset = end;
        self.entries.push(entry);
        Ok(header)
    }

    /// The central directory and its end record.
    pub fn finish(self) -> Result<Vec<u8>, ZipError> {
        let mut out = Vec::new();
        for entry in &self.entries {
            put32(&mut out, CENTRAL);
            put16(&mut out, 0x031e); // made by: Unix, 3.0
            put16(&mut out, 20);
            put16(&mut out, UTF8_NAMES);
            put16(&mut out, 0);
            put16(&mut out, entry.time);
            put16(&mut out, entry.date);
            put32(&mut out, entry.crc);
            put32(&mut out, entry.size);
            put32(&mut out, entry.size);
            put16(&mut out, entry.name.len() as u16);
            put16(&mut out, 0); // extra
            put16(&mut out, 0); // comment
            put16(&mut out, 0); // disk
            put16(&mut out, 0); // internal attributes
            put32(&mut out, 0o100644 << 16); // external: a regular file, rw-r--r--
            put32(&mut out, entry.offset);
            out.extend_from_slice(entry.name.as_bytes());
        }
        if self.offset + out.len() as u64 + 22 > MAX_BYTES {
            return Err(ZipError::TooLarge);
        }
        let count = self.entries.len() as u16;
        let directory_len = out.len() as u32;
        put32(&mut out, END);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put16(&mut out, count);
        put16(&mut out, count);
        put32(&mut out, directory_len);
        put32(&mut out, self.offset as u32);
        put16(&mut out, 0);
        Ok(out)
    }
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// MS-DOS time and date of a Unix time in ms (UTC; DOS dates start in 1980,
/// so earlier times read as 1980-01-01).
fn dos_time(unix_ms: i64) -> (u16, u16) {
    let secs = (unix_ms.div_euclid(1000)).max(315_532_800);
    let day = invigil_schemas::media_key::utc_date(secs);
    let mut parts = day.split('-').map(|p| p.parse::<u16>().unwrap_or(1));
    let (year, month, mday) = (parts.next().unwrap_or(1980), parts.next().unwrap_or(1), parts.next().unwrap_or(1));
    let in_day = secs.rem_euclid(86_400) as u32;
    let time = (((in_day / 3600) << 11) | ((in_day % 3600 / 60) << 5) | ((in_day % 60) / 2)) as u16;
    let date = (year.saturating_sub(1980).min(127) << 9) | (month << 5) | mday;
    (time, date)
}

/// The entries of a stored archive, `(name, bytes)` in order, every CRC
/// checked.
pub fn read(zip: &[u8]) -> Result<Vec<(String, &[u8])>, ZipError> {
    let bad = |why: &str| ZipError::Unreadable(why.to_owned());
    let u16_at = |at: usize| -> Result<u16, ZipError> {
        zip.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]])).ok_or_else(|| bad("truncated"))
    };
    let u32_at = |at: usize| -> Result<u32, ZipError> {
        zip.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok_or_else(|| bad("truncated"))
    };
    // The end record is the last 22 bytes when there is no comment.
    let end = (0..=zip.len().saturating_sub(22))
        .rev()
        .take(65_557)
        .find(|at| u32_at(*at).is_ok_and(|sig| sig == END))
        .ok_or_else(|| bad("no end of central directory"))?;
    let count = u16_at(end + 10)? as usize;
    let mut at = u32_at(end + 16)? as usize;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        if u32_at(at)? != CENTRAL {
            return Err(bad("a central directory entry is missing"));
        }
        if u16_at(at + 10)? != 0 {
            return Err(bad("a compressed entry (only stored entries are read)"));
        }
        let crc = u32_at(at + 16)?;
        let size = u32_at(at + 20)? as usize;
        let name_len = u16_at(at + 28)? as usize;
        let skip = name_len + u16_at(at + 30)? as usize + u16_at(at + 32)? as usize;
        let local = u32_at(at + 42)? as usize;
        let name = zip.get(at + 46..at + 46 + name_len).ok_or_else(|| bad("truncated name"))?;
        let name = String::from_utf8(name.to_vec()).map_err(|_| bad("a name that is not UTF-8"))?;
        if u32_at(local)? != LOCAL {
            return Err(bad("a local header is missing"));
        }
        let data_at = local + 30 + u16_at(local + 26)? as usize + u16_at(local + 28)? as usize;
        let data = zip.get(data_at..data_at + size).ok_or_else(|| bad("truncated data"))?;
        if crc32fast::hash(data) != crc {
            return Err(ZipError::Unreadable(format!("{name}: CRC mismatch")));
        }
        entries.push((name, data));
        at += 46 + skip;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = ZipWriter::default();
        let mut out = Vec::new();
        for (name, data) in files {
            out.extend(writer.entry(name, data, 1_765_000_000_000).unwrap());
            out.extend_from_slice(data);
        }
        out.extend(writer.finish().unwrap());
        out
    }

    #[test]
    fn what_is_written_reads_back_and_a_flipped_byte_is_caught() {
        let files: [(&str, &[u8]); 3] =
            [("manifest.json", b"{}"), ("media/a b/ü.jpg", &[0xff, 0xd8, 0, 1]), ("empty", b"")];
        let zip = archive(&files);
        let read_back = read(&zip).unwrap();
        assert_eq!(read_back.len(), 3);
        for ((name, data), (n, d)) in files.iter().zip(&read_back) {
            assert_eq!((*name, *data), (n.as_str(), *d));
        }
        let mut broken = zip.clone();
        broken[30 + "manifest.json".len()] ^= 1;
        assert_eq!(read(&broken), Err(ZipError::Unreadable("manifest.json: CRC mismatch".into())));
        assert!(read(&zip[..zip.len() - 5]).is_err());
        assert!(read(b"not a zip at all, not even close to one").is_err());
    }

    /// Python's `zipfile` (another implementation, on every machine the
    /// services run on) reads and tests it: the format is the standard one,
    /// not just ours.
    #[test]
    fn another_reader_tests_and_lists_it() {
        let dir = std::env::temp_dir().join(format!("invigil-zip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.zip");
        std::fs::write(&path, archive(&[("tables/events.csv", b"a,b\n1,2\n"), ("media/x.jpg", &[1, 2, 3])])).unwrap();
        let zipfile =
            |flag: &str| std::process::Command::new("python3").args(["-m", "zipfile", flag]).arg(&path).output();
        let tested = zipfile("-t").expect("python3 runs");
        let said = String::from_utf8_lossy(&tested.stdout);
        assert!(tested.status.success() && said.contains("Done testing"), "{said}");
        let listed = zipfile("-l").unwrap();
        let said = String::from_utf8_lossy(&listed.stdout);
        assert!(said.contains("tables/events.csv") && said.contains("2025-12-06 05:46:40"), "{said}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn limits_are_checked_before_sending() {
        assert!(fits([("a", 10), ("b", 20)]));
        assert!(!fits([("a", MAX_BYTES)]));
        assert!(!fits((0..=MAX_ENTRIES).map(|_| ("x", 0))));
        let mut writer = ZipWriter { offset: MAX_BYTES - 40, entries: Vec::new() };
        assert_eq!(writer.entry("big", &[0; 20], 0), Err(ZipError::TooLarge));
    }

    #[test]
    fn dos_times_are_utc_fields() {
        // 2026-12-06 10:20:30 UTC.
        let (time, date) = dos_time(1_796_552_430_000);
        assert_eq!((time >> 11, (time >> 5) & 63, (time & 31) * 2), (10, 20, 30));
        assert_eq!(((date >> 9) + 1980, (date >> 5) & 15, date & 31), (2026, 12, 6));
        assert_eq!(dos_time(0).1, 1 << 5 | 1, "before 1980 reads as 1980-01-01");
    }
}
